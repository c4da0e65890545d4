"""Property tests over bad input: tokenizers, the line readers, predict.

Arbitrary unicode (control characters, lone surrogates), empty and very long
lines, invalid UTF-8, tabs and carriage returns in odd places. Every input gets
a clear result or one of the project's errors (``DataError``, ``ValueError`` from
a tokenizer's ``decode`` of a foreign id) whose message names the file, line or
input; nothing else may escape, nothing may hang.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_train import tiny_config

from seq2seq_jax.cli import commands
from seq2seq_jax.constants import UNK_ID
from seq2seq_jax.data import cmudict_g2p, g014b2b, text_files
from seq2seq_jax.data.pipeline import tokenizer_from_dict as from_dict
from seq2seq_jax.data.tokenizers import (
    UNK_TEXT,
    CharTokenizer,
    SymbolTokenizer,
    UnknownCounter,
)
from seq2seq_jax.errors import DataError
from seq2seq_jax.evaluation import evaluate
from seq2seq_jax.training import train
from seq2seq_jax.training import workdir as workdir_lib

# Any code point: control characters, format characters, lone surrogates.
ANY_CHAR = st.characters(blacklist_categories=())
ANY_TEXT = st.text(alphabet=ANY_CHAR, max_size=60)
# What a text file can hold once decoded: no surrogates.
FILE_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
LONG_TEXT = st.builds(lambda c, n: c * n, st.characters(blacklist_categories=("Cs",)),
                      st.integers(500, 5000))
# One line of a file as bytes: text (tabs, "\r", control characters likely), raw
# bytes (invalid UTF-8 likely), or a very long line; never a newline.
TEXTY = st.text(alphabet=st.sampled_from("ab \t\r\x00\x0b\x1cé€'-"), max_size=12)
LINE = st.one_of(
    TEXTY.map(lambda s: s.encode("utf-8")),
    FILE_TEXT.map(lambda s: s.encode("utf-8")),
    st.binary(max_size=20),
    LONG_TEXT.map(lambda s: s.encode("utf-8")),
).map(lambda b: b.replace(b"\n", b""))
LINES = st.lists(LINE, max_size=8)
FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


# ---------------------------------------------------------------- tokenizers

@FAST
@given(train=st.lists(FILE_TEXT, max_size=6), text=ANY_TEXT)
def test_char_tokenizer_fit_restore_and_encode_any_text(train, text):
    tok = CharTokenizer.fit(train)
    again = from_dict(json.loads(json.dumps(tok.to_dict())))  # as a workdir stores it
    assert again.vocab == tok.vocab
    unknown = UnknownCounter()
    ids = again.encode(text, on_unknown=unknown)
    assert len(ids) == len(text) and all(0 <= i < tok.vocab_size for i in ids)
    assert unknown.total() == ids.count(UNK_ID)
    assert set(unknown) == {c for c in text if c not in tok.vocab}
    expected = "".join(c if c in tok.vocab else UNK_TEXT for c in text)
    assert again.decode(ids) == expected


@FAST
@given(train=st.lists(FILE_TEXT, max_size=6), text=ANY_TEXT)
def test_symbol_tokenizer_fit_restore_and_encode_any_text(train, text):
    tok = SymbolTokenizer.fit(train)
    again = from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again.vocab == tok.vocab and all(s.split() == [s] for s in tok.vocab)
    ids = again.encode(text)
    assert len(ids) == len(text.split())
    expected = " ".join(s if s in tok.vocab else UNK_TEXT for s in text.split())
    assert again.decode(ids) == expected


@FAST
@given(vocab=st.lists(st.characters(), min_size=1, max_size=6, unique=True),
       ids=st.lists(st.integers(-3, 20), max_size=10))
def test_decode_of_foreign_ids_is_a_clear_error(vocab, ids):
    tok = CharTokenizer(vocab)
    kept = []
    for i in ids:  # content_ids: up to the first EOS, without PAD and BOS
        if i == 2:
            break
        if i not in (0, 1):
            kept.append(i)
    bad = [i for i in kept if not 0 <= i < tok.vocab_size]
    if bad:
        with pytest.raises(ValueError, match=f"id {bad[0]} is outside"):
            tok.decode(ids)
    else:
        assert isinstance(tok.decode(ids), str)


@FAST
@given(word=ANY_TEXT)
def test_normalize_word_accepts_exactly_letters_and_apostrophes(word):
    lowered = word.strip().lower()
    valid = set(lowered) <= set("abcdefghijklmnopqrstuvwxyz'") and lowered.strip("'") != ""
    assert cmudict_g2p.normalize_word(word) == (lowered if valid else None)


# ---------------------------------------------------------------- line readers

def _write(path: Path, lines: list[bytes], gz: bool) -> Path:
    data = b"".join(line + b"\n" for line in lines)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def _line_of(message: str) -> int:
    found = re.search(r", line (\d+): ", message)
    assert found, message
    return int(found.group(1))


@FAST
@given(lines=LINES, gz=st.booleans(), skip=st.booleans(), open_ended=st.booleans())
def test_read_fields_any_bytes(tmp_path_factory, lines, gz, skip, open_ended):
    path = _write(tmp_path_factory.mktemp("f") / "g014b2b.train", lines, gz)
    try:
        result = text_files.read_fields(path, min_fields=2, max_fields=None if open_ended else 2,
                                        layout="WORD<TAB>PH ON EMES",
                                        validate=g014b2b.check_entry, skip_bad_lines=skip)
    except DataError as e:
        message = str(e)
        assert str(path) in message
        if message.startswith("Cannot read "):  # plain text that begins with gzip's magic
            assert not gz and b"".join(x + b"\n" for x in lines).startswith(b"\x1f\x8b")
        elif "no usable lines" not in message:
            assert not skip and 1 <= _line_of(message) <= len(lines)
        return
    assert len(result.rows) + result.skipped == len(lines)
    assert len(result.problems) == min(result.skipped, 10)
    for problem in result.problems:
        assert problem.startswith(f"{path}, line ") and 1 <= _line_of(problem) <= len(lines)
    for row in result.rows:
        assert len(row) >= 2 and (open_ended or len(row) == 2)
        assert all(field and field == field.strip() for field in row)
        assert cmudict_g2p.normalize_word(row[0]) is not None


@FAST
@given(src=LINES, tgt=LINES, skip=st.booleans())
def test_read_parallel_any_bytes(tmp_path_factory, src, tgt, skip):
    folder = tmp_path_factory.mktemp("p")
    src_path, tgt_path = _write(folder / "train.en", src, False), _write(folder / "train.de",
                                                                         tgt, True)
    try:
        result = text_files.read_parallel(src_path, tgt_path, skip_bad_lines=skip)
    except DataError as e:
        message = str(e)
        if message.startswith("Cannot read "):  # a first line starting with gzip's magic
            gz_like = [p for p, lines in ((src_path, src), (tgt_path, tgt))
                       if b"".join(x + b"\n" for x in lines).startswith(b"\x1f\x8b")]
            assert any(str(p) in message for p in gz_like), message
            return
        if len(src) != len(tgt):
            assert str(src_path) in message and str(tgt_path) in message
            assert "no partner" in message
        elif "no usable lines" not in message:
            assert not skip and 1 <= _line_of(message) <= len(src)
        return
    assert len(src) == len(tgt)
    assert len(result.rows) + result.skipped == len(src)
    assert all(s and t and s == s.strip() and t == t.strip() for s, t in result.rows)


@FAST
@given(lines=st.lists(FILE_TEXT, min_size=1, max_size=6), gz=st.booleans())
def test_plain_and_gzip_read_the_same(tmp_path_factory, lines, gz):
    folder = tmp_path_factory.mktemp("z")
    encoded = [f"w{i}\t{line}".encode() for i, line in enumerate(lines)]
    outcomes = []
    for name, compress in (("plain", False), ("packed", gz)):
        path = _write(folder / name, encoded, compress)
        try:
            outcomes.append(text_files.read_fields(path, min_fields=2, max_fields=2,
                                                   layout="A<TAB>B", skip_bad_lines=True).rows)
        except DataError as e:
            outcomes.append(str(e).replace(str(path), "FILE"))
    assert outcomes[0] == outcomes[1]


def test_a_byte_order_mark_is_not_part_of_the_first_line(tmp_path):
    path = tmp_path / "g014b2b.train"
    path.write_bytes(b"\xef\xbb\xbfHELLO\tHH AH L OW\n")
    result = text_files.read_fields(path, min_fields=2, max_fields=2, layout="A<TAB>B",
                                    validate=g014b2b.check_entry)
    assert result.rows == [("HELLO", "HH AH L OW")]


# ---------------------------------------------------------------- predict

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny attention model whose source alphabet has TeX's special characters."""
    c = tiny_config(num_steps=3, eval_every=3, checkpoint_every=3, log_every=3)
    c.data.synthetic.alphabet = "ab$^_\\{}"
    workdir = tmp_path_factory.mktemp("predict")
    train.train_and_evaluate(c, workdir)
    return workdir, workdir_lib.load(workdir)


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(texts=st.lists(st.one_of(ANY_TEXT, st.text(alphabet="ab$^_\\{}", max_size=12)),
                      max_size=5),
       truncate=st.booleans())
def test_predict_any_text(trained, texts, truncate):
    _, t = trained
    max_len = t.config.data.max_src_len
    caught = _Warnings()
    logging.getLogger(evaluate.__name__).addHandler(caught)
    try:
        preds = evaluate.predict(t, texts, truncate=truncate)
    except DataError as e:
        first = next(i for i, x in enumerate(texts) if len(x) > max_len)  # one id a character
        assert not truncate
        assert f"input {first + 1} has {len(texts[first])} symbols" in str(e)
        assert "--truncate" in str(e)
        return
    finally:
        logging.getLogger(evaluate.__name__).removeHandler(caught)
    assert truncate or all(len(x) <= max_len for x in texts)
    assert len(preds) == len(texts)
    for text, p in zip(texts, preds, strict=True):
        assert isinstance(p.text, str) and len(p.src_tokens) == min(len(text), max_len)
    unknown = {c for x in texts for c in x if c not in t.src_tok.vocab}  # before truncation
    assert bool(unknown) == any("unknown input symbols" in m for m in caught.messages)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(lines=st.lists(st.one_of(FILE_TEXT, LONG_TEXT).map(
    lambda x: x.replace("\n", "").replace("\r", "")), max_size=4))
def test_run_predict_writes_one_line_an_input(trained, lines):
    """What the CLI does with each line of stdin or --input, --truncate on."""
    workdir, _ = trained
    out = io.StringIO()
    commands.run_predict(str(workdir), [[x + "\n" for x in lines]], out, truncate=True)
    assert out.getvalue().count("\n") == len(lines)


@settings(max_examples=4, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=st.text(alphabet="ab$^_\\{}", min_size=1, max_size=8))
@example(text="$^$").via("invalid mathtext")
@example(text="a$_$b").via("invalid mathtext")
@example(text="$\\$").via("invalid mathtext")
def test_attention_plot_of_tex_like_input(trained, tmp_path_factory, text):
    """Source symbols like "$^$" once made matplotlib parse the title as mathtext and fail."""
    workdir, _ = trained
    plot = tmp_path_factory.mktemp("plot") / "attention.png"
    commands.run_predict(str(workdir), [[text + "\n"]], io.StringIO(),
                         attention_plot=str(plot))
    assert plot.stat().st_size > 1000
    with open(plot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
