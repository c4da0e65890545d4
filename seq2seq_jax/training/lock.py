"""One training run per workdir: an OS file lock on ``<workdir>/train.lock``.

``train`` holds an exclusive ``fcntl.flock`` on the lock file for as long as it
runs. The operating system drops the lock when the process ends, however it
ends (``kill -9`` included), so a crashed run never leaves a stale lock behind:
the file may stay, the lock does not. The holder writes its pid into the file,
so a refused second run can say who holds the workdir.

``eval`` and ``predict`` only read a workdir and take no lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
from pathlib import Path
from types import TracebackType

from seq2seq_jax.errors import WorkdirError
from seq2seq_jax.layout import LOCK_FILE, lock_file

log = logging.getLogger(__name__)



class WorkdirLockedError(WorkdirError):
    """Another process holds the workdir's lock; the message names both."""


def _read_pid(fd: int) -> int | None:
    """The pid written into an open lock file, if it holds a plausible one."""
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class WorkdirLock:
    """An exclusive, non-blocking lock on one workdir.

    Use as a context manager (``with WorkdirLock(workdir): ...``) or call
    ``acquire`` / ``release``. The lock is not re-entrant: a second
    ``WorkdirLock`` on the same workdir fails even in the same process.
    """

    def __init__(self, workdir: str | Path, process_index: int = 0):
        """Args:
          workdir: the training directory; created if missing.
          process_index: this process's index in a multi-process run. Process 0
            locks ``train.lock`` and process k ``train.k.lock``, so the processes
            of one run share the workdir while a second run still collides.
        """
        self.workdir = Path(workdir)
        self.path = self.workdir / lock_file(process_index)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> WorkdirLock:
        """Take the lock or fail at once.

        Returns:
          self, holding the lock.

        Raises:
          WorkdirLockedError: another run holds it; the message names the
            workdir and, when known, the holder's pid.
          WorkdirError: ``workdir`` is a file.
        """
        if self._fd is not None:
            return self
        if self.workdir.exists() and not self.workdir.is_dir():
            raise WorkdirError(f"workdir {self.workdir} exists and is not a directory; pass "
                               "a directory (it is created if missing) as --workdir")
        self.workdir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                # A filesystem without flock support (some network mounts): run
                # unguarded rather than refuse to train at all.
                log.warning("cannot lock %s (%s); concurrent runs on this workdir will not "
                            "be detected", self.path, e.strerror)
                os.close(fd)
                return self
            pid = _read_pid(fd)
            os.close(fd)
            holder = f"process {pid}" if pid is not None else "another process"
            raise WorkdirLockedError(
                f"workdir {self.workdir} is in use by another training run ({holder} holds "
                f"{self.path}); wait for it to finish or stop it, or pass another "
                "--workdir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock (closing the file releases it); the file itself stays."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self) -> WorkdirLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def __del__(self) -> None:
        # At interpreter shutdown ``os`` may be gone; the OS drops the lock anyway.
        with contextlib.suppress(Exception):
            self.release()


def _probe(workdir: str | Path) -> tuple[bool, int | None]:
    """(held, holder's pid) of ``workdir``'s lock, by a shared non-blocking probe."""
    path = Path(workdir) / LOCK_FILE
    if not path.exists():
        return False, None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True, _read_pid(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False, None
    finally:
        os.close(fd)


def holder_pid(workdir: str | Path) -> int | None:
    """The pid of the run holding ``workdir``'s lock, or None when it is free.

    Args:
      workdir: a training directory.

    Returns:
      The pid written by the holder (None if the lock is free, or if the holder
      has not written its pid yet).
    """
    return _probe(workdir)[1]


def in_use(workdir: str | Path) -> bool:
    """Whether a training run holds ``workdir``'s lock now (False without a lock file).

    Reads only: the lock file is neither created nor written.
    """
    return _probe(workdir)[0]
