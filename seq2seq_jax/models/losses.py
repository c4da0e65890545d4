"""Masked cross-entropy with label smoothing, and token accuracy.

Shapes: B batch, T target length, V vocabulary. Losses are computed in float32.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

Array = jax.Array


def cross_entropy(logits: Array, targets: Array, mask: Array,
                  label_smoothing: float = 0.0) -> tuple[Array, Array]:
    """Summed masked cross-entropy and the number of real tokens.

    Args:
      logits: ``[..., T, V]``.
      targets: ``[..., T]`` int ids.
      mask: ``[..., T]`` bool, True at real target tokens.
      label_smoothing: mass spread uniformly over the vocabulary (Szegedy et al. 2016).

    Returns:
      ``(loss_sum, token_count)``; divide for the mean per token.
    """
    logits = logits.astype(jnp.float32)
    vocab = logits.shape[-1]
    labels = jax.nn.one_hot(targets, vocab, dtype=jnp.float32)
    if label_smoothing:
        labels = optax.smooth_labels(labels, label_smoothing)
    loss = optax.softmax_cross_entropy(logits, labels)
    mask = mask.astype(jnp.float32)
    return jnp.sum(loss * mask), jnp.sum(mask)


def token_accuracy(logits: Array, targets: Array, mask: Array) -> tuple[Array, Array]:
    """Correct argmax predictions at real positions, and their count."""
    correct = (jnp.argmax(logits, -1) == targets) & mask
    return jnp.sum(correct), jnp.sum(mask)
