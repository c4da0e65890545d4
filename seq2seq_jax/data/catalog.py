"""Any tfds catalog dataset with two text features, as `{"source", "target"}` examples.

`load_catalog("ted_hrlr_translate/pt_to_en", "train")` reads the dataset through
`tfds.data_source` (ArrayRecord files, no TensorFlow) and maps its two text features
to source / target. Which feature is the source: `source_key` / `target_key` when
given, else the builder's `supervised_keys` when both are text features, else the only
two text features in the order the builder lists them (sorted by name for a
`Translation` feature) when there are exactly two; otherwise a `DataError` lists the
text features to choose from. The original features are kept beside source / target.

Preparing a catalog dataset runs its own download code, which needs internet and, for
some older builders, TensorFlow; the reading side never does. Runs that prepare the
same dataset together take turns (`preparing`), as for the local datasets.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import tensorflow_datasets as tfds

from seq2seq_jax.data.examples import Example, decode_value, read_all
from seq2seq_jax.data.preparing import preparing
from seq2seq_jax.errors import DataError


def text_features(builder: Any) -> list[str]:
    """The top-level features of a builder that hold one text string.

    Args:
      builder: a `tfds.core.DatasetBuilder`.

    Returns:
      Feature names in the builder's order (e.g. ["en", "pt"]).
    """
    features = builder.info.features
    return [key for key, feature in features.items()
            if isinstance(feature, tfds.features.Text)]


def choose_keys(
    builder: Any, source_key: str | None = None, target_key: str | None = None
) -> tuple[str, str]:
    """Decides which text feature is the source and which the target.

    Args:
      builder: a `tfds.core.DatasetBuilder`.
      source_key: the feature to use as source, or None to infer.
      target_key: the feature to use as target, or None to infer.

    Returns:
      (source feature name, target feature name).

    Raises:
      DataError: a named key is not a text feature, or the choice is ambiguous.
    """
    name = builder.info.full_name
    texts = text_features(builder)
    for key in (source_key, target_key):
        if key is not None and key not in texts:
            raise DataError(f"{name} has no text feature {key!r}; its text features "
                            f"are {texts}.")
    if source_key is not None and target_key is not None:
        return source_key, target_key
    supervised = builder.info.supervised_keys
    if (isinstance(supervised, tuple | list) and len(supervised) == 2
            and all(isinstance(k, str) and k in texts for k in supervised)):
        pair = (str(supervised[0]), str(supervised[1]))
    elif len(texts) == 2:
        pair = (texts[0], texts[1])
    else:
        raise DataError(
            f"{name} has text features {texts} and no usable supervised_keys: pass "
            "source_key=... and target_key=... (--config.data.source_key=...).")
    if source_key is not None:  # only one was named: the other is the remaining one
        return source_key, pair[1] if pair[0] == source_key else pair[0]
    if target_key is not None:
        return (pair[0] if pair[1] == target_key else pair[1]), target_key
    return pair


def load_catalog(
    name: str,
    split: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    source_key: str | None = None,
    target_key: str | None = None,
    download: bool = True,
) -> list[Example]:
    """Reads one split of a tfds catalog dataset as source/target examples.

    Args:
      name: a tfds name, "dataset[/config][:version]", e.g. "ted_hrlr_translate/pt_to_en".
      split: a tfds split, e.g. "train", "validation", "test[:100]".
      data_dir: where prepared datasets live (None: TFDS_DATA_DIR or ~/tensorflow_datasets).
      source_key: the text feature to use as source (see the module docstring).
      target_key: the text feature to use as target.
      download: prepare the dataset first if it is not in data_dir.

    Returns:
      Decoded examples with "source" and "target" plus the original features.

    Raises:
      DataError: unknown dataset, or no clear pair of text features.
    """
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as e:
        raise DataError(f"tfds has no dataset {name!r}: {e}") from e
    src, tgt = choose_keys(builder, source_key, target_key)
    to_prepare = download and not Path(builder.data_dir).is_dir()  # one process at a time
    with preparing(builder.data_dir) if to_prepare else contextlib.nullcontext():
        data_source = tfds.data_source(name, split=split, data_dir=data_dir, download=download)
    examples = read_all(data_source)
    for example in examples:
        source, target = decode_value(example[src]), decode_value(example[tgt])
        example["source"], example["target"] = source, target
    return examples
