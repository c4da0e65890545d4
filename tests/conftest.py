"""Shared test helpers: tiny configs and deterministic inputs."""

from __future__ import annotations

import os

# Tests run on the CPU with deterministic float32 matmuls.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_default_matmul_precision", "highest")


def random_tokens(rng: np.random.Generator, length: int, vocab: int, pad_to: int | None = None):
    """Token ids in [4, vocab) of ``length``, padded with 0 up to ``pad_to``."""
    ids = rng.integers(4, vocab, size=length)
    if pad_to is not None:
        ids = np.concatenate([ids, np.zeros(pad_to - length, ids.dtype)])
    return jnp.asarray(ids, jnp.int32)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
