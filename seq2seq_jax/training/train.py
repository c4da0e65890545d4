"""Training: the state, the jitted step, and the loop with eval, checkpoints and resume.

Shapes: B batch, S source length, T target length, V target vocabulary.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.sharding import Mesh

from seq2seq_jax import config as config_lib
from seq2seq_jax import layout, models, parallel
from seq2seq_jax.data import batching, pipeline
from seq2seq_jax.errors import DataError, NonFiniteError
from seq2seq_jax.evaluation import evaluate
from seq2seq_jax.evaluation.trained import Trained
from seq2seq_jax.files import write_atomic
from seq2seq_jax.models import losses
from seq2seq_jax.models.interface import Model
from seq2seq_jax.training import checkpoint, host, reporting
from seq2seq_jax.training import compiles as compiles_lib
from seq2seq_jax.training.stop import StopRequest

log = logging.getLogger(__name__)
Params = dict[str, Any]


class TrainState(NamedTuple):
    step: jax.Array  # int32 [], updates applied so far = batches consumed
    params: Params  # the model's named parameter tree, float32
    opt_state: optax.OptState  # the optimizer's moments
    rng: jax.Array  # base PRNG key; step k uses fold_in(rng, k)
    skipped: jax.Array  # int32 [], updates skipped for a non-finite loss or gradient
    first_bad_step: jax.Array  # int32 [], first step with a non-finite value, -1 if none


def make_schedule(t: ml_collections.ConfigDict) -> optax.Schedule:
    """Linear warmup, then constant, inverse square root, or cosine decay."""
    peak, warm = t.learning_rate, max(t.warmup_steps, 0)
    if t.schedule == "constant":
        decay: optax.Schedule = optax.constant_schedule(peak)
    elif t.schedule == "rsqrt":
        def decay(step: Any) -> Any:
            return peak * jnp.sqrt(max(warm, 1) / jnp.maximum(step + warm, max(warm, 1)))
    else:
        decay = optax.cosine_decay_schedule(peak, max(t.num_steps - warm, 1), alpha=0.01)
    if not warm:
        return decay
    return optax.join_schedules([optax.linear_schedule(0.0, peak, warm), decay], [warm])


def make_optimizer(t: ml_collections.ConfigDict) -> optax.GradientTransformation:
    """Clipping and Adam(W) on the schedule; with ``t.grad_accum_steps`` = k > 1,
    wrapped in ``optax.MultiSteps``: k calls accumulate the mean gradient and the
    k-th applies one update (the others return zero updates).

    The schedule counts micro-steps (batches); the inner optimizer counts
    updates, so update u reads the schedule at micro-step ``u * k``.
    """
    k = int(t.get("grad_accum_steps", 1))
    schedule = make_schedule(t)
    if k > 1:
        per_step = schedule
        schedule = lambda update: per_step(update * k)  # noqa: E731
    if t.optimizer == "adamw":
        opt = optax.adamw(schedule, b2=0.98, weight_decay=t.weight_decay)
    else:
        opt = optax.adam(schedule, b2=0.98)
    opt = optax.chain(optax.clip_by_global_norm(t.clip_norm), opt)
    if k > 1:
        return optax.MultiSteps(opt, every_k_schedule=k).gradient_transformation()
    return opt


def init_state(model: Model, cfg: Any, optimizer: optax.GradientTransformation,
               seed: int, mesh: Mesh | None = None) -> TrainState:
    """The step-0 state; with a ``mesh``, placed on it by ``parallel.make_shardings``
    (replicated, or the large weights split over the model axis)."""
    init_key, rng = jax.random.split(jax.random.PRNGKey(seed))
    params = model.init(init_key, cfg)
    state = TrainState(jnp.int32(0), params, optimizer.init(params), rng, jnp.int32(0),
                       jnp.int32(-1))
    if mesh is None:
        return state
    # Initialised op by op as on one device, then placed: the values do not
    # depend on the mesh (a jitted init would fuse and round differently).
    return parallel.place(state, parallel.make_shardings(state, mesh).state)


def make_loss_fn(model: Model, cfg: Any, label_smoothing: float):
    def loss_fn(params: Params, batch: dict[str, jax.Array], key: jax.Array | None):
        out = models.batch_apply(model, params, cfg, batch["src"], batch["tgt_in"], key)
        mask = batch["tgt_mask"]
        total, count = losses.cross_entropy(out.logits, batch["tgt_out"], mask,
                                            label_smoothing)
        nll, _ = losses.cross_entropy(out.logits, batch["tgt_out"], mask)
        correct, _ = losses.token_accuracy(out.logits, batch["tgt_out"], mask)
        count = jnp.maximum(count, 1.0)
        return total / count, {"nll_sum": nll, "tokens": count, "correct": correct}
    return loss_fn


def make_train_step(model: Model, cfg: Any, optimizer: optax.GradientTransformation,
                    label_smoothing: float, shardings: parallel.Shardings | None = None):
    """A jitted ``(state, batch) -> (state, metrics)`` that donates the state.

    A non-finite loss or gradient leaves params and optimizer state unchanged,
    counts the step in ``state.skipped`` and records it in ``first_bad_step``.

    With ``shardings`` (``parallel.make_shardings``) the step is jitted with
    explicit ``in_shardings``/``out_shardings``: the state stays where it is,
    the batch ``[B, ...]`` is split over the mesh's data axis, and the metrics
    come back replicated. The loss is the mean over the whole global batch.
    """
    grad_fn = jax.value_and_grad(make_loss_fn(model, cfg, label_smoothing), has_aux=True)

    def train_step(state: TrainState, batch: dict[str, jax.Array]):
        key = jax.random.fold_in(state.rng, state.step)
        (loss, aux), grads = grad_fn(state.params, batch, key)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        grad_norm = optax.tree.norm(grads)
        ok = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
        keep = lambda new, old: jax.tree.map(  # noqa: E731
            lambda n, o: jnp.where(ok, n, o), new, old)
        bad = jnp.where((~ok) & (state.first_bad_step < 0), state.step, state.first_bad_step)
        new = TrainState(state.step + 1, keep(params, state.params),
                         keep(opt_state, state.opt_state), state.rng,
                         state.skipped + (~ok).astype(jnp.int32), bad)
        metrics = dict(aux, loss=loss, grad_norm=grad_norm,
                       param_norm=optax.tree.norm(state.params),
                       update_norm=optax.tree.norm(updates))
        return new, metrics

    if shardings is None:
        return jax.jit(train_step, donate_argnums=0)
    return jax.jit(train_step, donate_argnums=0,
                   in_shardings=(shardings.state, shardings.batch),
                   out_shardings=(shardings.state, shardings.replicated))


@dataclasses.dataclass
class EarlyStopping:
    """Host-side record of the best dev metric; saved in every checkpoint's meta."""

    mode: str
    best: float | None = None
    best_step: int = -1
    bad_evals: int = 0

    def update(self, value: float, step: int) -> bool:
        """Record ``value``; True when it is the best so far."""
        better = self.best is None or (value < self.best if self.mode == "min"
                                       else value > self.best)
        if better:
            self.best, self.best_step, self.bad_evals = value, step, 0
        else:
            self.bad_evals += 1
        return better


class Run(NamedTuple):
    """Everything a training run is built from."""

    config: ml_collections.ConfigDict
    model: Model
    cfg: Any
    src_tok: Any
    tgt_tok: Any
    train_iter: batching.BatchIterator
    dev: list[dict[str, Any]]
    sources: dict[str, Any] | None = None  # the data's fingerprint (pipeline.source_record)


def check_finite(state: TrainState, allow_skip: bool) -> None:
    bad = int(state.first_bad_step)
    if bad >= 0 and not allow_skip:
        raise NonFiniteError(
            f"non-finite loss or gradient at step {bad}; the update was not applied and the "
            "last good checkpoint is intact. Lower train.learning_rate or set "
            "train.skip_nonfinite=True to skip such updates.")


def build_run(config: ml_collections.ConfigDict, workdir: Path,
              saved_tokenizers: dict[str, Any] | None) -> Run:
    """Load data, restore or fit tokenizers, build the model config and batch iterator."""
    train = pipeline.load_examples(config, "train", config.data.train_limit)
    dev_limit = config.train.eval_max_examples or config.data.eval_limit
    dev = pipeline.load_examples(config, config.train.eval_split, dev_limit)
    if saved_tokenizers is not None:
        src_tok, tgt_tok = pipeline.tokenizers_from_dict(saved_tokenizers)
    else:
        src_tok, tgt_tok = pipeline.build_tokenizers(config, train, workdir)
    if jax.process_index() == 0:  # one writer of the workdir's files
        pipeline.save_tokenizers(workdir / layout.TOKENIZER_FILE, src_tok, tgt_tok)
    cfg = models.make_config(config.model.to_dict(), src_tok.vocab_size, tgt_tok.vocab_size)
    pairs = pipeline.encode(train, src_tok, tgt_tok)
    bcfg = pipeline.batch_config(config)
    train_iter = batching.BatchIterator(batching.apply_max_len(pairs, bcfg), bcfg, config.seed)
    return Run(config, models.get_model(config.model.name), cfg, src_tok, tgt_tok,
               train_iter, dev)


def _meta(run: Run, step: int, stopper: EarlyStopping) -> dict[str, Any]:
    return {"config": run.config.to_dict(), "model_name": run.config.model.name,
            "tokenizers": pipeline.tokenizers_to_dict(run.src_tok, run.tgt_tok),
            "data_position": step, "early_stopping": dataclasses.asdict(stopper),
            "versions": host.library_versions(), "data_sources": run.sources}


def check_sources(workdir: Path, config: ml_collections.ConfigDict,
                  saved: dict[str, Any] | None) -> dict[str, Any]:
    """The fingerprint of the data this run reads, checked against the one it trained on.

    Raises:
      DataError: a resumed run whose data's sources changed since it started (naming
        both), unless ``data.accept_changed_sources``.
    """
    from seq2seq_jax.data import fingerprint

    now = pipeline.source_record(config)
    before = (saved or {}).get("data_sources")
    if before and before.get("digest") != now["digest"]:
        message = (f"{workdir}: the data changed since this run started: it trained on "
                   f"{fingerprint.describe(before)}, the data now is "
                   f"{fingerprint.describe(now)}")
        if not config.data.get("accept_changed_sources", False):
            raise DataError(f"{message}. Train in a new --workdir, or pass "
                            "--config.data.accept_changed_sources=True to go on with the "
                            "new data knowingly")
        log.warning("%s; going on with the new data (data.accept_changed_sources)", message)
    if jax.process_index() == 0:
        write_atomic(workdir / layout.DATA_FILE, json.dumps(now, indent=2, sort_keys=True))
    return now


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path,
                       stop_at: int | None = None) -> dict[str, Any]:
    """Train ``config`` in ``workdir`` (``_train_and_evaluate``) holding the workdir's lock.

    The lock (``lock.WorkdirLock``) keeps a second run out of the same workdir.

    Raises:
      lock.WorkdirLockedError: another run is training in ``workdir``.
      lock.WorkdirError: ``workdir`` is a file, or an exported model.
    """
    from seq2seq_jax.errors import WorkdirError
    from seq2seq_jax.training.lock import WorkdirLock

    config_lib.validate(config)  # a bad config creates nothing, not even the workdir
    if checkpoint.is_export(workdir):
        raise WorkdirError(f"--workdir {workdir} is an exported model (parameters only, "
                           "`seq2seq-jax export`), not a training workdir; train in "
                           "another --workdir")
    parallel.distributed_init(config)  # idempotent; the lock is per process index
    with WorkdirLock(workdir, jax.process_index()):
        return _train_and_evaluate(config, workdir, stop_at)


def _resume(config: ml_collections.ConfigDict, workdir: Path, mesh: Mesh,
            ckpt: checkpoint.Checkpointer, optimizer: optax.GradientTransformation,
            ) -> tuple[Run, TrainState, EarlyStopping]:
    """The run's data, model and state: fresh, or restored from the latest checkpoint."""
    mode = config_lib.METRICS[config.train.metric]
    saved = None
    if ckpt.latest_step() is not None:
        saved, _ = checkpoint.read_meta(workdir, checkpoint.LATEST)
    sources = check_sources(workdir, config, saved)
    run = build_run(config, workdir, saved["tokenizers"] if saved else None)
    run = run._replace(sources=sources)
    state = init_state(run.model, run.cfg, optimizer, config.seed, mesh)
    stopper = EarlyStopping(mode)
    if jax.process_index() == 0:
        print(f"{config.model.name} on {config.data.name}: "
              f"{models.param_count(state.params):,} parameters (source vocabulary "
              f"{run.src_tok.vocab_size}, target vocabulary {run.tgt_tok.vocab_size})",
              file=sys.stderr)
    restored = ckpt.restore_latest(state) if saved is not None else None
    if restored is not None:
        state, meta, _ = restored
        stopper = EarlyStopping(**meta["early_stopping"])
        log.warning("resuming from the checkpoint at step %d in %s", int(state.step), workdir)
        changed = host.version_changes(meta.get("versions"), host.library_versions())
        if changed:
            log.warning("%s: the checkpoint at step %d was written under other library "
                        "versions (%s); training goes on, but the run will not be "
                        "bit-identical to one trained without the change",
                        workdir, int(state.step), ", ".join(changed))
    if jax.process_index() == 0:  # one writer of config.json and the metrics
        write_atomic(workdir / layout.CONFIG_FILE, config_lib.to_json(config))
    return run, state, stopper


class _Loop(NamedTuple):
    """What the steps of the loop share."""

    config: ml_collections.ConfigDict
    run: Run
    ckpt: checkpoint.Checkpointer
    writer: reporting.MetricWriter
    progress: reporting.Progress
    mesh: Mesh


def _save(loop: _Loop, step: int, state: TrainState, stopper: EarlyStopping) -> None:
    """A checkpoint at ``step``, after checking that nothing non-finite went in."""
    check_finite(state, bool(loop.config.train.skip_nonfinite))
    loop.ckpt.save(step, state, _meta(loop.run, step, stopper))


def _log(loop: _Loop, step: int, state: TrainState, window: list[dict[str, jax.Array]],
         started: float, compiles: dict[str, float]) -> dict[str, float]:
    """The metrics of the steps since the last log, written and shown.

    ``started``: ``time.time()`` at the window's start. Steps are dispatched
    asynchronously, so the window's seconds are read once its metrics have arrived,
    that is once its last step has run. ``compiles``: ``compiles_lib.counts()`` at the
    window's start. The window's compile and trace seconds are reported apart
    (``compile_s``, ``compiled``, ``cache_hits``) and left out of ``step_s``, the mean
    seconds of one step.
    """
    t = loop.config.train
    check_finite(state, bool(t.skip_nonfinite))
    fetched = jax.device_get(window)
    seconds = time.time() - started
    last = reporting.summarize_window(fetched, seconds)
    built = compiles_lib.since(compiles)
    spent = built["compile_s"] + built["trace_s"]
    last["compile_s"] = spent
    last["compiled"] = int(built["compiled"])
    last["cache_hits"] = int(built["cache_hits"])
    last["step_s"] = max(seconds - spent, 0.0) / max(len(window), 1)
    last["learning_rate"] = float(make_schedule(t)(step - 1))
    last["skipped_updates"] = int(state.skipped)
    loop.writer.write(step, last, prefix="train")
    loop.progress.update(step, last)
    return last


def _evaluate(loop: _Loop, step: int, state: TrainState, stopper: EarlyStopping) -> bool:
    """Score the dev set, keep the best parameters and a checkpoint; True to stop early."""
    t, run = loop.config.train, loop.run
    check_finite(state, bool(t.skip_nonfinite))
    now = Trained(loop.config, run.model, run.cfg, state.params, run.src_tok, run.tgt_tok,
                  step)
    scores = evaluate.evaluate_examples(now, run.dev, mesh=loop.mesh)
    loop.writer.write(step, scores, prefix="dev")
    loop.progress.message(f"step {step}: dev " + reporting.format_metrics(scores))
    if stopper.update(scores[t.metric], step):  # the parameters alone: read to decode
        loop.ckpt.save_best(step, state.params, {**_meta(run, step, stopper),
                                                 checkpoint.PARAMS_ONLY: True},
                            scores[t.metric])
    loop.ckpt.save(step, state, _meta(run, step, stopper))
    if t.patience and stopper.bad_evals >= t.patience:
        loop.progress.message(f"early stop at step {step}: no dev improvement in "
                              f"{t.patience} evaluations")
        return True
    return False


def _train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path,
                        stop_at: int | None = None) -> dict[str, Any]:
    """Train ``config`` in ``workdir``, resuming from its latest checkpoint if any.

    ``stop_at`` ends this invocation after that step, as an interruption would
    (the next call resumes from the latest checkpoint); tests use it.

    Returns:
      The summary: final step, best dev metric and its step, last train metrics.
    """
    # the config is validated and jax.distributed started by train_and_evaluate
    start_counts = compiles_lib.counts()
    mesh = parallel.mesh_from_config(config)  # every visible device; checks the batch sizes
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    t = config.train
    ckpt = checkpoint.Checkpointer(workdir, keep=t.keep_checkpoints, metric=t.metric,
                                   mode=config_lib.METRICS[t.metric])
    optimizer = make_optimizer(t)
    run, state, stopper = _resume(config, workdir, mesh, ckpt, optimizer)
    train_step = make_train_step(run.model, run.cfg, optimizer, t.label_smoothing,
                                 parallel.make_shardings(state, mesh))
    rows = parallel.process_rows(mesh, config.data.batch_size)  # this host's share
    loop = _Loop(config, run, ckpt, reporting.MetricWriter(workdir,
                                                           enabled=jax.process_index() == 0),
                 reporting.Progress(int(state.step), t.num_steps), mesh)
    step = int(state.step)
    window: list[dict[str, jax.Array]] = []
    window_start, compiles = time.time(), compiles_lib.counts()
    last: dict[str, float] = {}
    stop = StopRequest().install()  # SIGTERM: finish the step, save it, exit
    stopped_by = ""
    try:
        while step < min(t.num_steps, stop_at or t.num_steps):
            batch = run.train_iter.batch_at(step, rows)
            state, metrics = train_step(state, parallel.shard_batch(
                {k: v for k, v in batch.items() if k not in ("index", "valid")}, mesh,
                config.data.batch_size))
            step += 1
            window.append(metrics)
            if step % t.log_every == 0 or step == t.num_steps:
                last = _log(loop, step, state, window, window_start, compiles)
                window, window_start, compiles = [], time.time(), compiles_lib.counts()
            if step % t.eval_every == 0 or step == t.num_steps:
                if _evaluate(loop, step, state, stopper):
                    break
            elif step % t.checkpoint_every == 0:
                _save(loop, step, state, stopper)
            if stop.requested and step < t.num_steps:
                _save(loop, step, state, stopper)  # kept if just saved
                stopped_by = stop.name
                loop.progress.message(f"{stopped_by} at step {step}: checkpoint saved; the "
                                      "same command resumes from it")
                break
    finally:
        stop.uninstall()
        ckpt.wait()
        ckpt.close()
        loop.progress.close()
        loop.writer.close()
    built = compiles_lib.since(start_counts)  # this invocation's, evaluations included
    summary: dict[str, Any] = {
        "step": step, "best_step": stopper.best_step, f"best_dev_{t.metric}": stopper.best,
        **{f"train_{k}": v for k, v in last.items()},
        "programs_compiled": int(built["compiled"]),
        "programs_from_cache": int(built["cache_hits"]),
        "compile_s_total": built["compile_s"] + built["trace_s"]}
    if stopped_by:
        summary["stopped_by"] = stopped_by
    reporting.print_summary(summary)
    return summary


def final_params_digest(params: Params) -> str:
    """A hash of every parameter's bytes, to compare runs bit for bit."""
    import hashlib
    h = hashlib.sha256()
    for leaf in jax.tree.leaves(params):
        h.update(np.asarray(leaf).tobytes())
    return h.hexdigest()
