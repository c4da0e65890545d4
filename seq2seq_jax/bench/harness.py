"""Timing harness: the sequential scan against parallel self-attention.

``bench_main(["--quick", "--out", DIR])`` (``seq2seq-jax bench``, ``scripts/bench.py``)
sweeps batch x length x mode over the variants of ``bench_variants`` and writes
``results.csv``, ``skipped.csv``, ``env.json``, ``report.md`` and plots into DIR.

Method. Every JAX function is jitted and compiled ahead (``lower().compile()``, which
is the ``compile_s`` column and gives ``memory_analysis()``, the ``peak_mem_bytes``
column: argument + output + temp bytes, less aliased). All variants of one cell
(batch, length, mode) are prepared together, each called once to warm up, then
sampled round-robin, every call ending in ``block_until_ready``, so that the load
of a shared machine drifts over all of them alike; the median and min of the
samples are kept; PyTorch peers are sampled after the XLA group, in their own group
(a PyTorch call right after an XLA call stalls on a loaded machine). The matmul peak
(an N^3 float32 matmul, fastest of 9 calls) is measured before every length and at
the end; ``frac_matmul_peak`` divides by the largest. Time budget: a variant whose
time at the previous length, scaled to this one, exceeds ``--max-call-s`` is skipped
at this and every longer length of its (batch, mode) -- except at the goal points
(``bench_report.GOAL_*``) -- and the whole sweep stops measuring after
``--max-total-s``; skips go to ``skipped.csv``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from seq2seq_jax.bench import report as bench_report
from seq2seq_jax.bench import variants as bv
from seq2seq_jax.training import host

COLUMNS = ("variant", "device", "dtype", "batch", "length", "width", "mode", "median_ms",
           "min_ms", "samples", "tokens_per_s", "model_flops", "frac_matmul_peak",
           "compile_s", "peak_mem_bytes")
SKIP_COLUMNS = ("variant", "batch", "length", "mode", "reason")


class Sweep(NamedTuple):
    """What to measure; ``quick()`` and ``full()`` are the two presets."""

    variants: tuple[str, ...]
    batches: tuple[int, ...]
    lengths: tuple[int, ...]
    modes: tuple[str, ...]
    d_in: int = 256  # I
    hidden: int = 512  # H, and the Transformer's D
    heads: int = 8
    dtype: str = "float32"
    samples: int = 7
    max_call_s: float = 1.0  # predicted seconds a call above which longer lengths are skipped
    hard_call_s: float = 15.0  # a warm-up call slower than this is not sampled, goal or not
    max_total_s: float = 4500.0
    peak_n: int = 2048  # the peak matmul is [N, N] @ [N, N]


def full() -> Sweep:
    return Sweep(tuple(v.name for v in bv.VARIANTS if not v.extra), (1, 8, 64),
                 tuple(2**k for k in range(4, 12)), bv.MODES)


QUICK_VARIANTS = ("lstm", "lstm_hoist", "lstm_unroll4", "gru", "transformer_einsum",
                  "transformer_dpa", "flax_lstm", "torch_lstm", "torch_transformer",
                  "cudnn_lstm", "mingru_assoc_scan", "lstm_fused")


def quick() -> Sweep:
    return Sweep(QUICK_VARIANTS, (8,), (16, 64), bv.MODES, d_in=64, hidden=128, heads=4,
                 max_call_s=0.5, hard_call_s=5.0, max_total_s=120.0, peak_n=1024)


class Prepared(NamedTuple):
    run: Callable[[], Any]  # one call, finished when it returns
    compile_s: float | None  # None: not compiled (PyTorch eager)
    mem_bytes: int | None
    group: str  # variants are sampled round-robin within a group, groups one by one
    setup: Callable[[], None]  # run before the group's calls (PyTorch: its thread count)


def platform_name() -> str:
    return jax.devices()[0].platform


def device_name() -> str:
    """The accelerator's kind, or the CPU's model name and the cores this process may use."""
    dev = jax.devices()[0]
    if dev.platform != "cpu":
        return str(dev.device_kind)
    return f"cpu: {host.cpu_model()} x{host.usable_cores()}"


def prepare(job: bv.Job) -> Prepared:
    """Compile a JAX job ahead of time (timed) or wrap a PyTorch closure."""
    if isinstance(job, bv.TorchJob):
        return Prepared(job.run, None, None, f"torch:{job.threads}", job.setup)
    t0 = time.perf_counter()
    compiled = jax.jit(job.fn).lower(*job.args).compile()
    compile_s = time.perf_counter() - t0
    mem = None
    analysis = compiled.memory_analysis()
    if analysis is not None:
        mem = int(analysis.argument_size_in_bytes + analysis.output_size_in_bytes
                  + analysis.temp_size_in_bytes - analysis.alias_size_in_bytes)
    args = job.args
    return Prepared(lambda: jax.block_until_ready(compiled(*args)), compile_s, mem, "xla",
                    lambda: None)


def time_call(run: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def matmul_peak(n: int, samples: int = 9) -> float:
    """FLOP/s of a float32 ``[n, n] @ [n, n]`` from the fastest of ``samples`` calls after a
    warm-up: a peak, so the least disturbed call, where the models get their median."""
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    p = prepare(bv.JaxJob(lambda a, b: a @ b, (a, a)))
    p.run()
    return 2.0 * n**3 / min(time_call(p.run) for _ in range(samples))


class Cell(NamedTuple):
    batch: int
    length: int
    mode: str


def measure_cell(variants: Sequence[bv.Variant], cell: Cell, sw: Sweep,
                 device: str) -> tuple[list[dict], list[dict]]:
    """Prepare, warm up and sample (round-robin) every variant at one cell.

    Returns:
      result rows (``frac_matmul_peak`` still empty) and skip rows (a variant whose
      build, compile or warm-up failed).
    """
    shape = bv.Shape(cell.batch, cell.length, sw.d_in, sw.hidden, sw.heads, sw.dtype)
    prepared: dict[str, Prepared] = {}
    skips: list[dict] = []
    for v in variants:
        try:
            p = prepare(v.make(shape, cell.mode))
            p.setup()
            warm = time_call(p.run)
        except Exception as e:  # a peer that cannot run this shape must not stop the sweep
            skips.append(skip_row(v.name, cell, f"failed: {type(e).__name__}: {e}"[:300]))
            continue
        if warm > sw.hard_call_s:
            skips.append(skip_row(v.name, cell, f"warm-up call took {warm:.1f} s > "
                                  f"{sw.hard_call_s} s"))
            continue
        prepared[v.name] = p
    times: dict[str, list[float]] = {name: [] for name in prepared}
    # Round-robin within a group (XLA, PyTorch at each thread count), groups one after
    # the other: a PyTorch call right after an XLA call, or after one at another
    # thread count, stalls for up to hundreds of ms on a loaded 2-core machine.
    for i, group in enumerate(dict.fromkeys(p.group for p in prepared.values())):
        members = {n: p for n, p in prepared.items() if p.group == group}
        for p in members.values():
            p.setup()
            if i:
                p.run()  # warm up again, right before this group's samples
        for _ in range(sw.samples):
            for name, p in members.items():
                times[name].append(time_call(p.run))
    bv.reset_threads()
    rows = []
    for v in variants:
        if v.name not in prepared:
            continue
        steps = bv.decode_steps(v, shape) if cell.mode == bv.DECODE else 1  # per token
        med, best = statistics.median(times[v.name]) / steps, min(times[v.name]) / steps
        flops = bv.model_flops(v, shape, cell.mode)
        tokens = cell.batch * (1 if cell.mode == bv.DECODE else cell.length)
        p = prepared[v.name]
        rows.append({
            "variant": v.name, "device": device, "dtype": sw.dtype, "batch": cell.batch,
            "length": cell.length, "width": sw.hidden, "mode": cell.mode,
            "median_ms": round(med * 1e3, 4), "min_ms": round(best * 1e3, 4),
            "samples": sw.samples, "tokens_per_s": round(tokens / med, 1),
            "model_flops": int(flops), "frac_matmul_peak": "",
            "compile_s": "" if p.compile_s is None else round(p.compile_s, 3),
            "peak_mem_bytes": "" if p.mem_bytes is None else p.mem_bytes})
    return rows, skips


def skip_row(name: str, cell: Cell, reason: str) -> dict:
    return {"variant": name, "batch": cell.batch, "length": cell.length, "mode": cell.mode,
            "reason": reason}


def run_sweep(sw: Sweep, log: Callable[[str], None] = print) -> tuple[list[dict], list[dict],
                                                                       list[float]]:
    """Measure the sweep; lengths ascend in the outer loop so the budget cuts the longest.

    Returns:
      result rows, skip rows, and the matmul peaks measured (FLOP/s) before every
      length and at the end: on a shared machine one measurement can catch a busy
      moment, so ``frac_matmul_peak`` divides by the largest.
    """
    plat, device = platform_name(), device_name()
    peaks: list[float] = []
    start = time.perf_counter()
    rows: list[dict] = []
    skips: list[dict] = []
    last: dict[tuple[str, int, str], tuple[int, float]] = {}  # -> (length, median seconds)
    stopped: dict[tuple[str, int, str], str] = {}
    variants = [bv.BY_NAME[n] for n in sw.variants]
    for length in sw.lengths:
        peaks.append(matmul_peak(sw.peak_n))
        log(f"matmul peak {peaks[-1] / 1e9:.1f} GFLOP/s on {device}")
        for batch in sw.batches:
            for mode in sw.modes:
                cell = Cell(batch, length, mode)
                todo = []
                for v in variants:
                    reason = why_skip(v, cell, sw, plat, last, stopped, start)
                    if reason:
                        skips.append(skip_row(v.name, cell, reason))
                    elif mode in v.modes:
                        todo.append(v)
                if not todo:
                    continue
                got, failed = measure_cell(todo, cell, sw, device)
                rows += got
                skips += failed
                for r in got:
                    last[(r["variant"], batch, mode)] = (length, r["median_ms"] / 1e3)
                log(f"B={batch} T={length} {mode}: " + ", ".join(
                    f"{r['variant']} {r['median_ms']:.2f}ms" for r in got))
    peaks.append(matmul_peak(sw.peak_n))
    log(f"matmul peak at the end {peaks[-1] / 1e9:.1f} GFLOP/s")
    for r in rows:
        r["frac_matmul_peak"] = round(r["model_flops"] / (r["median_ms"] / 1e3) / max(peaks), 4)
    return rows, skips, peaks


def why_skip(v: bv.Variant, cell: Cell, sw: Sweep, plat: str,
             last: dict[tuple[str, int, str], tuple[int, float]],
             stopped: dict[tuple[str, int, str], str], start: float) -> str | None:
    """The reason ``v`` is not measured at ``cell``, or None. Modes a variant lacks
    are not skips."""
    if cell.mode not in v.modes:
        return None
    reason = v.needs(plat)
    if reason:
        return reason
    key = (v.name, cell.batch, cell.mode)
    is_goal = v.goal and cell.mode != bv.DECODE and bench_report.is_goal_point(
        cell.batch, cell.length, sw.d_in, sw.hidden)
    if time.perf_counter() - start > sw.max_total_s and not is_goal:
        return f"sweep time budget {sw.max_total_s:.0f} s spent"
    if key in stopped and not is_goal:
        return stopped[key]
    if key in last:
        prev_len, prev_s = last[key]
        scale = 1.0 if cell.mode == bv.DECODE and v.family != "transformer" else \
            cell.length / prev_len
        predicted = prev_s * scale
        if predicted > sw.max_call_s and not is_goal:
            stopped[key] = (f"over the time budget: {prev_s:.2f} s at T={prev_len} predicts "
                            f"{predicted:.2f} s a call > {sw.max_call_s} s")
            return stopped[key]
    return None


def env_info(sw: Sweep, peaks: list[float], wall_s: float, argv: Sequence[str]) -> dict:
    """Device, library versions and the thread settings the numbers depend on."""
    info: dict[str, Any] = {
        "device": device_name(), "platform": platform_name(), "cpu_count": os.cpu_count(),
        "usable_cores": host.usable_cores(),
        "python": sys.version.split()[0],
        "versions": host.library_versions(("jax", "jaxlib", "flax", "numpy", "torch",
                                           "seq2seq_jax")),
        "env": {k: os.environ.get(k, "") for k in ("XLA_FLAGS", "OMP_NUM_THREADS",
                                                   "OMP_WAIT_POLICY", "MKL_NUM_THREADS",
                                                   "JAX_PLATFORMS")},
        "loadavg_at_end": os.getloadavg(), "matmul_peak_gflops": [p / 1e9 for p in peaks],
        "wall_s": round(wall_s, 1), "argv": list(argv), "sweep": sw._asdict()}
    try:
        import torch
        info["torch_num_threads"] = torch.get_num_threads()
        info["torch_num_interop_threads"] = torch.get_num_interop_threads()
    except ImportError:
        pass
    stats = jax.devices()[0].memory_stats()
    if stats:  # GPU: a process-wide high-water mark, so it is kept here, not per row
        info["device_peak_bytes_in_use"] = stats.get("peak_bytes_in_use")
    return info


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, Sweep]:
    p = argparse.ArgumentParser(prog="seq2seq-jax bench", description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--quick", action="store_true", help="tiny subset (< 3 min on 2 CPU cores)")
    p.add_argument("--variants", help="comma-separated variant names (default: all)")
    p.add_argument("--batches", help="comma-separated, e.g. 1,8,64")
    p.add_argument("--lengths", help="comma-separated, e.g. 16,64,256")
    p.add_argument("--modes", help="comma-separated of: " + ", ".join(bv.MODES))
    for name, typ in (("d-in", int), ("hidden", int), ("heads", int), ("samples", int),
                      ("max-call-s", float), ("hard-call-s", float), ("max-total-s", float),
                      ("peak-n", int)):
        p.add_argument(f"--{name}", type=typ)
    p.add_argument("--dtype", choices=("float32", "bfloat16"))
    p.add_argument("--no-plots", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--report-only", action="store_true",
                   help="rewrite report.md and the plots from DIR's csv and env.json")
    args = p.parse_args(argv)
    sw = quick() if args.quick else full()
    over: dict[str, Any] = {}
    if args.variants:
        unknown = set(args.variants.split(",")) - set(bv.BY_NAME)
        if unknown:
            p.error(f"unknown variants {sorted(unknown)}; choose from {sorted(bv.BY_NAME)}")
        over["variants"] = tuple(args.variants.split(","))
    if args.modes:
        modes = tuple(m.strip() for m in args.modes.split(","))
        if set(modes) - set(bv.MODES):
            p.error(f"--modes: choose from {list(bv.MODES)}")
        over["modes"] = modes
    for name in ("batches", "lengths"):
        if getattr(args, name):
            over[name] = tuple(int(x) for x in getattr(args, name).split(","))
    for name in ("d_in", "hidden", "heads", "samples", "max_call_s", "hard_call_s",
                 "max_total_s", "peak_n", "dtype"):
        if getattr(args, name) is not None:
            over[name] = getattr(args, name)
    return args, sw._replace(**over)


def bench_main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its files.

    Args:
      argv: command-line arguments (``--out DIR`` required; see ``--help``).

    Returns:
      The exit status (0).
    """
    if argv and argv[0] == "--":  # ``seq2seq-jax bench -- --quick ...`` passes the separator on
        argv = argv[1:]
    args, sw = parse_args(argv)
    if args.report_only:
        return bench_report.rewrite_report(args.out)
    # PyTorch's OpenMP workers spin after each parallel region; on a loaded 2-core machine
    # that made torch.nn.LSTM 7x slower than with passive waits. It takes effect only if
    # torch was not imported yet; env.json records the setting and whether it was.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    torch_was_imported = "torch" in sys.modules
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows, skips, peaks = run_sweep(sw)
    wall = time.perf_counter() - t0
    bench_report.write_csv(out / "results.csv", rows, COLUMNS)
    bench_report.write_csv(out / "skipped.csv", skips, SKIP_COLUMNS)
    env = env_info(sw, peaks, wall, sys.argv[1:] if argv is None else argv)
    env["command"] = " ".join(sys.argv if argv is None else ["seq2seq-jax bench", *argv])
    env["torch_imported_before_omp_setting"] = torch_was_imported
    (out / "env.json").write_text(json.dumps(env, indent=2) + "\n")
    bench_report.write_report(out, rows, skips, env, plots=not args.no_plots)
    print(f"wrote {out} in {wall:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(bench_main())
