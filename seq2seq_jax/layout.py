"""The workdir layout: every name a run writes, and the names of its decodes, in one place.

A workdir (and an export, which reads as one)::

    DIR/
      checkpoints/<step>/   the newest train states (orbax), for resuming and --average
      best/<step>/          the best by the dev metric; an export holds only this
      config.json           the resolved config the run trained with
      tokenizers.json       source and target vocabularies
      sentencepiece/        the trained SentencePiece models (translation)
      metrics.jsonl         one JSON object a log interval or evaluation
      hardware.txt          the machines that trained it, one a line
      data_sources.json     the fingerprint of the data it trained on (``data.fingerprint``)
      tensorboard/          the same metrics as TensorBoard events
      train.lock            held by the one training run (train.<process>.lock on other hosts)
      analysis/             per-example decode records (``seq2seq_jax.lab.analysis``)
      eval_<split>[_<decode tag>].json    what ``seq2seq-jax eval`` printed

A decode tag says how outputs were decoded: ``greedy``, ``beam5``, ``beam5_alpha1.5``
(a length penalty other than ``DEFAULT_ALPHA``), then ``_avg3`` (the mean of the newest
three checkpoints) and ``_ens-a+b`` (an ensemble, named by its members' folders).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from seq2seq_jax.constants import DEFAULT_ALPHA

LATEST = "checkpoints"
BEST = "best"
CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizers.json"
SENTENCEPIECE_DIR = "sentencepiece"
METRICS_FILE = "metrics.jsonl"
HARDWARE_FILE = "hardware.txt"
TENSORBOARD_DIR = "tensorboard"
LOCK_FILE = "train.lock"
ANALYSIS_DIR = "analysis"
DATA_FILE = "data_sources.json"
# A run's own record, kept wherever its parameters go (export, kept decodes):
# what it was, how its training went, where it ran and on which data.
RECORD_FILES = (CONFIG_FILE, METRICS_FILE, HARDWARE_FILE, DATA_FILE)


def lock_file(process_index: int = 0) -> str:
    """The lock of one host's process: ``train.lock`` on process 0."""
    return LOCK_FILE if process_index == 0 else f"train.{process_index}.lock"


def ensemble_tag(members: Sequence[str | Path]) -> str:
    """``_ens-a+b``: an ensemble named by its members' folders, first member included."""
    return "_ens-" + "+".join(Path(m).resolve().name for m in members)


def decode_tag(method: str, beam_size: int = 1, alpha: float = DEFAULT_ALPHA,
               average: int = 0, members: Sequence[str | Path] = (),
               stop: str = "exact") -> str:
    """How outputs were decoded, as a file-name part: ``greedy``,
    ``beam5_alpha1.5_avg3``, ``beam5_first_k`` (a stop rule other than exact)."""
    name = method if method != "beam" else f"beam{beam_size}" + (
        "" if float(alpha) == DEFAULT_ALPHA else f"_alpha{float(alpha):g}") + (
        "" if stop == "exact" else f"_{stop}")
    name += f"_avg{average}" if average else ""
    return name + (ensemble_tag(members) if members else "")


def eval_file(split: str, tag: str) -> str:
    """``eval_test.json`` for a greedy decode, else ``eval_test_beam5_avg3.json``:
    ``seq2seq-jax eval``'s output, named by the split and the decode tag."""
    safe = split.replace("[", "_").replace("]", "").replace(":", "_")
    rest = tag.removeprefix("greedy").removeprefix("sample").lstrip("_")
    return f"eval_{safe}" + (f"_{rest}" if rest else "") + ".json"
