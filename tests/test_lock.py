"""One training run per workdir: the flock, its message, and kill -9 leaving no stale lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seq2seq_jax import cli
from seq2seq_jax.training import lock

ROOT = Path(__file__).resolve().parents[1]
SMOKE = str(ROOT / "configs" / "smoke.py")

HOLD = """
import sys, time
from seq2seq_jax.training.lock import WorkdirLock
held = WorkdirLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(600)
"""


@pytest.fixture
def holder(tmp_path):
    """Another process holding ``tmp_path / 'run'``; SIGKILLed at the end if still alive."""
    workdir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(workdir)], stdout=subprocess.PIPE,
                            text=True, cwd=ROOT)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield workdir, proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_second_lock_in_the_same_process_is_refused(tmp_path):
    with lock.WorkdirLock(tmp_path) as first:
        assert first.held and lock.holder_pid(tmp_path) == os.getpid()
        with pytest.raises(lock.WorkdirLockedError) as err:
            lock.WorkdirLock(tmp_path).acquire()
        assert str(tmp_path) in str(err.value) and f"process {os.getpid()}" in str(err.value)
    assert lock.holder_pid(tmp_path) is None
    with lock.WorkdirLock(tmp_path):  # free again once released
        pass


def test_processes_of_one_run_lock_separate_files(tmp_path):
    with lock.WorkdirLock(tmp_path, 0), lock.WorkdirLock(tmp_path, 1) as second:
        assert second.path.name == "train.1.lock"
        with pytest.raises(lock.WorkdirLockedError):
            lock.WorkdirLock(tmp_path, 1).acquire()


def test_cli_train_on_a_held_workdir_exits_2_naming_it_and_the_holder(holder, capsys):
    workdir, proc = holder
    assert lock.holder_pid(workdir) == proc.pid
    rc = cli.main(["train", f"--config={SMOKE}:synthetic", f"--workdir={workdir}",
                   "--config.train.num_steps=2"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    assert f"workdir {workdir} is in use" in err and f"process {proc.pid}" in err
    assert not (workdir / "checkpoints").exists()  # refused before touching anything


def test_kill_9_leaves_no_stale_lock(holder):
    workdir, proc = holder
    with pytest.raises(lock.WorkdirLockedError):
        lock.WorkdirLock(workdir).acquire()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while lock.holder_pid(workdir) is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (workdir / lock.LOCK_FILE).exists()  # the file stays, the lock does not
    with lock.WorkdirLock(workdir) as again:
        assert again.held and lock.holder_pid(workdir) == os.getpid()
