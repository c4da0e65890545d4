"""Reading a training workdir back for eval and predict."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from test_train import tiny_config

from seq2seq_jax import checkpoint, models, train
from seq2seq_jax import workdir as workdir_lib


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
