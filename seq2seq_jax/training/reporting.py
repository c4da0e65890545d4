"""What training shows and writes: a progress bar or log lines, JSON lines,
TensorBoard events, and a summary table."""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from seq2seq_jax.layout import METRICS_FILE, TENSORBOARD_DIR

log = logging.getLogger(__name__)



def summarize_window(window: Sequence[Mapping[str, Any]], seconds: float) -> dict[str, float]:
    """Token-weighted loss, accuracy and perplexity over the steps since the last log."""
    if not window:
        raise ValueError("summarize_window needs at least one step's metrics")
    tokens = float(sum(np.asarray(m["tokens"]) for m in window))
    nll = float(sum(np.asarray(m["nll_sum"]) for m in window))
    correct = float(sum(np.asarray(m["correct"]) for m in window))
    n = max(len(window), 1)
    mean_nll = nll / max(tokens, 1.0)
    return {
        "loss": float(np.mean([np.asarray(m["loss"]) for m in window])),
        "nll": mean_nll,
        "perplexity": math.exp(min(mean_nll, 50.0)),
        "token_accuracy": correct / max(tokens, 1.0),
        "grad_norm": float(np.mean([np.asarray(m["grad_norm"]) for m in window])),
        "param_norm": float(np.asarray(window[-1]["param_norm"])),
        "update_norm": float(np.mean([np.asarray(m["update_norm"]) for m in window])),
        "tokens_per_s": tokens / max(seconds, 1e-9),
        "steps_per_s": n / max(seconds, 1e-9),
    }


def format_metrics(metrics: Mapping[str, Any]) -> str:
    parts = []
    for k, v in metrics.items():
        if isinstance(v, bool | np.bool_):
            continue
        if isinstance(v, float | np.floating):
            parts.append(f"{k} {float(v):.4g}")
        elif isinstance(v, int | np.integer):
            parts.append(f"{k} {int(v)}")
    return "  ".join(parts)


class MetricWriter:
    """JSON lines (``metrics.jsonl``) and TensorBoard event files in the workdir.

    ``enabled=False`` writes nothing: in a multi-process run only process 0
    writes, so the processes do not append the same lines to one file.
    """

    def __init__(self, workdir: str | Path, enabled: bool = True):
        self.path = Path(workdir) / METRICS_FILE
        self._file: Any = None
        self._tb: Any = None
        if not enabled:
            return
        self._file = self.path.open("a")
        try:
            from tensorboardX import SummaryWriter
            self._tb = SummaryWriter(str(Path(workdir) / TENSORBOARD_DIR))
        except ImportError:  # pragma: no cover - tensorboardX is a dependency
            self._tb = None

    def write(self, step: int, metrics: Mapping[str, Any], prefix: str) -> None:
        if self._file is None:
            return
        record = {"step": step, "split": prefix, "time": time.time(), **metrics}
        self._file.write(json.dumps(record, default=float) + "\n")
        self._file.flush()
        if self._tb is not None:
            for k, v in metrics.items():
                if isinstance(v, int | float | np.number) and not isinstance(v, bool):
                    self._tb.add_scalar(f"{prefix}/{k}", float(v), step)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._tb is not None:
            self._tb.close()


class Progress:
    """A tqdm bar on a terminal; plain log lines otherwise."""

    def __init__(self, start: int, total: int):
        self.tty = sys.stderr.isatty()
        self.bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True,
                        disable=not self.tty)

    def update(self, step: int, metrics: Mapping[str, float]) -> None:
        if self.tty:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix(loss=f"{metrics['loss']:.3f}",
                                 tok_s=f"{metrics['tokens_per_s']:.0f}")
        else:
            print(f"step {step}: " + format_metrics(
                {k: metrics[k] for k in ("loss", "perplexity", "token_accuracy", "grad_norm",
                                         "learning_rate", "tokens_per_s") if k in metrics}),
                  file=sys.stderr, flush=True)

    def message(self, text: str) -> None:
        if self.tty:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        self.bar.close()


def print_summary(summary: Mapping[str, Any]) -> None:
    """A two-column table of the run's final numbers, on stderr."""
    rows = [(k, f"{v:.4g}" if isinstance(v, float) else str(v)) for k, v in summary.items()]
    width = max((len(k) for k, _ in rows), default=0)
    print("\n".join(["", "summary", "-" * (width + 14)]
                    + [f"{k:<{width}}  {v}" for k, v in rows]), file=sys.stderr)
