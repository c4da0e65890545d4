"""Tests for seq2seq_jax.data.catalog under tfds.testing.mock_data (no download, no TF)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow_datasets as tfds

from seq2seq_jax.data.catalog import choose_keys, load_catalog, text_features
from seq2seq_jax.data.errors import DataError
from seq2seq_jax.data.sources import load_split

TED = "ted_hrlr_translate/pt_to_en"


@pytest.fixture
def mocked():
    # MockPolicy.USE_CODE: features and supervised_keys come from the builder's code,
    # examples are random strings; `tfds.data_source` needs an explicit split here
    # because the mocked builder knows no split names.
    with tfds.testing.mock_data(num_examples=5, policy=tfds.testing.MockPolicy.USE_CODE):
        yield


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
