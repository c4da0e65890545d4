"""The measured variants: the project's recurrent and attention layers and their peers.

Shapes: B batch, T length, I input width (``d_in``), H hidden width (the
Transformer's model width D is matched to H), N heads.

Every variant builds a ``Job`` for one (shape, mode): JAX variants hand the
harness a pure function and its arguments (the harness jits, compiles and times
it); PyTorch variants hand it a closure that runs one step eagerly. Model FLOPs
are analytic and count matmuls only (2 FLOPs a multiply-add):

* LSTM: ``2 T B (I + H) 4H`` forward; GRU: ``2 T B (I + H) 3H``;
* minGRU (Feng et al. 2024, "Were RNNs All We Needed?"): ``2 T B I 2H``;
* Transformer layer: ``T B (24 H^2 + 4 T H)`` (q, k, v, o projections ``8H^2``,
  feed-forward with ``F = 4H`` ``16H^2``, ``QK^T`` and ``AV`` ``4TH``);
* train step = 3x forward (one forward, two matmuls a forward matmul backward).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from seq2seq_jax.models import lstm, multihead, nn, transformer
from seq2seq_jax.models.model_config import TransformerConfig

Array = jax.Array
Params = Any

FORWARD, TRAIN, DECODE = "forward", "train step", "decode per token"
MODES = (FORWARD, TRAIN, DECODE)
DECODE_STEPS = 8  # decode steps a call runs (a lax.scan), so the per-call overhead amortizes


class Shape(NamedTuple):
    batch: int  # B
    length: int  # T
    d_in: int  # I
    hidden: int  # H (= the Transformer's D)
    heads: int  # N
    dtype: str  # "float32" | "bfloat16"


class JaxJob(NamedTuple):
    fn: Callable[..., Any]  # pure; the harness jits it
    args: tuple[Any, ...]


class TorchJob(NamedTuple):
    run: Callable[[], None]  # one eager step, synchronised
    threads: int  # torch.set_num_threads before its calls
    setup: Callable[[], None]  # sets them


Job = JaxJob | TorchJob


@dataclasses.dataclass(frozen=True)
class Variant:
    """One measured implementation.

    Attributes:
      name: the ``variant`` column.
      family: "lstm", "gru", "mingru" or "transformer" (the crossover compares families).
      make: ``(shape, mode) -> Job``.
      flops: forward model FLOPs of one call at ``shape`` (decode: of one token).
      modes: the modes it supports.
      goal: measured at the goal points even past the time budget.
      needs: ``platform -> None`` when it can run, else the reason it is skipped.
      extra: left out of the default sweep (name it in ``--variants``).
    """

    name: str
    family: str
    make: Callable[[Shape, str], Job]
    flops: Callable[[Shape], float]
    modes: tuple[str, ...] = (FORWARD, TRAIN)
    goal: bool = False
    needs: Callable[[str], str | None] = lambda platform: None
    extra: bool = False


def model_flops(v: Variant, s: Shape, mode: str) -> float:
    """Analytic FLOPs of one call in ``mode``; decode: of one token for the whole batch
    at context ``T`` (attention reads all ``T`` cached keys, a recurrent step none)."""
    if mode == DECODE:
        if v.family == "transformer":
            return s.batch * (24.0 * s.hidden**2 + 4.0 * s.length * s.hidden)
        return v.flops(s._replace(length=1))
    return v.flops(s) * (3.0 if mode == TRAIN else 1.0)


def decode_steps(v: Variant, s: Shape) -> int:
    """Tokens one decode call runs (``DECODE_STEPS``; fewer when the cache is shorter)."""
    return min(DECODE_STEPS, s.length) if v.family == "transformer" else DECODE_STEPS


def lstm_flops(s: Shape) -> float:
    return 2.0 * s.length * s.batch * (s.d_in + s.hidden) * 4 * s.hidden


def gru_flops(s: Shape) -> float:
    return 2.0 * s.length * s.batch * (s.d_in + s.hidden) * 3 * s.hidden


def mingru_flops(s: Shape) -> float:
    return 2.0 * s.length * s.batch * s.d_in * 2 * s.hidden


def transformer_flops(s: Shape) -> float:
    return s.length * s.batch * (24.0 * s.hidden**2 + 4.0 * s.length * s.hidden)


# ---------------------------------------------------------------- JAX helpers


def _dtype(s: Shape) -> Any:
    return nn.compute_dtype(s.dtype)


def _inputs(s: Shape, width: int) -> tuple[Array, Array]:
    """Inputs ``[B, T, width]`` in the compute dtype and an all-True mask ``[B, T]``."""
    x = jax.random.normal(jax.random.PRNGKey(1), (s.batch, s.length, width), jnp.float32)
    return x.astype(_dtype(s)), jnp.ones((s.batch, s.length), bool)


def sum_loss_grad(apply: Callable[..., Array]) -> Callable[..., Any]:
    """Train step: ``value_and_grad`` of the sum of all outputs w.r.t. ``params``."""
    def step(params: Params, x: Array, mask: Array) -> Any:
        return jax.value_and_grad(lambda p: apply(p, x, mask).astype(jnp.float32).sum())(params)
    return step


def jax_job(apply: Callable[..., Array], params: Params, x: Array, mask: Array,
            mode: str) -> JaxJob:
    """``apply(params, x [B, T, *], mask [B, T]) -> [B, T, H]`` as a forward or train job."""
    fn = apply if mode == FORWARD else sum_loss_grad(apply)
    return JaxJob(fn, (params, x, mask))


# ---------------------------------------------------------------- the project's layers


def project_rnn(cell: str, hoist: bool, unroll: int,
                impl: str = "scan") -> Callable[[Shape, str], Job]:
    """The project's one-layer encoder (``lstm.encode``), vmapped over the batch."""
    def make(s: Shape, mode: str) -> Job:
        params = lstm.encoder_init(jax.random.PRNGKey(0), cell, s.d_in, s.hidden, 1, False)
        if mode == DECODE:
            return _rnn_decode_job(cell, params["layers"][0]["fwd"], s)

        def apply(p: Params, x: Array, m: Array) -> Array:
            def enc(xi: Array, mi: Array) -> Array:
                return lstm.encode(p, cell, xi, mi, hoist=hoist, unroll=unroll, impl=impl)[0]
            return jax.vmap(enc)(x, m)  # [B, T, H]

        return jax_job(apply, params, *_inputs(s, s.d_in), mode)
    return make


def _rnn_decode_job(cell: str, params: Params, s: Shape) -> JaxJob:
    """``DECODE_STEPS`` steps of the unhoisted cell (the input of a decoder step is only
    known after the previous one), batched by vmap."""
    c = lstm.get_cell(cell)

    def decode(p: Params, xs: Array) -> Any:  # xs [B, K, I]
        def one(x: Array) -> Any:  # [K, I]
            def body(st: Any, xt: Array) -> Any:
                return c.step(p, st, xt), None
            return jax.lax.scan(body, c.zero_state(s.hidden, x.dtype), x)[0]
        return jax.vmap(one)(xs)

    xs = _inputs(s._replace(length=DECODE_STEPS), s.d_in)[0]
    return JaxJob(decode, (params, xs))


def _tf_config(s: Shape, impl: str) -> TransformerConfig:
    return TransformerConfig(src_vocab=8, tgt_vocab=8, d_model=s.hidden, heads=s.heads,
                             ff_dim=4 * s.hidden, dropout=0.0, attention_impl=impl,
                             dtype=s.dtype).validate()


def project_transformer(impl: str) -> Callable[[Shape, str], Job]:
    """The project's pre-norm encoder layer (``transformer.encoder_layer``), vmapped."""
    def make(s: Shape, mode: str) -> Job:
        cfg = _tf_config(s, impl)
        params = transformer.encoder_layer_init(jax.random.PRNGKey(0), cfg)
        if mode == DECODE:
            return _tf_decode_job(cfg, params, s)

        def apply(p: Params, x: Array, m: Array) -> Array:
            return jax.vmap(lambda xi, mi: transformer.encoder_layer(p, cfg, xi, mi))(x, m)

        return jax_job(apply, params, *_inputs(s, s.hidden), mode)
    return make


def _tf_decode_step(p: Params, cfg: TransformerConfig, x: Array, k: Array, v: Array,
                    pos: Array) -> tuple[Array, Array, Array]:
    """One causal self-attention + feed-forward step of the encoder layer's weights
    with a KV cache: ``x: [D]``, ``k, v: [T, N, Dh]`` -> ``x', k', v'``."""
    h = nn.layer_norm(p["attn_norm"], x[None])  # [1, D]
    at = (pos, 0, 0)
    k = jax.lax.dynamic_update_slice(k, multihead.split_heads(p["attn"]["k"], h, cfg.heads), at)
    v = jax.lax.dynamic_update_slice(v, multihead.split_heads(p["attn"]["v"], h, cfg.heads), at)
    q = multihead.split_heads(p["attn"]["q"], h, cfg.heads)
    mask = (jnp.arange(k.shape[0]) <= pos)[None]  # [1, T]
    ctx, _ = multihead.attend(q, k, v, mask, impl=cfg.attention_impl)
    x = x + nn.dense(p["attn"]["o"], ctx.reshape(1, -1))[0]
    h = nn.layer_norm(p["ff_norm"], x[None])
    ff = nn.dense(p["ff"]["w2"], jax.nn.relu(nn.dense(p["ff"]["w1"], h)))
    return x + ff[0], k, v


def _tf_decode_job(cfg: TransformerConfig, params: Params, s: Shape) -> JaxJob:
    """The last ``DECODE_STEPS`` positions of a length-``T`` cache, one token at a time."""
    steps = min(DECODE_STEPS, s.length)

    def decode(p: Params, x: Array, k: Array, v: Array) -> Any:  # x [B, D], k, v [B, T, N, Dh]
        def one(x: Array, k: Array, v: Array) -> Any:
            def body(carry: tuple[Array, Array, Array], pos: Array) -> Any:
                return _tf_decode_step(p, cfg, carry[0], carry[1], carry[2], pos), None
            return jax.lax.scan(body, (x, k, v), jnp.arange(s.length - steps, s.length))[0][0]
        return jax.vmap(one)(x, k, v)

    kv = jax.random.normal(jax.random.PRNGKey(2), (s.batch, s.length, s.heads,
                                                   s.hidden // s.heads)).astype(_dtype(s))
    x = _inputs(s._replace(length=1), s.hidden)[0][:, 0]
    return JaxJob(decode, (params, x, kv, kv))


# ---------------------------------------------------------------- JAX peers


def flax_lstm(s: Shape, mode: str) -> Job:
    """``flax.linen.RNN(OptimizedLSTMCell(H))``, batch-major."""
    import flax.linen as fnn

    layer = fnn.RNN(fnn.OptimizedLSTMCell(s.hidden, dtype=_dtype(s)))
    x, mask = _inputs(s, s.d_in)
    params = layer.init(jax.random.PRNGKey(0), x)

    def apply(p: Params, x: Array, m: Array) -> Array:
        return layer.apply(p, x)  # type: ignore[return-value]

    return jax_job(apply, params, x, mask, mode)


def cudnn_lstm(s: Shape, mode: str) -> Job:
    """``jax.experimental.rnn.lstm``: cuDNN's fused LSTM (GPU only)."""
    from jax.experimental import rnn

    w = rnn.init_lstm_weight(jax.random.PRNGKey(0), s.d_in, s.hidden, 1, False)
    zeros = jnp.zeros((1, s.batch, s.hidden), _dtype(s))

    def apply(p: Array, x: Array, m: Array) -> Array:
        lengths = m.sum(-1).astype(jnp.int32)
        return rnn.lstm(x, zeros, zeros, p.astype(x.dtype), lengths, input_size=s.d_in,
                        hidden_size=s.hidden, num_layers=1, dropout=0.0,
                        bidirectional=False)[0]

    return jax_job(apply, w, *_inputs(s, s.d_in), mode)


def gpu_only(platform: str) -> str | None:
    return None if platform == "gpu" else "cuDNN LSTM runs on GPU only"


def mingru(s: Shape, mode: str) -> Job:
    """minGRU with ``jax.lax.associative_scan``: ``h_t = (1 - z_t) h_{t-1} + z_t h~_t``,
    ``z_t = sigmoid(x_t W_z)``, ``h~_t = x_t W_h`` (no ``h`` in the gates, so the
    recurrence is linear and the scan is parallel, O(log T) deep)."""
    kz, kh = jax.random.split(jax.random.PRNGKey(0))
    params = {"w_z": nn.dense_init(kz, s.d_in, s.hidden),
              "w_h": nn.dense_init(kh, s.d_in, s.hidden)}

    def one(p: Params, x: Array, m: Array) -> Array:  # [T, I], [T] -> [T, H]
        z = jax.nn.sigmoid(nn.dense(p["w_z"], x)) * m[:, None]  # padding keeps h
        a, b = 1.0 - z, z * nn.dense(p["w_h"], x)

        def combine(e1: tuple[Array, Array], e2: tuple[Array, Array]) -> tuple[Array, Array]:
            return e2[0] * e1[0], e2[0] * e1[1] + e2[1]

        return jax.lax.associative_scan(combine, (a, b))[1]

    def apply(p: Params, x: Array, m: Array) -> Array:
        return jax.vmap(one, in_axes=(None, 0, 0))(p, x, m)

    return jax_job(apply, params, *_inputs(s, s.d_in), mode)


# ---------------------------------------------------------------- PyTorch peers


def torch_missing(platform: str) -> str | None:
    try:
        import torch  # noqa: F401
    except ImportError:
        return "torch is not importable"
    return None if platform == "cpu" else "torch peers run on the CPU build only"


_TORCH_DEFAULT_THREADS: list[int] = []


def reset_threads() -> None:
    """Give PyTorch back the thread count it started with."""
    if _TORCH_DEFAULT_THREADS:
        import torch
        torch.set_num_threads(_TORCH_DEFAULT_THREADS[0])


def _torch_job(module: Any, x: Any, mode: str, threads: int | None) -> TorchJob:
    """Forward under ``no_grad`` (as JAX's forward keeps no residuals), or a train step:
    zero the grads, sum the outputs, backward; at ``threads`` (None: PyTorch's default)."""
    import torch

    if not _TORCH_DEFAULT_THREADS:
        _TORCH_DEFAULT_THREADS.append(torch.get_num_threads())
    n = threads or _TORCH_DEFAULT_THREADS[0]

    def out(y: Any) -> Any:
        return y[0] if isinstance(y, tuple) else y

    def forward() -> None:
        with torch.no_grad():
            out(module(x))

    def train() -> None:
        module.zero_grad(set_to_none=True)
        out(module(x)).float().sum().backward()

    return TorchJob(forward if mode == FORWARD else train, n, lambda: torch.set_num_threads(n))


def torch_peer(kind: str, threads: int | None) -> Callable[[Shape, str], Job]:
    """``torch.nn.LSTM(I, H, batch_first=True)`` (``kind="lstm"``) or
    ``torch.nn.TransformerEncoderLayer`` (pre-norm, ReLU, F = 4H, no dropout; in eval
    mode its forward takes PyTorch's fused "fast path")."""
    def make(s: Shape, mode: str) -> Job:
        import torch

        torch.manual_seed(0)
        dtype = torch.bfloat16 if s.dtype == "bfloat16" else torch.float32
        if kind == "lstm":
            m: Any = torch.nn.LSTM(s.d_in, s.hidden, batch_first=True)
        else:
            m = torch.nn.TransformerEncoderLayer(s.hidden, s.heads, 4 * s.hidden, dropout=0.0,
                                                 batch_first=True, norm_first=True)
        m = m.to(dtype).train(mode != FORWARD)
        x = torch.randn(s.batch, s.length, s.d_in if kind == "lstm" else s.hidden, dtype=dtype)
        return _torch_job(m, x, mode, threads)
    return make


# ---------------------------------------------------------------- the registry


_TF = transformer_flops
VARIANTS: tuple[Variant, ...] = (
    Variant("lstm", "lstm", project_rnn("lstm", False, 1), lstm_flops, MODES, goal=True),
    Variant("lstm_hoist", "lstm", project_rnn("lstm", True, 1), lstm_flops, goal=True),
    Variant("lstm_unroll4", "lstm", project_rnn("lstm", False, 4), lstm_flops, goal=True),
    Variant("lstm_hoist_unroll4", "lstm", project_rnn("lstm", True, 4), lstm_flops, goal=True),
    Variant("gru", "gru", project_rnn("gru", False, 1), gru_flops),
    Variant("transformer_einsum", "transformer", project_transformer("einsum"), _TF, MODES,
            goal=True),
    Variant("transformer_dpa", "transformer", project_transformer("dot_product_attention"), _TF,
            MODES, goal=True),
    Variant("flax_lstm", "lstm", flax_lstm, lstm_flops, goal=True),
    Variant("torch_lstm", "lstm", torch_peer("lstm", None), lstm_flops, goal=True,
            needs=torch_missing),
    Variant("torch_lstm_1thread", "lstm", torch_peer("lstm", 1), lstm_flops, goal=True,
            needs=torch_missing, extra=True),
    Variant("torch_transformer", "transformer", torch_peer("transformer", None), _TF, goal=True,
            needs=torch_missing),
    Variant("torch_transformer_1thread", "transformer", torch_peer("transformer", 1), _TF,
            goal=True, needs=torch_missing, extra=True),
    Variant("cudnn_lstm", "lstm", cudnn_lstm, lstm_flops, goal=True, needs=gpu_only),
    Variant("mingru_assoc_scan", "mingru", mingru, mingru_flops),
    Variant("lstm_fused", "lstm", project_rnn("lstm", True, 1, "fused"), lstm_flops,
            goal=True),
)

BY_NAME = {v.name: v for v in VARIANTS}

