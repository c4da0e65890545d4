"""Attention heatmaps: source symbols on x, output symbols on y."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def attention_heatmap(weights: np.ndarray, src_tokens: Sequence[str],
                      out_tokens: Sequence[str], path: str | Path, title: str = "") -> None:
    """Save ``weights [len(out_tokens), len(src_tokens)]`` as a PNG heatmap.

    Each row is one output step's distribution over source positions.
    """
    weights = np.asarray(weights, np.float32)
    if weights.shape != (len(out_tokens), len(src_tokens)):
        raise ValueError(f"weights {weights.shape} do not match {len(out_tokens)} outputs x "
                         f"{len(src_tokens)} source symbols")
    fig, ax = plt.subplots(figsize=(max(3.0, 0.45 * len(src_tokens) + 1.5),
                                    max(2.5, 0.4 * len(out_tokens) + 1.2)))
    im = ax.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(src_tokens)), labels=list(src_tokens), rotation=90)
    ax.set_yticks(range(len(out_tokens)), labels=list(out_tokens))
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
