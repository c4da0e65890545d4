"""Reading line-oriented text corpora with every line validated.

Two readers share one set of checks, so every builder reports bad input the same way:

* `read_fields(path, ...)`: one record a line, tab-separated fields
  (`WORD<TAB>PH ON EMES`, `WORD<TAB>PRON<TAB>PRON...`).
* `read_parallel(source_path, target_path, ...)`: two files where line N of one
  translates line N of the other.

A line is bad when it is not UTF-8, has the wrong number of fields, or has an empty
field (an empty side of a sentence pair). By default the first bad line raises a
`DataError` naming the file and the 1-based line number; with `skip_bad_lines=True` bad
lines are dropped and counted in `ReadResult.skipped`. Two sides of a parallel corpus
with different line counts are always an error: once a line is missing, which line
pairs with which is unknown, so no amount of skipping makes the rest trustworthy.

Files may be plain or gzip-compressed (detected from the content, not the name), and
`find_file` accepts `NAME` or `NAME.gz`, so a directory of either works.
"""

from __future__ import annotations

import codecs
import gzip
import os
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from seq2seq_jax.errors import DataError

_GZIP_MAGIC = b"\x1f\x8b"
_MAX_PROBLEMS_KEPT = 10
_SKIP_HINT = (
    " Fix the file, or pass skip_bad_lines=True (--config.data.skip_bad_lines=True) "
    "to skip such lines and count them."
)

PathLike = str | os.PathLike[str]


class ReadResult(NamedTuple):
    """What a reader kept and what it dropped."""

    rows: list[tuple[str, ...]]  # one tuple of stripped fields per kept line
    skipped: int  # bad lines dropped (always 0 unless skip_bad_lines=True)
    problems: list[str]  # "FILE, line N: why" for the first few dropped lines


def find_file(directory: PathLike, name: str, *, how_to_get: str) -> Path:
    """Locates `name` or `name.gz` in `directory`.

    Args:
      directory: the folder to look in.
      name: the file name without a `.gz` suffix.
      how_to_get: a sentence telling the user where the file comes from; it ends the
        error message.

    Returns:
      The path of the file that exists, preferring the uncompressed one.

    Raises:
      DataError: the directory or the file is missing.
    """
    folder = Path(directory).expanduser()
    if not folder.is_dir():
        raise DataError(f"Data directory {folder} does not exist. {how_to_get}")
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(
        f"Neither {folder / name} nor {folder / name}.gz exists. {how_to_get}"
    )


def _raw_lines(path: Path) -> list[bytes]:
    """All lines of a plain or gzip file, without line terminators."""
    if not path.is_file():
        raise DataError(f"File {path} does not exist.")
    try:
        data = path.read_bytes()
        if data.startswith(_GZIP_MAGIC):
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"Cannot read {path}: {e} (a truncated or corrupt download?)") from e
    # A UTF-8 byte order mark (editors on Windows write one) is not text of line 1.
    data = data.removeprefix(codecs.BOM_UTF8)
    # Split on "\n" only: bytes.splitlines would also split on a stray "\r" inside a
    # sentence and shift every later line of a parallel corpus.
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the terminator of the last line, not an empty line
    return [line.removesuffix(b"\r") for line in lines]


class _Checker:
    """Raises on the first problem, or counts problems when skipping."""

    def __init__(self, skip_bad_lines: bool):
        self.skip_bad_lines = skip_bad_lines
        self.skipped = 0
        self.problems: list[str] = []

    def bad(self, path: Path, lineno: int, why: str) -> None:
        message = f"{path}, line {lineno}: {why}."
        if not self.skip_bad_lines:
            raise DataError(message + _SKIP_HINT)
        self.skipped += 1
        if len(self.problems) < _MAX_PROBLEMS_KEPT:
            self.problems.append(message)

    def decode(self, path: Path, lineno: int, raw: bytes) -> str | None:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            self.bad(path, lineno, f"invalid UTF-8 (byte {raw[e.start]:#04x} at column "
                                   f"{e.start + 1})")
            return None

    def result(self, rows: list[tuple[str, ...]], paths: tuple[Path, ...]) -> ReadResult:
        if not rows:
            names = " and ".join(str(p) for p in paths)
            raise DataError(f"{names}: no usable lines ({self.skipped} skipped).")
        return ReadResult(rows, self.skipped, self.problems)


def read_fields(
    path: PathLike,
    *,
    min_fields: int,
    max_fields: int | None,
    layout: str,
    validate: Callable[[tuple[str, ...]], str | None] | None = None,
    skip_bad_lines: bool = False,
) -> ReadResult:
    """Reads a file of tab-separated records, one a line.

    Args:
      path: a plain or gzip text file.
      min_fields: the fewest tab-separated fields a valid line has.
      max_fields: the most, or None for no limit.
      layout: the expected line layout for error messages, e.g. "WORD<TAB>PHONEMES".
      validate: an extra check on the stripped fields of a line, returning why the line
        is bad (a phrase, no final period) or None when it is fine.
      skip_bad_lines: drop and count bad lines instead of raising.

    Returns:
      The stripped fields of each valid line, and how many lines were skipped.

    Raises:
      DataError: the file is missing or unreadable, a line is bad (unless skipping), or
        no valid line is left.
    """
    path = Path(path)
    checker = _Checker(skip_bad_lines)
    rows: list[tuple[str, ...]] = []
    for lineno, raw in enumerate(_raw_lines(path), start=1):
        line = checker.decode(path, lineno, raw)
        if line is None:
            continue
        fields = tuple(field.strip() for field in line.split("\t"))
        too_many = max_fields is not None and len(fields) > max_fields
        if len(fields) < min_fields or too_many:
            expected = (f"{min_fields}" if max_fields == min_fields
                        else f"at least {min_fields}" if max_fields is None
                        else f"{min_fields} to {max_fields}")
            checker.bad(path, lineno, f"expected {expected} tab-separated fields "
                                      f"({layout}), found {len(fields)}")
            continue
        empty = [i + 1 for i, field in enumerate(fields) if not field]
        if empty:
            checker.bad(path, lineno, f"field {empty[0]} is empty (expected {layout})")
            continue
        problem = validate(fields) if validate is not None else None
        if problem is not None:
            checker.bad(path, lineno, problem)
            continue
        rows.append(fields)
    return checker.result(rows, (path,))


def read_parallel(
    source_path: PathLike, target_path: PathLike, *, skip_bad_lines: bool = False
) -> ReadResult:
    """Reads two line-aligned files into (source, target) sentence pairs.

    Args:
      source_path: one sentence a line, plain or gzip.
      target_path: its translation, line for line.
      skip_bad_lines: drop and count pairs where either side is bad (invalid UTF-8 or
        empty) instead of raising.

    Returns:
      `rows` of (source, target) stripped sentences, and how many pairs were skipped.

    Raises:
      DataError: a file is missing or unreadable, the line counts differ (always, see
        the module docstring), a side is bad (unless skipping), or no pair is left.
    """
    paths = (Path(source_path), Path(target_path))
    sides = [_raw_lines(p) for p in paths]
    if len(sides[0]) != len(sides[1]):
        short = 0 if len(sides[0]) < len(sides[1]) else 1
        long_ = 1 - short
        raise DataError(
            f"{paths[0]} has {len(sides[0])} lines but {paths[1]} has {len(sides[1])}: "
            f"line {len(sides[short]) + 1} of {paths[long_]} has no partner in "
            f"{paths[short]}. The two sides of a parallel corpus must have the same "
            "number of lines; re-download or re-extract the pair (this is not skippable)."
        )
    checker = _Checker(skip_bad_lines)
    rows: list[tuple[str, ...]] = []
    for lineno, raw_pair in enumerate(zip(*sides, strict=True), start=1):
        pair: list[str] = []
        for path, raw in zip(paths, raw_pair, strict=True):
            text = checker.decode(path, lineno, raw)
            if text is None:
                break
            text = text.strip()
            if not text:
                checker.bad(path, lineno, "empty sentence (its partner in the other "
                                          "file is on the same line)")
                break
            pair.append(text)
        if len(pair) == 2:
            rows.append(tuple(pair))
    return checker.result(rows, paths)


def manual_dir_of(dl_manager: Any) -> Path:
    """The manual-data directory a tfds download manager was configured with.

    `dl_manager.manual_dir` itself raises a bare AssertionError when the directory is
    missing; builders want to name the path in a `DataError` instead, so this reads the
    configured path without checking it (`DownloadConfig(manual_dir=...)`, else tfds's
    default `<data_dir>/downloads/manual`).

    Args:
      dl_manager: the `tfds.download.DownloadManager` given to `_split_generators`.

    Returns:
      The configured directory, which may not exist.
    """
    configured = getattr(dl_manager, "_manual_dir", None)
    if configured is None:
        configured = Path(str(dl_manager.download_dir)) / "manual"
    return Path(str(configured)).expanduser()
