"""The model core: pure JAX functions over named parameter pytrees, no I/O.

Every family is reached through the ``Model`` interface (``interface.py``, which also
holds the package's one shape glossary); ``registry.py`` maps ``model.name`` to it.
"""

from seq2seq_jax.models.interface import Model, Output, StepOutput
from seq2seq_jax.models.model_config import RNNConfig, TransformerConfig
from seq2seq_jax.models.registry import (
    NAMES,
    ModelConfig,
    batch_apply,
    check_options,
    config_class,
    get_model,
    make_config,
    model_name,
    option_defaults,
    param_count,
)

__all__ = [
    "NAMES", "Model", "ModelConfig", "Output", "RNNConfig", "StepOutput", "TransformerConfig",
    "batch_apply", "check_options", "config_class", "get_model", "make_config", "model_name",
    "option_defaults", "param_count",
]
