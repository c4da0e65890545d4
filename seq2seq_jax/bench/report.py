"""The benchmark's report: tables, crossover lengths, goal checks and plots.

Reads the rows ``bench.run_sweep`` measured (dicts with the ``results.csv``
columns) and writes ``report.md`` and PNG plots. Time per token is
``median_ms / (batch * length)`` for forward and train steps and
``median_ms / batch`` for decoding (already per step).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from seq2seq_jax.bench import variants as bv

GOAL_BATCH = 64
GOAL_LENGTHS = (16, 64, 256)
GOAL_D_IN, GOAL_HIDDEN = 256, 512
PROJECT_LSTMS = ("lstm", "lstm_hoist", "lstm_unroll4", "lstm_hoist_unroll4")
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


class Ratio(NamedTuple):
    """Throughput of ours over a peer (= the peer's time / ours) at one point."""

    median: float  # from the median times (the verdict)
    min: float  # from the fastest samples (less disturbed by a loaded machine)
    ours: str  # the fastest of ours there
    peer: str  # the fastest peer there


def _fastest_min(idx: dict, names: Sequence[str], b: int, t: int, mode: str) -> float:
    return min(float(idx[(n, b, t, mode)]["min_ms"]) for n in names if (n, b, t, mode) in idx)


def _ratio(idx: dict, ours: Sequence[str], peers: Sequence[str], b: int, t: int,
           mode: str) -> Ratio | None:
    mine, other = _best(idx, ours, b, t, mode), _best(idx, peers, b, t, mode)
    if mine is None or other is None:
        return None
    return Ratio(float(other["median_ms"]) / float(mine["median_ms"]),
                 _fastest_min(idx, peers, b, t, mode) / _fastest_min(idx, ours, b, t, mode),
                 mine["variant"], other["variant"])


def _cell(r: Ratio | None, target: float = 1.0) -> str:
    """``1.23× (min 1.10×; ours vs peer)``; bold when the median ratio misses."""
    if r is None:
        return "not measured"
    text = f"{r.median:.2f}×"
    if r.median < target:
        text = f"**{text}**"
    return f"{text} (min {r.min:.2f}×; `{r.ours}` vs `{r.peer}`)"


def _verdict(values: Sequence[float | None], target: float) -> str:
    got = [v for v in values if v is not None]
    if not got:
        return "not measured"
    missed = sum(v < target for v in got)
    where = "" if len(got) == len(values) else f" ({len(values) - len(got)} not measured)"
    return ("met" if not missed else f"**missed** at {missed} of {len(got)}") + where


OURS = (("project LSTM, defaults (`lstm`)", ("lstm",)),
        ("project LSTM, best of hoist × unroll", PROJECT_LSTMS),
        ("project LSTM, `impl=\"fused\"` (`lstm_fused`)", ("lstm_fused",)))
TORCH_LSTMS = ("torch_lstm", "torch_lstm_1thread")
TORCH_TRANSFORMERS = ("torch_transformer", "torch_transformer_1thread")


def _goal_row(goal: str, ratios: Sequence[Ratio | None], target: float = 1.0) -> str:
    cells = " | ".join(_cell(r, target) for r in ratios)
    verdict = _verdict([None if r is None else r.median for r in ratios], target)
    return f"| {goal} | {cells} | {verdict} |"


def goal_checks(rows: Sequence[Row]) -> list[str]:
    """The issue's goals at B = 64, I = 256, H = 512, T in {16, 64, 256}: throughput
    ratios (the peer's median time over ours; the faster PyTorch thread setting where
    both ran), checked, not asserted; the verdict is on the median ratio."""
    idx = _index(rows)
    b, ts = GOAL_BATCH, GOAL_LENGTHS
    head = "| goal | " + " | ".join(f"T = {t}" for t in ts) + " | verdict |"
    lines = [head, "|---|" + "---|" * (len(ts) + 1)]
    for mode in ("train step", "forward"):
        for label, ours in OURS:
            lines.append(_goal_row(f"{label}, {mode}: ≥ 1.0× torch.nn.LSTM", [
                _ratio(idx, ours, TORCH_LSTMS, b, t, mode) for t in ts]))
    for name in PROJECT_TRANSFORMERS:
        lines.append(_goal_row(f"`{name}`, train step: ≥ 1.0× torch TransformerEncoderLayer", [
            _ratio(idx, (name,), TORCH_TRANSFORMERS, b, t, "train step") for t in ts]))
    for label, ours in OURS:
        cells, fracs = [], []
        for t in ts:
            best = _best(idx, ours, b, t, "train step")
            frac = None if best is None else float(best["frac_matmul_peak"])
            fracs.append(frac)
            cells.append("not measured" if best is None else
                         f"{'**' * (frac is not None and frac < 0.7)}{_fmt(frac, 2)}"
                         f"{'**' * (frac is not None and frac < 0.7)} (`{best['variant']}`)")
        lines.append(f"| {label}, train step: ≥ 0.70 of the measured matmul peak | "
                     f"{' | '.join(cells)} | {_verdict(fracs, 0.70)} |")
    lines += ["", "Against flax `nn.RNN(nn.OptimizedLSTMCell)` at every batch, length and "
              "mode measured (goal ≥ 1.0× everywhere):", "",
              "| ours | points | at ≥ 1.0× | worst ratio | where | verdict |",
              "|---|---:|---:|---|---|---|"]
    points = sorted({(r["batch"], r["length"], r["mode"]) for r in rows
                     if r["variant"] == "flax_lstm" and r["mode"] != "decode per token"})
    for label, ours in OURS:
        got = [(r, p) for p in points if (r := _ratio(idx, ours, ("flax_lstm",), *p))]
        if not got:
            lines.append(f"| {label} | 0 | – | – | – | not measured |")
            continue
        worst = min(got, key=lambda g: g[0].median)
        ok = sum(r.median >= 1.0 for r, _ in got)
        lines.append(f"| {label} | {len(got)} | {ok} | {_cell(worst[0])} | "
                     "B={} T={} {} | ".format(*worst[1])
                     + _verdict([r.median for r, _ in got], 1.0) + " |")
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
    per variant (one colour each in every plot; peers dashed). Returns the file names."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [v.name for v in bv.VARIANTS]
    cmap = plt.get_cmap("tab20")
    written = []
    batches = _sorted(r["batch"] for r in rows)
    lengths = _sorted(r["length"] for r in rows)
    for what, ylabel in (("time", "µs per token"), ("memory", "peak bytes (XLA buffers)")):
        for mode in [m for m in MODE_SHORT if any(r["mode"] == m for r in rows)]:
            if what == "memory" and mode == "decode per token":
                continue
            fig, axes = plt.subplots(1, len(batches), figsize=(3.6 * len(batches) + 1.8, 3.4),
                                     squeeze=False, sharey=True)
            for ax, b in zip(axes[0], batches, strict=True):
                sub = [r for r in rows if r["mode"] == mode and r["batch"] == b]
                for name in dict.fromkeys(r["variant"] for r in sub):
                    pts = _points(sub, name, what)
                    k = names.index(name) if name in names else len(names)
                    if pts:
                        ax.plot(*zip(*pts, strict=True), marker="o", ms=3, lw=1.2,
                                color=cmap(k % 20), label=name,
                                ls="--" if name.startswith(("torch", "flax", "cudnn")) else "-")
                ax.set(xscale="log", yscale="log", xlabel="length T", title=f"{mode}, B={b}")
                ax.set_xticks(lengths[::2], [str(t) for t in lengths[::2]])
                ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
                ax.grid(True, which="both", alpha=0.3)
            axes[0][0].set_ylabel(ylabel)
            handles = {h.get_label(): h for ax in axes[0] for h in ax.get_lines()}
            fig.legend(handles.values(), handles.keys(), loc="center right", fontsize=7)
            fig.tight_layout(rect=(0, 0, 1 - 1.7 / fig.get_figwidth(), 1))
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
        f"- command: `{env.get('command') or 'seq2seq-jax bench ' + ' '.join(env['argv'])}`",
        f"- wall time {env.get('wall_s')} s; float32 matmul peak measured before each length "
        f"and at the end: {peaks} GFLOP/s; `frac_matmul_peak` divides by the largest",
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


def write_csv(path: Path, rows: list[dict], columns: Sequence[str]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(columns))
        w.writeheader()
        w.writerows(rows)


def read_csv(path: Path) -> list[dict]:
    """Rows of a csv this module wrote, numbers parsed back."""
    def parse(v: str) -> Any:
        for cast in (int, float):
            try:
                return cast(v)
            except ValueError:
                pass
        return v

    with path.open() as f:
        return [{k: parse(v) for k, v in r.items()} for r in csv.DictReader(f)]


def rewrite_report(out: Path) -> int:
    """Rewrite ``report.md`` and the plots from the csv files and env.json in ``out``."""
    env = json.loads((out / "env.json").read_text())
    write_report(out, read_csv(out / "results.csv"), read_csv(out / "skipped.csv"), env)
    return 0
