"""Decode a split once, keep one record per example, score it overall and by source length.

``analyze(workdir)`` loads a trained workdir, decodes the split with the
workdir's decoding options (or a beam given here) and writes, under
``<workdir>/analysis/``:

* ``<name>.jsonl``: one ``Record`` a line (source, references, hypothesis,
  source length), so scores and plots can be recomputed without decoding;
* ``<name>.json``: the overall metrics, the metrics per source-length bucket
  (with the example count of each), the attention weights of a few examples,
  the checkpoint, the decode wall time and the hardware.

``<name>`` is ``<split>_<decode>`` (``test_greedy``, ``test_beam5``), with
``-first<N>`` after the split when only the first N examples are used, and
``_avg<N>`` / ``_ens-<dir>+<dir>`` for averaged checkpoints and ensembles. A
later call with the same checkpoints and options reuses the records instead of
decoding again (``redecode=True`` forces it). Records, source lengths and the
scores overall and per bucket are ``records``'s.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from seq2seq_jax import config as config_lib
from seq2seq_jax import layout
from seq2seq_jax.constants import DEFAULT_ALPHA
from seq2seq_jax.data import pipeline, sources
from seq2seq_jax.evaluation import evaluate, metrics
from seq2seq_jax.files import write_atomic
from seq2seq_jax.lab.records import (  # re-exported: the analysis API in one place
    UNITS,
    Record,
    bucket_scores,
    is_tokenized,
    load_records,
    main_metric,
    save_records,
    score_records,
    source_length,
)
from seq2seq_jax.layout import ANALYSIS_DIR
from seq2seq_jax.training import checkpoint, workdir
from seq2seq_jax.training.host import host_description  # re-exported: results use it

# ---------------------------------------------------------------- decoding


def set_options(config: ml_collections.ConfigDict, options: Mapping[str, Any]) -> None:
    """Set dotted options (``{"data.max_src_len": 100}``) on ``config`` in place."""
    with config.unlocked():
        for dotted, value in options.items():
            *path, leaf = dotted.split(".")
            node = config
            for part in path:
                node = node[part]
            if leaf not in node:
                raise KeyError(f"unknown config option {dotted!r}")
            node[leaf] = value


def set_beam(config: ml_collections.ConfigDict, beam: int | None,
             alpha: float | None = None) -> None:
    """``beam`` > 1: beam search of that size; 1: greedy; None: keep ``config.decode``.
    ``alpha``: the beam's length-penalty exponent (None: keep the config's)."""
    if beam is not None:
        set_options(config, {"decode.method": "beam" if beam > 1 else "greedy",
                             "decode.beam_size": max(beam, 1)})
    if alpha is not None:
        set_options(config, {"decode.alpha": float(alpha)})


def decode_name(config: ml_collections.ConfigDict) -> str:
    """``greedy``, ``beam5``, or ``beam5_alpha1`` for a length penalty other than the
    default one (``layout.decode_tag``)."""
    dec = config.decode
    return layout.decode_tag(dec.method, dec.beam_size, dec.get("alpha", DEFAULT_ALPHA))


def analysis_name(config: ml_collections.ConfigDict, average: int = 0,
                  members: Sequence[str | Path] = ()) -> str:
    """The decode tag an analysis is stored under: ``beam5``, ``beam5_avg3``,
    ``greedy_ens-rnn+bahdanau`` (``members``: every workdir of an ensemble, first included)."""
    dec = config.decode
    return layout.decode_tag(dec.method, dec.beam_size, dec.get("alpha", DEFAULT_ALPHA),
                             average, members)


def _raw_references(config: ml_collections.ConfigDict, split: str, limit: int,
                    n: int) -> list[list[str]] | None:
    """The cased, untokenised targets matching a ``..._tok`` dataset, when it has them."""
    raw_name = config.data.name.removesuffix("_tok") + "_raw"
    if raw_name not in sources.dataset_names():
        return None
    raw_config = ml_collections.ConfigDict(config.to_dict())
    raw_config.data.name = raw_name
    raw = pipeline.load_examples(raw_config, split, limit)
    if len(raw) != n:
        print(f"{raw_name} {split} has {len(raw)} examples, {config.data.name} {n}: "
              "no cased sacreBLEU", file=sys.stderr)
        return None
    return [[e["target"]] for e in raw]


def decode_records(trained: workdir.Trained, split: str,
                   limit: int = 0) -> tuple[list[Record], dict[str, Any]]:
    """Decode ``split`` with ``trained.config``'s options, one ``Record`` per example.

    Returns:
      The records and facts about the decode: ``decode_seconds`` (wall time,
      compilation included), ``truncated_sources`` (inputs cut at
      ``data.max_src_len``), ``hardware``.
    """
    config = trained.config
    kind = config_lib.task_kind(config.data.name)
    tokenized = is_tokenized(config.data.name)
    examples = pipeline.load_examples(config, split, limit)
    if kind == "g2p":
        texts, refs = evaluate.group_references(examples)
    else:
        texts, refs = [e["source"] for e in examples], [[e["target"]] for e in examples]
    raw = (_raw_references(config, split, limit, len(texts))
           if kind == "translation" and tokenized else None)
    truncated = sum(len(trained.src_tok.encode(t)) > config.data.max_src_len for t in texts)
    if truncated:
        print(f"{truncated} sources are longer than data.max_src_len="
              f"{config.data.max_src_len} and are cut", file=sys.stderr)
    start = time.perf_counter()
    preds = evaluate.predict(trained, texts, config, truncate=True)
    seconds = time.perf_counter() - start
    records = [Record(i, s, list(r), p.text, source_length(kind, s, tokenized),
                      None if raw is None else raw[i])
               for i, (s, r, p) in enumerate(zip(texts, refs, preds, strict=True))]
    return records, {"decode_seconds": seconds, "truncated_sources": int(truncated),
                     "hardware": host_description()}


def pick_examples(records: Sequence[Record], lengths: Sequence[int]) -> list[int]:
    """For each wanted length, the index of the closest-length record (ties: first).

    Depends on the sources only, so every model of a task shows the same inputs.
    """
    chosen: list[int] = []
    for want in lengths:
        free = [r for r in records if r.index not in chosen]
        if free:
            chosen.append(min(free, key=lambda r: (abs(r.length - want), r.index)).index)
    return chosen


def attention_maps(trained: workdir.Trained, records: Sequence[Record],
                   indices: Sequence[int]) -> list[dict[str, Any]]:
    """Attention weights of the chosen examples (empty for models without attention).

    Each map: ``index``, ``source``, ``src_tokens``, ``out_tokens`` (with
    ``</s>`` when decoding stopped at EOS) and ``weights`` ``[out, src]``.
    """
    by_index = {r.index: r for r in records}
    texts = [by_index[i].source for i in indices]
    if not texts:
        return []
    preds = evaluate.predict(trained, texts, trained.config, with_attention=True,
                             truncate=True)
    maps = []
    for i, p in zip(indices, preds, strict=True):
        if p.attention is None:
            return []
        rows = [*p.out_tokens, "</s>"][:p.attention.shape[0]]  # no EOS at max length
        maps.append({"index": i, "source": by_index[i].source, "src_tokens": p.src_tokens,
                     "out_tokens": rows, "weights": np.round(p.attention, 4).tolist()})
    return maps


# ---------------------------------------------------------------- the analysis


def _finite(x: Any) -> Any:
    """NaN and infinities as None, so the JSON is strict."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def has_steps(directory: Path) -> bool:
    """Whether ``directory`` (``best/`` or ``checkpoints/``) holds a finished step folder."""
    return directory.is_dir() and any(p.name.isdigit() for p in directory.iterdir())


def _checkpoint(directory: Path, average: int = 0) -> tuple[str, int, list[int]]:
    """``(which, step, averaged steps)`` that ``workdir.load`` (or, with ``average``,
    ``workdir.load_average``) restores, without restoring it. An exported model
    (``seq2seq-jax export``) is its one ``best/`` step, with the steps it was averaged
    from whether ``average`` is given or not (``load_average`` checks the count)."""
    if not directory.is_dir():
        raise FileNotFoundError(f"workdir {directory} does not exist")
    exported = checkpoint.export_meta(directory)
    if exported is not None:
        meta, step = exported
        return checkpoint.BEST, step, list(meta[checkpoint.EXPORTED].get("averaged", []))
    if average:
        steps = checkpoint.complete_steps(directory, checkpoint.LATEST)[-average:]
        return checkpoint.LATEST, steps[-1] if steps else -1, steps
    which = checkpoint.BEST if has_steps(directory / checkpoint.BEST) else checkpoint.LATEST
    return which, checkpoint.read_meta(directory, which)[1], []


def analysis_paths(directory: str | Path, split: str, decode: str,
                   limit: int = 0) -> tuple[Path, Path]:
    """``(records.jsonl, summary.json)`` of one analysis in ``directory/analysis``."""
    name = f"{split}{f'-first{limit}' if limit else ''}_{decode}"
    base = Path(directory) / ANALYSIS_DIR
    return base / f"{name}.jsonl", base / f"{name}.json"


# In the order a fresh decode writes them, so a summary re-scored from stored records
# comes out byte for byte the same when the scores are.
_DECODE_FACTS = ("decode_seconds", "truncated_sources", "hardware", "checkpoint", "step",
                 "params", "attention", "decoded_at")


def _decode(directory: Path, which: str, split: str, limit: int, options: Mapping[str, Any],
            beam: int | None, attention_lengths: Sequence[int], records_path: Path,
            average: int = 0, ensemble: Sequence[Path] = ()) -> tuple[list[Record],
                                                                      dict[str, Any]]:
    """Load, decode, keep attention maps and save the records; ``_DECODE_FACTS`` about it."""
    trained = workdir.load_for(directory, average=average, ensemble=ensemble, which=which)
    set_options(trained.config, options)
    set_beam(trained.config, beam)
    records, facts = decode_records(trained, split, limit)
    facts.update(
        checkpoint=trained.which, step=trained.step,  # another one if that one was damaged
        params=int(sum(np.size(x) for x in jax.tree.leaves(trained.params))),
        attention=attention_maps(trained, records, pick_examples(records, attention_lengths)),
        decoded_at=time.strftime("%Y-%m-%d %H:%M:%S %z"))
    records_path.parent.mkdir(parents=True, exist_ok=True)
    save_records(records_path, records)
    return records, facts


def analyze(directory: str | Path, split: str = "test", *, edges: Sequence[int],
            beam: int | None = None, options: Mapping[str, Any] | None = None,
            limit: int = 0, attention_lengths: Sequence[int] = (),
            redecode: bool = False, average: int = 0,
            ensemble: Sequence[str | Path] = ()) -> dict[str, Any]:
    """Decode ``split`` once, score it, save records and summary in ``directory/analysis``.

    Args:
      directory: a training workdir (its best checkpoint, else its latest).
      split: the data split to decode.
      edges: inclusive upper bounds of the length buckets (``metrics.length_buckets``).
      beam: beam size (1 = greedy); None uses the workdir config's ``decode``.
      options: dotted config options set before decoding, e.g. longer synthetic
        test sequences ``{"data.synthetic.test_max_len": 100}``.
      limit: decode only the first N examples (0: all).
      attention_lengths: source lengths near which to keep attention maps, one each.
      redecode: decode even when records of the same checkpoint and options exist.
      average: > 0: decode with the mean parameters of the newest that many
        checkpoints in ``checkpoints/`` (``workdir.load_average``); the name
        gets ``_avg<N>`` and the key the averaged steps.
      ensemble: more workdirs decoding with ``directory`` as one ensemble
        (``workdir.load_ensemble``; each member's best checkpoint, or its
        average); stored in ``directory``'s analysis as
        ``<decode>_ens-<dir>+<dir>...``, keyed by every member's checkpoint.

    Returns:
      The summary also written to ``<name>.json`` (see the module docstring).
    """
    directory, options = Path(directory), dict(options or {})
    which, step, averaged = _checkpoint(directory, average)
    config = ml_collections.ConfigDict(checkpoint.read_meta(directory, which)[0]["config"])
    set_options(config, options)
    set_beam(config, beam)
    others = [Path(d) for d in ensemble]
    name = analysis_name(config, average, [directory, *others] if others else ())
    records_path, summary_path = analysis_paths(directory, split, name, limit)
    key = {"checkpoint": which, "step": step, "split": split, "limit": limit,
           "options": options, "decode": config.decode.to_dict(),
           "attention_lengths": list(attention_lengths)}
    if average or averaged:
        key["averaged"] = averaged
    if others:
        key["members"] = [[str(d), *_checkpoint(d, average)] for d in [directory, *others]]
    old = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    if old.get("key") == key and records_path.exists() and not redecode:
        records, facts = load_records(records_path), {k: old[k] for k in _DECODE_FACTS}
    else:
        records, facts = _decode(directory, which, split, limit, options, beam,
                                 attention_lengths, records_path, average, others)
    kind, tokenized = config_lib.task_kind(config.data.name), is_tokenized(config.data.name)
    summary = {
        "workdir": str(directory), "key": key, "split": split, "model": config.model.name,
        "data": config.data.name, "decode": name, "kind": kind,
        "unit": UNITS[kind], "examples": len(records), "main_metric": main_metric(kind, tokenized),
        "metrics": score_records(kind, records, tokenized,
                                 lang=metrics.target_language(config.data.name)
                                 ) if records else {},
        "edges": list(edges), "by_length": bucket_scores(kind, records, edges, tokenized),
        "records_file": records_path.name, **facts,
    }
    summary = _finite(summary)
    write_atomic(summary_path, json.dumps(summary, indent=1, ensure_ascii=False))
    return summary
