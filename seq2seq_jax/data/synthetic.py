"""Locally generated seq2seq tasks with controlled lengths: copy, reverse, addition.

Plain in-memory lists with the same interface as the tfds builders, each example
`{"source": str, "target": str, "length": int}`, meant for character-level models:

* copy: "qbwk" -> "qbwk" (random letters from `spec.alphabet`).
* reverse: "qbwk" -> "kwbq".
* addition: "123+45" -> "168" (as in the Flax seq2seq example); each operand has its
  own random number of digits, no leading zeros; `length` is the longer operand's.

Lengths: train and dev draw the length uniformly from [min_len, train_max_len]; test
from [min_len, test_max_len], so a test set holds lengths never seen in training (the
fixed-size-bottleneck experiments plot accuracy against `length`; 100+ works, Python
integers have no size limit). Each (seed, task, split) has its own NumPy random stream,
so a split is the same on every run and machine, and changing one split's size never
changes another split. Short lengths have few distinct strings, so test examples may
repeat training ones; compare accuracy by length.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from seq2seq_jax.errors import DataError

if TYPE_CHECKING:  # examples.py imports tfds: only to read datasets
    from seq2seq_jax.data.examples import Example

TASKS = ("copy", "reverse", "addition")
SPLITS = ("train", "dev", "test")


@dataclasses.dataclass(frozen=True)
class SyntheticSpec:
    """Sizes, lengths and seed of a synthetic task (hashable, so usable as a config)."""

    num_train: int = 20_000
    num_dev: int = 1_000
    num_test: int = 1_000
    min_len: int = 1  # shortest sequence (addition: operand digits) in every split
    train_max_len: int = 20  # longest in train and dev
    test_max_len: int = 40  # longest in test; >= train_max_len
    seed: int = 0
    alphabet: str = "abcdefghijklmnopqrstuvwxyz"  # copy / reverse symbols


def _check(task: str, split: str, spec: SyntheticSpec) -> None:
    if task not in TASKS:
        raise DataError(f"Unknown synthetic task {task!r}; choose one of {TASKS}.")
    if split not in SPLITS:
        raise DataError(f"Unknown split {split!r} for synthetic/{task}; choose one of "
                        f"{SPLITS}.")
    if not 1 <= spec.min_len <= spec.train_max_len <= spec.test_max_len:
        raise DataError(
            f"Synthetic lengths need 1 <= min_len <= train_max_len <= test_max_len, got "
            f"{spec.min_len}, {spec.train_max_len}, {spec.test_max_len}.")
    if min(spec.num_train, spec.num_dev, spec.num_test) < 0:
        raise DataError("Synthetic example counts must be >= 0.")
    if not spec.alphabet:
        raise DataError("Synthetic alphabet is empty.")


def _number(rng: np.random.Generator, digits: int) -> str:
    """A decimal number with exactly `digits` digits (no leading zero unless it is 0)."""
    first = rng.integers(0 if digits == 1 else 1, 10)
    rest = rng.integers(0, 10, size=digits - 1)
    return str(first) + "".join(map(str, rest.tolist()))


def make_example(task: str, length: int, rng: np.random.Generator,
                 alphabet: str = SyntheticSpec.alphabet) -> Example:
    """Draws one example of a task.

    Args:
      task: "copy", "reverse" or "addition".
      length: sequence length (addition: the most digits an operand may have).
      rng: the random stream to draw from.
      alphabet: symbols for copy / reverse.

    Returns:
      {"source": str, "target": str, "length": int}.
    """
    if task == "addition":
        a = _number(rng, length)
        b = _number(rng, int(rng.integers(1, length + 1)))
        if rng.integers(0, 2):  # the longer operand is first or second equally often
            a, b = b, a
        return {"source": f"{a}+{b}", "target": str(int(a) + int(b)), "length": length}
    symbols = rng.integers(0, len(alphabet), size=length).tolist()
    text = "".join(alphabet[i] for i in symbols)
    return {"source": text, "target": text if task == "copy" else text[::-1],
            "length": length}


def make_split(task: str, split: str, spec: SyntheticSpec | None = None) -> list[Example]:
    """Generates one split of a synthetic task, deterministically from `spec.seed`.

    Args:
      task: "copy", "reverse" or "addition".
      split: "train", "dev" or "test".
      spec: sizes, length ranges and seed (defaults: `SyntheticSpec()`).

    Returns:
      `spec.num_<split>` examples.

    Raises:
      DataError: unknown task or split, or inconsistent lengths.
    """
    spec = spec or SyntheticSpec()
    _check(task, split, spec)
    count = {"train": spec.num_train, "dev": spec.num_dev, "test": spec.num_test}[split]
    max_len = spec.test_max_len if split == "test" else spec.train_max_len
    rng = np.random.default_rng([spec.seed, TASKS.index(task), SPLITS.index(split)])
    lengths = rng.integers(spec.min_len, max_len + 1, size=count).tolist()
    return [make_example(task, length, rng, spec.alphabet) for length in lengths]
