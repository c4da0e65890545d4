"""Tests for seq2seq_jax.data.synthetic: targets are right, lengths stay in range."""

from __future__ import annotations

import dataclasses

import pytest

from seq2seq_jax.data.synthetic import SyntheticSpec, make_split
from seq2seq_jax.errors import DataError

SPEC = SyntheticSpec(num_train=300, num_dev=50, num_test=200, min_len=2, train_max_len=7,
                     test_max_len=120, seed=3)


@pytest.mark.parametrize("task", ["copy", "reverse"])
def test_copy_and_reverse_targets(task):
    for ex in make_split(task, "train", SPEC):
        expected = ex["source"] if task == "copy" else ex["source"][::-1]
        assert ex["target"] == expected
        assert len(ex["source"]) == ex["length"]
        assert set(ex["source"]) <= set(SPEC.alphabet)


def test_addition_sums_are_right_and_well_formed():
    for split in ("train", "test"):
        for ex in make_split("addition", split, SPEC):
            a, b = ex["source"].split("+")
            assert int(ex["target"]) == int(a) + int(b)
            assert max(len(a), len(b)) == ex["length"]
            for number in (a, b, ex["target"]):
                assert number == "0" or not number.startswith("0")


@pytest.mark.parametrize("task", ["copy", "reverse", "addition"])
def test_length_ranges(task):
    train = [ex["length"] for ex in make_split(task, "train", SPEC)]
    dev = [ex["length"] for ex in make_split(task, "dev", SPEC)]
    test = [ex["length"] for ex in make_split(task, "test", SPEC)]
    assert min(train) == SPEC.min_len and max(train) == SPEC.train_max_len
    assert SPEC.min_len <= min(dev) and max(dev) <= SPEC.train_max_len
    assert SPEC.min_len <= min(test) and max(test) <= SPEC.test_max_len
    assert max(test) >= 100  # long sequences for the bottleneck experiments
    assert (len(train), len(dev), len(test)) == (300, 50, 200)


def test_deterministic_and_seed_dependent():
    first = make_split("reverse", "test", SPEC)
    assert make_split("reverse", "test", SPEC) == first
    assert make_split("reverse", "test", dataclasses.replace(SPEC, seed=4)) != first
    # Splits use separate streams: resizing train leaves test unchanged.
    assert make_split("reverse", "test", dataclasses.replace(SPEC, num_train=5)) == first
    assert make_split("reverse", "train", SPEC) != make_split("copy", "train", SPEC)


@pytest.mark.parametrize(
    ("task", "split", "spec", "message"),
    [
        ("sort", "train", SPEC, "Unknown synthetic task 'sort'"),
        ("copy", "validation", SPEC, "Unknown split 'validation'"),
        ("copy", "train", dataclasses.replace(SPEC, min_len=0), "1 <= min_len"),
        ("copy", "train", dataclasses.replace(SPEC, test_max_len=3), "train_max_len <="),
        ("copy", "train", dataclasses.replace(SPEC, num_dev=-1), ">= 0"),
        ("copy", "train", dataclasses.replace(SPEC, alphabet=""), "alphabet is empty"),
    ],
)
def test_bad_arguments(task, split, spec, message):
    with pytest.raises(DataError, match=message):
        make_split(task, split, spec)
