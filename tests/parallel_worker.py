"""The numerical half of ``test_parallel.py``, run in subprocesses.

The pytest process has already started JAX with one CPU device, so this
script runs under ``XLA_FLAGS=--xla_force_host_platform_device_count=8`` and
writes what it computed as JSON for the tests to check. XLA's backend
optimisation level 0 (also in ``XLA_FLAGS``) compiles these small programs
about 2.5 times faster; every comparison is made between runs of the same
process, so it does not weaken them. One process a model family, side by
side (two cores):

    python tests/parallel_worker.py {luong|transformer} RESULT.json TMPDIR

Both: 1 device against 8 (the LSTM data parallel 8 x 1, the Transformer
4 x 2 with the model axis), and bfloat16 against float32. The LSTM also:
gradient accumulation and the real training loop on 8 devices. The
Transformer also: the checkpoint round trip, remat against none.

A section that raises records its traceback instead of its results.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from seq2seq_jax import config as config_lib
from seq2seq_jax import models, parallel
from seq2seq_jax.evaluation import evaluate
from seq2seq_jax.training import checkpoint, train

XLA_FLAGS = "--xla_force_host_platform_device_count=8 --xla_backend_optimization_level=0"
STEPS = 20
ROWS = 16  # the global batch
VOCAB = 12
MODELS: dict[str, dict[str, Any]] = {
    # No dropout in the LSTM: its first step doubles as the 4 x 4 accumulation reference.
    "luong": {"name": "luong", "hidden": 16, "embed_dim": 8},
    "transformer": {"name": "transformer", "d_model": 16, "heads": 2, "ff_dim": 32,
                    "enc_layers": 1, "dec_layers": 1, "dropout": 0.1, "attn_dropout": 0.1,
                    "max_len": 16},
}
REMAT_MODELS: dict[str, dict[str, Any]] = {
    "bahdanau": {"name": "bahdanau", "hidden": 16, "embed_dim": 8, "bidirectional": True,
                 "dropout": 0.2},
    "transformer": MODELS["transformer"],
}
Result = dict[str, Any]


def train_config(**kw: Any) -> Any:
    t = config_lib.default_config().train
    t.update(learning_rate=1e-2, warmup_steps=0, schedule="constant", **kw)
    return t


def copy_batches(seed: int, n: int, rows: int = ROWS) -> list[dict[str, np.ndarray]]:
    """Copy task: sources of 3-6 random tokens; every 4 rows hold one source of
    each length (``rows`` a multiple of 4), so any 4-row slice holds equally many
    target tokens and per-token means weigh such slices equally."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        lengths = np.concatenate([rng.permutation([3, 4, 5, 6]) for _ in range(rows // 4)])
        src = np.zeros((rows, 8), np.int32)
        tgt_in = np.zeros((rows, 8), np.int32)
        tgt_out = np.zeros((rows, 8), np.int32)
        mask = np.zeros((rows, 8), bool)
        for r, n_tok in enumerate(lengths):
            toks = rng.integers(4, VOCAB, n_tok)
            src[r, :n_tok] = toks
            tgt_in[r, 0], tgt_in[r, 1:n_tok + 1] = 1, toks
            tgt_out[r, :n_tok], tgt_out[r, n_tok] = toks, 2
            mask[r, :n_tok + 1] = True
        out.append({"src": src, "tgt_in": tgt_in, "tgt_out": tgt_out, "src_mask": src != 0,
                    "tgt_mask": mask})
    return out


def setup(spec: dict[str, Any], **cfg_overrides: Any) -> tuple[Any, Any]:
    cfg = models.make_config(dict(spec, **cfg_overrides), VOCAB, VOCAB)
    return models.get_model(spec["name"]), cfg


def flat(tree: Any) -> dict[str, list[float]]:
    """Every leaf by its path, as float lists (JSON)."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(p): np.asarray(x, np.float64).ravel().tolist()
            for p, x in leaves}


def one_device() -> Any:
    return parallel.make_mesh(1, jax.devices()[:1])


def train_run(spec: dict[str, Any], mesh: Any, batches: list[dict[str, np.ndarray]],
              opt_cfg: Any = None, keep: Callable[[int], bool] = lambda i: i in (1, 3),
              **cfg_overrides: Any) -> tuple[Result, Any, Any]:
    """Train from seed 0 on ``mesh``: losses, param snapshots after steps ``keep``,
    the final params and where they live; also the state and the jitted step."""
    model, cfg = setup(spec, **cfg_overrides)
    opt = train.make_optimizer(opt_cfg or train_config())
    state = train.init_state(model, cfg, opt, 0, mesh)
    step = train.make_train_step(model, cfg, opt, 0.1, parallel.make_shardings(state, mesh))
    losses, snaps = [], {}
    if keep(0):
        snaps["0"] = flat(state.params)
    for i, b in enumerate(batches, 1):
        state, metrics = step(state, parallel.shard_batch(b, mesh, len(b["src"])))
        losses.append(float(metrics["loss"]))
        if keep(i):
            snaps[str(i)] = flat(state.params)
    leaves = jax.tree_util.tree_flatten_with_path(state.params)[0]
    return ({"losses": losses, "snapshots": snaps, "final": flat(state.params),
             "specs": {jax.tree_util.keystr(p): str(x.sharding.spec) for p, x in leaves},
             "devices": len(leaves[0][1].sharding.device_set),
             "param_dtypes": sorted({str(x.dtype) for x in jax.tree.leaves(state.params)}),
             "opt_dtypes": sorted({str(x.dtype) for x in jax.tree.leaves(state.opt_state)})},
            state, step)


def part(family: str, tmp: Path) -> Result:
    """Everything about one model family, run from seed 0 on the same batches."""
    batches = copy_batches(0, STEPS)
    many = {"luong": parallel.make_mesh(1), "transformer": parallel.make_mesh(2)}[family]
    out: Result = {"device_count": jax.device_count()}
    runs: dict[str, Any] = {}

    def data_parallel() -> Result:
        one, s1, _ = train_run(MODELS[family], one_device(), batches)
        eight, s8, f8 = train_run(MODELS[family], many, batches)
        runs.update(one=one, s1=s1, s8=s8, f8=f8)
        return {"one": one, "eight": eight, "mesh": dict(many.shape)}

    def bfloat16() -> Result:
        bf16, _, _ = train_run(MODELS[family], one_device(), batches, keep=lambda i: False,
                               dtype="bfloat16")
        return {"float32": runs["one"], "bfloat16": bf16}

    def accumulation() -> Result:
        # Four micro-batches of 4 rows that make up the first 16-row batch.
        micro = [{k: v[i:i + 4] for k, v in batches[0].items()} for i in range(0, ROWS, 4)]
        acc, _, _ = train_run(MODELS[family], one_device(), micro,
                              train_config(grad_accum_steps=4), keep=lambda i: True)
        return {"accumulated": acc, "one_batch": runs["one"]}

    def checkpoints() -> Result:
        """Save on 1 device, restore on 8 (model axis 2); step; save for 1 device."""
        s1, s8, step8 = runs["s1"], runs["s8"], runs["f8"]
        ck = checkpoint.Checkpointer(tmp / "from_one")
        ck.save(int(s1.step), s1, {"devices": 1})
        ck.wait()
        template = s8._replace(params=jax.tree.map(jnp.zeros_like, s8.params))
        restored, _, at = ck.restore_latest(template)
        ck.close()
        same = all(a.sharding == b.sharding for a, b in
                   zip(jax.tree.leaves(restored), jax.tree.leaves(s8), strict=True))
        res = {"step": at, "saved_one": flat(s1.params), "restored_eight": flat(restored.params),
               "same_sharding": same,
               "split_leaves": sum(not x.sharding.is_fully_replicated
                                   for x in jax.tree.leaves(restored.params))}
        restored, _ = step8(restored, parallel.shard_batch(batches[0], many, ROWS))
        ck = checkpoint.Checkpointer(tmp / "from_eight")
        ck.save(int(restored.step), restored, {"devices": 8})
        ck.wait()
        ck.close()
        res["saved_eight"] = flat(restored.params)
        return res

    def remat() -> Result:
        b = {k: jnp.asarray(v) for k, v in copy_batches(2, 1, rows=4)[0].items()}
        key = jax.random.PRNGKey(3)
        res: Result = {}
        for name, spec in REMAT_MODELS.items():
            res[name] = {}
            for on in (False, True):
                model, cfg = setup(spec, remat=on)
                params = model.init(jax.random.PRNGKey(0), cfg)
                grad_fn = jax.value_and_grad(train.make_loss_fn(model, cfg, 0.1), has_aux=True)
                jaxpr = str(jax.make_jaxpr(grad_fn)(params, b, key))
                (loss, _), grads = jax.jit(grad_fn)(params, b, key)
                res[name][str(on)] = {"loss": float(loss), "grads": flat(grads),
                                      "checkpointed": "checkpoint" in jaxpr or "remat" in jaxpr}
        return res

    def end_to_end() -> Result:
        """The real loop on 8 devices; its eval batches decode as on one device."""
        sys.path.insert(0, str(Path(__file__).parent))
        from test_train import tiny_config

        from seq2seq_jax.training import workdir as workdir_lib

        config = tiny_config(num_steps=4, log_every=2, eval_every=4, checkpoint_every=2)
        summary = train.train_and_evaluate(config, tmp / "workdir")
        trained = workdir_lib.load(tmp / "workdir", checkpoint.LATEST)
        mesh = parallel.mesh_from_config(config)
        params = parallel.place(trained.params, parallel.tree_shardings(trained.params, mesh))
        texts = ["abc", "hello", "xy", "dcba", "q"]
        preds = {}
        for name, m, p in (("mesh", mesh, params), ("single", None, trained.params)):
            preds[name] = [x.text for x in evaluate.predict(
                trained._replace(params=p), texts, mesh=m)]
        return {"summary": {k: v for k, v in summary.items() if isinstance(v, int | float)},
                "predictions": preds}

    sections = {"luong": (data_parallel, bfloat16, accumulation, end_to_end),
                "transformer": (data_parallel, bfloat16, checkpoints, remat)}[family]
    for fn in sections:
        out[fn.__name__] = guarded(fn)
    return out


def guarded(fn: Callable[[], Result]) -> Result:
    """``fn()`` with the CPU seconds it took, or its traceback."""
    start = time.process_time()
    try:
        return dict(fn(), cpu_s=round(time.process_time() - start, 1))
    except Exception:  # reported to the test that reads this section
        return {"error": traceback.format_exc()}


def main(argv: list[str]) -> None:
    family, result_path, tmp = argv[0], Path(argv[1]), Path(argv[2])
    result = part(family, tmp)
    result_path.write_text(json.dumps(result))


if __name__ == "__main__":
    jax.config.update("jax_default_matmul_precision", "highest")  # as conftest.py
    jax.config.update("jax_compilation_cache_dir", os.environ.get(
        "SEQ2SEQ_JAX_TEST_CACHE", str(Path(__file__).parent.parent / ".jax_cache")))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    main(sys.argv[1:])
