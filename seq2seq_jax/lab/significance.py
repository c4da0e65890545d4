"""Is one system better than another on the same test set? Paired tests on stored decodes.

The systems are compared on the records ``analysis`` stored (one decoded example a
line, ``<workdir>/analysis/<split>_<decode>.jsonl``), so nothing is decoded again:

* translation: sacreBLEU's paired bootstrap resampling (Koehn 2004) or approximate
  randomisation, on BLEU computed as ``metrics.tok_bleu`` computes it (lowercased,
  already tokenised text) or as ``metrics.bleu_chrf`` does (cased, 13a); each
  system's score, the 95 % confidence interval of its bootstrap mean, and the p-value
  of its difference from the baseline;
* G2P: each system's WER with its exact (Clopper-Pearson) 95 % interval, and
  McNemar's exact test on the words one system gets right and the other wrong
  (``scipy.stats.binomtest``).

A p-value measures test-set sampling only: a second training seed can move a score
further than these intervals say.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from sacrebleu.metrics import BLEU
from sacrebleu.significance import PairedTest
from scipy import stats

from seq2seq_jax.evaluation import metrics
from seq2seq_jax.lab.records import Record, load_records
from seq2seq_jax.layout import ANALYSIS_DIR


class Comparison(NamedTuple):
    """One system's row: its score and, except for the baseline, the paired test."""

    system: str
    score: float  # BLEU, or WER in percent
    low: float  # 95 % interval
    high: float
    p_value: float | None  # None for the baseline
    wins: int | None = None  # G2P: words only this system gets right
    losses: int | None = None  # G2P: words only the baseline gets right


def check_aligned(systems: Sequence[tuple[str, Sequence[Record]]]) -> None:
    """Every system must have decoded the same examples, in the same order.

    Raises:
      ValueError: no system, or naming the first system and example that differ from
        the first system.
    """
    if not systems:
        raise ValueError("no system to score: name a baseline")
    base_name, base = systems[0]
    for name, records in systems[1:]:
        if len(records) != len(base):
            raise ValueError(f"{name} has {len(records)} examples, {base_name} "
                             f"{len(base)}: decode the same split and limit for both")
        for a, b in zip(base, records, strict=True):
            if a.source != b.source or a.references != b.references:
                raise ValueError(f"{name} example {b.index} ({b.source!r}) is not "
                                 f"{base_name}'s ({a.source!r}): not the same test set")


def _scored_hypotheses(records: Sequence[Record], tokenized: bool, cased: bool,
                       lang: str = "en") -> list[str]:
    """The hypotheses as the table's BLEU scores them (detokenised for cased BLEU of
    tokenised data)."""
    hyps = [r.hypothesis for r in records]
    return [metrics.moses_detokenize(h, lang=lang) for h in hyps] if tokenized and cased else hyps


def _bleu_metric_and_refs(records: Sequence[Record], hyps: Sequence[str], tokenized: bool,
                          cased: bool) -> tuple[BLEU, list[list[str]]]:
    """The table's BLEU and its reference streams (``records.score_records`` computes
    the same numbers)."""
    if not tokenized:  # raw data: references are raw text already
        return BLEU(), metrics.ref_streams(hyps, [r.references for r in records])
    if not cased:
        return metrics.tok_bleu_metric(), metrics.ref_streams(
            hyps, [r.references for r in records])
    raw = [r.raw_references for r in records]
    if not all(raw):
        raise ValueError("cased BLEU of tokenised data needs the raw references, which these "
                         "records lack: decode again with scripts/results.py --redecode")
    return BLEU(), metrics.ref_streams(hyps, [list(r or []) for r in raw])


def paired_bleu(systems: Sequence[tuple[str, Sequence[Record]]], *, tokenized: bool = True,
                cased: bool = False, test: str = "bs", samples: int = 1000,
                lang: str = "en") -> tuple[list[Comparison], str]:
    """Compare every system with the first (the baseline) on corpus BLEU.

    Args:
      systems: ``(name, records)`` pairs, baseline first, records aligned
        (``check_aligned``); the baseline alone gives its score and interval.
      tokenized: the records hold lowercased tokenised text (Multi30k ``_tok`` data),
        scored with ``metrics.tok_bleu``; otherwise raw text, scored with sacreBLEU's
        default (cased) BLEU.
      cased: tokenised data only: the tables' cased sacreBLEU instead, of the
        Moses-detokenised hypotheses against the stored ``raw_references``.
      lang: the target language, for the detokeniser's rules.
      test: ``"bs"`` paired bootstrap resampling or ``"ar"`` approximate randomisation.
      samples: resamples (``bs``) or trials (``ar``); the confidence intervals always
        use ``samples`` bootstrap resamples. sacreBLEU seeds them with
        ``$SACREBLEU_SEED`` (default 12345), so a rerun gives the same numbers.

    Returns:
      One ``Comparison`` a system, in the given order, and the test's signature.
    """
    check_aligned(systems)
    if test not in ("bs", "ar"):
        raise ValueError(f"test {test!r}: choose 'bs' (bootstrap) or 'ar' (randomisation)")
    if samples < 1:
        raise ValueError(f"samples {samples}: must be >= 1")
    named: list[tuple[str, Sequence[str]]] = [
        (name, _scored_hypotheses(records, tokenized, cased, lang)) for name, records in systems]
    metric_fn, streams = _bleu_metric_and_refs(systems[0][1], named[0][1], tokenized, cased)
    alone = len(named) == 1  # sacreBLEU's test needs a second system: the baseline again
    paired = PairedTest(named * 2 if alone else named, {"BLEU": metric_fn}, streams,
                        test_type=test,
                        n_samples=samples, n_ar_confidence=samples if test == "ar" else -1)
    signatures, scores = paired()
    metric = next(k for k in scores if k != "System")
    rows = []
    for (name, hyps), result in zip(named, scores[metric][:len(named)], strict=True):
        assert not isinstance(result, str)
        mean = result.mean if result.mean is not None else result.score
        ci = result.ci if result.ci is not None else float("nan")
        p = result.p_value
        if p is not None and hyps == named[0][1]:
            p = 1.0  # the baseline's own outputs: nothing differs (sacreBLEU gives 1/(n+1))
        rows.append(Comparison(name, float(result.score), float(mean - ci),
                               float(mean + ci), p))
    return rows, str(signatures[metric])


def word_correct(records: Sequence[Record]) -> np.ndarray:
    """G2P: whether each word's 1-best matches any reference (what WER counts)."""
    return np.array([" ".join(r.hypothesis.split()) in
                     {" ".join(ref.split()) for ref in r.references} for r in records])


def paired_wer(systems: Sequence[tuple[str, Sequence[Record]]]) -> list[Comparison]:
    """Compare every system's word error rate with the first's (McNemar, exact).

    Returns:
      One ``Comparison`` a system: WER % with its exact 95 % interval; for the others,
      the two-sided p-value of McNemar's exact test and the discordant word counts.
    """
    check_aligned(systems)
    base = word_correct(systems[0][1])
    rows = []
    for i, (name, records) in enumerate(systems):
        correct = word_correct(records)
        errors = int((~correct).sum())
        interval = stats.binomtest(errors, len(correct)).proportion_ci(0.95)
        wer = 100.0 * errors / len(correct)
        if i == 0:
            rows.append(Comparison(name, wer, 100 * interval.low, 100 * interval.high, None))
            continue
        wins = int((correct & ~base).sum())
        losses = int((base & ~correct).sum())
        p = stats.binomtest(wins, wins + losses).pvalue if wins + losses else 1.0
        rows.append(Comparison(name, wer, 100 * interval.low, 100 * interval.high,
                               float(p), wins, losses))
    return rows


def records_path(runs: str | Path, experiment: str, system: str, split: str,
                 decode: str) -> Path:
    """Where ``analysis`` stored a system's records.

    ``system`` is a model ("luong") or an ensemble ("luong+bahdanau_query_input", stored
    in its first member's workdir); ``decode`` is the tag of the tables ("beam5",
    "beam5_avg3").
    """
    first = system.split("+")[0]
    tag = decode + (f"_ens-{system}" if "+" in system else "")
    return Path(runs) / experiment / first / ANALYSIS_DIR / f"{split}_{tag}.jsonl"


def load_system(runs: str | Path, experiment: str, system: str, split: str = "test",
                decode: str = "beam5") -> list[Record]:
    """The stored records of one system; a clear error when they are missing."""
    path = records_path(runs, experiment, system, split, decode)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no stored decode of {system!r}; make it with `python scripts/results.py "
            f"{experiment} ...` (decode {decode!r}, split {split!r}) first")
    return load_records(path)


def markdown(rows: Sequence[Comparison], metric: str) -> str:
    """The comparison as a Markdown table, the baseline first."""
    g2p = any(r.wins is not None for r in rows)
    head = f"| system | {metric} | 95 % interval | p vs {rows[0].system} |"
    rule = "|---|---:|---|---:|"
    if g2p:
        head += " words only it gets right | words only the baseline gets right |"
        rule += "---:|---:|"
    lines = [head, rule]
    for r in rows:
        p = ("baseline" if r.p_value is None
             else "< 0.0001" if r.p_value < 1e-4 else f"{r.p_value:.4f}")
        line = f"| {r.system} | {r.score:.2f} | {r.low:.2f}–{r.high:.2f} | {p} |"
        if g2p:
            line += (" | |" if r.wins is None else f" {r.wins:,} | {r.losses:,} |")
        lines.append(line)
    return "\n".join(lines) + "\n"
