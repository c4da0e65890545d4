"""Tests for seq2seq_jax.data.sources: names, split aliases, preparation, user errors."""

from __future__ import annotations

import fcntl
import gzip
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tensorflow_datasets as tfds

from seq2seq_jax.data import fingerprint, preparing, sources
from seq2seq_jax.data.examples import iter_pairs
from seq2seq_jax.data.multi30k import SPLIT_STEMS, file_name
from seq2seq_jax.data.sources import dataset_names, load_split, resolve_split
from seq2seq_jax.data.synthetic import SyntheticSpec
from seq2seq_jax.errors import DataError

SPEC = SyntheticSpec(num_train=40, num_dev=10, num_test=10, train_max_len=5, test_max_len=9)


def fake_multi30k(folder: Path, de_train: bytes = b"hallo welt\ndanke\n") -> Path:
    """A two-pair-per-split en/de corpus in the raw layout (gzipped like the real one)."""
    for split in SPLIT_STEMS:
        for lang, text in (("en", b"hello world\nthanks\n"), ("de", b"hallo welt\ndanke\n")):
            data = de_train if (split, lang) == ("train", "de") else text
            path = folder / f"{file_name(split, lang, tokenized=False)}.gz"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(gzip.compress(data))
    return folder


def test_dataset_names_cover_the_documented_scheme():
    names = dataset_names()
    assert {"cmudict_g2p/no_stress", "cmudict_g2p/stress", "cmudict_g014b2b",
            "multi30k/en_de_tok", "multi30k/fr_en_raw", "synthetic/copy",
            "synthetic/reverse", "synthetic/addition"} <= set(names)
    assert len([n for n in names if n.startswith("multi30k/")]) == 8


@pytest.mark.parametrize("name", ["nope", "multi30k/en_xx_tok", "synthetic/sort",
                                  "cmudict_g2p/loud"])
def test_unknown_names_list_the_choices(name, tmp_path):
    with pytest.raises(DataError, match=rf"Unknown dataset '{name}'.*multi30k/en_de_tok"
                                        r".*tfds:"):
        load_split(name, "train", data_dir=tmp_path)


def test_split_aliases():
    assert resolve_split("dev", ["train", "validation", "test"], "x") == "validation"
    assert resolve_split("validation[:5]", ["train", "dev"], "x") == "dev[:5]"
    assert resolve_split("val", ["dev"], "x") == "dev"
    assert resolve_split("test", ["train", "test"], "x") == "test"
    with pytest.raises(DataError, match=r"x has no split 'tune'; its splits are \['dev'"):
        resolve_split("tune", ["train", "dev"], "x")


def test_synthetic_through_load_split():
    dev = load_split("synthetic/reverse", "validation", synthetic=SPEC)
    assert len(dev) == 10
    assert all(t == s[::-1] for s, t in iter_pairs(dev))


def test_multi30k_from_a_manual_dir_with_dev_alias(tmp_path):
    manual = fake_multi30k(tmp_path / "m30k")
    pairs = list(iter_pairs(load_split("multi30k/de_en_raw", "dev", data_dir=tmp_path / "d",
                                       manual_dir=manual)))
    assert sorted(pairs) == [("danke", "thanks"), ("hallo welt", "hello world")]
    assert all(isinstance(s, str) and isinstance(t, str) for s, t in pairs)
    # Prepared data is reused: later calls no longer need the manual dir.
    again = load_split("multi30k/de_en_raw", "test", data_dir=tmp_path / "d")
    assert len(again) == 2


def test_missing_manual_dir_names_path_and_source(tmp_path):
    with pytest.raises(DataError, match=r"Manual data directory .*absent does not exist\. "
                                        r"Multi30k comes from https://github\.com/multi30k"
                                        r".*--config\.data\.manual_dir=PATH"):
        load_split("multi30k/en_de_tok", "train", data_dir=tmp_path / "d",
                   manual_dir=tmp_path / "absent")


def test_g014b2b_without_manual_dir_explains_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match=r"downloads/manual does not exist.*Phonetisaurus"
                                        r".*manual_dir=PATH.*cmudict_g2p"):
        load_split("cmudict_g014b2b", "test", data_dir=tmp_path / "d")


def test_skip_bad_lines_through_load_split(tmp_path):
    manual = fake_multi30k(tmp_path / "m30k", de_train=b"hallo welt\n\n")
    with pytest.raises(DataError, match=r"train\.de\.gz, line 2: empty sentence"):
        load_split("multi30k/en_de_raw", "train", data_dir=tmp_path / "a",
                   manual_dir=manual)
    kept = load_split("multi30k/en_de_raw", "train", data_dir=tmp_path / "b",
                      manual_dir=manual, skip_bad_lines=True)
    assert list(iter_pairs(kept)) == [("hello world", "hallo welt")]


def test_plain_tfds_data_source_works_without_tensorflow(tmp_path):
    """tfds.data_source(..., data_dir=...) keeps the builder's default file format, which
    must therefore be ArrayRecord: writing TFRecord would need TensorFlow."""
    manual = fake_multi30k(tmp_path / "m30k")
    source = tfds.data_source(
        "multi30k/en_de_raw", split="train", data_dir=tmp_path / "d",
        download_and_prepare_kwargs={
            "download_config": tfds.download.DownloadConfig(manual_dir=manual)})
    assert list(iter_pairs(source)) == [("hello world", "hallo welt"), ("thanks", "danke")]


def _prepared_root(data_dir: Path, manual: Path, name: str = "multi30k/de_en_raw") -> Path:
    """The tfds data_dir of ``name`` prepared from ``manual`` (named by its fingerprint)."""
    return data_dir / fingerprint.BY_SOURCE / sources.source_record(name, manual)["digest"][:16]


def _lock_path(data_dir: Path, manual: Path, name: str = "multi30k/de_en_raw") -> Path:
    base, _, config = name.partition("/")
    return _prepared_root(data_dir, manual, name) / base / config / preparing.PREPARE_LOCK


def _locked_elsewhere(path: Path) -> bool:
    """Whether another open file description holds an exclusive flock on ``path``."""
    if not path.exists():
        return False
    with open(path, "a") as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(probe, fcntl.LOCK_UN)
        return False


def test_preparation_holds_the_lock_and_reuse_does_not_take_it(tmp_path, monkeypatch):
    manual = fake_multi30k(tmp_path / "m30k")
    data_dir = tmp_path / "d"
    seen = []
    prepare = tfds.core.GeneratorBasedBuilder.download_and_prepare

    def spy(self, *args, **kwargs):
        seen.append(_locked_elsewhere(_lock_path(data_dir, manual)))
        return prepare(self, *args, **kwargs)

    monkeypatch.setattr(tfds.core.GeneratorBasedBuilder, "download_and_prepare", spy)
    sources.prepare_builder("multi30k/de_en_raw", data_dir=data_dir, manual_dir=manual)
    assert seen == [True]  # prepared under the lock
    assert not _locked_elsewhere(_lock_path(data_dir, manual))  # and released after
    # Prepared data is reused without the lock: a read-only data_dir keeps working.
    _lock_path(data_dir, manual).unlink()
    sources.prepare_builder("multi30k/de_en_raw", data_dir=data_dir, manual_dir=manual)
    assert seen == [True, False]
    assert not _lock_path(data_dir, manual).exists()


def _waiting_for_flock(pid: int) -> bool:
    """Whether process ``pid`` is blocked on a flock (Linux: '->' lines of /proc/locks)."""
    lines = Path("/proc/locks").read_text().splitlines()
    return any("->" in line and "FLOCK" in line and f" {pid} " in line for line in lines)


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux /proc/locks")
def test_a_run_waiting_on_another_preparation_reads_its_data(tmp_path):
    """Two runs started together on a fresh machine: the second waits on the lock while
    the first prepares, then reads the prepared splits instead of failing (tfds raises
    FileExistsError, or finds no splits, without the lock)."""
    manual = fake_multi30k(tmp_path / "m30k")
    data_dir = tmp_path / "d"
    lock_path = _lock_path(data_dir, manual)
    lock_path.parent.mkdir(parents=True)
    root = _prepared_root(data_dir, manual)
    script = ("import sys\n"
              "from seq2seq_jax.data.examples import iter_pairs\n"
              "from seq2seq_jax.data.sources import load_split\n"
              "pairs = iter_pairs(load_split('multi30k/de_en_raw', 'test', "
              "data_dir=sys.argv[1], manual_dir=sys.argv[2]))\n"
              "print(sorted(pairs))\n")
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # "the first run", preparing
        second = subprocess.Popen([sys.executable, "-c", script, str(data_dir), str(manual)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not _waiting_for_flock(second.pid):
            assert second.poll() is None, second.communicate()
            assert time.monotonic() < deadline, "the second run never waited on the lock"
            time.sleep(0.1)
        assert not (root / "multi30k" / "de_en_raw" / "1.0.0").exists()
        builder = sources.BUILDERS["multi30k"](config="de_en_raw", data_dir=root)
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=manual))
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert out.strip() == str(sorted([("danke", "thanks"), ("hallo welt", "hello world")]))
