"""Model registry: ``model.name`` -> the family's functions and its static config.

Names:
  ``rnn``         LSTM/GRU encoder-decoder through a fixed-length context vector
  ``bahdanau``    the same decoder with additive attention
  ``luong``       the same decoder with multiplicative attention
  ``transformer`` the Transformer encoder-decoder

Batched helpers vmap the per-example functions over a leading batch axis B.
"""

from __future__ import annotations

from typing import Any

import jax

from seq2seq_jax.errors import ConfigError
from seq2seq_jax.models import rnn_model, transformer
from seq2seq_jax.models.interface import Model, Output
from seq2seq_jax.models.model_config import (  # the config half of the registry
    NAMES,
    ModelConfig,
)

Array = jax.Array
Params = dict[str, Any]

def get_model(name: str) -> Model:
    """The family's functions for ``model.name``."""
    if name not in NAMES:
        raise ConfigError(f"model.name={name!r} is not valid; choose one of {list(NAMES)}")
    return transformer.MODEL if name == "transformer" else rnn_model.MODEL


def batch_apply(model: Model, params: Params, cfg: ModelConfig, src: Array, tgt_in: Array,
                key: Array | None = None) -> Output:
    """Teacher-forced ``apply`` over a batch: ``src [B, S]``, ``tgt_in [B, T]``.

    With a ``key``, each example gets its own dropout key (``fold_in`` of its index).
    Returns ``Output(logits [B, T, V], attention [B, T, S] or None)``.
    """
    if key is None:
        return jax.vmap(lambda s, t: model.apply(params, cfg, s, t, None))(src, tgt_in)
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jax.numpy.arange(src.shape[0]))
    return jax.vmap(lambda s, t, k: model.apply(params, cfg, s, t, k))(src, tgt_in, keys)


def param_count(params: Params) -> int:
    return sum(x.size for x in jax.tree.leaves(params))
