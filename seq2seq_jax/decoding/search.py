"""What every decoding algorithm shares: the result type, the model's functions
lifted over the batch (and the beams), and the checks on a decoding request.

The algorithms themselves live in ``decode`` (greedy search, sampling and the
``decode`` entry point) and ``beam`` (beam search); ``decode`` re-exports all of
them, so user code imports only ``seq2seq_jax.decoding.decode``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from seq2seq_jax.constants import BOS_ID, PAD_ID
from seq2seq_jax.models.interface import Model, StepOutput

Array = jax.Array
Params = dict[str, Any]

NEVER_GENERATED = (PAD_ID, BOS_ID)
NEG_INF = float("-inf")


class Decoded(NamedTuple):
    """The result of every algorithm; beam search adds an n-best axis R after B."""

    tokens: Array  # [B, T] int32 ([B, R, T] for beams); PAD after EOS
    lengths: Array  # [B] int32 ([B, R]); tokens up to and including EOS
    log_prob: Array  # [B] float32 ([B, R]); sum of the tokens' log-probabilities
    score: Array  # [B] float32 ([B, R]); log_prob / lp(length) for beams, else log_prob
    attention: Array | None  # [B, T, S] ([B, R, T, S]); zero after EOS; None without attention
    logits: Array | None  # [B, T, V] every step's logits (greedy / sample, on request)


def length_penalty(length: Array | int, alpha: float) -> Array:
    """GNMT length penalty ``((5 + length) / 6) ** alpha`` (Wu et al. 2016, eq. 14)."""
    return jnp.power((5.0 + jnp.asarray(length, jnp.float32)) / 6.0, alpha)


def default_max_len(src_len: int) -> int:
    """A length limit for sources padded to length ``S``: ``2 S + 10``."""
    return 2 * src_len + 10


FIRST_CACHE = 16  # positions a growing decode cache starts with; it doubles from there


def cache_sizes(model: Model, cfg: Any, max_len: int) -> tuple[int, ...]:
    """The decode-cache lengths a search runs through: 16, 32, 64, ... then ``max_len``.

    A step of a Transformer reads (and beam search reorders) its whole cache, so a
    cache sized for ``max_len`` from the first token costs about ``max_len / t`` times
    the work at step t. Searches start with room for 16 positions and grow the cache
    (``Model.grow_cache``) only when an output gets that long; each size is one
    ``while_loop`` in the same compiled program. Models without a cache length
    (RNNs) run one loop.
    """
    if model.grow_cache is None or not getattr(cfg, "cache_grows", True):
        return (max_len,)
    sizes = []
    size = FIRST_CACHE
    while size < max_len:
        sizes.append(size)
        size *= 2
    return (*sizes, max_len)


def running(size: int, state: Any) -> Array:
    """A search loop's condition: a position left in the cache and an example not done."""
    return (state.t < size) & ~jnp.all(state.done)


class Batched(NamedTuple):
    """The model's per-example functions lifted over the batch (and the beams)."""

    model: Model
    params: Params
    cfg: Any

    def start(self, src: Array, max_len: int) -> tuple[Any, Any]:
        """Memory and first cache for ``src: [B, S]``, leaves ``[B, ...]``; ``S = 0``
        becomes one PAD column (the same empty source; not every model takes S = 0)."""
        if src.shape[1] == 0:
            src = jnp.full((src.shape[0], 1), PAD_ID, src.dtype)
        m, p, cfg = self
        memory = jax.vmap(lambda s: m.encode(p, cfg, s))(src)
        return memory, jax.vmap(lambda mem: m.init_cache(p, cfg, mem, max_len))(memory)

    def grow(self, cache: Any, max_len: int, batch_axes: int = 1) -> Any:
        """``cache`` (leaves ``[B, ...]``, or ``[B, K, ...]`` with 2 batch axes) with
        room for ``max_len`` positions."""
        m, p, cfg = self
        if m.grow_cache is None:
            return cache
        grow = m.grow_cache

        def fn(c: Any) -> Any:
            return grow(p, cfg, c, max_len)

        for _ in range(batch_axes):
            fn = jax.vmap(fn)
        return fn(cache)

    def step_shapes(self, memory: Any, cache: Any) -> StepOutput:
        """Shapes and dtypes of ``step``'s output for ``start``'s result (nothing runs)."""
        batch = jax.tree.leaves(cache)[0].shape[0]
        out, _ = jax.eval_shape(self.step, memory, cache, jnp.full((batch,), BOS_ID, jnp.int32))
        return out

    def step(self, memory: Any, cache: Any, token: Array) -> tuple[StepOutput, Any]:
        """``token: [B]`` -> logits ``[B, V]``, attention ``[B, S]`` or None."""
        m, p, cfg = self
        return jax.vmap(lambda mem, c, t: m.step(p, cfg, mem, c, t))(memory, cache, token)

    def step_beams(self, memory: Any, cache: Any, token: Array) -> tuple[StepOutput, Any]:
        """``token: [B, K]``, cache leaves ``[B, K, ...]`` -> logits ``[B, K, V]``."""
        m, p, cfg = self

        def beams(mem: Any, c: Any, t: Array) -> tuple[StepOutput, Any]:
            return jax.vmap(lambda ci, ti: m.step(p, cfg, mem, ci, ti))(c, t)

        return jax.vmap(beams)(memory, cache, token)


def log_probs(logits: Array) -> Array:
    """Log-softmax in float32 over ``[..., V]``; the never-generated ids at -inf."""
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    banned = jnp.isin(jnp.arange(logp.shape[-1]), jnp.asarray(NEVER_GENERATED))
    return jnp.where(banned, NEG_INF, logp)


def lengths(tokens: Array) -> Array:
    return jnp.sum(tokens != PAD_ID, axis=-1, dtype=jnp.int32)


def trim(out: Decoded, src_len: int) -> Decoded:
    """Drop the PAD column ``start`` gives a zero-width source."""
    return out._replace(attention=None if out.attention is None
                        else out.attention[..., :src_len])


def check_src(cfg: Any, src: Array, max_len: int) -> Array:
    src = jnp.asarray(src, jnp.int32)
    if src.ndim != 2:
        raise ValueError(f"src must be [B, S] token ids, got shape {src.shape}")
    if not isinstance(max_len, int) or not 1 <= max_len <= getattr(cfg, "max_len", max_len):
        raise ValueError(f"max_len={max_len!r} must be a positive int, at most the "
                         f"model's decode limit model.max_len={getattr(cfg, 'max_len', None)}")
    return src

