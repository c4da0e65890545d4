"""Transformer: attention invariants, padding, causality, the KV cache, and peers."""

from __future__ import annotations

import dataclasses
import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import parameterized
from jax.test_util import check_grads

from seq2seq_jax.errors import ConfigError
from seq2seq_jax.models import multihead
from seq2seq_jax.models import transformer as tr
from seq2seq_jax.models.interface import Model
from seq2seq_jax.models.model_config import TransformerConfig

V = 11
CFG = TransformerConfig(src_vocab=V, tgt_vocab=V, d_model=16, heads=2, ff_dim=32,
                        enc_layers=1, dec_layers=2, dropout=0.0, tie_output=False).validate()


def _cfg(**kw) -> TransformerConfig:
    return dataclasses.replace(CFG, **kw).validate()


def _tokens(seed: int, length: int, pad: int = 0, bos: bool = False) -> jax.Array:
    ids = np.random.default_rng(seed).integers(4, V, size=length)
    if bos:
        ids[0] = 1
    return jnp.asarray(np.concatenate([ids, np.zeros(pad, ids.dtype)]), jnp.int32)


# Jitted once here: compiling every small op eagerly would dominate the test time.
apply = jax.jit(tr.apply, static_argnums=1)
encode = jax.jit(tr.encode, static_argnums=1)
step = jax.jit(tr.step, static_argnums=1)
mha = jax.jit(multihead.multi_head_attention, static_argnames=("heads", "impl"))


# One source / target shape pair wherever possible, so the jitted functions compile once.
SRC = _tokens(0, 5, pad=2)  # [S=7], two pads
TGT = _tokens(1, 5, bos=True)  # [T=5]
M = 8  # decode-cache length


def _params(cfg: TransformerConfig = CFG, seed: int = 0):
    """Params depend on neither dropout, attention impl nor dtype: share them."""
    return _init(dataclasses.replace(cfg, dropout=0.0, attn_dropout=0.0,
                                     attention_impl="einsum", dtype="float32"), seed)


@functools.lru_cache
def _init(cfg: TransformerConfig, seed: int):
    return tr.init(jax.random.PRNGKey(seed), cfg)


def _run_steps(params, cfg, src, tgt, max_len):
    """Decode ``tgt`` token by token with the jitted cached step."""
    memory = encode(params, cfg, src)
    cache = tr.init_cache(params, cfg, memory, max_len)
    logits, attn = [], []
    for t in range(tgt.shape[0]):
        out, cache = step(params, cfg, memory, cache, tgt[t])
        logits.append(out.logits)
        attn.append(out.attention)
    return jnp.stack(logits), jnp.stack(attn), cache


def _close(a, b, atol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol, rtol=0)


class ShapesTest(chex.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.parameters((7, 5, 16, 1, 2), (1, 1, 32, 2, 1))
    def test_shapes(self, s, t, d, enc_layers, layers):
        cfg = _cfg(d_model=d, enc_layers=enc_layers, dec_layers=layers)
        params = _params(cfg)
        src, tgt = _tokens(0, s), _tokens(1, t, bos=True)
        out = self.variant(lambda p, a, b: tr.apply(p, cfg, a, b))(params, src, tgt)
        chex.assert_shape(out.logits, (t, V))
        chex.assert_shape(out.attention, (t, s))
        assert out.logits.dtype == jnp.float32
        memory = self.variant(lambda p, a: tr.encode(p, cfg, a))(params, src)
        chex.assert_shape(memory.enc, (s, d))
        chex.assert_shape([*memory.k, *memory.v], (2, s, d // 2))
        assert len(memory.k) == len(memory.v) == layers
        cache = tr.init_cache(params, cfg, memory, t + 3)
        chex.assert_shape([*cache.k, *cache.v], (2, t + 3, d // 2))
        assert len(cache.k) == len(cache.v) == layers
        step = self.variant(lambda p, m, c, x: tr.step(p, cfg, m, c, x))
        so, cache = step(params, memory, cache, tgt[0])
        chex.assert_shape(so.logits, (V,))
        chex.assert_shape(so.attention, (s,))
        assert int(cache.pos) == 1


def _mha_inputs():
    ks = jax.random.split(jax.random.PRNGKey(3), 3)
    q_in = jax.random.normal(ks[0], (4, 16))
    kv_in = jax.random.normal(ks[1], (6, 16))
    mask = jnp.ones((4, 6), bool).at[:, 4:].set(False).at[1, 2].set(False).at[3].set(False)
    return multihead.attention_init(ks[2], 16), q_in, kv_in, mask


def test_mha_weights_are_a_distribution_over_unmasked_keys():
    params, q_in, kv_in, mask = _mha_inputs()
    out, w = mha(params, q_in, kv_in, mask, heads=2)
    assert w is not None
    chex.assert_shape(w, (2, 4, 6))
    chex.assert_tree_all_finite((out, w))
    assert bool(jnp.all(w >= 0))
    assert bool(jnp.all(jnp.where(mask[None], True, w == 0.0)))
    sums = w.sum(-1)  # [N, T]
    _close(sums[:, :3], 1.0, atol=1e-6)
    _close(sums[:, 3], 0.0, atol=0)  # the fully masked query row


@pytest.mark.parametrize("pre_norm", [True, False])
def test_apply_attention_rows_sum_to_one_and_skip_padding(pre_norm):
    cfg = _cfg(pre_norm=pre_norm)
    out = apply(_params(cfg), cfg, SRC, TGT)
    assert bool(jnp.all(out.attention >= 0))
    _close(out.attention.sum(-1), 1.0, atol=1e-6)
    assert bool(jnp.all(out.attention[:, 5:] == 0.0))


@pytest.mark.parametrize("pre_norm", [True, False])
def test_padding_leaves_real_positions_unchanged(pre_norm):
    cfg = _cfg(pre_norm=pre_norm)
    params = _params(cfg)
    ref = apply(params, cfg, SRC, TGT)
    padded = apply(params, cfg, _tokens(0, 5, pad=7), _tokens(1, 5, pad=3, bos=True))
    _close(padded.logits[:5], ref.logits)
    _close(padded.attention[:5, :7], ref.attention)
    assert bool(jnp.all(padded.attention[:, 5:] == 0.0))


def test_decoder_cannot_see_the_future():
    params, a, t = _params(), TGT, 2
    b = a.at[t + 1:].set((a[t + 1:] - 3) % (V - 4) + 4)  # other real tokens after t
    assert bool(jnp.all(a[t + 1:] != b[t + 1:]))
    la, lb = apply(params, CFG, SRC, a).logits, apply(params, CFG, SRC, b).logits
    _close(la[:t + 1], lb[:t + 1])
    assert float(jnp.abs(la[t + 1:] - lb[t + 1:]).max()) > 1e-3  # the change is visible later


@pytest.mark.parametrize(("pre_norm", "impl", "positions"), [
    (True, "einsum", "sinusoidal"), (False, "einsum", "sinusoidal"),
    (True, "dot_product_attention", "sinusoidal"), (True, "einsum", "rotary")])
def test_step_reproduces_apply(pre_norm, impl, positions):
    cfg = _cfg(pre_norm=pre_norm, attention_impl=impl, positions=positions)
    params = _params(cfg)
    ref = apply(params, cfg, SRC, TGT)
    logits, attn, cache = _run_steps(params, cfg, SRC, TGT, max_len=M)
    _close(logits, ref.logits)
    _close(attn, ref.attention)
    assert int(cache.pos) == 5
    assert all(bool(jnp.all(k[:, 5:] == 0)) for k in cache.k)  # rows past pos untouched


def test_cached_step_equals_recomputing_the_prefix():
    params = _params()
    logits, attn, _ = _run_steps(params, CFG, SRC, TGT, max_len=M)
    for t in range(TGT.shape[0]):
        prefix = apply(params, CFG, SRC, TGT[:t + 1])
        _close(logits[t], prefix.logits[t])
        _close(attn[t], prefix.attention[t])


def test_step_traces_once_for_every_position():
    chex.clear_trace_counter()
    params = _params()

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(memory, cache, token):
        return tr.step(params, CFG, memory, cache, token)

    memory = encode(params, CFG, SRC)
    cache = tr.init_cache(params, CFG, memory, M)
    for token in TGT:
        _, cache = step(memory, cache, token)
    assert int(cache.pos) == 5


def test_vmap_equals_loop_and_jit_equals_eager():
    params = _params()
    srcs = jnp.stack([_tokens(i, 7 - 2 * i, pad=2 * i) for i in range(3)])
    tgts = jnp.stack([_tokens(10 + i, 5 - i, pad=i, bos=True) for i in range(3)])
    batched = jax.jit(jax.vmap(lambda s, t: tr.apply(params, CFG, s, t)))(srcs, tgts)
    for i in range(3):
        one = apply(params, CFG, srcs[i], tgts[i])
        _close(batched.logits[i], one.logits)
        _close(batched.attention[i], one.attention)
    eager = tr.apply(params, CFG, srcs[0], tgts[0])
    chex.assert_trees_all_close(apply(params, CFG, srcs[0], tgts[0]), eager, atol=1e-5)


def test_einsum_attention_equals_jax_nn():
    ks = jax.random.split(jax.random.PRNGKey(0), 3)
    q, k, v = (jax.random.normal(kk, shape) for kk, shape in
               zip(ks, [(4, 2, 8), (6, 2, 8), (6, 2, 8)], strict=True))
    mask = jnp.ones((4, 6), bool).at[:, 5:].set(False).at[0, :2].set(False)
    ours, _ = jax.jit(tr.attend)(q, k, v, mask)
    _close(ours, jax.jit(jax.nn.dot_product_attention)(q, k, v, mask=mask[None]))
    params, q_in, kv_in, mask = _mha_inputs()  # includes a fully masked row
    a, wa = mha(params, q_in, kv_in, mask, heads=2, impl="einsum")
    b, wb = mha(params, q_in, kv_in, mask, heads=2, impl="dot_product_attention")
    assert wa is not None and wb is None
    _close(a, b)


def test_mha_gradients_match_finite_differences():
    params, q_in, kv_in, mask = _mha_inputs()

    @jax.jit
    def f(p, x, y):
        out, _ = multihead.multi_head_attention(p, x, y, mask, heads=2)
        return jnp.sum(jnp.tanh(out))

    check_grads(f, (params, q_in, kv_in), order=1, modes=["rev"], eps=1e-3, atol=2e-2, rtol=2e-2)


def test_tied_and_shared_param_structures():
    tied = _cfg(tie_output=True)
    shared = _cfg(tie_output=True, share_embeddings=True)
    p_untied, p_tied, p_shared = _params(), _params(tied), _params(shared)
    assert set(p_untied) == {"src_embed", "tgt_embed", "encoder", "decoder", "out"}
    assert set(p_tied) == {"src_embed", "tgt_embed", "encoder", "decoder"}
    assert set(p_shared) == {"embed", "encoder", "decoder"}
    assert len(p_untied["decoder"]["layers"]) == 2 and "norm" in p_untied["decoder"]
    assert "norm" not in _params(_cfg(pre_norm=False))["encoder"]

    def moved_row0(p, cfg, name):
        """Do logits change with the table's row for PAD (only a pad in SRC, not in TGT)?"""
        # Not a constant shift: pre-norm's final layer norm output sums to zero.
        q = {**p, name: {"table": p[name]["table"].at[0].add(jnp.linspace(-1.0, 1.0, 16))}}
        return float(jnp.abs(apply(q, cfg, SRC, TGT).logits - apply(p, cfg, SRC, TGT).logits).max())

    # A tied projection reads every row of the target table (column 0 of the logits).
    assert moved_row0(p_tied, tied, "tgt_embed") > 1e-3
    assert moved_row0(p_shared, shared, "embed") > 1e-3
    assert moved_row0(p_untied, CFG, "tgt_embed") == 0.0


def test_jitted_apply_traces_once():
    chex.clear_trace_counter()
    params = _params()

    @jax.jit
    @chex.assert_max_traces(n=1)
    def f(p, s, t):
        return apply(p, CFG, s, t)

    f(params, SRC, TGT)
    f(params, _tokens(2, 5, pad=2), _tokens(3, 5, bos=True))
    with pytest.raises(AssertionError):  # a new shape would retrace
        f(params, _tokens(2, 6), TGT)


def test_dropout_only_with_a_key():
    cfg = _cfg(dropout=0.3, attn_dropout=0.3, dec_layers=1)
    # The inlined RNG makes XLA's optimiser slow; these checks do not need it.
    fast = {"xla_backend_optimization_level": 0}
    apply_, step_ = (jax.jit(f, static_argnums=1, compiler_options=fast)
                     for f in (tr.apply, tr.step))
    params, src, tgt = _params(cfg), SRC, TGT
    a, b = apply_(params, cfg, src, tgt), apply_(params, cfg, src, tgt)
    chex.assert_trees_all_equal(a, b)
    d1 = apply_(params, cfg, src, tgt, key=jax.random.PRNGKey(1))
    d1_again = apply_(params, cfg, src, tgt, key=jax.random.PRNGKey(1))
    d2 = apply_(params, cfg, src, tgt, key=jax.random.PRNGKey(2))
    chex.assert_trees_all_equal(d1, d1_again)
    assert float(jnp.abs(d1.logits - a.logits).max()) > 1e-3
    assert float(jnp.abs(d1.logits - d2.logits).max()) > 1e-3
    _close(d1.attention.sum(-1), 1.0, atol=1e-6)
    memory = encode(params, cfg, src)
    cache = tr.init_cache(params, cfg, memory, M)
    s0, _ = step_(params, cfg, memory, cache, tgt[0])
    s1, _ = step_(params, cfg, memory, cache, tgt[0], key=jax.random.PRNGKey(1))
    _close(s0.logits, a.logits[0])
    assert float(jnp.abs(s1.logits - s0.logits).max()) > 1e-3


def test_bfloat16_compute_keeps_float32_params_and_logits():
    cfg = _cfg(dtype="bfloat16")
    params = _params(cfg)
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(params))
    out = apply(params, cfg, SRC, TGT)
    assert out.logits.dtype == jnp.float32
    chex.assert_tree_all_finite(out)
    ref = apply(params, CFG, SRC, TGT)
    _close(out.logits, ref.logits, atol=0.25)


def test_model_bundle():
    assert isinstance(tr.MODEL, Model) and tr.MODEL.name == "transformer"
    assert tr.MODEL.step is tr.step and tr.MODEL.apply is tr.apply


def test_rotary_products_depend_on_the_distance_only():
    from seq2seq_jax.models.multihead import rotary

    q, k = (jax.random.normal(jax.random.key(i), (5, 2, 8)) for i in (1, 2))
    pos = jnp.array([0, 3, 4, 9, 20])

    def logits(shift):
        return jnp.einsum("tnh,snh->nts", rotary(q, pos + shift), rotary(k, pos + shift))

    np.testing.assert_allclose(logits(0), logits(37), atol=1e-4)
    assert not np.allclose(logits(0), jnp.einsum("tnh,snh->nts", q, k), atol=1e-3)
    np.testing.assert_allclose(jnp.linalg.norm(rotary(q, pos), axis=-1),
                               jnp.linalg.norm(q, axis=-1), rtol=1e-5)  # a rotation


def test_rotary_positions_leave_the_embeddings_alone_and_need_an_even_head():
    cfg = _cfg(positions="rotary")
    params = _params(cfg)
    a = apply(params, cfg, SRC, TGT).logits
    b = apply(params, _cfg(), SRC, TGT).logits  # the same weights with sinusoids
    assert not np.allclose(a, b, atol=1e-3)
    with pytest.raises(ConfigError, match=r"model\.positions='absolute' is not valid"):
        _cfg(positions="absolute")
    with pytest.raises(ConfigError, match="even head width"):
        _cfg(positions="rotary", d_model=6, heads=2)
