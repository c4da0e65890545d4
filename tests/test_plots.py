"""Attention heatmaps: a PNG for matching shapes, a clear error otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from seq2seq_jax.evaluation import plots

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


@pytest.mark.parametrize("width", [3.0, 4.6, 8.0])
def test_a_long_title_is_wrapped_inside_the_figure(width):
    import matplotlib.pyplot as plt

    title = ("ensemble luong+luong_concat+bahdanau_query_input (attention of luong): "
             "a toddler is cooking with another person .")
    wrapped = plots.wrap_title(title, width)
    assert "".join(wrapped.split()) == "".join(title.split())  # only line breaks added
    fig, ax = plt.subplots(figsize=(width, 3.0))
    text = ax.set_title(wrapped, fontsize=10)
    fig.tight_layout()
    fig.canvas.draw()
    box = text.get_window_extent()
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width
    plt.close(fig)


def test_length_curves_writes_a_png(tmp_path):
    path = tmp_path / "by_length.png"
    em = {"rnn": ([3.0, 7.5, 12.0], [80.0, 40.0, 5.0]), "bahdanau": ([3.0, 7.5], [95.0, 90.0]),
          "luong (not trained)": ([], [])}
    chars = {name: (xs, [min(100.0, y + 5) for y in ys]) for name, (xs, ys) in em.items()}
    plots.length_curves([("exact match %", em), ("char accuracy %", chars)],
                        ([3.0, 7.5, 12.0], [10, 20, 5]), path, xlabel="source length",
                        title="reverse", vline=8, vline_label="longest training input")
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 5000


def test_length_curves_legend_covers_no_panel(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)  # keep the figure to measure it
    long = {f"ensemble luong_long+luong_long_seed2+model_{i}": ([5.0, 10.0, 20.0],
                                                              [40.0, 30.0, 25.0])
            for i in range(6)}
    plots.length_curves([("BLEU", long)], ([5.0, 10.0, 20.0], [90, 200, 40]),
                        tmp_path / "long.png", xlabel="words")
    (fig,) = figures
    fig.canvas.draw()
    legend = fig.axes[0].get_legend().get_window_extent()
    for ax in fig.axes:
        box = ax.get_window_extent()
        assert legend.x0 >= box.x1  # beside the panels, not on them
        assert box.width > 0.6 * fig.bbox.width  # and the panels not squeezed for it
    monkeypatch.undo()
    plt.close(fig)


@pytest.mark.parametrize("name", [
    "bahdanau", "ensemble " + "+".join(f"bahdanau_query_input_seed{i}" for i in range(6)),
    "x" * 60 + "+y", "a b+c " * 20])
def test_legend_labels_break_only_between_parts_and_keep_every_character(name):
    label = plots.legend_label(name, width=44)
    for line in label.splitlines()[:-1]:  # each break follows a "+" or a space
        follows = name[name.index(line) + len(line):][:1]
        assert line.endswith("+") or follows == " "
    assert "".join(label.split()) == "".join(name.split())
    for line in label.splitlines():
        assert len(line) <= 44 or ("+" not in line[:-1] and " " not in line)
    if len(name) <= 44:
        assert label == name


def test_six_member_ensemble_legend_is_no_wider_than_a_panel(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    members = ["bahdanau_rerun", "bahdanau_query_input_rerun", "bahdanau_seed2",
               "bahdanau_query_input_seed2", "bahdanau_seed3", "bahdanau_query_input_seed3"]
    series = {"ensemble " + "+".join(members): ([4.0, 8.0], [20.0, 25.0]),
              "bahdanau_seed3": ([4.0, 8.0], [21.0, 26.0])}
    plots.length_curves([("WER %", series)], ([4.0, 8.0], [100, 50]), tmp_path / "six.png",
                        xlabel="letters")
    (fig,) = figures
    fig.canvas.draw()
    legend = fig.axes[0].get_legend().get_window_extent()
    assert legend.width <= fig.axes[0].get_window_extent().width
    monkeypatch.undo()
    plt.close(fig)


@pytest.mark.parametrize("n", [3, 11, 20])
def test_every_line_has_its_own_colour(tmp_path, monkeypatch, n):
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    series = {f"model_{k}": ([1.0, 2.0], [float(k), float(k + 1)]) for k in range(n)}
    plots.length_curves([("y", series), ("z", series)], ([1.0, 2.0], [5, 5]),
                        tmp_path / "many.png", xlabel="x")
    (fig,) = figures
    colours = [[to_rgba(line.get_color()) for line in ax.get_lines()] for ax in fig.axes[:2]]
    assert len(set(colours[0])) == n and colours[0] == colours[1]  # the same in each panel
    monkeypatch.undo()
    plt.close(fig)


def test_length_curves_without_series_still_draws_the_axes(tmp_path):
    path = tmp_path / "empty.png"
    plots.length_curves([("y", {})], ([], []), path, xlabel="x")
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_length_curves_rejects_mismatched_points(tmp_path):
    with pytest.raises(ValueError, match="rnn"):
        plots.length_curves([("y", {"rnn": ([1.0, 2.0], [3.0])})], ([], []),
                            tmp_path / "x.png", xlabel="x")
    with pytest.raises(ValueError, match="counts"):
        plots.length_curves([("y", {})], ([1.0], [1, 2]), tmp_path / "x.png", xlabel="x")
