"""Attention scores, masked softmax and context: the equations and the invariants."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from seq2seq_jax.models import attention

S, Q, K, A = 6, 5, 5, 4
KINDS = attention.KINDS


def _setup(kind: str, n_real: int = 4, seed: int = 0):
    kp, kq, kv = jax.random.split(jax.random.PRNGKey(seed), 3)
    params = attention.init(kp, kind, Q, K, A)
    query = jax.random.normal(kq, (Q,))
    values = jax.random.normal(kv, (S, K))
    mask = jnp.arange(S) < n_real
    return params, query, attention.precompute(params, kind, values, mask)


@pytest.mark.parametrize("kind", KINDS)
def test_weights_are_a_distribution_over_real_positions(kind):
    params, query, keys = _setup(kind)
    ctx, w = attention.attend(params, kind, query, keys)
    assert w.shape == (S,) and ctx.shape == (K,)
    assert bool(jnp.all(w >= 0))
    np.testing.assert_allclose(w.sum(), 1.0, atol=1e-6)
    np.testing.assert_array_equal(w[4:], 0.0)
    np.testing.assert_allclose(ctx, w @ keys.values, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_fully_masked_row_gives_zeros_not_nan(kind):
    params, query, keys = _setup(kind, n_real=0)
    ctx, w = attention.attend(params, kind, query, keys)
    assert bool(jnp.all(jnp.isfinite(w))) and bool(jnp.all(jnp.isfinite(ctx)))
    np.testing.assert_array_equal(w, 0.0)


@pytest.mark.parametrize("kind", KINDS)
def test_padding_does_not_change_weights_at_real_positions(kind):
    params, query, keys = _setup(kind, n_real=3)
    _, w = attention.attend(params, kind, query, keys)
    short = attention.precompute(params, kind, keys.values[:3], keys.mask[:3])
    _, w_short = attention.attend(params, kind, query, short)
    np.testing.assert_allclose(w[:3], w_short, atol=1e-6)


def test_scores_follow_the_published_formulas():
    _, query, _ = _setup("dot")
    values = jax.random.normal(jax.random.PRNGKey(9), (S, K))
    mask = jnp.ones((S,), bool)
    q, h = np.asarray(query), np.asarray(values)
    p = attention.init(jax.random.PRNGKey(1), "additive", Q, K, A)
    want = np.tanh(q @ np.asarray(p["w_q"]) + h @ np.asarray(p["w_k"]["w"])
                   + np.asarray(p["w_k"]["b"])) @ np.asarray(p["v"])
    got = attention.scores(p, "additive", query, attention.precompute(p, "additive", values, mask))
    np.testing.assert_allclose(got, want, atol=1e-5)
    p = attention.init(jax.random.PRNGKey(2), "general", Q, K, A)
    want = np.stack([q @ np.asarray(p["w"]).T @ h[j] for j in range(S)])
    got = attention.scores(p, "general", query, attention.precompute(p, "general", values, mask))
    np.testing.assert_allclose(got, want, atol=1e-5)
    got = attention.scores({}, "dot", query, attention.precompute({}, "dot", values, mask))
    np.testing.assert_allclose(got, h @ q, atol=1e-5)
    got = attention.scores({}, "scaled_dot", query,
                           attention.precompute({}, "scaled_dot", values, mask))
    np.testing.assert_allclose(got, h @ q / np.sqrt(Q), atol=1e-5)


def test_scaled_dot_equals_jax_dot_product_attention():
    _, query, keys = _setup("scaled_dot", n_real=4)
    ctx, _ = attention.attend({}, "scaled_dot", query, keys)
    ref = jax.nn.dot_product_attention(query[None, None, :], keys.values[:, None, :],
                                       keys.values[:, None, :],
                                       mask=keys.mask[None, None, :])
    np.testing.assert_allclose(ctx, ref[0, 0], atol=1e-5)


def test_dot_needs_equal_widths():
    with pytest.raises(ValueError, match="equal query"):
        attention.init(jax.random.PRNGKey(0), "dot", 4, 6, 3)
    with pytest.raises(ValueError, match="unknown attention kind"):
        attention.init(jax.random.PRNGKey(0), "cosine", 4, 4, 3)


@pytest.mark.parametrize("kind", KINDS)
def test_attend_gradients_match_finite_differences(kind):
    params, query, keys = _setup(kind)
    with jax.enable_x64(True):
        f64 = lambda t: jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), t)  # noqa: E731

        def f(p, q, values):
            k = attention.precompute(p, kind, values, keys.mask)
            return attention.attend(p, kind, q, k)

        check_grads(f, (f64(params), f64(query), f64(keys.values)), order=1,
                    modes=("fwd", "rev"))
