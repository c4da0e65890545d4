"""What a results table says about training (read from a workdir) and the markdown itself.

Training facts come from the workdir: ``metrics.jsonl`` (steps, wall time,
best dev score), ``config.json`` (the planned steps) and ``hardware.txt`` (the
machines that trained it, one a line; written by ``results.train_model``).
Training wall time is the sum of the logged training windows: a ``train``
record's window runs from the previous record of the same process to its own
``time``, and the first window of a process covers the steps since the previous
multiple of ``train.log_every`` at ``steps_per_s``. Evaluations fall inside the
next window, so they are included, as is compilation; time lost between an
interruption and the resume is not. (The timestamps, not ``steps_per_s``,
measure the later windows, because a version of the trainer read a window's
seconds before its steps had run: its ``steps_per_s`` is too high.)
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from seq2seq_jax import config as config_lib
from seq2seq_jax.files import write_atomic
from seq2seq_jax.layout import CONFIG_FILE, HARDWARE_FILE

if TYPE_CHECKING:
    from seq2seq_jax.lab.experiments import Experiment

MISSING = "–"
BEGIN, END = "<!-- BEGIN {} -->", "<!-- END {} -->"


class TrainingInfo(NamedTuple):
    steps: int  # the last logged training step
    num_steps: int  # the config's planned steps (0: unknown)
    seconds: float | None  # summed training windows; None without train records
    restarts: int  # times the log goes back in steps: resumes after an interruption
    from_scratch: int  # of those, runs cut before their first checkpoint: begun again
    dev_metric: str
    best_dev: float | None  # the best dev score and its step
    best_step: int | None
    hardware: tuple[str, ...]  # the lines of hardware.txt; () when not recorded


class ModelResult(NamedTuple):
    """One row of an experiment's table."""

    model: str
    workdir: Path
    config_arg: str  # "configs/g014b2b.py:rnn"
    status: str  # "ok", "not trained" or "failed: <reason>"
    analysis: dict[str, Any] | None
    training: TrainingInfo | None
    source: str = "workdir"  # or "kept": read from kept decodes, not decoded here


def _restart_note(t: TrainingInfo) -> str:
    """`` (1 resume)``, `` (1 restart from step 0)``, both, or nothing."""
    parts = []
    resumes = t.restarts - t.from_scratch
    if resumes:
        parts.append(f"{resumes} resume{'s' if resumes > 1 else ''}")
    if t.from_scratch:
        parts.append(f"{t.from_scratch} restart{'s' if t.from_scratch > 1 else ''} "
                     "from step 0")
    return f" ({', '.join(parts)})" if parts else ""


def note_hardware(directory: Path, description: str) -> None:
    """Append ``description`` to the workdir's ``hardware.txt`` unless already there."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / HARDWARE_FILE
    lines = path.read_text().splitlines() if path.exists() else []
    if description not in lines:
        write_atomic(path, "\n".join([*lines, description]) + "\n")


def training_info(directory: Path) -> TrainingInfo:
    """Steps, wall time, best dev score and hardware of a workdir's training."""
    config = config_lib.from_json((directory / CONFIG_FILE).read_text()) if (
        directory / CONFIG_FILE).exists() else None
    log_every = int(config.train.log_every) if config else 1
    metric = str(config.train.metric) if config else ""
    lower = config_lib.METRICS.get(metric) == "min"
    rows = []
    path = directory / "metrics.jsonl"
    if path.exists():
        rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    train = [r for r in rows if r.get("split") == "train"]
    seconds = 0.0
    restarts, from_scratch, last = 0, 0, 0
    previous: dict[str, Any] | None = None  # the last train record of the same process
    for r in train:
        step = int(r["step"])
        restarted = step <= last
        restarts += restarted
        from_scratch += step <= min(last, log_every)  # back to the first logging window
        last = step
        if previous is not None and not restarted and "time" in r and "time" in previous:
            seconds += max(float(r["time"]) - float(previous["time"]), 0.0)
        else:
            steps_in_window = step - ((step - 1) // log_every) * log_every
            seconds += steps_in_window / max(float(r.get("steps_per_s") or 0), 1e-9)
        previous = r
    dev = [r for r in rows if r.get("split") == "dev" and r.get(metric) is not None]
    best = (min if lower else max)(dev, key=lambda r: r[metric]) if dev else None
    hw_path = directory / HARDWARE_FILE
    hw_lines = hw_path.read_text().splitlines() if hw_path.exists() else []
    hardware = tuple(x for x in hw_lines if x.strip())
    return TrainingInfo(
        steps=max((int(r["step"]) for r in train), default=0),
        num_steps=int(config.train.num_steps) if config else 0,
        seconds=seconds if train else None, restarts=restarts, from_scratch=from_scratch,
        dev_metric=metric,
        best_dev=None if best is None else float(best[metric]),
        best_step=None if best is None else int(best["step"]), hardware=hardware)


# ---------------------------------------------------------------- formatting


def duration(seconds: float | None) -> str:
    """``3 h 05 min``, ``11 min 28 s``, ``43 s``."""
    if seconds is None or not math.isfinite(seconds):
        return MISSING
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"


def number(x: Any, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return MISSING
    if isinstance(x, int) and not isinstance(x, bool):
        return f"{x:,}"
    return f"{float(x):.{digits}f}"


def bucket_label(b: dict[str, Any]) -> str:
    """``≤4``, ``7``, ``11-12``, ``14+``."""
    if b["hi"] is None:
        return f"{b['lo']}+"
    if b["lo"] == 0:
        return f"≤{b['hi']}"
    return str(b["lo"]) if b["lo"] == b["hi"] else f"{b['lo']}-{b['hi']}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]],
          right: Sequence[bool] | None = None) -> list[str]:
    right = right or [False] * len(header)
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    return out + ["| " + " | ".join(row) + " |" for row in rows]


# ---------------------------------------------------------------- the fragment


def _scored(a: dict[str, Any]) -> str:
    """The checkpoint a decode used: ``best 9,000``, ``mean of 3 checkpoints
    (9,000–10,000)``, or an ensemble's members ``rnn best 10,000; bahdanau best 8,000``
    (averaged members: ``rnn mean of 3 (9,000–10,000)``)."""
    key = a.get("key") or {}
    members = key.get("members")
    if members:  # [workdir, which, step, averaged steps] per member
        return "; ".join(f"{Path(d).name} mean of {len(avg)} ({avg[0]:,}–{avg[-1]:,})" if avg
                         else f"{Path(d).name} {w} {s:,}" for d, w, s, avg in members)
    averaged = key.get("averaged")
    if averaged:
        return f"mean of {len(averaged)} checkpoints ({averaged[0]:,}–{averaged[-1]:,})"
    return f"{a['checkpoint']} {a['step']:,}"


def _model_rows(exp: Experiment, rows: Sequence[ModelResult]) -> list[list[str]]:
    out = []
    for r in rows:
        a, t = r.analysis, r.training
        if a is None or t is None:
            out.append([r.model, f"`{r.config_arg}`", r.status]
                       + [""] * (8 + len(exp.columns)))
            continue
        steps = f"{t.steps:,} / {t.num_steps:,}" if t.num_steps else f"{t.steps:,}"
        steps += _restart_note(t)
        dev = (f"{number(t.best_dev)} ({t.best_step:,})" if t.best_dev is not None
               and t.best_step is not None else MISSING)
        metrics = a.get("metrics") or {}
        out.append([r.model, f"`{r.config_arg}`", number(a.get("params")), steps,
                    duration(t.seconds), "; ".join(t.hardware) or "not recorded",
                    f"{t.dev_metric} {dev}", _scored(a),
                    *(number(metrics.get(key)) for key, _ in exp.columns),
                    f"{a['examples']:,}",
                    a["decode"] + (" (kept records)" if r.source == "kept" else ""),
                    f"{duration(a.get('decode_seconds'))} on {a.get('hardware', '?')}"])
    return out


def _length_rows(key: str, rows: Sequence[ModelResult]) -> tuple[list[str],
                                                                 list[list[str]]]:
    done = [r for r in rows if r.analysis is not None]
    first = done[0].analysis if done else None
    if first is None:
        return [], []
    header = [first["unit"], "examples", *(r.model for r in rows)]
    lines = []
    for k, b in enumerate(first["by_length"]):
        cells = [bucket_label(b), f"{b['n']:,}"]
        for r in rows:
            buckets = (r.analysis or {}).get("by_length") or []
            value = buckets[k].get(key) if k < len(buckets) else None
            if r.analysis is not None and buckets[k]["n"] != b["n"]:
                cells.append(f"{number(value)} (n={buckets[k]['n']})")
            else:
                cells.append(number(value) if r.analysis is not None else MISSING)
        lines.append(cells)
    return header, lines


def _signatures(rows: Sequence[ModelResult]) -> list[str]:
    found: dict[str, str] = {}
    for r in rows:
        for k, v in ((r.analysis or {}).get("metrics") or {}).items():
            if k.endswith("signature") and v:
                found.setdefault(k, v)
    return [f"- `{k}`: `{v}`" for k, v in sorted(found.items())]


def summary_markdown(exp: Experiment, rows: Sequence[ModelResult], command: str) -> str:
    """One row per model: training facts, test metrics, decoding; sacreBLEU signatures."""
    decodes = sorted({r.analysis["decode"] for r in rows if r.analysis})
    lines = [f"<!-- Generated by `{command}`; regenerate rather than edit. -->", "",
             f"**{exp.title}**: split `{exp.split}`, decoding "
             f"{', '.join(decodes) or 'as configured'}. Regenerate with `{command}` "
             "(`--train` first trains or resumes each model).", ""]
    metric_headers = [h for _, h in exp.columns]
    lines += table(["model", "config", "params", "steps trained", "training wall time",
                    "training hardware", "best dev (step)", "checkpoint scored",
                    *metric_headers, "test examples", "decode", "decode wall time"],
                   _model_rows(exp, rows),
                   [False, False, True, True, True, False, False, False,
                    *([True] * len(metric_headers)), True, False, False])
    lines += ["", "Training wall time: the logged training windows of `metrics.jsonl` summed "
              "(compilation and evaluations included). Decode wall time: the whole test split "
              "(compilation included). Train a model with `seq2seq-jax train --config "
              "CONFIG --workdir WORKDIR` (plus `--config.data.manual_dir=...` for data read from "
              "files), or with `--train` above."]
    signatures = _signatures(rows)
    if signatures:
        lines += ["", "sacreBLEU signatures:", "", *signatures]
    return "\n".join(lines).rstrip() + "\n"


def length_markdown(exp: Experiment, rows: Sequence[ModelResult], figures: Sequence[Path],
                    link_dir: Path) -> str:
    """The by-length tables (with example counts), the figure and the attention heatmaps.

    Args:
      exp, rows: the experiment and one result per model.
      figures: PNGs to show, the by-length figure first; missing files are skipped.
      link_dir: the folder of the markdown file this goes in (links are relative to it).
    """
    lines: list[str] = []
    for key, label in exp.by_length:
        header, length_rows = _length_rows(key, rows)
        lines += ["", f"**{label} by source length** ({exp.title})", ""]
        if length_rows:
            lines += table(header, length_rows, [False] + [True] * (len(header) - 1))
        else:
            lines.append("Not yet measured: no model of this experiment is trained.")
    links = [Path(os.path.relpath(p, link_dir)).as_posix() for p in figures if p.exists()]
    if links:
        lines += ["", f"![{exp.name}: quality by source length]({links[0]})", ""]
        lines += [f"![{exp.name}: attention]({p})" for p in links[1:]]
    return "\n".join(lines).strip() + "\n"


def replace_section(document: str, name: str, body: str) -> str | None:
    """``document`` with the text between ``BEGIN name`` and ``END name`` markers
    replaced by ``body``; None when the markers are missing."""
    begin, end = BEGIN.format(name), END.format(name)
    i, j = document.find(begin), document.find(end)
    if i < 0 or j < i:
        return None
    return document[:i + len(begin)] + "\n" + body + document[j:]
