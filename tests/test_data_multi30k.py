"""Tests for seq2seq_jax.data.multi30k: the real corpus from ../shared/data, and bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import tensorflow_datasets as tfds
from tfds_local import prepare_local

from seq2seq_jax.data.examples import read_all, read_split
from seq2seq_jax.data.multi30k import SPLIT_STEMS, Multi30k, file_name
from seq2seq_jax.errors import DataError

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "multi30k"
needs_shared = pytest.mark.skipif(
    not (SHARED / "train.en.gz").is_file(),
    reason=f"Multi30k files not found at {SHARED} (the project's shared data folder)")
SIZES = {"train": 29_000, "validation": 1_014, "test": 1_000}


def prepare(data_dir, manual_dir, config, skip_bad_lines=False) -> Multi30k:
    return prepare_local(Multi30k, data_dir, manual_dir, config=config,
                         skip_bad_lines=skip_bad_lines)


@pytest.fixture(scope="module")
def real(shared_tfds):
    """{config: {split: examples}} for the three configs the tests compare."""
    out = {}
    for config in ("en_de_tok", "en_de_raw", "de_en_tok"):
        builder = shared_tfds.prepare(f"multi30k/{config}", SHARED)
        out[config] = {split: read_split(builder, split) for split in SIZES}
    return out


@needs_shared
def test_split_sizes(real):
    for config, splits in real.items():
        assert {s: len(ex) for s, ex in splits.items()} == SIZES, config


@needs_shared
def test_tok_is_lowercased_and_tokenized_raw_is_not(real):
    tok = real["en_de_tok"]["train"]
    raw = real["en_de_raw"]["train"]
    assert all(ex["source"] == ex["source"].lower() for ex in tok)
    assert sum(ex["source"] != ex["source"].lower() for ex in raw) > 20_000
    assert sum(ex["source"].endswith(" .") for ex in tok) > 20_000  # Moses splits the "."
    assert not any(ex["source"].endswith(" .") for ex in raw)
    assert any("ä" in ex["target"] or "ü" in ex["target"] for ex in raw)  # UTF-8 kept


@needs_shared
def test_direction_swap(real):
    for split in SIZES:
        forward = {(ex["source"], ex["target"]) for ex in real["en_de_tok"][split]}
        backward = {(ex["target"], ex["source"]) for ex in real["de_en_tok"][split]}
        assert forward == backward
        assert len(forward) > 0.98 * SIZES[split]  # a few captions repeat


@needs_shared
def test_examples_keep_file_order(real):
    for split in SIZES:
        en = gzip.decompress((SHARED / f"{file_name(split, 'en', True)}.gz").read_bytes())
        lines = en.decode("utf-8").splitlines()
        assert [ex["source"] for ex in real["en_de_tok"][split]] == [x.strip() for x in lines]


def test_configs_cover_both_preprocessings_and_four_directions():
    names = {c.name for c in Multi30k.BUILDER_CONFIGS}
    assert names == {f"{d}_{k}" for d in ("en_de", "de_en", "en_fr", "fr_en")
                     for k in ("raw", "tok")}


def write_corpus(folder: Path, lines: dict[tuple[str, str], bytes], tokenized: bool):
    """Writes the six files of an en-de corpus; `lines` overrides (split, lang) files."""
    for split in SPLIT_STEMS:
        for lang in ("en", "de"):
            path = folder / file_name(split, lang, tokenized)
            path.parent.mkdir(parents=True, exist_ok=True)
            default = f"{split} {lang} one\n{split} {lang} two\n".encode()
            data = lines.get((split, lang), default)
            if lang == "en":  # gz and plain are both accepted
                path.with_name(path.name + ".gz").write_bytes(gzip.compress(data))
            else:
                path.write_bytes(data)


def test_small_manual_dir_tok_layout(tmp_path):
    write_corpus(tmp_path / "m", {}, tokenized=True)
    builder = prepare(tmp_path / "tfds", tmp_path / "m", "de_en_tok")
    val = read_all(builder.as_data_source(split="validation"))
    assert sorted((ex["source"], ex["target"]) for ex in val) == [
        ("validation de one", "validation en one"), ("validation de two", "validation en two")]


@pytest.mark.parametrize(
    ("override", "bad_file", "line", "why"),
    [
        ({("train", "de"): b"a\n\n"}, "train.de", 2, "empty sentence"),
        ({("test", "en"): b"ok\n\xff\xfe\n"}, "test_2016_flickr.en.gz", 2, "invalid UTF-8"),
    ],
)
def test_bad_pairs_raise_or_are_skipped_and_counted(tmp_path, override, bad_file, line, why):
    write_corpus(tmp_path / "m", override, tokenized=False)
    with pytest.raises(DataError, match=rf"/{bad_file}, line {line}: {why}"):
        prepare(tmp_path / "tfds", tmp_path / "m", "en_de_raw")
    builder = prepare(tmp_path / "skip", tmp_path / "m", "en_de_raw", skip_bad_lines=True)
    skipped = builder.info.metadata["skipped_lines"]
    assert sum(skipped.values()) == 1
    split = next(s for s, n in skipped.items() if n)
    assert len(read_all(builder.as_data_source(split=split))) == 1


def test_line_count_mismatch_names_both_files(tmp_path):
    write_corpus(tmp_path / "m", {("validation", "de"): b"nur eine zeile\n"}, tokenized=False)
    for skip in (False, True):
        with pytest.raises(DataError, match=r"val\.en\.gz has 2 lines but .*val\.de has 1"):
            prepare(tmp_path / f"tfds{skip}", tmp_path / "m", "en_de_raw", skip)


def test_manual_dir_missing_a_file_names_it(tmp_path):
    write_corpus(tmp_path / "m", {}, tokenized=False)  # raw only, no tok/
    with pytest.raises(DataError, match=r"tok/train\.lc\.norm\.tok\.en\.gz exists.*"
                                        r"github\.com/multi30k/dataset"):
        prepare(tmp_path / "tfds", tmp_path / "m", "en_de_tok")


@pytest.mark.parametrize("tokenized", [False, True])
def test_without_manual_dir_the_files_are_downloaded_from_github(tmp_path, monkeypatch,
                                                                 tokenized):
    """The download path, offline: the download manager's fetch is replaced by a copy."""
    upstream = tmp_path / "upstream"  # laid out as the repository: raw/*.gz, tok/ plain
    for split in SPLIT_STEMS:
        for lang in ("en", "de"):
            text = f"{split} {lang} one\n{split} {lang} two\n".encode()
            name = file_name(split, lang, tokenized)
            path = upstream / name if tokenized else upstream / "raw" / f"{name}.gz"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text if tokenized else gzip.compress(text))
    requested = []
    prefix = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/"

    def fake_download(self, urls):
        requested.extend(urls.values())
        return {key: upstream / url.removeprefix(prefix) for key, url in urls.items()}

    monkeypatch.setattr(tfds.download.DownloadManager, "download", fake_download)
    config = "de_en_tok" if tokenized else "de_en_raw"
    builder = prepare(tmp_path / "tfds", None, config)
    assert len(requested) == 6
    assert all(url.startswith(prefix + ("tok/" if tokenized else "raw/")) for url in requested)
    assert all(url.endswith(".gz") != tokenized for url in requested)
    test = read_split(builder, "test")
    assert [(ex["source"], ex["target"]) for ex in test] == [
        ("test de one", "test en one"), ("test de two", "test en two")]
