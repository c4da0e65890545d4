"""Tests for seq2seq_jax.data.catalog under tfds.testing.mock_data (no download, no TF)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds
from test_data_sources import _locked_elsewhere

from seq2seq_jax.data import catalog
from seq2seq_jax.data.catalog import choose_keys, load_catalog, text_features
from seq2seq_jax.data.preparing import PREPARE_LOCK
from seq2seq_jax.data.sources import load_split
from seq2seq_jax.errors import DataError

TED = "ted_hrlr_translate/pt_to_en"


class _Relocated:
    """A builder whose data_dir is moved to a test's own folder (mocked builders all share
    one under /tmp), so preparation locks stay inside the test."""

    def __init__(self, builder, root: Path):
        self._builder = builder
        self.data_dir = str(root / builder.name / builder.builder_config.name /
                            str(builder.version))

    def __getattr__(self, name):
        return getattr(self._builder, name)


@pytest.fixture
def mocked(tmp_path, monkeypatch):
    # MockPolicy.USE_CODE: features and supervised_keys come from the builder's code,
    # examples are random strings; `tfds.data_source` needs an explicit split here
    # because the mocked builder knows no split names. Nothing is prepared under the
    # builders' data_dir, tmp_path/tfds.
    with tfds.testing.mock_data(num_examples=5, policy=tfds.testing.MockPolicy.USE_CODE):
        real = catalog.tfds.builder
        monkeypatch.setattr(catalog.tfds, "builder",
                            lambda *a, **k: _Relocated(real(*a, **k), tmp_path / "tfds"))
        yield tmp_path / "tfds"


def test_supervised_keys_decide_the_direction(mocked):
    examples = load_catalog(TED, "train")
    assert len(examples) == 5
    for ex in examples:
        assert isinstance(ex["source"], str) and isinstance(ex["target"], str)
        assert ex["source"] == ex["pt"]  # supervised_keys = ("pt", "en")
        assert ex["target"] == ex["en"]


def test_explicit_keys_swap_the_direction(mocked):
    forward = load_catalog(TED, "test")
    backward = load_catalog(TED, "test", source_key="en", target_key="pt")
    assert [(e["target"], e["source"]) for e in backward] == [
        (e["source"], e["target"]) for e in forward]
    only_source = load_catalog(TED, "test", source_key="en")
    assert [e["target"] for e in only_source] == [e["pt"] for e in only_source]
    only_target = load_catalog(TED, "test", target_key="pt")
    assert [e["source"] for e in only_target] == [e["en"] for e in only_target]


def test_a_dataset_is_prepared_under_the_lock_and_read_without_it(mocked, monkeypatch):
    lock = mocked / "ted_hrlr_translate" / "pt_to_en" / PREPARE_LOCK
    real, seen = catalog.tfds.data_source, []

    def data_source(*args, **kwargs):
        seen.append((kwargs["download"], _locked_elsewhere(lock)))
        return real(*args, **kwargs)

    monkeypatch.setattr(catalog.tfds, "data_source", data_source)
    assert len(load_catalog(TED, "train")) == 5
    assert seen == [(True, True)] and not _locked_elsewhere(lock)
    lock.unlink()
    assert len(load_catalog(TED, "train", download=False)) == 5  # nothing to prepare
    assert seen[-1] == (False, False) and not lock.exists()


def test_load_split_routes_tfds_names(mocked):
    examples = load_split("tfds:" + TED, "validation")
    assert len(examples) == 5
    assert all(ex["source"] == ex["pt"] for ex in examples)


def test_bad_key_and_unknown_dataset(mocked):
    with pytest.raises(DataError, match=r"no text feature 'fr'; its text features are "
                                        r"\['(pt', 'en|en', 'pt)'\]"):
        load_catalog(TED, "train", source_key="fr")
    with pytest.raises(DataError, match="tfds has no dataset 'no_such_dataset_xyz'"):
        load_catalog("no_such_dataset_xyz", "train")


def test_ambiguous_text_features_need_explicit_keys():
    class Builder:  # a stand-in with three text features and no supervised_keys
        class info:
            full_name = "three_texts/1.0.0"
            supervised_keys = None
            features = tfds.features.FeaturesDict({
                "a": tfds.features.Text(), "b": tfds.features.Text(),
                "c": tfds.features.Text(), "n": tfds.features.Scalar(dtype=np.int32)})

    assert text_features(Builder) == ["a", "b", "c"]
    with pytest.raises(DataError, match=r"text features \['a', 'b', 'c'\].*source_key="):
        choose_keys(Builder)
    assert choose_keys(Builder, "c", "a") == ("c", "a")
