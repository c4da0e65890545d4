"""Fixed-shape, length-bucketed batches in an order that is a pure function of the step.

Shapes: B batch size, S source bucket length, T target bucket length (target
tokens + 1, for the BOS of ``tgt_in`` / the EOS of ``tgt_out``).

Every batch has exactly B rows and S, T taken from a small fixed set of bucket
lengths, so a jitted step compiles at most ``len(src_buckets) * len(tgt_buckets)``
times. The last, partial batch of an epoch is filled with all-PAD rows whose
``valid`` flag is False.

Order (``BatchIterator``): the batch at global step k is a pure function of
(seed, k, the examples' lengths), with no hidden iterator state, so resuming at
step k (``iterate(start_step=k)``) yields exactly what an uninterrupted run would.
For epoch e = k // steps_per_epoch:

1. permute the examples by sorting stateless hash keys of (seed, e, index);
2. cut the permutation into windows of ``window_batches * B`` examples, sort each
   window by (target length, source length) and cut it into batches of B, so a
   batch holds similar lengths and pads little;
3. permute the batches by hash keys of (seed, e, batch number).

The hash is SplitMix64 in numpy ``uint64`` arithmetic, so the order does not
depend on numpy's random generator streams and stays the same across versions.

Multi-host data parallelism: every process computes the same order and builds
only its own rows of each global batch (``batch_at(step, rows=...)``), padded
to the whole batch's bucket lengths.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from seq2seq_jax.constants import BOS_ID, EOS_ID, PAD_ID
from seq2seq_jax.data.tokenizers import OnUnknown, Tokenizer
from seq2seq_jax.errors import DataError

Batch = dict[str, np.ndarray]


class LengthError(DataError, ValueError):
    """An example is longer than the configured maximum and truncation is off."""


def bucket_boundaries(max_len: int, min_len: int = 8, growth: float = 1.5,
                      multiple: int = 8) -> tuple[int, ...]:
    """Bucket lengths from ``min_len`` growing geometrically up to ``max_len``.

    Args:
      max_len: the longest sequence; always the last bucket.
      min_len: the first bucket.
      growth: each bucket is at least ``growth`` times the previous one ...
      multiple: ... rounded up to a multiple of this (friendly tile sizes).

    Returns:
      Strictly increasing lengths, e.g. ``bucket_boundaries(50) == (8, 16, 24, 40, 50)``.
    """
    if max_len < 1 or min_len < 1 or multiple < 1 or growth <= 1.0:
        raise ValueError(f"bucket_boundaries needs max_len, min_len, multiple >= 1 and "
                         f"growth > 1; got {max_len=}, {min_len=}, {multiple=}, {growth=}")
    out = []
    length = min_len
    while length < max_len:
        out.append(length)
        length = max(math.ceil(length * growth), length + 1)
        length = -(-length // multiple) * multiple
    out.append(max_len)
    return tuple(out)


def bucket_length(length: int, buckets: Sequence[int]) -> int:
    """The smallest bucket >= ``length``.

    Raises:
      LengthError: ``length`` exceeds the largest bucket.
    """
    for b in buckets:
        if length <= b:
            return b
    raise LengthError(f"length {length} exceeds the largest bucket {buckets[-1]}")


@dataclasses.dataclass(frozen=True)
class BatchConfig:
    """How examples become batches.

    Attributes:
      batch_size: rows per batch, B.
      max_src_len: longest source, S (source ids carry no BOS/EOS).
      max_tgt_len: longest target row, T = target tokens + 1.
      truncate: cut over-long examples (the target keeps its EOS) instead of
        raising ``LengthError``.
      src_buckets, tgt_buckets: allowed S / T values, increasing and ending at
        the maximum; empty means ``bucket_boundaries(max_len)``.
      window_batches: batches per sorting window; larger pads less but mixes
        lengths less across batches. 1 disables length grouping.
    """

    batch_size: int
    max_src_len: int
    max_tgt_len: int
    truncate: bool = False
    src_buckets: tuple[int, ...] = ()
    tgt_buckets: tuple[int, ...] = ()
    window_batches: int = 32

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_src_len", "max_tgt_len", "window_batches"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"data.{name}={value!r} must be a positive integer")
        if self.max_tgt_len < 2:
            raise ValueError(f"data.max_tgt_len={self.max_tgt_len} leaves no room for a "
                             "target token next to BOS/EOS; use >= 2")
        for name, maximum in (("src_buckets", self.max_src_len),
                              ("tgt_buckets", self.max_tgt_len)):
            b = getattr(self, name)
            if b and (list(b) != sorted(set(b)) or b[0] < 1 or b[-1] != maximum):
                raise ValueError(f"data.{name}={b} must be strictly increasing positive "
                                 f"lengths ending at {maximum}")

    @property
    def src_bucket_set(self) -> tuple[int, ...]:
        return self.src_buckets or bucket_boundaries(self.max_src_len)

    @property
    def tgt_bucket_set(self) -> tuple[int, ...]:
        return self.tgt_buckets or bucket_boundaries(self.max_tgt_len)

    def shapes(self) -> list[tuple[int, int]]:
        """Every (S, T) a batch can have: the bound on recompilations."""
        return [(s, t) for s in self.src_bucket_set for t in self.tgt_bucket_set]


@dataclasses.dataclass(frozen=True)
class EncodedPairs:
    """Token ids of a dataset's examples, in dataset order, without BOS/EOS."""

    src: list[np.ndarray]  # each [len] int32
    tgt: list[np.ndarray]  # each [len] int32

    def __post_init__(self) -> None:
        if len(self.src) != len(self.tgt):
            raise ValueError(f"{len(self.src)} sources but {len(self.tgt)} targets")

    def __len__(self) -> int:
        return len(self.src)


def encode_pairs(examples: Sequence[Mapping[str, str]], src_tok: Tokenizer, tgt_tok: Tokenizer,
                 on_unknown: OnUnknown | None = None) -> EncodedPairs:
    """Tokenize ``{"source", "target"}`` examples.

    Args:
      examples: the dataset, in order; index i in a batch's ``index`` is examples[i].
      src_tok, tgt_tok: tokenizers (the same object for a joint vocabulary).
      on_unknown: receives every unknown token of both sides (``UnknownCounter``).
    """
    def ids(tok: Tokenizer, text: str) -> np.ndarray:
        return np.asarray(tok.encode(text, on_unknown=on_unknown), np.int32)

    return EncodedPairs([ids(src_tok, ex["source"]) for ex in examples],
                        [ids(tgt_tok, ex["target"]) for ex in examples])


def apply_max_len(pairs: EncodedPairs, cfg: BatchConfig) -> EncodedPairs:
    """Check every example against the maxima; truncate or raise.

    Raises:
      LengthError: names the first over-long example, its length, the limit,
        how many exceed it, and the two ways out.
    """
    max_tgt_tokens = cfg.max_tgt_len - 1
    for side, seqs, limit, option in (("source", pairs.src, cfg.max_src_len, "max_src_len"),
                                      ("target", pairs.tgt, max_tgt_tokens, "max_tgt_len")):
        over = [i for i, s in enumerate(seqs) if len(s) > limit]
        if over and not cfg.truncate:
            i = over[0]
            need = len(seqs[i]) + (side == "target")
            extra = " (its tokens + 1 for BOS/EOS)" if side == "target" else ""
            raise LengthError(
                f"example {i} has {side} length {need}{extra} > data.{option}="
                f"{getattr(cfg, option)} ({len(over)} examples exceed it); set "
                f"data.{option} >= {max(len(seqs[j]) for j in over) + (side == 'target')} "
                "or data.truncate=True")
    if not cfg.truncate:
        return pairs
    return EncodedPairs([s[:cfg.max_src_len] for s in pairs.src],
                        [t[:max_tgt_tokens] for t in pairs.tgt])


def make_batch(pairs: EncodedPairs, indices: Sequence[int] | np.ndarray,
               cfg: BatchConfig, rows: tuple[int, int] | None = None) -> Batch:
    """Pad the examples ``indices`` (at most B of them) into one fixed-shape batch.

    Args:
      pairs, indices, cfg: the examples, which of them, batch size and buckets.
      rows: ``(start, stop)``: build only these rows of the batch (one host's
        share in multi-host data parallelism), still padded to the S and T of
        the whole batch, so every host's rows have the same shape.

    Returns:
      ``src [B, S] int32``; ``tgt_in [B, T]`` = BOS + target; ``tgt_out [B, T]``
      = target + EOS; ``src_mask [B, S]``, ``tgt_mask [B, T]`` bool, True on real
      tokens; ``valid [B]`` bool, False on filler rows; ``index [B] int32``, the
      example's position in ``pairs``, -1 on filler rows. With ``rows``, B is
      ``stop - start``.
    """
    indices = [int(i) for i in indices]
    b = cfg.batch_size
    if not 0 < len(indices) <= b:
        raise ValueError(f"a batch takes 1..{b} examples, got {len(indices)}")
    srcs = [pairs.src[i] for i in indices]
    tgts = [pairs.tgt[i] for i in indices]
    s = bucket_length(max(len(x) for x in srcs), cfg.src_bucket_set)
    t = bucket_length(max(len(y) for y in tgts) + 1, cfg.tgt_bucket_set)
    if rows is not None:
        start, stop = rows
        if not 0 <= start < stop <= b:
            raise ValueError(f"rows={rows} must lie within the batch's {b} rows")
        b = stop - start
        indices, srcs, tgts = indices[start:stop], srcs[start:stop], tgts[start:stop]
    batch = {
        "src": np.full((b, s), PAD_ID, np.int32),
        "tgt_in": np.full((b, t), PAD_ID, np.int32),
        "tgt_out": np.full((b, t), PAD_ID, np.int32),
        "src_mask": np.zeros((b, s), bool),
        "tgt_mask": np.zeros((b, t), bool),
        "valid": np.zeros((b,), bool),
        "index": np.full((b,), -1, np.int32),
    }
    for row, (i, x, y) in enumerate(zip(indices, srcs, tgts, strict=True)):
        n, m = len(x), len(y)
        batch["src"][row, :n] = x
        batch["src_mask"][row, :n] = True
        batch["tgt_in"][row, 0] = BOS_ID
        batch["tgt_in"][row, 1:m + 1] = y
        batch["tgt_out"][row, :m] = y
        batch["tgt_out"][row, m] = EOS_ID
        batch["tgt_mask"][row, :m + 1] = True
        batch["valid"][row] = True
        batch["index"][row] = i
    return batch


_GAMMA = np.uint64(0x9E3779B97F4A7C15)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's output function on a ``uint64`` array (Steele et al. 2014)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def hash_keys(seed: int, epoch: int, salt: int, n: int) -> np.ndarray:
    """``n`` pseudo-random uint64 keys, a pure function of (seed, epoch, salt)."""
    state = np.zeros(1, np.uint64)
    for word in (seed, epoch, salt):
        state = _splitmix((state + _GAMMA) ^ np.array([word % 2**64], np.uint64))
    return _splitmix(state + np.arange(1, n + 1, dtype=np.uint64) * _GAMMA)


def epoch_plan(src_lens: np.ndarray, tgt_lens: np.ndarray, batch_size: int,
               window_batches: int, seed: int, epoch: int) -> list[np.ndarray]:
    """The example indices of every batch of one epoch, in step order.

    Args:
      src_lens, tgt_lens: ``[N]`` lengths of each example.
      batch_size, window_batches: see ``BatchConfig``.
      seed, epoch: the only sources of randomness.

    Returns:
      ``ceil(N / B)`` index arrays; all have B entries but possibly one.
    """
    n = len(src_lens)
    perm = np.argsort(hash_keys(seed, epoch, 0, n), kind="stable")
    # Sort key: target length first (it sets T and the decoder's work), then source.
    length_key = tgt_lens.astype(np.int64) * (int(src_lens.max(initial=0)) + 1) + src_lens
    window = batch_size * window_batches
    batches = []
    for start in range(0, n, window):
        chunk = perm[start:start + window]
        chunk = chunk[np.argsort(length_key[chunk], kind="stable")]
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    order = np.argsort(hash_keys(seed, epoch, 1, len(batches)), kind="stable")
    return [batches[i] for i in order]


class BatchIterator:
    """Training batches; ``batch_at(step)`` is a pure function of (seed, step, data).

    Resume: after restoring a checkpoint taken when ``step`` batches had been
    consumed, continue with ``iterate(start_step=step)``.
    """

    def __init__(self, pairs: EncodedPairs, cfg: BatchConfig, seed: int):
        """Args:
          pairs: the training set (validated with ``apply_max_len``).
          cfg: batch size, maxima, buckets.
          seed: the data-order seed.
        """
        if len(pairs) == 0:
            raise ValueError("cannot batch an empty dataset")
        self.pairs = apply_max_len(pairs, cfg)
        self.cfg = cfg
        self.seed = seed
        self._src_lens = np.array([len(s) for s in self.pairs.src], np.int64)
        self._tgt_lens = np.array([len(t) for t in self.pairs.tgt], np.int64)
        self._cached: tuple[int, list[np.ndarray]] | None = None

    @property
    def steps_per_epoch(self) -> int:
        return -(-len(self.pairs) // self.cfg.batch_size)

    def plan(self, epoch: int) -> list[np.ndarray]:
        """Every batch's example indices for ``epoch`` (the last epoch is cached)."""
        if self._cached is None or self._cached[0] != epoch:
            self._cached = (epoch, epoch_plan(self._src_lens, self._tgt_lens,
                                              self.cfg.batch_size, self.cfg.window_batches,
                                              self.seed, epoch))
        return self._cached[1]

    def indices_at(self, step: int) -> np.ndarray:
        """Example indices of the batch at global step ``step`` (0-based)."""
        if step < 0:
            raise ValueError(f"step={step} must be >= 0")
        epoch, within = divmod(step, self.steps_per_epoch)
        return self.plan(epoch)[within]

    def batch_at(self, step: int, rows: tuple[int, int] | None = None) -> Batch:
        """The batch at global step ``step``; see ``make_batch`` for its fields.

        ``rows=(start, stop)`` builds only those rows of it: each process of a
        multi-host run takes the rows its devices hold, and the hosts' rows
        together are exactly the single-host batch.
        """
        return make_batch(self.pairs, self.indices_at(step), self.cfg, rows)

    def iterate(self, start_step: int = 0, num_steps: int | None = None) -> Iterator[Batch]:
        """Batches for steps ``start_step, start_step + 1, ...`` (endless by default)."""
        step = start_step
        while num_steps is None or step < start_step + num_steps:
            yield self.batch_at(step)
            step += 1

    def __iter__(self) -> Iterator[Batch]:
        return self.iterate()


def eval_batches(pairs: EncodedPairs, cfg: BatchConfig, sort_by_length: bool = True,
                 ) -> Iterator[Batch]:
    """Every example once, no shuffling, for evaluation and decoding.

    Args:
      pairs: the evaluation set; ``apply_max_len`` applies (an over-long test
        example raises unless ``cfg.truncate``).
      cfg: batch size and buckets.
      sort_by_length: group similar lengths (fewer padded positions and shapes);
        put outputs back in dataset order with each batch's ``index``.
    """
    pairs = apply_max_len(pairs, cfg)
    order = np.arange(len(pairs))
    if sort_by_length:
        key = [(len(t), len(s)) for s, t in zip(pairs.src, pairs.tgt, strict=True)]
        order = np.array(sorted(order, key=lambda i: key[i]), np.int64)
    for start in range(0, len(pairs), cfg.batch_size):
        yield make_batch(pairs, order[start:start + cfg.batch_size], cfg)
