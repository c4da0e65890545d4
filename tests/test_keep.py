"""Keeping a table's evidence: what is copied, what is left alone, and who can read it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seq2seq_jax.lab import keep, significance


def _workdir(root: Path, name: str = "luong", decode: str = "beam5") -> Path:
    """A workdir with one analysis, its logs and a checkpoint that must not be kept."""
    wd = root / "runs" / "multi30k" / name
    (wd / "analysis").mkdir(parents=True)
    (wd / "analysis" / f"test_{decode}.jsonl").write_text('{"hyp": "a"}\n')
    (wd / "analysis" / f"test_{decode}.json").write_text('{"metrics": {"bleu": 1.0}}')
    (wd / "analysis" / "test_greedy.jsonl").write_text('{"hyp": "other decode"}\n')
    (wd / "metrics.jsonl").write_text('{"step": 1}\n')
    (wd / "config.json").write_text("{}")
    (wd / "eval_validation_beam5.json").write_text('{"bleu": 2.0}')
    (wd / "checkpoints" / "100").mkdir(parents=True)
    (wd / "checkpoints" / "100" / "params").write_bytes(b"\0" * 64)
    return wd


def _summary(decode: str = "beam5") -> dict:
    return {"records_file": f"test_{decode}.jsonl"}


def test_a_rows_records_summary_and_logs_are_kept_and_nothing_else(tmp_path):
    wd = _workdir(tmp_path)
    dest = tmp_path / "kept"
    written = keep.keep_rows("multi30k", [(wd, _summary())], dest)
    kept = dest / "multi30k" / "luong"
    expected = {"analysis/test_beam5.jsonl", "analysis/test_beam5.json", "metrics.jsonl",
                "config.json", "eval_validation_beam5.json"}  # no hardware.txt in this one
    assert {str(p.relative_to(kept)) for p in written} == expected
    assert {str(p.relative_to(kept)) for p in kept.rglob("*") if p.is_file()} == expected
    for name in expected:
        assert (kept / name).read_bytes() == (wd / name).read_bytes()


def test_unchanged_files_are_not_rewritten_changed_ones_are_and_others_stay(tmp_path):
    wd = _workdir(tmp_path)
    dest = tmp_path / "kept"
    keep.keep_rows("multi30k", [(wd, _summary())], dest)
    kept = dest / "multi30k" / "luong"
    (kept / "analysis" / "test_beam5_avg3.jsonl").write_text("kept from an earlier run\n")
    before = (kept / "config.json").stat().st_mtime_ns
    assert keep.keep_rows("multi30k", [(wd, _summary())], dest) == []
    assert (kept / "config.json").stat().st_mtime_ns == before
    (wd / "metrics.jsonl").write_text('{"step": 1}\n{"step": 2}\n')
    (wd / "config.json").unlink()  # gone from the workdir: the kept copy stays
    assert keep.keep_rows("multi30k", [(wd, _summary())], dest) == [kept / "metrics.jsonl"]
    assert (kept / "metrics.jsonl").read_text().count("step") == 2
    assert (kept / "config.json").read_text() == "{}"
    assert (kept / "analysis" / "test_beam5_avg3.jsonl").read_text() == \
        "kept from an earlier run\n"


def test_rows_without_results_are_skipped_and_the_workdirs_folder_is_refused(tmp_path):
    wd = _workdir(tmp_path)
    assert keep.keep_rows("multi30k", [(wd, None)], tmp_path / "kept") == []
    assert not (tmp_path / "kept").exists()
    with pytest.raises(ValueError, match=r"--keep-decodes .*workdirs' own folder"):
        keep.keep_rows("multi30k", [(wd, _summary())], tmp_path / "runs")


def test_an_ensemble_row_keeps_its_records_under_its_first_member(tmp_path):
    decode = "beam5_ens-luong+transformer"
    wd = _workdir(tmp_path, decode=decode)
    keep.keep_rows("multi30k", [(wd, _summary(decode))], tmp_path / "kept")
    # significance reads the kept folder as it reads the runs
    path = significance.records_path(tmp_path / "kept", "multi30k", "luong+transformer",
                                     "test", "beam5")
    assert path.read_text() == '{"hyp": "a"}\n'
    assert json.loads(path.with_suffix(".json").read_text())["metrics"]["bleu"] == 1.0


def _real_records(wd: Path, decode: str, hyps: list[str]) -> None:
    from seq2seq_jax.lab.records import Record, save_records

    save_records(wd / "analysis" / f"test_{decode}.jsonl", [
        Record(i, f"source {i} .", [f"ref {i} ."], h, 2, [f"Ref {i}."])
        for i, h in enumerate(hyps)])


def test_records_are_kept_lean_with_the_references_once(tmp_path):
    from seq2seq_jax.lab.records import load_records

    a, b = _workdir(tmp_path, "luong"), _workdir(tmp_path, "rnn")
    _real_records(a, "beam5", ["x .", "y ."])
    _real_records(b, "beam5", ["z .", "w ."])
    dest = tmp_path / "kept"
    keep.keep_rows("multi30k", [(a, _summary()), (b, _summary())], dest)
    refs = list((dest / "multi30k" / keep.REFERENCES).iterdir())
    assert len(refs) == 1  # the same test set: its references once
    for wd in (a, b):
        kept = dest / "multi30k" / wd.name / "analysis" / "test_beam5.jsonl"
        assert "source 0" not in kept.read_text() and "Ref 0" not in kept.read_text()
        assert load_records(kept) == load_records(wd / "analysis" / "test_beam5.jsonl")
    refs[0].write_text(refs[0].read_text().replace("ref 1", "ref one"))
    with pytest.raises(ValueError, match="changed since"):
        load_records(dest / "multi30k" / "luong" / "analysis" / "test_beam5.jsonl")
