"""The ``seq2seq-jax`` command: argument parsing, before JAX or the data stack is imported.

  seq2seq-jax train [--config NAME[:ARG] | FILE.py[:ARG]] [--config.KEY=VALUE ...] --workdir DIR
  seq2seq-jax eval (--workdir DIR | --model NAME) [--split test] [--beam N [--alpha A]]
  seq2seq-jax predict (--workdir DIR | --model NAME) [--beam N] [--n-best K] [--format F]
  seq2seq-jax export --workdir DIR --out NEW_DIR [--average N] [--format ctranslate2]
  seq2seq-jax bench [--quick] --out DIR

Every subcommand takes --help. Errors in the input (paths, lines, options) print one
message and exit with 2 (``--traceback``, or SEQ2SEQ_JAX_TRACEBACK=1, shows the whole
traceback instead); a non-finite loss stops training with one message and exit 3.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
from collections.abc import Sequence
from typing import Any

from seq2seq_jax.constants import CT2_QUANTIZATIONS, STOP_RULES
from seq2seq_jax.inference import hub

USAGE = __doc__.split("\n\n")[1]


class UsageError(Exception):
    """A command-line mistake: printed as one line, exit status 2."""


class _Formatter(argparse.HelpFormatter):
    """argparse's help layout, without breaking a line inside a hyphenated name."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a mistake as ``UsageError`` (one line) instead of exiting."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:
        command = self.prog.removeprefix("seq2seq-jax").strip()
        raise UsageError(f"{command}: {message}" if command else message)


def names_config_file(argv: Sequence[str]) -> bool:
    """Whether ``argv`` names a config (``--config SPEC``)."""
    return any(a == "--config" or a.startswith("--config=") for a in argv)


def read_config(argv: Sequence[str], command: str) -> Any:
    """``config.read_config``, its errors as ``UsageError`` (kept for the bench scripts)."""
    from seq2seq_jax import config as config_lib

    try:
        return config_lib.read_config(argv, command)
    except config_lib.ConfigError as e:
        raise UsageError(str(e)) from None


def _version() -> str:
    from seq2seq_jax import __version__

    return f"seq2seq-jax {__version__}"


def _model_options(p: argparse.ArgumentParser, what: str) -> None:
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--workdir", help=f"a training workdir or an exported model to {what}")
    which.add_argument("--model", metavar="NAME",
                       help=f"a registered model: {', '.join(hub.index())} "
                            "(seq2seq_jax/inference/index.json)")
    p.add_argument("--average", type=int, default=0, metavar="N",
                   help="the mean parameters of the newest N checkpoints")
    p.add_argument("--ensemble", nargs="+", default=(), metavar="DIR",
                   help="more workdirs: the mean of their next-token probabilities")
    p.add_argument("--beam", type=int, default=None, help="beam size (1 = greedy)")
    p.add_argument("--alpha", type=float, default=None,
                   help="beam search's length-penalty exponent (default: the config's "
                        "decode.alpha)")
    p.add_argument("--stop", default=None, choices=STOP_RULES,
                   help="when beam search ends an input: exact (the default: no hypothesis "
                        "could still win at any length), current (none wins at its next "
                        "length) or first_k (beam-size hypotheses have ended, as fairseq "
                        "and CTranslate2); the last two are much faster when alpha > 0")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="seq2seq-jax", description=USAGE, allow_abbrev=False,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=_version())
    p.add_argument("--traceback", action="store_true",
                   help="on an error, show the whole traceback instead of one line")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                           parser_class=_Parser)

    t = sub.add_parser("train", add_help=False, allow_abbrev=False,
                       help="train, or resume, a model in a workdir",
                       description="Train a model, or resume the one in --workdir.")
    t.add_argument("-h", "--help", action="store_true",
                   help="this help and every config option with its default and meaning")
    t.add_argument("--workdir", help="checkpoints, logs and the config go here")
    t.add_argument("--print-config", action="store_true",
                   help="print the options that differ from the defaults and the parameter "
                        "count, then exit without training")

    e = sub.add_parser("eval", allow_abbrev=False,
                       help="score a model on a split; prints one JSON object",
                       description="Score a model on a split. --config.data.KEY=VALUE "
                                   "overrides the data options (e.g. "
                                   "--config.data.manual_dir=DIR).")
    _model_options(e, "score")
    e.add_argument("--split", default="test")
    e.add_argument("--limit", type=int, default=0, help="first N examples only")
    e.add_argument("--out", default=None, metavar="PATH",
                   help="save the JSON here (a .json file, or a folder: there it is named "
                        "WORKDIR_FOLDER.eval_...json) instead of in --workdir")

    pr = sub.add_parser("predict", allow_abbrev=False,
                        help="decode inputs, one a line, from stdin or --input",
                        description="Decode one input a line. Outputs stream: from a "
                                    "terminal each line is answered as it is read; "
                                    "otherwise in buffers of --buffer-size lines (whatever "
                                    "has arrived when a read would wait).")
    _model_options(pr, "decode with")
    pr.add_argument("--input", default=None, help="a UTF-8 file with one input a line")
    pr.add_argument("--n-best", type=int, default=1, metavar="K",
                    help="K hypotheses an input, with their scores (K <= --beam)")
    pr.add_argument("--format", choices=("text", "tsv", "jsonl"), default="text",
                    help="text: the output (with --n-best K: K lines 'TEXT<TAB>SCORE', then "
                         "an empty line); tsv: INPUT<TAB>RANK<TAB>TEXT<TAB>SCORE; jsonl: "
                         '{"input": ..., "outputs": [{"text": ..., "score": ...}]}')
    pr.add_argument("--buffer-size", type=int, default=64, metavar="N",
                    help="inputs decoded together at most (default 64)")
    pr.add_argument("--sample", action="store_true", help="sample instead of searching")
    pr.add_argument("--temperature", type=float, default=None)
    pr.add_argument("--attention-plot", default=None, metavar="FILE.png",
                    help="heatmap of the first input's attention")
    pr.add_argument("--attention-dir", default=None, metavar="DIR",
                    help="one heatmap an input, DIR/00001.png for the first line, ...")
    pr.add_argument("--truncate", action="store_true", help="cut over-long inputs")

    x = sub.add_parser("export", allow_abbrev=False,
                       help="write a workdir's parameters alone to a new folder")
    x.add_argument("--workdir", required=True)
    x.add_argument("--out", required=True, help="a new folder")
    x.add_argument("--average", type=int, default=0, metavar="N",
                   help="export the mean parameters of the newest N checkpoints")
    x.add_argument("--format", choices=("params", "ctranslate2"), default="params",
                   help="params: our parameters alone (default); ctranslate2: a folder "
                        "CTranslate2 loads (Transformers; pip install ctranslate2)")
    x.add_argument("--quantization", default=None,
                   choices=CT2_QUANTIZATIONS,
                   help="with --format ctranslate2: CTranslate2's weight type "
                        "(default: float32, exact)")
    sub.add_parser("bench", add_help=False,
                   help="time the scan against self-attention (seq2seq-jax bench --help)")
    return p


def _train_help(config_args: list[str]) -> str:
    """``train --help``: usage, then every option of the config with default and meaning."""
    from seq2seq_jax import config as config_lib

    config = config_lib.read_config([a for a in config_args if not a.startswith("--config.")]
                                    ) if names_config_file(config_args) else (
        config_lib.default_config())
    rows = config_lib.describe(config)
    width = max(len(k) for k, _, _ in rows) + 2
    lines = [
        "usage: seq2seq-jax train [--config NAME[:ARG] | FILE.py[:ARG]] "
        "[--config.KEY=VALUE ...] --workdir DIR [--print-config]", "",
        "Train a model, or resume the one in --workdir (same config: bit-identical).", "",
        "  --config SPEC       a shipped config by name (" +
        ", ".join(config_lib.config_names()) + "), or a file FILE.py; :ARG picks a variant",
        "  --config.KEY=VALUE  override one option (below)",
        "  --workdir DIR       checkpoints, logs and the config go here",
        "  --print-config      print what differs from the defaults and the parameter "
        "count, then exit", "",
        f"Options of {'this' if names_config_file(config_args) else 'the default'} config "
        "(KEY  default  meaning):"]
    for key, value, text in rows:
        lines.append(f"  {key:<{width}}{value!r:<14} {text}")
    return "\n".join(lines)


def _split_eval_overrides(rest: list[str]) -> list[str]:
    bad = [a for a in rest if not a.startswith("--config.data.")]
    if bad:
        raise UsageError(f"unrecognized arguments: {' '.join(bad)} (eval takes "
                         "--config.data.KEY=VALUE overrides only)")
    return rest


def _dispatch(args: argparse.Namespace, rest: list[str]) -> int:
    from seq2seq_jax.cli import commands
    from seq2seq_jax.inference import compilation

    compilation.enable()
    if args.command == "train":
        from seq2seq_jax import config as config_lib

        config = config_lib.read_config(rest, "train")
        if args.print_config:
            commands.print_config(config)
            return 0
        if not args.workdir:
            raise UsageError("--workdir DIR is required")
        summary = commands.run_train(config, args.workdir)
        if summary.get("stopped_by"):  # SIGTERM: a checkpoint at the last step
            from seq2seq_jax.training.stop import EXIT_STATUS

            return EXIT_STATUS
        return 0
    if rest:
        if args.command != "eval":
            raise UsageError(f"unrecognized arguments: {' '.join(rest)}")
        _split_eval_overrides(rest)
    directory = commands.model_folder(args.workdir, args.model) if args.command in (
        "eval", "predict") else args.workdir
    if args.command in ("eval", "predict") and args.model and not args.ensemble:
        from seq2seq_jax.inference import hub

        args.ensemble = [str(p) for p in hub.ensemble(args.model)]  # a registered ensemble
    if args.command == "eval":
        commands.run_eval(directory, args.split, args.beam, args.limit,
                          average=args.average, ensemble=args.ensemble, alpha=args.alpha,
                          out=args.out, data_overrides=rest, name=args.model,
                          stop=args.stop)
    elif args.command == "predict":
        commands.run_predict(directory, commands.input_batches(args.input, args.buffer_size),
                             sys.stdout, beam=args.beam, sample=args.sample,
                             temperature=args.temperature, attention_plot=args.attention_plot,
                             attention_dir=args.attention_dir, truncate=args.truncate,
                             average=args.average, ensemble=args.ensemble, alpha=args.alpha,
                             n_best=args.n_best, fmt=args.format, name=args.model,
                             stop=args.stop)
    elif args.command == "export":
        if args.format == "ctranslate2":
            from seq2seq_jax.inference import ct2

            print(ct2.export(args.workdir, args.out, average=args.average,
                             quantization=args.quantization))
            return 0
        from seq2seq_jax.errors import ConfigError
        from seq2seq_jax.training.export import export

        if args.quantization:
            raise ConfigError("--quantization applies to --format ctranslate2 only")

        print(export(args.workdir, args.out, average=args.average))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    show_traceback = "--traceback" in argv or os.environ.get(
        "SEQ2SEQ_JAX_TRACEBACK", "") not in ("", "0")
    if argv[:1] == ["bench"] or (argv[:2] == ["--traceback", "bench"]):
        from seq2seq_jax.bench.harness import bench_main  # its own arguments and --help

        return bench_main(argv[argv.index("bench") + 1:])
    from seq2seq_jax.errors import ConfigError, DataError, NonFiniteError, WorkdirError

    try:
        args, rest = _parser().parse_known_args(argv)
        if args.command == "train" and args.help:
            print(_train_help(rest))
            return 0
        if args.command != "train" and args.command != "eval" and rest:
            raise UsageError(f"unrecognized arguments: {' '.join(rest)}")
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
        logging.getLogger("absl").setLevel(logging.ERROR)  # orbax's read-only notices
        if args.command in ("train", "eval"):  # they read data: tfds, quietly
            import tensorflow_datasets as tfds

            tfds.disable_progress_bar()
        return _dispatch(args, rest)
    except (UsageError, ConfigError, DataError, FileNotFoundError, FileExistsError,
            WorkdirError) as e:
        if show_traceback:
            raise
        print(f"seq2seq-jax: error: {e}", file=sys.stderr)
        return 2
    except NonFiniteError as e:
        if show_traceback:
            raise
        print(f"seq2seq-jax: error: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("seq2seq-jax: interrupted", file=sys.stderr)
        return 130
    except SystemExit as e:  # --help and --version print and exit 0
        return e.code if isinstance(e.code, int) else 0


def entry() -> None:
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # the reader left (``seq2seq-jax train --help | head``)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error
        code = 141  # as a program killed by SIGPIPE, without a traceback
    sys.exit(code)


if __name__ == "__main__":
    entry()
