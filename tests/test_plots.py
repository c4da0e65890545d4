"""Attention heatmaps: a PNG for matching shapes, a clear error otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from seq2seq_jax import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_heatmap_writes_a_png(tmp_path):
    weights = np.array([[0.7, 0.2, 0.1], [0.0, 0.5, 0.5]])
    path = tmp_path / "attn.png"
    plots.attention_heatmap(weights, ["c", "a", "t"], ["K", "<eos>"], path, title="cat")
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 1000


def test_heatmap_accepts_a_string_path_and_one_cell(tmp_path):
    path = tmp_path / "one.png"
    plots.attention_heatmap(np.ones((1, 1)), ["x"], ["<eos>"], str(path))
    assert path.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("shape, n_src, n_out", [
    ((3, 2), 3, 2),  # transposed
    ((2, 3), 2, 2),  # one source symbol too few
    ((6,), 3, 2),  # flat
])
def test_heatmap_rejects_mismatched_shapes(tmp_path, shape, n_src, n_out):
    path = tmp_path / "bad.png"
    src = [f"s{i}" for i in range(n_src)]
    out = [f"o{i}" for i in range(n_out)]
    with pytest.raises(ValueError, match=rf"do not match {n_out} outputs x {n_src} source"):
        plots.attention_heatmap(np.zeros(shape), src, out, path)
    assert not path.exists()
