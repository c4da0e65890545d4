"""Every experiment config loads and passes validation."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from seq2seq_jax import config as config_lib

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
CASES = [("g2p_bahdanau.py", None), ("g2p_rnn.py", None), ("g2p_luong.py", None),
         ("g2p_transformer.py", None)]
CASES += [("multi30k.py", m) for m in ("rnn", "bahdanau", "luong", "transformer")]
CASES += [("synthetic.py", a) for a in ("reverse", "copy,rnn", "addition,transformer")]
CASES += [("smoke.py", s) for s in ("cmudict_g2p", "multi30k", "tfds", "synthetic")]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name[:-3], CONFIGS / name)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name, arg", CASES)
def test_config_is_valid_and_documented(name, arg):
    mod = _load(name)
    config = mod.get_config(arg) if arg is not None else mod.get_config()
    config_lib.validate(config)
    assert "seq2seq-jax train --config configs/" in (mod.__doc__ or "")


@pytest.mark.parametrize("name, bad", [("multi30k.py", "gpt"), ("synthetic.py", "sort"),
                                       ("smoke.py", "imagenet")])
def test_bad_config_argument_lists_choices(name, bad):
    with pytest.raises(ValueError, match="not valid; "):
        _load(name).get_config(bad)
