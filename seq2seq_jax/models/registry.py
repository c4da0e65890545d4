"""Model registry: ``model.name`` -> the family's functions and its static config.

Names:
  ``rnn``         LSTM/GRU encoder-decoder through a fixed-length context vector
  ``bahdanau``    the same decoder with additive attention
  ``luong``       the same decoder with multiplicative attention
  ``transformer`` the Transformer encoder-decoder

Batched helpers vmap the per-example functions over a leading batch axis B.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax

from seq2seq_jax.errors import ConfigError
from seq2seq_jax.models import rnn_model, transformer
from seq2seq_jax.models.interface import Model, Output
from seq2seq_jax.models.model_config import RNNConfig, TransformerConfig

Array = jax.Array
Params = dict[str, Any]
ModelConfig = RNNConfig | TransformerConfig

NAMES = ("rnn", "bahdanau", "luong", "transformer")
_ATTENTION = {"rnn": "none", "bahdanau": "bahdanau", "luong": "luong"}


def get_model(name: str) -> Model:
    """The family's functions for ``model.name``."""
    if name not in NAMES:
        raise ConfigError(f"model.name={name!r} is not valid; choose one of {list(NAMES)}")
    return transformer.MODEL if name == "transformer" else rnn_model.MODEL


def config_class(name: str) -> type[RNNConfig] | type[TransformerConfig]:
    get_model(name)
    return TransformerConfig if name == "transformer" else RNNConfig


def option_defaults(name: str) -> dict[str, Any]:
    """Every option a ``model`` section of ``model.name`` may set, with its default.

    The vocabulary sizes and the attention kind are not options: the data and
    the name set them.
    """
    return {f.name: f.default for f in dataclasses.fields(config_class(name))
            if f.name not in ("src_vocab", "tgt_vocab", "attention")}


def check_options(name: str, keys: Any) -> None:
    """``ConfigError`` naming the first of ``keys`` that is no option of ``name``."""
    valid = option_defaults(name)
    unknown = sorted(set(keys) - set(valid) - {"name"})
    if unknown:
        raise ConfigError(f"model.{unknown[0]} is not an option of model.name={name!r}; "
                          f"valid options: {sorted(valid)}")


def make_config(model: Mapping[str, Any], src_vocab: int, tgt_vocab: int) -> ModelConfig:
    """Build and validate the frozen config from a ``model`` mapping (e.g. a ConfigDict).

    ``model["name"]`` picks the family; every other key must be a field of its
    config dataclass. Raises ``ConfigError`` naming an unknown key or a bad value,
    with the valid choices, before anything is compiled.
    """
    model = dict(model)
    name = model.pop("name", None)
    if name is None:
        raise ConfigError(f"model.name is missing; choose one of {list(NAMES)}")
    cls = config_class(name)
    check_options(name, model)
    if name in _ATTENTION:
        model["attention"] = _ATTENTION[name]
    return cls(src_vocab=src_vocab, tgt_vocab=tgt_vocab, **model).validate()


def model_name(cfg: ModelConfig) -> str:
    """The registry name of a config (inverse of ``make_config``)."""
    if isinstance(cfg, TransformerConfig):
        return "transformer"
    return {v: k for k, v in _ATTENTION.items()}[cfg.attention]


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
