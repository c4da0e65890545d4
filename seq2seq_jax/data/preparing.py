"""One process at a time prepares a tfds dataset; the others wait, then reuse its data.

tfds writes a dataset into a temporary folder and renames it into place, but two
processes preparing the same one at once (two training runs started together on a
fresh machine) still collide: one fails with ``FileExistsError`` or reads a builder
that saw no splits. ``preparing`` holds an exclusive ``flock`` on a file next to the
version folders while a dataset is prepared.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

PREPARE_LOCK = ".prepare.lock"  # next to the version folders of the prepared data


@contextlib.contextmanager
def preparing(version_dir: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the preparation lock of the dataset whose data goes to ``version_dir``.

    The lock is released on exit, or by the kernel when the process dies.
    """
    parent = Path(version_dir).parent
    parent.mkdir(parents=True, exist_ok=True)
    with open(parent / PREPARE_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
