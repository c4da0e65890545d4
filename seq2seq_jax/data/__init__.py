"""Data sources: tfds builders (ArrayRecord, no TensorFlow), synthetic tasks, readers.

Re-exports only; `load_split` in `sources.py` is the entry point.
"""

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
from seq2seq_jax.data.sources import dataset_names, load_split, prepare_builder, resolve_split
from seq2seq_jax.data.synthetic import SyntheticSpec, make_example, make_split
from seq2seq_jax.data.text_files import ReadResult, find_file, read_fields, read_parallel
from seq2seq_jax.errors import DataError

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
