"""Metrics: hand-computed edit distances, G2P rates, BLEU settings, length buckets."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import sacrebleu
from hypothesis import given
from hypothesis import strategies as st

from seq2seq_jax.evaluation import metrics

TOKENS = st.lists(st.sampled_from("abc"), max_size=8)


@pytest.mark.parametrize("a, b, d", [
    ("kitten", "sitting", 3),
    ("", "", 0),
    ("", "ab", 2),
    ("abc", "abc", 0),
    ("abc", "acb", 2),
    (["HH", "AH", "L", "OW"], ["HH", "EH", "L", "OW"], 1),
    (["K", "AE", "T"], ["K", "AE", "T", "S"], 1),
])
def test_edit_distance_hand_cases(a, b, d):
    assert metrics.edit_distance(a, b) == d
    assert metrics.edit_distance(b, a) == d


@given(TOKENS, TOKENS, TOKENS)
def test_edit_distance_is_a_metric(a, b, c):
    d = metrics.edit_distance
    assert d(a, a) == 0
    assert d(a, b) == d(b, a)
    assert abs(len(a) - len(b)) <= d(a, b) <= max(len(a), len(b))
    assert d(a, c) <= d(a, b) + d(b, c)
    assert (d(a, b) == 0) == (a == b)


def test_g2p_scores_multiple_references():
    hyps = ["A B C", "A B", ""]
    refs = [["A B C", "A B"],  # matches the first: 0 edits, closest length 3
            ["A X Y Z", "A C"],  # closest is the second: 1 edit over 2 phonemes
            ["D E"]]  # empty hypothesis: 2 deletions over 2
    s = metrics.g2p_scores(hyps, refs)
    assert s["wer"] == pytest.approx(100 * 2 / 3)
    assert s["per"] == pytest.approx(100 * (0 + 1 + 2) / (3 + 2 + 2))
    assert (s["words"], s["word_errors"], s["phone_edits"], s["ref_phones"]) == (3, 2, 3, 7)


def test_g2p_correct_if_any_reference_matches():
    s = metrics.g2p_scores(["T AH M EY T OW"], [["T AH M AA T OW", "T AH M EY T OW"]])
    assert s["wer"] == 0.0 and s["per"] == 0.0
    # Spacing is not part of a pronunciation; a bare string is one reference.
    s = metrics.g2p_scores([" T  AH M "], ["T AH M"])
    assert s["wer"] == 0.0


def test_g2p_per_ties_go_to_first_reference():
    # "A B" is one edit from both; the first (length 2) sets the denominator.
    assert metrics.g2p_scores(["A B"], [["A C", "A B D"]])["per"] == pytest.approx(50.0)
    assert metrics.g2p_scores(["A B"], [["A B D", "A C"]])["per"] == pytest.approx(100 / 3)


def test_g2p_scores_errors():
    with pytest.raises(ValueError, match="reference entries"):
        metrics.g2p_scores(["A"], [["A"], ["B"]])
    with pytest.raises(ValueError, match="no reference"):
        metrics.g2p_scores(["A"], [[]])


HYPS = ["Two young guys with shaggy hair look at their hands.",
        "Several men in hard hat are operating a big pulley system.",
        "A little girl climbs in a wooden playhouse.",
        "A man on a ladder cleans a window"]
REFS = ["Two young, White males are outside near many bushes.",
        "Several men in hard hats are operating a giant pulley system.",
        "A little girl climbing into a wooden playhouse.",
        "A man in a blue shirt is standing on a ladder cleaning windows."]
REFS2 = ["Two young men are outside near bushes.",
         "Men in hard hats operate a giant pulley.",
         "A little girl climbs into a wooden playhouse.",
         "A man on a ladder cleans a window."]


def test_bleu_chrf_equal_sacrebleu_corpus_scores():
    s = metrics.bleu_chrf(HYPS, REFS)
    assert s["bleu"] == sacrebleu.corpus_bleu(HYPS, [REFS]).score
    assert s["chrf"] == sacrebleu.corpus_chrf(HYPS, [REFS]).score
    assert 0 < s["bleu"] < 100
    for part in ("nrefs:1", "case:mixed", "tok:13a", "smooth:exp"):
        assert part in s["bleu_signature"]
    assert "nc:6" in s["chrf_signature"] and "nw:0" in s["chrf_signature"]


def test_bleu_chrf_multiple_references_per_hypothesis():
    per_hyp = [[r1, r2] for r1, r2 in zip(REFS, REFS2, strict=True)]
    s = metrics.bleu_chrf(HYPS, per_hyp)
    assert s["bleu"] == sacrebleu.corpus_bleu(HYPS, [REFS, REFS2]).score
    assert s["chrf"] == sacrebleu.corpus_chrf(HYPS, [REFS, REFS2]).score
    assert s["bleu"] > metrics.bleu_chrf(HYPS, REFS)["bleu"]
    assert "nrefs:2" in s["bleu_signature"]
    with pytest.raises(ValueError, match="same number"):
        metrics.bleu_chrf(HYPS[:2], [[REFS[0]], [REFS[1], REFS2[1]]])


def test_bleu_is_cased_and_detokenised():
    assert metrics.bleu_chrf(["A dog runs."], ["A dog runs."])["bleu"] == pytest.approx(100)
    # 13a tokenisation splits the period, so this is still a perfect match ...
    assert metrics.bleu_chrf(["A dog runs ."], ["A dog runs."])["bleu"] == pytest.approx(100)
    # ... but case counts.
    assert metrics.bleu_chrf(["a dog runs."], ["A dog runs."])["bleu"] < 100


def test_tok_bleu_hand_computed():
    # Precisions 5/6, 3/5, 2/4, 1/3 and equal lengths (BP = 1): BLEU = (1/12) ** (1/4).
    s = metrics.tok_bleu(["the cat sat on the mat"], ["the cat sat on a mat"])
    assert s["bleu"] == pytest.approx(100 * (1 / 12) ** 0.25)
    for part in ("tok:none", "case:lc", "smooth:none"):
        assert part in s["signature"]
    # Lowercased: case does not matter.
    assert metrics.tok_bleu(["The Cat sat on the MAT"], ["the cat sat on a mat"])["bleu"] == \
        pytest.approx(100 * (1 / 12) ** 0.25)
    # Brevity penalty: all precisions 1, 5 hypothesis vs 6 reference tokens.
    assert metrics.tok_bleu(["the cat sat on the"], ["the cat sat on the mat"])["bleu"] == \
        pytest.approx(100 * math.exp(1 - 6 / 5))


def test_tok_bleu_does_not_tokenise_or_smooth():
    # Split on spaces only: "runs." is not "runs" + "."; no 3-gram or 4-gram matches
    # and no smoothing gives exactly 0, as multi-bleu.perl does.
    assert metrics.tok_bleu(["a dog runs."], ["a dog runs ."])["bleu"] == 0.0
    assert metrics.bleu_chrf(["a dog runs."], ["a dog runs ."])["bleu"] == pytest.approx(100)


def test_exact_match():
    assert metrics.exact_match(["a b", "c", "d"], ["a b", "x", "d"]) == pytest.approx(200 / 3)
    assert metrics.exact_match([np.array([4, 5]), [6]], [[4, 5], np.array([6, 7])]) == 50.0
    assert math.isnan(metrics.exact_match([], []))
    with pytest.raises(ValueError):
        metrics.exact_match(["a"], [])


def test_length_buckets_and_by_length():
    lengths = [1, 5, 6, 10, 11, 30, 0]
    correct = [True, False, True, True, False, False, True]
    buckets = metrics.length_buckets(lengths, edges=(5, 10, 20))
    assert [b.label for b in buckets] == ["<=5", "6-10", "11-20", "21+"]
    assert [b.indices.tolist() for b in buckets] == [[0, 1, 6], [2, 3], [4], [5]]
    scores = metrics.by_length(lengths, correct, edges=(5, 10, 20))
    assert [s.n for s in scores] == [3, 2, 1, 1]
    assert [s.mean for s in scores] == pytest.approx([2 / 3, 1.0, 0.0, 0.0])
    empty = metrics.by_length([1, 2], [0.5, 1.5], edges=(2, 4))
    assert empty[0].mean == pytest.approx(1.0) and empty[1].n == 0 and math.isnan(empty[1].mean)
    assert (empty[2].lo, empty[2].hi) == (5, None)
    with pytest.raises(ValueError):
        metrics.length_buckets([1], edges=(5, 3))
    with pytest.raises(ValueError):
        metrics.by_length([1, 2], [1.0], edges=(5,))


def test_char_accuracy_hand_computed():
    # 3 of 3; 2 of max(2, 3) = 3 (one missing); 1 of max(3, 1) = 3 (two extra); 0 of 0.
    s = metrics.char_accuracy(["abc", "ab", "axy", ""], ["abc", "abd", "a", ""])
    assert (s["char_matches"], s["char_positions"]) == (6, 9)
    assert s["char_accuracy"] == pytest.approx(100 * 6 / 9)
    assert math.isnan(metrics.char_accuracy([""], [""])["char_accuracy"])
    with pytest.raises(ValueError):
        metrics.char_accuracy(["a"], [])


@pytest.mark.parametrize("lang, tokenised, plain", [
    ("de", "ein mann mit einem hut , der etwas anstarrt .",
     "Ein mann mit einem hut, der etwas anstarrt."),
    ("de", "ein kind mit der nummer &quot; 93 &quot; fährt ski .",
     'Ein kind mit der nummer "93" fährt ski.'),
    ("de", "ein gut @-@ gelaunter hund &amp; ein kind", "Ein gut-gelaunter hund & ein kind"),
    ("fr", "l&apos; homme regarde l&apos; eau .", "L'homme regarde l'eau."),
    ("en", "a man &apos;s dog ( brown ) !", "A man's dog (brown)!"),
    ("en", "", ""),
])
def test_moses_detokenize(lang, tokenised, plain):
    assert metrics.moses_detokenize(tokenised, lang=lang) == plain
    assert metrics.moses_detokenize(tokenised, capitalize=False, lang=lang) == (
        plain[:1].lower() + plain[1:])


@pytest.mark.parametrize("lang", ["de", "en", "fr"])
def test_detokenised_multi30k_references_are_the_raw_ones(lang):
    """The official tokenised test2016 references, detokenised, are the raw ones (lowercased)
    for at least 99 % of the sentences: the detokeniser undoes what Moses did."""
    root = Path(__file__).resolve().parents[2] / "shared" / "data" / "multi30k"
    if not root.is_dir():
        pytest.skip(f"{root} is not present")
    with gzip.open(root / "tok" / f"test_2016_flickr.lc.norm.tok.{lang}.gz", "rt") as f:
        tok = f.read()
    with gzip.open(root / f"test_2016_flickr.{lang}.gz", "rt") as f:
        raw = f.read()
    pairs = list(zip(tok.splitlines(), raw.splitlines(), strict=True))
    same = sum(metrics.moses_detokenize(t, lang=lang).lower() == r.lower() for t, r in pairs)
    assert same >= 0.99 * len(pairs)


def test_target_language_of_a_dataset_name():
    assert metrics.target_language("multi30k/en_de_tok") == "de"
    assert metrics.target_language("multi30k/fr_en_raw") == "en"
    assert metrics.target_language("tfds:ted_hrlr_translate/pt_to_en") == "en"


def test_bleu_lowercase_ignores_case_only():
    hyp, ref = ["ein mann steht auf einer leiter."], ["Ein Mann steht auf einer Leiter."]
    s = metrics.bleu_lowercase(hyp, ref)
    assert s["bleu"] == pytest.approx(100)
    assert "case:lc" in s["signature"] and "tok:13a" in s["signature"]
    assert metrics.bleu_chrf(hyp, ref)["bleu"] < 100
