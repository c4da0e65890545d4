"""A trained model ready to decode: what ``predict``, ``evaluate_examples`` and
``teacher_forced`` take, instead of its five parts."""

from __future__ import annotations

from typing import Any, NamedTuple

from seq2seq_jax.models.interface import Model


class Trained(NamedTuple):
    """A model family, its parameters and static config, and the run's tokenizers.

    ``training.workdir.load`` returns one (with the checkpoint it came from); the
    training loop builds one around its current parameters to score the dev set.
    """

    config: Any  # the run's ml_collections.ConfigDict (data and decoding options)
    model: Model
    cfg: Any  # the frozen model config
    params: Any
    src_tok: Any
    tgt_tok: Any
    step: int = 0
    which: str = ""  # "best" or "checkpoints"; "" when not loaded from a checkpoint
    averaged: tuple[int, ...] = ()  # the steps whose parameters were averaged, if any
    members: tuple[str, ...] = ()  # an ensemble's checkpoints (``workdir/which/step``)
