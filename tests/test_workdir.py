"""Reading a training workdir back for eval and predict."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from test_train import tiny_config

from seq2seq_jax import models
from seq2seq_jax.data import pipeline
from seq2seq_jax.training import checkpoint, train
from seq2seq_jax.training import workdir as workdir_lib


def test_load_missing_workdir_says_to_train_first(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError) as err:
        workdir_lib.load(missing)
    assert str(missing) in str(err.value)
    assert f"seq2seq-jax train --workdir {missing}" in str(err.value)


def test_load_directory_without_checkpoints_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="seq2seq-jax train") as err:
        workdir_lib.load(tmp_path)
    assert str(tmp_path) in str(err.value)


def _fake_workdir(workdir, with_best: bool):
    """A workdir as training leaves it, built from train's own helpers without a train step.

    Latest checkpoint at step 7 holds the initial params + 2; the best (when
    ``with_best``) at step 5 holds them + 1, so each restore is recognisable.
    """
    c = tiny_config()
    run = train.build_run(c, workdir, None)
    state = train.init_state(run.model, run.cfg, train.make_optimizer(c.train), c.seed)
    stopper = train.EarlyStopping("max")
    ckpt = checkpoint.Checkpointer(workdir, metric=c.train.metric, mode="max")
    shifted = jax.jit(lambda s, d: s._replace(params=jax.tree.map(lambda p: p + d, s.params)))
    if with_best:
        stopper.update(50.0, 5)
        ckpt.save_best(5, shifted(state, 1.0), train._meta(run, 5, stopper), 50.0)
    ckpt.save(7, shifted(state, 2.0), train._meta(run, 7, stopper))
    ckpt.wait()
    ckpt.close()
    return c, run, state.params


@pytest.mark.parametrize("with_best", [True, False])
def test_load_restores_config_tokenizers_and_params(tmp_path, capsys, with_best):
    c, run, init = _fake_workdir(tmp_path, with_best)
    capsys.readouterr()
    trained = workdir_lib.load(tmp_path)  # the best, or the latest before any evaluation
    which, step, delta = ((checkpoint.BEST, 5, 1.0) if with_best
                          else (checkpoint.LATEST, 7, 2.0))
    assert f"{which}/{step} (step {step})" in capsys.readouterr().err
    assert trained.which == which and trained.step == step
    assert trained.config.to_dict() == c.to_dict()
    assert trained.model is models.get_model("luong")
    assert trained.cfg == run.cfg
    assert trained.src_tok.vocab == run.src_tok.vocab
    assert trained.tgt_tok.vocab == run.tgt_tok.vocab
    assert jax.tree.structure(trained.params) == jax.tree.structure(init)
    for p, q in zip(jax.tree.leaves(trained.params), jax.tree.leaves(init), strict=True):
        np.testing.assert_allclose(p, np.asarray(q) + delta, rtol=1e-6)
    if with_best:  # the latest is still reachable on request
        latest = workdir_lib.load(tmp_path, checkpoint.LATEST)
        assert latest.which == checkpoint.LATEST and latest.step == 7


def _break(step_dir) -> None:
    """Truncate the array data of one checkpoint (its largest file)."""
    data = max((step_dir / "state" / "d").iterdir(), key=lambda p: p.stat().st_size)
    data.write_bytes(data.read_bytes()[:10])


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_load_falls_back_from_a_damaged_best_to_the_latest(tmp_path, capsys, caplog):
    _fake_workdir(tmp_path, with_best=True)
    _break(tmp_path / checkpoint.BEST / "5")
    capsys.readouterr()
    with caplog.at_level("WARNING"):
        trained = workdir_lib.load(tmp_path)
    assert (trained.which, trained.step) == (checkpoint.LATEST, 7)
    assert f"checkpoint {tmp_path / checkpoint.BEST / '5'} is unreadable" in caplog.text
    assert f"loaded checkpoint {tmp_path / checkpoint.LATEST}/7" in capsys.readouterr().err
    assert (tmp_path / checkpoint.BEST / "5").is_dir()  # eval and predict move nothing


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_load_with_nothing_readable_is_a_checkpoint_error(tmp_path):
    _fake_workdir(tmp_path, with_best=True)
    _break(tmp_path / checkpoint.BEST / "5")
    (tmp_path / checkpoint.LATEST / "7" / "meta" / "metadata").unlink()
    with pytest.raises(checkpoint.CheckpointError) as err:
        workdir_lib.load(tmp_path)
    assert str(tmp_path / checkpoint.BEST / "5") in str(err.value)
    assert str(tmp_path / checkpoint.LATEST / "7") in str(err.value)


def test_params_digest_is_the_latest_checkpoints(tmp_path):
    _fake_workdir(tmp_path, with_best=True)
    digest, step = workdir_lib.params_digest(tmp_path)
    latest = workdir_lib.load(tmp_path, checkpoint.LATEST)
    assert step == 7 and digest == train.final_params_digest(latest.params)
    assert digest != train.final_params_digest(workdir_lib.load(tmp_path).params)  # best: 5


def test_load_ignores_an_unfinished_best_save(tmp_path):
    """A run killed during its first best save leaves only a temporary directory there."""
    _fake_workdir(tmp_path, with_best=False)
    (tmp_path / checkpoint.BEST / "3.orbax-checkpoint-tmp-1700000000").mkdir(parents=True)
    trained = workdir_lib.load(tmp_path)
    assert (trained.which, trained.step) == (checkpoint.LATEST, 7)


def _shifted_checkpoints(workdir, deltas: dict[int, float]):
    """Checkpoints at each step holding the initial params + its delta."""
    workdir.mkdir(parents=True, exist_ok=True)
    c = tiny_config()
    run = train.build_run(c, workdir, None)
    state = train.init_state(run.model, run.cfg, train.make_optimizer(c.train), c.seed)
    stopper = train.EarlyStopping("max")
    ckpt = checkpoint.Checkpointer(workdir, keep=len(deltas), metric=c.train.metric,
                                   mode="max")
    shifted = jax.jit(lambda s, d: s._replace(params=jax.tree.map(lambda p: p + d, s.params)))
    for step, delta in deltas.items():
        ckpt.save(step, shifted(state, delta), train._meta(run, step, stopper))
    ckpt.wait()
    ckpt.close()
    return state.params


def test_load_average_is_the_mean_of_the_newest_checkpoints(tmp_path, capsys):
    init = _shifted_checkpoints(tmp_path, {3: 100.0, 5: 1.0, 7: 2.0, 9: 6.0})
    capsys.readouterr()
    trained = workdir_lib.load_average(tmp_path, 3)
    assert trained.averaged == (5, 7, 9)
    assert trained.which == checkpoint.LATEST and trained.step == 9
    assert "steps 5, 7, 9" in capsys.readouterr().err
    for p, q in zip(jax.tree.leaves(trained.params), jax.tree.leaves(init), strict=True):
        assert p.dtype == q.dtype
        np.testing.assert_allclose(p, np.asarray(q) + 3.0, rtol=1e-5, atol=1e-5)
    one = workdir_lib.load_average(tmp_path, 1)  # the newest alone, unchanged
    for p, q in zip(jax.tree.leaves(one.params), jax.tree.leaves(init), strict=True):
        np.testing.assert_allclose(p, np.asarray(q) + 6.0, rtol=1e-6)


def test_load_average_asking_for_more_than_kept_says_how_to_keep_more(tmp_path):
    _shifted_checkpoints(tmp_path, {5: 1.0, 7: 2.0})
    with pytest.raises(workdir_lib.ConfigError) as err:
        workdir_lib.load_average(tmp_path, 3)
    message = str(err.value)
    assert "--average 3" in message and "[5, 7]" in message
    assert "--config.train.keep_checkpoints=3" in message
    with pytest.raises(workdir_lib.ConfigError, match=">= 1"):
        workdir_lib.load_average(tmp_path, 0)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_load_average_refuses_a_damaged_checkpoint_instead_of_averaging_fewer(tmp_path):
    _shifted_checkpoints(tmp_path, {5: 1.0, 7: 2.0})
    _break(tmp_path / checkpoint.LATEST / "5")
    with pytest.raises(checkpoint.CheckpointError) as err:
        workdir_lib.load_average(tmp_path, 2)
    assert str(tmp_path / checkpoint.LATEST / "5") in str(err.value)


def test_load_ensemble_with_average_averages_each_member(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    init = _shifted_checkpoints(a, {4: 1.0, 6: 3.0})
    _shifted_checkpoints(b, {6: 10.0, 8: 20.0})
    both = workdir_lib.load_ensemble([a, b], average=2)
    latest = checkpoint.LATEST
    assert both.members == (f"{a / latest}/6 (mean of [4, 6])",
                            f"{b / latest}/8 (mean of [6, 8])")
    for got, start, delta in ((both.params["0"], init, 2.0), (both.params["1"], init, 15.0)):
        for p, q in zip(jax.tree.leaves(got), jax.tree.leaves(start), strict=True):
            np.testing.assert_allclose(p, np.asarray(q) + delta, rtol=1e-5, atol=1e-5)


def test_load_ensemble_combines_workdirs_and_checks_their_vocabularies(tmp_path, monkeypatch):

    a, b = tmp_path / "a", tmp_path / "b"
    _shifted_checkpoints(a, {4: 1.0})
    _shifted_checkpoints(b, {6: 2.0})
    both = workdir_lib.load_ensemble([a, b])
    assert both.model.name == "ensemble" and sorted(both.params) == ["0", "1"]
    assert both.members == (f"{a / checkpoint.LATEST}/4", f"{b / checkpoint.LATEST}/6")
    assert both.config.to_dict() == workdir_lib.load(a).config.to_dict()
    with pytest.raises(workdir_lib.ConfigError, match="at least two"):
        workdir_lib.load_ensemble([a])
    with pytest.raises(workdir_lib.ConfigError, match="twice"):
        workdir_lib.load_ensemble([a, tmp_path / "." / "a"])
    real = workdir_lib.load

    def other_targets(path, which=checkpoint.BEST):
        t = real(path, which)
        if path == b:
            d = t.tgt_tok.to_dict()
            t = t._replace(tgt_tok=pipeline.tokenizer_from_dict({**d, "vocab": d["vocab"][:-1]}))
        return t

    monkeypatch.setattr(workdir_lib, "load", other_targets)
    with pytest.raises(workdir_lib.ConfigError) as err:
        workdir_lib.load_ensemble([a, b])
    assert f"{b} has another target vocabulary than {a}" in str(err.value)
