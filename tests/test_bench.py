"""The benchmark harness end to end on a tiny setting, its skip rule, the report's
arithmetic."""

from __future__ import annotations

import csv
import json

import jax
import pytest

from seq2seq_jax.bench import harness as bench
from seq2seq_jax.bench import report as bench_report
from seq2seq_jax.bench import variants as bv

TINY = ["--batches", "2", "--d-in", "8", "--hidden", "16", "--heads", "2", "--peak-n", "64"]


def _rows(path):
    with path.open() as f:
        return list(csv.DictReader(f))


def test_bench_main_writes_every_file(tmp_path):
    variants = "lstm,transformer_einsum,torch_lstm,cudnn_lstm"
    args = ["--out", str(tmp_path), "--variants", variants, "--lengths", "8", *TINY]
    assert bench.bench_main(args) == 0
    with (tmp_path / "results.csv").open() as f:
        assert tuple(csv.DictReader(f).fieldnames or ()) == bench.COLUMNS
    rows = _rows(tmp_path / "results.csv")
    measured = {(r["variant"], r["length"], r["mode"]) for r in rows}
    assert ("lstm", "8", "train step") in measured
    assert ("transformer_einsum", "8", "decode per token") in measured
    assert ("torch_lstm", "8", "forward") in measured
    assert all(int(r["samples"]) >= 7 and float(r["min_ms"]) <= float(r["median_ms"])
               for r in rows)
    assert all(r["peak_mem_bytes"] for r in rows if not r["variant"].startswith("torch"))
    skips = _rows(tmp_path / "skipped.csv")
    if jax.devices()[0].platform == "cpu":  # cuDNN is recorded as skipped, not dropped
        assert {s["variant"] for s in skips} >= {"cudnn_lstm"}
    env = json.loads((tmp_path / "env.json").read_text())
    assert {"device", "versions", "env", "matmul_peak_gflops"} <= set(env)
    report = (tmp_path / "report.md").read_text()
    for heading in ("Goal checks", "Crossover", "Tables", "Skipped"):
        assert heading in report
    assert (tmp_path / "time_train.png").exists() and (tmp_path / "memory_forward.png").exists()


def test_budget_skips_longer_lengths(tmp_path):
    args = ["--out", str(tmp_path), "--variants", "gru", "--modes", "forward",
            "--lengths", "4,8", "--max-call-s", "0", "--no-plots", *TINY]
    bench.bench_main(args)
    assert [r["length"] for r in _rows(tmp_path / "results.csv")] == ["4"]
    (skip,) = _rows(tmp_path / "skipped.csv")
    assert skip["length"] == "8" and "budget" in skip["reason"]


def test_quick_preset_is_small():
    _, sw = bench.parse_args(["--quick", "--out", "x"])
    assert sw.batches == (8,) and sw.lengths == (16, 64) and sw.max_total_s <= 150
    assert set(sw.variants) <= set(bv.BY_NAME)


def _row(variant, batch, length, mode, ms, min_ms=None):
    return {"variant": variant, "batch": batch, "length": length, "mode": mode,
            "median_ms": ms, "min_ms": ms if min_ms is None else min_ms,
            "frac_matmul_peak": 0.5}


def test_crossover_is_the_first_length_where_attention_is_faster():
    rows = []
    for t, lstm_ms, tf_ms in ((16, 1.0, 3.0), (64, 4.0, 5.0), (256, 16.0, 12.0)):
        rows += [_row("lstm", 8, t, "forward", lstm_ms), _row("flax_lstm", 8, t, "forward", 99),
                 _row("transformer_einsum", 8, t, "forward", tf_ms)]
    table = "\n".join(bench_report.crossovers(rows))
    assert "| 8 | forward | T = 256 | 256 |" in table


def test_goal_ratio_uses_the_faster_peer_and_reports_misses():
    rows = [_row("lstm", 64, 64, "train step", 2.0, 1.0),
            _row("torch_lstm", 64, 64, "train step", 3.0, 0.5),
            _row("torch_lstm_1thread", 64, 64, "train step", 1.0, 0.9)]
    r = bench_report._ratio(bench_report._index(rows), ("lstm",), bench_report.TORCH_LSTMS,
                            64, 64, "train step")
    assert r is not None and r.median == pytest.approx(0.5) and r.min == pytest.approx(0.5)
    assert r.peer == "torch_lstm_1thread"
    assert "**missed** at 1 of 1" in bench_report._goal_row("g", [r])


@pytest.mark.slow
def test_quick_command_end_to_end(tmp_path):
    """``seq2seq-jax bench --quick`` as users run it: every file, every column, and every
    quick variant either measured or recorded as skipped with a reason."""
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("seq2seq-jax")
    # The quick preset's variants and modes, at one length and smaller sizes (the
    # preset's own sizes add minutes of compiling and sampling, not coverage).
    shrink = ["--lengths", "16", "--d-in", "16", "--hidden", "32", "--peak-n", "256"]
    done = subprocess.run([str(exe), "bench", "--quick", *shrink, "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    with (tmp_path / "results.csv").open() as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == bench.COLUMNS
        rows = list(reader)
    skipped = {r["variant"]: r["reason"] for r in _rows(tmp_path / "skipped.csv")}
    measured = {r["variant"] for r in rows}
    for name in bench.QUICK_VARIANTS:
        assert name in measured or skipped.get(name), name
    assert {"lstm", "lstm_fused", "transformer_einsum"} <= measured
    assert all(float(r["median_ms"]) > 0 and int(r["samples"]) >= 7 for r in rows)
    env = json.loads((tmp_path / "env.json").read_text())
    assert env["matmul_peak_gflops"]
    assert "Goal checks" in (tmp_path / "report.md").read_text()
    assert list(tmp_path.glob("time_*.png")) and list(tmp_path.glob("memory_*.png"))


def test_wait_bench_counts_word_errors_and_model_flops():
    import jax

    from seq2seq_jax.bench import wait
    from seq2seq_jax.evaluation.trained import Trained
    from seq2seq_jax.models import model_config, registry

    refs = {"read": {"R IY D", "R EH D"}, "a": {"AH"}}
    assert wait.wer(["read", "a"], ["R EH  D", "EY"], refs) == 50.0
    import gzip
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:  # the g014b2b layout: a tab before each one
        with gzip.open(Path(d) / "g014b2b.ref.gz", "wt") as f:
            f.write("READ\tR IY D\tR EH D\nA\tAH\n")
        assert wait._g2p_words(Path(d)) == (["read", "a"], refs)
    for name, opts in (("transformer", {"d_model": 16, "heads": 2, "ff_dim": 24,
                                        "share_embeddings": True}),
                       ("bahdanau", {"hidden": 8, "embed_dim": 4})):
        cfg = model_config.make_config({"name": name, **opts}, 30, 30)
        model = registry.get_model(name)
        t = Trained(None, model, cfg, model.init(jax.random.key(0), cfg), None, None)
        src, out = wait.model_flops(t, 1, 0, 1), wait.model_flops(t, 0, 1, 1)
        assert src > 0 and out > 0
        assert wait.model_flops(t, 2, 3, 5) == 2 * src + 15 * out
        if name == "transformer":
            assert out >= 2 * 30 * 16  # the tied output projection counts
