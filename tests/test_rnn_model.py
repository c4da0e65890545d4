"""The recurrent encoder-decoder family: invariants every variant must satisfy."""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax.models import rnn_model
from seq2seq_jax.models.model_config import RNNConfig

SV, TV = 11, 13
BASE = dict(src_vocab=SV, tgt_vocab=TV, embed_dim=8, hidden=12, attn_dim=7)
CONFIGS = {
    "rnn_init": RNNConfig(**BASE, attention="none"),
    "rnn_every_step_bi": RNNConfig(**BASE, attention="none", context_mode="every_step",
                                   bidirectional=True),
    "rnn_gru_2layer": RNNConfig(**BASE, attention="none", cell="gru", enc_layers=2,
                                dec_layers=2),
    "bahdanau": RNNConfig(**BASE, attention="bahdanau"),
    "bahdanau_bi_2layer": RNNConfig(**BASE, attention="bahdanau", bidirectional=True,
                                    enc_layers=2, dec_layers=2),
    "bahdanau_gru": RNNConfig(**BASE, attention="bahdanau", cell="gru", hoist=True),
    "bahdanau_query_input_bi": RNNConfig(**BASE, attention="bahdanau", query_input=True,
                                         bidirectional=True),
    "bahdanau_query_cell_input": RNNConfig(**BASE, attention="bahdanau", query_cell=True,
                                           query_input=True, dec_layers=2),
    "luong_dot": RNNConfig(**BASE, attention="luong", luong_score="dot"),
    "luong_general_bi": RNNConfig(**BASE, attention="luong", luong_score="general",
                                  bidirectional=True),
    "luong_concat_nofeed": RNNConfig(**BASE, attention="luong", luong_score="concat",
                                     input_feeding=False),
    "luong_scaled_dot_3to1": RNNConfig(**BASE, attention="luong", luong_score="scaled_dot",
                                       enc_layers=3, dec_layers=1),
}
ATTN = [k for k, c in CONFIGS.items() if c.attention != "none"]


@functools.cache
def _params(name: str):
    return rnn_model.init(jax.random.PRNGKey(0), CONFIGS[name].validate())


@functools.cache
def _apply(name: str):
    cfg = CONFIGS[name]
    return jax.jit(lambda p, s, t: rnn_model.apply(p, cfg, s, t))


def _tokens(seed: int, n: int, pad: int = 0, vocab: int = SV):
    ids = np.random.default_rng(seed).integers(4, vocab, n)
    return jnp.asarray(np.concatenate([ids, np.zeros(pad, int)]), jnp.int32)


def _tgt(seed: int, n: int, pad: int = 0):
    return _tokens(seed, n, pad, TV).at[0].set(1)  # BOS first


@pytest.mark.parametrize("name", list(CONFIGS))
def test_padding_invariance(name):
    src, tgt = _tokens(1, 5), _tgt(2, 4)
    out = _apply(name)(_params(name), src, tgt)
    padded = _apply(name)(_params(name), _tokens(1, 5, pad=3), _tgt(2, 4, pad=2))
    np.testing.assert_allclose(padded.logits[:4], out.logits, atol=1e-5)
    if out.attention is not None:
        np.testing.assert_allclose(padded.attention[:4, :5], out.attention, atol=1e-6)
        np.testing.assert_array_equal(padded.attention[:, 5:], 0.0)


@pytest.mark.parametrize("name", ATTN)
def test_attention_rows_are_distributions(name):
    out = _apply(name)(_params(name), _tokens(3, 6, pad=2), _tgt(4, 5))
    w = out.attention
    assert w.shape == (5, 8)
    assert bool(jnp.all(w >= 0))
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(w[:, 6:], 0.0)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_causality(name):
    src, tgt = _tokens(5, 6), _tgt(6, 6)
    a = _apply(name)(_params(name), src, tgt)
    changed = tgt.at[4:].set(jnp.array([9, 10]))
    b = _apply(name)(_params(name), src, changed)
    np.testing.assert_allclose(a.logits[:4], b.logits[:4], atol=1e-6)
    assert not np.allclose(a.logits[4:], b.logits[4:])


@pytest.mark.parametrize("name", list(CONFIGS))
def test_step_T_times_equals_apply(name):
    cfg, params = CONFIGS[name], _params(name)
    src, tgt = _tokens(7, 5, pad=1), _tgt(8, 6)
    memory = rnn_model.encode(params, cfg, src)
    state = rnn_model.init_cache(params, cfg, memory, max_len=6)
    step = jax.jit(lambda s, tok: rnn_model.step(params, cfg, memory, s, tok))
    logits, attn = [], []
    for tok in tgt:
        out, state = step(state, tok)
        logits.append(out.logits)
        attn.append(out.attention)
    ref = _apply(name)(params, src, tgt)
    np.testing.assert_allclose(jnp.stack(logits), ref.logits, atol=1e-5)
    if ref.attention is not None:
        np.testing.assert_allclose(jnp.stack(attn), ref.attention, atol=1e-6)


@pytest.mark.parametrize("name", ["rnn_init", "bahdanau_bi_2layer", "luong_general_bi"])
def test_vmap_equals_python_loop(name):
    cfg, params = CONFIGS[name], _params(name)
    src = jnp.stack([_tokens(i, 5 - i % 3, pad=i % 3) for i in range(4)])
    tgt = jnp.stack([_tgt(10 + i, 4) for i in range(4)])
    batched = jax.vmap(lambda s, t: rnn_model.apply(params, cfg, s, t))(src, tgt)
    for i in range(4):
        single = _apply(name)(params, src[i], tgt[i])
        np.testing.assert_allclose(batched.logits[i], single.logits, atol=1e-5)


class TestJitEqualsEager(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_shapes_and_values(self):
        for name in ("rnn_every_step_bi", "bahdanau", "luong_dot"):
            cfg, params = CONFIGS[name], _params(name)
            for s_len, t_len in ((3, 2), (7, 5)):
                src, tgt = _tokens(s_len, s_len), _tgt(t_len, t_len)
                fn = self.variant(lambda p, s, t, cfg=cfg: rnn_model.apply(p, cfg, s, t))
                out = fn(params, src, tgt)
                chex.assert_shape(out.logits, (t_len, TV))
                ref = _apply(name)(params, src, tgt)
                np.testing.assert_allclose(out.logits, ref.logits, atol=1e-5)
                if cfg.attention != "none":
                    chex.assert_shape(out.attention, (t_len, s_len))


def test_bahdanau_scores_from_previous_state_luong_from_current():
    """Bahdanau's attention row i depends on s_{i-1}, not on input i (unless the query
    reads that input's embedding, query_input); Luong's on s_i, which has read it."""
    src = _tokens(11, 5)
    a, b = _tgt(12, 3), _tgt(12, 3).at[2].set(7)
    for name, depends in (("bahdanau", False), ("bahdanau_gru", False), ("luong_dot", True),
                          ("bahdanau_query_input_bi", True)):
        wa = _apply(name)(_params(name), src, a).attention
        wb = _apply(name)(_params(name), src, b).attention
        np.testing.assert_allclose(wa[:2], wb[:2], atol=1e-7)
        assert np.allclose(wa[2], wb[2], atol=1e-7) != depends, name


def test_query_cell_lets_the_top_memory_cell_steer_the_attention():
    """With query_cell the scoring network reads [h; c; E y] of the top decoder layer:
    its query weights have 2H + E rows, and moving c_{i-1} alone (h unchanged) moves
    the weights. Without it the same move leaves the weights as they were."""
    src = _tokens(21, 5)
    for name, reads_c in (("bahdanau_query_cell_input", True), ("bahdanau_bi_2layer", False)):
        cfg, params = CONFIGS[name], _params(name)
        extra = cfg.embed_dim if cfg.query_input else 0
        w_q = params["decoder"]["attention"]["w_q"]
        assert w_q.shape[0] == cfg.hidden * (2 if reads_c else 1) + extra, name
        memory = rnn_model.encode(params, cfg, src)
        state = rnn_model.init_cache(params, cfg, memory, 4)
        top = state.cells[-1]
        moved = state._replace(cells=(*state.cells[:-1], top._replace(c=top.c + 1.0)))
        ref, _ = rnn_model.step(params, cfg, memory, state, jnp.int32(5))
        out, _ = rnn_model.step(params, cfg, memory, moved, jnp.int32(5))
        np.testing.assert_allclose(ref.attention.sum(), 1.0, atol=1e-6)
        assert (not np.allclose(out.attention, ref.attention, atol=1e-6)) == reads_c, name


@pytest.mark.parametrize("name", ["bahdanau", "luong_general_bi", "luong_concat_nofeed"])
def test_step_never_touches_the_key_projection(name):
    """U h_j is computed once in encode; poisoning its weights after encode changes nothing."""
    cfg, params = CONFIGS[name], _params(name)
    memory = rnn_model.encode(params, cfg, _tokens(13, 5))
    state = rnn_model.init_cache(params, cfg, memory, 4)
    attn = params["decoder"]["attention"]
    poison = "w_k" if "w_k" in attn else "w"
    bad = jax.tree.map(lambda x: x, params)
    bad["decoder"]["attention"][poison] = jax.tree.map(lambda x: x * jnp.nan, attn[poison])
    out, _ = rnn_model.step(bad, cfg, memory, state, jnp.int32(1))
    ref, _ = rnn_model.step(params, cfg, memory, state, jnp.int32(1))
    np.testing.assert_allclose(out.logits, ref.logits, atol=1e-6)


def test_context_mode_every_step_feeds_the_context_to_every_step():
    """With every_step, changing the encoder's final state moves logits at late steps more
    directly: the decoder input width includes the context."""
    cfg = CONFIGS["rnn_every_step_bi"]
    p = _params("rnn_every_step_bi")
    assert p["decoder"]["layers"][0]["w_x"].shape[0] == cfg.embed_dim + cfg.enc_out_dim
    assert "bridge" in p["decoder"]  # 2H encoder -> H decoder
    q = _params("rnn_init")
    assert q["decoder"]["layers"][0]["w_x"].shape[0] == cfg.embed_dim
    assert "bridge" not in q["decoder"]


def test_dropout_only_with_a_key():
    cfg = RNNConfig(**BASE, attention="bahdanau", dropout=0.5, enc_layers=2, dec_layers=2)
    params = rnn_model.init(jax.random.PRNGKey(0), cfg)
    src, tgt = _tokens(1, 5), _tgt(2, 4)
    a = rnn_model.apply(params, cfg, src, tgt)
    b = rnn_model.apply(params, cfg, src, tgt)
    c = rnn_model.apply(params, cfg, src, tgt, key=jax.random.PRNGKey(1))
    np.testing.assert_array_equal(a.logits, b.logits)
    assert not np.allclose(a.logits, c.logits)


def test_one_compilation_per_shape():
    cfg, params = CONFIGS["bahdanau"], _params("bahdanau")

    @jax.jit
    @chex.assert_max_traces(n=1)
    def fn(p, s, t):
        return jax.vmap(lambda a, b: rnn_model.apply(p, cfg, a, b))(s, t)

    src = jnp.stack([_tokens(i, 5) for i in range(3)])
    tgt = jnp.stack([_tgt(i, 4) for i in range(3)])
    fn(params, src, tgt)
    fn(params, src + 0, tgt)  # new values, same shapes: no retrace
    chex.clear_trace_counter()
