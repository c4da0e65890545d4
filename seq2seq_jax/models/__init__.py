"""The model core: pure JAX functions over named parameter pytrees, no I/O.

Every family is reached through the ``Model`` interface (``interface.py``, which also
holds the package's one shape glossary); ``registry.py`` maps ``model.name`` to it and
``model_config.py`` holds the static configs. The config half is imported eagerly and
needs no JAX; the functions load JAX on first use, so that reading or validating a
config (``seq2seq-jax train --help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from seq2seq_jax.models.model_config import (
    NAMES,
    ModelConfig,
    RNNConfig,
    TransformerConfig,
    check_options,
    config_class,
    make_config,
    model_name,
    option_defaults,
)

if TYPE_CHECKING:
    from seq2seq_jax.models.interface import Model, Output, StepOutput
    from seq2seq_jax.models.registry import batch_apply, get_model, param_count

_LAZY = {"Model": "interface", "Output": "interface", "StepOutput": "interface",
         "batch_apply": "registry", "get_model": "registry", "param_count": "registry"}

__all__ = [
    "NAMES", "Model", "ModelConfig", "Output", "RNNConfig", "StepOutput", "TransformerConfig",
    "batch_apply", "check_options", "config_class", "get_model", "make_config", "model_name",
    "option_defaults", "param_count",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"seq2seq_jax.models.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'seq2seq_jax.models' has no attribute {name!r}")
