"""Keep the small files behind a results table when its workdirs are gone.

Training workdirs hold checkpoints (hundreds of megabytes) and live outside
the repository; a table's numbers rest on much less: the decoded test
records, their summary, the training log, the config and the machine. After
``scripts/results.py ... --keep-decodes DIR`` those are copied, for every row
that was scored, to::

    DIR/<experiment>/<workdir name>/
        analysis/<split>_<decode>.json   the row's summary (scores, key, facts)
        analysis/<split>_<decode>.jsonl  one decoded example a line: its hypothesis
                                         and source length (lean)
        metrics.jsonl, config.json, hardware.txt, eval_*.json
    DIR/<experiment>/references/<split>-<hash>.jsonl   the sources and references, once

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
from seq2seq_jax.lab.records import Record, lean_records, load_records
from seq2seq_jax.layout import ANALYSIS_DIR, RECORD_FILES

# Beside an experiment's kept models: each test set's sources and references, once.
REFERENCES = "references"

WORKDIR_GLOBS = ("eval_*.json",)


def files_to_keep(workdir: Path, summary: Mapping[str, Any]) -> list[Path]:
    """The workdir files behind one analysed row, relative to ``workdir``, that exist."""
    analysis = Path(ANALYSIS_DIR)
    records = analysis / str(summary["records_file"])
    names = [records, records.with_suffix(".json"), *map(Path, RECORD_FILES)]
    names += sorted(p.relative_to(workdir) for g in WORKDIR_GLOBS for p in workdir.glob(g))
    return [n for n in dict.fromkeys(names) if (workdir / n).is_file()]


def _as_records(path: Path) -> list[Record] | None:
    """The decode records in ``path``, or None when it holds something else."""
    try:
        return load_records(path)
    except (ValueError, TypeError, KeyError, OSError):
        return None


def _write_if_changed(target: Path, data: bytes) -> bool:
    if target.is_file() and target.read_bytes() == data:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, data)
    return True


def keep_files(workdir: Path, names: Iterable[Path], dest: Path,
               references_dir: Path | None = None) -> list[Path]:
    """Copy ``workdir/<name>`` to ``dest/<name>``; returns the files written (changed ones).

    Decode records (``analysis/*.jsonl``) are kept lean (``records.lean_records``): the
    hypotheses and source lengths, with the test set's sources and references once in
    ``references_dir`` (default ``dest/../references``).
    """
    references_dir = dest.parent / REFERENCES if references_dir is None else references_dir
    written = []
    for name in names:
        source, target = workdir / name, dest / name
        records = _as_records(source) if name.suffix == ".jsonl" and name.parts[0] == (
            ANALYSIS_DIR) else None
        if records:
            data, ref_path, refs = lean_records(records, target, references_dir)
            if _write_if_changed(ref_path, refs):
                written.append(ref_path)
        else:
            data = source.read_bytes()
        if _write_if_changed(target, data):
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
