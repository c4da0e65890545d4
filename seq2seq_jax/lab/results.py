"""Result tables and figures for RESULTS.md, from training workdirs, one call per experiment.

  python scripts/results.py EXPERIMENT [--train] [--runs runs] [--out docs/results]

For each model of an experiment (``seq2seq_jax.lab.experiments``: g2p, g014b2b,
multi30k (en-de), multi30k_de_en, multi30k_en_fr, synthetic_reverse; models
rnn, bahdanau, luong, transformer and variants) the workdir
``<runs>/<experiment>/<model>/`` is trained or resumed (``train=True``, the same
code as ``seq2seq-jax train``), its test split decoded once
(``analysis.analyze``; later calls reuse the records) and the results written
to ``<out>/``:

* ``<experiment>.md``: a markdown fragment with one row per model (parameters,
  steps, training wall time and hardware, test metrics, decoding time) and the
  plotted metrics per source-length bucket with the example counts;
* ``<experiment>_by_length.png``: those metrics against source length, one
  line per model (Bahdanau et al. 2015, Fig. 2), with the longest training
  input marked where the test set goes beyond it;
* ``<experiment>_attention_<model>_<i>.png``: attention heatmaps of the same
  two test inputs for every model with attention.

A model without a workdir or checkpoint gets a "not trained" row, unless
``kept`` names a folder of kept decodes (``seq2seq_jax.lab.keep``, what
``--keep-decodes`` wrote) that holds its decode: the row is then read from
there (scores, lengths, attention maps, training log, hardware), marked "kept
records" in the decode column, so a table outlives its checkpoints.
"""

from __future__ import annotations

import json
import re
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ml_collections

from seq2seq_jax import config as config_lib
from seq2seq_jax import layout
from seq2seq_jax.evaluation import plots
from seq2seq_jax.files import write_atomic
from seq2seq_jax.lab import analysis
from seq2seq_jax.lab import markdown as results_markdown
from seq2seq_jax.lab.experiments import Experiment, config_spec, load_config
from seq2seq_jax.lab.markdown import ModelResult
from seq2seq_jax.training import lock


def _data_options(exp: Experiment, config: ml_collections.ConfigDict) -> dict[str, Any]:
    """Point data.manual_dir at the shared data when the workdir's is empty or missing."""
    current = config.data.manual_dir
    if exp.manual_dir and (not current or not Path(current).expanduser().is_dir()):
        return {"data.manual_dir": exp.manual_dir}
    return {}


def is_trained(directory: Path) -> bool:
    """Whether ``directory`` holds at least one checkpoint."""
    return any(analysis.has_steps(directory / sub) for sub in ("best", "checkpoints"))


def train_model(exp: Experiment, model: str, directory: Path) -> None:
    """Train ``model`` in ``directory``, resuming from its latest checkpoint.

    A workdir that has a ``config.json`` resumes with it (the run's own
    options, command-line overrides included); a new one starts from the
    experiment's config file. The machine is appended to ``hardware.txt``.
    """
    from seq2seq_jax.cli import commands

    saved = directory / layout.CONFIG_FILE
    config = (config_lib.from_json(saved.read_text()) if saved.exists()
              else load_config(exp, model))
    analysis.set_options(config, _data_options(exp, config))
    results_markdown.note_hardware(directory, analysis.host_description())
    commands.run_train(config, str(directory))


def analyze_model(exp: Experiment, model: str, directory: Path, *, beam: int | None = None,
                  limit: int = 0, redecode: bool = False, average: int = 0,
                  ensemble: Sequence[Path] = (), alpha: float | None = None) -> dict[str, Any]:
    """``analysis.analyze`` with the experiment's buckets, options and heatmap lengths;
    ``alpha`` replaces the beam's length-penalty exponent (None: the config's)."""
    saved = directory / layout.CONFIG_FILE
    options = dict(exp.options)
    if saved.exists():
        options.update(_data_options(exp, config_lib.from_json(saved.read_text())))
    if alpha is not None:
        options["decode.alpha"] = float(alpha)
    return analysis.analyze(directory, exp.split, edges=exp.edges, beam=beam, options=options,
                            limit=limit, attention_lengths=exp.attention_lengths,
                            redecode=redecode, average=average, ensemble=ensemble)


def kept_summary(exp: Experiment, kept_dir: Path, *, beam: int | None = None, limit: int = 0,
                 average: int = 0, members: Sequence[Path] = (),
                 alpha: float | None = None) -> dict[str, Any] | None:
    """The kept summary of the decode that ``analyze`` would name for these options, if any.

    ``kept_dir`` is ``<kept>/<experiment>/<model>`` (for an ensemble, its first
    member's); its ``config.json`` gives the decoding that ``beam`` does not set.
    """
    saved = kept_dir / layout.CONFIG_FILE
    if not saved.is_file():
        return None
    config = config_lib.from_json(saved.read_text())
    analysis.set_beam(config, beam, alpha)
    name = analysis.analysis_name(config, average, members)
    path = analysis.analysis_paths(kept_dir, exp.split, name, limit)[1]
    if not path.is_file():
        return None
    summary = json.loads(path.read_text())
    if summary.get("split") != exp.split or summary.get("decode") != name:
        raise ValueError(f"{path}: holds split {summary.get('split')!r}, decode "
                         f"{summary.get('decode')!r}, not {exp.split!r}, {name!r}; "
                         "re-keep it with scripts/results.py --keep-decodes")
    return summary


def _failed(model: str, directory: Path, arg: str, error: Exception) -> ModelResult:
    """A "failed: <reason>" row (the traceback goes to stderr)."""
    traceback.print_exc(file=sys.stderr)
    why = " ".join(f"{type(error).__name__}: {error}".split()).replace("|", "/")
    return ModelResult(model, directory, arg, f"failed: {why[:160]}", None, None)


def run_model(exp: Experiment, model: str, runs: Path, *, train: bool = False,
              beam: int | None = None, limit: int = 0, redecode: bool = False,
              average: int = 0, kept: Path | None = None,
              alpha: float | None = None) -> ModelResult:
    """Train (optionally) and analyse one model; problems become the row's status.

    An untrained (or missing) workdir's row comes from ``kept`` when that holds it.
    """
    directory = runs / exp.name / model
    file, config_arg = config_spec(exp, model)
    arg = file if config_arg is None else f"{file}:{config_arg}"
    try:
        if train:
            train_model(exp, model, directory)
        elif directory.is_dir() and lock.in_use(directory):  # its checkpoints are moving
            info = results_markdown.training_info(directory)
            status = (f"training now (step {info.steps:,} of {info.num_steps:,})"
                      if info.num_steps else "training now (starting)")
            return ModelResult(model, directory, arg, status, None, info)
        if not is_trained(directory):
            found = kept / exp.name / model if kept is not None else None
            summary = None if found is None else kept_summary(
                exp, found, beam=beam, limit=limit, average=average, alpha=alpha)
            if found is not None and summary is not None:
                return ModelResult(model, found, arg, "ok", summary,
                                   results_markdown.training_info(found), "kept")
            return ModelResult(model, directory, arg, "not trained", None, None)
        info = results_markdown.training_info(directory)
        result = analyze_model(exp, model, directory, beam=beam, limit=limit,
                               redecode=redecode, average=average, alpha=alpha)
        return ModelResult(model, directory, arg, "ok", result, info)
    except Exception as e:  # one broken model must not hide the others' results
        return _failed(model, directory, arg, e)


def _ensemble_training(members: Sequence[tuple[str, results_markdown.TrainingInfo]]
                       ) -> results_markdown.TrainingInfo:
    """The members' training together: steps and wall time summed, no single best step.

    Hardware: the members' lines once when they all trained alike, else each
    member's lines after its name, so that a note stays with its run.
    """
    infos = [t for _, t in members]
    times = [t.seconds for t in infos]
    if len({t.hardware for t in infos}) == 1:
        hardware = infos[0].hardware
    else:
        hardware = tuple(f"{name}: {'; '.join(t.hardware) or 'not recorded'}"
                         for name, t in members)
    return results_markdown.TrainingInfo(
        steps=sum(t.steps for t in infos), num_steps=sum(t.num_steps for t in infos),
        seconds=None if None in times else sum(t or 0.0 for t in times),
        restarts=sum(t.restarts for t in infos),
        from_scratch=sum(t.from_scratch for t in infos), dev_metric=infos[0].dev_metric,
        best_dev=None, best_step=None, hardware=hardware)


def run_ensemble(exp: Experiment, members: Sequence[str], runs: Path, *,
                 beam: int | None = None, limit: int = 0, redecode: bool = False,
                 average: int = 0, kept: Path | None = None,
                 alpha: float | None = None) -> ModelResult:
    """One row for the ensemble of ``members`` (model names of ``exp``), decoded together;
    from ``kept`` when a member's workdir is untrained or missing and ``kept`` holds it."""
    label = "ensemble " + "+".join(members)
    dirs = [runs / exp.name / m for m in members]
    arg = " + ".join(":".join(x for x in config_spec(exp, m) if x) for m in members)
    try:
        if kept is not None and not all(is_trained(d) for d in dirs):
            found = [kept / exp.name / m for m in members]
            summary = kept_summary(exp, found[0], beam=beam, limit=limit, average=average,
                                   members=found, alpha=alpha)
            if summary:
                info = _ensemble_training([(m, results_markdown.training_info(d))
                                           for m, d in zip(members, found, strict=True)])
                return ModelResult(label, found[0], arg, "ok", summary, info, "kept")
        for m, d in zip(members, dirs, strict=True):
            if not is_trained(d) or lock.in_use(d):
                why = "training now" if is_trained(d) else "not trained"
                return ModelResult(label, dirs[0], arg, f"{m} {why}", None, None)
        info = _ensemble_training([(m, results_markdown.training_info(d))
                                   for m, d in zip(members, dirs, strict=True)])
        result = analyze_model(exp, members[0], dirs[0], beam=beam, limit=limit,
                               redecode=redecode, average=average, ensemble=dirs[1:],
                               alpha=alpha)
        return ModelResult(label, dirs[0], arg, "ok", result, info)
    except Exception as e:  # the single models' rows stay
        return _failed(label, dirs[0], arg, e)


def train_length(exp: Experiment, rows: Sequence[ModelResult]) -> int | None:
    """The longest training input, read from the first analysed workdir's config."""
    if not exp.train_length_option:
        return None
    for r in rows:
        saved = r.workdir / layout.CONFIG_FILE
        if r.analysis is not None and saved.exists():
            node: Any = config_lib.from_json(saved.read_text())
            for part in exp.train_length_option.split("."):
                node = node[part]
            return int(node)
    return None


def legend_name(row: ModelResult) -> str:
    """A model's name in the by-length figure, with its size, so that a reader comparing
    families sees how their parameter counts differ: "rnn (0.60 M parameters)"; a model
    without results says why: "rnn (not trained)"."""
    if not row.analysis:
        return f"{row.model} ({row.status.split(':')[0]})"
    params = row.analysis.get("params")
    return f"{row.model} ({params / 1e6:.2f} M parameters)" if params else row.model


def plot_by_length(exp: Experiment, rows: Sequence[ModelResult], path: Path) -> None:
    """The quality-by-length figure, one line per model named with its parameter count;
    models without results appear in the legend only."""
    panels = []
    for key, label in exp.by_length:
        series: dict[str, tuple[list[float], list[float]]] = {}
        for r in rows:  # every model, so each keeps its colour; untrained ones in the legend
            buckets = r.analysis["by_length"] if r.analysis else []
            points = [(b["mean_length"], b[key]) for b in buckets
                      if b["n"] and b.get(key) is not None]
            name = legend_name(r)
            series[name] = ([p[0] for p in points], [p[1] for p in points])
        panels.append((label, series))
    first = next((r.analysis for r in rows if r.analysis), None)
    filled = [b for b in first["by_length"] if b["n"]] if first else []
    longest = train_length(exp, rows)
    plots.length_curves(panels, ([b["mean_length"] for b in filled], [b["n"] for b in filled]),
                        path, xlabel=f"source length ({first['unit'] if first else 'tokens'})",
                        title=exp.title, vline=longest,
                        vline_label=f"longest training input ({longest})" if longest else "")


def _plain(texts: Sequence[str]) -> list[str]:
    """Escape "$", which matplotlib would read as the start of mathtext."""
    return [t.replace("$", r"\$") for t in texts]


def file_slug(label: str) -> str:
    """``label`` as a file-name part that Markdown links take as it is:
    "ensemble rnn+bahdanau" -> "ensemble_rnn-bahdanau"."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", label.replace("+", "-"))


def _attention_source(exp: Experiment, label: str) -> str:
    """For an ensemble, which member's attention its heatmaps show (the first with any)."""
    if not label.startswith("ensemble "):
        return ""
    members = label.removeprefix("ensemble ").split("+")
    first = next((m for m in members if load_config(exp, m).model.name != "rnn"), None)
    return f" (attention of {first})" if first else ""


def plot_attention(exp: Experiment, rows: Sequence[ModelResult], out: Path) -> list[Path]:
    """Heatmaps of the analysed examples' attention, two per model with attention."""
    paths = []
    for r in rows:
        maps = (r.analysis or {}).get("attention") or []
        label = f"{r.model}{_attention_source(exp, r.model)}" if maps else r.model
        for i, m in enumerate(maps, start=1):
            path = out / f"{exp.name}_attention_{file_slug(r.model)}_{i}.png"
            rows_shown = max(2 * len(m["src_tokens"]), 12)  # a run-away output stays legible
            title = f"{label}: {m['source'][:48]}"
            if len(m["out_tokens"]) > rows_shown:
                title += f" (first {rows_shown} of {len(m['out_tokens'])} outputs)"
            plots.attention_heatmap(m["weights"][:rows_shown], _plain(m["src_tokens"]),
                                    _plain(m["out_tokens"][:rows_shown]), path,
                                    title=_plain([title])[0])
            paths.append(path)
    return paths


def fill_sections(path: Path, name: str, bodies: Mapping[str, str]) -> None:
    """Replace each named BEGIN/END section of ``path``; say which ones are missing."""
    text = path.read_text()
    for section, body in bodies.items():
        updated = results_markdown.replace_section(text, section, body)
        if updated is None:
            print(f"{path} has no '{results_markdown.BEGIN.format(section)}' section; "
                  f"{name}: not filled in", file=sys.stderr)
        else:
            text = updated
    write_atomic(path, text)


def run_experiment(exp: Experiment, runs: str | Path = "runs",
                   out: str | Path = "docs/results", *, train: bool = False,
                   beam: int | None = None, models: Sequence[str] | None = None, limit: int = 0,
                   redecode: bool = False, command: str = "",
                   into: str | Path | None = None, average: int = 0,
                   ensembles: Sequence[Sequence[str]] = (),
                   kept: str | Path | None = None,
                   alpha: float | None = None) -> list[ModelResult]:
    """Train (optionally), analyse, plot and tabulate every model of ``exp``.

    Args:
      exp: the experiment.
      runs: the folder holding ``<experiment>/<model>/`` workdirs.
      out: where the markdown fragment and the PNGs go.
      train: train or resume each model first.
      beam: beam size for decoding (1 = greedy); None: each workdir config's choice.
      models: the models to include, in table order (None: all of ``exp.args``).
      limit: decode only the first N test examples (quick looks; 0 = all).
      redecode: decode again even when stored records match.
      command: the command line to quote in the markdown.
      into: a markdown file (RESULTS.md) whose sections ``<!-- BEGIN <experiment> -->``
        ... ``<!-- END <experiment> -->`` and ``<!-- BEGIN <experiment> by length -->``
        ... receive the model table and the by-length part of the fragment.
      average: > 0: score each model with the mean parameters of its newest that
        many checkpoints (``workdir.load_average``) instead of its best one.
      ensembles: groups of models (e.g. ``[("rnn", "bahdanau")]``) each scored
        as one ensemble (``workdir.load_ensemble``), one more row each.
      kept: kept decodes (``--keep-decodes`` output) to read the rows of models
        whose workdirs have no checkpoint from (``kept_summary``).
      alpha: the beam's length-penalty exponent for every row (None: each config's);
        a decode with another than ``config.DEFAULT_ALPHA`` is named ``beam5_alpha1``.

    Returns:
      One ``ModelResult`` per model.
    """
    models = list(exp.args) if models is None else list(models)
    unknown = [m for m in models if m not in exp.args]
    if unknown:
        raise ValueError(f"unknown models {unknown}; {exp.name} has {sorted(exp.args)}")
    runs, out = Path(runs), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for group in ensembles:
        bad = [m for m in group if m not in exp.args]
        if bad or len(group) < 2:
            raise ValueError(f"ensemble {list(group)}: needs two or more of {sorted(exp.args)}")
    kept = None if kept is None else Path(kept)
    rows = [run_model(exp, m, runs, train=train, beam=beam, limit=limit, redecode=redecode,
                      average=average, kept=kept, alpha=alpha) for m in models]
    rows += [run_ensemble(exp, group, runs, beam=beam, limit=limit, redecode=redecode,
                          average=average, kept=kept, alpha=alpha) for group in ensembles]
    plot_by_length(exp, rows, out / f"{exp.name}_by_length.png")
    figures = plot_attention(exp, rows, out)
    command = command or f"python scripts/results.py {exp.name}"
    shown = [out / f"{exp.name}_by_length.png", *figures]
    summary = results_markdown.summary_markdown(exp, rows, command)
    write_atomic(out / f"{exp.name}.md",
                 summary + "\n" + results_markdown.length_markdown(exp, rows, shown, out))
    if into is not None and Path(into).exists():
        fill_sections(Path(into), exp.name, {
            exp.name: summary,
            f"{exp.name} by length": results_markdown.length_markdown(
                exp, rows, shown, Path(into).parent)})
    return rows
