"""Using a trained model: the Python API, models by name, predict's formats and streaming."""

from __future__ import annotations

import io
import json
import os
import select
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from test_train import tiny_config

import seq2seq_jax
from seq2seq_jax import cli
from seq2seq_jax.errors import ConfigError
from seq2seq_jax.inference import compilation, hub
from seq2seq_jax.training import train

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("trained")
    train.train_and_evaluate(tiny_config(num_steps=6, eval_every=3, checkpoint_every=3), workdir)
    return workdir


@pytest.fixture
def registry(trained, tmp_path, monkeypatch):
    """A registry whose one name, ``tiny``, is the trained folder under SEQ2SEQ_JAX_MODELS."""
    models = tmp_path / "models"
    shutil.copytree(trained, models / "synthetic" / "tiny")
    index = tmp_path / "index.json"
    shutil.copytree(trained, models / "synthetic" / "tiny2")
    entry = {"name": "tiny", "path": "synthetic/tiny", "description": "test",
             "decode": {"beam": 3}, "sha256": hub.folder_digest(models / "synthetic" / "tiny"),
             "url": ""}
    pair = {**entry, "name": "tiny-pair", "ensemble": [
        {"path": "synthetic/tiny2", "sha256": hub.folder_digest(models / "synthetic" / "tiny2")}]}
    index.write_text(json.dumps([entry, pair]))
    monkeypatch.setattr(hub, "INDEX", index)
    monkeypatch.setenv("SEQ2SEQ_JAX_MODELS", str(models))
    monkeypatch.setenv("SEQ2SEQ_JAX_CACHE", str(tmp_path / "cache"))
    return entry


def test_load_and_call(trained):
    t = seq2seq_jax.load(trained)
    outs = t(["abc", "hello", "ab"])
    assert isinstance(outs, list) and len(outs) == 3 and all(isinstance(o, str) for o in outs)
    assert t("hello") == outs[1]  # one text in, one string out, the same output
    assert t(["hello"]) == [outs[1]]  # alone or in a batch: the same


def test_n_best_with_scores_best_first(trained):
    t = seq2seq_jax.load(trained)
    nbest = t(["abc", "hello"], beam=4, n_best=3)
    assert [len(h) for h in nbest] == [3, 3]
    for hyps in nbest:
        scores = [s for _, s in hyps]
        assert scores == sorted(scores, reverse=True)
        assert all(isinstance(text, str) for text, _ in hyps)
    assert [h[0][0] for h in nbest] == t(["abc", "hello"], beam=4)  # the 1-best is the text
    with pytest.raises(ConfigError, match="--n-best 5: more hypotheses than the beam"):
        t(["abc"], beam=4, n_best=5)


def test_attention_weights_for_plotting(trained):
    weights, src, out = seq2seq_jax.load(trained).attention("abcd")
    assert src == list("abcd")
    assert weights is not None and weights.shape[1] == 4
    # a row an output symbol, and one for EOS unless the output stopped at the length cap
    assert weights.shape[0] == len(out) + 1 or len(out) == weights.shape[0] == 8
    assert abs(weights.sum(axis=1) - 1).max() < 1e-4  # rows are distributions


def test_a_name_resolves_to_its_folder_and_decodes_with_its_options(registry, trained):
    folder = hub.resolve("tiny")
    assert folder == Path(os.environ["SEQ2SEQ_JAX_MODELS"]) / "synthetic" / "tiny"
    t = seq2seq_jax.load("tiny")
    assert t.config.decode.method == "beam" and t.config.decode.beam_size == 3
    assert t(["abc"]) == seq2seq_jax.load(trained, beam=3)(["abc"])


def test_unknown_name_lists_the_known_ones(registry):
    with pytest.raises(ConfigError,
                       match=r"no model has that name; known names: \['tiny', 'tiny-pair'\]"):
        hub.resolve("nope")


def test_a_changed_folder_fails_its_checksum(registry, tmp_path):
    folder = Path(os.environ["SEQ2SEQ_JAX_MODELS"]) / "synthetic" / "tiny"
    (folder / "hardware.txt").write_text("edited\n")
    with pytest.raises(ConfigError, match="not found with its checksum"):
        hub.resolve("tiny")


def _archive(folder: Path, path: Path) -> str:
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname="tiny")
    return path.as_uri()


def test_download_by_url_into_the_cache(registry, trained, tmp_path, monkeypatch):
    monkeypatch.delenv("SEQ2SEQ_JAX_MODELS")
    entry = {**registry, "url": _archive(trained, tmp_path / "tiny.tar.gz")}
    got = hub.resolve("tiny", registry={"tiny": entry})
    assert got == tmp_path / "cache" / "models" / "tiny"
    assert hub.folder_digest(got) == entry["sha256"]
    assert hub.resolve("tiny", registry={"tiny": {**entry, "url": "file:///nowhere"}}) == got


def test_a_bad_download_keeps_the_old_folder_and_names_both_hashes(registry, trained,
                                                                    tmp_path, monkeypatch):
    monkeypatch.delenv("SEQ2SEQ_JAX_MODELS")
    old = tmp_path / "cache" / "models" / "tiny"
    old.mkdir(parents=True)
    (old / "keep.txt").write_text("an older download\n")
    other = tmp_path / "other"
    shutil.copytree(trained, other)
    (other / "hardware.txt").write_text("tampered\n")
    entry = {**registry, "url": _archive(other, tmp_path / "bad.tar.gz")}
    with pytest.raises(ConfigError) as err:
        hub.resolve("tiny", registry={"tiny": entry})
    assert entry["sha256"] in str(err.value) and hub.folder_digest(other) in str(err.value)
    assert (old / "keep.txt").read_text() == "an older download\n"  # untouched


def _predict(argv, capsys, monkeypatch, stdin):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    assert cli.main(["predict", *argv]) == 0
    return capsys.readouterr().out


def test_predict_jsonl_with_n_best(trained, capsys, monkeypatch):
    out = _predict(["--workdir", str(trained), "--beam", "4", "--n-best", "3", "--format",
                    "jsonl"], capsys, monkeypatch, "abc\nhello\n")
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["input"] for r in rows] == ["abc", "hello"]
    assert all(len(r["outputs"]) == 3 for r in rows)
    assert all(set(o) == {"text", "score"} for r in rows for o in r["outputs"])


def test_predict_tsv_and_text_n_best(trained, capsys, monkeypatch):
    tsv = _predict(["--workdir", str(trained), "--beam", "2", "--n-best", "2", "--format",
                    "tsv"], capsys, monkeypatch, "abc\n")
    assert [line.split("\t")[:2] for line in tsv.splitlines()] == [["abc", "1"], ["abc", "2"]]
    text = _predict(["--workdir", str(trained), "--beam", "2", "--n-best", "2"], capsys,
                    monkeypatch, "abc\nab\n")
    assert text.split("\n\n")[0].count("\t") == 2  # two hypotheses, then an empty line


def test_n_best_above_the_beam_is_an_error_before_loading(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("abc\n"))
    assert cli.main(["predict", "--workdir", str(tmp_path / "absent"), "--beam", "2",
                     "--n-best", "3"]) == 2
    assert "--n-best 3: more hypotheses than the beam keeps" in capsys.readouterr().err


def test_attention_dir_writes_one_heatmap_an_input(trained, tmp_path, capsys, monkeypatch):
    plots = tmp_path / "plots"
    _predict(["--workdir", str(trained), "--attention-dir", str(plots)], capsys, monkeypatch,
             "abc\nhello\nab\n")
    assert sorted(p.name for p in plots.iterdir()) == ["00001.png", "00002.png", "00003.png"]


def test_predict_answers_a_line_before_stdin_closes(trained, tmp_path):
    """A program that writes a line and waits for its answer gets it."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.Popen([sys.executable, "-m", "seq2seq_jax", "predict", "--workdir",
                             str(trained)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        answers = []
        for word in ("abc", "hello"):
            proc.stdin.write(f"{word}\n".encode())
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], 120)
            assert ready, f"no answer to {word!r} while stdin is still open"
            answers.append(proc.stdout.readline().decode().rstrip("\n"))
        assert proc.poll() is None  # still running: the answers came before stdin closed
    finally:
        proc.stdin.close()
        proc.wait(60)
    assert answers == seq2seq_jax.load(trained)(["abc", "hello"])


def test_compilation_cache_is_configurable(tmp_path, monkeypatch):
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("SEQ2SEQ_JAX_CACHE", str(tmp_path))
    assert compilation.folder() == tmp_path / "jax"
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "own"))
    assert compilation.folder() == tmp_path / "own"
    monkeypatch.setenv("SEQ2SEQ_JAX_COMPILATION_CACHE", "0")
    assert compilation.folder() is None and compilation.enable() is None


def test_a_broken_cache_entry_does_not_fail_a_run(trained, tmp_path):
    """Every entry of a warm cache cut to a few bytes: the next process still decodes."""
    cache = tmp_path / "jax"
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_COMPILATION_CACHE_DIR": str(cache)}
    command = [sys.executable, "-m", "seq2seq_jax", "predict", "--workdir", str(trained)]
    first = subprocess.run(command, input=b"abc\n", capture_output=True, env=env, timeout=300)
    assert first.returncode == 0, first.stderr.decode()[-2000:]
    entries = [p for p in cache.rglob("*") if p.is_file()]
    assert entries  # the first run filled it
    for p in entries:
        p.write_bytes(p.read_bytes()[:16])
    start = time.time()
    again = subprocess.run(command, input=b"abc\n", capture_output=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr.decode()[-2000:]
    assert again.stdout == first.stdout and time.time() - start < 300


def test_a_registered_ensemble_loads_every_member(registry, tmp_path, capsys):
    pair = seq2seq_jax.load("tiny-pair")
    assert len(pair.trained.members) == 2
    assert isinstance(pair("abc"), str)
    (tmp_path / "in.txt").write_text("abc\n")
    assert cli.main(["predict", "--model", "tiny-pair", "--input", str(tmp_path / "in.txt")]) == 0
    assert capsys.readouterr().out.strip() == pair("abc", beam=3)
    member = tmp_path / "models" / "synthetic" / "tiny2"
    (member / "config.json").write_text("{}")  # a changed member fails its checksum
    with pytest.raises(ConfigError, match=r"tiny-pair\[1\]: not found with its checksum"):
        seq2seq_jax.load("tiny-pair")


def test_the_index_names_each_kept_export_with_its_claims():
    entries = json.loads((ROOT / "models" / "index.json").read_text())
    assert {"g2p", "g2p-transformer", "en-de", "en-de-lstm"} <= {e["name"] for e in entries}
    for e in entries:
        assert {"name", "path", "sha256", "task", "split", "decode", "ensemble",
                "metrics"} <= set(e), e["name"]
        assert {"beam", "alpha", "average", "stop"} <= set(e["decode"]), e["name"]
        assert e["metrics"], f"{e['name']}: no claimed scores"
        for member in [e, *e["ensemble"]]:
            folder = ROOT / "models" / member["path"]
            assert hub.folder_digest(folder) == member["sha256"], member["path"]
