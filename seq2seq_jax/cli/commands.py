"""The work behind each CLI subcommand: train, eval, predict."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import ml_collections

from seq2seq_jax import config as config_lib
from seq2seq_jax import layout
from seq2seq_jax.config import check_options  # re-exported: scripts check the same way
from seq2seq_jax.data import pipeline
from seq2seq_jax.errors import ConfigError
from seq2seq_jax.evaluation import evaluate, plots
from seq2seq_jax.files import write_atomic
from seq2seq_jax.inference import hub
from seq2seq_jax.training import checkpoint, workdir

log = logging.getLogger(__name__)


def run_train(config: ml_collections.ConfigDict, directory: str) -> dict[str, Any]:
    """Train (or resume) in ``directory``; first say which options differ from the
    defaults (the parameter count follows once the vocabularies are known)."""
    from seq2seq_jax.training.train import train_and_evaluate

    config_lib.validate(config)
    changed = config_lib.differences(config)
    print(f"config: {config.model.name} on {config.data.name}"
          + ("; " + ", ".join(f"{k}={v!r}" for k, v, _ in changed) if changed else ""),
          file=sys.stderr)
    return train_and_evaluate(config, directory)


def warn_if_other_sources(directory: Path, config: ml_collections.ConfigDict) -> bool:
    """Warn when ``config``'s data comes from other sources than the run trained on
    (``layout.DATA_FILE``, written by ``train``); True if it does."""
    from seq2seq_jax.data import fingerprint

    saved = directory / layout.DATA_FILE
    if not saved.is_file():
        return False
    trained_on = json.loads(saved.read_text())
    now = pipeline.source_record(config)
    if trained_on.get("digest") == now["digest"]:
        return False
    log.warning("%s trained on %s; this evaluation reads %s: scores on other data than "
                "the run's", directory, fingerprint.describe(trained_on),
                fingerprint.describe(now))
    return True


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


def run_eval(directory: str, split: str = "test", beam: int | None = None,
             limit: int = 0, examples_to_show: int = 5, average: int = 0,
             ensemble: Sequence[str] = (), alpha: float | None = None,
             out: str | None = None, data_overrides: Sequence[str] = (),
             name: str | None = None, stop: str | None = None) -> dict[str, Any]:
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
    replaces the config's beam-search length-penalty exponent (``decode.alpha``).
    ``data_overrides``: ``--config.data.KEY=VALUE`` for the evaluation data (e.g. where
    its files are); ``name``: the registered model ``directory`` holds, whose decoding
    options apply where ``beam`` and ``alpha`` are not given."""
    beam, alpha, stop = hub.registered_decode(name, beam, alpha, stop)
    check_options(beam=beam, limit=limit, average=average, alpha=alpha)
    _check_out(out)
    trained = workdir.load_for(directory, average=average, ensemble=ensemble)
    config = trained.config
    if data_overrides:
        config = config_lib.apply_overrides(config, data_overrides, "eval")
        trained = trained._replace(config=config)
    config_lib.apply_decode_options(config, beam, False, None, alpha, stop)
    warn_if_other_sources(Path(directory), config)
    examples = pipeline.load_examples(config, split, limit)
    result = evaluate.evaluate_examples(trained, examples, config)
    result.update(evaluate.teacher_forced(trained, examples, config))
    result.update(split=split, step=trained.step, checkpoint=trained.which,
                  exported=checkpoint.is_export(Path(directory)),
                  decode=config.decode.method,
                  beam_size=config.decode.beam_size if config.decode.method == "beam" else 1)
    if config.decode.method == "beam":
        result["alpha"] = float(config.decode.alpha)
        result["stop"] = config.decode.get("stop", "exact")
    if trained.averaged:
        result["averaged_steps"] = list(trained.averaged)
    if trained.members:
        result["ensemble"] = list(trained.members)
    if examples_to_show:
        sources, refs = evaluate.group_references(examples[:examples_to_show * 4])
        preds = evaluate.predict(trained, sources[:examples_to_show], config,
                                 truncate=True)
        for s, r, p in zip(sources, refs, preds, strict=False):
            mark = "ok " if p.text in r else "ERR"
            print(f"{mark} {s!r:>24} -> {p.text!r}   (reference: {' | '.join(r)})",
                  file=sys.stderr)
    dec = config.decode
    tag = layout.decode_tag(dec.method, dec.beam_size, dec.alpha, len(trained.averaged),
                            [directory, *ensemble] if trained.members else (),
                            stop=dec.get("stop", "exact"))
    target = Path(directory) / layout.eval_file(split, tag)
    if out is not None:
        target = (Path(out) if _names_a_file(out)
                  else Path(out) / f"{Path(directory).resolve().name}.{target.name}")
        target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, json.dumps(result, indent=2, default=str))
    print(json.dumps(result, default=str))
    return result


def model_folder(directory: str | None, name: str | None) -> str:
    """``--workdir DIR`` as given, or the folder of the registered model ``--model NAME``."""
    if name is None:
        assert directory is not None
        return directory
    return str(hub.resolve(name))


def print_config(config: ml_collections.ConfigDict) -> None:
    """What ``train`` starts with: the options that differ from the defaults, the model's
    parameter count (from shapes alone: nothing is compiled) and its vocabularies."""
    config_lib.validate(config)
    print(f"config: {config.model.name} on {config.data.name}; options that differ from "
          "the defaults:")
    for key, value, default in config_lib.differences(config):
        print(f"  {key} = {value!r}   (default {default!r})")
    print(describe_model(config))


def describe_model(config: ml_collections.ConfigDict, src_vocab: int | None = None,
                   tgt_vocab: int | None = None) -> str:
    """``parameters: N (source vocabulary A, target vocabulary B)`` for ``config``; the
    vocabulary sizes are read from the training data's tokenizers when not given."""
    import jax

    from seq2seq_jax import models

    if src_vocab is None or tgt_vocab is None:
        import tempfile

        train = pipeline.load_examples(config, "train", config.data.train_limit)
        with tempfile.TemporaryDirectory() as tmp:  # SentencePiece models, thrown away
            src_tok, tgt_tok = pipeline.build_tokenizers(config, train, Path(tmp))
        src_vocab, tgt_vocab = src_tok.vocab_size, tgt_tok.vocab_size
    cfg = models.make_config(config.model.to_dict(), src_vocab, tgt_vocab)
    shapes = jax.eval_shape(lambda k: models.get_model(config.model.name).init(k, cfg),
                            jax.random.PRNGKey(0))
    count = sum(int(x.size) for x in jax.tree.leaves(shapes))
    return (f"parameters: {count:,} (source vocabulary {src_vocab}, target vocabulary "
            f"{tgt_vocab})")


def _utf8(line: bytes, number: int, offset: int, source: str) -> str:
    """``line`` decoded; ``offset`` is where it starts in the input, for the message."""
    try:
        return line.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{source}: not valid UTF-8 ({e.reason} at byte {offset + e.start}, "
                          f"line {number})") from None


def input_batches(path: str | None, size: int) -> Iterator[list[str]]:
    """The inputs, one a line, in batches of at most ``size`` lines.

    From a file: full batches. From stdin: each batch is what has arrived when the next
    read would wait (so a terminal, or a program that waits for each answer, gets every
    line answered at once), at most ``size`` lines.
    """
    if size < 1:
        raise ConfigError(f"--buffer-size {size}: must be >= 1")
    if path is not None:
        try:
            handle = open(path, "rb")  # noqa: SIM115 (closed below)
        except FileNotFoundError:
            raise ConfigError(f"--input {path}: no such file") from None
        with handle:
            yield from _batches(handle, size, f"--input {path}")
        return
    yield from _batches(sys.stdin, size, "stdin")


def _batches(stream: Any, size: int, source: str) -> Iterator[list[str]]:
    import select

    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # a StringIO: no descriptor to poll
        fd = None
    if fd is None:
        lines = [line.rstrip("\n") for line in stream]
        for start in range(0, len(lines), size):
            yield lines[start:start + size]
        return
    pending: list[str] = []
    tail = b""
    number = offset = 0
    while True:
        chunk = os.read(fd, 1 << 16)
        if chunk:
            *complete, tail = (tail + chunk).split(b"\n")
            for line in complete:
                number += 1
                pending.append(_utf8(line, number, offset, source))
                offset += len(line) + 1
        elif tail:
            number += 1
            pending.append(_utf8(tail, number, offset, source))
            tail = b""
        while len(pending) >= size:
            yield pending[:size]
            pending = pending[size:]
        if pending and (not chunk or not select.select([fd], [], [], 0)[0]):
            yield pending  # nothing more has arrived: answer what has
            pending = []
        if not chunk:
            return


def run_predict(directory: str, batches: Iterable[Sequence[str]], out: TextIO,
                beam: int | None = None, sample: bool = False,
                temperature: float | None = None, attention_plot: str | None = None,
                truncate: bool = False, average: int = 0, ensemble: Sequence[str] = (),
                alpha: float | None = None, n_best: int = 1, fmt: str = "text",
                attention_dir: str | None = None, name: str | None = None,
                stop: str | None = None) -> None:
    """Decode each batch of input lines and write its outputs before reading the next.

    ``fmt``: ``text`` (the output; with ``n_best`` K, K lines ``TEXT<TAB>SCORE`` and an
    empty line), ``tsv`` (``INPUT<TAB>RANK<TAB>TEXT<TAB>SCORE``, a line a hypothesis) or
    ``jsonl`` (``{"input", "outputs": [{"text", "score"}]}``, a line an input).
    ``attention_plot``: the first input's heatmap; ``attention_dir``: one per input,
    ``00001.png`` for the first line.
    """
    beam, alpha, stop = hub.registered_decode(name, beam, alpha, stop)
    check_options(beam=beam, temperature=temperature, average=average, alpha=alpha)
    if n_best < 1:
        raise ConfigError(f"--n-best {n_best}: must be >= 1")
    if beam is not None and n_best > beam:
        raise ConfigError(f"--n-best {n_best}: more hypotheses than the beam keeps (--beam "
                          f"{beam}); pass --beam {n_best} or more")
    trained = workdir.load_for(directory, average=average, ensemble=ensemble)
    config = trained.config
    config_lib.apply_decode_options(config, beam, sample, temperature, alpha, stop)
    kept = config.decode.beam_size if config.decode.method == "beam" else 1
    if n_best > kept:  # the config's own decoding: checked before any decoding too
        raise ConfigError(f"--n-best {n_best}: the model decodes with "
                          f"{config.decode.method} search, which keeps {kept}; pass --beam "
                          f"{n_best} or more")
    if attention_dir is not None:
        Path(attention_dir).mkdir(parents=True, exist_ok=True)
    plots_wanted = attention_plot is not None or attention_dir is not None
    index = 0
    for batch in batches:
        texts = [t.rstrip("\n") for t in batch]
        preds = evaluate.predict(trained, texts, config, with_attention=plots_wanted,
                                 truncate=truncate, n_best=n_best)
        for text, p in zip(texts, preds, strict=True):
            index += 1
            out.write(_format(text, p, n_best, fmt))
            if attention_dir is not None:
                _plot(p, config.model.name, str(Path(attention_dir) / f"{index:05d}.png"))
            if attention_plot is not None and index == 1:
                _plot(p, config.model.name, attention_plot)
                print(f"attention plot written to {attention_plot}", file=sys.stderr)
        out.flush()
    if attention_dir is not None:
        print(f"{index} attention plots written to {attention_dir}", file=sys.stderr)


def _format(text: str, p: evaluate.Prediction, n_best: int, fmt: str) -> str:
    hyps = list(p.hypotheses[:n_best]) or [(p.text, float("nan"))]
    if fmt == "jsonl":
        return json.dumps({"input": text, "outputs": [{"text": t, "score": round(s, 6)}
                                                      for t, s in hyps]},
                          ensure_ascii=False) + "\n"
    if fmt == "tsv":
        return "".join(f"{text}\t{r}\t{t}\t{s:.6f}\n" for r, (t, s) in enumerate(hyps, 1))
    if n_best == 1:
        return p.text + "\n"
    return "".join(f"{t}\t{s:.6f}\n" for t, s in hyps) + "\n"


def _plot(p: evaluate.Prediction, model_name: str, path: str) -> None:
    if p.attention is None:
        print(f"model {model_name!r} has no attention: no plot written", file=sys.stderr)
        return
    rows = [*p.out_tokens, "</s>"][:p.attention.shape[0]]  # no EOS at max length
    # A literal "$": matplotlib would parse "$...$" in user text as mathtext and fail.
    src = [t.replace("$", r"\$") for t in p.src_tokens]
    plots.attention_heatmap(p.attention, src, [t.replace("$", r"\$") for t in rows],
                            path, title=f"{model_name}: {''.join(src)}")
