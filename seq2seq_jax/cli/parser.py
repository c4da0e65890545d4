"""The ``seq2seq-jax`` command: argument parsing only.

  seq2seq-jax train [--config configs/NAME.py] [--config.key=value ...] --workdir DIR
  seq2seq-jax eval --workdir DIR [--split test] [--beam N [--alpha A]] [--out PATH]
  seq2seq-jax predict --workdir DIR [--beam N | --sample] [--input FILE] [--attention-plot F.png]
  seq2seq-jax export --workdir DIR --out NEW_DIR [--average N]
  seq2seq-jax bench [--quick] --out DIR

Errors in the input (paths, lines, options) print one message and exit with 2;
a non-finite loss stops training with one message naming the step and exit 3.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from typing import Any

from absl import flags as absl_flags

USAGE = __doc__.split("\n\n")[1]


def _train_flags(argv: list[str]) -> absl_flags.FlagValues:
    fv = _config_flags(argv, "train", workdir=True)
    if not fv.workdir:
        raise UsageError("--workdir DIR is required")
    return fv


def read_config(argv: Sequence[str], command: str) -> Any:
    """The ConfigDict that ``--config FILE[:ARG]`` and ``--config.KEY=VALUE ...`` name,
    parsed as ``train`` parses them (ml_collections' config flags); without
    ``--config``, the default config. Raises ``UsageError`` naming the bad option."""
    return _config_flags(list(argv), command, workdir=False).config


def names_config_file(argv: Sequence[str]) -> bool:
    """Whether ``argv`` names a config file (``--config FILE[:ARG]``)."""
    return any(a == "--config" or a.startswith("--config=") for a in argv)


def resolve_config_arg(argv: Sequence[str]) -> list[str]:
    """``argv`` with ``--config NAME[:ARG]`` (a shipped config) replaced by its file's path,
    which ml_collections' config flag reads; ``--config FILE.py[:ARG]`` is left as it is."""
    from seq2seq_jax import config as config_lib

    out = list(argv)
    for i, a in enumerate(out):
        if a == "--config" and i + 1 < len(out):
            index, spec = i + 1, out[i + 1]
        elif a.startswith("--config="):
            index, spec = i, a.partition("=")[2]
        else:
            continue
        path, arg = config_lib.resolve_config(spec)
        value = str(path) + (f":{arg}" if arg is not None else "")
        out[index] = value if index != i else f"--config={value}"
    return out


def _config_flags(argv: list[str], command: str, workdir: bool) -> absl_flags.FlagValues:
    argv = resolve_config_arg(argv)
    fv = absl_flags.FlagValues()
    full = [command, *argv]
    try:
        _define(fv, full, argv, workdir)
        rest = fv(full)
        fv.config.to_dict()  # a config file that failed to load raises here
    except OSError as e:
        raise UsageError(f"--config: cannot load the config file ({_one_line(e)})") from None
    except (absl_flags.Error, AttributeError, KeyError, ValueError) as e:
        raise UsageError(f"invalid {command} option: {_unknown_key(e, argv) or _one_line(e)}"
                         ) from None
    if len(rest) > 1:
        raise UsageError(f"unexpected arguments {rest[1:]}")
    return fv


def _one_line(e: BaseException) -> str:
    text = str(e)
    if "Traceback (most recent call last)" in text:  # a config file's get_config raised
        head, _, trace = text.partition("Traceback (most recent call last)")
        text = head + trace.strip().splitlines()[-1]  # the exception, not the traceback
    text = text.replace("\\n", " ").replace("\\'", "'").replace("\\", "")
    return " ".join(text.split()).strip("'\" ")


def _unknown_key(e: BaseException, argv: list[str]) -> str | None:
    """``--config.a.b: the config has no key 'b'`` when an override names a missing key.

    ml_collections' own suggestion ("Did you mean ...") is kept as a hint.
    """
    if not isinstance(e, AttributeError | KeyError):
        return None
    text = _one_line(e)
    found = re.match(r"(?:Key )?[\"']?([A-Za-z_]\w*)", text)
    if found is None:
        return None
    key = found.group(1)
    flags = [a.split("=")[0] for a in argv if a.startswith("--config.")]
    flag = next((f for f in flags if f.endswith(f".{key}")), None)
    if flag is None:
        return None
    hint = re.search(r'Did you mean "(\w+)"', text)
    return f"{flag}: the config has no key {key!r}" + (
        f"; did you mean {hint.group(1)!r}?" if hint else "")


def _define(fv: absl_flags.FlagValues, full: list[str], argv: list[str],
            workdir: bool) -> None:
    from ml_collections import config_flags

    from seq2seq_jax import config as config_lib

    if names_config_file(argv):
        config_flags.DEFINE_config_file("config", None, "experiment config file",
                                        flag_values=fv, lock_config=True, sys_argv=full)
    else:
        config_flags.DEFINE_config_dict("config", config_lib.default_config(),
                                        "experiment config", flag_values=fv,
                                        lock_config=True, sys_argv=full)
    if workdir:
        absl_flags.DEFINE_string("workdir", None, "where checkpoints and logs go",
                                 flag_values=fv, required=False)


class UsageError(Exception):
    """A command-line mistake: printed as one line, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seq2seq-jax", description=USAGE,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("train", help="train (all options: --config, --config.KEY=VALUE, --workdir)",
                   add_help=False)
    e = sub.add_parser("eval", help="score the best checkpoint; prints one JSON object")
    e.add_argument("--workdir", required=True)
    e.add_argument("--split", default="test")
    e.add_argument("--beam", type=int, default=None, help="beam size (1 = greedy)")
    e.add_argument("--alpha", type=float, default=None,
                   help="beam search's length-penalty exponent (default: the config's "
                        "decode.alpha); the output file says it unless it is the default")
    e.add_argument("--limit", type=int, default=0, help="first N examples only")
    e.add_argument("--average", type=int, default=0, metavar="N",
                   help="score the mean parameters of the newest N checkpoints")
    e.add_argument("--ensemble", nargs="+", default=(), metavar="DIR",
                   help="more workdirs: score the mean of their next-token probabilities")
    e.add_argument("--out", default=None, metavar="PATH",
                   help="save the JSON here (a .json file, or a folder: there it is named "
                        "WORKDIR_FOLDER.eval_...json) instead of in --workdir")
    pr = sub.add_parser("predict", help="decode stdin (or --input) line by line")
    pr.add_argument("--workdir", required=True)
    pr.add_argument("--input", default=None, help="a file with one input a line")
    pr.add_argument("--beam", type=int, default=None)
    pr.add_argument("--alpha", type=float, default=None,
                    help="beam search's length-penalty exponent (default: decode.alpha)")
    pr.add_argument("--sample", action="store_true")
    pr.add_argument("--temperature", type=float, default=None)
    pr.add_argument("--attention-plot", default=None, help="PNG heatmap of the first input")
    pr.add_argument("--truncate", action="store_true", help="cut over-long inputs")
    pr.add_argument("--average", type=int, default=0, metavar="N",
                    help="decode with the mean parameters of the newest N checkpoints")
    pr.add_argument("--ensemble", nargs="+", default=(), metavar="DIR",
                    help="more workdirs: decode with the mean of their next-token "
                         "probabilities")
    x = sub.add_parser("export", help="write a workdir's parameters alone (no optimizer "
                                      "state) to a new folder that eval and predict read")
    x.add_argument("--workdir", required=True)
    x.add_argument("--out", required=True, help="a new folder")
    x.add_argument("--average", type=int, default=0, metavar="N",
                   help="export the mean parameters of the newest N checkpoints")
    sub.add_parser("bench", help="time the scan against self-attention (--quick, --out DIR)",
                   add_help=False)
    return p


def _read_lines(path: str | None) -> list[str]:
    if path is None:
        return sys.stdin.readlines()
    try:
        with open(path, encoding="utf-8") as f:
            return f.readlines()
    except FileNotFoundError:
        raise UsageError(f"--input {path}: no such file") from None
    except UnicodeDecodeError as e:
        raise UsageError(f"--input {path}: not valid UTF-8 ({e.reason} at byte {e.start})"
                         ) from None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    logging.getLogger("absl").setLevel(logging.ERROR)  # orbax's read-only notices
    import tensorflow_datasets as tfds

    tfds.disable_progress_bar()
    from seq2seq_jax.cli import commands
    from seq2seq_jax.errors import ConfigError, DataError, NonFiniteError, WorkdirError

    try:
        if argv and argv[0] == "bench":
            from seq2seq_jax.bench.harness import bench_main
            return bench_main(argv[1:])
        if argv and argv[0] == "train":
            fv = _train_flags(argv[1:])
            summary = commands.run_train(fv.config, fv.workdir)
            if summary.get("stopped_by"):  # SIGTERM: a checkpoint at the last step
                from seq2seq_jax.training.stop import EXIT_STATUS
                return EXIT_STATUS
            return 0
        args = _parser().parse_args(argv)
        if args.command == "eval":
            commands.run_eval(args.workdir, args.split, args.beam, args.limit,
                              average=args.average, ensemble=args.ensemble, alpha=args.alpha,
                              out=args.out)
        elif args.command == "predict":
            commands.run_predict(args.workdir, _read_lines(args.input), sys.stdout,
                                 beam=args.beam, sample=args.sample,
                                 temperature=args.temperature,
                                 attention_plot=args.attention_plot, truncate=args.truncate,
                                 average=args.average, ensemble=args.ensemble,
                                 alpha=args.alpha)
        elif args.command == "export":
            from seq2seq_jax.training.export import export
            print(export(args.workdir, args.out, average=args.average))
        return 0
    except (UsageError, ConfigError, DataError, FileNotFoundError, FileExistsError,
            WorkdirError) as e:
        print(f"seq2seq-jax: error: {e}", file=sys.stderr)
        return 2
    except NonFiniteError as e:
        print(f"seq2seq-jax: error: {e}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("seq2seq-jax: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
