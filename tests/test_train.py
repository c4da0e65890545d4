"""The training loop: schedules, the non-finite guard, resume, early stopping."""

from __future__ import annotations

import json
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from seq2seq_jax import config as config_lib
from seq2seq_jax import models
from seq2seq_jax.training import checkpoint, host, train
from seq2seq_jax.training import workdir as workdir_lib


def tiny_config(**train_overrides) -> ml_collections.ConfigDict:
    """Reverse strings of 2-6 letters with a small LSTM + Luong model."""
    c = config_lib.default_config()
    c.data.name = "synthetic/reverse"
    c.data.src_tokenizer = c.data.tgt_tokenizer = "char"
    c.data.synthetic.update(num_train=256, num_dev=32, num_test=32, min_len=2,
                            train_max_len=6, test_max_len=6)
    c.data.max_src_len = c.data.max_tgt_len = 8
    c.data.batch_size = 16
    c.data.eval_batch_size = 32
    c.model.name = "luong"
    c.model.hidden = 16
    c.model.embed_dim = 8
    c.model.bidirectional = False
    c.model.dropout = 0.1
    c.train.update(num_steps=12, log_every=3, eval_every=6, checkpoint_every=3,
                   warmup_steps=2, metric="exact_match", eval_max_examples=32)
    c.train.update(train_overrides)
    return c


def _read_metrics(workdir):
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines]


def _final_params(workdir):
    trained = workdir_lib.load(workdir, checkpoint.LATEST)
    return trained.params, trained.step


@pytest.mark.parametrize("schedule", ["constant", "rsqrt", "cosine"])
def test_schedule_warms_up_linearly_then_decays(schedule):
    t = tiny_config(schedule=schedule, warmup_steps=10, learning_rate=1e-3, num_steps=100).train
    lr = train.make_schedule(t)
    np.testing.assert_allclose(lr(5), 5e-4, rtol=1e-5)
    np.testing.assert_allclose(lr(10), 1e-3, rtol=1e-3)
    if schedule == "constant":
        np.testing.assert_allclose(lr(90), 1e-3, rtol=1e-6)
    else:
        assert float(lr(90)) < float(lr(20)) < float(lr(10)) + 1e-9
    if schedule == "rsqrt":
        np.testing.assert_allclose(lr(30), 1e-3 * np.sqrt(10 / 30), rtol=1e-5)  # peak*sqrt(w/t)


def test_nonfinite_update_is_skipped_and_recorded():
    c = tiny_config()
    cfg = models.make_config(c.model.to_dict(), 12, 12)
    model = models.get_model("luong")
    opt = train.make_optimizer(c.train)
    state = train.init_state(model, cfg, opt, 0)
    step = train.make_train_step(model, cfg, opt, 0.0)
    batch = {"src": jnp.array([[4, 5, 0]]), "tgt_in": jnp.array([[1, 5, 4]]),
             "tgt_out": jnp.array([[5, 4, 2]]), "src_mask": jnp.array([[1, 1, 0]], bool),
             "tgt_mask": jnp.ones((1, 3), bool)}
    state, _ = step(state, batch)
    poisoned = state._replace(params=jax.tree.map(lambda x: x, state.params))
    poisoned.params["src_embed"]["table"] = poisoned.params["src_embed"]["table"].at[4].set(
        jnp.nan)
    bad_table = np.asarray(poisoned.params["src_embed"]["table"])
    after, metrics = step(poisoned, batch)
    assert not np.isfinite(float(metrics["loss"]))
    assert int(after.first_bad_step) == 1 and int(after.skipped) == 1 and int(after.step) == 2
    np.testing.assert_array_equal(after.params["src_embed"]["table"], bad_table)  # unchanged
    with pytest.raises(train.NonFiniteError, match="step 1"):
        train.check_finite(after, allow_skip=False)
    train.check_finite(after, allow_skip=True)


def test_resume_gives_the_same_batches_and_parameters(tmp_path):
    c = tiny_config()
    straight = tmp_path / "straight"
    train.train_and_evaluate(c, straight)
    resumed = tmp_path / "resumed"
    train.train_and_evaluate(c, resumed, stop_at=5)  # interrupted after step 5
    assert checkpoint.read_meta(resumed, checkpoint.LATEST)[1] == 3
    train.train_and_evaluate(c, resumed)  # re-run of the same command
    a, step_a = _final_params(straight)
    b, step_b = _final_params(resumed)
    assert step_a == step_b == 12
    assert train.final_params_digest(a) == train.final_params_digest(b)
    m_a = [m for m in _read_metrics(straight) if m["split"] == "dev"]
    m_b = [m for m in _read_metrics(resumed) if m["split"] == "dev"]
    assert [m["exact_match"] for m in m_a] == [m["exact_match"] for m in m_b[-2:]]
    loss_a = {m["step"]: m["loss"] for m in _read_metrics(straight) if m["split"] == "train"}
    loss_b = {m["step"]: m["loss"] for m in _read_metrics(resumed) if m["split"] == "train"}
    for s in (6, 9, 12):
        assert loss_a[s] == loss_b[s]


def test_checkpoints_record_library_versions_and_resume_names_a_change(tmp_path, monkeypatch,
                                                                        caplog):
    c = tiny_config()
    train.train_and_evaluate(c, tmp_path, stop_at=3)
    meta, _ = checkpoint.read_meta(tmp_path, checkpoint.LATEST)
    assert meta["versions"] == host.library_versions()
    assert meta["versions"]["jax"] == jax.__version__
    with caplog.at_level("WARNING", logger=train.log.name):
        train.train_and_evaluate(c, tmp_path, stop_at=6)  # the same versions: no warning
    assert not [r for r in caplog.records if "other library versions" in r.getMessage()]
    real = host.library_versions()
    monkeypatch.setattr(host, "library_versions", lambda: {**real, "jaxlib": "0.0.1"})
    with caplog.at_level("WARNING", logger=train.log.name):
        train.train_and_evaluate(c, tmp_path, stop_at=9)
    warned = [r.getMessage() for r in caplog.records if "other library versions" in
              r.getMessage()]
    assert len(warned) == 1
    assert f"jaxlib {real['jaxlib']} -> 0.0.1" in warned[0] and "step 6" in warned[0]
    meta, step = checkpoint.read_meta(tmp_path, checkpoint.LATEST)
    assert step == 9 and meta["versions"]["jaxlib"] == "0.0.1"  # what wrote this checkpoint


def test_version_changes_names_each_difference():
    now = {"jax": "0.10.2", "jaxlib": "0.10.2", "optax": "0.2.8"}
    assert host.version_changes(None, now) == []  # a checkpoint from before versions were kept
    assert host.version_changes(dict(now), now) == []
    assert host.version_changes({"jax": "0.9.0", "jaxlib": "0.10.2"}, now) == [
        "jax 0.9.0 -> 0.10.2"]


def test_early_stopping_stops_after_patience(tmp_path):
    c = tiny_config(num_steps=40, eval_every=2, checkpoint_every=2, patience=1,
                    learning_rate=1e-9, warmup_steps=0)
    summary = train.train_and_evaluate(c, tmp_path)
    assert summary["step"] < 40  # a learning rate of 1e-9 cannot improve the dev metric
    assert summary["best_step"] == 2


def test_compile_seconds_are_logged_apart_from_step_seconds(tmp_path, monkeypatch):
    """The first window holds the compilation: it is reported as compile_s and left out
    of step_s; a repeated run in the same process compiles nothing. Steps are dispatched
    asynchronously: a window's seconds end when its metrics arrive, not when its last
    step was queued (in the second run they take 0.3 s to arrive)."""
    c = tiny_config(num_steps=6, log_every=3, eval_every=6, checkpoint_every=6)
    c.data.batch_size = 11  # a shape no other test compiles
    first = train.train_and_evaluate(c, tmp_path / "a")
    logs = [m for m in _read_metrics(tmp_path / "a") if m["split"] == "train"]
    assert logs[0]["compile_s"] > 0 and logs[0]["compiled"] + logs[0]["cache_hits"] >= 1
    assert logs[1]["compiled"] == 0 and logs[1]["compile_s"] < logs[0]["compile_s"]
    assert all(0 < m["step_s"] <= 1 / m["steps_per_s"] + 1e-9 for m in logs)
    assert first["programs_compiled"] + first["programs_from_cache"] >= 1
    fetch = jax.device_get

    def slow(tree):
        if isinstance(tree, list):  # a window's metrics
            time.sleep(0.3)
        return fetch(tree)

    monkeypatch.setattr(jax, "device_get", slow)
    again = train.train_and_evaluate(c, tmp_path / "b")
    assert again["programs_compiled"] == 0
    logs = [m for m in _read_metrics(tmp_path / "b") if m["split"] == "train"]
    assert len(logs) == 2 and all(3 / m["steps_per_s"] >= 0.3 for m in logs)


def test_best_checkpoint_is_the_best_dev_metric(tmp_path):
    c = tiny_config(num_steps=12, eval_every=4, learning_rate=1e-2)
    train.train_and_evaluate(c, tmp_path)
    dev = [m for m in _read_metrics(tmp_path) if m["split"] == "dev"]
    best = max(dev, key=lambda m: (m["exact_match"], -m["step"]))
    _, step = checkpoint.read_meta(tmp_path, checkpoint.BEST)
    assert step == best["step"]


def test_invalid_config_is_rejected_before_compiling(tmp_path):
    c = tiny_config()
    c.train.schedule = "linear"
    with pytest.raises(config_lib.ConfigError, match=r"train.schedule='linear'.*'cosine'"):
        train.train_and_evaluate(c, tmp_path)
    assert not (tmp_path / "checkpoints").exists()
