"""Tokenizers: never crash, unknowns become UNK and are reported, round trips, restore."""

from __future__ import annotations

import gzip
import json
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import sentencepiece as spm
from hypothesis import given, settings
from hypothesis import strategies as st

from seq2seq_jax.constants import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from seq2seq_jax.data import pipeline, subwords
from seq2seq_jax.data.subwords import SentencePieceTokenizer
from seq2seq_jax.data.tokenizers import (
    CharTokenizer,
    SymbolTokenizer,
    UnknownCounter,
)

MULTI30K = Path(__file__).resolve().parents[2] / "shared" / "data" / "multi30k"

# Any code point, lone surrogates and control characters included.
ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=()), max_size=200)
PHONEMES = ["AA", "AE", "AH", "B", "D", "HH", "K", "L", "OW", "T"]


def _corpus(lang: str, n: int = 500) -> list[str]:
    """The first n Multi30k training lines, or generated sentences without the data."""
    path = MULTI30K / f"train.{lang}.gz"
    if path.exists():
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return [next(f).rstrip("\n") for _ in range(n)]
    # A Zipf-like vocabulary of 400 made-up words: enough distinct pieces for the
    # vocabulary sizes below (100-300), as real text has.
    rng = np.random.default_rng({"en": 0, "de": 1}[lang])
    letters = list("abcdefghijklmnopqrstuvwxyz" + ("äöüß" if lang == "de" else ""))
    words = ["".join(rng.choice(letters, size=rng.integers(2, 9))) for _ in range(400)]
    p = 1.0 / np.arange(1, len(words) + 1)
    words = list(rng.choice(words, size=5000, p=p / p.sum()))
    sentences = (" ".join(rng.choice(words, size=rng.integers(3, 15))) for _ in range(n))
    return [s[0].upper() + s[1:] + "." for s in sentences]  # capitals and stops, as in text


# ---------------------------------------------------------------- char / symbol


def test_char_vocab_layout():
    tok = CharTokenizer.fit(["ba", "ab", "c"], min_count=2)
    assert [tok.id_to_token(i) for i in range(4)] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert tok.vocab == ["a", "b"]  # "c" seen once < min_count
    assert tok.vocab_size == 6
    assert tok.encode("abc") == [4, 5, UNK_ID]


def test_decode_stops_at_eos_and_skips_pad_bos():
    tok = CharTokenizer.fit(["ab"])
    assert tok.decode([BOS_ID, 4, PAD_ID, 5, EOS_ID, 4]) == "ab"
    assert tok.decode(np.array([4, UNK_ID, 5])) == "a\u2047b"
    assert tok.decode([]) == ""
    with pytest.raises(ValueError, match="outside"):
        tok.decode([4, 6])
    with pytest.raises(ValueError, match="outside"):
        tok.decode([-1])


VOCAB_CHARS = "abcdefghijklmnopqrstuvwxyz' \tÄ☃\x00"


@settings(max_examples=200, deadline=None)
@given(ANY_TEXT)
def test_char_encode_never_crashes_and_reports_unknowns(text):
    tok = CharTokenizer.fit([VOCAB_CHARS])
    counter = UnknownCounter()
    ids = tok.encode(text, on_unknown=counter)
    assert len(ids) == len(text)
    assert all(0 <= i < tok.vocab_size for i in ids)
    unknown = [c for c in text if c not in VOCAB_CHARS]
    assert [c for c, i in zip(text, ids, strict=True) if i == UNK_ID] == unknown
    assert tok.unknown_tokens(text) == unknown
    assert counter.total() == len(unknown)
    assert tok.tokens(text) == list(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=VOCAB_CHARS, max_size=300))
def test_char_round_trip(text):
    tok = CharTokenizer.fit([VOCAB_CHARS])
    assert UNK_ID not in tok.encode(text)
    assert tok.decode(tok.encode(text)) == text


def test_char_very_long_line():
    tok = CharTokenizer.fit(["ab"])
    text = "ab" * 500_000 + "\U0010ffff"
    ids = tok.encode(text)
    assert len(ids) == len(text) and ids[-1] == UNK_ID
    assert tok.decode(ids[:-1]) == text[:-1]


@settings(max_examples=200, deadline=None)
@given(ANY_TEXT)
def test_symbol_encode_never_crashes(text):
    tok = SymbolTokenizer.fit([" ".join(PHONEMES)])
    ids = tok.encode(text)
    assert len(ids) == len(text.split())
    assert [s for s, i in zip(text.split(), ids, strict=True) if i == UNK_ID] == \
        [s for s in text.split() if s not in PHONEMES]
    assert tok.unknown_tokens(text) == [s for s in text.split() if s not in PHONEMES]


@given(st.lists(st.sampled_from(PHONEMES), max_size=40))
def test_symbol_round_trip(symbols):
    tok = SymbolTokenizer.fit(["HH AH L OW", " ".join(PHONEMES)])
    text = " ".join(symbols)
    assert tok.encode(text) == [tok.vocab.index(s) + 4 for s in symbols]
    assert tok.decode(tok.encode(text)) == text
    # Other whitespace decodes to the canonical single-space form.
    assert tok.decode(tok.encode("\t " + "  \n".join(symbols) + " ")) == text


def test_special_names_in_text_are_unknown_not_control():
    tok = SymbolTokenizer.fit(["HH AH <eos> L"])
    assert "<eos>" not in tok.vocab
    assert tok.encode("HH <eos> <pad> L") == [tok.encode("HH")[0], UNK_ID, UNK_ID,
                                               tok.encode("L")[0]]


def test_invalid_vocabularies_raise():
    with pytest.raises(ValueError, match="whitespace"):
        SymbolTokenizer(["A B"])
    with pytest.raises(ValueError, match="one character"):
        CharTokenizer(["ab"])
    with pytest.raises(ValueError, match="duplicate"):
        CharTokenizer(["a", "a"])
    with pytest.raises(ValueError, match="special"):
        SymbolTokenizer(["<unk>"])


@pytest.mark.parametrize("tok", [CharTokenizer.fit(["hello world", "Ünïcode ☃"]),
                                 SymbolTokenizer.fit(["HH AH L OW", "W ER L D"])])
def test_table_to_dict_from_dict(tok):
    restored = pipeline.tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))
    assert type(restored) is type(tok)
    assert restored.to_dict() == tok.to_dict()
    for text in ["hello ☃ world", "HH AH L OW", ""]:
        assert restored.encode(text) == tok.encode(text)


def test_from_dict_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        pipeline.tokenizer_from_dict({"kind": "wordpiece"})


# ---------------------------------------------------------------- sentencepiece


@pytest.fixture(scope="module")
def sp_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("spm")


@pytest.fixture(scope="module")
def sp_bpe(sp_dir):
    return SentencePieceTokenizer.train(_corpus("en"), sp_dir / "bpe_en", vocab_size=300)


def test_sentencepiece_specials_and_files(sp_bpe, sp_dir):
    assert sp_bpe.vocab_size == 300
    assert [sp_bpe.id_to_token(i) for i in range(4)] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert Path(sp_bpe.path) == sp_dir / "bpe_en.model"
    assert (sp_dir / "bpe_en.model").read_bytes() == sp_bpe.model_proto
    assert len((sp_dir / "bpe_en.vocab").read_text(encoding="utf-8").splitlines()) == 300
    ids = sp_bpe.encode("A man is walking.")
    assert ids and all(4 <= i < 300 for i in ids)  # no BOS/EOS added, no UNK


def test_sentencepiece_round_trip_on_normalised_training_text(sp_bpe):
    lines = [" ".join(line.split()) for line in _corpus("en")]
    lines = [s for s in lines if unicodedata.normalize("NFKC", s) == s]
    assert len(lines) > 400
    for line in lines:
        ids = sp_bpe.encode(line)
        assert UNK_ID not in ids
        assert sp_bpe.decode([*ids, EOS_ID, 5, 6]) == line
        assert len(sp_bpe.tokens(line)) == len(ids)


@settings(max_examples=100, deadline=None)
@given(ANY_TEXT)
def test_sentencepiece_encode_never_crashes(sp_bpe, text):
    counter = UnknownCounter()
    ids = sp_bpe.encode(text, on_unknown=counter)
    assert ids == sp_bpe.encode(text)  # reporting does not change the ids
    assert all(0 <= i < sp_bpe.vocab_size for i in ids)
    assert counter.total() == ids.count(UNK_ID)
    assert len(sp_bpe.tokens(text)) == len(ids)
    sp_bpe.decode(ids)


def test_sentencepiece_unknowns_reported(sp_bpe):
    assert sp_bpe.encode("") == []
    ids = sp_bpe.encode("a man \u2603 walks \x00")
    assert ids.count(UNK_ID) == 2
    assert sp_bpe.unknown_tokens("a man \u2603 walks \x00") == ["\u2603", "\x00"]
    # nmt_nfkc normalisation drops BEL and turns the lone surrogate (sent as U+FFFD)
    # into a space before segmentation: gone, not unknown.
    assert sp_bpe.encode("a \ud800man\x07") == sp_bpe.encode("a man")
    assert len(sp_bpe.encode("a man " * 50_000)) >= 100_000  # a very long line


def test_sentencepiece_save_load_and_restore_without_file(sp_bpe, tmp_path):
    text = "Two dogs play in the snow."
    sp_bpe_copy = SentencePieceTokenizer.load(sp_bpe.path)
    assert sp_bpe_copy.encode(text) == sp_bpe.encode(text)
    sp_bpe_copy.save(tmp_path / "copy.model")
    d = json.loads(json.dumps(sp_bpe_copy.to_dict()))
    (tmp_path / "copy.model").unlink()  # restore must not need the file
    restored = pipeline.tokenizer_from_dict(d)
    assert isinstance(restored, SentencePieceTokenizer)
    assert restored.encode(text) == sp_bpe.encode(text)
    assert restored.decode(restored.encode(text)) == text


def test_sentencepiece_unigram_trains(sp_dir):
    tok = SentencePieceTokenizer.train(_corpus("en", 300), sp_dir, 200, model_type="unigram")
    assert tok.path == str(sp_dir / "sentencepiece.model")
    assert tok.vocab_size == 200
    assert tok.decode(tok.encode("a dog runs")) == "a dog runs"
    with pytest.raises(ValueError, match="model_type"):
        SentencePieceTokenizer.train(["a"], sp_dir / "x", 10, model_type="word")


def test_sentencepiece_rejects_foreign_special_ids(tmp_path):
    spm.SentencePieceTrainer.train(sentence_iterator=iter(_corpus("en", 200)),
                                   model_prefix=str(tmp_path / "plain"), vocab_size=100,
                                   minloglevel=2)  # default ids: unk=0, bos=1, eos=2
    with pytest.raises(ValueError, match="pad/bos/eos/unk"):
        SentencePieceTokenizer.load(tmp_path / "plain.model")


def test_joint_and_separate_vocabularies(tmp_path):
    rng = np.random.default_rng(0)
    examples = [{"source": " ".join(rng.choice(["aab", "abba", "bab"], size=4)),
                 "target": " ".join(rng.choice(["xyy", "yxy", "yyx"], size=4))}
                for _ in range(200)]
    src, tgt = subwords.train_sentencepiece(examples, tmp_path, vocab_size=20, joint=True)
    assert src is tgt
    assert (tmp_path / "spm_joint.model").exists()
    assert UNK_ID not in src.encode("abba xyy")
    src, tgt = subwords.train_sentencepiece(examples, tmp_path, vocab_size=14, joint=False)
    assert src is not tgt
    assert src.encode("x").count(UNK_ID) == 1 and tgt.encode("b").count(UNK_ID) == 1
    assert UNK_ID not in src.encode("abba") and UNK_ID not in tgt.encode("yxy")
