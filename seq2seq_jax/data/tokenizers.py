"""Text <-> token ids: the ``Tokenizer`` API, characters and whitespace-separated symbols.

Every tokenizer shares one id layout: 0..3 are ``<pad>``, ``<bos>``, ``<eos>``,
``<unk>`` (``model_config.PAD_ID`` .. ``UNK_ID``), real tokens start at 4.

``encode`` never adds BOS/EOS (batching does) and never raises on odd input
(arbitrary unicode, control characters, lone surrogates, empty or very long
strings): whatever is not in the vocabulary becomes ``UNK_ID`` and is reported
through ``on_unknown`` (see ``UnknownCounter``) or ``unknown_tokens``.
``decode`` stops at the first EOS and skips PAD/BOS; UNK decodes to
``UNK_TEXT``. ``to_dict`` is JSON-serialisable and self-contained (a
SentencePiece model travels as base64 bytes), so ``from_dict`` restores a
tokenizer from a run's workdir alone. SentencePiece subwords: ``subwords``.
"""

from __future__ import annotations

import abc
import collections
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, TypeVar

from seq2seq_jax.constants import BOS_ID, EOS_ID, PAD_ID, UNK_ID

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
