"""The model interface: every registered family offers the same functions."""

from __future__ import annotations

import inspect

import jax.numpy as jnp
import pytest

from seq2seq_jax import models
from seq2seq_jax.errors import ConfigError
from seq2seq_jax.models import interface

FUNCTIONS = {"init": interface.InitFn, "apply": interface.ApplyFn,
             "encode": interface.EncodeFn, "init_cache": interface.InitCacheFn,
             "step": interface.StepFn}
OPTIONAL = {"grow_cache": interface.GrowCacheFn}  # None where the cache has no length


def test_model_fields():
    assert interface.Model._fields == ("name", *FUNCTIONS, *OPTIONAL)


@pytest.mark.parametrize("name", models.NAMES)
def test_registered_models_offer_every_function(name):
    model = models.get_model(name)
    assert isinstance(model, interface.Model)
    assert isinstance(model.name, str) and model.name
    for field in FUNCTIONS:
        assert callable(getattr(model, field)), f"{name}.{field} is not callable"


@pytest.mark.parametrize("name", models.NAMES)
@pytest.mark.parametrize("field", list(FUNCTIONS) + list(OPTIONAL))
def test_functions_take_the_protocol_arguments(name, field):
    """Parameter names, order and defaults match the protocol (callers pass keywords)."""
    protocol = inspect.signature({**FUNCTIONS, **OPTIONAL}[field].__call__)
    expected = [(p.name, p.default) for p in protocol.parameters.values()][1:]  # no self
    fn = getattr(models.get_model(name), field)
    if fn is None:
        assert field in OPTIONAL
        return
    got = [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]
    assert got == expected


def test_unknown_model_name_lists_the_registry():
    with pytest.raises(ConfigError) as err:
        models.get_model("gpt")
    assert "model.name='gpt'" in str(err.value)
    for name in models.NAMES:
        assert repr(name) in str(err.value)


@pytest.mark.parametrize("cls", [interface.Output, interface.StepOutput])
def test_outputs_are_named_tuples(cls):
    assert issubclass(cls, tuple)
    assert cls._fields == ("logits", "attention")
    logits = jnp.zeros((3, 5))
    out = cls(logits, None)
    assert out.logits is logits and out.attention is None
    got_logits, got_attention = out  # unpacks like a tuple
    assert got_logits is logits and got_attention is None
    assert out._replace(attention=logits).attention is logits
