"""Checkpoints with orbax: the last N by step, and the best one by dev metric.

A workdir holds two orbax ``CheckpointManager`` directories:

* ``checkpoints/``: the last ``keep`` saves, for resuming;
* ``best/``: the single best save by the dev metric, for eval and predict.

Each save holds the train state (a pytree of arrays: params, optimizer state,
step, RNG) and a JSON ``meta`` item: the config, the tokenizers, the data
position and the early-stopping state. Orbax writes each step to a temporary
directory and renames it when complete, so a crash mid-write leaves the
previous checkpoints intact.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

log = logging.getLogger(__name__)

LATEST, BEST = "checkpoints", "best"


def _restore_args(template: Any) -> ocp.args.Composite:
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    return ocp.args.Composite(state=ocp.args.StandardRestore(abstract),
                              meta=ocp.args.JsonRestore())


def _with_structure(template: Any, restored: Any) -> Any:
    """Orbax returns inner NamedTuples (optax states) as tuples: re-impose the template's."""
    return jax.tree.unflatten(jax.tree.structure(template), jax.tree.leaves(restored))


class Checkpointer:
    """The two managers of one workdir."""

    def __init__(self, workdir: str | Path, keep: int = 3, metric: str = "loss",
                 mode: str = "min", read_only: bool = False):
        root = Path(workdir).absolute()
        self.metric = metric
        self.latest = ocp.CheckpointManager(
            root / LATEST, options=ocp.CheckpointManagerOptions(
                max_to_keep=keep, create=not read_only, read_only=read_only))
        self.best = ocp.CheckpointManager(
            root / BEST, options=ocp.CheckpointManagerOptions(
                max_to_keep=1, best_fn=lambda m: m[metric], best_mode=mode,
                keep_checkpoints_without_metrics=False, create=not read_only,
                read_only=read_only))

    def save(self, step: int, state: Any, meta: dict[str, Any]) -> None:
        """Save ``state`` and ``meta`` as the latest checkpoint at ``step``."""
        args = ocp.args.Composite(state=ocp.args.StandardSave(state),
                                  meta=ocp.args.JsonSave(meta))
        self.latest.save(step, args=args, force=True)

    def save_best(self, step: int, state: Any, meta: dict[str, Any], value: float) -> None:
        """Offer ``state`` to the best-checkpoint manager with its dev metric."""
        args = ocp.args.Composite(state=ocp.args.StandardSave(state),
                                  meta=ocp.args.JsonSave(meta))
        self.best.save(step, args=args, metrics={self.metric: float(value)}, force=True)

    def latest_step(self) -> int | None:
        return self.latest.latest_step()

    def restore_latest(self, template: Any) -> tuple[Any, dict[str, Any], int] | None:
        """The newest complete checkpoint as ``(state, meta, step)``, or None."""
        step = self.latest.latest_step()
        if step is None:
            return None
        restored = self.latest.restore(step, args=_restore_args(template))
        return _with_structure(template, restored.state), restored.meta, step

    def wait(self) -> None:
        self.latest.wait_until_finished()
        self.best.wait_until_finished()

    def close(self) -> None:
        self.latest.close()
        self.best.close()


def read_meta(workdir: str | Path, which: str = BEST) -> tuple[dict[str, Any], int]:
    """The JSON meta of the best (or latest) checkpoint, without the arrays."""
    directory = Path(workdir).absolute() / which
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} does not exist: is {workdir} a training "
                                "workdir? Run `seq2seq-jax train --workdir DIR` first.")
    manager = ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(
        read_only=True))
    try:
        step = manager.best_step() if which == BEST else manager.latest_step()
        if step is None:
            step = manager.latest_step()
        if step is None:
            raise FileNotFoundError(f"no complete checkpoint in {directory}")
        meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
    finally:
        manager.close()
    return meta, step


def restore_params(workdir: str | Path, template: Any, which: str = BEST,
                   step: int | None = None) -> tuple[Any, dict[str, Any], int]:
    """Restore a state pytree shaped like ``template`` from the best or latest checkpoint."""
    directory = Path(workdir).absolute() / which
    manager = ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(
        read_only=True))
    try:
        if step is None:
            step = manager.best_step() if which == BEST else manager.latest_step()
            step = manager.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no complete checkpoint in {directory}")
        restored = manager.restore(step, args=_restore_args(template))
    finally:
        manager.close()
    return _with_structure(template, restored.state), restored.meta, step
