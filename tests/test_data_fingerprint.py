"""Prepared data is never read stale: a fingerprint of the sources names its folder."""

from __future__ import annotations

import gzip
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seq2seq_jax import config as config_lib
from seq2seq_jax import layout
from seq2seq_jax.cli import commands
from seq2seq_jax.data import fingerprint, sources
from seq2seq_jax.errors import DataError
from seq2seq_jax.training import train

REF = "".join(f"DOG{chr(65 + i)}\tD AO G\n" for i in range(20))


def g2p_files(folder: Path, words: list[str]) -> Path:
    """A g014b2b-style folder whose training words are ``words``."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(f"{w}\t{' '.join('AH' for _ in w)}\n" for w in words)
    (folder / "g014b2b.train.gz").write_bytes(gzip.compress(lines.encode()))
    (folder / "g014b2b.ref").write_text(REF)
    return folder


def words(n: int, marker: str = "") -> list[str]:
    return [marker] * bool(marker) + [f"W{'A' * (i % 7 + 1)}B{chr(65 + i % 26)}"
                                      for i in range(n)]


def load(data_dir: Path, manual_dir: Path) -> list[str]:
    return [e["source"] for e in sources.load_split("cmudict_g014b2b", "train",
                                                    data_dir=data_dir, manual_dir=manual_dir)]


def test_another_source_folder_is_prepared_anew_and_the_old_data_stays(tmp_path, caplog):
    data = tmp_path / "tfds"
    a = g2p_files(tmp_path / "a", words(3, "alpha"))
    b = g2p_files(tmp_path / "b", words(5, "beta"))
    first = load(data, a)
    assert len(first) == 4 and "alpha" in first
    with caplog.at_level(logging.WARNING):
        second = load(data, b)
    assert len(second) == 6 and "beta" in second and "alpha" not in second
    assert "sources changed" in caplog.text and str(a) in caplog.text and str(b) in caplog.text
    assert load(data, a) == first  # A's prepared data is still there, and still A's
    assert len(list((data / fingerprint.BY_SOURCE).iterdir())) == 2


def test_a_source_edited_in_place_is_prepared_again(tmp_path, caplog):
    data = tmp_path / "tfds"
    a = g2p_files(tmp_path / "a", words(3))
    assert len(load(data, a)) == 3
    g2p_files(a, words(3, "fixed"))  # the user adds a word to the same file
    with caplog.at_level(logging.WARNING):
        assert "fixed" in load(data, a)
    assert "sources changed" in caplog.text


def test_the_same_files_elsewhere_are_the_same_data(tmp_path):
    data = tmp_path / "tfds"
    a = g2p_files(tmp_path / "a", words(4))
    b = g2p_files(tmp_path / "b", words(4))
    assert sources.source_record("cmudict_g014b2b", a)["digest"] == sources.source_record(
        "cmudict_g014b2b", b)["digest"]
    load(data, a)
    load(data, b)
    assert len(list((data / fingerprint.BY_SOURCE).iterdir())) == 1  # prepared once


_PREPARE = """
import sys
from seq2seq_jax.data import sources
print(len(sources.load_split("cmudict_g014b2b", "train", data_dir=sys.argv[1],
                             manual_dir=sys.argv[2])))
"""


def test_a_preparation_killed_with_sigkill_is_never_read_as_complete(tmp_path):
    data, src = tmp_path / "tfds", tmp_path / "src"
    rng = random.Random(0)
    many = ["".join(rng.choice("ABCDEFGHIJ") for _ in range(rng.randint(3, 12)))
            for _ in range(60_000)]
    g2p_files(src, many)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.Popen([sys.executable, "-c", _PREPARE, str(data), str(src)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(data.rglob("*incomplete*")):
        time.sleep(0.02)
    assert list(data.rglob("*incomplete*")), "the preparation never started"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    rerun = subprocess.run([sys.executable, "-c", _PREPARE, str(data), str(src)], env=env,
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    clean = subprocess.run([sys.executable, "-c", _PREPARE, str(tmp_path / "clean"), str(src)],
                           env=env, capture_output=True, text=True, timeout=300)
    assert rerun.stdout.split()[-1] == clean.stdout.split()[-1]  # as if never interrupted


def _config(data: Path, manual: Path, steps: int = 4):
    c = config_lib.load_config("smoke:cmudict_g014b2b")
    c.data.data_dir, c.data.manual_dir = str(data), str(manual)
    c.train.num_steps = steps
    c.data.train_limit = 0
    c.train.eval_max_examples = 0  # the few hash-picked dev words, all of them
    return c


def test_resuming_on_changed_data_stops_naming_both(tmp_path, capsys, caplog):
    data, a, work = tmp_path / "tfds", g2p_files(tmp_path / "a", words(40)), tmp_path / "run"
    train.train_and_evaluate(_config(data, a), work, stop_at=2)
    trained_on = json.loads((work / layout.DATA_FILE).read_text())
    g2p_files(a, words(40, "added"))
    now = sources.source_record("cmudict_g014b2b", a)
    with pytest.raises(DataError) as err:
        train.train_and_evaluate(_config(data, a), work)
    message = str(err.value)
    assert trained_on["digest"][:12] in message and now["digest"][:12] in message
    assert "--config.data.accept_changed_sources=True" in message
    accepted = _config(data, a)
    accepted.data.accept_changed_sources = True
    with caplog.at_level(logging.WARNING):
        assert train.train_and_evaluate(accepted, work)["step"] == 4
    assert "going on with the new data" in caplog.text
    assert json.loads((work / layout.DATA_FILE).read_text())["digest"] == now["digest"]

    g2p_files(a, words(40, "again"))  # eval on yet other data: warned, still scored
    with caplog.at_level(logging.WARNING):
        commands.run_eval(str(work), "test", examples_to_show=0)
    assert "this evaluation reads" in caplog.text
