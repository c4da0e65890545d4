"""End to end through the real entry point, for every data source; bad input."""

from __future__ import annotations

import gzip
import json
import math
import os
import shutil
from pathlib import Path

import ml_collections
import pytest

from seq2seq_jax import cli
from seq2seq_jax.training import checkpoint, train

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SMOKE = str(ROOT / "configs" / "smoke.py")


@pytest.fixture(scope="module")
def data_dir(shared_tfds) -> str:
    return str(shared_tfds.root)


def _load_smoke(source: str, data_dir: str) -> ml_collections.ConfigDict:
    import importlib.util
    spec = importlib.util.spec_from_file_location("smoke_config", SMOKE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    c = mod.get_config(source)
    c.data.data_dir = data_dir
    if source == "cmudict_g014b2b":
        c.data.manual_dir = str(SHARED / "cmudict_g014b2b")
    if source == "multi30k":
        c.data.manual_dir = str(SHARED / "multi30k")
    return c


def _needs(source: str) -> None:
    need = {"cmudict_g014b2b": "cmudict_g014b2b", "multi30k": "multi30k"}.get(source)
    if need and not (SHARED / need).is_dir():
        pytest.skip(f"{SHARED / need} is not present")


def _dev_metrics(workdir: Path) -> list[dict]:
    rows = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "time"} for r in rows if r["split"] == "dev"]


SOURCES = ["cmudict_g2p", "cmudict_g014b2b", "multi30k", "tfds", "synthetic"]
# Each source trains once here. Resuming goes through the same tfds pipeline for
# every source; test_train and test_crash check it bit for bit (interrupted,
# killed with SIGKILL, damaged checkpoint).


@pytest.mark.parametrize("source", SOURCES)
def test_train_eval_predict(source, data_dir, shared_tfds, tmp_path, capsys):
    _needs(source)
    import tensorflow_datasets as tfds

    mock = tfds.testing.mock_data(num_examples=64) if source == "tfds" else None
    if mock is not None:
        mock.__enter__()
    try:
        config = _load_smoke(source, data_dir)
        if source.startswith(("cmudict", "multi30k")):  # prepared once a session
            shared_tfds.prepare(config.data.name, config.data.manual_dir or None)
        straight = tmp_path / "straight"
        train.train_and_evaluate(config, straight)
        assert [m for m in _dev_metrics(straight) if m["step"] == 4]

        capsys.readouterr()
        assert cli.main(["eval", "--workdir", str(straight), "--limit", "16"]) == 0
        result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        metric = config.train.metric
        best_step = checkpoint.read_meta(straight, checkpoint.BEST)[1]
        assert result["split"] == "test" and result["step"] == best_step and metric in result
        assert result["checkpoint"] == "best"
        assert result["tokens"] > 16 and 0.0 <= result["token_accuracy"] <= 1.0
        assert result["perplexity"] == pytest.approx(math.exp(result["nll"]))
        assert (straight / "eval_test.json").exists()

        inputs = tmp_path / "inputs.txt"
        inputs.write_text("hello\nabc\n" if source != "multi30k" else "a man .\na dog .\n")
        plot = tmp_path / "attention.png"
        assert cli.main(["predict", "--workdir", str(straight), "--input", str(inputs),
                         "--attention-plot", str(plot), "--truncate"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert len(out) == 2
        assert plot.exists() and plot.stat().st_size > 1000
    finally:
        if mock is not None:
            mock.__exit__(None, None, None)


def test_train_command_line(data_dir, tmp_path, capsys):
    workdir = tmp_path / "run"
    rc = cli.main(["train", f"--config={SMOKE}:synthetic", f"--workdir={workdir}",
                   "--config.train.num_steps=3", f"--config.data.data_dir={data_dir}"])
    assert rc == 0
    assert (workdir / "config.json").exists() and (workdir / "metrics.jsonl").exists()
    assert list((workdir / "tensorboard").iterdir())
    assert json.loads((workdir / "config.json").read_text())["train"]["num_steps"] == 3


# --- bad input: one clear line on stderr, exit status 2, no traceback ------------------

def _run_error(argv, capsys, stdin=None, monkeypatch=None):
    if stdin is not None:
        import io
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    rc = cli.main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("override, expect", [
    ("--config.model.hiden=3", "hiden"),
    ("--config.model.hidden=abc", "config.model.hidden"),
    ("--config.model.name=gpt", "model.name='gpt' is not valid; choose one of"),
    ("--config.train.schedule=linear", "train.schedule='linear'"),
    ("--config.data.name=nope", "Unknown dataset 'nope'"),
])
def test_invalid_options(override, expect, tmp_path, capsys):
    err = _run_error(["train", f"--config={SMOKE}:synthetic", f"--workdir={tmp_path}",
                      override], capsys)
    assert expect in err


def test_missing_config_file(tmp_path, capsys):
    err = _run_error(["train", "--config=configs/none.py", f"--workdir={tmp_path}"], capsys)
    assert "configs/none.py" in err


def test_missing_data_directory(tmp_path, capsys):
    missing = tmp_path / "no_such_dir"
    err = _run_error(["train", f"--config={SMOKE}:cmudict_g014b2b", f"--workdir={tmp_path}/w",
                      f"--config.data.manual_dir={missing}",
                      f"--config.data.data_dir={tmp_path}/tfds"], capsys)
    assert str(missing) in err


def test_malformed_line_names_file_and_line(tmp_path, capsys):
    d = tmp_path / "g2p"
    d.mkdir()
    with gzip.open(d / "g014b2b.train.gz", "wt") as f:
        f.write("HELLO\tHH AH L OW\nWORLD W ER L D\n")  # line 2 has one field
    with gzip.open(d / "g014b2b.ref.gz", "wt") as f:
        f.write("TEST\tT EH S T\n")
    err = _run_error(["train", f"--config={SMOKE}:cmudict_g014b2b", f"--workdir={tmp_path}/w",
                      f"--config.data.manual_dir={d}",
                      f"--config.data.data_dir={tmp_path}/tfds"], capsys)
    assert "g014b2b.train" in err and "line 2" in err


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir) -> Path:
    workdir = tmp_path_factory.mktemp("trained")
    train.train_and_evaluate(_load_smoke("synthetic", data_dir), workdir)
    return workdir


def test_predict_maps_unknown_characters_to_unk(trained, capsys, caplog, monkeypatch):
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO("ab€\x07z\n\n"))
    assert cli.main(["predict", "--workdir", str(trained)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert "unknown input symbols" in caplog.text and "'€'" in caplog.text


def test_overlong_input_is_an_error_unless_truncated(trained, capsys, monkeypatch):
    err = _run_error(["predict", "--workdir", str(trained)], capsys, stdin="a" * 100 + "\n",
                     monkeypatch=monkeypatch)
    assert "input 1 has 100 symbols" in err and "--truncate" in err
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO("a" * 100 + "\n"))
    assert cli.main(["predict", "--workdir", str(trained), "--truncate"]) == 0


def test_eval_and_predict_say_which_checkpoint(trained, capsys, monkeypatch):
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO("abc\n"))
    assert cli.main(["predict", "--workdir", str(trained)]) == 0
    assert f"loaded checkpoint {trained / 'best'}" in capsys.readouterr().err


def test_eval_average_scores_the_mean_of_the_newest_checkpoints(trained, capsys):
    assert cli.main(["eval", "--workdir", str(trained), "--limit", "8", "--average", "1"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    saved = json.loads((trained / "eval_test_avg1.json").read_text())
    assert saved == out and out["checkpoint"] == "checkpoints" and out["exported"] is False
    assert out["averaged_steps"] == [out["step"]] and out["examples"] == 8
    from seq2seq_jax.training.export import export
    export(trained, trained.parent / "exported", average=1)
    assert cli.main(["eval", "--workdir", str(trained.parent / "exported"), "--limit", "8",
                     "--average", "1", "--out", str(trained.parent / "evals")]) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["exported"] is True and again["averaged_steps"] == out["averaged_steps"]
    metric = json.loads((trained / "config.json").read_text())["train"]["metric"]
    for key in (metric, "nll", "token_accuracy"):  # the export decodes as the average
        assert again[key] == out[key], key
    err = _run_error(["eval", "--workdir", str(trained), "--average", "50"], capsys)
    assert "--average 50" in err and "--config.train.keep_checkpoints=50" in err
    err = _run_error(["eval", "--workdir", str(trained), "--average", "-1"], capsys)
    assert "--average -1" in err


def test_eval_ensembles_are_saved_under_their_members_names(trained, tmp_path, capsys):
    twins = [tmp_path / "twin_a", tmp_path / "twin_b"]
    for twin in twins:  # copies share the vocabulary, so they are valid members
        shutil.copytree(trained, twin)
    for twin in twins:  # two ensembles scored from one workdir: neither overwrites the other
        assert cli.main(["eval", "--workdir", str(trained), "--limit", "4",
                         "--ensemble", str(twin)]) == 0
        out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        saved = trained / f"eval_test_ens-{trained.name}+{twin.name}.json"
        assert json.loads(saved.read_text()) == out
        assert [m.split("/best/")[0] for m in out["ensemble"]] == [
            str(trained), str(twin)]


def test_eval_out_saves_the_json_elsewhere_and_leaves_the_workdir_alone(trained, tmp_path,
                                                                         capsys):
    before = sorted(p.name for p in trained.iterdir())
    argv = ["eval", "--workdir", str(trained), "--limit", "4"]
    assert cli.main([*argv, "--out", str(tmp_path / "scores" / "mine.json")]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert json.loads((tmp_path / "scores" / "mine.json").read_text()) == out
    assert cli.main([*argv, "--out", str(tmp_path / "folder")]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert json.loads((tmp_path / "folder" / f"{trained.name}.eval_test.json").read_text()) == out
    assert sorted(p.name for p in trained.iterdir()) == before
    twin = tmp_path / "twin"  # another model scored into the same folder: both files kept
    shutil.copytree(trained, twin)
    assert cli.main(["eval", "--workdir", str(twin), "--limit", "2", "--out",
                     str(tmp_path / "folder")]) == 0
    assert {p.name for p in (tmp_path / "folder").iterdir()} == {
        f"{trained.name}.eval_test.json", "twin.eval_test.json"}
    assert json.loads((tmp_path / "folder" / f"{trained.name}.eval_test.json").read_text()) == out


def test_eval_out_that_cannot_be_written_stops_before_decoding(trained, tmp_path, capsys):
    (tmp_path / "plain").write_text("x")
    (tmp_path / "folder.json").mkdir()
    argv = ["eval", "--workdir", str(trained), "--limit", "4", "--out"]
    for out, says in ((tmp_path / "plain", "does not end in .json"),
                      (tmp_path / "folder.json", "is a folder"),
                      (tmp_path / "plain" / "x.json", "is a file, so no folder")):
        err = _run_error([*argv, str(out)], capsys)
        assert f"--out {out}" in err and says in err
    assert (tmp_path / "plain").read_text() == "x"  # nothing already there is touched


def test_eval_alpha_replaces_the_length_penalty_and_names_the_file(trained, capsys):
    argv = ["eval", "--workdir", str(trained), "--limit", "8", "--beam", "3"]
    assert cli.main([*argv, "--alpha", "0"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["alpha"] == 0.0
    assert json.loads((trained / "eval_test_beam3_alpha0.json").read_text()) == out
    assert cli.main(argv) == 0  # the config's alpha, written to its own file
    default = json.loads((trained / "eval_test_beam3.json").read_text())
    assert default["alpha"] == json.loads((trained / "config.json").read_text())[
        "decode"]["alpha"]
    err = _run_error([*argv, "--alpha", "nan"], capsys)
    assert "--alpha nan" in err and "finite" in err


def test_missing_workdir_and_input(tmp_path, trained, capsys):
    err = _run_error(["eval", "--workdir", str(tmp_path / "nothing")], capsys)
    assert "does not exist" in err
    err = _run_error(["predict", "--workdir", str(trained), "--input",
                      str(tmp_path / "none.txt")], capsys)
    assert "none.txt" in err


def test_cpu_only_environment():
    assert os.environ.get("JAX_PLATFORMS", "cpu") == "cpu"


def test_bench_subcommand_passes_every_option_through(monkeypatch):
    seen = {}

    def fake_bench_main(argv):
        seen["argv"] = argv
        return 0

    monkeypatch.setattr("seq2seq_jax.bench.harness.bench_main", fake_bench_main)
    assert cli.main(["bench", "--quick", "--out", "somewhere"]) == 0
    assert seen["argv"] == ["--quick", "--out", "somewhere"]


# --- help, version, the resolved config ------------------------------------------------

def test_help_and_version_answer_without_jax():
    code = ("import sys; from seq2seq_jax.cli import parser\n"
            "for argv in (['--version'], ['--help'], ['train', '--help'], ['eval', '--help'],"
            " ['predict', '--help'], ['export', '--help']):\n"
            "    assert parser.main(argv) == 0, argv\n"
            "print('jax' in sys.modules, 'tensorflow_datasets' in sys.modules)")
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "False False"
    assert out.stdout.startswith("seq2seq-jax ")  # --version
    from seq2seq_jax.inference import hub

    listed = " ".join(out.stdout.split())
    for name in hub.index():  # eval's and predict's --model: every registered name, whole
        assert f" {name}," in listed or f" {name} (" in listed, name


def test_a_reader_that_leaves_early_gets_no_traceback():
    """``seq2seq-jax train --help | head -1``: the pipe closes mid-output; the command
    ends quietly with 141, as a program killed by SIGPIPE. The reading end is closed
    before the command starts, so its first write always finds the reader gone."""
    import os
    import subprocess
    import sys
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        p = subprocess.run([sys.executable, "-c", "from seq2seq_jax.cli import parser; "
                            "parser.entry()", "train", "--help"], stdout=write_end,
                           stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    finally:
        os.close(write_end)
    assert p.returncode == 141 and "Traceback" not in p.stderr, p.stderr


def test_train_help_lists_every_option_with_default_and_meaning(capsys):
    assert cli.main(["train", "--help", "--config", f"{SMOKE}:synthetic"]) == 0
    out = capsys.readouterr().out
    for key in ("data.batch_size", "train.num_steps", "model.hidden", "decode.alpha"):
        line = next(x for x in out.splitlines() if x.strip().startswith(key + " "))
        assert len(line.split()) >= 3, line  # key, default, meaning
    assert "--print-config" in out and "g014b2b" in out  # the shipped configs by name


def test_print_config_shows_the_differences_and_the_parameter_count(data_dir, capsys):
    assert cli.main(["train", f"--config={SMOKE}:synthetic", "--print-config",
                     f"--config.data.data_dir={data_dir}", "--config.model.hidden=24"]) == 0
    out = capsys.readouterr().out
    assert "model.hidden = 24" in out and "data.name = 'synthetic/reverse'" in out
    assert "parameters: " in out


@pytest.mark.parametrize("text, expect", [
    ("def get_config(:\n", r"bad.py, line 1: syntax error"),
    ("import os\n\n\ndef get_config():\n    raise RuntimeError('boom')\n",
     r"bad.py, line 5: RuntimeError: boom"),
])
def test_a_broken_config_file_is_one_line_naming_file_and_line(tmp_path, capsys, text,
                                                               expect):
    (tmp_path / "bad.py").write_text(text)
    err = _run_error(["train", f"--config={tmp_path / 'bad.py'}", f"--workdir={tmp_path}/w"],
                     capsys)
    assert expect in err and len(err.strip().splitlines()) == 1


def test_traceback_flag_shows_the_whole_traceback(tmp_path):
    (tmp_path / "bad.py").write_text("def get_config():\n    raise RuntimeError('boom')\n")
    with pytest.raises(Exception, match="boom"):
        cli.main(["--traceback", "train", f"--config={tmp_path / 'bad.py'}",
                  f"--workdir={tmp_path}/w"])


def test_a_shipped_config_by_name(tmp_path, capsys):
    err = _run_error(["train", "--config", "g2p:bahdanau", f"--workdir={tmp_path}"], capsys)
    assert "there is no config named 'g2p'" in err and "g2p_bahdanau" in err
