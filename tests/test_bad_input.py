"""Every bad input through the real command line: one line naming the file, line or
option on stderr, exit status 2, no traceback.

Complements tests/test_cli.py (invalid options, a missing config file, data
directory, workdir and --input, a field-count error, unknown symbols, over-long
inputs) and tests/test_lock.py (a workdir in use).
"""

from __future__ import annotations

import gzip
import io
import shutil
from pathlib import Path

import pytest
from test_train import tiny_config

from seq2seq_jax import cli
from seq2seq_jax.training import checkpoint, train

ROOT = Path(__file__).resolve().parents[1]
SMOKE = str(ROOT / "configs" / "smoke.py")
GOOD_TRAIN = b"HELLO\tHH AH L OW\nHONEY\tHH AH N IY\nCAT\tK AE T\n"
GOOD_REF = b"DOG\tD AO G\tD AA G\n"


def run_error(argv: list[str], capsys, monkeypatch=None, stdin: str | None = None) -> str:
    """Run the command line; assert a clean exit 2; return stderr."""
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    capsys.readouterr()
    rc = cli.main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err
    assert err.count("seq2seq-jax: error: ") == 1
    return err


def train_argv(tmp_path: Path, source: str, *extra: str) -> list[str]:
    return ["train", f"--config={SMOKE}:{source}", f"--workdir={tmp_path / 'run'}",
            f"--config.data.data_dir={tmp_path / 'tfds'}", *extra]


# ---------------------------------------------------------------- data files

def g014b2b_dir(root: Path, train: bytes | None = GOOD_TRAIN, ref: bytes | None = GOOD_REF,
                ) -> Path:
    root.mkdir(parents=True)
    if train is not None:
        (root / "g014b2b.train.gz").write_bytes(gzip.compress(train))
    if ref is not None:
        (root / "g014b2b.ref").write_bytes(ref)
    return root


@pytest.mark.parametrize("train_file, ref_file, expect", [
    (None, GOOD_REF, r"Neither {d}/g014b2b.train nor {d}/g014b2b.train.gz exists"),
    (GOOD_TRAIN, None, r"Neither {d}/g014b2b.ref nor {d}/g014b2b.ref.gz exists"),
    (GOOD_TRAIN + b"EMPTY\t\n", GOOD_REF,
     "{d}/g014b2b.train.gz, line 4: field 2 is empty (expected WORD<TAB>PH ON EMES)"),
    (GOOD_TRAIN + b"CAF\xe9\tK AE F\n", GOOD_REF,
     "{d}/g014b2b.train.gz, line 4: invalid UTF-8 (byte 0xe9 at column 4)"),
    (GOOD_TRAIN, GOOD_REF + b"R2D2\tAA R\n",
     "{d}/g014b2b.ref, line 2: word 'R2D2' is not letters and apostrophes only"),
    (GOOD_TRAIN, GOOD_REF + b"ONE\n", "{d}/g014b2b.ref, line 2: expected at least 2 "
                                      "tab-separated fields"),
])
def test_g2p_files(tmp_path, capsys, train_file, ref_file, expect):
    d = g014b2b_dir(tmp_path / "g2p", train_file, ref_file)
    err = run_error(train_argv(tmp_path, "cmudict_g014b2b", f"--config.data.manual_dir={d}"),
                    capsys)
    assert expect.format(d=d) in err
    if "line" in expect:
        assert "--config.data.skip_bad_lines=True" in err  # and how to go on anyway
    assert checkpoint.complete_steps(tmp_path / "run") == []


def multi30k_dir(root: Path, override: dict[tuple[str, str], bytes]) -> Path:
    """The tok/ layout for en-de, two sentences a file unless overridden."""
    (root / "tok").mkdir(parents=True)
    for stem in ("train", "val", "test_2016_flickr"):
        for lang in ("en", "de"):
            data = override.get((stem, lang), f"{stem} {lang} one\n{stem} {lang} two\n".encode())
            if data is not None:
                (root / "tok" / f"{stem}.lc.norm.tok.{lang}").write_bytes(data)
    return root


@pytest.mark.parametrize("override, expect", [
    ({("train", "de"): b"eins\n\n"}, "{d}/tok/train.lc.norm.tok.de, line 2: empty sentence"),
    ({("val", "en"): b"ok\n\xff\xfe\n"},
     "{d}/tok/val.lc.norm.tok.en, line 2: invalid UTF-8 (byte 0xff at column 1)"),
    ({("val", "de"): b"nur eine zeile\n"},
     "{d}/tok/val.lc.norm.tok.en has 2 lines but {d}/tok/val.lc.norm.tok.de has 1: "
     "line 2 of {d}/tok/val.lc.norm.tok.en has no partner"),
    ({("test_2016_flickr", "en"): None}, "{d}/tok/test_2016_flickr.lc.norm.tok.en.gz exists"),
])
def test_parallel_files(tmp_path, capsys, override, expect):
    d = multi30k_dir(tmp_path / "m30k", override)
    err = run_error(train_argv(tmp_path, "multi30k", f"--config.data.manual_dir={d}"), capsys)
    assert expect.format(d=d) in err


def test_missing_parallel_data_directory(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    err = run_error(train_argv(tmp_path, "multi30k", f"--config.data.manual_dir={missing}"),
                    capsys)
    assert f"Manual data directory {missing} does not exist" in err


# ---------------------------------------------------------------- options and configs

@pytest.mark.parametrize("override, expect", [
    ("--config.data.src_tokenizer=bpe",
     "data.src_tokenizer='bpe' is not valid; choose one of ['char', 'symbol', 'sentencepiece']"),
    ("--config.decode.method=nucleus", "decode.method='nucleus' is not valid; choose one of "
                                       "['greedy', 'beam', 'sample']"),
    ("--config.train.metric=bleu", "train.metric='bleu' is not valid; choose one of "
                                   "['exact_match']"),
    ("--config.train.optimizer=sgd", "train.optimizer='sgd' is not valid; choose one of"),
    ("--config.model.dropout=1.5", "model.dropout=1.5 must be in [0, 1)"),
    ("--config.model.celll=gru",
     "--config.model.celll: the config has no key 'celll'; did you mean 'cell'?"),
    ("--config.model.cell=rnn", "model.cell='rnn' is not valid; choose one of"),
    ("--config.data.batch_size=0", "data.batch_size=0 must be an integer >= 1"),
    ("--config.decode.top_p=2.0", "decode.top_p=2.0 must be in (0, 1]"),
    ("--config.train.learning_rate=0.0", "train.learning_rate=0.0 must be > 0"),
])
def test_invalid_config_values_stop_before_anything_is_built(tmp_path, capsys, override,
                                                             expect):
    err = run_error(train_argv(tmp_path, "synthetic", override), capsys)
    assert expect in err
    assert not (tmp_path / "run").exists()  # not even the workdir


@pytest.mark.parametrize("argv, expect", [
    ([f"--config={SMOKE}:nope", "--workdir=w"], "configs/smoke.py:nope is not valid; "
                                                "choose one of ['cmudict_g014b2b'"),
    ([f"--config={SMOKE}:synthetic"], "--workdir DIR is required"),
    ([f"--config={SMOKE}:synthetic", "--workdir=w", "stray"], "unexpected arguments ['stray']"),
])
def test_bad_train_command_lines(capsys, argv, expect):
    assert expect in run_error(["train", *argv], capsys)


def test_workdir_that_is_a_file(tmp_path, capsys):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("notes\n")
    err = run_error(["train", f"--config={SMOKE}:synthetic", f"--workdir={not_a_dir}"], capsys)
    assert f"workdir {not_a_dir} exists and is not a directory" in err
    assert not_a_dir.read_text() == "notes\n"


# ---------------------------------------------------------------- eval and predict

@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("trained")
    train.train_and_evaluate(tiny_config(num_steps=6, eval_every=3, checkpoint_every=3), workdir)
    return workdir


def _damaged_copy(trained: Path, tmp_path: Path, which: tuple[str, ...]) -> Path:
    """A copy of ``trained`` whose checkpoints in ``which`` have their array data cut."""
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    for kind in which:
        for step in checkpoint.complete_steps(copy, kind):
            data = max((copy / kind / str(step) / "state" / "d").iterdir(),
                       key=lambda p: p.stat().st_size)
            data.write_bytes(data.read_bytes()[:9])
    return copy


@pytest.mark.parametrize("argv, expect", [
    (["predict", "--beam", "0"], "--beam 0: the beam size must be >= 1"),
    (["predict", "--sample", "--temperature", "0"], "--temperature 0.0: must be > 0"),
    (["eval", "--limit", "-1"], "--limit -1: must be >= 0"),
])
def test_bad_decode_options(trained, capsys, monkeypatch, argv, expect):
    err = run_error([*argv, "--workdir", str(trained)], capsys, monkeypatch, stdin="ab\n")
    assert expect in err


def test_predict_input_that_is_not_utf8(trained, tmp_path, capsys):
    bad = tmp_path / "inputs.txt"
    bad.write_bytes(b"abc\nca\xe9\n")
    err = run_error(["predict", "--workdir", str(trained), "--input", str(bad)], capsys)
    assert f"--input {bad}: not valid UTF-8" in err and "at byte 6" in err


@pytest.mark.parametrize("command", ["eval", "predict"])
def test_missing_workdir_or_one_without_checkpoints(tmp_path, capsys, monkeypatch, command):
    missing = tmp_path / "never_trained"
    err = run_error([command, "--workdir", str(missing)], capsys, monkeypatch, stdin="ab\n")
    assert f"workdir {missing} does not exist" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    err = run_error([command, "--workdir", str(empty)], capsys, monkeypatch, stdin="ab\n")
    assert f"{empty} holds no complete checkpoint" in err and "seq2seq-jax train" in err


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_predict_falls_back_from_a_damaged_best_with_a_warning(trained, tmp_path, capsys,
                                                               caplog, monkeypatch):
    copy = _damaged_copy(trained, tmp_path, (checkpoint.BEST,))
    best = checkpoint.complete_steps(copy, checkpoint.BEST)[0]
    monkeypatch.setattr("sys.stdin", io.StringIO("ab\nba\n"))
    assert cli.main(["predict", "--workdir", str(copy)]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 2
    assert f"checkpoint {copy / checkpoint.BEST / str(best)} is unreadable" in caplog.text
    assert f"loaded checkpoint {copy / checkpoint.LATEST}/6" in err


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("command", ["eval", "predict"])
def test_nothing_readable_names_every_checkpoint(trained, tmp_path, capsys, monkeypatch,
                                                 command):
    copy = _damaged_copy(trained, tmp_path, (checkpoint.BEST, checkpoint.LATEST))
    err = run_error([command, "--workdir", str(copy)], capsys, monkeypatch, stdin="ab\n")
    assert f"no checkpoint of {copy} can be read" in err
    for kind in (checkpoint.BEST, checkpoint.LATEST):
        for step in checkpoint.complete_steps(copy, kind):
            assert str(copy / kind / str(step)) in err


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_train_on_a_workdir_of_another_model_moves_nothing(trained, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    err = run_error(["train", f"--config={SMOKE}:synthetic", f"--workdir={copy}",
                     "--config.model.hidden=24", "--config.train.num_steps=9"], capsys)
    assert f"no checkpoint in {copy / checkpoint.LATEST} can be read" in err
    assert "config changed" in err
    assert checkpoint.complete_steps(copy) == checkpoint.complete_steps(trained)


def test_nonfinite_loss_through_the_command_line(tmp_path, capsys):
    """A learning rate that blows the parameters up: one line naming the step, exit 3,
    and the checkpoints written before it are still there."""
    argv = train_argv(tmp_path, "synthetic", "--config.train.learning_rate=1e38",
                      "--config.train.num_steps=12", "--config.train.checkpoint_every=1",
                      "--config.train.log_every=12", "--config.train.eval_every=12")
    capsys.readouterr()
    rc = cli.main(argv)
    err = capsys.readouterr().err
    assert rc == 3, err
    assert "Traceback" not in err and "non-finite loss or gradient at step" in err
    assert checkpoint.Checkpointer(tmp_path / "run", read_only=True).latest_step() is not None
