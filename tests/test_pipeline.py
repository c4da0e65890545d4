"""From a config to model-ready data: task kinds, examples, tokenizers, encoding."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from seq2seq_jax import config as config_lib
from seq2seq_jax import layout
from seq2seq_jax.constants import UNK_ID
from seq2seq_jax.data import pipeline, tokenizers


def small_config(name: str = "synthetic/reverse"):
    c = config_lib.default_config()
    c.data.name = name
    c.data.src_tokenizer = c.data.tgt_tokenizer = "char"
    c.data.synthetic.update(num_train=12, num_dev=5, num_test=3, min_len=2,
                            train_max_len=5, test_max_len=7)
    return c


@pytest.mark.parametrize("name, kind", [
    ("cmudict_g2p", "g2p"), ("cmudict_g014b2b", "g2p"),
    ("synthetic/copy", "synthetic"), ("synthetic/addition", "synthetic"),
    ("multi30k/en_de_tok", "translation"), ("multi30k/de_en", "translation"),
    ("tfds:ted_hrlr_translate/pt_to_en", "translation")])
def test_task_kind(name, kind):
    assert config_lib.task_kind(name) == kind


def test_load_examples_synthetic_reverse_with_limit():
    c = small_config()
    train = pipeline.load_examples(c, "train")
    assert len(train) == 12
    for ex in train:
        assert ex["target"] == ex["source"][::-1]
        assert 2 <= len(ex["source"]) <= 5
    limited = pipeline.load_examples(c, "train", limit=4)
    assert limited == train[:4]
    assert len(pipeline.load_examples(c, "dev")) == 5
    test = pipeline.load_examples(c, "test")
    assert len(test) == 3 and all(len(ex["source"]) <= 7 for ex in test)


def test_build_tokenizers_char_and_symbol(tmp_path):
    c = small_config()
    c.data.tgt_tokenizer = "symbol"
    train = [{"source": "cab", "target": "K AE B"}, {"source": "ba", "target": "B AA"}]
    src, tgt = pipeline.build_tokenizers(c, train, tmp_path)
    assert isinstance(src, tokenizers.CharTokenizer)
    assert isinstance(tgt, tokenizers.SymbolTokenizer)
    assert src.vocab == ["a", "b", "c"]
    assert tgt.vocab == ["AA", "AE", "B", "K"]
    assert src.encode("abc") == [4, 5, 6]
    assert tgt.encode("B AA") == [6, 4]
    assert not (tmp_path / "sentencepiece").exists()


@pytest.mark.parametrize("src_kind, tgt_kind", [("sentencepiece", "char"),
                                                ("symbol", "sentencepiece")])
def test_build_tokenizers_needs_sentencepiece_on_both_sides(tmp_path, src_kind, tgt_kind):
    c = small_config()
    c.data.src_tokenizer, c.data.tgt_tokenizer = src_kind, tgt_kind
    with pytest.raises(ValueError, match="must both be 'sentencepiece'"):
        pipeline.build_tokenizers(c, [{"source": "ab", "target": "ba"}], tmp_path)


def test_build_tokenizers_joint_sentencepiece(tmp_path):
    c = small_config()
    c.data.src_tokenizer = c.data.tgt_tokenizer = "sentencepiece"
    c.data.vocab_size = 40
    c.data.synthetic.num_train = 200
    train = pipeline.load_examples(c, "train")
    src, tgt = pipeline.build_tokenizers(c, train, tmp_path)
    assert src is tgt and src.vocab_size == 40
    assert (tmp_path / "sentencepiece" / "spm_joint.model").is_file()
    assert src.decode(src.encode("abc cba")) == "abc cba"


def test_save_tokenizers_round_trip(tmp_path):
    src = tokenizers.CharTokenizer.fit(["hello", "world"])
    tgt = tokenizers.SymbolTokenizer.fit(["HH AH L OW", "W ER L D"])
    path = tmp_path / layout.TOKENIZER_FILE
    pipeline.save_tokenizers(path, src, tgt)
    d = json.loads(path.read_text())
    assert d == pipeline.tokenizers_to_dict(src, tgt)
    src2, tgt2 = pipeline.tokenizers_from_dict(d)
    assert type(src2) is type(src) and type(tgt2) is type(tgt)
    assert src2.vocab == src.vocab and tgt2.vocab == tgt.vocab
    assert src2.encode("world") == src.encode("world")
    assert tgt2.decode(tgt.encode("W ER L D")) == "W ER L D"


@pytest.mark.parametrize("eval_mode, batch_size", [(False, 16), (True, 48)])
def test_batch_config(eval_mode, batch_size):
    c = small_config()
    c.data.update(batch_size=16, eval_batch_size=48, max_src_len=9, max_tgt_len=11,
                  truncate=True)
    b = pipeline.batch_config(c, eval_mode=eval_mode)
    assert (b.batch_size, b.max_src_len, b.max_tgt_len, b.truncate) == (batch_size, 9, 11, True)


def test_encode_maps_unknowns_and_warns_once(caplog):
    src = tokenizers.CharTokenizer.fit(["ab"])
    tgt = tokenizers.CharTokenizer.fit(["xy"])
    examples = [{"source": "abz", "target": "yx"}, {"source": "ba", "target": "xq"},
                {"source": "zz", "target": "x"}]
    with caplog.at_level(logging.WARNING, logger="seq2seq_jax.data.pipeline"):
        pairs = pipeline.encode(examples, src, tgt)
    assert len(pairs) == 3
    np.testing.assert_array_equal(pairs.src[0], [4, 5, UNK_ID])
    np.testing.assert_array_equal(pairs.tgt[1], [4, UNK_ID])
    np.testing.assert_array_equal(pairs.src[2], [UNK_ID, UNK_ID])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "4 unknown symbols" in warnings[0].getMessage()
    assert "('z', 3)" in warnings[0].getMessage()


def test_encode_is_silent_without_unknowns(caplog):
    tok = tokenizers.CharTokenizer.fit(["ab"])
    with caplog.at_level(logging.WARNING, logger="seq2seq_jax.data.pipeline"):
        pairs = pipeline.encode([{"source": "ab", "target": "ba"}], tok, tok)
    assert not caplog.records
    np.testing.assert_array_equal(pairs.tgt[0], [5, 4])
