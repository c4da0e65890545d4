"""Park a training run in a folder that outlives its machine, and resume it elsewhere.

    python scripts/park.py park WORKDIR FOLDER     # newest and best checkpoints + side files
    python scripts/park.py unpark FOLDER WORKDIR   # then: seq2seq-jax train ... --workdir WORKDIR

See ``seq2seq_jax/lab/park.py``.
"""

from __future__ import annotations

import argparse
import sys

from seq2seq_jax.errors import ConfigError
from seq2seq_jax.lab.park import park, unpark


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("park", help="copy WORKDIR's newest and best checkpoints and side "
                       "files to FOLDER")
    a.add_argument("workdir")
    a.add_argument("folder")
    b = sub.add_parser("unpark", help="copy the parked FOLDER to the new WORKDIR")
    b.add_argument("folder")
    b.add_argument("workdir")
    args = p.parse_args(argv)
    try:
        if args.command == "park":
            record = park(args.workdir, args.folder)
            print(f"parked {args.workdir} at step {record['step']} (best checkpoint: step "
                  f"{record['best_step']}) in {args.folder}")
        else:
            record = unpark(args.folder, args.workdir)
            print(f"unparked {args.folder} (step {record['step']}) to {args.workdir}; resume "
                  f"with seq2seq-jax train --config ... --workdir {args.workdir}")
    except (ConfigError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
