"""Ensembles: a model like any other, whose distribution is the mean of its members'."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax import models
from seq2seq_jax.constants import BOS_ID
from seq2seq_jax.decoding import decode as dec
from seq2seq_jax.models import ensemble

SV, TV, L = 9, 11, 7
SRC = jnp.array([[3, 4, 5, 6, 0, 0], [7, 8, 0, 0, 0, 0], [2, 3, 4, 5, 6, 7]], jnp.int32)


def _member(name: str, seed: int):
    if name == "transformer":
        opts = dict(d_model=16, heads=2, ff_dim=32, enc_layers=1, dec_layers=1, dropout=0.0,
                    max_len=32)
    else:
        opts = dict(hidden=16, embed_dim=8)
    cfg = models.make_config({"name": name, **opts}, SV, TV)
    model = models.get_model(name)
    return model, cfg, model.init(jax.random.PRNGKey(seed), cfg)


def _teacher_forced_log_probs(model, params, cfg, tokens):
    tgt_in = jnp.concatenate([jnp.full((tokens.shape[0], 1), BOS_ID, jnp.int32),
                              tokens[:, :-1]], axis=1)
    out = jax.vmap(lambda s, t: model.apply(params, cfg, s, t))(SRC, tgt_in)
    return jax.nn.log_softmax(out.logits.astype(jnp.float32), axis=-1), out.attention


def test_twice_the_same_model_decodes_exactly_as_the_model():
    model, cfg, params = _member("bahdanau", 1)
    e_model, e_cfg, e_params = ensemble.combine([(model, cfg, params), (model, cfg, params)])
    for method in ("greedy", "beam"):
        one = dec.decode(model, params, cfg, SRC, method=method, max_len=L, beam_size=3)
        two = dec.decode(e_model, e_params, e_cfg, SRC, method=method, max_len=L, beam_size=3)
        np.testing.assert_array_equal(one.tokens, two.tokens)
        np.testing.assert_allclose(one.score, two.score, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(one.attention, two.attention, atol=1e-6)


def test_mixed_families_average_the_probabilities():
    members = [_member("rnn", 1), _member("luong", 2), _member("transformer", 3)]
    e_model, e_cfg, e_params = ensemble.combine(members)
    assert e_cfg.max_len == 32  # the Transformer's position limit
    out = dec.decode(e_model, e_params, e_cfg, SRC, method="greedy", max_len=L)
    tokens = out.tokens
    # Teacher forcing each member on the ensemble's output: the mean of their
    # probabilities is what the ensemble's step saw (and its apply returns).
    probs = [jnp.exp(_teacher_forced_log_probs(m, p, c, tokens)[0]) for m, c, p in members]
    want = jnp.log(sum(probs) / len(probs))
    got, attention = _teacher_forced_log_probs(e_model, e_params, e_cfg, tokens)
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(jnp.exp(got).sum(-1), 1.0, atol=1e-5)
    # Greedy picked the argmax of that mean at every position it generated.
    picked = jnp.take_along_axis(want, tokens[..., None], axis=-1)[..., 0]
    allowed = want.at[..., :2].set(-jnp.inf)  # PAD and BOS are never generated
    real = np.asarray(tokens) != 0
    np.testing.assert_allclose(np.asarray(picked)[real],
                               np.asarray(allowed.max(-1))[real], atol=1e-5)
    # The attention shown is the first member with attention: Luong's.
    m, c, p = members[1]
    np.testing.assert_allclose(attention, _teacher_forced_log_probs(m, p, c, tokens)[1],
                               atol=1e-5)


def test_without_attention_members_the_ensemble_has_none():
    e_model, e_cfg, e_params = ensemble.combine([_member("rnn", 1), _member("rnn", 2)])
    out = dec.decode(e_model, e_params, e_cfg, SRC, method="greedy", max_len=L)
    assert out.attention is None
    assert e_cfg.max_len == ensemble.UNLIMITED


def test_an_empty_ensemble_is_an_error():
    with pytest.raises(ValueError, match="at least one member"):
        ensemble.combine([])
