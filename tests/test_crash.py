"""Nothing lost: kill -9 and resume, a damaged latest checkpoint, a non-finite loss.

The kill test runs the real command (``seq2seq-jax train``) in subprocesses through
``scripts/kill_loop.py``; the others call ``train.train_and_evaluate`` in process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import threading
from pathlib import Path
from types import ModuleType

import jax
import numpy as np
import pytest
from test_train import tiny_config

from seq2seq_jax.data import batching
from seq2seq_jax.training import checkpoint, train
from seq2seq_jax.training import workdir as workdir_lib

ROOT = Path(__file__).resolve().parents[1]
SMOKE = f"{ROOT / 'configs' / 'smoke.py'}:synthetic"
CACHE = Path(os.environ.get("SEQ2SEQ_JAX_TEST_CACHE", ROOT / ".jax_cache"))
# Every sequence 6 symbols long: one batch shape, so one compilation of each step.
OVERRIDES = ["--config.train.num_steps=24", "--config.train.log_every=1",
             "--config.train.checkpoint_every=2", "--config.train.eval_every=8",
             "--config.train.eval_max_examples=16", "--config.data.synthetic.min_len=6",
             "--config.data.synthetic.train_max_len=6",
             "--config.data.synthetic.test_max_len=6"]


def _kill_loop() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kill_loop", ROOT / "scripts" / "kill_loop.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["kill_loop"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_kill_9_twice_resumes_from_the_newest_checkpoint_bit_identically(tmp_path):
    """Killed once right after its first checkpoint, once as its first evaluation starts."""
    kl = _kill_loop()
    env = kl.child_env(CACHE)

    def command(workdir: Path) -> list[str]:
        return kl.train_command(SMOKE, workdir, tmp_path / "tfds", OVERRIDES)

    refs: list = []
    reference = threading.Thread(target=lambda: refs.append(kl.run_reference(
        command(tmp_path / "reference"), env, tmp_path / "reference")))
    reference.start()  # the two cores: the reference beside the killed runs
    plans = [kl.KillPlan("checkpoint", 0.0), kl.KillPlan("eval", 0.0)]
    trial = kl.run_trial(command(tmp_path / "trial"), env, tmp_path / "trial",
                         lambda k: plans[k] if k < len(plans) else None, 8, 24)
    reference.join()
    assert refs, "the reference run failed"
    ref = refs[0]

    assert len(trial.kills) == 2, trial  # both runs were killed before they finished
    first, second = trial.kills
    assert first.expected_resume is not None and second.expected_resume is not None
    assert second.expected_resume >= first.expected_resume
    # Each re-run resumed from the newest complete checkpoint on disk, never from a
    # partial save, and no checkpoint was found damaged.
    assert trial.resumes == [(first.expected_resume, first.expected_resume),
                             (second.expected_resume, second.expected_resume)]
    assert trial.resumed_ok and not trial.unreadable
    # Usually "eval"; on a loaded machine the evaluation may be over before the kill.
    assert {first.phase, second.phase} <= {"steps", "checkpoint write", "eval",
                                           "eval + checkpoint write"}
    assert ref.step == 24 and trial.digest == ref.digest  # bit-identical parameters


# --- a damaged latest checkpoint: training resumes from the one before ------------------

@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_damaged_latest_checkpoint_resumes_from_the_previous(tmp_path, caplog):
    """Truncated array data in the newest step (checkpoint tests cover more damage)."""
    c = tiny_config()  # checkpoints every 3 steps, 12 in all
    workdir = tmp_path / "run"
    train.train_and_evaluate(c, workdir, stop_at=9)
    assert checkpoint.complete_steps(workdir) == [3, 6, 9]
    bad = workdir / checkpoint.LATEST / "9"
    shutil.copytree(bad, tmp_path / "copy" / checkpoint.LATEST / "9")  # as it was written
    data = max((bad / "state" / "d").iterdir(), key=lambda p: p.stat().st_size)
    data.write_bytes(data.read_bytes()[:7])
    damaged = _file_bytes(bad)
    with caplog.at_level("WARNING"):
        train.train_and_evaluate(c, workdir)
    assert f"checkpoint {bad} is unreadable" in caplog.text
    assert "resuming from the checkpoint at step 6" in caplog.text
    assert _file_bytes(workdir / checkpoint.LATEST / "9.corrupt") == damaged  # kept
    assert checkpoint.complete_steps(workdir) == [6, 9, 12]
    # Steps 7-9 were trained again from step 6 and reached the same state, bit for bit.
    again, original = _state_at(workdir, 9), _state_at(tmp_path / "copy", 9, like=workdir)
    assert train.final_params_digest(again) == train.final_params_digest(original)


# --- a non-finite loss: stop naming the step, or skip; the last good checkpoint stays ---

@pytest.fixture
def poison(monkeypatch):
    """Make the loss NaN at the steps in the returned set (none until filled in).

    Each batch gets a ``poison`` row vector (NaN at a poisoned step, else 1) and
    the loss is multiplied by its mean, so the real step, guard and loop run.
    """
    steps: set[int] = set()
    real_batch_at, real_loss_fn = batching.BatchIterator.batch_at, train.make_loss_fn

    def batch_at(self, step, *args, **kwargs):
        batch = dict(real_batch_at(self, step, *args, **kwargs))
        rows = np.shape(batch["src"])[0]
        batch["poison"] = np.full((rows,), np.nan if step in steps else 1.0, np.float32)
        return batch

    def make_loss_fn(*args, **kwargs):
        loss_fn = real_loss_fn(*args, **kwargs)

        def poisoned(params, batch, key):
            loss, aux = loss_fn(params, batch, key)
            return loss * batch["poison"].mean(), aux
        return poisoned

    monkeypatch.setattr(batching.BatchIterator, "batch_at", batch_at)
    monkeypatch.setattr(train, "make_loss_fn", make_loss_fn)
    return steps


def _file_bytes(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def _state_at(workdir: Path, step: int, like: Path | None = None) -> train.TrainState:
    """The whole train state saved at ``step`` (``workdir.load`` keeps only params).

    ``like``: the workdir whose model the checkpoint holds, if not ``workdir``.
    """
    trained = workdir_lib.load(like or workdir, checkpoint.LATEST)
    optimizer = train.make_optimizer(trained.config.train)
    template = jax.eval_shape(lambda: train.init_state(trained.model, trained.cfg, optimizer,
                                                       trained.config.seed))
    state, _, _ = checkpoint.restore_params(workdir, template, checkpoint.LATEST, step)
    return state


def _finite(params) -> bool:
    return all(bool(np.isfinite(np.asarray(x)).all()) for x in jax.tree.leaves(params))


def test_nonfinite_loss_stops_naming_the_step_and_keeps_the_last_checkpoint(tmp_path,
                                                                              poison):
    c = tiny_config()  # checkpoints every 3 steps
    train.train_and_evaluate(c, tmp_path, stop_at=6)
    good = _file_bytes(tmp_path / checkpoint.LATEST / "6")
    poison.add(7)  # the 8th batch
    with pytest.raises(train.NonFiniteError, match="at step 7"):
        train.train_and_evaluate(c, tmp_path)
    # Nothing after the last good checkpoint was saved, and it is byte for byte intact.
    assert checkpoint.complete_steps(tmp_path) == [3, 6]
    assert checkpoint.saves_in_progress(tmp_path) == []
    assert _file_bytes(tmp_path / checkpoint.LATEST / "6") == good
    trained = workdir_lib.load(tmp_path, checkpoint.LATEST)
    assert trained.step == 6 and _finite(trained.params)


def test_nonfinite_loss_is_skipped_and_counted_when_asked(tmp_path, poison):
    c = tiny_config(skip_nonfinite=True)
    poison.update({4, 5})
    summary = train.train_and_evaluate(c, tmp_path)
    assert summary["step"] == 12 and summary["train_skipped_updates"] == 2
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    skipped = {r["step"]: r["skipped_updates"] for r in records if r["split"] == "train"}
    assert skipped == {3: 0, 6: 2, 9: 2, 12: 2}
    assert checkpoint.complete_steps(tmp_path) == [6, 9, 12]
    for step in (6, 9, 12):
        state = _state_at(tmp_path, step)
        assert _finite(state.params)
        assert int(state.skipped) == 2 and int(state.first_bad_step) == 4
