"""What rematerialisation saves in memory and costs in time, and what bfloat16 saves.

Shapes: B batch, S = T sequence length (source and target), H the LSTM's
hidden width, D the Transformer's width, F its feed-forward width.

For each model and size, the real train step (``train.make_train_step``:
loss, gradient, clipping, Adam) is compiled ahead with ``model.remat`` off and
on, in float32 and in bfloat16, and XLA's memory analysis of the compiled
executable is read: ``temp`` is the scratch the step allocates besides its
arguments and outputs, which is where the activations kept for the backward
pass live, and what remat shrinks. The float32 steps are then timed: one
warm-up call, then ``repeats`` calls, remat off and on alternating so the
load of a shared machine falls on both alike, each ending in
``block_until_ready``; the median is reported. bfloat16 is not timed: the
CPU has no bfloat16 matmul units, so its time says nothing about a GPU.

A control separates the model from the compiler: eight residual MLP blocks,
``jax.checkpoint`` on each, once as straight-line code (as the Transformer's
blocks are) and once as a ``lax.scan`` over the stacked blocks (as the LSTM's
steps are).

    python scripts/bench_remat.py [--quick] [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from seq2seq_jax import config as config_lib
from seq2seq_jax import models
from seq2seq_jax.training import train

VOCAB = 1000
COMMAND = "python scripts/bench_remat.py"


class Case(NamedTuple):
    """One model at one size."""

    label: str
    model: dict[str, Any]  # the ``model`` section (``models.make_config``)
    batch: int  # B
    length: int  # S = T


def cases(quick: bool) -> list[Case]:
    if quick:
        return [Case("bahdanau H=32 B=4 T=8", {"name": "bahdanau", "embed_dim": 16,
                                               "hidden": 32, "bidirectional": True}, 4, 8),
                Case("transformer D=32 B=4 T=8", {"name": "transformer", "d_model": 32,
                                                  "heads": 2, "ff_dim": 64}, 4, 8)]
    lstm = {"name": "bahdanau", "embed_dim": 128, "bidirectional": True}
    tfm = {"name": "transformer", "heads": 8, "enc_layers": 4, "dec_layers": 4, "max_len": 256}
    return [Case("bahdanau bi-LSTM H=256 B=32 T=32", dict(lstm, hidden=256), 32, 32),
            Case("bahdanau bi-LSTM H=256 B=32 T=96", dict(lstm, hidden=256), 32, 96),
            Case("transformer 4+4 D=256 F=1024 B=16 T=32",
                 dict(tfm, d_model=256, ff_dim=1024), 16, 32),
            Case("transformer 4+4 D=256 F=1024 B=16 T=128",
                 dict(tfm, d_model=256, ff_dim=1024), 16, 128)]


def full_rows(batch: int, length: int, vocab: int = VOCAB) -> dict[str, np.ndarray]:
    """Full-length random rows: ``src, tgt_in, tgt_out [B, T]`` and all-True masks."""
    rng = np.random.default_rng(0)
    shape = (batch, length)
    ids = {k: rng.integers(4, vocab, shape).astype(np.int32)
           for k in ("src", "tgt_in", "tgt_out")}
    return dict(ids, src_mask=np.ones(shape, bool), tgt_mask=np.ones(shape, bool))


def _memory(compiled: Any) -> Any:
    """The compiled executable's memory analysis (XLA's buffer assignment)."""
    mem = compiled.memory_analysis()
    if mem is None:
        raise RuntimeError(f"no memory analysis on {jax.devices()[0].platform}")
    return mem


class Step(NamedTuple):
    call: Any  # () -> None, one train step ending in block_until_ready
    temp_bytes: int
    argument_bytes: int
    compile_s: float


def compile_train_step(model_section: dict[str, Any], vocab: int, train_section: Any,
                       label_smoothing: float, batch: int,
                       length: int) -> tuple[Callable[[], None], Any, float]:
    """The real train step (``train.make_train_step`` with ``train_section``'s
    optimizer) of the model ``model_section``, compiled ahead on ``full_rows``.

    Returns:
      A zero-argument call that runs one step and ends in ``block_until_ready``,
      the compiled executable, and the seconds compilation took.
    """
    cfg = models.make_config(model_section, vocab, vocab)
    model = models.get_model(model_section["name"])
    opt = train.make_optimizer(train_section)
    state = train.init_state(model, cfg, opt, 0)
    step = train.make_train_step(model, cfg, opt, label_smoothing)
    rows = full_rows(batch, length, vocab)
    start = time.perf_counter()
    compiled = step.lower(state, rows).compile()
    compile_s = time.perf_counter() - start
    box = [state]

    def call() -> None:
        box[0], metrics = compiled(box[0], rows)
        jax.block_until_ready(metrics)

    return call, compiled, compile_s


def compile_step(case: Case, remat: bool, dtype: str) -> Step:
    """The compiled train step of ``case`` and its memory analysis."""
    call, compiled, compile_s = compile_train_step(
        dict(case.model, remat=remat, dtype=dtype, dropout=0.1), VOCAB,
        config_lib.default_config().train, 0.1, case.batch, case.length)
    mem = _memory(compiled)
    return Step(call, int(mem.temp_size_in_bytes), int(mem.argument_size_in_bytes), compile_s)


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f}"


def measure(case: Case, repeats: int) -> dict[str, Any]:
    """Memory of every (remat, dtype) and float32 times of remat off / on."""
    steps = {(remat, dtype): compile_step(case, remat, dtype)
             for remat in (False, True) for dtype in ("float32", "bfloat16")}
    timed = {remat: steps[(remat, "float32")] for remat in (False, True)}
    times: dict[bool, list[float]] = {False: [], True: []}
    for s in timed.values():
        s.call()  # warm-up
    for _ in range(repeats):
        for remat, s in timed.items():
            start = time.perf_counter()
            s.call()
            times[remat].append(time.perf_counter() - start)
    ms = {remat: 1e3 * statistics.median(v) for remat, v in times.items()}
    return {"case": case.label,
            "temp": {f"{'remat' if r else 'plain'}_{d}": s.temp_bytes
                     for (r, d), s in steps.items()},
            "argument_bytes": steps[(False, "float32")].argument_bytes,
            "ms": ms, "compile_s": {str(k): round(s.compile_s, 1) for k, s in steps.items()}}


def control() -> dict[str, int]:
    """Temp bytes of the gradient of 8 MLP blocks ``[4096, 256]``, each block
    checkpointed or not, unrolled or scanned."""
    def block(w: jax.Array, x: jax.Array) -> jax.Array:
        h = jax.numpy.tanh(x @ w[0])
        h = jax.numpy.tanh(h @ w[1])
        return jax.numpy.tanh(h @ w[2]) + x

    ws = jax.numpy.full((8, 3, 256, 256), 0.01)
    x = jax.numpy.ones((4096, 256))

    def loss(ws: jax.Array, remat: bool, scan: bool) -> jax.Array:
        f = jax.checkpoint(block) if remat else block
        if scan:
            y, _ = jax.lax.scan(lambda h, w: (f(w, h), None), x, ws)
        else:
            y = x
            for i in range(ws.shape[0]):
                y = f(ws[i], y)
        return jax.numpy.sum(y ** 2)

    out = {}
    for scan in (False, True):
        for remat in (False, True):
            grad = jax.jit(jax.grad(lambda w, r=remat, s=scan: loss(w, r, s)))
            mem = _memory(grad.lower(ws).compile())
            out[f"{'scan' if scan else 'unrolled'}_{'remat' if remat else 'plain'}"] = int(
                mem.temp_size_in_bytes)
    return out


def report(rows: Sequence[dict[str, Any]], repeats: int) -> str:
    """A markdown table of the measurements."""
    lines = [
        "| model and size | temp f32 (MiB) | temp f32 remat | saved | temp bf16 | "
        "temp bf16 remat | step f32 (ms) | step f32 remat | time cost |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        t = r["temp"]
        saved = 1 - t["remat_float32"] / t["plain_float32"]
        cost = r["ms"][True] / r["ms"][False] - 1
        lines.append(
            f"| {r['case']} | {_mib(t['plain_float32'])} | {_mib(t['remat_float32'])} | "
            f"{saved:.0%} | {_mib(t['plain_bfloat16'])} | {_mib(t['remat_bfloat16'])} | "
            f"{r['ms'][False]:.0f} | {r['ms'][True]:.0f} | {cost:+.0%} |")
    lines.append(f"\nMedian of {repeats} timed steps after one warm-up, remat off and on "
                 "alternating; temp = `memory_analysis().temp_size_in_bytes` of the "
                 "compiled train step.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke check")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    command = " ".join([COMMAND, *(sys.argv[1:] if argv is None else argv)])
    print(f"command: {command}")
    print(f"jax {jax.__version__}, {jax.devices()[0].device_kind}, "
          f"{len(jax.devices())} device(s)", flush=True)
    ctl = control()
    print("control, 8 MLP blocks, temp MiB: " + ", ".join(
        f"{k} {_mib(v)}" for k, v in ctl.items()), flush=True)
    rows = []
    for case in cases(args.quick):
        rows.append(measure(case, args.repeats))
        r = rows[-1]
        print(f"{r['case']}: temp {r['temp']}, ms {r['ms']}, compile_s {r['compile_s']}",
              flush=True)
    print(report(rows, args.repeats))
    return 0
