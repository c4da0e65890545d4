"""seq2seq_jax.lab.significance and scripts/significance.py: paired tests on stored decodes."""

from __future__ import annotations

import dataclasses
from types import ModuleType

import numpy as np
import pytest
from scipy import stats
from scripts_loader import load_script

from seq2seq_jax.evaluation import metrics
from seq2seq_jax.lab import significance
from seq2seq_jax.lab.records import Record, save_records, score_records

WORDS = ("a", "man", "in", "a", "blue", "shirt", "rides", "a", "red", "bike", "down", "the",
         "steep", "hill", "past", "two", "dogs")


def _sentences(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(6, 12)))) for _ in range(n)]


def _records(hyps, refs, sources=None) -> list[Record]:
    sources = sources or [f"src {i}" for i in range(len(hyps))]
    return [Record(index=i, source=s, references=[r] if isinstance(r, str) else list(r),
                   hypothesis=h, length=len(s.split()))
            for i, (s, h, r) in enumerate(zip(sources, hyps, refs, strict=True))]


def _degrade(sentences: list[str], every: int) -> list[str]:
    """Drop the last two words of every ``every``-th sentence."""
    return [" ".join(s.split()[:-2]) if i % every == 0 else s for i, s in enumerate(sentences)]


def test_bleu_scores_are_the_tables_and_a_near_copy_is_not_significant():
    refs = _sentences(80, 0)
    base = _degrade(refs, 2)
    rows, signature = significance.paired_bleu(
        [("base", _records(base, refs)), ("same", _records(base, refs))], samples=200)
    assert rows[0].score == pytest.approx(metrics.tok_bleu(base, refs)["bleu"])
    assert rows[1].score == rows[0].score
    assert rows[0].p_value is None and rows[1].p_value == 1.0
    near = [*base[:78], refs[78], base[79]]  # sentence 78 (degraded in base) made right
    rows, _ = significance.paired_bleu(
        [("base", _records(base, refs)), ("near", _records(near, refs))], samples=200)
    assert rows[1].score > rows[0].score and rows[1].p_value > 0.05
    assert "bs:200" in signature and "tok:none" in signature and "case:lc" in signature
    for r in rows:
        assert r.low <= r.score <= r.high


def test_the_baseline_alone_gets_one_row_with_the_interval_it_has_beside_others():
    refs = _sentences(80, 0)
    base = _records(_degrade(refs, 2), refs)
    other = _records(_degrade(refs, 5), refs)
    (alone,), _ = significance.paired_bleu([("base", base)], samples=200)
    paired, _ = significance.paired_bleu([("base", base), ("other", other)], samples=200)
    assert alone == paired[0] and alone.p_value is None
    assert alone.low < alone.score < alone.high
    (wer,) = significance.paired_wer([("base", base)])
    assert wer.p_value is None and wer.wins is None


@pytest.mark.parametrize("test", ["bs", "ar"])
def test_a_clearly_better_system_gets_a_small_p_value(test):
    refs = _sentences(120, 1)
    worse, better = _degrade(refs, 1), _degrade(refs, 6)
    rows, _ = significance.paired_bleu(
        [("worse", _records(worse, refs)), ("better", _records(better, refs))],
        test=test, samples=300)
    assert rows[1].score > rows[0].score + 10
    assert rows[1].p_value is not None and rows[1].p_value < 0.01
    assert rows[1].score == pytest.approx(metrics.tok_bleu(better, refs)["bleu"])


def test_cased_bleu_of_tokenised_data_is_the_tables_detokenised_score():
    refs = _sentences(30, 2)
    raw = [metrics.moses_detokenize(r).replace(" red", " Red") for r in refs]  # cased
    records = [dataclasses.replace(r, raw_references=[x])
               for r, x in zip(_records(_degrade(refs, 3), refs), raw, strict=True)]
    rows, signature = significance.paired_bleu([("a", records), ("b", records)],
                                               cased=True, samples=50)
    assert "case:mixed" in signature and "tok:13a" in signature
    table = score_records("translation", records, tokenized=True, full=True)
    assert rows[0].score == pytest.approx(table["bleu"])
    assert rows[0].score != pytest.approx(table["tok_bleu"])
    with pytest.raises(ValueError, match="needs the raw references"):
        significance.paired_bleu([("a", _records(refs, refs)), ("b", _records(refs, refs))],
                                 cased=True)


def test_raw_data_is_scored_against_its_references_cased():
    refs = [r.capitalize() for r in _sentences(30, 4)]
    hyps = _degrade(refs, 3)
    rows, signature = significance.paired_bleu(
        [("a", _records(hyps, refs)), ("b", _records(hyps, refs))], tokenized=False,
        samples=50)
    assert "case:mixed" in signature
    assert rows[0].score == pytest.approx(metrics.bleu_chrf(hyps, refs)["bleu"])


def test_wer_rows_count_the_discordant_words_and_use_mcnemars_exact_test():
    refs = [["K AE T"], ["D AO G", "D AA G"], ["B ER D"], ["F IH SH"], ["K AW"]] * 20
    base = ["K AE T", "D AA G", "B ER T", "F IH S", "K AW"] * 20  # 2 of 5 wrong
    other = ["K AE T", "D OW G", "B ER D", "F IH SH", "K AW"] * 20  # 1 of 5 wrong
    rows = significance.paired_wer([("base", _records(base, refs)),
                                    ("other", _records(other, refs))])
    assert rows[0].score == pytest.approx(metrics.g2p_scores(base, refs)["wer"]) == 40.0
    assert rows[1].score == pytest.approx(20.0)
    assert (rows[1].wins, rows[1].losses) == (40, 20)
    assert rows[1].p_value == pytest.approx(stats.binomtest(40, 60).pvalue)
    assert rows[0].low < 40.0 < rows[0].high and rows[1].low < 20.0 < rows[1].high


def test_spacing_of_phonemes_does_not_count_as_an_error():
    rows = significance.paired_wer([("a", _records(["K  AE T"], [["K AE T"]])),
                                    ("b", _records(["K AE T "], [["K AE T"]]))])
    assert rows[0].score == rows[1].score == 0.0 and rows[1].p_value == 1.0


def test_systems_must_share_the_test_set():
    a = _records(["x y"], ["x y"], sources=["one"])
    with pytest.raises(ValueError, match="no system to score"):
        significance.paired_bleu([])
    with pytest.raises(ValueError, match=r"b example 0 .*'two'.* not the same test set"):
        significance.paired_wer([("a", a), ("b", _records(["x y"], ["x y"], sources=["two"]))])
    with pytest.raises(ValueError, match="b has 2 examples, a 1"):
        significance.paired_bleu([("a", a), ("b", _records(["x", "y"], ["x", "y"]))])
    with pytest.raises(ValueError, match="test 'tt'"):
        significance.paired_bleu([("a", a), ("b", a)], test="tt")


def test_records_path_finds_ensembles_in_their_first_members_workdir(tmp_path):
    assert significance.records_path(tmp_path, "multi30k", "luong", "test", "beam5") == (
        tmp_path / "multi30k" / "luong" / "analysis" / "test_beam5.jsonl")
    assert significance.records_path(tmp_path, "g014b2b", "rnn+bahdanau", "test",
                                     "beam5_avg3") == (
        tmp_path / "g014b2b" / "rnn" / "analysis" / "test_beam5_avg3_ens-rnn+bahdanau.jsonl")


def _script() -> ModuleType:
    return load_script("significance")


def test_script_writes_a_g2p_table_and_names_what_is_missing(tmp_path, capsys):
    refs = [["K AE T"], ["D AO G"], ["B ER D"]] * 10
    for model, hyps in (("bahdanau", ["K AE T", "D AO G", "B ER T"] * 10),
                        ("rnn", ["K AE T", "D OW G", "B ER T"] * 10)):
        path = significance.records_path(tmp_path, "g014b2b", model, "test", "beam5")
        path.parent.mkdir(parents=True)
        save_records(path, _records(hyps, refs))
    out = tmp_path / "sig.md"
    assert _script().main(["g014b2b", "--runs", str(tmp_path), "--baseline", "bahdanau",
                           "--systems", "rnn", "--out", str(out)]) == 0
    text = out.read_text()
    assert capsys.readouterr().out == text + "\n"
    assert "| bahdanau | 33.33 |" in text and "| rnn | 66.67 |" in text
    assert "| 0 | 10 |" in text  # rnn gets no word the baseline misses, misses 10 it gets
    for systems in ([], ["--systems", "bahdanau"]):  # the baseline alone: its row once
        assert _script().main(["g014b2b", "--runs", str(tmp_path), "--baseline", "bahdanau",
                               *systems]) == 0
        rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
        # the same row as beside rnn, without the word-count columns no comparison fills
        assert rows[1:] == [text.splitlines()[-2].removesuffix(" | |")]
    with pytest.raises(SystemExit, match=r"ens-rnn\+luong.jsonl: no stored decode"):
        _script().main(["g014b2b", "--runs", str(tmp_path), "--baseline", "bahdanau",
                        "--systems", "rnn+luong"])
    with pytest.raises(SystemExit, match=r"\['nope'\] not among g014b2b's models"):
        _script().main(["g014b2b", "--runs", str(tmp_path), "--baseline", "nope",
                        "--systems", "rnn"])
