"""From a config to model-ready data: examples, tokenizers, encoded pairs.

The task kind, and so the metrics, follow from the dataset name
(``seq2seq_jax.config.task_kind``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ml_collections

from seq2seq_jax.data import batching, subwords, tokenizers
from seq2seq_jax.data.synthetic import SyntheticSpec
from seq2seq_jax.files import write_atomic
from seq2seq_jax.layout import SENTENCEPIECE_DIR

if TYPE_CHECKING:  # examples.py imports tfds: only to read datasets
    from seq2seq_jax.data.examples import Example

log = logging.getLogger(__name__)



def load_examples(config: ml_collections.ConfigDict, split: str,
                  limit: int = 0) -> list[Example]:
    """One split of ``config.data.name`` as ``{"source", "target", ...}`` dicts."""
    d = config.data
    if limit and not d.name.startswith("synthetic/") and "[" not in split:
        split = f"{split}[:{limit}]"  # read only what is used
    from seq2seq_jax.data import sources  # tfds: imported when data is read

    examples = sources.load_split(
        d.name, split, data_dir=d.data_dir or None, manual_dir=d.manual_dir or None,
        skip_bad_lines=d.skip_bad_lines,
        synthetic=SyntheticSpec(**d.synthetic.to_dict()))
    return examples[:limit] if limit else examples


def _fit(kind: str, texts: Sequence[str]) -> tokenizers.Tokenizer:
    if kind == "char":
        return tokenizers.CharTokenizer.fit(texts)
    return tokenizers.SymbolTokenizer.fit(texts)


def build_tokenizers(config: ml_collections.ConfigDict, train: Sequence[Example],
                     workdir: str | Path) -> tuple[tokenizers.Tokenizer, tokenizers.Tokenizer]:
    """Fit (or train, for sentencepiece) the source and target tokenizers on train."""
    d = config.data
    if "sentencepiece" in (d.src_tokenizer, d.tgt_tokenizer):
        if d.src_tokenizer != d.tgt_tokenizer:
            raise ValueError("data.src_tokenizer and data.tgt_tokenizer must both be "
                             "'sentencepiece' when either is")
        model_dir = Path(workdir) / SENTENCEPIECE_DIR
        model_dir.mkdir(parents=True, exist_ok=True)
        return subwords.train_sentencepiece(
            train, model_dir, d.vocab_size, joint=d.joint_vocab, model_type=d.spm_model_type)
    return (_fit(d.src_tokenizer, [e["source"] for e in train]),
            _fit(d.tgt_tokenizer, [e["target"] for e in train]))


def save_tokenizers(path: str | Path, src: tokenizers.Tokenizer,
                    tgt: tokenizers.Tokenizer) -> None:
    write_atomic(path, json.dumps({"source": src.to_dict(), "target": tgt.to_dict()}))


def tokenizers_to_dict(src: tokenizers.Tokenizer, tgt: tokenizers.Tokenizer) -> dict[str, Any]:
    return {"source": src.to_dict(), "target": tgt.to_dict()}


def source_record(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """The fingerprint of the sources ``config``'s data is prepared from
    (``sources.source_record``), without the per-file list."""
    d = config.data
    from seq2seq_jax.data import sources

    rec = sources.source_record(d.name, d.manual_dir or None)
    return {k: v for k, v in rec.items() if k != "files"}


def tokenizer_from_dict(d: Mapping[str, Any]) -> tokenizers.Tokenizer:
    """Restore a tokenizer of any kind (SentencePiece too) from ``Tokenizer.to_dict()``.

    Raises:
      ValueError: an unknown ``kind``.
    """
    kinds: dict[str, Callable[[Mapping[str, Any]], tokenizers.Tokenizer]] = {
        tokenizers.CharTokenizer.kind: lambda d: tokenizers.CharTokenizer(d["vocab"]),
        tokenizers.SymbolTokenizer.kind: lambda d: tokenizers.SymbolTokenizer(d["vocab"]),
        subwords.SentencePieceTokenizer.kind: subwords.SentencePieceTokenizer.from_dict,
    }
    kind = d.get("kind")
    if kind not in kinds:
        raise ValueError(f"tokenizer kind {kind!r} is not one of {sorted(kinds)}")
    return kinds[kind](d)


def tokenizers_from_dict(d: dict[str, Any]) -> tuple[tokenizers.Tokenizer,
                                                     tokenizers.Tokenizer]:
    return tokenizer_from_dict(d["source"]), tokenizer_from_dict(d["target"])


def batch_config(config: ml_collections.ConfigDict, eval_mode: bool = False,
                 ) -> batching.BatchConfig:
    d = config.data
    return batching.BatchConfig(
        batch_size=d.eval_batch_size if eval_mode else d.batch_size,
        max_src_len=d.max_src_len, max_tgt_len=d.max_tgt_len, truncate=d.truncate)


def encode(examples: Sequence[Example], src_tok: tokenizers.Tokenizer,
           tgt_tok: tokenizers.Tokenizer) -> batching.EncodedPairs:
    """Token ids for every example; unknown symbols become <unk>, with one warning."""
    unknown = tokenizers.UnknownCounter()
    pairs = batching.encode_pairs(examples, src_tok, tgt_tok, on_unknown=unknown)
    if unknown:
        log.warning("%d unknown symbols mapped to <unk>; most common: %s",
                    unknown.total(), unknown.most_common(5))
    return pairs
