"""Evaluation metrics: G2P error rates, BLEU/chrF via sacrebleu, exact match.

All scores are percentages (0..100), the convention of the G2P and MT literature.

G2P (CMUdict g014b2b convention, see ``shared/data/cmudict_g014b2b/README.md``):
a word is an error when its 1-best hypothesis equals none of its references
(WER); PER sums, over words, the edit distance to the closest reference and
divides by the summed lengths of those closest references.

Translation: BLEU (Papineni et al. 2002) and chrF (Popović 2015) come from
sacrebleu (Post 2018) and return its signature, so a score can be reproduced.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Sequence
from typing import Any, NamedTuple

import numpy as np
from sacrebleu.metrics import BLEU, CHRF


def edit_distance(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Levenshtein distance: fewest insertions, deletions and substitutions.

    Args:
      a, b: token sequences (lists of phonemes, strings as characters, ...).

    Returns:
      The distance; unit cost for every operation.
    """
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))  # distances from a[:0] to each prefix of b
    for i, x in enumerate(a, start=1):
        cur = [i]
        for j, y in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def _per_hypothesis(refs: Sequence[str | Sequence[str]], n: int) -> list[list[str]]:
    """References as one list per hypothesis; a bare string is a single reference."""
    if len(refs) != n:
        raise ValueError(f"{n} hypotheses but {len(refs)} reference entries")
    out = [[r] if isinstance(r, str) else list(r) for r in refs]
    for k, r in enumerate(out):
        if not r:
            raise ValueError(f"hypothesis {k} has no reference")
    return out


def g2p_scores(hyps: Sequence[str], refs: Sequence[str | Sequence[str]]) -> dict[str, float]:
    """Word and phoneme error rates against multiple references per word.

    Args:
      hyps: one space-separated phoneme string per word ("HH AH L OW").
      refs: every reference pronunciation of each word (a list per word; a bare
        string counts as one reference).

    Returns:
      ``wer``: percent of words whose hypothesis equals none of their references
      (as token lists, so spacing does not matter); ``per``: 100 * sum of edit
      distances to each word's closest reference / sum of those references'
      lengths (ties go to the reference listed first); plus the raw counts
      ``words``, ``word_errors``, ``phone_edits``, ``ref_phones``.
    """
    ref_lists = _per_hypothesis(refs, len(hyps))
    word_errors = phone_edits = ref_phones = 0
    for hyp, word_refs in zip(hyps, ref_lists, strict=True):
        h = hyp.split()
        candidates = [r.split() for r in word_refs]
        dists = [edit_distance(h, r) for r in candidates]
        best = int(np.argmin(dists))  # first minimum
        word_errors += min(dists) > 0
        phone_edits += dists[best]
        ref_phones += len(candidates[best])
    n = len(hyps)
    return {
        "wer": 100.0 * word_errors / n if n else float("nan"),
        "per": 100.0 * phone_edits / ref_phones if ref_phones else float("nan"),
        "words": float(n),
        "word_errors": float(word_errors),
        "phone_edits": float(phone_edits),
        "ref_phones": float(ref_phones),
    }


def ref_streams(hyps: Sequence[str], refs: Sequence[str | Sequence[str]]) -> list[list[str]]:
    """Per-hypothesis references transposed into sacrebleu's reference streams."""
    if not hyps:
        raise ValueError("no hypotheses to score")
    per_hyp = _per_hypothesis(refs, len(hyps))
    counts = {len(r) for r in per_hyp}
    if len(counts) != 1:
        raise ValueError(f"every hypothesis needs the same number of references; got {counts}")
    return [list(stream) for stream in zip(*per_hyp, strict=True)]


def bleu_chrf(hyps: Sequence[str], refs: Sequence[str | Sequence[str]]) -> dict[str, Any]:
    """Corpus BLEU and chrF on detokenised, cased text with sacrebleu's defaults.

    BLEU: 13a tokenisation, cased, exponential smoothing; chrF: character
    6-grams, beta 2 (``chrF2``). Compare these with other sacrebleu scores only.

    Args:
      hyps: system outputs, one detokenised sentence each.
      refs: per hypothesis one reference string, or a list of references (the
        same count for every hypothesis).

    Returns:
      ``bleu``, ``chrf`` (percent) and ``bleu_signature``, ``chrf_signature``.
    """
    streams = ref_streams(hyps, refs)
    bleu, chrf = BLEU(), CHRF()
    bleu_score = bleu.corpus_score(list(hyps), streams)
    chrf_score = chrf.corpus_score(list(hyps), streams)
    return {"bleu": float(bleu_score.score), "chrf": float(chrf_score.score),
            "bleu_signature": str(bleu.get_signature()),
            "chrf_signature": str(chrf.get_signature())}


def tok_bleu_metric() -> BLEU:
    """The sacrebleu ``BLEU`` of ``tok_bleu``: space-split, case-insensitive, unsmoothed."""
    return BLEU(tokenize="none", lowercase=True, smooth_method="none", force=True)


def tok_bleu(hyps: Sequence[str], refs: Sequence[str | Sequence[str]]) -> dict[str, Any]:
    """Tokenised, lowercased BLEU: the number most Multi30k papers report.

    Published Multi30k scores run ``multi-bleu.perl -lc`` on Moses-tokenised
    text against the official ``*.lc.norm.tok.*`` references. This is the same
    computation in sacrebleu: ``BLEU(tokenize="none", lowercase=True,
    smooth_method="none", force=True)`` -- split on spaces only (hypotheses must
    already be lowercased, punctuation-normalised and Moses-tokenised like the
    references), case-insensitive, and no smoothing (an n-gram order with no
    match gives 0, as in multi-bleu.perl). Not comparable with ``bleu_chrf``.

    Args:
      hyps: tokenised system outputs, e.g. "a man in a blue shirt ."
      refs: per hypothesis one reference or a list of references.

    Returns:
      ``bleu`` (percent) and ``signature``.
    """
    streams = ref_streams(hyps, refs)
    metric = tok_bleu_metric()
    score = metric.corpus_score(list(hyps), streams)
    return {"bleu": float(score.score), "signature": str(metric.get_signature())}


def exact_match(hyps: Sequence[Any], refs: Sequence[Any]) -> float:
    """Percent of hypotheses equal to their reference (synthetic tasks).

    Args:
      hyps, refs: strings or token-id sequences, compared element by element.
    """
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} references")
    if not hyps:
        return float("nan")

    def key(x: Any) -> Any:
        return x if isinstance(x, str) else [int(t) for t in x]

    hits = sum(key(h) == key(r) for h, r in zip(hyps, refs, strict=True))
    return 100.0 * hits / len(hyps)


class LengthBucket(NamedTuple):
    """Examples whose length lies in ``[lo, hi]`` (``hi`` None: no upper bound)."""

    label: str  # "<=5", "6-10", "21+"
    lo: int
    hi: int | None
    indices: np.ndarray  # [n] int64, positions in the input


class LengthScore(NamedTuple):
    """Mean of a per-example value within one length bucket."""

    label: str
    lo: int
    hi: int | None
    n: int  # examples in the bucket
    mean: float  # NaN for an empty bucket


def length_buckets(lengths: Sequence[int], edges: Sequence[int]) -> list[LengthBucket]:
    """Split examples by length, e.g. to compute corpus BLEU per bucket.

    Args:
      lengths: one length per example (source or reference tokens).
      edges: increasing inclusive upper bounds; ``(5, 10, 20)`` gives buckets
        <=5, 6-10, 11-20, 21+.

    Returns:
      ``len(edges) + 1`` buckets, empty ones included, so plots share an x axis.
    """
    if list(edges) != sorted(set(edges)):
        raise ValueError(f"edges {list(edges)} must be strictly increasing")
    lens = np.asarray(lengths, np.int64)
    out = []
    lo = 0
    for hi in edges:
        label = f"<={hi}" if lo == 0 else f"{lo}-{hi}"
        out.append(LengthBucket(label, lo, hi, np.flatnonzero((lens >= lo) & (lens <= hi))))
        lo = hi + 1
    out.append(LengthBucket(f"{lo}+", lo, None, np.flatnonzero(lens >= lo)))
    return out


def by_length(lengths: Sequence[int], values: Sequence[float] | np.ndarray,
              edges: Sequence[int]) -> list[LengthScore]:
    """Mean of ``values`` (correct flags or per-example scores) per length bucket.

    Args:
      lengths: one length per example.
      values: one number or bool per example (bools give accuracy in [0, 1]).
      edges: as in ``length_buckets``.
    """
    vals = np.asarray(values, np.float64)
    if vals.shape != (len(lengths),):
        raise ValueError(f"{len(lengths)} lengths but values of shape {vals.shape}")
    return [LengthScore(b.label, b.lo, b.hi, len(b.indices),
                        float(vals[b.indices].mean()) if len(b.indices) else float("nan"))
            for b in length_buckets(lengths, edges)]


def char_accuracy(hyps: Sequence[str], refs: Sequence[str]) -> dict[str, float]:
    """Position-wise character accuracy (synthetic copy / reverse tasks).

    Each example counts ``max(len(hyp), len(ref))`` positions, of which those
    where both strings hold the same character are matches; a too-short or
    too-long output therefore loses its missing or extra positions.

    Args:
      hyps, refs: one string each per example.

    Returns:
      ``char_accuracy``: 100 * matches / positions (NaN with no positions);
      ``char_matches`` and ``char_positions``, the raw counts.
    """
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} references")
    matches = positions = 0
    for h, r in zip(hyps, refs, strict=True):
        matches += sum(a == b for a, b in zip(h, r, strict=False))
        positions += max(len(h), len(r))
    return {"char_accuracy": 100.0 * matches / positions if positions else float("nan"),
            "char_matches": float(matches), "char_positions": float(positions)}




@functools.cache
def _detokenizer(lang: str) -> Any:
    from sacremoses import MosesDetokenizer

    return MosesDetokenizer(lang=lang)


def target_language(data_name: str) -> str:
    """The target language of a Multi30k dataset (``multi30k/en_de_tok`` -> ``de``, bare
    ``multi30k`` -> ``de``); ``en`` for other datasets, whose names do not say."""
    if not data_name.startswith("multi30k"):
        return "en"
    pair = data_name.rpartition("/")[2].split("_")
    return pair[1] if len(pair) >= 2 and len(pair[1]) == 2 else "de"  # multi30k: en_de


def moses_detokenize(text: str, capitalize: bool = True, lang: str = "en") -> str:
    """Undo Moses tokenisation (sacremoses, the maintained port of Moses'
    detokenizer.perl, with its rules for ``lang``), to score with sacreBLEU's own
    tokeniser: unescapes ``&quot;``-style entities, joins ``@-@`` hyphens, attaches
    punctuation and apostrophes. Lowercased text stays lowercased except, with
    ``capitalize``, its first letter (sentence case): true casing needs a cased model.

    Args:
      text: one tokenised sentence, tokens separated by spaces.
      capitalize: upper-case the first character.
      lang: the text's language (``en``, ``de``, ``fr``, ...).

    Returns:
      The detokenised sentence.
    """
    out = _detokenizer(lang).detokenize(text.split(), unescape=True) if text.strip() else ""
    if capitalize and out:
        out = out[0].upper() + out[1:]
    return out


def bleu_lowercase(hyps: Sequence[str], refs: Sequence[str | Sequence[str]]) -> dict[str, Any]:
    """sacreBLEU's default BLEU (13a, exponential smoothing) but case-insensitive (``-lc``).

    For detokenised output of a model trained on lowercased text, next to the
    cased ``bleu_chrf`` score, which such a model cannot do well on.

    Returns:
      ``bleu`` (percent) and ``signature``.
    """
    streams = ref_streams(hyps, refs)
    metric = BLEU(lowercase=True)
    score = metric.corpus_score(list(hyps), streams)
    return {"bleu": float(score.score), "signature": str(metric.get_signature())}
