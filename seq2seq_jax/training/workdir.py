"""Everything ``eval`` and ``predict`` need, read back from a training workdir."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from seq2seq_jax import models
from seq2seq_jax.data import pipeline
from seq2seq_jax.errors import ConfigError
from seq2seq_jax.evaluation.trained import Trained  # re-exported: what load returns
from seq2seq_jax.training import checkpoint

log = logging.getLogger(__name__)


def _load_at(workdir: Path, which: str, step: int) -> Trained:
    """Restore one checkpoint; raises ``CheckpointError`` (or one of
    ``checkpoint.UNREADABLE``, for damaged meta contents) if it is damaged."""
    from seq2seq_jax.training.train import init_state, make_optimizer

    meta, _ = checkpoint.read_meta(workdir, which, step)
    config = ml_collections.ConfigDict(meta["config"])
    src_tok, tgt_tok = pipeline.tokenizers_from_dict(meta["tokenizers"])
    cfg = models.make_config(config.model.to_dict(), src_tok.vocab_size, tgt_tok.vocab_size)
    model = models.get_model(config.model.name)
    exported = meta.get(checkpoint.EXPORTED)
    if exported is not None or meta.get(checkpoint.PARAMS_ONLY):
        # parameters alone: written by ``export``, or training's best/ checkpoint
        template = jax.eval_shape(lambda: model.init(jax.random.key(0), cfg))
        params, _, _ = checkpoint.restore_params(workdir, template, which, step)
        return Trained(config, model, cfg, params, src_tok, tgt_tok, step, which,
                       averaged=tuple((exported or {}).get("averaged", ())))
    optimizer = make_optimizer(config.train)
    template = jax.eval_shape(lambda: init_state(model, cfg, optimizer, config.seed))
    state, _, _ = checkpoint.restore_params(workdir, template, which, step)
    return Trained(config, model, cfg, state.params, src_tok, tgt_tok, step, which)


def _load(workdir: Path, which: str) -> Trained:
    if not workdir.is_dir():
        raise FileNotFoundError(f"workdir {workdir} does not exist; train first with "
                                f"`seq2seq-jax train --workdir {workdir}`")
    tries = checkpoint.candidates(workdir, which)
    if not tries:
        raise FileNotFoundError(
            f"{workdir} holds no complete checkpoint (in {checkpoint.LATEST}/ or "
            f"{checkpoint.BEST}/): is it a training workdir? Run `seq2seq-jax train "
            f"--workdir {workdir}` first.")
    failed = []
    for kind, step in tries:
        try:
            return _load_at(workdir, kind, step)
        except (*checkpoint.UNREADABLE, checkpoint.CheckpointError) as e:
            why = checkpoint.reason(e.__cause__ or e)
            failed.append(f"{workdir / kind / str(step)}: {why}")
            log.warning("checkpoint %s is unreadable (%s); falling back to the next one",
                        workdir / kind / str(step), why)
    raise checkpoint.CheckpointError(
        f"no checkpoint of {workdir} can be read ({'; '.join(failed)})")


def load(workdir: str | Path, which: str = checkpoint.BEST) -> Trained:
    """Restore the best (default) or latest checkpoint of ``workdir``.

    The best falls back to the latest before any evaluation has run. A damaged
    checkpoint is skipped with a warning naming it, for the next candidate (the
    best, then the latest checkpoints newest first, or the reverse for
    ``LATEST``). Says on stderr which checkpoint was loaded.

    Raises:
      FileNotFoundError: no workdir, or no checkpoint in it.
      checkpoint.CheckpointError: checkpoints exist but none can be read.
    """
    trained = _load(Path(workdir), which)
    print(f"loaded checkpoint {Path(workdir) / trained.which}/{trained.step} "
          f"(step {trained.step})", file=sys.stderr)
    return trained


def _mean(trees: list[Any]) -> Any:
    """The elementwise mean of same-shaped parameter trees, in float32, cast back;
    a leaf that is not floating point is taken from the first tree."""
    def mean(*leaves: Any) -> Any:
        if not jnp.issubdtype(leaves[0].dtype, jnp.inexact):
            return leaves[0]
        total = jnp.sum(jnp.stack([jnp.asarray(x, jnp.float32) for x in leaves]), axis=0)
        return (total / len(leaves)).astype(leaves[0].dtype)

    return jax.tree.map(mean, *trees)


def load_average(workdir: str | Path, last: int) -> Trained:
    """The mean parameters of the newest ``last`` checkpoints in ``checkpoints/``.

    Checkpoint averaging (Vaswani et al. 2017; Wu et al. 2021 report Multi30k
    with it): the config, tokenizers and step are the newest checkpoint's. How
    many there are is ``train.keep_checkpoints`` (saved every
    ``train.checkpoint_every`` steps). Nothing is written.

    Raises:
      ConfigError: ``last`` < 1, or fewer checkpoints than ``last``.
      FileNotFoundError: no workdir or no ``checkpoints/``.
      checkpoint.CheckpointError: one of the chosen checkpoints cannot be read
        (an average is never taken over a different set than asked for).
    """
    directory = Path(workdir)
    if last < 1:
        raise ConfigError(f"--average {last}: the number of checkpoints to average must be "
                         ">= 1")
    if not directory.is_dir():
        raise FileNotFoundError(f"workdir {directory} does not exist; train first with "
                                f"`seq2seq-jax train --workdir {directory}`")
    if checkpoint.is_export(directory):
        return _exported_average(directory, last)
    steps = checkpoint.complete_steps(directory, checkpoint.LATEST)
    if len(steps) < last:
        raise ConfigError(
            f"--average {last}: {directory / checkpoint.LATEST} holds {len(steps)} "
            f"checkpoint(s) {steps}; average at most {len(steps)}, or train with "
            f"--config.train.keep_checkpoints={last} to keep more")
    chosen = steps[-last:]
    newest = _load_at(directory, checkpoint.LATEST, chosen[-1])
    trees = [newest.params] + [_load_at(directory, checkpoint.LATEST, s).params
                               for s in chosen[:-1]]
    print(f"averaged the parameters of {directory / checkpoint.LATEST} steps "
          f"{', '.join(map(str, chosen))}", file=sys.stderr)
    return newest._replace(params=_mean(trees), averaged=tuple(chosen))


def _exported_average(directory: Path, last: int) -> Trained:
    """``load_average`` of an exported model: its parameters when they are already the
    mean of ``last`` checkpoints, else an error saying what the export holds."""
    trained = _load(directory, checkpoint.BEST)
    if len(trained.averaged) != last:
        holds = (f"the mean of steps {list(trained.averaged)}" if trained.averaged
                 else f"one checkpoint (step {trained.step})")
        raise ConfigError(
            f"--average {last}: {directory} is an exported model holding {holds}, not the "
            f"mean of {last}; drop --average or export the workdir again with --average "
            f"{last}")
    print(f"loaded exported {directory / trained.which}/{trained.step} (the mean of steps "
          f"{', '.join(map(str, trained.averaged))})", file=sys.stderr)
    return trained


def _symbols(tok: Any) -> list[str]:
    return [tok.id_to_token(i) for i in range(tok.vocab_size)]


def load_ensemble(workdirs: Sequence[str | Path], average: int = 0) -> Trained:
    """One model decoding with the mean next-token probabilities of several workdirs.

    Each member is its workdir's best checkpoint (``load``), or with ``average``
    the mean of its newest that many (``load_average``). The config (data and
    decoding options) and tokenizers are the first workdir's.

    Raises:
      ConfigError: fewer than two workdirs, the same one twice, or members
        whose source or target vocabularies differ (naming both workdirs).
      FileNotFoundError, checkpoint.CheckpointError: as ``load``.
    """
    from seq2seq_jax.models import ensemble

    paths = [Path(w) for w in workdirs]
    if len(paths) < 2:
        raise ConfigError(f"--ensemble: an ensemble needs at least two workdirs, got "
                          f"{[str(p) for p in paths]}")
    if len({p.resolve() for p in paths}) < len(paths):
        raise ConfigError(f"--ensemble: a workdir is listed twice in {[str(p) for p in paths]}")
    loaded = [load_average(p, average) if average else load(p) for p in paths]
    first = loaded[0]
    for path, t in zip(paths[1:], loaded[1:], strict=True):
        for side, a, b in (("source", first.src_tok, t.src_tok),
                           ("target", first.tgt_tok, t.tgt_tok)):
            if _symbols(a) != _symbols(b):
                raise ConfigError(
                    f"--ensemble: {path} has another {side} vocabulary than {paths[0]} "
                    f"({b.vocab_size} vs {a.vocab_size} symbols); ensemble members must be "
                    "trained on the same data with the same tokenizer options")
    model, cfg, params = ensemble.combine([(t.model, t.cfg, t.params) for t in loaded])
    members = tuple(f"{p / t.which}/{t.step}" + (f" (mean of {list(t.averaged)})"
                                                  if t.averaged else "")
                    for p, t in zip(paths, loaded, strict=True))
    return first._replace(model=model, cfg=cfg, params=params, members=members)


def load_for(workdir: str | Path, *, average: int = 0, ensemble: Sequence[str | Path] = (),
             which: str = checkpoint.BEST) -> Trained:
    """What eval, predict and the analyses decode with: ``workdir``'s ``which``
    checkpoint (``load``), the mean of its newest ``average`` (``load_average``),
    or with ``ensemble`` workdirs all of them together (``load_ensemble``)."""
    if ensemble:
        return load_ensemble([workdir, *ensemble], average)
    return load_average(workdir, average) if average else load(workdir, which)


def params_digest(workdir: str | Path) -> tuple[str, int]:
    """The SHA-256 of the latest checkpoint's parameters, to compare runs bit for bit.

    Returns:
      ``(hex digest, step)`` of the newest readable checkpoint in ``checkpoints/``.
    """
    from seq2seq_jax.training.train import final_params_digest

    trained = _load(Path(workdir), checkpoint.LATEST)
    if trained.which != checkpoint.LATEST:
        raise checkpoint.CheckpointError(f"{workdir} has no readable checkpoint in "
                                         f"{checkpoint.LATEST}/")
    return final_params_digest(trained.params), trained.step
