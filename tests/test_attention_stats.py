"""scripts/attention_stats.py: hand-computed sharpness, and a run on a trained workdir."""

from __future__ import annotations

import json
import math
from types import ModuleType

import numpy as np
import pytest
from scripts_loader import load_script
from test_analysis import tiny_workdir


def _script() -> ModuleType:
    return load_script("attention_stats")


def test_one_hot_and_uniform_rows_are_the_two_ends():
    stats = _script().sharpness([np.eye(3), np.full((2, 4), 0.25)])
    # Rows: three one-hot (entropy 0, max 1), two uniform over 4 (entropy 1, max 0.25).
    assert stats["tokens"] == 5 and stats["sentences"] == 2
    assert stats["entropy"] == pytest.approx(2 / 5)
    assert stats["max_weight"] == pytest.approx((3 * 1.0 + 2 * 0.25) / 5)
    # Sentence 1: every source token gets 1.0 in all; sentence 2: each gets 0.5, not > 0.5.
    assert stats["covered"] == pytest.approx(0.5)


def test_a_row_split_over_two_of_four_tokens_has_entropy_one_half():
    stats = _script().sharpness([np.array([[0.5, 0.5, 0.0, 0.0]])])
    assert stats["entropy"] == pytest.approx(math.log(2) / math.log(4))
    assert stats["max_weight"] == pytest.approx(0.5)


def test_rows_without_two_source_tokens_are_skipped_and_none_left_is_an_error():
    mod = _script()
    assert mod.sharpness([np.ones((2, 1)), np.eye(2)])["tokens"] == 2
    with pytest.raises(ValueError, match="two or more source tokens"):
        mod.sharpness([np.ones((3, 1)), np.zeros((0, 5))])


def test_command_on_a_trained_workdir(tmp_path_factory, capsys):
    directory = tiny_workdir(tmp_path_factory.getbasetemp(), "synthetic")
    assert _script().main([str(directory), "--limit", "8"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["workdir"] == str(directory) and out["tokens"] > 0
    assert 0.0 <= out["entropy"] <= 1.0 and 0.0 < out["max_weight"] <= 1.0
    assert 0.0 <= out["covered"] <= 1.0
    assert _script().main([str(tmp_path_factory.getbasetemp() / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err
