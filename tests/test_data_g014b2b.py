"""Tests for seq2seq_jax.data.g014b2b: the real split from ../shared/data, and bad input."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest
from tfds_local import prepare_local

from seq2seq_jax.data.cmudict_g2p import split_of_word
from seq2seq_jax.data.examples import read_all, read_split
from seq2seq_jax.data.g014b2b import DEV_FRACTION, CmudictG014b2b
from seq2seq_jax.errors import DataError

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cmudict_g014b2b"
needs_shared = pytest.mark.skipif(
    not (SHARED / "g014b2b.train.gz").is_file(),
    reason=f"g014b2b files not found at {SHARED} (the project's shared data folder)")


def prepare(data_dir, manual_dir, skip_bad_lines=False) -> CmudictG014b2b:
    return prepare_local(CmudictG014b2b, data_dir, manual_dir, skip_bad_lines=skip_bad_lines)


@pytest.fixture(scope="module")
def real(shared_tfds):
    builder = shared_tfds.prepare("cmudict_g014b2b", SHARED)
    return {split: read_split(builder, split) for split in ("train", "dev", "test")}


@needs_shared
def test_test_split_is_the_12000_reference_words(real):
    test = real["test"]
    assert len(test) == 12_000
    assert len({ex["word"] for ex in test}) == 12_000
    assert sum(len(ex["references"]) for ex in test) == 12_753
    multi = [ex for ex in test if len(ex["references"]) > 1]
    assert len(multi) == 673
    for ex in test:
        assert ex["target"] == ex["references"][0]
    adults = next(ex for ex in test if ex["word"] == "adults'")
    assert adults["references"] == ["AE D AH L T S", "AH D AH L T S"]


@needs_shared
def test_test_split_keeps_the_order_of_the_reference_file(real):
    lines = gzip.decompress((SHARED / "g014b2b.ref.gz").read_bytes()).decode().splitlines()
    assert [ex["word"] for ex in real["test"]] == [x.split("\t")[0].lower() for x in lines]


@needs_shared
def test_train_and_dev_partition_the_training_file(real):
    train_words = {ex["word"] for ex in real["train"]}
    dev_words = {ex["word"] for ex in real["dev"]}
    test_words = {ex["word"] for ex in real["test"]}
    assert len(real["train"]) + len(real["dev"]) == 113_438  # every line is an example
    assert len(train_words | dev_words) == 106_837
    assert not train_words & dev_words
    assert not (train_words | dev_words) & test_words
    assert abs(len(dev_words) / 106_837 - DEV_FRACTION) < 0.005
    assert all(split_of_word(w, DEV_FRACTION, 0.0) == "dev" for w in dev_words)


@needs_shared
def test_conventions_match_cmudict_g2p(real):
    for ex in real["train"][:2000] + real["test"]:
        assert set(ex) == {"source", "target", "word", "references"}
        assert ex["source"] == ex["word"]
        assert re.fullmatch(r"[a-z']+", ex["source"])
        assert re.fullmatch(r"[A-Z]+( [A-Z]+)*", ex["target"])


def write_manual(folder: Path, train: bytes, ref: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "g014b2b.train.gz").write_bytes(gzip.compress(train))
    (folder / "g014b2b.ref").write_bytes(ref)  # plain text works too
    return folder


GOOD_TRAIN = b"HELLO\tHH AH L OW\nHELLO\tHH EH L OW\nHONEY\tHH AH N IY\nCAT\tK AE T\n"
GOOD_REF = b"DOG\tD AO G\tD AA G\n"


@pytest.mark.parametrize(
    ("train", "ref", "bad_file", "line", "why"),
    [
        (GOOD_TRAIN + b"BAD\tB AE D\textra\n", GOOD_REF, "g014b2b.train.gz", 5,
         "expected 2 tab-separated fields"),
        (GOOD_TRAIN, GOOD_REF + b"EMPTY\t\n", "g014b2b.ref", 2, "field 2 is empty"),
        (GOOD_TRAIN + b"CAF\xe9\tK AE F\n", GOOD_REF, "g014b2b.train.gz", 5, "invalid UTF-8"),
        (GOOD_TRAIN + b"R2D2\tAA R\n", GOOD_REF, "g014b2b.train.gz", 5,
         "word 'R2D2' is not letters"),
    ],
)
def test_bad_lines_raise_or_are_skipped_and_counted(tmp_path, train, ref, bad_file, line,
                                                    why):
    manual = write_manual(tmp_path / "manual", train, ref)
    with pytest.raises(DataError, match=rf"{re.escape(bad_file)}, line {line}: {why}"):
        prepare(tmp_path / "tfds", manual)
    builder = prepare(tmp_path / "tfds_skip", manual, skip_bad_lines=True)
    skipped = builder.info.metadata["skipped_lines"]
    assert skipped[str(manual / bad_file)] == 1
    assert sum(skipped.values()) == 1
    assert len(read_all(builder.as_data_source(split="test"))) == 1
    assert len(read_all(builder.as_data_source(split="dev"))) == 1  # "honey"


def test_a_split_without_words_is_left_out(tmp_path):
    manual = write_manual(tmp_path / "manual", b"HELLO\tHH AH L OW\n", GOOD_REF)
    builder = prepare(tmp_path / "tfds", manual)
    assert sorted(builder.info.splits.keys()) == ["test", "train"]


def test_missing_manual_dir_says_how_to_get_the_files(tmp_path):
    with pytest.raises(DataError, match=r"nowhere does not exist.*Phonetisaurus"
                                        r".*manual_dir=PATH"):
        prepare(tmp_path / "tfds", tmp_path / "nowhere")
    manual = tmp_path / "partial"
    manual.mkdir()
    (manual / "g014b2b.train").write_bytes(GOOD_TRAIN)
    with pytest.raises(DataError, match=r"g014b2b\.ref nor .*g014b2b\.ref\.gz exists"):
        prepare(tmp_path / "tfds", manual)
