"""The example every data source yields, and decoding tfds records into it.

An example is a plain dict with at least `{"source": str, "target": str}`; G2P data adds
`"word": str` and `"references": list[str]` (every accepted pronunciation of the word,
for word-level scoring against any reference). tfds data sources return text features
as `bytes` (NumPy `object` arrays for sequences) when read from ArrayRecord files, and
as `str` under `tfds.testing.mock_data`; `decode_example` turns either into `str`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.proto import tf_example_pb2

Example = dict[str, Any]  # {"source": str, "target": str, ...}: str, list[str] or int

_READ_CHUNK = 4096  # records per __getitems__ call; one by one is ~8x slower


def decode_value(value: Any) -> Any:
    """Turns one tfds text value (bytes, str, NumPy scalar or array) into str / list[str].

    Args:
      value: a feature value as a tfds data source returns it.

    Returns:
      `str` for a scalar text value, `list[str]` for a sequence of them (nested lists
      for higher ranks); anything else, numeric arrays included, unchanged.
    """
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.dtype.kind in "OSU":  # text; not numbers
        return decode_value(value.tolist())
    if isinstance(value, list | tuple):
        return [decode_value(v) for v in value]
    return value


def decode_example(record: Mapping[str, Any]) -> Example:
    """Decodes every feature of one tfds record.

    Args:
      record: a dict from a tfds data source.

    Returns:
      The same keys with text values as `str` (sequences as `list[str]`).
    """
    return {key: decode_value(value) for key, value in record.items()}


def read_all(data_source: Sequence[Mapping[str, Any]]) -> list[Example]:
    """Reads and decodes a whole tfds data source (or any sequence of records).

    Args:
      data_source: e.g. `builder.as_data_source(split="train")`.

    Returns:
      Every record, decoded, in the data source's order.
    """
    get_many = getattr(data_source, "__getitems__", None)
    out: list[Example] = []
    for start in range(0, len(data_source), _READ_CHUNK):
        indices = list(range(start, min(start + _READ_CHUNK, len(data_source))))
        try:
            records = get_many(indices) if get_many is not None else None
        except TypeError:
            # tfds.testing.mock_data (4.9.x) installs an unbound __getitems__ that cannot
            # be called; one-by-one reads work there (and re-raise any real TypeError).
            records = None
        if records is None:
            records = [data_source[i] for i in indices]
        out.extend(decode_example(r) for r in records)
    return out


def _text_layout(features: Any) -> dict[str, Literal["text", "texts"]] | None:
    """feature -> "text" (one string) / "texts" (1-D strings); None if any is not text."""
    layout: dict[str, Literal["text", "texts"]] = {}
    for key, feature in features.items():
        if (isinstance(feature, tfds.features.Text)
                and getattr(feature, "encoder", None) is None):
            layout[key] = "text"
        elif (isinstance(feature, tfds.features.Tensor) and feature.shape == (None,)
              and np.dtype(feature.np_dtype).kind in "OSU"):
            layout[key] = "texts"
        else:
            return None
    return layout


def read_split(builder: Any, split: str) -> list[Example]:
    """Reads one split of a prepared tfds builder, decoded.

    For datasets whose features are all text (every local builder here), records are
    parsed straight from the stored `tf.train.Example` protos, about 5x faster than
    tfds's generic per-feature decoding (which costs ~60 us a record); anything else
    goes through `read_all(builder.as_data_source(split))`. Both give the same result.

    Args:
      builder: a prepared `tfds.core.DatasetBuilder` stored as ArrayRecord.
      split: a split name, tfds slicing allowed.

    Returns:
      Every record of the split, decoded, in the data source's order.
    """
    layout = _text_layout(builder.info.features)
    if layout is None:
        return read_all(builder.as_data_source(split=split))
    raw = builder.as_data_source(
        split=split, deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES)
    out: list[Example] = []
    for start in range(0, len(raw), _READ_CHUNK):
        for record in raw.__getitems__(range(start, min(start + _READ_CHUNK, len(raw)))):
            stored = tf_example_pb2.Example.FromString(record).features.feature
            example: Example = {}
            for key, kind in layout.items():
                values = [v.decode("utf-8") for v in stored[key].bytes_list.value]
                example[key] = values if kind == "texts" else values[0]
            out.append(example)
    return out


def iter_pairs(examples: Iterable[Mapping[str, Any]]) -> Iterator[tuple[str, str]]:
    """Yields (source, target) as str from decoded or raw tfds examples.

    Args:
      examples: decoded examples, or the records of a tfds data source.

    Yields:
      One `(source, target)` pair of `str` per example.
    """
    for example in examples:
        yield decode_value(example["source"]), decode_value(example["target"])
