"""Everything ``eval`` and ``predict`` need, read back from a training workdir."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NamedTuple

import jax
import ml_collections

from seq2seq_jax import checkpoint, models, pipeline
from seq2seq_jax.interface import Model


class Trained(NamedTuple):
    config: ml_collections.ConfigDict
    model: Model
    cfg: Any  # the frozen model config
    params: Any
    src_tok: Any
    tgt_tok: Any
    step: int
    which: str  # "best" or "checkpoints"


def load(workdir: str | Path, which: str = checkpoint.BEST) -> Trained:
    """Restore the best (default) or latest checkpoint of ``workdir``.

    Says on stderr which checkpoint was loaded.
    """
    from seq2seq_jax.train import init_state, make_optimizer

    workdir = Path(workdir)
    if not workdir.is_dir():
        raise FileNotFoundError(f"workdir {workdir} does not exist; train first with "
                                f"`seq2seq-jax train --workdir {workdir}`")
    best_dir = workdir / checkpoint.BEST
    if which == checkpoint.BEST and not any(best_dir.glob("[0-9]*")):
        which = checkpoint.LATEST  # no evaluation has run yet
    meta, _ = checkpoint.read_meta(workdir, which)
    config = ml_collections.ConfigDict(meta["config"])
    src_tok, tgt_tok = pipeline.tokenizers_from_dict(meta["tokenizers"])
    cfg = models.make_config(config.model.to_dict(), src_tok.vocab_size, tgt_tok.vocab_size)
    model = models.get_model(config.model.name)
    optimizer = make_optimizer(config.train)
    template = jax.eval_shape(lambda: init_state(model, cfg, optimizer, config.seed))
    state, _, step = checkpoint.restore_params(workdir, template, which)
    print(f"loaded checkpoint {workdir / which}/{step} (step {step})", file=sys.stderr)
    return Trained(config, model, cfg, state.params, src_tok, tgt_tok, step, which)
