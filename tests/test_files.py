"""Atomic writes: the target is the old file or the new one, never a torn one."""

from __future__ import annotations

import os

import pytest

from seq2seq_jax import files


def test_write_atomic_replaces_text_and_bytes_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "config.json"
    files.write_atomic(target, "ünïcode {}\n")
    assert target.read_text(encoding="utf-8") == "ünïcode {}\n"
    files.write_atomic(target, b"\x00\x01 bytes")
    assert target.read_bytes() == b"\x00\x01 bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


def test_a_failed_write_keeps_the_old_file_whole(tmp_path, monkeypatch):
    target = tmp_path / "RESULTS.md"
    target.write_text("the old results\n")

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        files.write_atomic(target, "half of the new results")
    assert target.read_text() == "the old results\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["RESULTS.md"]


def test_a_missing_directory_is_an_error_not_a_silent_skip(tmp_path):
    with pytest.raises(FileNotFoundError):
        files.write_atomic(tmp_path / "no" / "such" / "file.json", "{}")


def test_write_atomic_keeps_a_files_permissions_and_gives_new_ones_the_usual(tmp_path):
    kept = tmp_path / "shared.json"
    kept.write_text("{}")
    kept.chmod(0o640)
    files.write_atomic(kept, "[]")
    assert kept.stat().st_mode & 0o777 == 0o640
    new = tmp_path / "new.json"
    files.write_atomic(new, "{}")
    plain = tmp_path / "plain.json"
    plain.write_text("{}")  # what open() gives a new file under this umask
    assert new.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
