"""The experiments of RESULTS.md: each task's config file, models, metrics and length buckets.

``NAMES`` names them (g2p, g014b2b, multi30k (en-de), multi30k_de_en,
multi30k_en_fr, synthetic_reverse); a config file's models are the keys of its
``MODELS`` dict, so a model added there is one ``scripts/results.py --models``
can train and score. ``seq2seq_jax.lab.results`` builds the tables from them.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ml_collections

from seq2seq_jax import config as config_lib

MODELS = ("rnn", "bahdanau", "luong", "transformer")


def config_module(spec: str) -> Any:
    """The config that ``spec`` names (a shipped config's name, or a file) as a module."""
    return config_lib.load_config_module(spec)


def config_models(spec: str) -> tuple[str, ...]:
    """The model arguments a config offers: the keys of its ``MODELS`` dict."""
    return tuple(config_module(spec).MODELS)


@dataclasses.dataclass(frozen=True)
class Experiment:
    """How to train, decode and plot one task for every model family."""

    name: str  # also the folder under --runs
    title: str
    config: str  # a shipped config's name (or a file); "": one config per model
    args: Mapping[str, str]  # model -> the config's argument (config "": "NAME[:ARG]")
    by_length: tuple[tuple[str, str], ...]  # (by_length key, label) per figure panel
    columns: tuple[tuple[str, str], ...]  # (overall metric key, table header)
    edges: tuple[int, ...]  # inclusive upper bounds of the length buckets
    # data.manual_dir when a workdir's is empty or missing: a folder under the data root
    # that the caller names (``with_data_root``), or an absolute path.
    manual_dir: str = ""
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # set to decode
    attention_lengths: tuple[int, ...] = ()  # heatmaps: test inputs near these lengths
    train_length_option: str = ""  # config option of the longest training length, if marked
    split: str = "test"


_G2P_LENGTHS: dict[str, Any] = dict(
    by_length=(("wer", "WER % (lower is better)"), ("per", "PER % (lower is better)")),
    columns=(("wer", "WER %"), ("per", "PER %")), edges=(4, 5, 6, 7, 8, 9, 10, 11, 12, 13),
    attention_lengths=(7, 10))


def _multi30k_name(pair: str) -> str:
    return "multi30k" if pair == "en_de" else f"multi30k_{pair}"


def _multi30k(pair: str) -> Experiment:
    """Multi30k test2016 in one direction (``configs/multi30k.py:MODEL,PAIR``)."""
    return Experiment(
        name=_multi30k_name(pair),
        title=f"Multi30k {pair.replace('_', '-')}, test2016 (1,000 sentences)",
        config="multi30k",
        args={m: f"{m},{pair}" for m in config_models("multi30k")},
        by_length=(("tok_bleu", "BLEU (lowercased, tokenised)"),),
        columns=(("tok_bleu", "BLEU lc tok"), ("bleu", "sacreBLEU cased detok"),
                 ("bleu_lc", "sacreBLEU lc detok"), ("chrf", "chrF2 cased detok")),
        edges=(8, 10, 12, 14, 16, 18, 20, 25),
        manual_dir="multi30k", attention_lengths=(8, 12))


NAMES = ("g2p", "g014b2b", "multi30k", "multi30k_de_en", "multi30k_en_fr", "synthetic_reverse")


@functools.cache
def all_experiments() -> dict[str, Experiment]:
    """Every experiment by name; built on first use (it reads the configs' model lists)."""
    return {
        "g2p": Experiment(
            name="g2p", title="G2P on the built-in CMUdict data (hash split, 12,462 test words)",
            config="", args={m: f"g2p_{m}" for m in MODELS}, **_G2P_LENGTHS),
        "g014b2b": Experiment(
            name="g014b2b", title="G2P on CMUdict g014b2b (12,000 test words)",
            config="g014b2b", args={m: m for m in config_models("g014b2b")},
            manual_dir="cmudict_g014b2b", **_G2P_LENGTHS),
        **{_multi30k_name(pair): _multi30k(pair) for pair in ("en_de", "de_en", "en_fr")},
        "synthetic_reverse": Experiment(
            name="synthetic_reverse",
            title="Reverse a string: test lengths 1-100, longest training input marked",
            config="synthetic",
            args={m: f"reverse,{m}" for m in config_models("synthetic")},
            by_length=(("exact_match", "exact match %"), ("char_accuracy", "character accuracy %")),
            columns=(("exact_match", "exact match %"), ("char_accuracy", "char accuracy %")),
            edges=(10, 20, 30, 40, 50, 60, 70, 80, 90),
            # Test lengths up to 100 whatever a workdir was trained with; 2,000 examples
            # give about 200 a bucket. Limits as in configs/synthetic.py (+ EOS, BOS).
            options={"data.synthetic.test_max_len": 100, "data.synthetic.num_test": 2000,
                     "data.max_src_len": 104, "data.max_tgt_len": 104, "decode.max_len": 104},
            attention_lengths=(25, 75), train_length_option="data.synthetic.train_max_len"),
    }


def with_data_root(exp: Experiment, data_root: str | Path | None) -> Experiment:
    """``exp`` with a relative ``manual_dir`` resolved under ``data_root``.

    Without a root, a relative ``manual_dir`` is dropped: the workdir's own
    ``data.manual_dir`` (or the dataset's download) is used.
    """
    if not exp.manual_dir or Path(exp.manual_dir).is_absolute():
        return exp
    folder = str(Path(data_root).expanduser() / exp.manual_dir) if data_root else ""
    return dataclasses.replace(exp, manual_dir=folder)


def config_spec(exp: Experiment, model: str) -> tuple[str, str | None]:
    """The config file of ``model`` and its argument (None: the file's default)."""
    if exp.config:
        return exp.config, exp.args[model]
    file, _, arg = exp.args[model].partition(":")
    return file, arg or None


def load_config(exp: Experiment, model: str) -> ml_collections.ConfigDict:
    """``get_config(arg)`` of the experiment's config file for ``model``."""
    file, arg = config_spec(exp, model)
    module = config_module(file)
    return module.get_config() if arg is None else module.get_config(arg)
