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


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8) in one rename."""
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
