"""Training reports: window summaries, metric formatting, JSON lines, TensorBoard, progress."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
from tensorboardX.proto import event_pb2

from seq2seq_jax.training import reporting


def step_metrics(tokens, nll_sum, correct, loss, grad_norm, param_norm, update_norm):
    """One train step's metrics as the device returns them: numpy scalars."""
    return {"tokens": np.int32(tokens), "nll_sum": np.float32(nll_sum),
            "correct": np.int32(correct), "loss": np.float32(loss),
            "grad_norm": np.float32(grad_norm), "param_norm": np.float32(param_norm),
            "update_norm": np.float32(update_norm)}


def test_summarize_window_weights_by_tokens():
    window = [step_metrics(10, 20.0, 4, 2.5, 1.0, 5.0, 0.1),
              step_metrics(30, 30.0, 21, 1.5, 3.0, 6.0, 0.3)]
    s = reporting.summarize_window(window, seconds=2.0)
    # Token-weighted: 50 nats over 40 tokens, not the mean of 2.0 and 1.0 per token.
    np.testing.assert_allclose(s["nll"], 50 / 40)
    np.testing.assert_allclose(s["perplexity"], math.exp(50 / 40))
    np.testing.assert_allclose(s["token_accuracy"], 25 / 40)
    np.testing.assert_allclose(s["loss"], 2.0)  # the plain mean of the step losses
    np.testing.assert_allclose(s["grad_norm"], 2.0)
    np.testing.assert_allclose(s["update_norm"], 0.2, rtol=1e-6)
    assert s["param_norm"] == 6.0  # the latest, not a mean
    np.testing.assert_allclose(s["tokens_per_s"], 20.0)
    np.testing.assert_allclose(s["steps_per_s"], 1.0)
    assert all(isinstance(v, float) for v in s.values())


def test_summarize_window_caps_perplexity():
    s = reporting.summarize_window([step_metrics(2, 400.0, 0, 200.0, 1, 1, 1)], seconds=1.0)
    assert s["nll"] == 200.0
    assert s["perplexity"] == math.exp(50.0)  # no overflow to inf


def test_format_metrics():
    text = reporting.format_metrics({"loss": 1.23456, "step": 3, "split": "dev",
                                     "bleu": 27.0})
    assert text == "loss 1.235  step 3  bleu 27"


def _read_scalars(directory):
    """(tag, step, value) of every scalar in the TFRecord event files under ``directory``."""
    out = []
    files = sorted(directory.glob("events.out.tfevents.*"))
    assert files, f"no event file in {directory}"
    for f in files:
        data = f.read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos:pos + 8])
            event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
            pos += 12 + length + 4
            out += [(v.tag, event.step, v.simple_value) for v in event.summary.value]
    return out


def test_metric_writer_writes_json_lines_and_tensorboard(tmp_path):
    writer = reporting.MetricWriter(tmp_path)
    writer.write(10, {"loss": np.float32(1.5), "tokens": 40}, "train")
    writer.write(20, {"bleu": 12.5, "bleu_signature": "nrefs:1", "improved": True}, "dev")
    writer.close()
    lines = (tmp_path / reporting.METRICS_FILE).read_text().splitlines()
    records = [json.loads(x) for x in lines]
    assert [(r["step"], r["split"]) for r in records] == [(10, "train"), (20, "dev")]
    assert records[0]["loss"] == 1.5 and records[0]["tokens"] == 40
    assert records[1]["bleu"] == 12.5 and records[1]["bleu_signature"] == "nrefs:1"
    assert all(isinstance(r["time"], float) for r in records)
    scalars = _read_scalars(tmp_path / "tensorboard")
    assert ("train/tokens", 10, 40.0) in scalars
    assert ("dev/bleu", 20, 12.5) in scalars
    tags = {t for t, _, _ in scalars}
    assert "dev/bleu_signature" not in tags and "dev/improved" not in tags


def test_metric_writer_appends(tmp_path):
    for step in (1, 2):
        w = reporting.MetricWriter(tmp_path)
        w.write(step, {"loss": 1.0}, "train")
        w.close()
    lines = (tmp_path / reporting.METRICS_FILE).read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2]


def test_metric_writer_of_a_secondary_process_writes_nothing(tmp_path):
    w = reporting.MetricWriter(tmp_path, enabled=False)
    w.write(1, {"loss": 1.0}, "train")
    w.close()
    assert list(tmp_path.iterdir()) == []


def test_progress_prints_log_lines_without_a_terminal(capsys):
    progress = reporting.Progress(start=0, total=10)
    assert not progress.tty
    progress.update(5, {"loss": 1.5, "perplexity": 4.25, "tokens_per_s": 1000.0,
                        "steps_per_s": 2.0})
    progress.message("evaluating")
    progress.close()
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "step 5: loss 1.5  perplexity 4.25  tokens_per_s 1000"
    assert "steps_per_s" not in err[0]
    assert err[1] == "evaluating"


@pytest.mark.parametrize("summary", [{"step": 12, "wer": 12.3456, "workdir": "/tmp/x"}])
def test_print_summary_is_a_table_on_stderr(capsys, summary):
    reporting.print_summary(summary)
    err = capsys.readouterr().err
    assert "summary" in err
    assert "step     12" in err and "wer      12.35" in err and "workdir  /tmp/x" in err
