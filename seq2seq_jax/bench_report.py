"""The benchmark's report: tables, crossover lengths, goal checks and plots.

Reads the rows ``bench.run_sweep`` measured (dicts with the ``results.csv``
columns) and writes ``report.md`` and PNG plots. Time per token is
``median_ms / (batch * length)`` for forward and train steps and
``median_ms / batch`` for decoding (already per step).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from seq2seq_jax import bench_variants as bv

GOAL_BATCH = 64
GOAL_LENGTHS = (16, 64, 256)
GOAL_D_IN, GOAL_HIDDEN = 256, 512
PROJECT_LSTMS = ("lstm", "lstm_hoist", "lstm_unroll8", "lstm_hoist_unroll8")
PROJECT_TRANSFORMERS = ("transformer_einsum", "transformer_dpa")
LSTMS = tuple(v.name for v in bv.VARIANTS if v.family == "lstm")
MODE_SHORT = {"forward": "forward", "train step": "train", "decode per token": "decode"}

Row = dict[str, Any]


def is_goal_point(batch: int, length: int, d_in: int, hidden: int) -> bool:
    return (batch == GOAL_BATCH and length in GOAL_LENGTHS and d_in == GOAL_D_IN
            and hidden == GOAL_HIDDEN)


def us_per_token(r: Row) -> float:
    tokens = r["batch"] * (1 if r["mode"] == "decode per token" else r["length"])
    return float(r["median_ms"]) * 1e3 / tokens


def _index(rows: Iterable[Row]) -> dict[tuple[str, int, int, str], Row]:
    return {(r["variant"], r["batch"], r["length"], r["mode"]): r for r in rows}


def _sorted(values: Iterable[Any]) -> list[Any]:
    return sorted(set(values))


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}g}"


def tables(rows: Sequence[Row]) -> list[str]:
    """One table per (mode, batch): µs per token, rows = length, columns = variants."""
    idx = _index(rows)
    lines: list[str] = []
    for mode in [m for m in MODE_SHORT if any(r["mode"] == m for r in rows)]:
        for b in _sorted(r["batch"] for r in rows if r["mode"] == mode):
            sub = [r for r in rows if r["mode"] == mode and r["batch"] == b]
            names = [n for n in dict.fromkeys(r["variant"] for r in sub)]
            lines += [f"### {mode}, batch {b}: µs per token (median; lower is better)", "",
                      "| T | " + " | ".join(names) + " |",
                      "|---:|" + "---:|" * len(names)]
            for t in _sorted(r["length"] for r in sub):
                cells = [_fmt(us_per_token(idx[(n, b, t, mode)])) if (n, b, t, mode) in idx
                         else "–" for n in names]
                lines.append(f"| {t} | " + " | ".join(cells) + " |")
            lines.append("")
    return lines


def _best(idx: dict, names: Iterable[str], b: int, t: int, mode: str) -> Row | None:
    got = [idx[(n, b, t, mode)] for n in names if (n, b, t, mode) in idx]
    return min(got, key=lambda r: float(r["median_ms"])) if got else None


def crossovers(rows: Sequence[Row]) -> list[str]:
    """Per batch and mode: the first length at which the better project Transformer
    layer is faster per token than the best LSTM measured there (any LSTM variant,
    peers included)."""
    idx = _index(rows)
    lines = ["| batch | mode | crossover length | lengths where the Transformer is faster |"
             " per-token ratio LSTM / Transformer at each T |", "|---:|---|---|---|---|"]
    for mode in ("forward", "train step"):
        for b in _sorted(r["batch"] for r in rows):
            faster, ratios = [], []
            for t in _sorted(r["length"] for r in rows if r["batch"] == b):
                tf = _best(idx, PROJECT_TRANSFORMERS, b, t, mode)
                ls = _best(idx, LSTMS, b, t, mode)
                if tf is None or ls is None:
                    continue
                ratio = float(ls["median_ms"]) / float(tf["median_ms"])
                ratios.append(f"{t}: {ratio:.2f} ({ls['variant']})")
                if ratio > 1.0:
                    faster.append(t)
            if not ratios:
                continue
            cross = f"T = {faster[0]}" if faster else "none in range"
            if faster and ratios[0].startswith(f"{faster[0]}:"):
                cross += " (already at the shortest length measured)"
            lines.append(f"| {b} | {mode} | {cross} | {', '.join(map(str, faster)) or '–'} | "
                         f"{'; '.join(ratios)} |")
    return lines


def _ratio(idx: dict, ours: Iterable[str], peer: str, b: int, t: int,
           mode: str) -> tuple[float | None, str]:
    """Throughput ratio ours / peer (= peer time / our time) and which of ours."""
    mine = _best(idx, ours, b, t, mode)
    other = idx.get((peer, b, t, mode))
    if mine is None or other is None:
        return None, ""
    return float(other["median_ms"]) / float(mine["median_ms"]), mine["variant"]


def _check(value: float | None, target: float) -> str:
    if value is None:
        return "not measured"
    return "met" if value >= target else "**missed**"


def goal_checks(rows: Sequence[Row]) -> list[str]:
    """The issue's goals at B = 64, I = 256, H = 512, T in {16, 64, 256}, as
    measured ratios; checked, not asserted."""
    idx = _index(rows)
    lines = ["| goal | T | measured | target | verdict |", "|---|---:|---:|---:|---|"]
    b = GOAL_BATCH
    project_sets = (("project LSTM (defaults: `lstm`)", ("lstm",)),
                    ("project LSTM (best of hoist/unroll)", PROJECT_LSTMS))
    for mode in ("train step", "forward"):
        for label, ours in project_sets:
            for t in GOAL_LENGTHS:
                r, who = _ratio(idx, ours, "torch_lstm", b, t, mode)
                lines.append(f"| {label} {mode} throughput / torch.nn.LSTM | {t} | "
                             f"{_fmt(r)}× {who} | ≥ 1.0× | {_check(r, 1.0)} |")
    for label, ours in project_sets:
        worst: tuple[float, str] | None = None
        for r0 in rows:
            if r0["variant"] != "flax_lstm":
                continue
            r, who = _ratio(idx, ours, "flax_lstm", r0["batch"], r0["length"], r0["mode"])
            if r is not None and (worst is None or r < worst[0]):
                worst = (r, f"B={r0['batch']} T={r0['length']} {r0['mode']}")
        value = None if worst is None else worst[0]
        where = "" if worst is None else f" (worst: {worst[1]})"
        lines.append(f"| {label} / flax OptimizedLSTMCell, every batch, length and mode | all | "
                     f"{_fmt(value)}×{where} | ≥ 1.0× | {_check(value, 1.0)} |")
    for label, ours in project_sets:
        for t in GOAL_LENGTHS:
            best = _best(idx, ours, b, t, "train step")
            frac = None if best is None else float(best["frac_matmul_peak"])
            lines.append(f"| {label} train step, fraction of measured matmul peak | {t} | "
                         f"{_fmt(frac)} | ≥ 0.70 | {_check(frac, 0.70)} |")
    for name in PROJECT_TRANSFORMERS:
        for t in GOAL_LENGTHS:
            r, _ = _ratio(idx, (name,), "torch_transformer", b, t, "train step")
            lines.append(f"| `{name}` train step throughput / torch TransformerEncoderLayer | "
                         f"{t} | {_fmt(r)}× | ≥ 1.0× | {_check(r, 1.0)} |")
    return lines


def skip_summary(skips: Sequence[Row]) -> list[str]:
    """The first reason per (variant, batch, mode) and the lengths it covers."""
    groups: dict[tuple[str, int, str], list[Row]] = {}
    for s in skips:
        groups.setdefault((s["variant"], s["batch"], s["mode"]), []).append(s)
    lines = ["| variant | batch | mode | lengths | reason |", "|---|---:|---|---|---|"]
    for (name, b, mode), group in sorted(groups.items()):
        lengths = ", ".join(str(s["length"]) for s in group)
        lines.append(f"| {name} | {b} | {mode} | {lengths} | {group[0]['reason']} |")
    return lines


def _points(sub: Sequence[Row], name: str, what: str) -> list[tuple[int, float]]:
    pts = []
    for r in sub:
        y = us_per_token(r) if what == "time" else r["peak_mem_bytes"]
        if r["variant"] == name and y not in ("", None):
            pts.append((r["length"], float(y)))
    return sorted(pts)


def plot(out: Path, rows: Sequence[Row]) -> list[str]:
    """Time per token and memory against length, log-log, a panel per batch, a line
    per variant. Returns the file names written."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    batches = _sorted(r["batch"] for r in rows)
    for what, ylabel in (("time", "µs per token"), ("memory", "peak bytes (XLA buffers)")):
        for mode in [m for m in MODE_SHORT if any(r["mode"] == m for r in rows)]:
            if what == "memory" and mode == "decode per token":
                continue
            fig, axes = plt.subplots(1, len(batches), figsize=(4.2 * len(batches), 3.6),
                                     squeeze=False, sharey=True)
            for ax, b in zip(axes[0], batches, strict=True):
                sub = [r for r in rows if r["mode"] == mode and r["batch"] == b]
                for name in dict.fromkeys(r["variant"] for r in sub):
                    pts = _points(sub, name, what)
                    if pts:
                        ax.plot(*zip(*pts, strict=True), marker="o", ms=3, lw=1.2,
                                ls="--" if name.startswith(("torch", "flax", "cudnn")) else "-",
                                label=name)
                ax.set(xscale="log", yscale="log", xlabel="length T", title=f"{mode}, B={b}")
                ax.grid(True, which="both", alpha=0.3)
            axes[0][0].set_ylabel(ylabel)
            axes[0][-1].legend(fontsize=6, loc="best")
            fig.tight_layout()
            name = f"{what}_{MODE_SHORT[mode]}.png"
            fig.savefig(out / name, dpi=80)
            plt.close(fig)
            written.append(name)
    return written


def write_report(out: Path, rows: Sequence[Row], skips: Sequence[Row], env: dict,
                 plots: bool = True) -> None:
    """Write ``report.md`` (and the plots unless ``plots`` is False) into ``out``."""
    pngs = plot(out, rows) if plots and rows else []
    peaks = ", ".join(f"{p:.1f}" for p in env.get("matmul_peak_gflops", []))
    lines = [
        "# Benchmark: sequential scan vs parallel self-attention", "",
        f"- device: {env.get('device')}; load average at the end {env.get('loadavg_at_end')}",
        f"- command: `seq2seq-jax bench {' '.join(env.get('argv', []))}`",
        f"- wall time {env.get('wall_s')} s; measured float32 matmul peak (start, end): "
        f"{peaks} GFLOP/s; `frac_matmul_peak` divides by the larger",
        f"- versions: {env.get('versions')}; torch threads {env.get('torch_num_threads')}; "
        f"XLA_FLAGS={env.get('env', {}).get('XLA_FLAGS')!r}",
        "- median of the samples; variants of one cell are sampled round-robin, so the load "
        "of a shared machine hits them alike: compare ratios within a run, not absolute times "
        "across runs", "",
        "## Goal checks (checked, not asserted)", "", *goal_checks(rows), "",
        "## Crossover: first length where the Transformer layer is faster per token", "",
        *crossovers(rows), "", "## Tables", "", *tables(rows),
        "## Plots", "", *[f"![{p}]({p})" for p in pngs], "",
        "## Skipped", "", *(skip_summary(skips) if skips else ["nothing skipped"]), ""]
    (out / "report.md").write_text("\n".join(lines))
