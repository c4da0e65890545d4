"""SentencePiece subword tokenizers (Kudo & Richardson 2018) behind the ``Tokenizer`` API.

The same id layout and contract as every tokenizer of ``tokenizers`` (specials
0..3, ``encode`` never raises, ``decode`` stops at EOS); a model is trained only
on training text and travels inside ``to_dict`` as base64 bytes.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import sentencepiece as spm

from seq2seq_jax.constants import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from seq2seq_jax.data.tokenizers import SPECIAL_TOKENS, OnUnknown, Tokenizer, content_ids
from seq2seq_jax.files import write_atomic


def _utf8_safe(text: str) -> str:
    """``text`` with lone surrogates (which cannot become UTF-8) as U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


class SentencePieceTokenizer(Tokenizer):
    """A trained SentencePiece model (Kudo & Richardson 2018), BPE or unigram.

    The model's own normalisation applies first (``nmt_nfkc`` by default: NFKC,
    whitespace collapsing, control characters removed, U+FFFD and zero-width
    spaces turned into spaces); what survives it and is not covered becomes UNK
    and is reported. So ``decode(encode(x)) == x`` holds for text that is
    already normalised and covered by the vocabulary.
    """

    kind = "sentencepiece"

    def __init__(self, model_proto: bytes, path: str | None = None):
        """Args:
          model_proto: the serialised ``.model`` file.
          path: where that file lives, if anywhere (recorded in ``to_dict``).

        Raises:
          ValueError: the model's special ids are not pad=0, bos=1, eos=2, unk=3.
        """
        self._proto = bytes(model_proto)
        self.path = path
        self._sp = spm.SentencePieceProcessor(model_proto=self._proto)
        got = (self._sp.pad_id(), self._sp.bos_id(), self._sp.eos_id(), self._sp.unk_id())
        if got != (PAD_ID, BOS_ID, EOS_ID, UNK_ID):
            raise ValueError(f"SentencePiece model has pad/bos/eos/unk ids {got}; this project "
                             f"needs {(PAD_ID, BOS_ID, EOS_ID, UNK_ID)} (train it with "
                             "SentencePieceTokenizer.train)")

    @classmethod
    def train(cls, texts: Iterable[str], model_dir_or_prefix: str | os.PathLike[str],
              vocab_size: int, model_type: str = "bpe", character_coverage: float = 1.0,
              byte_fallback: bool = False, normalization_rule_name: str = "nmt_nfkc",
              **trainer_options: Any) -> SentencePieceTokenizer:
        """Train on ``texts`` and write ``<prefix>.model`` and ``<prefix>.vocab``.

        Args:
          texts: training sentences only (never validation or test).
          model_dir_or_prefix: an existing directory (files become
            ``<dir>/sentencepiece.*``) or a path prefix such as ``workdir/spm_en``.
          vocab_size: ids in total, the four specials included.
          model_type: "bpe" or "unigram".
          character_coverage: fraction of characters kept; 1.0 suits small
            alphabets, 0.9995 is SentencePiece's advice for CJK.
          byte_fallback: spell unknown characters as UTF-8 bytes instead of UNK.
          normalization_rule_name: "nmt_nfkc" (default), "nfkc", "identity", ...
          **trainer_options: passed on to ``SentencePieceTrainer.train``.

        Returns:
          The trained tokenizer, its ``path`` set to the written ``.model``.
        """
        if model_type not in ("bpe", "unigram"):
            raise ValueError(f"model_type={model_type!r}; choose 'bpe' or 'unigram'")
        prefix = Path(model_dir_or_prefix)
        if prefix.is_dir():
            prefix = prefix / "sentencepiece"
        prefix.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        options: dict[str, Any] = dict(
            vocab_size=vocab_size, model_type=model_type, character_coverage=character_coverage,
            byte_fallback=byte_fallback, normalization_rule_name=normalization_rule_name,
            pad_id=PAD_ID, bos_id=BOS_ID, eos_id=EOS_ID, unk_id=UNK_ID,
            pad_piece=SPECIAL_TOKENS[PAD_ID], bos_piece=SPECIAL_TOKENS[BOS_ID],
            eos_piece=SPECIAL_TOKENS[EOS_ID], unk_piece=SPECIAL_TOKENS[UNK_ID],
            minloglevel=2)
        options.update(trainer_options)
        spm.SentencePieceTrainer.train(
            sentence_iterator=(_utf8_safe(t) for t in texts), model_writer=buf, **options)
        model_path = prefix.with_name(prefix.name + ".model")
        write_atomic(model_path, buf.getvalue())
        tok = cls(buf.getvalue(), path=str(model_path))
        write_atomic(prefix.with_name(prefix.name + ".vocab"),
                     "".join(f"{tok.id_to_token(i)}\t{tok._sp.get_score(i)}\n"
                             for i in range(tok.vocab_size)))
        return tok

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SentencePieceTokenizer:
        """Load a ``.model`` file written by ``train`` or ``save``."""
        return cls(Path(path).read_bytes(), path=str(path))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the ``.model`` file to ``path``."""
        write_atomic(path, self._proto)
        self.path = str(path)

    @property
    def model_proto(self) -> bytes:
        return self._proto

    @property
    def vocab_size(self) -> int:
        return int(self._sp.get_piece_size())

    def encode(self, text: str, on_unknown: OnUnknown | None = None) -> list[int]:
        text = _utf8_safe(text)
        if on_unknown is None:
            return list(self._sp.encode(text))
        ids = []
        for piece in self._sp.encode(text, return_type="proto").pieces:
            if piece.id == UNK_ID:
                on_unknown(piece.surface)
            ids.append(piece.id)
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        kept = content_ids(ids)
        self._check_ids(kept)
        return str(self._sp.decode(kept))

    def tokens(self, text: str) -> list[str]:
        return list(self._sp.encode(_utf8_safe(text), out_type=str))

    def id_to_token(self, i: int) -> str:
        self._check_ids([int(i)])
        return str(self._sp.id_to_piece(int(i)))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path,
                "model_proto": base64.b64encode(self._proto).decode("ascii")}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SentencePieceTokenizer:
        return cls(base64.b64decode(d["model_proto"]), path=d.get("path"))


def train_sentencepiece(examples: Iterable[Mapping[str, str]], model_dir: str | os.PathLike[str],
                        vocab_size: int, joint: bool = True, **kwargs: Any,
                        ) -> tuple[SentencePieceTokenizer, SentencePieceTokenizer]:
    """Source and target tokenizers for translation, trained on training examples.

    Args:
      examples: ``{"source": str, "target": str}`` dicts of the train split.
      model_dir: writes ``spm_joint.model`` (joint) or ``spm_source.model`` and
        ``spm_target.model``.
      vocab_size: per model.
      joint: one shared vocabulary trained on sources and targets together
        (needed for shared embeddings); then both returned tokenizers are the
        same object.
      **kwargs: ``SentencePieceTokenizer.train`` options.

    Returns:
      ``(source_tokenizer, target_tokenizer)``.
    """
    examples = list(examples)
    model_dir = Path(model_dir)
    if joint:
        texts = [ex["source"] for ex in examples] + [ex["target"] for ex in examples]
        tok = SentencePieceTokenizer.train(texts, model_dir / "spm_joint", vocab_size, **kwargs)
        return tok, tok
    src = SentencePieceTokenizer.train([ex["source"] for ex in examples],
                                       model_dir / "spm_source", vocab_size, **kwargs)
    tgt = SentencePieceTokenizer.train([ex["target"] for ex in examples],
                                       model_dir / "spm_target", vocab_size, **kwargs)
    return src, tgt

