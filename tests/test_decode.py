"""Decoding: greedy, beam search and sampling for every model family.

Invariants, not golden numbers: batch invariance, beam 1 == greedy, teacher
forcing reproduces what decoding saw, the beam finds the best sequence when it
is as wide as the search space (checked against brute-force enumeration).
"""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax import models
from seq2seq_jax.constants import BOS_ID, EOS_ID, PAD_ID
from seq2seq_jax.decoding import beam, search
from seq2seq_jax.decoding import decode as dec
from seq2seq_jax.models.interface import Model

NAMES = models.NAMES
ATTN = ("bahdanau", "luong", "transformer")
SV, TV = 9, 9
L = 8  # max_len of the batch tests
# Source lengths 5, 2, 0 (empty) and 7, padded to S = 9.
LENS = (5, 2, 0, 7)
S = 9


def _make(name: str, tgt_vocab: int):
    if name == "transformer":
        opts = dict(d_model=16, heads=2, ff_dim=32, enc_layers=1, dec_layers=1, dropout=0.0,
                    tie_output=False)
    else:
        opts = dict(hidden=16, embed_dim=8)
    cfg = models.make_config({"name": name, **opts}, SV, tgt_vocab)
    model = models.get_model(name)
    return model, cfg, model.init(jax.random.PRNGKey(len(name)), cfg)


def _eos_schedule(model: Model, start: float = -4.0, slope: float = 1.0) -> Model:
    """``model`` with ``start + slope * t`` added to the EOS logit at output position t.

    Untrained models emit EOS first or never; this makes them end after a few
    tokens, at lengths that differ between sources, as trained ones do. Only
    the model's interface is wrapped (the cache gains a position counter), so
    decoding still reaches the real model through ``encode``/``init_cache``/``step``,
    and ``apply`` shifts its logits alike.
    """
    def bias(t: jax.Array) -> jax.Array:
        return (start + slope * t) * jax.nn.one_hot(EOS_ID, TV)

    def init_cache(params, cfg, memory, max_len):
        return model.init_cache(params, cfg, memory, max_len), jnp.zeros((), jnp.int32)

    def step(params, cfg, memory, cache, token, key=None):
        inner, t = cache
        out, inner = model.step(params, cfg, memory, inner, token, key)
        return out._replace(logits=out.logits + bias(t)), (inner, t + 1)

    def apply(params, cfg, src, tgt_in, key=None):
        out = model.apply(params, cfg, src, tgt_in, key)
        return out._replace(logits=out.logits + bias(jnp.arange(tgt_in.shape[0])[:, None]))

    def grow_cache(params, cfg, cache, max_len):
        assert model.grow_cache is not None
        return model.grow_cache(params, cfg, cache[0], max_len), cache[1]

    return model._replace(init_cache=init_cache, step=step, apply=apply,
                          grow_cache=grow_cache if model.grow_cache else None)


@functools.cache
def _setup(name: str):
    model, cfg, params = _make(name, TV)
    return _eos_schedule(model), cfg, params


@functools.cache
def _tiny(name: str):
    """Two content tokens (UNK=3, 4) and EOS: every sequence can be enumerated."""
    return _make(name, 5)


TINY_SRC = dict(lens=(3, 6, 1, 4, 2, 5), width=6, seed=1)


@functools.cache
def _wide(name: str, alpha: float):
    """A beam of 24 over the tiny vocabulary {3, 4, EOS} with max_len 4: it keeps
    every prefix and every candidate; all 15 finished sequences are returned."""
    model, cfg, params = _tiny(name)
    return dec.beam_search(model, params, cfg, _src(**TINY_SRC), 4, beam_size=24, alpha=alpha,
                           n_best=15)


def _src(lens=LENS, width=S, seed=0) -> jax.Array:
    rng = np.random.default_rng(seed)
    rows = [np.concatenate([rng.integers(4, SV, n), np.zeros(width - n, int)]) for n in lens]
    return jnp.asarray(np.stack(rows), jnp.int32)


@functools.cache
def _greedy(name: str):
    model, cfg, params = _setup(name)
    return dec.greedy(model, params, cfg, _src(), L, return_logits=True)


@functools.cache
def _beam(name: str, beam_size: int = 3, n_best: int = 2, alpha: float = 0.6):
    model, cfg, params = _setup(name)
    return dec.beam_search(model, params, cfg, _src(), L, beam_size=beam_size, alpha=alpha,
                           n_best=n_best)


@functools.partial(jax.jit, static_argnums=(0, 2))
def _teacher_forced(model: Model, params, cfg, src: jax.Array, tokens: jax.Array):
    """``model.apply`` on ``[BOS, tokens[:-1]]`` for a batch of outputs ``[B, L]``."""
    tgt_in = jnp.concatenate([jnp.full_like(tokens[:, :1], BOS_ID), tokens[:, :-1]], axis=1)
    return models.batch_apply(model, params, cfg, src, tgt_in)


def _seq_log_prob(logits: jax.Array, tokens: jax.Array) -> jax.Array:
    """Sum of the log-probs of the non-PAD ``tokens: [B, L]`` under ``logits: [B, L, V]``."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    picked = jnp.take_along_axis(logp, tokens[..., None], axis=-1)[..., 0]
    return jnp.sum(jnp.where(tokens != PAD_ID, picked, 0.0), axis=-1)


def _check_well_formed(out: dec.Decoded, max_len: int):
    tokens = np.asarray(out.tokens).reshape(-1, max_len)
    lengths = np.asarray(out.lengths).reshape(-1)
    assert tokens.shape[-1] == max_len
    for row, n in zip(tokens, lengths, strict=True):
        assert 1 <= n <= max_len
        assert (row[n:] == PAD_ID).all() and (row[:n] != PAD_ID).all()
        assert (row[: n - 1] != EOS_ID).all() and not (row[:n] == BOS_ID).any()
    assert np.isfinite(np.asarray(out.log_prob)).all()
    if out.attention is not None:
        assert np.isfinite(np.asarray(out.attention)).all()


# ---------------------------------------------------------------- every model


@pytest.mark.parametrize("name", NAMES)
def test_beam_size_one_equals_greedy(name):
    model, cfg, params = _setup(name)
    beam = dec.beam_search(model, params, cfg, _src(), L, beam_size=1, alpha=0.0)
    greedy = _greedy(name)
    np.testing.assert_array_equal(beam.tokens[:, 0], greedy.tokens)
    np.testing.assert_allclose(beam.log_prob[:, 0], greedy.log_prob, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_batch_invariance(name, method):
    """Row 0 decodes alike alone (S = 5) and among rows of other lengths padded to
    S = 9 -- including an all-PAD source, which must give no NaN."""
    model, cfg, params = _setup(name)
    alone_src = _src()[:1, : LENS[0]]
    if method == "greedy":
        batch = _greedy(name)
        alone = dec.greedy(model, params, cfg, alone_src, L, return_logits=True)
    else:
        batch = _beam(name)
        alone = dec.beam_search(model, params, cfg, alone_src, L, beam_size=3, alpha=0.6,
                                n_best=2)
    _check_well_formed(batch, L)
    np.testing.assert_array_equal(alone.tokens[0], batch.tokens[0])
    np.testing.assert_array_equal(alone.lengths[0], batch.lengths[0])
    np.testing.assert_allclose(alone.score[0], batch.score[0], rtol=1e-5, atol=1e-5)
    if batch.attention is not None:
        assert alone.attention is not None
        np.testing.assert_allclose(alone.attention[0], batch.attention[0][..., : LENS[0]],
                                   atol=1e-5)
        np.testing.assert_array_equal(batch.attention[0][..., LENS[0]:], 0.0)


@pytest.mark.parametrize("name", NAMES)
def test_teacher_forcing_reproduces_greedy_logits_and_attention(name):
    model, cfg, params = _setup(name)
    out = _greedy(name)
    assert out.logits is not None
    forced = _teacher_forced(model, params, cfg, _src(), out.tokens)
    live = (jnp.arange(L)[None] < out.lengths[:, None])[..., None]  # [B, L, 1]
    np.testing.assert_allclose(jnp.where(live, forced.logits, 0.0), out.logits,
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(_seq_log_prob(forced.logits, out.tokens), out.log_prob,
                               rtol=1e-4, atol=1e-4)
    assert (out.attention is None) == (name == "rnn")
    if out.attention is not None:
        np.testing.assert_allclose(jnp.where(live, forced.attention, 0.0), out.attention,
                                   atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_beam_hypotheses_match_teacher_forcing(name):
    """Each n-best hypothesis's log-prob, score and attention history are those of
    teacher forcing it: the histories were reordered with their beams."""
    model, cfg, params = _setup(name)
    out = _beam(name)
    n = out.tokens.shape[1]
    tokens = out.tokens.reshape(-1, L)
    src = jnp.repeat(_src(), n, axis=0)
    forced = _teacher_forced(model, params, cfg, src, tokens)
    np.testing.assert_allclose(_seq_log_prob(forced.logits, tokens), out.log_prob.reshape(-1),
                               rtol=1e-4, atol=1e-4)
    lp = dec.length_penalty(out.lengths, 0.6)
    np.testing.assert_allclose(out.score, out.log_prob / lp, rtol=1e-5)
    assert (np.diff(np.asarray(out.score), axis=1) <= 0).all()  # best first
    assert (out.attention is None) == (name == "rnn")
    if out.attention is not None:
        live = (jnp.arange(L)[None] < out.lengths.reshape(-1, 1))[..., None]
        np.testing.assert_allclose(jnp.where(live, forced.attention, 0.0),
                                   out.attention.reshape(-1, L, S), atol=1e-5)


@pytest.mark.parametrize(("name", "alpha"), [("luong", 0.0), ("transformer", 1.0)])
def test_beam_as_wide_as_the_search_space_ranks_every_sequence(name, alpha):
    """Vocabulary {3, 4, EOS}, max_len 4: 15 sequences end in EOS. A beam of 24
    keeps every prefix and every candidate, so its 15-best list is the
    brute-force ranking of all sequences by log-prob (alpha = 0) or by the
    length-normalised score."""
    model, cfg, params = _tiny(name)
    max_len, n = 4, 15
    src = _src(**TINY_SRC)
    seqs = [(*c, EOS_ID) for k in range(max_len) for c in itertools.product((3, 4), repeat=k)]
    assert len(seqs) == n
    tokens = jnp.asarray([list(s) + [PAD_ID] * (max_len - len(s)) for s in seqs], jnp.int32)
    lengths = np.array([len(s) for s in seqs])
    out = _wide(name, alpha)
    for b in range(src.shape[0]):
        forced = _teacher_forced(model, params, cfg, jnp.repeat(src[b:b + 1], n, 0), tokens)
        brute = np.asarray(_seq_log_prob(forced.logits, tokens))
        want = brute / np.asarray(dec.length_penalty(lengths, alpha))
        order = np.argsort(-want, kind="stable")
        np.testing.assert_allclose(out.score[b], want[order], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(out.log_prob[b], brute[order], rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(out.tokens[b], tokens[order])
        np.testing.assert_array_equal(out.lengths[b], lengths[order])


def test_beam_scores_at_least_greedy():
    """The exact best (a beam as wide as the search space) beats or ties greedy
    and a narrow beam; the narrow beam beats or ties greedy on these fixed tiny
    models (not a theorem: greedy's prefix can be pruned from a narrow beam)."""
    model, cfg, params = _tiny("luong")
    src = _src(**TINY_SRC)
    greedy = dec.greedy(model, params, cfg, src, 4)
    narrow = dec.beam_search(model, params, cfg, src, 4, beam_size=2, alpha=0.0)
    best = _wide("luong", 0.0).log_prob[:, 0]
    assert (best >= greedy.log_prob - 1e-6).all()
    assert (best >= narrow.log_prob[:, 0] - 1e-6).all()
    assert (narrow.log_prob[:, 0] >= greedy.log_prob - 1e-6).all()
    assert (best > greedy.log_prob + 1e-3).any()  # the search space is not trivial


# ---------------------------------------------------------------- Transformer cache


def test_cached_transformer_step_equals_recomputing_the_prefix():
    """At decode time, each cached step's logits equal ``apply`` over the prefix
    decoded so far, recomputed from scratch (no cache)."""
    model, cfg, params = _setup("transformer")
    out = _greedy("transformer")
    assert out.logits is not None
    apply = jax.jit(model.apply, static_argnums=1)
    b = 3
    tgt_in = np.concatenate([[BOS_ID], np.asarray(out.tokens[b])])
    assert out.lengths[b] >= 5
    for t in (0, 4):  # two prefix lengths: each one compiles apply anew
        full = apply(params, cfg, _src()[b], jnp.asarray(tgt_in[: t + 1]))
        np.testing.assert_allclose(full.logits[-1], out.logits[b, t], rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- limits and edges


def test_max_len_is_respected():
    """max_len = 1: one token each, EOS or not; the beam returns hypotheses that
    are still alive (no EOS) when none finished. (Every other test checks its
    outputs against its own max_len too.)"""
    model, cfg, params = _setup("luong")
    out = dec.beam_search(model, params, cfg, _src(), 1, beam_size=2, n_best=2)
    assert out.tokens.shape == (4, 2, 1)
    _check_well_formed(out, 1)
    assert (out.tokens[:, :, 0] != EOS_ID).any()  # some were cut off, not finished


def test_zero_width_source():
    """A source of length 0 (``[B, 0]``) decodes without error or NaN. (All-PAD
    sources of every model are in the batch of ``test_batch_invariance``.)"""
    model, cfg, params = _setup("transformer")
    src = jnp.zeros((2, 0), jnp.int32)
    out = dec.decode(model, params, cfg, src)  # the default max_len: 2 * 0 + 10
    _check_well_formed(out, 10)
    assert out.attention is not None and out.attention.shape == (2, 10, 0)


def test_decode_entry_point_and_errors():
    model, cfg, params = _setup("bahdanau")
    out = dec.decode(model, params, cfg, _src(), max_len=L, return_logits=True)
    np.testing.assert_array_equal(out.tokens, _greedy("bahdanau").tokens)
    assert dec.default_max_len(S) == 2 * S + 10
    with pytest.raises(ValueError, match="method"):
        dec.decode(model, params, cfg, _src(), method="viterbi")
    with pytest.raises(ValueError, match="key"):
        dec.decode(model, params, cfg, _src(), method="sample")
    with pytest.raises(ValueError, match="n_best"):
        dec.decode(model, params, cfg, _src(), method="beam", beam_size=2, n_best=3)
    with pytest.raises(ValueError, match="max_len"):
        tmodel, tcfg, tparams = _setup("transformer")
        dec.greedy(tmodel, tparams, tcfg, _src(), tcfg.max_len + 1)


def _counting(model: Model, name: str) -> tuple[Model, list[int]]:
    """``model`` under a new ``name`` whose step appends to the returned list each time
    it runs (a new name: a new jit cache entry)."""
    calls: list[int] = []

    def step(*args, **kw):
        out, cache = model.step(*args, **kw)
        jax.debug.callback(lambda: calls.append(1))
        return out, cache

    return model._replace(name=name, step=step), calls


def test_early_stopping_changes_nothing_but_the_work():
    """Stopping once no alive beam can beat the worst finished one (under the
    length penalty) gives the same n-best as searching to ``max_len``, in fewer
    steps. Steps are counted through the model's step function."""
    model, cfg, params = _setup("bahdanau")
    counting, calls = _counting(model, "counting")
    src, max_len = _src()[:2], 12
    counts = []
    results = []
    for early in (True, False):
        calls.clear()
        out = dec.beam_search(counting, params, cfg, src, max_len, beam_size=2, alpha=1.5,
                              n_best=2, early_stopping=early)
        jax.block_until_ready(out)
        results.append(out)
        counts.append(len(calls))
    for a, b in zip(results[0][:4], results[1][:4], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert counts[0] < counts[1]


@pytest.mark.parametrize("name", ATTN)
@pytest.mark.parametrize("method", ["greedy", "beam", "sample"])
def test_decoding_without_the_attention_history_changes_nothing_else(name, method):
    model, cfg, params = _setup(name)
    runs = [dec.decode(model, params, cfg, _src(), method=method, max_len=L, beam_size=3,
                       key=jax.random.PRNGKey(1), with_attention=w) for w in (True, False)]
    assert runs[0].attention is not None and runs[1].attention is None
    for a, b in zip(runs[0][:4], runs[1][:4], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_stop_rules_trade_steps_for_exactness():
    """With alpha > 0 the "current" and "first_k" rules stop sooner than "exact";
    with alpha = 0 "current" is exact; "first_k" stops with every finished slot
    taken. Steps are counted through the model's step function."""
    model, cfg, params = _setup("bahdanau")
    counting, calls = _counting(model, "counting_stops")
    src, max_len = _src()[:2], 16
    steps, outs = {}, {}
    for alpha in (0.0, 1.5):
        for stop in ("exact", "current", "first_k"):
            calls.clear()
            out = dec.beam_search(counting, params, cfg, src, max_len, beam_size=2,
                                  alpha=alpha, n_best=2, stop=stop)
            jax.block_until_ready(out)
            steps[alpha, stop], outs[alpha, stop] = len(calls), out
            _check_well_formed(out, max_len)
    assert steps[1.5, "first_k"] <= steps[1.5, "current"] < steps[1.5, "exact"]
    for a, b in zip(outs[0.0, "current"][:4], outs[0.0, "exact"][:4], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert bool(jnp.all(outs[1.5, "first_k"].lengths > 0))
    with pytest.raises(ValueError, match="stop='never'"):
        dec.beam_search(model, params, cfg, src, max_len, stop="never")


@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_a_growing_cache_decodes_as_one_sized_for_max_len(monkeypatch, method):
    """The search starts with a small Transformer cache and grows it (2, 4, ..., 32, 40
    positions here); every output, score and attention row is as with one cache of 40."""
    model, cfg, params = _make("transformer", TV)
    model = _eos_schedule(model, start=-24.0)  # outputs of about 20 tokens
    src, max_len = _src(), 40
    runs = []
    for first in (2, max_len):
        monkeypatch.setattr(search, "FIRST_CACHE", first)
        jax.clear_caches()  # the sizes are read when the search is traced
        if method == "greedy":
            out = dec.greedy(model, params, cfg, src, max_len)
        else:
            out = dec.beam_search(model, params, cfg, src, max_len, beam_size=3, n_best=2)
        runs.append(out)
    assert search.cache_sizes(model, cfg, max_len) == (max_len,)
    monkeypatch.setattr(search, "FIRST_CACHE", 2)
    assert search.cache_sizes(model, cfg, max_len) == (2, 4, 8, 16, 32, 40)
    assert int(jnp.max(runs[0].lengths)) > 16  # outputs long enough to cross three sizes
    for a, b in zip(runs[0][:5], runs[1][:5], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_settled_uses_the_largest_remaining_length_penalty():
    """With alpha = 1 after 2 tokens of at most 10, an alive log-prob of -2 can
    still reach -2 / lp(10) = -0.8: it beats a finished -1.0, not a finished -0.5.
    With alpha < 0 the bound is at the next length instead."""
    alive = jnp.array([[-2.0, -5.0]])
    assert not beam._settled(alive, jnp.array([[-0.9, -1.0]]), 2, 10, 1.0)[0]
    assert beam._settled(alive, jnp.array([[-0.4, -0.5]]), 2, 10, 1.0)[0]
    bound = -2.0 / float(dec.length_penalty(3, -1.0))
    assert not beam._settled(alive, jnp.array([[bound - 0.01]]), 2, 10, -1.0)[0]
    assert beam._settled(alive, jnp.array([[bound + 0.01]]), 2, 10, -1.0)[0]
    assert beam._settled(jnp.full((1, 2), -jnp.inf), jnp.full((1, 2), -jnp.inf), 2, 10, 0.0)[0]


# ---------------------------------------------------------------- sampling


def test_sampling_at_temperature_zero_or_top_k_one_is_greedy():
    model, cfg, params = _setup("luong")
    key = jax.random.PRNGKey(3)
    greedy = _greedy("luong")
    for opts in (dict(temperature=0.0), dict(temperature=1e-4), dict(top_k=1)):
        out = dec.sample(model, params, cfg, _src(), key, L, **opts)
        np.testing.assert_array_equal(out.tokens, greedy.tokens)
        np.testing.assert_allclose(out.log_prob, greedy.log_prob, rtol=1e-5, atol=1e-5)


def test_samples_are_reproducible_and_drawn_from_the_nucleus():
    """The same key gives the same samples, another key others; every first
    token lies in the top-p nucleus of the first step's distribution, and more
    than one token of it is drawn; log-probs are the model's own."""
    model, cfg, params = _setup("luong")
    src = jnp.repeat(_src()[:1], 4, axis=0)
    run = functools.partial(dec.sample, model, params, cfg, src, max_len=L, top_p=0.6)
    a, b, c = run(jax.random.PRNGKey(0)), run(jax.random.PRNGKey(0)), run(jax.random.PRNGKey(1))
    np.testing.assert_array_equal(a.tokens, b.tokens)
    assert not np.array_equal(a.tokens, c.tokens)
    _check_well_formed(a, L)
    forced = _teacher_forced(model, params, cfg, src, a.tokens)
    np.testing.assert_allclose(_seq_log_prob(forced.logits, a.tokens), a.log_prob,
                               rtol=1e-4, atol=1e-4)
    first = search.log_probs(_greedy("luong").logits[0, 0])
    nucleus = np.isfinite(np.asarray(dec.filter_logits(first, top_p=0.6)))
    assert nucleus.sum() < TV - len(dec.NEVER_GENERATED)  # the nucleus excludes something
    drawn = np.concatenate([run(jax.random.PRNGKey(k)).tokens[:, 0] for k in range(8)])
    assert nucleus[drawn].all() and len(set(drawn.tolist())) > 1


def test_top_p_keeps_the_smallest_set_with_enough_mass():
    probs = jnp.array([0.05, 0.4, 0.1, 0.3, 0.15])
    logits = jnp.log(probs)
    for p, kept in ((0.35, {1}), (0.4, {1}), (0.41, {1, 3}), (0.7, {1, 3}),
                    (0.71, {1, 3, 4}), (0.96, {0, 1, 2, 3, 4})):
        x = dec.filter_logits(logits, top_p=p)
        assert set(np.flatnonzero(np.isfinite(np.asarray(x)))) == kept, p
    assert set(np.flatnonzero(np.isfinite(dec.filter_logits(logits, top_k=2)))) == {1, 3}
    assert set(np.flatnonzero(np.isfinite(dec.filter_logits(logits, top_k=3, top_p=0.5)))) \
        == {1, 3}  # top-p renormalises over the top-k survivors: 0.4 / 0.85 < 0.5
    np.testing.assert_allclose(dec.filter_logits(logits, temperature=2.0), logits / 2.0)
