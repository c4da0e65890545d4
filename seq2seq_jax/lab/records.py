"""One decoded example a record: stored as JSON lines, scored overall and by source length.

Source length is counted in task units (``UNITS``): letters of the word for
G2P, words of the tokenised source for translation (sacreBLEU's 13a tokeniser
for raw text), characters for the synthetic tasks. Scores per bucket are the
task's corpus metric over the bucket's examples: WER / PER for G2P, corpus BLEU
for translation, exact match and character accuracy for synthetic tasks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

from seq2seq_jax.evaluation import metrics
from seq2seq_jax.files import write_atomic

UNITS = {"g2p": "letters", "translation": "words", "synthetic": "characters"}
_TOKENIZE_13A = Tokenizer13a()


@dataclasses.dataclass(frozen=True)
class Record:
    """One decoded example, as stored in the JSONL file."""

    index: int  # position in the decoded split (G2P: unique words, first-seen order)
    source: str
    references: list[str]  # every accepted output (G2P: each pronunciation)
    hypothesis: str
    length: int  # source length in task units (``UNITS``)
    raw_references: list[str] | None = None  # cased, untokenised refs of tokenised data


# ---------------------------------------------------------------- records


def source_length(kind: str, source: str, tokenized: bool = True) -> int:
    """The length of ``source`` in the task's unit (``UNITS[kind]``)."""
    if kind == "g2p":
        return len(source.replace(" ", ""))
    if kind == "synthetic":
        return len(source)
    return len(source.split() if tokenized else _TOKENIZE_13A(source).split())


def save_records(path: str | Path, records: Sequence[Record]) -> None:
    """Write one JSON object a line."""
    write_atomic(path, "".join(json.dumps(dataclasses.asdict(r), ensure_ascii=False) + "\n"
                               for r in records))


def load_records(path: str | Path) -> list[Record]:
    """Read what ``save_records`` (or ``lean_records``) wrote.

    Raises:
      ValueError: a lean file whose references file changed since it was written.
    """
    with Path(path).open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    if not rows or "references_file" not in rows[0]:
        return [Record(**row) for row in rows]
    header, rows = rows[0], rows[1:]
    ref_path = Path(path).parent / header["references_file"]
    data = ref_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != header["references_sha256"]:
        raise ValueError(f"{ref_path} changed since {path} was written against it; keep the "
                         "decodes again (scripts/results.py --keep-decodes)")
    refs = {r["index"]: r for r in map(json.loads, data.decode("utf-8").splitlines())}
    return [Record(index=r["index"], hypothesis=r["hypothesis"], length=r["length"],
                   source=refs[r["index"]]["source"],
                   references=refs[r["index"]]["references"],
                   raw_references=refs[r["index"]].get("raw_references"))
            for r in rows]


def lean_records(records: Sequence[Record], path: Path,
                 references_dir: Path) -> tuple[bytes, Path, bytes]:
    """The records of ``path`` as a lean file, the hypotheses and source lengths only, and
    the test set's sources and references once, in ``references_dir`` (shared by every
    decode of the same examples: the file is named by its contents' hash).

    Returns:
      ``(the lean file's bytes, the references file, its bytes)``; ``load_records`` of
      the lean file gives ``records`` back.
    """
    refs = "".join(json.dumps({"index": r.index, "source": r.source,
                               "references": r.references,
                               "raw_references": r.raw_references},
                              ensure_ascii=False) + "\n" for r in records).encode()
    digest = hashlib.sha256(refs).hexdigest()
    split = path.stem.split("_")[0]
    ref_path = references_dir / f"{split}-{digest[:16]}.jsonl"
    header = {"references_file": os.path.relpath(ref_path, path.parent),
              "references_sha256": digest}
    lines = [json.dumps(header)] + [
        json.dumps({"index": r.index, "hypothesis": r.hypothesis, "length": r.length},
                   ensure_ascii=False) for r in records]
    return ("\n".join(lines) + "\n").encode(), ref_path, refs


# ---------------------------------------------------------------- scores


def is_tokenized(data_name: str) -> bool:
    """Whether translation data is the lowercased, tokenised variant (``..._tok``)."""
    return data_name.endswith("_tok")


def main_metric(kind: str, tokenized: bool = True) -> str:
    """The metric that ``by_length`` reports for every task kind."""
    if kind == "g2p":
        return "wer"
    if kind == "synthetic":
        return "exact_match"
    return "tok_bleu" if tokenized else "bleu"


def score_records(kind: str, records: Sequence[Record], tokenized: bool = True,
                  full: bool = True, lang: str = "en") -> dict[str, Any]:
    """The task's corpus metrics over ``records``.

    Args:
      kind: "g2p", "translation" or "synthetic".
      records: decoded examples; must not be empty.
      tokenized: translation only: hypotheses and references are lowercased
        Moses-tokenised text (``tok_bleu``, how published Multi30k BLEU is computed).
      full: translation only: also cased / lowercased sacreBLEU and chrF of the
        detokenised hypotheses against ``raw_references`` (when every record has them).

    Returns:
      G2P: ``metrics.g2p_scores`` (WER / PER best-of-references, with counts).
      Synthetic: ``exact_match``, ``exact_matches`` and ``metrics.char_accuracy``.
      Translation: ``tok_bleu`` (+ ``tok_bleu_signature``) for tokenised data, and
      ``bleu``, ``chrf`` (+ signatures) on detokenised or raw text.
    """
    hyps = [r.hypothesis for r in records]
    refs = [r.references for r in records]
    if kind == "g2p":
        return dict(metrics.g2p_scores(hyps, refs))
    if kind == "synthetic":
        firsts = [r[0] for r in refs]
        return {"exact_match": metrics.exact_match(hyps, firsts),
                "exact_matches": float(sum(h == r for h, r in zip(hyps, firsts, strict=True))),
                **metrics.char_accuracy(hyps, firsts)}
    if not tokenized:
        return metrics.bleu_chrf(hyps, refs)
    tok = metrics.tok_bleu(hyps, refs)
    out: dict[str, Any] = {"tok_bleu": tok["bleu"], "tok_bleu_signature": tok["signature"]}
    raw = [r.raw_references or [] for r in records]
    if full and all(raw):
        detok = [metrics.moses_detokenize(h, lang=lang) for h in hyps]
        out.update(metrics.bleu_chrf(detok, raw))
        lc = metrics.bleu_lowercase(detok, raw)
        out.update(bleu_lc=lc["bleu"], bleu_lc_signature=lc["signature"])
    return out


def bucket_scores(kind: str, records: Sequence[Record], edges: Sequence[int],
                  tokenized: bool = True) -> list[dict[str, Any]]:
    """Scores per source-length bucket (``metrics.length_buckets``), empty buckets included.

    Every bucket has ``label``, ``lo``, ``hi``, ``n`` (examples) and
    ``mean_length`` (None when empty), plus ``score_records`` of its examples
    (None values when empty): corpus BLEU over the bucket's sentences for
    translation, WER / PER with their counts for G2P, exact match and
    character accuracy for synthetic tasks. Counts add up to the total, and
    G2P / synthetic rates recombine exactly from the counts.
    """
    names = {"g2p": ("wer", "per", "words", "word_errors", "phone_edits", "ref_phones"),
             "synthetic": ("exact_match", "exact_matches", "char_accuracy", "char_matches",
                           "char_positions")}.get(kind, (main_metric(kind, tokenized),))
    out = []
    for b in metrics.length_buckets([r.length for r in records], edges):
        subset = [records[i] for i in b.indices]
        row: dict[str, Any] = {"label": b.label, "lo": b.lo, "hi": b.hi, "n": len(subset),
                               "mean_length": (float(np.mean([r.length for r in subset]))
                                               if subset else None)}
        scores = score_records(kind, subset, tokenized, full=False) if subset else {}
        row.update({k: scores.get(k) for k in names})
        out.append(row)
    return out
