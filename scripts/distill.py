"""Sequence-level knowledge distillation data for g014b2b: a teacher's 1-best for every
training word (Kim & Rush 2016); see seq2seq_jax/lab/distill.py.

    python scripts/distill.py --teacher g2p-ensemble --data ../shared/data/cmudict_g014b2b \
        --out data/g014b2b_distilled

The dev words keep their references and the test file is copied unchanged.
"""

from __future__ import annotations

import argparse
import sys
import time

from seq2seq_jax.errors import DataError
from seq2seq_jax.lab import distill


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--teacher", required=True,
                   help="a registered name (g2p, g2p-ensemble), an export or a workdir")
    p.add_argument("--data", required=True, help="the g014b2b folder to distil")
    p.add_argument("--out", required=True, help="a new folder for the distilled copy")
    p.add_argument("--beam", type=int, default=None,
                   help="beam size (default: the teacher's registered decoding)")
    p.add_argument("--batch", type=int, default=4096, help="words per teacher call")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)

    try:
        distill.check(args.data, args.out)
    except (FileExistsError, DataError) as e:
        p.error(str(e))

    import seq2seq_jax

    teacher = seq2seq_jax.load(args.teacher, beam=args.beam)
    start = time.time()

    def progress(done: int, total: int) -> None:
        print(f"{done:,} / {total:,} words, {time.time() - start:.0f} s", file=sys.stderr)

    decode = teacher.config.decode
    about = {"name": args.teacher, "method": decode.method, "beam": decode.beam_size,
             "alpha": decode.alpha, "stop": decode.stop}
    try:
        facts = distill.distill_g014b2b(args.data, args.out, teacher, about=about,
                                        batch=args.batch, progress=progress)
    except (FileExistsError, DataError) as e:
        p.error(str(e))
    print(f"{args.out}: {facts['train_words_distilled']:,} training words distilled "
          f"({facts['train_words_changed']:,} differ from every reference), "
          f"{facts['dev_lines_kept']:,} dev lines kept, {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
