"""SIGTERM: training ends after the running step with a checkpoint there, and resumes exactly."""

from __future__ import annotations

import os
import signal

from test_train import _final_params, tiny_config

from seq2seq_jax import cli
from seq2seq_jax.cli import commands
from seq2seq_jax.training import checkpoint, reporting, train
from seq2seq_jax.training.stop import EXIT_STATUS, StopRequest


def test_sigterm_saves_the_step_it_arrives_at_and_the_resume_is_exact(tmp_path, monkeypatch,
                                                                      capsys):
    c = tiny_config(log_every=1)  # checkpoints every 3 steps; the signal comes at step 5
    straight = tmp_path / "straight"
    train.train_and_evaluate(c, straight)
    before = signal.getsignal(signal.SIGTERM)
    update = reporting.Progress.update

    def update_then_signal(self, step, metrics):
        update(self, step, metrics)
        if step == 5:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(reporting.Progress, "update", update_then_signal)
    stopped = tmp_path / "stopped"
    summary = train.train_and_evaluate(c, stopped)
    assert summary["stopped_by"] == "SIGTERM" and summary["step"] == 5
    assert checkpoint.complete_steps(stopped) == [3, 5]  # 5 is off the every-3 grid
    assert "SIGTERM at step 5: checkpoint saved" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is removed again

    monkeypatch.setattr(reporting.Progress, "update", update)
    again = train.train_and_evaluate(c, stopped)
    assert "stopped_by" not in again and again["step"] == 12
    a, step_a = _final_params(straight)
    b, step_b = _final_params(stopped)
    assert step_a == step_b == 12
    assert train.final_params_digest(a) == train.final_params_digest(b)


def test_a_request_is_recorded_only_while_installed():
    stop = StopRequest().install()
    try:
        assert not stop.requested and stop.name == ""
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested and stop.name == "SIGTERM"
    finally:
        stop.uninstall()
    assert signal.getsignal(signal.SIGTERM) is not stop._handle


def test_train_command_exits_143_when_stopped_by_sigterm(monkeypatch, tmp_path):
    monkeypatch.setattr(commands, "run_train", lambda config, workdir: {"stopped_by": "SIGTERM"})
    assert cli.main(["train", "--workdir", str(tmp_path / "w")]) == EXIT_STATUS == 143
    monkeypatch.setattr(commands, "run_train", lambda config, workdir: {"step": 3})
    assert cli.main(["train", "--workdir", str(tmp_path / "w")]) == 0
