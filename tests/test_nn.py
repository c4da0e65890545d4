"""The building blocks: dense, embedding, layer norm, dropout, key splitting."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax.models import nn


def test_dense_is_x_at_w_plus_b(rng):
    params = {"w": jnp.asarray(rng.normal(size=(3, 5)), jnp.float32),
              "b": jnp.asarray(rng.normal(size=(5,)), jnp.float32)}
    x = jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)
    expected = np.asarray(x) @ np.asarray(params["w"]) + np.asarray(params["b"])
    np.testing.assert_allclose(nn.dense(params, x), expected, rtol=1e-5, atol=1e-6)
    # Without a bias it is the bare product.
    np.testing.assert_allclose(nn.dense({"w": params["w"]}, x),
                               np.asarray(x) @ np.asarray(params["w"]), rtol=1e-5, atol=1e-6)


def test_dense_computes_in_the_input_dtype():
    params = nn.dense_init(jax.random.PRNGKey(0), 4, 3)
    y = nn.dense(params, jnp.ones((4,), jnp.bfloat16))
    assert y.dtype == jnp.bfloat16 and y.shape == (3,)


def test_dense_init_is_glorot_uniform_with_zero_bias():
    d_in, d_out = 48, 80
    params = nn.dense_init(jax.random.PRNGKey(1), d_in, d_out)
    bound = math.sqrt(6.0 / (d_in + d_out))
    w = np.asarray(params["w"])
    assert w.shape == (d_in, d_out) and w.dtype == np.float32
    assert np.abs(w).max() <= bound
    # 3840 uniform draws come close to both ends of the interval.
    assert w.max() > 0.95 * bound and w.min() < -0.95 * bound
    # Var of U(-a, a) is a^2 / 3.
    np.testing.assert_allclose(w.var(), bound**2 / 3, rtol=0.1)
    np.testing.assert_array_equal(params["b"], np.zeros(d_out, np.float32))
    assert "b" not in nn.dense_init(jax.random.PRNGKey(1), d_in, d_out, bias=False)


def test_embed_looks_up_rows():
    params = nn.embed_init(jax.random.PRNGKey(0), 10, 6)
    table = np.asarray(params["table"])
    assert table.shape == (10, 6)
    ids = jnp.array([[3, 0], [9, 3]])
    out = nn.embed(params, ids)
    assert out.shape == (2, 2, 6) and out.dtype == jnp.float32
    np.testing.assert_array_equal(out[0, 0], table[3])
    np.testing.assert_array_equal(out[1, 1], table[3])
    np.testing.assert_array_equal(out[1, 0], table[9])
    assert nn.embed(params, ids, jnp.bfloat16).dtype == jnp.bfloat16


def test_layer_norm_normalizes_the_last_axis(rng):
    dim = 16
    x = jnp.asarray(rng.normal(3.0, 5.0, size=(4, dim)), jnp.float32)
    y = np.asarray(nn.layer_norm(nn.layer_norm_init(dim), x))
    np.testing.assert_allclose(y.mean(-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.var(-1), 1.0, rtol=1e-4)


def test_layer_norm_applies_scale_and_bias(rng):
    dim = 8
    x = jnp.asarray(rng.normal(size=(3, dim)), jnp.float32)
    scale = jnp.asarray(rng.normal(size=(dim,)), jnp.float32)
    bias = jnp.asarray(rng.normal(size=(dim,)), jnp.float32)
    plain = np.asarray(nn.layer_norm(nn.layer_norm_init(dim), x))
    y = nn.layer_norm({"scale": scale, "bias": bias}, x)
    np.testing.assert_allclose(y, plain * np.asarray(scale) + np.asarray(bias),
                               rtol=1e-5, atol=1e-6)
    # Hand-computed for one row: [1, 3] has mean 2 and variance 1.
    row = nn.layer_norm({"scale": jnp.array([2.0, 2.0]), "bias": jnp.array([0.5, 0.5])},
                        jnp.array([1.0, 3.0]), eps=0.0)
    np.testing.assert_allclose(row, [-1.5, 2.5], rtol=1e-6)


def test_layer_norm_keeps_the_input_dtype():
    y = nn.layer_norm(nn.layer_norm_init(4), jnp.arange(4, dtype=jnp.bfloat16))
    assert y.dtype == jnp.bfloat16


def test_dropout_is_the_identity_without_key_or_rate():
    x = jnp.arange(12.0).reshape(3, 4)
    assert nn.dropout(None, x, 0.5) is x
    assert nn.dropout(jax.random.PRNGKey(0), x, 0.0) is x


def test_dropout_zeroes_about_rate_and_rescales_the_rest():
    rate = 0.25
    x = jnp.full((200, 100), 2.0)
    y = np.asarray(nn.dropout(jax.random.PRNGKey(3), x, rate))
    dropped = y == 0.0
    np.testing.assert_allclose(dropped.mean(), rate, atol=0.02)
    np.testing.assert_allclose(y[~dropped], 2.0 / (1.0 - rate), rtol=1e-6)
    np.testing.assert_allclose(y.mean(), 2.0, rtol=0.03)  # inverted dropout keeps the mean
    other = np.asarray(nn.dropout(jax.random.PRNGKey(4), x, rate))
    assert (other == 0.0).tolist() != dropped.tolist()  # the mask follows the key


@pytest.mark.parametrize("n", [1, 3])
def test_split_key(n):
    assert nn.split_key(None, n) == [None] * n
    key = jax.random.PRNGKey(7)
    keys = nn.split_key(key, n)
    assert len(keys) == n
    np.testing.assert_array_equal(np.stack(keys), jax.random.split(key, n))


def test_compute_dtype():
    assert nn.compute_dtype("bfloat16") == jnp.bfloat16
    assert nn.compute_dtype("float32") == jnp.float32
