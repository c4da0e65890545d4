"""Regenerate the result tables and figures of RESULTS.md from training workdirs.

    python scripts/results.py g014b2b [--train] [--runs runs] [--out docs/results]
    python scripts/results.py all --beam 5 --models bahdanau,transformer
    python scripts/results.py multi30k_en_fr --beam 5 --keep-decodes docs/results/decodes
    python scripts/results.py multi30k --beam 5 --models luong_long --from-kept docs/results/decodes

EXPERIMENT: g2p, g014b2b, multi30k, synthetic_reverse or all. See seq2seq_jax/lab/results.py
for what is read and written.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from seq2seq_jax.cli import commands
from seq2seq_jax.errors import ConfigError
from seq2seq_jax.lab import experiments, keep, results

# This checkout's data: ../shared/data beside the repository.
DATA_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("experiment", choices=[*experiments.NAMES, "all"])
    p.add_argument("--data-root", default=str(DATA_ROOT),
                   help="holds each experiment's data folder (cmudict_g014b2b/, multi30k/), "
                        "used when a workdir's data.manual_dir is empty or missing")
    p.add_argument("--train", action="store_true", help="train or resume each model first")
    p.add_argument("--runs", default="runs", help="holds <experiment>/<model>/ workdirs")
    p.add_argument("--out", default="docs/results", help="markdown fragments and PNGs")
    p.add_argument("--beam", type=int, default=None, help="beam size (1 = greedy); "
                   "default: each workdir config's decoding")
    p.add_argument("--alpha", type=float, default=None,
                   help="beam-search length-penalty exponent (default: each workdir "
                        "config's); choose it on validation (seq2seq-jax eval --alpha)")
    p.add_argument("--models", default=",".join(experiments.MODELS),
                   help="comma-separated, in table order")
    p.add_argument("--limit", type=int, default=0, help="first N test examples only")
    p.add_argument("--redecode", action="store_true", help="ignore stored decodes")
    p.add_argument("--average", type=int, default=0, metavar="N",
                   help="score the mean parameters of each model's newest N checkpoints "
                        "(default 0: its best checkpoint)")
    p.add_argument("--ensemble", action="append", default=[], metavar="M1,M2[,...]",
                   help="also score these models as one ensemble (mean next-token "
                        "probabilities); repeat for more ensembles")
    p.add_argument("--keep-decodes", default="", metavar="DIR",
                   help="also copy each scored row's decoded records, summary, training log, "
                        "config and hardware to DIR/<experiment>/<model>/ (the tables' "
                        "evidence, kept when the workdirs are gone; see seq2seq_jax/lab/keep.py)")
    p.add_argument("--from-kept", default="", metavar="DIR",
                   help="read the row of a model whose workdir has no checkpoint from DIR "
                        "(what --keep-decodes wrote), when DIR holds that decode: "
                        "regenerates a table and its figures without the checkpoints")
    p.add_argument("--into", default="RESULTS.md",
                   help="also fill this file's BEGIN/END section of each experiment "
                        "('' for none)")
    args = p.parse_args(argv)
    try:  # the same checks, and words, as seq2seq-jax eval's
        commands.check_options(beam=args.beam, limit=args.limit, average=args.average,
                               alpha=args.alpha)
    except ConfigError as err:
        p.error(str(err))
    if args.from_kept and not Path(args.from_kept).is_dir():
        p.error(f"--from-kept {args.from_kept}: no such folder; name the folder that "
                "--keep-decodes filled (e.g. docs/results/decodes)")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    logging.getLogger("absl").setLevel(logging.ERROR)
    import tensorflow_datasets as tfds

    tfds.disable_progress_bar()
    names = list(experiments.NAMES) if args.experiment == "all" else [args.experiment]
    models = [m for m in args.models.split(",") if m]
    for name in names:
        rest = [a for a in argv if a not in ("all", *experiments.NAMES)]
        command = shlex.join(["python", "scripts/results.py", name, *rest])
        rows = results.run_experiment(
            experiments.with_data_root(experiments.all_experiments()[name], args.data_root),
            args.runs, args.out, train=args.train, beam=args.beam,
            models=models, limit=args.limit, redecode=args.redecode, command=command,
            into=args.into or None, average=args.average,
            ensembles=[[m for m in e.split(",") if m] for e in args.ensemble],
            kept=args.from_kept or None, alpha=args.alpha)
        for r in rows:
            print(f"{name} {r.model}: {r.status}", file=sys.stderr)
        if args.keep_decodes:
            kept = keep.keep_rows(name, [(r.workdir, r.analysis) for r in rows
                                         if r.source == "workdir"], args.keep_decodes)
            print(f"{name}: {len(kept)} files kept (new or changed) under "
                  f"{args.keep_decodes}/{name}/", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
