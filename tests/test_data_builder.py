"""The shared base of the text-file tfds builders."""

from __future__ import annotations

import pytest
import tensorflow_datasets as tfds

from seq2seq_jax.data.builder import TextFileBuilder
from seq2seq_jax.data.g014b2b import CmudictG014b2b
from seq2seq_jax.data.multi30k import Multi30k
from seq2seq_jax.data.text_files import ReadResult


def test_only_the_concrete_builders_are_registered():
    assert tfds.builder_cls("cmudict_g014b2b") is CmudictG014b2b
    assert tfds.builder_cls("multi30k") is Multi30k
    with pytest.raises(tfds.core.registered.DatasetNotFoundError):
        tfds.builder_cls(TextFileBuilder.name)


def test_defaults_and_skipped_line_counts(tmp_path, caplog):
    builder = CmudictG014b2b(data_dir=tmp_path, skip_bad_lines=True)
    assert builder._skip_bad_lines and builder.info.file_format.value == "array_record"
    assert builder.info.disable_shuffling and builder.info.supervised_keys == ("source", "target")
    clean = ReadResult(rows=[("a", "AH")], skipped=0, problems=[])
    assert builder._count_skipped("train.txt", clean) is clean and not caplog.records
    bad = ReadResult(rows=[], skipped=2, problems=["train.txt:3: no tab", "train.txt:9: empty"])
    builder._count_skipped("more.txt", bad)
    assert builder.info.metadata["skipped_lines"] == {"train.txt": 0, "more.txt": 2}
    assert "more.txt: skipped 2 bad lines; first: train.txt:3: no tab" in caplog.text
