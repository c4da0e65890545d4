"""Decoding texts and scoring them: reference grouping, task metrics, predict()."""

from __future__ import annotations

import logging

import jax
import numpy as np
import pytest

from seq2seq_jax import config as config_lib
from seq2seq_jax import models
from seq2seq_jax.constants import BOS_ID, EOS_ID
from seq2seq_jax.data.tokenizers import UNK_TEXT, CharTokenizer, SymbolTokenizer
from seq2seq_jax.errors import DataError
from seq2seq_jax.evaluation import evaluate

# ---------------------------------------------------------------- grouping and scoring


def test_group_references_merges_duplicate_sources_in_first_seen_order():
    examples = [
        {"source": "read", "target": "R IY D"},
        {"source": "lead", "target": "L IY D", "references": ["L EH D"]},
        {"source": "read", "target": "R EH D"},
        {"source": "read", "target": "R IY D"},  # an exact duplicate
        {"source": "lead", "target": "L EH D", "references": ["L IY D", "L AY D"]},
        {"source": "cat", "target": "K AE T", "references": []},
    ]
    sources, refs = evaluate.group_references(examples)
    assert sources == ["read", "lead", "cat"]
    assert refs == [["R IY D", "R EH D"], ["L IY D", "L EH D", "L AY D"], ["K AE T"]]


def test_score_g2p_by_hand():
    hyps = ["HH AH L OW", "W ER D", "K AE T"]
    refs = [["HH EH L OW", "HH AH L OW"],  # matches the second reference: correct
            ["W ER L D"],  # one deletion against 4 phones
            ["K AH T", "K AE T S"]]  # 1 edit to either; the tie goes to the first (3 phones)
    s = evaluate.score("g2p", hyps, refs)
    np.testing.assert_allclose(s["wer"], 100 * 2 / 3)
    np.testing.assert_allclose(s["per"], 100 * 2 / (4 + 4 + 3))
    assert s["words"] == 3 and s["word_errors"] == 2


def test_score_synthetic_is_exact_match():
    s = evaluate.score("synthetic", ["abc", "x", "yz", ""], [["abc"], ["y"], ["yz"], ["q"]])
    assert s == {"exact_match": 50.0}


SENTS = ["a man in a blue shirt is riding a bike .",
         "two dogs are playing in the snow together ."]


def test_score_translation_has_bleu_and_chrf():
    s = evaluate.score("translation", SENTS, [[x] for x in SENTS], "multi30k")
    np.testing.assert_allclose([s["bleu"], s["chrf"]], [100.0, 100.0])
    assert "tok_bleu" not in s
    worse = evaluate.score("translation", ["a dog .", "snow ."], [[x] for x in SENTS])
    assert worse["bleu"] < 100 and worse["chrf"] < 100


def test_score_translation_on_tokenised_data_adds_tok_bleu():
    upper = [x.capitalize() for x in SENTS]
    s = evaluate.score("translation", upper, [[x] for x in SENTS], "en_de_tok")
    # tok_bleu lowercases, so capitalised hypotheses still match exactly; BLEU is cased.
    np.testing.assert_allclose(s["tok_bleu"], 100.0)
    assert s["bleu"] < 100.0
    assert "tok_signature" in s


# ---------------------------------------------------------------- predict()

SRC_TEXTS = ["abcdef", "fedcba", "aabbcc"]
TGT_TEXTS = ["A B C", "D E F", "A A B"]


@pytest.fixture(scope="module")
def tiny():
    src_tok = CharTokenizer.fit(SRC_TEXTS)
    tgt_tok = SymbolTokenizer.fit(TGT_TEXTS)
    cfg = models.make_config({"name": "bahdanau", "hidden": 8, "embed_dim": 4},
                             src_tok.vocab_size, tgt_tok.vocab_size)
    model = models.get_model("bahdanau")
    # Larger weights make the untrained model's output depend on its input.
    params = jax.jit(lambda k: jax.tree.map(lambda p: p * 4.0, model.init(k, cfg)))(
        jax.random.PRNGKey(0))
    config = config_lib.default_config()
    config.data.max_src_len = 10
    config.data.max_tgt_len = 8
    config.data.eval_batch_size = 2
    config.decode.max_len = 6
    return model, params, cfg, src_tok, tgt_tok, config


def _trained(tiny) -> evaluate.Trained:
    model, params, cfg, src_tok, tgt_tok, config = tiny
    return evaluate.Trained(config, model, cfg, params, src_tok, tgt_tok)


def _predict(tiny, texts, **kw):
    config = tiny[-1]
    return evaluate.predict(_trained(tiny), texts, config, **kw)


def test_predict_returns_outputs_in_input_order(tiny):
    # Lengths 9, 2, 3, 1: sorted by length they form batches [c, ab] and [fed, abcdefabc]
    # of different widths; alone each decodes at its own width.
    texts = ["abcdefabc", "ab", "fed", "c"]
    together = _predict(tiny, texts, with_attention=True)
    assert len(together) == len(texts)
    for text, p in zip(texts, together, strict=True):
        assert p.src_tokens == list(text)
        (alone,) = _predict(tiny, [text], with_attention=True)
        assert alone.text == p.text
        assert alone.out_tokens == p.out_tokens
        np.testing.assert_allclose(alone.attention, p.attention, atol=1e-5)
    _, _, _, _, tgt_tok, _ = tiny
    assert len({p.text for p in together}) > 1  # outputs depend on the input
    for p in together:
        # An untrained model may emit <unk>, which decodes to UNK_TEXT.
        shown = [UNK_TEXT if t == "<unk>" else t for t in p.out_tokens]
        assert p.text == " ".join(shown)
        assert all(t in [*tgt_tok.vocab, "<unk>"] for t in p.out_tokens)


def test_predict_attention_rows_cover_the_outputs_and_the_source(tiny):
    max_len = tiny[-1].decode.max_len
    preds = _predict(tiny, ["abc", "fedcbaab"], with_attention=True)
    for p in preds:
        rows = min(len(p.out_tokens) + 1, max_len)  # EOS row last, unless cut at max_len
        assert p.attention.shape == (rows, len(p.src_tokens))
        # Each step's weights are a distribution over the real source positions.
        np.testing.assert_allclose(p.attention.sum(-1), 1.0, rtol=1e-5)
    assert all(p.attention is None for p in _predict(tiny, ["abc", "fedcbaab"]))


def test_predict_rejects_overlong_inputs_unless_truncating(tiny):
    long_text = "abcdefabcde"  # 11 symbols > max_src_len 10
    with pytest.raises(DataError, match="--truncate") as err:
        _predict(tiny, ["ab", long_text])
    assert "input 2 has 11 symbols" in str(err.value)
    (cut,) = _predict(tiny, [long_text], truncate=True)
    assert cut.src_tokens == list(long_text[:10])
    # truncate=None follows config.data.truncate.
    config = tiny[-1]
    config = config.copy_and_resolve_references()
    config.data.truncate = True
    (same,) = evaluate.predict(_trained(tiny), [long_text], config)
    assert same.text == cut.text


def test_predict_warns_about_unknown_symbols(tiny, caplog):
    with caplog.at_level(logging.WARNING, logger="seq2seq_jax.evaluation.evaluate"):
        (p,) = _predict(tiny, ["abz"])
    assert "1 unknown input symbols" in caplog.text and "'z'" in caplog.text
    assert p.src_tokens == ["a", "b", "<unk>"]


def test_evaluate_examples_groups_g2p_words(tiny):
    config = tiny[-1]
    config = config.copy_and_resolve_references()
    config.data.name = "cmudict_g2p"
    examples = [{"source": "abc", "target": "A B C"}, {"source": "fed", "target": "D E F"},
                {"source": "abc", "target": "A B"}]
    result = evaluate.evaluate_examples(_trained(tiny), examples, config)
    assert result["examples"] == 2  # "abc" is decoded once
    preds = _predict(tiny, ["abc", "fed"])
    expected = evaluate.score("g2p", [p.text for p in preds], [["A B C", "A B"], ["D E F"]])
    assert result["wer"] == expected["wer"] and result["per"] == expected["per"]


# ---------------------------------------------------------------- teacher_forced()


def _reference_nll_by_steps(tiny, pairs):
    """The same quantities through the decoder's step function, one example at a time."""
    model, params, cfg, src_tok, tgt_tok, _ = tiny
    encode = jax.jit(model.encode, static_argnums=1)
    step = jax.jit(model.step, static_argnums=1)
    nll = correct = count = 0
    for src_text, tgt_text in pairs:
        src = jax.numpy.asarray(src_tok.encode(src_text), jax.numpy.int32)
        tgt = [*tgt_tok.encode(tgt_text), EOS_ID]
        memory = encode(params, cfg, src)
        cache = model.init_cache(params, cfg, memory, len(tgt))
        token = BOS_ID
        for y in tgt:
            out, cache = step(params, cfg, memory, cache, jax.numpy.int32(token))
            logp = jax.nn.log_softmax(out.logits)
            nll -= float(logp[y])
            correct += int(np.argmax(out.logits) == y)
            count += 1
            token = y
    return nll / count, correct / count, count


def test_teacher_forced_equals_scoring_the_references_step_by_step(tiny):
    config = tiny[-1]
    pairs = [("abcdef", "A B C"), ("fe", "D E F A"), ("aabbccab", "A"), ("c", "B B")]
    examples = [{"source": s, "target": t} for s, t in pairs]
    got = evaluate.teacher_forced(_trained(tiny), examples, config)
    nll, acc, count = _reference_nll_by_steps(tiny, pairs)
    assert got["tokens"] == count == 14  # 10 symbols + 4 EOS
    assert got["nll"] == pytest.approx(nll, rel=1e-5)
    assert got["perplexity"] == pytest.approx(np.exp(nll), rel=1e-5)
    assert got["token_accuracy"] == pytest.approx(acc)
    # Batch size and order change nothing.
    wide = config.copy_and_resolve_references()
    wide.data.eval_batch_size = 8
    again = evaluate.teacher_forced(_trained(tiny), examples[::-1], wide)
    assert again["nll"] == pytest.approx(got["nll"], rel=1e-5)


def test_teacher_forced_cuts_overlong_pairs_and_rejects_an_empty_set(tiny):
    config = tiny[-1]
    long_pair = {"source": "abcdefabcdefab", "target": "A B C D E F A B C D"}  # 14 > 10, 10 > 7
    got = evaluate.teacher_forced(_trained(tiny), [long_pair], config)
    assert got["tokens"] == config.data.max_tgt_len  # 7 symbols + EOS
    nll, _, _ = _reference_nll_by_steps(tiny, [(long_pair["source"][:10], "A B C D E F A")])
    # The cut target keeps its EOS, so it is scored as the 7-symbol reference.
    assert got["nll"] == pytest.approx(nll, rel=1e-5)
    with pytest.raises(DataError, match="no target tokens"):
        evaluate.teacher_forced(_trained(tiny), [], config)


def test_beam_batches_hold_about_eval_batch_size_rows():
    from seq2seq_jax.evaluation.evaluate import beam_batch_size

    assert [beam_batch_size(512, 5), beam_batch_size(128, 5), beam_batch_size(8, 5)] == [
        128, 32, 8]
    assert all(beam_batch_size(n, k) & (beam_batch_size(n, k) - 1) == 0
               for n in (8, 100, 512, 1000) for k in (1, 3, 5, 12))
