"""Park a training run in a folder that outlives its machine, and resume it elsewhere.

A workdir lives on the machine that trains; when that machine is handed back,
its checkpoints go with it. ``park`` copies what a resume needs into a folder
kept elsewhere (under version control, on a shared disk)::

    PARKED/
        checkpoints/<step>/   the newest complete checkpoint: parameters and
                              optimizer state, the data position is the step
        best/<step>/          the best checkpoint by the dev metric so far, with
                              its score (what eval, export and ensembles read)
        config.json, tokenizers.json, sentencepiece/, hardware.txt
        metrics.jsonl         the whole training log; rows past <step> stay, as
                              after an interruption (the resume logs those steps
                              again and the results count the lost work)
        PARKED.json           where it came from, the step, the best step, when

Older checkpoints and the TensorBoard files stay behind: a resume does not read
them. ``best/`` travels because a resume replaces it only when a later
evaluation beats the score the checkpoints record; without it, a run whose best
evaluation came before the park would end with no best checkpoint at all.
``unpark`` copies a parked folder to a new workdir; ``seq2seq-jax train`` with
the run's config and that workdir goes on from the parked step, as a run
interrupted there would.

A park replaces the previous one of the same folder whole: it is written
beside it and renamed into place, so an interrupted park leaves the previous
one as it was. Neither command writes into a folder it did not make.

    python scripts/park.py park runs/multi30k/transformer_wu models/parked/transformer_wu
    python scripts/park.py unpark models/parked/transformer_wu runs/multi30k/transformer_wu
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from seq2seq_jax.errors import ConfigError
from seq2seq_jax.files import write_atomic
from seq2seq_jax.layout import (
    CONFIG_FILE,
    HARDWARE_FILE,
    METRICS_FILE,
    SENTENCEPIECE_DIR,
    TOKENIZER_FILE,
)
from seq2seq_jax.training import checkpoint

MARK = "PARKED.json"
# The run's record less metrics.jsonl (copied without a half-written last line),
# plus what the data pipeline needs to rebuild the same batches.
SIDE_FILES = (CONFIG_FILE, TOKENIZER_FILE, HARDWARE_FILE)
SIDE_DIRS = (SENTENCEPIECE_DIR,)


def _whole_lines(text: str) -> str:
    """``metrics.jsonl`` without a last line the trainer is still writing."""
    return text[:text.rfind("\n") + 1]


def park(workdir: str | Path, dest: str | Path) -> dict[str, Any]:
    """Copy ``workdir``'s newest complete checkpoint, its best one and side files to ``dest``.

    Returns:
      What ``PARKED.json`` records: ``workdir``, ``step``, ``time`` and
      ``best_step`` (None before the first evaluation).

    Raises:
      ConfigError: ``workdir`` holds no complete checkpoint, is itself parked,
        or ``dest`` exists but is not a parked folder.
    """
    src, dest = Path(workdir), Path(dest)
    if (src / MARK).is_file():
        raise ConfigError(f"{src} is a parked folder; unpark it to a workdir first")
    steps = checkpoint.complete_steps(src, checkpoint.LATEST)
    if not steps:
        raise ConfigError(f"{src / checkpoint.LATEST}: no complete checkpoint to park; train "
                          "until the first one (train.checkpoint_every steps)")
    if dest.exists() and not (dest / MARK).is_file():
        raise ConfigError(f"{dest} exists and is not a parked folder; name a new folder "
                          "(nothing was written)")
    step = steps[-1]
    tmp = dest.with_name(f".{dest.name}.parking")
    if tmp.exists():
        shutil.rmtree(tmp)  # a park that was interrupted
    tmp.mkdir(parents=True)
    shutil.copytree(src / checkpoint.LATEST / str(step), tmp / checkpoint.LATEST / str(step))
    best = checkpoint.complete_steps(src, checkpoint.BEST)
    if best:
        shutil.copytree(src / checkpoint.BEST / str(best[-1]),
                        tmp / checkpoint.BEST / str(best[-1]))
    for name in SIDE_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, tmp / name)
    for name in SIDE_DIRS:
        if (src / name).is_dir():
            shutil.copytree(src / name, tmp / name)
    if (src / METRICS_FILE).is_file():
        (tmp / METRICS_FILE).write_text(_whole_lines((src / METRICS_FILE).read_text()))
    record = {"workdir": str(src), "step": step,
              "best_step": best[-1] if best else None,
              "time": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    (tmp / MARK).write_text(json.dumps(record, indent=2) + "\n")
    old = dest.with_name(f".{dest.name}.replaced")
    if old.exists():
        shutil.rmtree(old)
    if dest.exists():
        dest.rename(old)
    tmp.rename(dest)
    if old.exists():
        shutil.rmtree(old)
    return record


def unpark(parked: str | Path, workdir: str | Path) -> dict[str, Any]:
    """Copy the parked folder ``parked`` to the new workdir ``workdir``.

    Returns:
      The parked record (``PARKED.json``).

    Raises:
      ConfigError: ``parked`` is not a parked folder, or ``workdir`` exists
        (a workdir's own checkpoints are never overwritten).
    """
    src, dest = Path(parked), Path(workdir)
    if not (src / MARK).is_file():
        raise ConfigError(f"{src}: not a parked folder (no {MARK}); park a workdir with "
                          "`python scripts/park.py park WORKDIR FOLDER`")
    if dest.exists():
        raise ConfigError(f"{dest} exists; unpark into a new workdir (an existing one "
                          "resumes from its own checkpoints)")
    record = json.loads((src / MARK).read_text())
    tmp = dest.with_name(f".{dest.name}.unparking")
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(src, tmp, ignore=shutil.ignore_patterns(MARK))
    note = (f"unparked from {src} (step {record['step']}, parked "
            f"{record['time']} from {record['workdir']})\n")
    hardware = tmp / HARDWARE_FILE
    write_atomic(hardware, (hardware.read_text() if hardware.is_file() else "") + note)
    tmp.rename(dest)
    return dict(record)
