"""Orbax checkpoints: round trip with optax state, retention, the best by metric."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from seq2seq_jax import checkpoint


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
