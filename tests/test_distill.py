"""Distillation data: the teacher labels the training words, dev and test stay references."""

from __future__ import annotations

import gzip
import json

import pytest
from scripts_loader import load_script

from seq2seq_jax.data.cmudict_g2p import split_of_word
from seq2seq_jax.data.g014b2b import DEV_FRACTION
from seq2seq_jax.lab import distill

WORDS = [f"ab{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(80)]


def _teacher(words):  # a stand-in: the letters backwards, upper-cased, as phonemes
    return [" ".join(w[::-1].upper()) for w in words]


@pytest.fixture
def source(tmp_path):
    folder = tmp_path / "g014b2b"
    folder.mkdir()
    lines = [f"{w.upper()}\tP{i} Q\n" for i, w in enumerate(WORDS)]
    lines.insert(3, f"{WORDS[2].upper()}\tSECOND PRON\n")  # a second pronunciation
    (folder / "g014b2b.train").write_text("".join(lines))
    (folder / "g014b2b.ref").write_text("ZEBRA\tZ IY B R AH\tZ EH B R AH\n")
    (folder / "README.md").write_text("about the source\n")
    return folder


def test_training_words_get_the_teachers_output_and_dev_words_keep_theirs(source, tmp_path):
    dev = {w for w in WORDS if split_of_word(w, DEV_FRACTION, 0.0) == "dev"}
    assert dev and len(dev) < len(WORDS)  # the fixture has both kinds
    facts = distill.distill_g014b2b(source, tmp_path / "out", _teacher, about={"name": "t"},
                                    batch=7)
    with gzip.open(tmp_path / "out" / "g014b2b.train.gz", "rt") as f:
        rows = [line.rstrip("\n").split("\t") for line in f]
    source_rows = [line.split("\t") for line in source.joinpath(
        "g014b2b.train").read_text().splitlines()]
    assert [r for r in rows if r[0].lower() in dev] == [
        r for r in source_rows if r[0].lower() in dev]
    taught = [r for r in rows if r[0].lower() not in dev]
    assert [w for w, _ in taught] == [w.upper() for w in WORDS if w not in dev]  # once each
    assert all(pron == _teacher([w.lower()])[0] for w, pron in taught)
    assert (tmp_path / "out" / "g014b2b.ref").read_bytes() == (
        source / "g014b2b.ref").read_bytes()
    assert not (tmp_path / "out" / "README.md").exists()
    marker = json.loads((tmp_path / "out" / distill.MARKER).read_text())
    assert marker == facts and facts["teacher"] == {"name": "t"}
    assert facts["train_words_distilled"] == len(taught) == facts["train_words_changed"]
    assert facts["dev_lines_kept"] == sum(r[0].lower() in dev for r in source_rows)


def test_an_existing_folder_is_never_written_over(source, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine").write_text("keep")
    with pytest.raises(FileExistsError, match="exists; give a new folder"):
        distill.distill_g014b2b(source, out, _teacher)
    assert [p.name for p in out.iterdir()] == ["mine"]


def test_a_teacher_that_drops_words_is_an_error_and_leaves_no_folder(source, tmp_path):
    with pytest.raises(ValueError, match="answered"):
        distill.distill_g014b2b(source, tmp_path / "out", lambda ws: _teacher(ws)[1:])
    assert not (tmp_path / "out").exists()


def test_the_script_names_a_missing_data_folder(tmp_path, capsys, monkeypatch):
    script = load_script("distill")
    monkeypatch.setattr("seq2seq_jax.load", lambda *a, **k: pytest.fail("loaded a model"),
                        raising=False)
    with pytest.raises(SystemExit):
        script.main(["--teacher", "g2p", "--data", str(tmp_path / "none"),
                     "--out", str(tmp_path / "out")])
    assert "none" in capsys.readouterr().err
