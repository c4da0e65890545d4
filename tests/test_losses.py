"""Masked cross-entropy and accuracy, checked against hand computations."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from seq2seq_jax.models import losses


def test_cross_entropy_ignores_masked_positions():
    logits = jnp.array([[2.0, 0.0, 0.0], [0.0, 5.0, 0.0], [9.0, -9.0, 3.0]])
    targets = jnp.array([0, 1, 2])
    mask = jnp.array([True, True, False])
    total, count = losses.cross_entropy(logits, targets, mask)
    want = sum(-np.log(np.exp(logits[i, t]) / np.exp(logits[i]).sum())
               for i, t in enumerate([0, 1]))
    np.testing.assert_allclose(total, want, rtol=1e-6)
    assert int(count) == 2


def test_label_smoothing_matches_the_smoothed_target_distribution():
    logits = jnp.array([[1.0, 2.0, 3.0, 0.5]])
    eps = 0.2
    total, _ = losses.cross_entropy(logits, jnp.array([2]), jnp.array([True]), eps)
    logp = np.log(np.exp(logits[0]) / np.exp(logits[0]).sum())
    q = np.full(4, eps / 4)
    q[2] += 1 - eps
    np.testing.assert_allclose(total, -(q * logp).sum(), rtol=1e-6)


def test_token_accuracy_counts_only_real_tokens():
    logits = jnp.eye(4)[jnp.array([1, 2, 3, 0])]
    correct, count = losses.token_accuracy(logits, jnp.array([1, 0, 3, 3]),
                                           jnp.array([True, True, True, False]))
    assert int(correct) == 2 and int(count) == 3
