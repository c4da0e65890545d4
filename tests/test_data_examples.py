"""Tests for seq2seq_jax.data.examples: decoding tfds records into str examples."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow_datasets as tfds

from seq2seq_jax.data.examples import (
    decode_example,
    decode_value,
    iter_pairs,
    read_all,
    read_split,
)


def test_decode_value_handles_every_tfds_shape():
    assert decode_value(b"h\xc3\xa9") == "hé"
    assert decode_value("already") == "already"
    assert decode_value(np.array(b"x", dtype=object)) == "x"
    assert decode_value(np.array([b"a", b"b"], dtype=object)) == ["a", "b"]
    assert decode_value([b"a", "b"]) == ["a", "b"]
    assert decode_value(7) == 7
    numbers = np.arange(3)
    assert decode_value(numbers) is numbers
    assert decode_example({"source": b"s", "refs": [b"r"]}) == {"source": "s", "refs": ["r"]}


def test_iter_pairs_yields_str_from_raw_records():
    records = [{"source": b"a", "target": b"b", "other": 1}, {"source": "c", "target": "d"}]
    assert list(iter_pairs(records)) == [("a", "b"), ("c", "d")]


class _UnboundGetItems(list):
    """Mimics tfds.testing.mock_data's data source, whose __getitems__ cannot be called."""

    def __getitems__(self):  # wrong signature on purpose
        raise AssertionError("unreachable")


@pytest.mark.parametrize("cls", [list, _UnboundGetItems])
def test_read_all_reads_everything_in_order(cls):
    records = cls({"source": f"s{i}".encode(), "target": b"t"} for i in range(10_000))
    out = read_all(records)
    assert [ex["source"] for ex in out] == [f"s{i}" for i in range(10_000)]


class _TextOnly(tfds.core.GeneratorBasedBuilder):
    """Text and a string list only: read_split parses the stored protos itself."""

    VERSION = tfds.core.Version("1.0.0")

    def _features(self) -> dict:
        return {"source": tfds.features.Text(), "target": tfds.features.Text(),
                "refs": tfds.features.Tensor(shape=(None,), dtype=np.str_)}

    def _info(self):
        return tfds.core.DatasetInfo(builder=self,
                                     features=tfds.features.FeaturesDict(self._features()))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for i in range(50):
            example = {"source": f"ü{i}", "target": str(i), "refs": [f"r{j}" for j in range(i % 3)],
                       "n": i}
            yield i, {key: example[key] for key in self._features()}


class _Mixed(_TextOnly):
    """Adds a non-text feature: read_split must fall back to tfds's decoding."""

    def _features(self) -> dict:
        return {**super()._features(), "n": tfds.features.Scalar(dtype=np.int64)}


@pytest.mark.parametrize("cls", [_TextOnly, _Mixed])
def test_read_split_equals_tfds_decoding(tmp_path, cls):
    builder = cls(data_dir=tmp_path, file_format="array_record")
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    got = read_split(builder, "train")
    assert got == read_all(builder.as_data_source(split="train"))
    assert sorted((ex["source"], tuple(ex["refs"])) for ex in got) == sorted(
        (f"ü{i}", tuple(f"r{j}" for j in range(i % 3))) for i in range(50))
    assert ("n" in got[0]) == (cls is _Mixed)
