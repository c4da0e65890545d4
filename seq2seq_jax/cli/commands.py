"""The work behind each CLI subcommand: train, eval, predict."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import ml_collections

from seq2seq_jax import layout
from seq2seq_jax.data import pipeline
from seq2seq_jax.errors import ConfigError
from seq2seq_jax.evaluation import evaluate, plots
from seq2seq_jax.files import write_atomic
from seq2seq_jax.training import checkpoint, workdir


def run_train(config: ml_collections.ConfigDict, directory: str) -> dict[str, Any]:
    from seq2seq_jax.training.train import train_and_evaluate

    return train_and_evaluate(config, directory)


def check_options(beam: int | None = None, temperature: float | None = None,
                  limit: int = 0, average: int = 0, alpha: float | None = None) -> None:
    """Reject what would otherwise decode silently wrong (before loading anything)."""
    if beam is not None and beam < 1:
        raise ConfigError(f"--beam {beam}: the beam size must be >= 1 (1 = greedy)")
    if alpha is not None and not math.isfinite(alpha):
        raise ConfigError(f"--alpha {alpha}: the length-penalty exponent must be a finite "
                          "number (0 ranks beams by log-probability alone)")
    if temperature is not None and not temperature > 0:
        raise ConfigError(f"--temperature {temperature}: must be > 0")
    if limit < 0:
        raise ConfigError(f"--limit {limit}: must be >= 0 (0 = every example)")
    if average < 0:
        raise ConfigError(f"--average {average}: must be >= 0 (0 = the best checkpoint, "
                          "N = the mean of the newest N)")


def _names_a_file(out: str) -> bool:
    """``eval --out``: a path ending in ``.json`` is the file itself, any other a folder."""
    return out.endswith(".json")


def _check_out(out: str | None) -> None:
    """Reject an ``eval --out`` that could not be written, before minutes of decoding."""
    if out is None:
        return
    path = Path(out)
    if _names_a_file(out):
        if path.is_dir():
            raise ConfigError(f"--out {out}: is a folder; name a new .json file, or drop "
                              "the .json ending to write into the folder")
        folder = path.parent
    else:
        folder = path
        if path.exists() and not path.is_dir():
            raise ConfigError(f"--out {out}: is a file but does not end in .json; name a "
                              "folder, or a file ending in .json")
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ConfigError(f"--out {out}: {existing} is a file, so no folder can be made "
                          "there; choose another path")


def _apply_decode_options(config: ml_collections.ConfigDict, beam: int | None,
                          sample: bool, temperature: float | None,
                          alpha: float | None = None) -> None:
    with config.unlocked():
        if sample:
            config.decode.method = "sample"
        elif beam is not None:
            config.decode.method = "beam" if beam > 1 else "greedy"
            config.decode.beam_size = max(beam, 1)
        if temperature is not None:
            config.decode.temperature = temperature
        if alpha is not None:
            config.decode.alpha = float(alpha)


def run_eval(directory: str, split: str = "test", beam: int | None = None,
             limit: int = 0, examples_to_show: int = 5, average: int = 0,
             ensemble: Sequence[str] = (), alpha: float | None = None,
             out: str | None = None) -> dict[str, Any]:
    """Score the best checkpoint (or the mean of the newest ``average``, or an
    ensemble with the ``ensemble`` workdirs) on ``split``, decoded and teacher-forced
    (``evaluate.teacher_forced``: NLL, perplexity, token accuracy of the
    references); print and save one JSON object in ``directory`` (``eval_<split>``,
    then the decode tag of ``layout.decode_tag``: ``_beam<k>``, ``_alpha<a>`` (another than the
    default), ``_avg<n>``, ``_ens-<member folders joined by +>``
    as they apply). ``out`` saves it elsewhere: a path ending in ``.json`` is the
    file, any other a folder (made if missing) in which the file name starts with
    the workdir's folder name (``<folder>.eval_...json``), so that evaluations of
    several models can share one folder; use it for an exported model kept under
    version control. ``alpha``
    replaces the config's beam-search length-penalty exponent (``decode.alpha``)."""
    check_options(beam=beam, limit=limit, average=average, alpha=alpha)
    _check_out(out)
    trained = workdir.load_for(directory, average=average, ensemble=ensemble)
    config = trained.config
    _apply_decode_options(config, beam, False, None, alpha)
    examples = pipeline.load_examples(config, split, limit)
    result = evaluate.evaluate_examples(trained.model, trained.params, trained.cfg,
                                        trained.src_tok, trained.tgt_tok, examples, config)
    result.update(evaluate.teacher_forced(trained.model, trained.params, trained.cfg,
                                          trained.src_tok, trained.tgt_tok, examples, config))
    result.update(split=split, step=trained.step, checkpoint=trained.which,
                  exported=checkpoint.is_export(Path(directory)),
                  decode=config.decode.method,
                  beam_size=config.decode.beam_size if config.decode.method == "beam" else 1)
    if config.decode.method == "beam":
        result["alpha"] = float(config.decode.alpha)
    if trained.averaged:
        result["averaged_steps"] = list(trained.averaged)
    if trained.members:
        result["ensemble"] = list(trained.members)
    if examples_to_show:
        sources, refs = evaluate.group_references(examples[:examples_to_show * 4])
        preds = evaluate.predict(trained.model, trained.params, trained.cfg, trained.src_tok,
                                 trained.tgt_tok, sources[:examples_to_show], config,
                                 truncate=True)
        for s, r, p in zip(sources, refs, preds, strict=False):
            mark = "ok " if p.text in r else "ERR"
            print(f"{mark} {s!r:>24} -> {p.text!r}   (reference: {' | '.join(r)})",
                  file=sys.stderr)
    dec = config.decode
    tag = layout.decode_tag(dec.method, dec.beam_size, dec.alpha, len(trained.averaged),
                            [directory, *ensemble] if trained.members else ())
    target = Path(directory) / layout.eval_file(split, tag)
    if out is not None:
        target = (Path(out) if _names_a_file(out)
                  else Path(out) / f"{Path(directory).resolve().name}.{target.name}")
        target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, json.dumps(result, indent=2, default=str))
    print(json.dumps(result, default=str))
    return result


def run_predict(directory: str, lines: Sequence[str], out: TextIO, beam: int | None = None,
                sample: bool = False, temperature: float | None = None,
                attention_plot: str | None = None, truncate: bool = False,
                average: int = 0, ensemble: Sequence[str] = (),
                alpha: float | None = None) -> None:
    """Decode each input line, write one output line each, optionally plot attention."""
    check_options(beam=beam, temperature=temperature, average=average, alpha=alpha)
    trained = workdir.load_for(directory, average=average, ensemble=ensemble)
    config = trained.config
    _apply_decode_options(config, beam, sample, temperature, alpha)
    texts = [line.rstrip("\n") for line in lines]
    preds = evaluate.predict(trained.model, trained.params, trained.cfg, trained.src_tok,
                             trained.tgt_tok, texts, config,
                             with_attention=attention_plot is not None, truncate=truncate)
    for p in preds:
        out.write(p.text + "\n")
    out.flush()
    if attention_plot and preds:
        first = next((p for p in preds if p.src_tokens), preds[0])
        if first.attention is None:
            print(f"model {config.model.name!r} has no attention: no plot written",
                  file=sys.stderr)
            return
        rows = [*first.out_tokens, "</s>"][:first.attention.shape[0]]  # no EOS at max length
        # A literal "$": matplotlib would parse "$...$" in user text as mathtext and fail.
        src = [t.replace("$", r"\$") for t in first.src_tokens]
        plots.attention_heatmap(first.attention, src, [t.replace("$", r"\$") for t in rows],
                                attention_plot, title=f"{config.model.name}: {''.join(src)}")
        print(f"attention plot written to {attention_plot}", file=sys.stderr)
