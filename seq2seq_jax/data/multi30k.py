"""`multi30k`: Multi30k Task 1 sentence pairs (English, German, French).

Configs `<src>_<tgt>_<raw|tok>` for the directions en_de, de_en, en_fr, fr_en:

* raw: the original captions (cased, untokenized), `X.<lang>.gz` at the top level.
* tok: the official lowercased, punctuation-normalized, Moses-tokenized files,
  `tok/X.lc.norm.tok.<lang>` (plain or `.gz`), the ones most Multi30k BLEU is computed on.

Splits: train (29,000 pairs, files `train.*`), validation (1,014, `val.*`) and test
(1,000, `test_2016_flickr.*`). Examples are `{"source": str, "target": str}`, stored
in file order (example i is line i + 1 unless lines were skipped), so hypotheses can be
written next to the official reference files.

Where the files come from:

1. A manual directory laid out like the public repository's `data/task1/` (raw files
   at the top level, `tok/` beside them): pass it as the tfds manual dir,
   `download_config=tfds.download.DownloadConfig(manual_dir=PATH)`.
2. Otherwise (no manual dir, or an empty one) the same files are downloaded from
   github.com/multi30k/dataset by the tfds download manager (`_download`, below).

A manual directory that exists but lacks a file is an error naming the file, never a
silent download. `Multi30k(skip_bad_lines=True)` drops pairs with an empty side or
invalid UTF-8 and counts them in `builder.info.metadata["skipped_lines"]`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tensorflow_datasets as tfds

from seq2seq_jax.data.builder import TextFileBuilder
from seq2seq_jax.data.errors import manual_dir_hint
from seq2seq_jax.data.text_files import find_file, manual_dir_of, read_parallel

REPO_URL = "https://github.com/multi30k/dataset"
_RAW_URL = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1"
DIRECTIONS = (("en", "de"), ("de", "en"), ("en", "fr"), ("fr", "en"))
SPLIT_STEMS = {"train": "train", "validation": "val", "test": "test_2016_flickr"}
HOW_TO_GET = (
    f"Multi30k comes from {REPO_URL} (folder data/task1/: raw/*.gz and tok/). "
    + manual_dir_hint() + " The directory holds the raw files at its top level and the "
    "tokenized ones in tok/. Without a manual directory the files are downloaded."
)

_CITATION = """@inproceedings{elliott-etal-2016-multi30k,
  title = {{Multi30K}: Multilingual {English}-{German} Image Descriptions},
  author = {Elliott, Desmond and Frank, Stella and Sima'an, Khalil and Specia, Lucia},
  booktitle = {Proceedings of the 5th Workshop on Vision and Language},
  year = {2016},
}"""

_log = logging.getLogger(__name__)


@dataclasses.dataclass(eq=False)
class Multi30kConfig(tfds.core.BuilderConfig):
    """One translation direction in one preprocessing."""

    source_lang: str = "en"
    target_lang: str = "de"
    tokenized: bool = False  # the official lc.norm.tok files instead of raw text


def file_name(split: str, lang: str, tokenized: bool) -> str:
    """The file of one split and language, relative to the manual dir, without `.gz`.

    Args:
      split: "train", "validation" or "test".
      lang: "en", "de" or "fr".
      tokenized: the tok/ variant.

    Returns:
      e.g. "val.de" or "tok/val.lc.norm.tok.de".
    """
    stem = SPLIT_STEMS[split]
    return f"tok/{stem}.lc.norm.tok.{lang}" if tokenized else f"{stem}.{lang}"


def _make_configs() -> list[Multi30kConfig]:
    configs = []
    for tokenized in (False, True):
        for src, tgt in DIRECTIONS:
            kind = "tok" if tokenized else "raw"
            configs.append(Multi30kConfig(
                name=f"{src}_{tgt}_{kind}", source_lang=src, target_lang=tgt,
                tokenized=tokenized,
                description=f"{src} -> {tgt}, {kind} text."))
    return configs


class Multi30k(TextFileBuilder):
    """Multi30k Task 1 translation pairs, from a manual directory or GitHub."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {  # noqa: RUF012 (tfds declares it a plain class attribute)
        "1.0.0": "First release: Task 1 train/val/test_2016_flickr, en<->de, en<->fr, "
                 "raw and tok.",
    }
    BUILDER_CONFIGS = _make_configs()
    DEFAULT_BUILDER_CONFIG_NAME = "en_de_tok"
    MANUAL_DOWNLOAD_INSTRUCTIONS = HOW_TO_GET

    def _info(self) -> tfds.core.DatasetInfo:
        features = tfds.features.FeaturesDict({"source": tfds.features.Text(),
                                                "target": tfds.features.Text()})
        return self._text_info(features, description=__doc__, homepage=REPO_URL,
                               citation=_CITATION)

    def _split_generators(self, dl_manager: Any) -> dict[str, Any]:
        config = self.builder_config
        assert isinstance(config, Multi30kConfig)
        langs = (config.source_lang, config.target_lang)
        folder = manual_dir_of(dl_manager)
        if folder.is_dir() and any(folder.iterdir()):
            paths = {(split, lang): find_file(folder, file_name(split, lang, config.tokenized),
                                              how_to_get=HOW_TO_GET)
                     for split in SPLIT_STEMS for lang in langs}
        else:
            _log.info("No Multi30k files in %s; downloading from %s", folder, REPO_URL)
            paths = _download(dl_manager, langs, config.tokenized)
        generators = {}
        for split in SPLIT_STEMS:
            result = self._count_skipped(split, read_parallel(
                paths[split, langs[0]], paths[split, langs[1]],
                skip_bad_lines=self._skip_bad_lines))
            generators[split] = self._generate_examples(result.rows)
        return generators

    def _generate_examples(
        self, pairs: list[tuple[str, ...]]
    ) -> Iterator[tuple[int, dict[str, str]]]:
        for i, (source, target) in enumerate(pairs):
            yield i, {"source": source, "target": target}


# --- Download path (needs internet; not exercised by the tests) -------------------------


def _download(
    dl_manager: Any, langs: tuple[str, str], tokenized: bool
) -> dict[tuple[str, str], Path]:
    """Fetches the needed files from the public repository with the tfds download manager.

    Raw files are gzipped upstream, tokenized ones are plain text; the readers detect
    gzip from the content, so the downloaded files are read as they are.
    """
    urls = {}
    for split in SPLIT_STEMS:
        for lang in langs:
            name = file_name(split, lang, tokenized)
            subdir = "tok" if tokenized else "raw"
            upstream = name.removeprefix("tok/") + ("" if tokenized else ".gz")
            urls[f"{split}.{lang}"] = f"{_RAW_URL}/{subdir}/{upstream}"
    fetched = dl_manager.download(urls)
    return {(split, lang): Path(str(fetched[f"{split}.{lang}"]))
            for split in SPLIT_STEMS for lang in langs}
