"""Attention heatmaps (source symbols on x, output symbols on y) and quality-by-length curves."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend, imported on first use (a second
    of start-up that decoding without plots does not pay)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def attention_heatmap(weights: np.ndarray, src_tokens: Sequence[str],
                      out_tokens: Sequence[str], path: str | Path, title: str = "") -> None:
    """Save ``weights [len(out_tokens), len(src_tokens)]`` as a PNG heatmap.

    Each row is one output step's distribution over source positions.
    """
    plt = _pyplot()
    weights = np.asarray(weights, np.float32)
    if weights.shape != (len(out_tokens), len(src_tokens)):
        raise ValueError(f"weights {weights.shape} do not match {len(out_tokens)} outputs x "
                         f"{len(src_tokens)} source symbols")
    width = max(3.0, 0.45 * len(src_tokens) + 1.5)
    fig, ax = plt.subplots(figsize=(width, max(2.5, 0.4 * len(out_tokens) + 1.2)))
    im = ax.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(src_tokens)), labels=list(src_tokens), rotation=90)
    ax.set_yticks(range(len(out_tokens)), labels=list(out_tokens))
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(wrap_title(title, width), fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def wrap_title(title: str, width_inches: float) -> str:
    """``title`` broken into lines that fit a figure ``width_inches`` wide at 10 pt."""
    return textwrap.fill(title, width=max(16, int(width_inches * 11)),
                         break_long_words=True, break_on_hyphens=False)


def legend_label(name: str, width: int = 44) -> str:
    """``name`` in lines of at most ``width`` characters, broken after a ``+`` or a space.

    Ensemble labels join their members' names with ``+``; unbroken, six members make
    a legend wider than the panels it stands beside. A single part longer than
    ``width`` keeps a line of its own, unbroken.
    """
    parts = [p for p in name.replace("+", "+\0").replace(" ", " \0").split("\0") if p]
    lines: list[str] = []
    for part in parts:
        if lines and len(lines[-1]) + len(part.rstrip()) <= width:
            lines[-1] += part
        else:
            lines.append(part)
    return "\n".join(line.rstrip() for line in lines)


Series = Mapping[str, tuple[Sequence[float], Sequence[float]]]


def length_curves(panels: Sequence[tuple[str, Series]],
                  counts: tuple[Sequence[float], Sequence[int]], path: str | Path, *,
                  xlabel: str, title: str = "", vline: float | None = None,
                  vline_label: str = "") -> None:
    """Quality against source length, one line per model, counts below (a PNG).

    The shape of Bahdanau et al. (2015), Fig. 2: a score on y, the source
    length on x, one line per system; one panel per score, sharing the x
    axis, and a bar panel at the bottom showing how many examples each point
    averages over. A model keeps its colour and marker in every panel.

    Args:
      panels: (y label, series) per score; series: model name -> (x, y), the
        bucket mean lengths and the bucket scores (empty for a model without
        results, which then appears in the legend only).
      counts: (x, n) of the buckets, for the bar panel.
      path: the PNG to write.
      xlabel, title: the shared x-axis label and the figure title.
      vline: an x to mark with a dashed vertical line in every panel (e.g. the
        longest training input), labelled ``vline_label`` in the legend.
    """
    plt = _pyplot()
    cx, cn = counts
    if len(cx) != len(cn):
        raise ValueError(f"counts: {len(cx)} x values but {len(cn)} counts")
    for _, series in panels:
        for name, (xs, ys) in series.items():
            if len(xs) != len(ys):
                raise ValueError(f"{name}: {len(xs)} x values but {len(ys)} y values")
    n = len(panels)
    fig, axes = plt.subplots(n + 1, 1, sharex=True, figsize=(6.4, 1.6 + 3.0 * n),
                             gridspec_kw={"height_ratios": [3] * n + [1]}, squeeze=False)
    axes = axes[:, 0]
    markers = "osD^vP*X"
    lines = max((len(series) for _, series in panels), default=0)
    # past the 10 colours of the default cycle, tab20's 20 (no two lines alike up to 20)
    colors = ([f"C{k}" for k in range(10)] if lines <= 10
              else [plt.get_cmap("tab20")(k) for k in range(20)])
    for ax, (ylabel, series) in zip(axes, panels, strict=False):
        for k, (name, (xs, ys)) in enumerate(series.items()):
            ax.plot(xs, ys, marker=markers[k % len(markers)], color=colors[k % len(colors)],
                    label=legend_label(name))
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    bars = axes[-1]
    width = 0.8 * float(np.min(np.diff(sorted(cx)))) if len(cx) > 1 else 0.8
    bars.bar(cx, cn, width=width, color="0.6")
    if vline is not None:
        for ax in axes:
            ax.axvline(vline, color="0.3", linestyle="--", linewidth=1,
                       label=vline_label if ax is axes[0] and vline_label else None)
    extra = []
    if n and (panels[0][1] or (vline is not None and vline_label)):
        # right of the panels, so that no label (ensembles' are long) hides a line;
        # out of tight_layout, which would shrink the panels: savefig widens the image
        legend = axes[0].legend(fontsize="small", loc="upper left",
                                bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
        legend.set_in_layout(False)
        extra.append(legend)
    if title:
        axes[0].set_title(title)
    bars.set_ylabel("examples")
    bars.set_xlabel(xlabel)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight", bbox_extra_artists=extra)
    plt.close(fig)
