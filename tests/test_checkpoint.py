"""Orbax checkpoints: round trip with optax state, retention, the best by metric."""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from seq2seq_jax.training import checkpoint


class State(NamedTuple):
    params: Any
    opt_state: Any
    step: jax.Array


def make_state(offset: float) -> State:
    """A small train-state-like pytree whose leaves all depend on ``offset``."""
    params = {"enc": {"w": jnp.arange(6.0).reshape(2, 3) + offset},
              "out": {"b": jnp.full((4,), offset)}}
    opt = optax.adam(1e-3)
    opt_state = opt.init(params)
    grads = jax.tree.map(lambda p: p * 0.5 + 1.0, params)
    _, opt_state = opt.update(grads, opt_state, params)  # non-zero moments, count 1
    return State(params, opt_state, jnp.asarray(int(offset), jnp.int32))


def assert_same_tree(a: Any, b: Any) -> None:
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert np.asarray(x).dtype == np.asarray(y).dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_save_and_restore_latest_round_trip(tmp_path):
    ckpt = checkpoint.Checkpointer(tmp_path, keep=3)
    assert ckpt.latest_step() is None
    assert ckpt.restore_latest(make_state(0.0)) is None
    state = make_state(3.0)
    meta = {"config": {"model": {"name": "luong"}}, "position": [1, 2], "note": "ünï"}
    ckpt.save(7, state, meta)
    ckpt.wait()
    assert ckpt.latest_step() == 7
    template = make_state(0.0)
    restored, got_meta, step = ckpt.restore_latest(template)
    ckpt.close()
    assert step == 7 and got_meta == meta
    assert_same_tree(restored, state)
    # The optax NamedTuples come back as themselves, not as plain tuples.
    assert isinstance(restored, State)
    adam_state = restored.opt_state[0]
    assert isinstance(adam_state, optax.ScaleByAdamState)
    assert int(adam_state.count) == 1
    assert float(np.abs(np.asarray(adam_state.mu["out"]["b"])).min()) > 0


def test_keep_retains_only_the_last_saves(tmp_path):
    ckpt = checkpoint.Checkpointer(tmp_path, keep=2)
    for step in (1, 2, 3):
        ckpt.save(step, make_state(float(step)), {"step": step})
    ckpt.wait()
    assert ckpt.latest.all_steps() == [2, 3]
    restored, meta, step = ckpt.restore_latest(make_state(0.0))
    ckpt.close()
    assert step == 3 and meta == {"step": 3}
    assert_same_tree(restored, make_state(3.0))
    assert sorted(p.name for p in (tmp_path / checkpoint.LATEST).iterdir()
                  if p.name.isdigit()) == ["2", "3"]


@pytest.mark.parametrize("mode, best_step", [("min", 2), ("max", 1)])
def test_save_best_keeps_the_best_by_metric(tmp_path, mode, best_step):
    ckpt = checkpoint.Checkpointer(tmp_path, metric="wer", mode=mode)
    for step, value in ((1, 0.5), (2, 0.3), (3, 0.4)):
        ckpt.save_best(step, make_state(float(step)), {"step": step, "wer": value}, value)
    ckpt.wait()
    ckpt.close()
    meta, step = checkpoint.read_meta(tmp_path)
    assert step == best_step and meta["step"] == best_step
    state, meta2, step2 = checkpoint.restore_params(tmp_path, make_state(0.0))
    assert step2 == best_step and meta2 == meta
    assert_same_tree(state, make_state(float(best_step)))
    assert isinstance(state.opt_state[0], optax.ScaleByAdamState)


def test_read_meta_and_restore_params_from_latest(tmp_path):
    ckpt = checkpoint.Checkpointer(tmp_path, keep=3)
    ckpt.save(4, make_state(4.0), {"step": 4})
    ckpt.save(8, make_state(8.0), {"step": 8})
    ckpt.wait()
    ckpt.close()
    assert checkpoint.read_meta(tmp_path, checkpoint.LATEST) == ({"step": 8}, 8)
    state, meta, step = checkpoint.restore_params(tmp_path, make_state(0.0), checkpoint.LATEST)
    assert step == 8 and meta == {"step": 8}
    assert_same_tree(state, make_state(8.0))
    # An explicit step picks an older save.
    state, meta, step = checkpoint.restore_params(tmp_path, make_state(0.0), checkpoint.LATEST,
                                                  step=4)
    assert step == 4 and meta == {"step": 4}
    assert_same_tree(state, make_state(4.0))


def test_read_meta_on_a_non_workdir_names_the_path(tmp_path):
    missing = tmp_path / "not_a_workdir"
    missing.mkdir()
    with pytest.raises(FileNotFoundError) as err:
        checkpoint.read_meta(missing)
    assert str(missing) in str(err.value)
    assert "seq2seq-jax train" in str(err.value)


# --- damaged checkpoints: detected, skipped with a warning, moved aside, never deleted ---

def _two_saves(root) -> None:
    ckpt = checkpoint.Checkpointer(root, keep=3)
    ckpt.save(4, make_state(4.0), {"step": 4})
    ckpt.save(8, make_state(8.0), {"step": 8})
    ckpt.wait()
    ckpt.close()


def _damage(step_dir, target: str, how: str) -> str:
    """Truncate or delete one file of a step directory; returns its relative path.

    target: "data" (the array bytes: the largest file under state/d/), "meta"
    (the JSON meta item), "tree" (the state's tree metadata), "manifest" (the
    OCDBT manifest that indexes the arrays).
    """
    files = {"meta": step_dir / "meta" / "metadata",
             "tree": step_dir / "state" / "_METADATA",
             "manifest": step_dir / "state" / "manifest.ocdbt"}
    if target == "data":
        path = max((step_dir / "state" / "d").iterdir(), key=lambda p: p.stat().st_size)
    else:
        path = files[target]
    assert path.is_file()
    if how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        path.unlink()
    return str(path.relative_to(step_dir))


def _tree_bytes(directory):
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


# Orbax reports some read failures a second time from inside a coroutine: noise.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@pytest.mark.parametrize("target, how", [
    ("data", "truncated"), ("data", "missing"), ("meta", "truncated"), ("meta", "missing"),
    ("tree", "truncated"), ("manifest", "missing")])
def test_damaged_latest_is_moved_aside_and_the_previous_restored(tmp_path, caplog, target,
                                                                   how):
    _two_saves(tmp_path)
    bad_dir = tmp_path / checkpoint.LATEST / "8"
    _damage(bad_dir, target, how)
    damaged = _tree_bytes(bad_dir)
    ckpt = checkpoint.Checkpointer(tmp_path, keep=3)
    with caplog.at_level("WARNING", logger="seq2seq_jax.training.checkpoint"):
        restored, meta, step = ckpt.restore_latest(make_state(0.0))
    assert step == 4 and meta == {"step": 4}
    assert_same_tree(restored, make_state(4.0))
    moved = tmp_path / checkpoint.LATEST / "8.corrupt"
    assert f"checkpoint {bad_dir} is unreadable" in caplog.text
    assert str(moved) in caplog.text and "resuming from step 4" in caplog.text
    # Moved, not deleted: every byte of the damaged directory is still there.
    assert not bad_dir.exists() and _tree_bytes(moved) == damaged
    # Training can go on past step 8 again: the step is free and orbax ignores the
    # renamed directory.
    assert ckpt.latest_step() == 4
    ckpt.save(8, make_state(8.5), {"step": 8})
    ckpt.wait()
    ckpt.close()
    assert checkpoint.complete_steps(tmp_path) == [4, 8]
    state, _, _ = checkpoint.restore_params(tmp_path, make_state(0.0), checkpoint.LATEST)
    assert_same_tree(state, make_state(8.5))


def test_second_damage_to_the_same_step_gets_its_own_name(tmp_path):
    _two_saves(tmp_path)
    latest = tmp_path / checkpoint.LATEST
    (latest / "8.corrupt").mkdir()  # left by an earlier recovery
    _damage(latest / "8", "data", "missing")
    ckpt = checkpoint.Checkpointer(tmp_path, keep=3)
    assert ckpt.restore_latest(make_state(0.0))[2] == 4
    ckpt.close()
    assert (latest / "8.corrupt").is_dir() and (latest / "8.corrupt.1" / "state").is_dir()


def test_all_damaged_is_an_error_naming_each_and_moves_nothing(tmp_path):
    _two_saves(tmp_path)
    latest = tmp_path / checkpoint.LATEST
    _damage(latest / "8", "data", "truncated")
    _damage(latest / "4", "meta", "missing")
    ckpt = checkpoint.Checkpointer(tmp_path, keep=3)
    with pytest.raises(checkpoint.CheckpointError) as err:
        ckpt.restore_latest(make_state(0.0))
    ckpt.close()
    assert str(latest / "8") in str(err.value) and str(latest / "4") in str(err.value)
    assert checkpoint.complete_steps(tmp_path) == [4, 8]


def test_a_template_that_fits_no_checkpoint_moves_nothing(tmp_path):
    """A changed config is not damage: the checkpoints stay where they are."""
    _two_saves(tmp_path)
    other = make_state(0.0)
    other = other._replace(params={"enc": {"w": jnp.zeros((3, 3))}, "out": {"b": jnp.zeros(4)}})
    ckpt = checkpoint.Checkpointer(tmp_path, keep=3)
    with pytest.raises(checkpoint.CheckpointError, match="config changed"):
        ckpt.restore_latest(other)
    ckpt.close()
    assert checkpoint.complete_steps(tmp_path) == [4, 8]
    assert not list((tmp_path / checkpoint.LATEST).glob("*.corrupt*"))


@pytest.mark.parametrize("how", ["truncated", "missing"])
def test_read_meta_and_restore_params_skip_a_damaged_step_read_only(tmp_path, caplog, how):
    _two_saves(tmp_path)
    bad_dir = tmp_path / checkpoint.LATEST / "8"
    _damage(bad_dir, "meta", how)
    with caplog.at_level("WARNING", logger="seq2seq_jax.training.checkpoint"):
        assert checkpoint.read_meta(tmp_path, checkpoint.LATEST) == ({"step": 4}, 4)
        state, _, step = checkpoint.restore_params(tmp_path, make_state(0.0),
                                                   checkpoint.LATEST)
    assert step == 4
    assert_same_tree(state, make_state(4.0))
    assert f"checkpoint {bad_dir} is unreadable" in caplog.text
    assert bad_dir.is_dir()  # readers never move anything
    with pytest.raises(checkpoint.CheckpointError, match=str(bad_dir)):
        checkpoint.read_meta(tmp_path, checkpoint.LATEST, step=8)  # asked for explicitly


def test_saving_a_step_twice_keeps_the_first(tmp_path):
    """A run killed between the best save and the latest save offers that step again."""
    ckpt = checkpoint.Checkpointer(tmp_path, keep=3, metric="wer", mode="min")
    ckpt.save_best(6, make_state(6.0), {"step": 6}, 0.5)
    ckpt.save(6, make_state(6.0), {"step": 6})
    ckpt.wait()
    ckpt.close()
    again = checkpoint.Checkpointer(tmp_path, keep=3, metric="wer", mode="min")
    again.save_best(6, make_state(7.0), {"step": 7}, 0.5)  # no StepAlreadyExistsError
    again.save(6, make_state(7.0), {"step": 7})
    again.wait()
    again.close()
    assert checkpoint.read_meta(tmp_path, checkpoint.BEST) == ({"step": 6}, 6)
    assert checkpoint.read_meta(tmp_path, checkpoint.LATEST) == ({"step": 6}, 6)


def test_complete_steps_and_saves_in_progress(tmp_path):
    _two_saves(tmp_path)
    latest = tmp_path / checkpoint.LATEST
    tmp = latest / "12.orbax-checkpoint-tmp-1234"
    tmp.mkdir()
    (latest / "4.corrupt").mkdir()
    assert checkpoint.complete_steps(tmp_path) == [4, 8]
    assert checkpoint.complete_steps(tmp_path, checkpoint.BEST) == []
    assert checkpoint.saves_in_progress(tmp_path) == [tmp]
    # The next writer clears what a killed save left behind (in the background), and
    # nothing else.
    checkpoint.Checkpointer(tmp_path, keep=3).close()
    deadline = time.monotonic() + 30
    while tmp.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not tmp.exists() and (latest / "4.corrupt").is_dir()
    assert checkpoint.complete_steps(tmp_path) == [4, 8]
