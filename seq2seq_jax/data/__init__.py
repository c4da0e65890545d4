"""Data sources: tfds builders (ArrayRecord, no TensorFlow), synthetic tasks, readers.

Re-exports only; `load_split` in `sources.py` is the entry point. They are loaded on
first use, so that decoding with a trained model (which needs the tokenizers, not the
datasets) does not import tensorflow-datasets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from seq2seq_jax.data.catalog import choose_keys, load_catalog, text_features
    from seq2seq_jax.data.cmudict_g2p import CmudictG2p, CmudictG2pConfig
    from seq2seq_jax.data.examples import (
        Example,
        decode_example,
        decode_value,
        iter_pairs,
        read_all,
        read_split,
    )
    from seq2seq_jax.data.g014b2b import CmudictG014b2b
    from seq2seq_jax.data.multi30k import Multi30k, Multi30kConfig
    from seq2seq_jax.data.sources import (
        dataset_names,
        load_split,
        prepare_builder,
        resolve_split,
    )
    from seq2seq_jax.data.synthetic import SyntheticSpec, make_example, make_split
    from seq2seq_jax.data.text_files import ReadResult, find_file, read_fields, read_parallel
    from seq2seq_jax.errors import DataError

_WHERE = {
    "choose_keys": "catalog", "load_catalog": "catalog", "text_features": "catalog",
    "CmudictG2p": "cmudict_g2p", "CmudictG2pConfig": "cmudict_g2p",
    "Example": "examples", "decode_example": "examples", "decode_value": "examples",
    "iter_pairs": "examples", "read_all": "examples", "read_split": "examples",
    "CmudictG014b2b": "g014b2b", "Multi30k": "multi30k", "Multi30kConfig": "multi30k",
    "dataset_names": "sources", "load_split": "sources", "prepare_builder": "sources",
    "resolve_split": "sources", "SyntheticSpec": "synthetic", "make_example": "synthetic",
    "make_split": "synthetic", "ReadResult": "text_files", "find_file": "text_files",
    "read_fields": "text_files", "read_parallel": "text_files",
}

__all__ = [
    "CmudictG014b2b",
    "CmudictG2p",
    "CmudictG2pConfig",
    "DataError",
    "Example",
    "Multi30k",
    "Multi30kConfig",
    "ReadResult",
    "SyntheticSpec",
    "choose_keys",
    "dataset_names",
    "decode_example",
    "decode_value",
    "find_file",
    "iter_pairs",
    "load_catalog",
    "load_split",
    "make_example",
    "make_split",
    "prepare_builder",
    "read_all",
    "read_fields",
    "read_parallel",
    "read_split",
    "resolve_split",
    "text_features",
]


def __getattr__(name: str) -> Any:
    if name == "DataError":
        from seq2seq_jax.errors import DataError

        return DataError
    if name in _WHERE:
        return getattr(importlib.import_module(f"seq2seq_jax.data.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'seq2seq_jax.data' has no attribute {name!r}")
