"""The registry, config validation, and a learning smoke test for every family."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from seq2seq_jax import models
from seq2seq_jax.errors import ConfigError
from seq2seq_jax.models import losses
from seq2seq_jax.models.model_config import RNNConfig, TransformerConfig


def test_names_map_to_families_and_back():
    for name in models.NAMES:
        cfg = models.make_config({"name": name}, 10, 12)
        assert models.model_name(cfg) == name
        assert cfg.src_vocab == 10 and cfg.tgt_vocab == 12
    assert isinstance(models.make_config({"name": "luong"}, 5, 5), RNNConfig)
    assert isinstance(models.make_config({"name": "transformer"}, 5, 5), TransformerConfig)


@pytest.mark.parametrize("bad, match", [
    ({"name": "gpt"}, r"model.name='gpt' is not valid; choose one of \['rnn'"),
    ({}, "model.name is missing"),
    ({"name": "rnn", "hiden": 3}, r"model.hiden is not an option.*'hidden'"),
    ({"name": "luong", "luong_score": "cos"}, r"luong_score='cos'.*'general'"),
    ({"name": "rnn", "cell": "rnn"}, r"model.cell='rnn'.*\['lstm', 'gru'\]"),
    ({"name": "transformer", "d_model": 30, "heads": 4}, "not divisible"),
    ({"name": "transformer", "attention_impl": "flash"}, "attention_impl"),
    ({"name": "bahdanau", "dropout": 1.5}, r"model.dropout=1.5 must be in \[0, 1\)"),
    ({"name": "luong", "luong_score": "dot", "bidirectional": True}, "needs encoder width"),
])
def test_invalid_configs_name_the_option_and_the_choices(bad, match):
    with pytest.raises(ConfigError, match=match):
        models.make_config(bad, 10, 10)


@pytest.mark.parametrize("name", models.NAMES)
def test_batch_apply_shapes(name):
    cfg = models.make_config({"name": name}, 9, 11)
    model = models.get_model(name)
    params = model.init(jax.random.PRNGKey(0), cfg)
    src = jnp.array([[4, 5, 6, 0], [7, 8, 0, 0]])
    tgt = jnp.array([[1, 4, 5], [1, 6, 0]])
    out = models.batch_apply(model, params, cfg, src, tgt)
    assert out.logits.shape == (2, 3, 11)
    assert (out.attention is None) == (name == "rnn")
    assert models.param_count(params) > 0


# --- learning smoke test: each family fits a tiny reverse task ------------------------

VOCAB, MIN_LEN, MAX_LEN = 10, 3, 7  # content tokens 4..9


def _reverse_batch(rng: np.random.Generator, batch: int):
    lengths = rng.integers(MIN_LEN, MAX_LEN + 1, batch)
    src = np.zeros((batch, MAX_LEN), np.int32)
    tgt_in = np.zeros((batch, MAX_LEN + 1), np.int32)
    tgt_out = np.zeros((batch, MAX_LEN + 1), np.int32)
    for i, n in enumerate(lengths):
        seq = rng.integers(4, VOCAB, n)
        src[i, :n] = seq
        tgt_in[i, :n + 1] = np.concatenate([[1], seq[::-1]])
        tgt_out[i, :n + 1] = np.concatenate([seq[::-1], [2]])
    return jnp.asarray(src), jnp.asarray(tgt_in), jnp.asarray(tgt_out)


SMOKE = {
    "rnn": ({"name": "rnn", "embed_dim": 32, "hidden": 128}, 3e-3),
    "bahdanau": ({"name": "bahdanau", "embed_dim": 32, "hidden": 64}, 5e-3),
    "luong": ({"name": "luong", "embed_dim": 32, "hidden": 64, "bidirectional": True}, 5e-3),
    "transformer": ({"name": "transformer", "d_model": 64, "heads": 4, "ff_dim": 128,
                     "enc_layers": 1, "dec_layers": 1, "dropout": 0.0}, 3e-3),
}


@functools.cache
def _fit(name: str, steps: int = 400):
    model_cfg, lr = SMOKE[name]
    cfg = models.make_config(model_cfg, VOCAB, VOCAB)
    model = models.get_model(name)
    params = model.init(jax.random.PRNGKey(0), cfg)
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(lr))
    opt_state = opt.init(params)

    def loss_fn(p, src, tgt_in, tgt_out):
        logits = models.batch_apply(model, p, cfg, src, tgt_in).logits
        total, count = losses.cross_entropy(logits, tgt_out, tgt_in != 0)
        return total / count

    @jax.jit
    def train_step(p, s, src, tgt_in, tgt_out):
        loss, grads = jax.value_and_grad(loss_fn)(p, src, tgt_in, tgt_out)
        updates, s = opt.update(grads, s, p)
        return optax.apply_updates(p, updates), s, loss

    rng = np.random.default_rng(0)
    for _ in range(steps):
        params, opt_state, _ = train_step(params, opt_state, *_reverse_batch(rng, 64))
    src, tgt_in, tgt_out = _reverse_batch(np.random.default_rng(123), 256)
    logits = models.batch_apply(model, params, cfg, src, tgt_in).logits
    correct, count = losses.token_accuracy(logits, tgt_out, tgt_in != 0)
    return float(correct / count)


@pytest.mark.parametrize("name", models.NAMES)
def test_each_family_learns_to_reverse(name):
    assert _fit(name) >= 0.95
