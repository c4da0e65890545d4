"""Parked runs: a workdir's newest checkpoint carried to another machine resumes exactly."""

from __future__ import annotations

import json
import shutil

import pytest
from scripts_loader import load_script
from test_train import _final_params, _read_metrics, tiny_config

from seq2seq_jax import layout
from seq2seq_jax.errors import ConfigError
from seq2seq_jax.lab.markdown import training_info
from seq2seq_jax.lab.park import MARK, SIDE_DIRS, SIDE_FILES, _whole_lines, park, unpark
from seq2seq_jax.training import checkpoint, train
from seq2seq_jax.training import workdir as workdir_lib

SCRIPT = load_script("park")


def _dev(workdir):
    return [(m["step"], m["exact_match"]) for m in _read_metrics(workdir) if m["split"] == "dev"]


def _train_steps(workdir):
    return [m["step"] for m in _read_metrics(workdir) if m["split"] == "train"]


def test_a_parked_run_resumed_on_a_new_workdir_ends_bit_identical(tmp_path):
    c = tiny_config(log_every=1)
    straight = tmp_path / "straight"
    train.train_and_evaluate(c, straight)
    run = tmp_path / "machine_a" / "run"
    train.train_and_evaluate(c, run, stop_at=4)  # checkpoint at step 3
    first = park(run, tmp_path / "kept" / "run")
    assert first["step"] == 3
    train.train_and_evaluate(c, run, stop_at=8)  # checkpoint at 6; the park is replaced
    assert max(_train_steps(run)) == 8
    record = park(run, tmp_path / "kept" / "run")
    kept = tmp_path / "kept" / "run"
    assert record["step"] == 6 and json.loads((kept / MARK).read_text())["step"] == 6
    assert checkpoint.complete_steps(kept) == [6]
    best_step = checkpoint.complete_steps(run, checkpoint.BEST)[-1]
    assert record["best_step"] == best_step <= 6
    assert checkpoint.complete_steps(kept, checkpoint.BEST) == [best_step]
    best_before = workdir_lib.load(run, checkpoint.BEST)
    assert not (kept / "tensorboard").exists()
    assert _read_metrics(kept) == _read_metrics(run)  # the whole log, lost steps too
    assert sorted(p.name for p in kept.parent.iterdir()) == ["run"]  # no temporary left
    shutil.rmtree(tmp_path / "machine_a")  # the machine is gone

    moved = tmp_path / "machine_b" / "run"
    assert unpark(kept, moved)["step"] == 6
    assert "unparked from" in (moved / "hardware.txt").read_text()
    assert not (moved / MARK).exists()
    carried = workdir_lib.load(moved, checkpoint.BEST)  # eval reads it before any resume
    assert carried.step == best_step
    assert (train.final_params_digest(carried.params)
            == train.final_params_digest(best_before.params))
    train.train_and_evaluate(c, moved)
    a, step_a = _final_params(straight)
    b, step_b = _final_params(moved)
    assert step_a == step_b == 12
    assert train.final_params_digest(a) == train.final_params_digest(b)
    assert _dev(moved) == _dev(straight)  # one row a step, the same scores
    assert _train_steps(straight) == list(range(1, 13))
    # steps 4 and 7-8 ran twice (after each interruption), as a run resumed in place logs them
    assert _train_steps(moved) == [1, 2, 3, 4, 4, 5, 6, 7, 8, 7, 8, 9, 10, 11, 12]
    assert training_info(moved).restarts == 2 and training_info(moved).steps == 12
    # the best checkpoint ends where the uninterrupted run's does
    best_a = workdir_lib.load(straight, checkpoint.BEST)
    best_b = workdir_lib.load(moved, checkpoint.BEST)
    assert best_a.step == best_b.step
    assert (train.final_params_digest(best_a.params)
            == train.final_params_digest(best_b.params))


def test_park_and_unpark_refuse_what_would_lose_or_mix_files(tmp_path):
    c = tiny_config()
    run = tmp_path / "run"
    with pytest.raises(ConfigError, match="no complete checkpoint"):
        park(run, tmp_path / "kept")
    train.train_and_evaluate(c, run, stop_at=3)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a parked folder"):
        park(run, taken)
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]
    with pytest.raises(ConfigError, match="not a parked folder"):
        unpark(taken, tmp_path / "new")
    park(run, tmp_path / "kept")
    with pytest.raises(ConfigError, match="is a parked folder"):
        park(tmp_path / "kept", tmp_path / "again")
    with pytest.raises(ConfigError, match="exists; unpark into a new workdir"):
        unpark(tmp_path / "kept", run)
    assert checkpoint.complete_steps(run) == [3]


def test_parking_carries_the_files_the_pipeline_reads_back():
    # park spells the pipeline's file names out rather than import the data stack
    assert layout.TOKENIZER_FILE in SIDE_FILES
    assert layout.SENTENCEPIECE_DIR in SIDE_DIRS


def test_a_log_line_still_being_written_is_left_out():
    rows = "".join(json.dumps({"step": s, "split": "train"}) + "\n" for s in (3, 6, 9))
    assert _whole_lines(rows + '{"step": 12, "spl') == _whole_lines(rows) == rows
    assert _whole_lines("") == ""


def test_script_reports_errors_with_exit_status_2(tmp_path, capsys):
    assert SCRIPT.main(["unpark", str(tmp_path / "none"), str(tmp_path / "w")]) == 2
    assert "not a parked folder" in capsys.readouterr().err
