"""Checkpoints with orbax: the last N by step, and the best one by dev metric.

A workdir holds two orbax ``CheckpointManager`` directories:

* ``checkpoints/``: the last ``keep`` saves, for resuming;
* ``best/``: the single best save by the dev metric, for eval and predict.

Each save holds the train state (a pytree of arrays: params, optimizer state,
step, RNG) and a JSON ``meta`` item: the config, the tokenizers, the data
position and the early-stopping state.

Crash safety. Orbax writes each step into ``<step>.orbax-checkpoint-tmp-*``
and renames it to ``<step>`` only when complete, so a process killed mid-write
leaves the previous checkpoints intact and only a temporary directory behind
(``saves_in_progress`` lists them; the next training run removes them). A step
directory that is there but cannot be read (a truncated or missing file) is
skipped with a warning naming it, and the next older one is used. Training,
which owns the workdir, then moves the bad directory aside to
``<step>.corrupt`` (outside orbax's step-name pattern, so it is never read
again, and never deleted); ``eval`` and ``predict`` only read. A step that is
already saved is not saved again: a run resumed from an older checkpoint
replays the same steps bit for bit and reaches the same states.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from seq2seq_jax.errors import DataError
from seq2seq_jax.layout import BEST, LATEST

log = logging.getLogger(__name__)

EXPORTED = "exported"  # the meta key of a parameters-only save (``save_params``)
# Meta key of a best/ checkpoint that holds the parameters alone: the train state (with the
# optimizer's) is written once, to checkpoints/; best/ is only ever read for decoding.
PARAMS_ONLY = "params_only"
CORRUPT_SUFFIX = ".corrupt"
TMP_MARKER = ".orbax-checkpoint-tmp"
# What reading a damaged step raises: missing files (OSError), truncated JSON
# (JSONDecodeError, a ValueError), tensorstore read errors (ValueError), a
# metadata tree that no longer matches (ValueError, KeyError, TypeError).
UNREADABLE = (OSError, ValueError, KeyError, TypeError, EOFError)


class CheckpointError(DataError):
    """No checkpoint of a workdir could be read; the message lists why for each."""


def _abstract(x: Any) -> Any:
    """The restore target of one leaf: its shape, dtype and sharding; a template
    without a sharding (``jax.eval_shape``) restores onto the first local device,
    whatever the device count the checkpoint was saved with."""
    s = ocp.utils.to_shape_dtype_struct(x)
    if isinstance(s, jax.ShapeDtypeStruct) and s.sharding is None:
        device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        s = jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=device)
    return s


def _save_args(state: Any, meta: dict[str, Any]) -> ocp.args.Composite:
    """One save's items: the array pytree ``state`` and the JSON ``meta``."""
    return ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta))


def _restore_args(template: Any) -> ocp.args.Composite:
    abstract = jax.tree.map(_abstract, template)
    return ocp.args.Composite(state=ocp.args.StandardRestore(abstract),
                              meta=ocp.args.JsonRestore())


def _with_structure(template: Any, restored: Any) -> Any:
    """Orbax returns inner NamedTuples (optax states) as tuples: re-impose the template's."""
    return jax.tree.unflatten(jax.tree.structure(template), jax.tree.leaves(restored))


def reason(error: BaseException) -> str:
    """One short line saying why a checkpoint could not be read."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:240]}{'...' if len(text) > 240 else ''}"


def move_aside(step_dir: Path) -> Path:
    """Rename an unreadable step directory to ``<step>.corrupt`` (or ``.corrupt.N``).

    Returns:
      The new path; nothing is deleted.
    """
    target = step_dir.with_name(step_dir.name + CORRUPT_SUFFIX)
    n = 1
    while target.exists():
        target = step_dir.with_name(f"{step_dir.name}{CORRUPT_SUFFIX}.{n}")
        n += 1
    step_dir.rename(target)
    return target


def complete_steps(workdir: str | Path, which: str = LATEST) -> list[int]:
    """The steps with a finished (renamed) directory in ``workdir/which``, ascending.

    Finished is not the same as readable: see ``Checkpointer.restore_latest``.
    """
    directory = Path(workdir) / which
    if not directory.is_dir():
        return []
    return sorted(int(p.name) for p in directory.iterdir()
                  if p.is_dir() and re.fullmatch(r"0|[1-9]\d*", p.name))


def saves_in_progress(workdir: str | Path) -> list[Path]:
    """Temporary directories of saves that never finished (or are being written now)."""
    found: list[Path] = []
    for which in (LATEST, BEST):
        directory = Path(workdir) / which
        if directory.is_dir():
            found.extend(sorted(p for p in directory.iterdir() if TMP_MARKER in p.name))
    return found


class Checkpointer:
    """The two managers of one workdir, as training uses them (reads and writes)."""

    def __init__(self, workdir: str | Path, keep: int = 3, metric: str = "loss",
                 mode: str = "min", read_only: bool = False):
        root = Path(workdir).absolute()
        self.metric = metric
        # cleanup_tmp_directories: the temporary directories of saves that a crash
        # cut short hold no complete checkpoint; they go when training restarts.
        self.latest = ocp.CheckpointManager(
            root / LATEST, options=ocp.CheckpointManagerOptions(
                max_to_keep=keep, create=not read_only, read_only=read_only,
                cleanup_tmp_directories=not read_only))
        self.best = ocp.CheckpointManager(
            root / BEST, options=ocp.CheckpointManagerOptions(
                max_to_keep=1, best_fn=lambda m: m[metric], best_mode=mode,
                keep_checkpoints_without_metrics=False, create=not read_only,
                read_only=read_only, cleanup_tmp_directories=not read_only))

    def save(self, step: int, state: Any, meta: dict[str, Any]) -> None:
        """Save ``state`` and ``meta`` as the latest checkpoint at ``step``."""
        if step in self.latest.all_steps():
            log.info("checkpoint %s/%d exists; not saved again", self.latest.directory, step)
            return
        self.latest.save(step, args=_save_args(state, meta), force=True)

    def save_best(self, step: int, state: Any, meta: dict[str, Any], value: float) -> None:
        """Offer ``state`` to the best-checkpoint manager with its dev metric.

        A run killed after this save and before ``save`` resumes from an older
        checkpoint and offers the same step again: the one on disk is kept.
        """
        if step in self.best.all_steps():
            log.info("best checkpoint %s/%d exists; not saved again", self.best.directory,
                     step)
            return
        self.best.save(step, args=_save_args(state, meta), metrics={self.metric: float(value)},
                       force=True)

    def latest_step(self) -> int | None:
        return self.latest.latest_step()

    def restore_latest(self, template: Any) -> tuple[Any, dict[str, Any], int] | None:
        """The newest readable checkpoint as ``(state, meta, step)``, or None if none exist.

        Newer step directories that cannot be read are moved aside to
        ``<step>.corrupt`` with a warning, once an older one has been read with
        the same ``template`` (so a template that fits none, e.g. after a config
        change, moves nothing).

        Raises:
          CheckpointError: there are checkpoints and none of them can be read.
        """
        failed: list[tuple[int, BaseException]] = []
        for step in sorted(self.latest.all_steps(), reverse=True):
            try:
                restored = self.latest.restore(step, args=_restore_args(template))
                state = _with_structure(template, restored.state)
            except UNREADABLE as e:
                failed.append((step, e))
                continue
            for bad, error in failed:
                step_dir = Path(self.latest.directory) / str(bad)
                moved = move_aside(step_dir)
                log.warning("checkpoint %s is unreadable (%s); moved it aside to %s and "
                            "resuming from step %d", step_dir, reason(error), moved, step)
            if failed:
                self.latest.reload()
            return state, restored.meta, step
        if failed:
            raise _none_readable(Path(self.latest.directory), failed)
        return None

    def wait(self) -> None:
        self.latest.wait_until_finished()
        self.best.wait_until_finished()

    def close(self) -> None:
        self.latest.close()
        self.best.close()


def _none_readable(directory: Path, failed: list[tuple[int, BaseException]]) -> CheckpointError:
    details = "; ".join(f"{directory / str(step)}: {reason(e)}" for step, e in failed)
    return CheckpointError(
        f"no checkpoint in {directory} can be read ({details}). If the config changed "
        "since they were written, train in a new --workdir; otherwise move the damaged "
        "directories out of the way.")


def _open(workdir: str | Path, which: str) -> ocp.CheckpointManager:
    directory = Path(workdir).absolute() / which
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} does not exist: is {workdir} a training "
                                "workdir? Run `seq2seq-jax train --workdir DIR` first.")
    return ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(
        read_only=True))


def _preferred_steps(manager: ocp.CheckpointManager, which: str) -> list[int]:
    """Every step of the directory, the one to use first (best or latest), then newest first."""
    steps = sorted(manager.all_steps(), reverse=True)
    first = manager.best_step() if which == BEST else None
    return [first, *(s for s in steps if s != first)] if first is not None else steps


def candidates(workdir: str | Path, which: str = BEST) -> list[tuple[str, int]]:
    """``(which, step)`` pairs to try when loading a workdir, preferred first.

    For ``BEST``: the best step, then the latest checkpoints newest first; for
    ``LATEST``: the latest checkpoints newest first, then the best.
    """
    order = (BEST, LATEST) if which == BEST else (LATEST, BEST)
    out: list[tuple[str, int]] = []
    for kind in order:
        if not (Path(workdir) / kind).is_dir():
            continue
        manager = _open(workdir, kind)
        try:
            out.extend((kind, s) for s in _preferred_steps(manager, kind))
        finally:
            manager.close()
    return out


def _first_readable(workdir: str | Path, which: str, step: int | None,
                    read: Callable[[ocp.CheckpointManager, int], Any]) -> tuple[Any, int]:
    """``(read(manager, step), step)`` for the first readable step, warning about the others."""
    manager = _open(workdir, which)
    directory = Path(manager.directory)
    try:
        steps = [step] if step is not None else _preferred_steps(manager, which)
        if not steps:
            raise FileNotFoundError(f"no complete checkpoint in {directory}")
        if step is not None:
            try:
                return read(manager, step), step
            except UNREADABLE as e:
                raise CheckpointError(f"checkpoint {directory / str(step)} cannot be read "
                                      f"({reason(e)})") from e
        failed: list[tuple[int, BaseException]] = []
        for s in steps:
            try:
                return read(manager, s), s
            except UNREADABLE as e:
                failed.append((s, e))
                log.warning("checkpoint %s is unreadable (%s); skipping it",
                            directory / str(s), reason(e))
        raise _none_readable(directory, failed)
    finally:
        manager.close()


def read_meta(workdir: str | Path, which: str = BEST,
              step: int | None = None) -> tuple[dict[str, Any], int]:
    """The JSON meta of the best (or latest) checkpoint, without the arrays.

    With ``step=None`` an unreadable step is skipped with a warning for the next
    one in the same directory; an explicit ``step`` is read or fails.

    Raises:
      FileNotFoundError: ``workdir/which`` does not exist or holds no checkpoint.
      CheckpointError: no step's meta can be read.
    """
    def read(manager: ocp.CheckpointManager, s: int) -> Any:
        return manager.restore(s, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta

    meta, got = _first_readable(workdir, which, step, read)
    return meta, got


def restore_params(workdir: str | Path, template: Any, which: str = BEST,
                   step: int | None = None) -> tuple[Any, dict[str, Any], int]:
    """Restore a state pytree shaped like ``template`` from the best or latest checkpoint.

    With ``step=None`` an unreadable step is skipped with a warning for the next
    one in the same directory; an explicit ``step`` is read or fails.

    Raises:
      FileNotFoundError: ``workdir/which`` does not exist or holds no checkpoint.
      CheckpointError: nothing readable.
    """
    def read(manager: ocp.CheckpointManager, s: int) -> Any:
        restored = manager.restore(s, args=_restore_args(template))
        return _with_structure(template, restored.state), restored.meta

    (state, meta), got = _first_readable(workdir, which, step, read)
    return state, meta, got


def export_meta(workdir: str | Path) -> tuple[dict[str, Any], int] | None:
    """``(meta, step)`` of an exported model's ``best/`` checkpoint (``save_params``),
    or None when ``workdir`` is not one: it has ``checkpoints/`` to resume training
    from, or no ``best/`` whose meta says it was exported."""
    directory = Path(workdir)
    if (directory / LATEST).exists() or not (directory / BEST).is_dir():
        return None
    try:
        meta, step = read_meta(directory, BEST)
    except (FileNotFoundError, CheckpointError):
        return None
    return (meta, step) if EXPORTED in meta else None


def is_export(workdir: str | Path) -> bool:
    """Whether ``workdir`` is an exported model (``export_meta``)."""
    return export_meta(workdir) is not None


def save_params(workdir: str | Path, step: int, params: Any, meta: dict[str, Any]) -> Path:
    """Write ``params`` alone (no optimizer state) as the one ``best/`` checkpoint of a new
    ``workdir``, in the layout training writes, so ``eval``, ``predict`` and ``--ensemble``
    read it as they read a training workdir. ``meta`` must say what the parameters are
    under the ``EXPORTED`` key. Returns the step directory.

    Raises:
      FileExistsError: ``workdir/best`` exists (nothing is overwritten).
    """
    if EXPORTED not in meta:
        raise ValueError(f"save_params: meta needs an {EXPORTED!r} entry")
    directory = Path(workdir).absolute() / BEST
    if directory.exists():
        raise FileExistsError(f"{directory} exists; export into a new folder")
    manager = ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(
        max_to_keep=1, create=True))
    try:
        manager.save(step, args=_save_args(params, meta), force=True)
        manager.wait_until_finished()
    finally:
        manager.close()
    return directory / str(step)
