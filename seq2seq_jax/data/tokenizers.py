"""Text <-> token ids: characters, whitespace-separated symbols, SentencePiece.

Every tokenizer shares one id layout: 0..3 are ``<pad>``, ``<bos>``, ``<eos>``,
``<unk>`` (``model_config.PAD_ID`` .. ``UNK_ID``), real tokens start at 4.

``encode`` never adds BOS/EOS (batching does) and never raises on odd input
(arbitrary unicode, control characters, lone surrogates, empty or very long
strings): whatever is not in the vocabulary becomes ``UNK_ID`` and is reported
through ``on_unknown`` (see ``UnknownCounter``) or ``unknown_tokens``.
``decode`` stops at the first EOS and skips PAD/BOS; UNK decodes to
``UNK_TEXT``. ``to_dict`` is JSON-serialisable and self-contained (a
SentencePiece model travels as base64 bytes), so ``from_dict`` restores a
tokenizer from a run's workdir alone.
"""

from __future__ import annotations

import abc
import base64
import collections
import io
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import sentencepiece as spm

from seq2seq_jax.files import write_atomic
from seq2seq_jax.model_config import BOS_ID, EOS_ID, PAD_ID, UNK_ID

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")
NUM_SPECIAL = len(SPECIAL_TOKENS)
UNK_TEXT = "\u2047"  # "⁇", what SentencePiece itself decodes <unk> to

OnUnknown = Callable[[str], None]
_T = TypeVar("_T", bound="_TableTokenizer")


def content_ids(ids: Iterable[int]) -> list[int]:
    """The ids before the first EOS, without PAD and BOS.

    Args:
      ids: token ids (a list or a 1-D integer array), e.g. a decoder output row.

    Returns:
      Plain Python ints.
    """
    out = []
    for i in ids:
        i = int(i)
        if i == EOS_ID:
            break
        if i not in (PAD_ID, BOS_ID):
            out.append(i)
    return out


class UnknownCounter(collections.Counter[str]):
    """An ``on_unknown`` callback that counts the unknown tokens it is given.

    ``counter = UnknownCounter(); tok.encode(text, on_unknown=counter)``, then
    ``counter.total()`` and ``counter.most_common(10)`` for the report.
    """

    def __call__(self, token: str) -> None:
        self[token] += 1


class Tokenizer(abc.ABC):
    """The interface every tokenizer offers."""

    kind: ClassVar[str]

    @property
    @abc.abstractmethod
    def vocab_size(self) -> int:
        """Number of ids, specials included."""

    @abc.abstractmethod
    def encode(self, text: str, on_unknown: OnUnknown | None = None) -> list[int]:
        """Token ids of ``text``, no BOS/EOS; unknowns become ``UNK_ID``.

        Args:
          text: any string.
          on_unknown: called once with the surface string of each unknown token.
        """

    @abc.abstractmethod
    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids`` up to the first EOS, PAD/BOS skipped.

        Raises:
          ValueError: an id outside ``[0, vocab_size)`` (a vocabulary mismatch).
        """

    @abc.abstractmethod
    def tokens(self, text: str) -> list[str]:
        """Surface strings aligned one to one with ``encode(text)`` (plot labels)."""

    @abc.abstractmethod
    def id_to_token(self, i: int) -> str:
        """The vocabulary entry of id ``i`` (specials as ``<pad>`` ...)."""

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description that ``from_dict`` restores."""

    def unknown_tokens(self, text: str) -> list[str]:
        """The tokens of ``text`` that encode to ``UNK_ID``, in order."""
        found: list[str] = []
        self.encode(text, on_unknown=found.append)
        return found

    def _check_ids(self, ids: Sequence[int]) -> None:
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"id {bad[0]} is outside this {self.kind} tokenizer's vocabulary "
                             f"[0, {self.vocab_size}); was it built from another vocabulary?")


class _TableTokenizer(Tokenizer):
    """A tokenizer over an explicit token list: ids 4.. index ``vocab``."""

    def __init__(self, vocab: Sequence[str]):
        """Args:
          vocab: the non-special tokens in id order (id 4 first), unique.
        """
        vocab = list(vocab)
        for tok in vocab:
            self._check_token(tok)
            if tok in SPECIAL_TOKENS:
                raise ValueError(f"{tok!r} is a special token; it cannot be a vocabulary entry")
        if len(set(vocab)) != len(vocab):
            dup = next(t for t, c in collections.Counter(vocab).items() if c > 1)
            raise ValueError(f"duplicate token {dup!r} in {self.kind} vocabulary")
        self._itos = list(SPECIAL_TOKENS) + vocab
        self._stoi = {tok: i + NUM_SPECIAL for i, tok in enumerate(vocab)}

    @classmethod
    def fit(cls: type[_T], texts: Iterable[str], min_count: int = 1) -> _T:
        """Build the vocabulary from training texts.

        Args:
          texts: training strings (e.g. every train example's ``source``).
          min_count: tokens seen fewer times map to UNK, so the model meets UNK
            in training.

        Returns:
          A tokenizer whose tokens are sorted by code point (stable across runs).
        """
        counts: collections.Counter[str] = collections.Counter()
        for text in texts:
            counts.update(cls._split(text))
        return cls(sorted(t for t, c in counts.items()
                          if c >= min_count and t not in SPECIAL_TOKENS))

    @staticmethod
    @abc.abstractmethod
    def _split(text: str) -> list[str]: ...

    @staticmethod
    @abc.abstractmethod
    def _join(tokens: list[str]) -> str: ...

    @abc.abstractmethod
    def _check_token(self, token: str) -> None: ...

    @property
    def vocab_size(self) -> int:
        return len(self._itos)

    @property
    def vocab(self) -> list[str]:
        """The non-special tokens in id order."""
        return self._itos[NUM_SPECIAL:]

    def encode(self, text: str, on_unknown: OnUnknown | None = None) -> list[int]:
        ids = []
        for tok in self._split(text):
            i = self._stoi.get(tok, UNK_ID)
            if i == UNK_ID and on_unknown is not None:
                on_unknown(tok)
            ids.append(i)
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        kept = content_ids(ids)
        self._check_ids(kept)
        return self._join([UNK_TEXT if i == UNK_ID else self._itos[i] for i in kept])

    def tokens(self, text: str) -> list[str]:
        return self._split(text)

    def id_to_token(self, i: int) -> str:
        self._check_ids([int(i)])
        return self._itos[int(i)]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "vocab": self.vocab}


class CharTokenizer(_TableTokenizer):
    """One token per Unicode code point (graphemes for G2P sources).

    No normalisation, so ``decode(encode(x)) == x`` whenever every character of
    ``x`` is in the vocabulary. Whitespace is an ordinary character.
    """

    kind = "char"

    @staticmethod
    def _split(text: str) -> list[str]:
        return list(text)

    @staticmethod
    def _join(tokens: list[str]) -> str:
        return "".join(tokens)

    def _check_token(self, token: str) -> None:
        if len(token) != 1:
            raise ValueError(f"char vocabulary entry {token!r} is not one character")


class SymbolTokenizer(_TableTokenizer):
    """Whitespace-separated symbols (phonemes for G2P targets).

    ``decode`` joins with single spaces, so ``decode(encode(x)) == x`` for
    in-vocabulary text whose symbols are separated by single spaces without
    leading or trailing whitespace (``" ".join(x.split()) == x``).
    """

    kind = "symbol"

    @staticmethod
    def _split(text: str) -> list[str]:
        return text.split()

    @staticmethod
    def _join(tokens: list[str]) -> str:
        return " ".join(tokens)

    def _check_token(self, token: str) -> None:
        if not token or token.split() != [token]:
            raise ValueError(f"symbol vocabulary entry {token!r} is empty or has whitespace")


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


_KINDS: dict[str, Callable[[Mapping[str, Any]], Tokenizer]] = {
    CharTokenizer.kind: lambda d: CharTokenizer(d["vocab"]),
    SymbolTokenizer.kind: lambda d: SymbolTokenizer(d["vocab"]),
    SentencePieceTokenizer.kind: lambda d: SentencePieceTokenizer(
        base64.b64decode(d["model_proto"]), path=d.get("path")),
}


def from_dict(d: Mapping[str, Any]) -> Tokenizer:
    """Restore a tokenizer from ``Tokenizer.to_dict()`` output.

    Raises:
      ValueError: an unknown ``kind``.
    """
    kind = d.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"tokenizer kind {kind!r} is not one of {sorted(_KINDS)}")
    return _KINDS[kind](d)
