"""How long one real train step of an experiment's model takes, per dtype and batch.

Shapes: B batch, S = T sequence length (source and target), V the config's
vocabulary size (``data.vocab_size``).

For each batch size and compute dtype, the config's model (its ``model``
section, with ``--config.model.KEY=VALUE`` overrides, parsed as ``train`` parses
them) and the config's optimizer
(``train.make_optimizer``: clipping, Adam, its schedule) are built, the real
train step (``train.make_train_step``: loss with label smoothing, gradient,
update) is compiled ahead on random full-length rows ``[B, T]``, called once to
warm up, then timed ``repeats`` times, every call ending in
``block_until_ready``; the median is reported, with target tokens a second
(``B * T / median``). All variants of one batch size are sampled round-robin,
so the load of a shared machine falls on all of them alike.

A matmul probe separates the hardware from the model: ``[B*T, D] @ [D, V]`` (the
output projection's shape) in each dtype, accumulated in float32, fastest of
nine calls, in GFLOP/s.

    python scripts/bench_step.py --config configs/multi30k.py:transformer \\
        [--config.model.ff_dim=256] [--batch 64,256] [--length 24] \\
        [--dtype float32,bfloat16]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from seq2seq_jax import cli, models
from seq2seq_jax.bench import remat as bench_remat
from seq2seq_jax.errors import ConfigError

COMMAND = "python scripts/bench_step.py"


def compile_step(config: Any, model_section: dict[str, Any], dtype: str, batch: int,
                 length: int) -> Callable[[], None]:
    """The config's compiled train step in ``dtype`` on one random batch
    (``bench_remat.compile_train_step``), as a zero-argument call that ends in
    ``block_until_ready``."""
    call, _, _ = bench_remat.compile_train_step(
        dict(model_section, dtype=dtype), int(config.data.vocab_size), config.train,
        float(config.train.label_smoothing), batch, length)
    return call


def matmul_gflops(rows: int, width: int, vocab: int, dtype: str) -> float:
    """GFLOP/s of ``[rows, width] @ [width, vocab]`` in ``dtype`` (float32
    accumulation), fastest of nine calls after a warm-up."""
    a = jnp.ones((rows, width), dtype)
    b = jnp.ones((width, vocab), dtype)
    f = jax.jit(lambda x, y: jnp.dot(x, y, preferred_element_type=jnp.float32))
    f(a, b).block_until_ready()
    best = float("inf")
    for _ in range(9):
        start = time.perf_counter()
        f(a, b).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2 * rows * width * vocab / best / 1e9


def measure(config: Any, model_section: dict[str, Any], batches: Sequence[int],
            length: int, dtypes: Sequence[str], repeats: int) -> list[dict[str, Any]]:
    """One row per (batch, dtype): median seconds a step and target tokens a second."""
    rows = []
    for batch in batches:
        calls = {d: compile_step(config, model_section, d, batch, length) for d in dtypes}
        for call in calls.values():
            call()  # warm-up
        times: dict[str, list[float]] = {d: [] for d in dtypes}
        for _ in range(repeats):
            for d, call in calls.items():
                start = time.perf_counter()
                call()
                times[d].append(time.perf_counter() - start)
        for d in dtypes:
            s = statistics.median(times[d])
            rows.append({"batch": batch, "dtype": d, "step_s": s,
                         "tokens_per_s": batch * length / s})
    return rows


def report(rows: Sequence[dict[str, Any]], probe: dict[str, float], length: int,
           repeats: int) -> str:
    lines = ["| batch | dtype | step (s) | target tokens/s |", "| ---: | --- | ---: | ---: |"]
    lines += [f"| {r['batch']} | {r['dtype']} | {r['step_s']:.3f} | {r['tokens_per_s']:,.0f} |"
              for r in rows]
    lines.append(f"\nMedian of {repeats} timed steps after one warm-up, S = T = {length}.")
    lines.append("Matmul probe (output projection shape), GFLOP/s: " + ", ".join(
        f"{d} {g:.1f}" for d, g in probe.items()))
    return "\n".join(lines)


def _ints(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x]
    except ValueError:
        raise ConfigError(
            f"--batch {text}: expected comma-separated integers, e.g. 64,256") from None
    if not values or min(values) < 1:
        raise ConfigError(f"--batch {text}: every batch size must be >= 1")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    p.add_argument("--batch", default="64,256", help="comma-separated batch sizes")
    p.add_argument("--length", type=int, default=24, help="source and target length")
    p.add_argument("--dtype", default="float32,bfloat16", help="comma-separated dtypes")
    p.add_argument("--repeats", type=int, default=5)
    p.epilog = ("--config FILE[:ARG] (required) and --config.KEY=VALUE overrides, as for "
                "train, e.g. --config.model.ff_dim=256")
    args, config_args = p.parse_known_args(argv)
    try:
        if not cli.names_config_file(config_args):
            raise ConfigError("--config FILE[:ARG] is required, as for train")
        config = cli.read_config(config_args, "bench_step")
        section = config.model.to_dict()
        batches = _ints(args.batch)
        dtypes = [d for d in args.dtype.split(",") if d]
        if args.length < 1 or args.repeats < 1:
            raise ConfigError("--length and --repeats must be >= 1")
        models.make_config(dict(section), 8, 8)  # names a bad key or value now
        for d in dtypes:
            models.make_config(dict(section, dtype=d), 8, 8)
    except (ConfigError, cli.UsageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    command = " ".join([COMMAND, *(sys.argv[1:] if argv is None else argv)])
    print(f"command: {command}")
    print(f"jax {jax.__version__}, {jax.devices()[0].device_kind}", flush=True)
    rows = measure(config, section, batches, args.length, dtypes, args.repeats)
    width = int(section.get("d_model") or section.get("hidden") or 128)
    probe = {d: matmul_gflops(max(batches) * args.length, width,
                              int(config.data.vocab_size), d) for d in dtypes}
    print(report(rows, probe, args.length, args.repeats))
    return 0
