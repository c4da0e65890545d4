"""Shared test helpers: tiny configs and deterministic inputs."""

from __future__ import annotations

import os
from pathlib import Path

# Tests run on the CPU with deterministic float32 matmuls.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_default_matmul_precision", "highest")
# Many tests build the same jitted programs (train steps, decoders) afresh; a
# persistent compilation cache shared by the session turns repeats into hits.
_CACHE = os.environ.get("SEQ2SEQ_JAX_TEST_CACHE",
                        os.path.join(os.path.dirname(__file__), "..", ".jax_cache"))
jax.config.update("jax_compilation_cache_dir", _CACHE)
# The command line turns the persistent cache on (seq2seq_jax.inference.compilation): the
# same folder, and downloads into a folder of the test run, never the user's.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

import tensorflow_datasets as tfds  # noqa: E402
from hypothesis import settings  # noqa: E402

tfds.disable_progress_bar()

# Property tests draw the same examples on every run ("ci", the default), so a suite
# that passed passes again; HYPOTHESIS_PROFILE=explore draws fresh random examples
# each run, to look for new failures.
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def random_tokens(rng: np.random.Generator, length: int, vocab: int, pad_to: int | None = None):
    """Token ids in [4, vocab) of ``length``, padded with 0 up to ``pad_to``."""
    ids = rng.integers(4, vocab, size=length)
    if pad_to is not None:
        ids = np.concatenate([ids, np.zeros(pad_to - length, ids.dtype)])
    return jnp.asarray(ids, jnp.int32)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


class SharedTfds:
    """One tfds ``data_dir`` for the whole test session, every xdist process included.

    The real datasets (the built-in CMUdict, g014b2b, Multi30k) take 10-25 s each to
    prepare; ``prepare(name, manual_dir)`` prepares one at most once a session (the
    other processes wait on ``prepare_builder``'s lock) and returns its builder. Tests of
    bad or partial files prepare into their own ``tmp_path`` instead.
    """

    def __init__(self, root: Path):
        self.root = root

    def prepare(self, name: str, manual_dir: str | Path | None = None):
        from seq2seq_jax.data.sources import prepare_builder

        # prepare_builder's own lock makes the other xdist processes wait, then reuse it.
        return prepare_builder(name, data_dir=self.root, manual_dir=manual_dir)


@pytest.fixture(scope="session")
def shared_tfds(request, tmp_path_factory) -> SharedTfds:
    base = tmp_path_factory.getbasetemp()
    if hasattr(request.config, "workerinput"):  # an xdist process: share with the others
        base = base.parent
    root = base / "tfds_shared"
    root.mkdir(exist_ok=True)
    return SharedTfds(root)
