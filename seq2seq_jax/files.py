"""Writing files so that a crash or a concurrent writer never leaves a torn one.

``write_atomic`` writes into a temporary file next to the target, flushes it
to disk and renames it over the target (``os.replace``, atomic on POSIX). A
process killed mid-write leaves the previous file whole (and at most a
``.<name>.*.tmp`` file, removed when the write fails inside Python); several
processes writing the same file (multi-host training on a shared filesystem)
each replace it whole.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_NEW_FILE_MODE = 0o666 & ~_umask()  # what open() would give a new file


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8) in one rename.

    The file keeps its permissions, or gets those ``open`` would give a new one
    (not the owner-only mode of a temporary file).
    """
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    mode = path.stat().st_mode & 0o7777 if path.exists() else _NEW_FILE_MODE
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
