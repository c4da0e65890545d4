"""Data parallelism, model-axis sharding, gradient accumulation, bfloat16, remat.

The numerical checks run once, in two subprocesses with 8 simulated CPU
devices (``tests/parallel_worker.py``, one a model family, side by side; this
process has already started JAX with one device), and come back as JSON; the
checkpoint they save on 8 devices is restored here, on one. The rest runs here.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import ml_collections
import numpy as np
import parallel_worker as worker
import pytest
from jax.sharding import PartitionSpec as P

from seq2seq_jax import config as config_lib
from seq2seq_jax import models, parallel
from seq2seq_jax.data import batching, pipeline
from seq2seq_jax.errors import ConfigError
from seq2seq_jax.training import checkpoint, train

WORKER = Path(__file__).with_name("parallel_worker.py")
FAMILIES = ("luong", "transformer")
ATOL = 1e-5  # params after Adam steps on 1 vs 8 devices (float32 summation order)
# An attention key bias has a zero gradient in exact arithmetic (softmax ignores
# a constant added to every score); Adam scales its rounding noise, of either
# sign, up to the learning rate, so those leaves differ by up to lr per step.
ZERO_GRADIENT = ("['k']['b']",)
BF16_RTOL = 0.05  # |loss_bf16 - loss_f32| / loss_f32 at every one of the 20 steps


def _run_workers(root: Path) -> None:
    """Both families' workers, concurrently; each writes ``root/FAMILY/result.json``."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=worker.XLA_FLAGS)
    procs = []
    for family in FAMILIES:
        (root / family).mkdir(parents=True, exist_ok=True)
        procs.append(subprocess.Popen(
            [sys.executable, str(WORKER), family, str(root / family / "result.json"),
             str(root / family)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for proc in procs:
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err[-4000:]


@pytest.fixture(scope="module")
def results(request, tmp_path_factory) -> dict[str, dict]:
    """Each family's worker JSON and its directory.

    Under pytest-xdist the workers run once per session, not once per xdist
    process that gets some of these tests: the first takes a lock on the
    session's shared temporary directory and the others read what it wrote.
    """
    if hasattr(request.config, "workerinput"):  # an xdist process
        root = tmp_path_factory.getbasetemp().parent / "parallel_workers"
        root.mkdir(exist_ok=True)
        with open(root / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (root / "done").exists():
                _run_workers(root)
                (root / "done").touch()
    else:
        root = tmp_path_factory.mktemp("parallel_workers")
        _run_workers(root)
    return {f: dict(json.loads((root / f / "result.json").read_text()), tmp=root / f)
            for f in FAMILIES}


def _section(results: dict, family: str, name: str) -> dict:
    section = results[family][name]
    assert "error" not in section, section.get("error")
    return section


def _assert_params_close(a: dict, b: dict, atol: float = ATOL,
                         skip: tuple[str, ...] = ()) -> None:
    assert a.keys() == b.keys()
    for name in a:
        if not any(s in name for s in skip):
            np.testing.assert_allclose(a[name], b[name], rtol=0, atol=atol, err_msg=name)


@pytest.mark.parametrize("family", FAMILIES)
def test_eight_devices_match_one_device(results, family):
    r = _section(results, family, "data_parallel")
    assert results[family]["device_count"] == 8
    assert r["one"]["devices"] == 1 and r["eight"]["devices"] == 8
    np.testing.assert_allclose(r["eight"]["losses"], r["one"]["losses"], rtol=1e-5)
    assert r["one"]["losses"][-1] < 0.9 * r["one"]["losses"][0]  # it trained
    for step in ("1", "3"):
        _assert_params_close(r["eight"]["snapshots"][step], r["one"]["snapshots"][step],
                             skip=ZERO_GRADIENT)
    _assert_params_close(r["eight"]["final"], r["one"]["final"], atol=1e-4,
                         skip=ZERO_GRADIENT)


@pytest.mark.parametrize("family, mesh, split", [
    ("luong", {"data": 8, "model": 1}, []),
    ("transformer", {"data": 4, "model": 2},
     ["['src_embed']['table']", "['tgt_embed']['table']",
      "['encoder']['layers'][0]['ff']['w1']['w']", "['encoder']['layers'][0]['ff']['w1']['b']",
      "['decoder']['layers'][0]['ff']['w2']['w']"]),
])
def test_params_are_replicated_or_split_over_the_model_axis(results, family, mesh, split):
    """The 4 x 2 Transformer run above matched one device: the model-axis
    sharding gives the results of replication."""
    r = _section(results, family, "data_parallel")
    assert r["mesh"] == mesh
    specs = r["eight"]["specs"]
    assert set(split) <= {k for k, s in specs.items() if "model" in s}, specs
    replicated = {k for k, s in specs.items() if s == str(P())}
    assert any("attn" in k or "attention" in k for k in replicated)
    if not split:
        assert replicated == set(specs)


def test_checkpoint_saved_on_one_device_restores_on_eight(results):
    c = _section(results, "transformer", "checkpoints")
    assert c["step"] == worker.STEPS
    assert c["same_sharding"] and c["split_leaves"] >= 5
    assert c["restored_eight"] == c["saved_one"]  # bit for bit


def test_checkpoint_saved_on_eight_devices_restores_on_one(results):
    c = _section(results, "transformer", "checkpoints")
    model, cfg = worker.setup(worker.MODELS["transformer"])
    template = train.init_state(model, cfg, train.make_optimizer(worker.train_config()), 5)
    ck = checkpoint.Checkpointer(results["transformer"]["tmp"] / "from_eight")
    state, meta, step = ck.restore_latest(template)
    ck.close()
    assert step == worker.STEPS + 1 and meta == {"devices": 8}
    assert all(len(x.sharding.device_set) == 1 for x in jax.tree.leaves(state))
    assert worker.flat(state.params) == c["saved_eight"]


def test_accumulating_four_batches_equals_one_batch_four_times_larger(results):
    r = _section(results, "luong", "accumulation")
    acc, ref = r["accumulated"]["snapshots"], r["one_batch"]["snapshots"]
    for step in ("1", "2", "3"):  # no update before the 4th micro-batch
        assert acc[step] == acc["0"]
    moved = max(np.abs(np.subtract(ref["1"][k], acc["0"][k])).max() for k in acc["0"])
    assert moved > 1e-3
    _assert_params_close(acc["4"], ref["1"], atol=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
def test_bfloat16_training_tracks_float32(results, family):
    r = _section(results, family, "bfloat16")
    f32, bf16 = np.array(r["float32"]["losses"]), np.array(r["bfloat16"]["losses"])
    assert r["bfloat16"]["param_dtypes"] == ["float32"]  # params and optimizer state stay f32
    assert set(r["bfloat16"]["opt_dtypes"]) <= {"float32", "int32"}
    assert f32[-1] < 0.9 * f32[0]
    assert not np.array_equal(f32, bf16)  # bfloat16 really computed something else
    np.testing.assert_allclose(bf16, f32, rtol=BF16_RTOL)


@pytest.mark.parametrize("name", list(worker.REMAT_MODELS))
def test_remat_gives_the_same_loss_and_gradients(results, name):
    r = _section(results, "transformer", "remat")[name]
    off, on = r["False"], r["True"]
    assert on["checkpointed"] and not off["checkpointed"]
    np.testing.assert_allclose(on["loss"], off["loss"], rtol=1e-6)
    for leaf in off["grads"]:
        np.testing.assert_allclose(on["grads"][leaf], off["grads"][leaf], rtol=1e-5, atol=1e-8,
                                   err_msg=leaf)


def test_training_loop_runs_on_eight_devices(results):
    r = _section(results, "luong", "end_to_end")
    assert r["summary"]["step"] == 4 and r["summary"]["best_step"] == 4
    assert np.isfinite(r["summary"]["train_loss"])
    assert r["predictions"]["mesh"] == r["predictions"]["single"]  # eval sharding
    # Its checkpoint restores on one device, given a one-device template.
    work = results["luong"]["tmp"] / "workdir"
    meta, step = checkpoint.read_meta(work, checkpoint.LATEST)
    config = ml_collections.ConfigDict(meta["config"])
    src_tok, tgt_tok = pipeline.tokenizers_from_dict(meta["tokenizers"])
    cfg = models.make_config(config.model.to_dict(), src_tok.vocab_size, tgt_tok.vocab_size)
    template = train.init_state(models.get_model(config.model.name), cfg,
                                train.make_optimizer(config.train), 99)
    state, _, _ = checkpoint.restore_params(work, template, checkpoint.LATEST)
    assert step == 4 and int(state.step) == 4
    assert all(len(x.sharding.device_set) == 1 for x in jax.tree.leaves(state))


def test_eval_loads_a_checkpoint_saved_on_eight_devices(results):
    from seq2seq_jax.training import workdir as workdir_lib

    trained = workdir_lib.load(results["luong"]["tmp"] / "workdir", checkpoint.LATEST)
    assert trained.step == 4


# ---------------------------------------------------------------- on one device


def test_batch_sizes_must_divide_the_data_devices():
    c = config_lib.default_config()
    c.data.batch_size, c.data.eval_batch_size = 12, 16
    with pytest.raises(ConfigError, match=r"data\.batch_size=12 .* 8 data-parallel.*e\.g\. 16"):
        parallel.check_batch_sizes(c, 8)
    c.data.batch_size = 24
    parallel.check_batch_sizes(c, 8)
    with pytest.raises(ConfigError, match=r"data\.eval_batch_size=16 .* 3 data"):
        parallel.check_batch_sizes(c, 3)
    with pytest.raises(ConfigError, match=r"parallel\.model_parallel=2 must divide the 1"):
        parallel.make_mesh(2)


def test_a_one_device_mesh_takes_every_batch_size():
    c = config_lib.default_config()
    c.data.batch_size = 7
    mesh = parallel.mesh_from_config(c)
    assert dict(mesh.shape) == {"data": 1, "model": 1}
    assert parallel.process_rows(mesh, 7) == (0, 7)


def test_hosts_rows_make_up_the_global_batch():
    rng = np.random.default_rng(0)
    pairs = batching.EncodedPairs(
        [rng.integers(4, 20, rng.integers(1, 9)).astype(np.int32) for _ in range(37)],
        [rng.integers(4, 20, rng.integers(1, 9)).astype(np.int32) for _ in range(37)])
    it = batching.BatchIterator(pairs, batching.BatchConfig(8, 8, 9, window_batches=2), 3)
    for step in range(it.steps_per_epoch + 1):  # the last, partial batch included
        whole = it.batch_at(step)
        parts = [it.batch_at(step, rows=(i, i + 2)) for i in range(0, 8, 2)]
        for k, v in whole.items():
            np.testing.assert_array_equal(np.concatenate([p[k] for p in parts]), v)
    with pytest.raises(ValueError, match="rows"):
        it.batch_at(0, rows=(6, 10))


@pytest.mark.parametrize("name, shape, size, spec", [
    ("src_embed/table", (12, 8), 2, P(None, "model")),
    ("decoder/embed/table", (12, 6), 4, P("model", None)),  # D=6 does not split in 4; V does
    ("encoder/layers/1/ff/w1/w", (8, 32), 2, P(None, "model")),
    ("encoder/layers/1/ff/w1/b", (32,), 2, P("model")),
    ("decoder/layers/0/ff/w2/w", (32, 8), 2, P("model", None)),
    ("decoder/layers/0/ff/w2/b", (8,), 2, P()),
    ("out/w", (8, 12), 2, P(None, "model")),
    ("decoder/layers/0/self_attn/o/w", (8, 8), 2, P()),
    ("src_embed/table", (12, 8), 1, P()),
    ("src_embed/table", (5, 7), 2, P()),
    ("opt/1/0/mu/tgt_embed/table", (12, 8), 2, P(None, "model")),
])
def test_param_rules_by_path_name(name, shape, size, spec):
    assert parallel.param_spec(name, shape, size) == spec


def test_distributed_init_reads_the_environment(monkeypatch):
    calls = []
    monkeypatch.setattr(jax.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(jax.distributed, "initialize", lambda *a: calls.append(a))
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    assert parallel.distributed_init(None, environ={}) is False
    c = config_lib.default_config()
    assert parallel.distributed_init(c, environ={}) is False and calls == []
    env = {"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234", "JAX_NUM_PROCESSES": "2",
           "JAX_PROCESS_ID": "1"}
    assert parallel.distributed_init(c, environ=env) is True
    assert calls == [("10.0.0.1:1234", 2, 1)]
    c.parallel.distributed = True
    assert parallel.distributed_init(c, environ={}) is True
    assert calls[-1] == ()  # JAX's cluster auto-detection
    with pytest.raises(ConfigError, match="JAX_PROCESS_ID"):
        parallel.distributed_init(c, environ={k: env[k] for k in list(env)[:2]})
    with pytest.raises(ConfigError, match="integers"):
        parallel.distributed_init(c, environ=dict(env, JAX_PROCESS_ID="one"))


@pytest.mark.parametrize("family", FAMILIES)
def test_bfloat16_multiplies_in_bfloat16_and_returns_float32_logits_and_grads(family):
    model, cfg = worker.setup(worker.MODELS[family], dtype="bfloat16")
    params = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), cfg))
    b = worker.copy_batches(0, 1, rows=4)[0]
    loss_fn = train.make_loss_fn(model, cfg, 0.1)
    jaxpr = str(jax.make_jaxpr(jax.grad(lambda p: loss_fn(p, b, None)[0]))(params))
    assert any("dot_general" in line and "bf16[" in line for line in jaxpr.splitlines())
    out = jax.eval_shape(lambda p: models.batch_apply(model, p, cfg, b["src"], b["tgt_in"]),
                         params)
    assert out.logits.dtype == np.float32
    grads = jax.eval_shape(jax.grad(lambda p: loss_fn(p, b, None)[0]), params)
    assert {x.dtype for x in jax.tree.leaves(grads)} == {np.dtype("float32")}
