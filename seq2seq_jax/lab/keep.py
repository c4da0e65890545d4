"""Keep the small files behind a results table when its workdirs are gone.

Training workdirs hold checkpoints (hundreds of megabytes) and live outside
the repository; a table's numbers rest on much less: the decoded test
records, their summary, the training log, the config and the machine. After
``scripts/results.py ... --keep-decodes DIR`` those are copied, for every row
that was scored, to::

    DIR/<experiment>/<workdir name>/
        analysis/<split>_<decode>.json   the row's summary (scores, key, facts)
        analysis/<split>_<decode>.jsonl  one decoded example a line
        metrics.jsonl, config.json, hardware.txt, eval_*.json

the layout of a workdir, so ``scripts/significance.py --runs DIR`` reads the
kept records as it reads a workdir's. An ensemble row keeps its records under
its first member's name, where ``analysis`` stored them.

Each file is replaced whole (``files.write_atomic``); a file already kept is
rewritten only when its bytes differ, and a kept file whose workdir copy has
gone stays as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from seq2seq_jax.files import write_atomic
from seq2seq_jax.layout import ANALYSIS_DIR, RECORD_FILES

WORKDIR_GLOBS = ("eval_*.json",)


def files_to_keep(workdir: Path, summary: Mapping[str, Any]) -> list[Path]:
    """The workdir files behind one analysed row, relative to ``workdir``, that exist."""
    analysis = Path(ANALYSIS_DIR)
    records = analysis / str(summary["records_file"])
    names = [records, records.with_suffix(".json"), *map(Path, RECORD_FILES)]
    names += sorted(p.relative_to(workdir) for g in WORKDIR_GLOBS for p in workdir.glob(g))
    return [n for n in dict.fromkeys(names) if (workdir / n).is_file()]


def keep_files(workdir: Path, names: Iterable[Path], dest: Path) -> list[Path]:
    """Copy ``workdir/<name>`` to ``dest/<name>``; returns the files written (changed ones)."""
    written = []
    for name in names:
        data = (workdir / name).read_bytes()
        target = dest / name
        if target.is_file() and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data)
        written.append(target)
    return written


def keep_rows(experiment: str, rows: Iterable[tuple[Path, Mapping[str, Any] | None]],
              dest: str | Path) -> list[Path]:
    """Keep every analysed ``(workdir, summary)`` row of ``experiment`` under ``dest``.

    Rows without a summary (not trained, training now, failed) are skipped.
    Returns the files written.
    """
    written: list[Path] = []
    for workdir, summary in rows:
        if summary is None:
            continue
        workdir = Path(workdir)
        target = Path(dest) / experiment / workdir.name
        if target.resolve() == workdir.resolve():
            raise ValueError(f"--keep-decodes {dest}: that is the workdirs' own folder "
                             f"({workdir}); name another folder, e.g. docs/results/decodes")
        written += keep_files(workdir, files_to_keep(workdir, summary), target)
    return written
