"""Batching: fixed bucketed shapes, masks, a pure step -> batch order, resume, lengths."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seq2seq_jax.constants import BOS_ID, EOS_ID, PAD_ID
from seq2seq_jax.data import batching
from seq2seq_jax.data.batching import (
    BatchConfig,
    BatchIterator,
    EncodedPairs,
    LengthError,
    apply_max_len,
    bucket_boundaries,
    bucket_length,
    eval_batches,
    make_batch,
)
from seq2seq_jax.data.tokenizers import CharTokenizer, SymbolTokenizer, UnknownCounter

CFG = BatchConfig(batch_size=8, max_src_len=30, max_tgt_len=25, window_batches=4)


def _pairs(n: int = 101, seed: int = 0, max_src: int = 30, max_tgt: int = 24) -> EncodedPairs:
    """Random ids in [4, 50); sources may be empty, targets too."""
    rng = np.random.default_rng(seed)
    return EncodedPairs(
        [rng.integers(4, 50, rng.integers(0, max_src + 1)).astype(np.int32) for _ in range(n)],
        [rng.integers(4, 50, rng.integers(0, max_tgt + 1)).astype(np.int32) for _ in range(n)])


def _assert_batches_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_bucket_boundaries_hand_cases():
    assert bucket_boundaries(50) == (8, 16, 24, 40, 50)
    assert bucket_boundaries(5) == (5,)
    assert bucket_boundaries(8) == (8,)
    assert bucket_boundaries(20, min_len=4, growth=2.0, multiple=1) == (4, 8, 16, 20)
    with pytest.raises(ValueError):
        bucket_boundaries(0)


@given(st.integers(1, 2000), st.integers(1, 64), st.floats(1.05, 4.0), st.integers(1, 16))
def test_bucket_boundaries_increasing_and_end_at_max(max_len, min_len, growth, multiple):
    b = bucket_boundaries(max_len, min_len, growth, multiple)
    assert list(b) == sorted(set(b)) and b[-1] == max_len and b[0] >= 1
    assert all(x % multiple == 0 for x in b[1:-1])


def test_bucket_length():
    assert bucket_length(0, (8, 16)) == 8
    assert bucket_length(8, (8, 16)) == 8
    assert bucket_length(9, (8, 16)) == 16
    with pytest.raises(LengthError):
        bucket_length(17, (8, 16))


def test_make_batch_hand_example():
    pairs = EncodedPairs([np.array([5, 6, 7], np.int32), np.array([], np.int32)],
                         [np.array([8], np.int32), np.array([9, 10], np.int32)])
    cfg = BatchConfig(batch_size=3, max_src_len=6, max_tgt_len=6, src_buckets=(2, 4, 6),
                      tgt_buckets=(3, 6))
    b = make_batch(pairs, [1, 0], cfg)
    np.testing.assert_array_equal(b["src"], [[0, 0, 0, 0], [5, 6, 7, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(b["tgt_in"], [[1, 9, 10], [1, 8, 0], [0, 0, 0]])
    np.testing.assert_array_equal(b["tgt_out"], [[9, 10, 2], [8, 2, 0], [0, 0, 0]])
    np.testing.assert_array_equal(b["src_mask"], [[0, 0, 0, 0], [1, 1, 1, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(b["tgt_mask"], [[1, 1, 1], [1, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(b["valid"], [True, True, False])
    np.testing.assert_array_equal(b["index"], [1, 0, -1])
    assert b["src"].dtype == b["tgt_in"].dtype == b["tgt_out"].dtype == np.int32
    assert b["src_mask"].dtype == b["tgt_mask"].dtype == bool


def test_every_batch_has_a_bucket_shape_and_consistent_masks():
    pairs = _pairs()
    it = BatchIterator(pairs, CFG, seed=3)
    shapes = set(CFG.shapes())
    for batch in it.iterate(0, 2 * it.steps_per_epoch):
        s, t = batch["src"].shape[1], batch["tgt_in"].shape[1]
        assert (s, t) in shapes
        assert batch["src"].shape[0] == batch["valid"].shape[0] == CFG.batch_size
        for row in range(CFG.batch_size):
            i = batch["index"][row]
            if not batch["valid"][row]:
                assert i == -1
                assert not batch["src_mask"][row].any() and not batch["tgt_mask"][row].any()
                assert (batch["src"][row] == PAD_ID).all() and (batch["tgt_in"][row] == 0).all()
                continue
            x, y = pairs.src[i], pairs.tgt[i]
            np.testing.assert_array_equal(batch["src_mask"][row], np.arange(s) < len(x))
            np.testing.assert_array_equal(batch["tgt_mask"][row], np.arange(t) < len(y) + 1)
            np.testing.assert_array_equal(batch["src"][row], np.pad(x, (0, s - len(x))))
            np.testing.assert_array_equal(batch["tgt_in"][row],
                                          np.pad(np.r_[BOS_ID, y], (0, t - len(y) - 1)))
            np.testing.assert_array_equal(batch["tgt_out"][row],
                                          np.pad(np.r_[y, EOS_ID], (0, t - len(y) - 1)))
            # The bucket is the smallest that fits the batch's longest row.
        lens = [len(pairs.src[i]) for i in batch["index"] if i >= 0]
        assert s == bucket_length(max(lens), CFG.src_bucket_set)


@pytest.mark.parametrize("n", [1, 7, 8, 101])
def test_every_example_once_per_epoch(n):
    it = BatchIterator(_pairs(n), CFG, seed=0)
    assert it.steps_per_epoch == -(-n // CFG.batch_size)
    orders, groups = [], []
    for epoch in range(3):
        steps = range(epoch * it.steps_per_epoch, (epoch + 1) * it.steps_per_epoch)
        seen = np.concatenate([it.indices_at(k) for k in steps])
        np.testing.assert_array_equal(np.sort(seen), np.arange(n))
        partial = [len(it.indices_at(k)) for k in steps if len(it.indices_at(k)) < 8]
        assert len(partial) == (n % 8 != 0)
        orders.append(seen)
        groups.append({frozenset(it.indices_at(k).tolist()) for k in steps})
    if n > 8:  # reshuffled every epoch: both the batch order and who shares a batch
        assert not np.array_equal(orders[0], orders[1])
        assert groups[0] != groups[1]


def test_order_is_a_pure_function_of_seed_and_step():
    pairs = _pairs()
    a, b = BatchIterator(pairs, CFG, seed=7), BatchIterator(pairs, CFG, seed=7)
    # Visit b's steps in a scrambled order: no hidden state may matter.
    steps = [0, 40, 3, 13, 14, 100, 1]
    expected = {k: a.batch_at(k) for k in sorted(steps)}
    for k in steps:
        _assert_batches_equal(b.batch_at(k), expected[k])
    other = BatchIterator(pairs, CFG, seed=8)
    assert any(not np.array_equal(other.indices_at(k), a.indices_at(k)) for k in range(13))


@pytest.mark.parametrize("resume_at", [1, 12, 13, 14, 30])
def test_resume_at_step_k_equals_uninterrupted(resume_at):
    pairs = _pairs()  # 101 examples, 13 steps per epoch
    total = 40
    uninterrupted = list(BatchIterator(pairs, CFG, seed=1).iterate(0, total))
    resumed = list(BatchIterator(pairs, CFG, seed=1).iterate(resume_at, total - resume_at))
    assert len(resumed) == total - resume_at
    for a, b in zip(uninterrupted[resume_at:], resumed, strict=True):
        _assert_batches_equal(a, b)


def test_batches_group_lengths_within_a_window():
    pairs = _pairs(96)
    # One window spans the epoch: batches are consecutive runs of the sorted order,
    # so their (target, source) length ranges cannot interleave.
    cfg = BatchConfig(batch_size=8, max_src_len=30, max_tgt_len=25, window_batches=12)
    it = BatchIterator(pairs, cfg, seed=0)
    ranges = []
    for k in range(it.steps_per_epoch):
        keys = [(len(pairs.tgt[i]), len(pairs.src[i])) for i in it.indices_at(k)]
        ranges.append((min(keys), max(keys)))
    ordered = sorted(ranges)
    assert all(prev[1] <= nxt[0] for prev, nxt in itertools.pairwise(ordered))
    assert ranges != ordered  # the batches themselves are shuffled, not sorted by length


def test_splitmix_matches_published_vector():
    # SplitMix64 from state 1234567: the first outputs of Vigna's reference C code.
    gamma = 0x9E3779B97F4A7C15
    states = np.array([(1234567 + k * gamma) % 2**64 for k in range(1, 4)], np.uint64)
    assert batching._splitmix(states).tolist() == [
        6457827717110365317, 3203168211198807973, 9817491932198370423]


def test_hash_keys_prefix_stable_and_seed_dependent():
    keys = batching.hash_keys(5, 2, 0, 100)
    np.testing.assert_array_equal(batching.hash_keys(5, 2, 0, 10), keys[:10])
    assert len(set(keys.tolist())) == 100
    for other in [(6, 2, 0), (5, 3, 0), (5, 2, 1), (-5, 2, 0)]:
        assert not np.array_equal(batching.hash_keys(*other, 100), keys)


def test_over_long_raises_with_index_length_and_option():
    pairs = _pairs(10, max_src=5, max_tgt=5)
    pairs.src[3] = np.arange(4, 40, dtype=np.int32)  # 36 tokens
    pairs.src[7] = np.arange(4, 44, dtype=np.int32)  # 40 tokens
    cfg = BatchConfig(batch_size=4, max_src_len=30, max_tgt_len=25)
    with pytest.raises(LengthError, match=r"example 3 has source length 36 > data.max_src_len="
                                          r"30 \(2 examples.*max_src_len >= 40.*truncate=True"):
        BatchIterator(pairs, cfg, seed=0)
    pairs = _pairs(10, max_src=5, max_tgt=5)
    pairs.tgt[9] = np.arange(4, 29, dtype=np.int32)  # 25 tokens -> 26 with BOS/EOS
    with pytest.raises(LengthError, match=r"example 9 has target length 26 .*max_tgt_len=25"):
        list(eval_batches(pairs, cfg))


def test_truncate_cuts_and_keeps_eos():
    pairs = EncodedPairs([np.arange(4, 40, dtype=np.int32)], [np.arange(4, 34, dtype=np.int32)])
    cfg = BatchConfig(batch_size=2, max_src_len=30, max_tgt_len=25, truncate=True)
    cut = apply_max_len(pairs, cfg)
    np.testing.assert_array_equal(cut.src[0], np.arange(4, 34))
    np.testing.assert_array_equal(cut.tgt[0], np.arange(4, 28))
    b = BatchIterator(pairs, cfg, seed=0).batch_at(0)
    assert b["src"].shape == (2, 30) and b["tgt_out"].shape == (2, 25)
    assert b["tgt_out"][0, -1] == EOS_ID and b["tgt_mask"][0].all()
    np.testing.assert_array_equal(b["tgt_in"][0], np.r_[BOS_ID, np.arange(4, 28)])


def test_config_validation():
    with pytest.raises(ValueError, match="batch_size"):
        BatchConfig(batch_size=0, max_src_len=8, max_tgt_len=8)
    with pytest.raises(ValueError, match="src_buckets"):
        BatchConfig(batch_size=2, max_src_len=8, max_tgt_len=8, src_buckets=(4, 6))
    with pytest.raises(ValueError, match="tgt_buckets"):
        BatchConfig(batch_size=2, max_src_len=8, max_tgt_len=8, tgt_buckets=(8, 4, 8))
    with pytest.raises(ValueError, match="empty"):
        BatchIterator(EncodedPairs([], []), CFG, seed=0)


@pytest.mark.parametrize("sort", [True, False])
def test_eval_batches_cover_everything_once(sort):
    pairs = _pairs(37)
    batches = list(eval_batches(pairs, CFG, sort_by_length=sort))
    assert len(batches) == 5
    index = np.concatenate([b["index"][b["valid"]] for b in batches])
    np.testing.assert_array_equal(np.sort(index), np.arange(37))
    if sort:
        keys = [(len(pairs.tgt[i]), len(pairs.src[i])) for i in index]
        assert keys == sorted(keys)
    else:
        np.testing.assert_array_equal(index, np.arange(37))
    for b in batches:
        assert (b["src"].shape[1], b["tgt_in"].shape[1]) in CFG.shapes()


def test_encode_pairs_with_g2p_tokenizers():
    examples = [{"source": "hello", "target": "HH AH L OW"},
                {"source": "it's", "target": "IH T S"}]
    src_tok = CharTokenizer.fit(ex["source"] for ex in examples)
    tgt_tok = SymbolTokenizer.fit(ex["target"] for ex in examples)
    counter = UnknownCounter()
    pairs = batching.encode_pairs([*examples, {"source": "hé", "target": "HH ZZ"}],
                                  src_tok, tgt_tok, on_unknown=counter)
    assert dict(counter) == {"é": 1, "ZZ": 1}
    b = make_batch(pairs, [0, 1, 2], BatchConfig(batch_size=4, max_src_len=8, max_tgt_len=8))
    assert src_tok.decode(b["src"][0]) == "hello"
    assert tgt_tok.decode(b["tgt_out"][1]) == "IH T S"
    assert tgt_tok.decode(b["tgt_in"][0]) == "HH AH L OW"
