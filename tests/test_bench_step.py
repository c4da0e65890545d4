"""The train-step timer: real steps of a config's model, per dtype and batch."""

from __future__ import annotations

import pytest

from seq2seq_jax import cli
from seq2seq_jax.bench import step as bench_step

TINY = '''
from seq2seq_jax.config import default_config, model_section

def get_config(arg=None):
    c = default_config()
    c.data.vocab_size = 40
    c.model = model_section(name="transformer", d_model=16, heads=2, ff_dim=32,
                            enc_layers=1, dec_layers=1, max_len=16)
    if arg == "wide":
        c.model.ff_dim = 64
    return c
'''


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.py"
    path.write_text(TINY)
    return path


def test_measure_times_every_batch_and_dtype(tiny):
    config = cli.read_config(["--config", f"{tiny}:wide"], "bench_step")
    assert config.model.ff_dim == 64
    rows = bench_step.measure(config, config.model.to_dict(), [2], 8,
                              ["float32", "bfloat16"], repeats=2)
    assert [(r["batch"], r["dtype"]) for r in rows] == [(2, "float32"), (2, "bfloat16")]
    for r in rows:
        assert r["step_s"] > 0
        assert r["tokens_per_s"] == pytest.approx(r["batch"] * 8 / r["step_s"])


def test_main_prints_the_table_and_the_matmul_probe(tiny, capsys):
    assert bench_step.main(["--config", str(tiny), "--config.model.ff_dim=48", "--batch", "2",
                            "--length", "4", "--dtype", "float32", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "--config.model.ff_dim=48" in out
    assert "| 2 | float32 |" in out
    assert "Matmul probe" in out and "float32" in out.splitlines()[-1]


@pytest.mark.parametrize("argv, message", [
    (["--config.model.nope=1"], "--config.model.nope: the config has no key 'nope'"),
    (["--config.model.ff_dim=wide"], "ff_dim"),
    (["--config.model.ff_dim=0"], "ff_dim"),
    (["extra"], "unexpected arguments ['extra']"),
    (["--batch", "0"], "--batch 0"),
    (["--batch", "a"], "--batch a"),
    (["--dtype", "float16"], "float16"),
])
def test_bad_options_name_themselves(tiny, capsys, argv, message):
    assert bench_step.main(["--config", str(tiny), *argv]) == 2
    assert message in capsys.readouterr().err


def test_missing_config_file_is_named(tmp_path, capsys):
    assert bench_step.main(["--config", str(tmp_path / "none.py")]) == 2
    assert "none.py" in capsys.readouterr().err


def test_config_is_required(capsys):
    assert bench_step.main(["--batch", "2"]) == 2
    assert "--config FILE[:ARG] is required" in capsys.readouterr().err


def test_override_reaches_the_timed_model(tiny):
    config = cli.read_config(["--config", f"{tiny}:wide", "--config.model.ff_dim=48"],
                             "bench_step")
    assert config.model.ff_dim == 48
