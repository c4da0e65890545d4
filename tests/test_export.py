"""Exported models: parameters alone, read back exactly as the workdir they came from."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from test_train import tiny_config
from test_workdir import _shifted_checkpoints

from seq2seq_jax import cli
from seq2seq_jax.errors import WorkdirError
from seq2seq_jax.training import checkpoint, train
from seq2seq_jax.training import workdir as workdir_lib
from seq2seq_jax.training.export import export


def _same(a, b) -> None:
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for p, q in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert p.dtype == q.dtype
        np.testing.assert_array_equal(np.asarray(p), np.asarray(q))


def test_an_averaged_export_loads_as_the_average_of_its_workdir(tmp_path, capsys):
    src, out = tmp_path / "run", tmp_path / "models" / "run"
    _shifted_checkpoints(src, {4: 1.0, 6: 3.0, 8: 8.0})
    (src / "hardware.txt").write_text("test machine\n")
    (src / "config.json").write_text('{"seed": 0}')  # as training leaves them
    written = export(src, out, average=2)
    assert written == out / checkpoint.BEST / "8"
    assert checkpoint.is_export(out) and not checkpoint.is_export(src)
    assert not (out / checkpoint.LATEST).exists()  # no optimizer state, nothing to resume
    assert (out / "hardware.txt").read_text() == "test machine\n"
    assert (out / "config.json").read_text() == (src / "config.json").read_text()
    want = workdir_lib.load_average(src, 2)
    got = workdir_lib.load(out)
    assert got.averaged == want.averaged == (6, 8) and got.step == 8
    assert got.config.to_dict() == want.config.to_dict() and got.cfg == want.cfg
    assert got.tgt_tok.vocab == want.tgt_tok.vocab
    _same(got.params, want.params)
    capsys.readouterr()
    again = workdir_lib.load_average(out, 2)  # what `eval --average 2` asks of it
    assert "exported" in capsys.readouterr().err
    _same(again.params, want.params)
    with pytest.raises(workdir_lib.ConfigError) as err:
        workdir_lib.load_average(out, 3)
    assert "--average 3" in str(err.value) and "[6, 8]" in str(err.value)
    assert str(out) in str(err.value)


def test_a_plain_export_is_the_best_checkpoint_and_joins_an_ensemble(tmp_path):
    src, other, out = tmp_path / "a", tmp_path / "b", tmp_path / "a_export"
    _shifted_checkpoints(src, {4: 1.0, 6: 2.0})
    _shifted_checkpoints(other, {6: 5.0})
    export(src, out)
    got = workdir_lib.load(out)
    assert got.averaged == ()
    _same(got.params, workdir_lib.load(src).params)
    with pytest.raises(workdir_lib.ConfigError, match="one checkpoint"):
        workdir_lib.load_average(out, 2)
    both = workdir_lib.load_ensemble([out, other])
    _same(both.params["0"], got.params)
    _same(both.params["1"], workdir_lib.load(other).params)


def test_export_never_overwrites_and_training_refuses_an_export(tmp_path):
    src, out = tmp_path / "run", tmp_path / "out"
    _shifted_checkpoints(src, {4: 1.0})
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="--out"):
        export(src, out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    fresh = tmp_path / "fresh"
    export(src, fresh)
    before = sorted(p.relative_to(fresh) for p in fresh.rglob("*"))
    with pytest.raises(WorkdirError, match="exported model"):
        train.train_and_evaluate(tiny_config(), fresh)
    assert sorted(p.relative_to(fresh) for p in fresh.rglob("*")) == before


def test_cli_export_prints_the_checkpoint_and_names_a_taken_folder(tmp_path, capsys):
    src, out = tmp_path / "run", tmp_path / "out"
    _shifted_checkpoints(src, {4: 1.0, 6: 2.0})
    assert cli.main(["export", "--workdir", str(src), "--out", str(out),
                     "--average", "2"]) == 0
    assert capsys.readouterr().out.strip() == str(out / checkpoint.BEST / "6")
    assert cli.main(["export", "--workdir", str(src), "--out", str(out)]) == 2
    assert f"--out {out} exists" in capsys.readouterr().err
    assert cli.main(["export", "--workdir", str(tmp_path / "none"), "--out",
                     str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()
