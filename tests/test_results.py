"""Results: experiment definitions, training facts from logs, tables, figures, the script."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from scripts_loader import load_script
from test_analysis import LONGER, tiny_workdir

from seq2seq_jax import config as config_lib
from seq2seq_jax.lab import (
    analysis,
    experiments,
    keep,
    results,
    significance,
)
from seq2seq_jax.lab import (
    markdown as results_markdown,
)
from seq2seq_jax.training.lock import WorkdirLock

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = experiments.Experiment(
    name="tiny", title="tiny reverse", config=str(ROOT / "configs" / "smoke.py"),
    args={"rnn": "synthetic", "bahdanau": "synthetic"},
    by_length=(("exact_match", "exact match %"), ("char_accuracy", "char accuracy %")),
    columns=(("exact_match", "EM %"), ("char_accuracy", "char %")),
    edges=(4, 8), options=LONGER, attention_lengths=(3, 10),
    train_length_option="data.synthetic.train_max_len")


@pytest.fixture
def runs(tmp_path_factory, tmp_path) -> Path:
    """``runs/tiny/bahdanau`` trained; ``runs/tiny/rnn`` missing."""
    trained = tiny_workdir(tmp_path_factory.getbasetemp(), "synthetic")
    shutil.copytree(trained, tmp_path / "runs" / "tiny" / "bahdanau")
    return tmp_path / "runs"


def _write_metrics(directory: Path, rows: list[dict], **train) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    c = config_lib.default_config()
    c.train.update(train)
    (directory / "config.json").write_text(config_lib.to_json(c))
    (directory / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


# ---------------------------------------------------------------- no model


def test_training_info_by_hand(tmp_path):
    rows = [{"split": "train", "step": 10, "steps_per_s": 5.0},  # 10 steps: 2 s
            {"split": "train", "step": 20, "steps_per_s": 2.0},  # 5 s
            {"split": "dev", "step": 20, "wer": 30.0},
            {"split": "train", "step": 20, "steps_per_s": 2.5},  # resumed at 10: 4 s
            {"split": "dev", "step": 20, "wer": 25.0},
            {"split": "train", "step": 25, "steps_per_s": 2.5},  # a last, short window: 2 s
            {"split": "dev", "step": 25, "wer": 27.0}]
    _write_metrics(tmp_path, rows, log_every=10, num_steps=25, metric="wer")
    results_markdown.note_hardware(tmp_path, "machine A")
    results_markdown.note_hardware(tmp_path, "machine A")
    results_markdown.note_hardware(tmp_path, "machine B")
    info = results_markdown.training_info(tmp_path)
    assert (info.steps, info.num_steps, info.restarts, info.from_scratch) == (25, 25, 1, 0)
    assert info.seconds == pytest.approx(2 + 5 + 4 + 2)
    assert (info.dev_metric, info.best_dev, info.best_step) == ("wer", 25.0, 20)
    assert info.hardware == ("machine A", "machine B")


def test_training_time_after_a_process_first_window_comes_from_the_timestamps(tmp_path):
    # steps_per_s claims 1 s a window; the records were written 7 s apart
    rows = [{"split": "train", "step": 10, "steps_per_s": 10.0, "time": 100.0},
            {"split": "train", "step": 20, "steps_per_s": 10.0, "time": 107.0},
            {"split": "train", "step": 30, "steps_per_s": 10.0, "time": 114.0},
            # resumed from step 20 a day later: its first window from steps_per_s again
            {"split": "train", "step": 30, "steps_per_s": 5.0, "time": 90_000.0},
            {"split": "train", "step": 40, "steps_per_s": 5.0, "time": 90_009.0}]
    _write_metrics(tmp_path, rows, log_every=10, num_steps=40, metric="wer")
    info = results_markdown.training_info(tmp_path)
    assert info.restarts == 1
    assert info.seconds == pytest.approx(1 + 7 + 7 + 2 + 9)


def test_a_run_cut_before_its_first_checkpoint_is_a_restart_from_step_0(tmp_path):
    rows = [{"split": "train", "step": s, "steps_per_s": 1.0} for s in (10, 20, 30)]
    rows += [{"split": "train", "step": s, "steps_per_s": 1.0} for s in (10, 20, 30, 40)]
    rows += [{"split": "train", "step": s, "steps_per_s": 1.0} for s in (30, 40, 50)]
    _write_metrics(tmp_path, rows, log_every=10, num_steps=50, metric="wer")
    info = results_markdown.training_info(tmp_path)
    assert (info.restarts, info.from_scratch) == (2, 1)
    assert results_markdown._restart_note(info) == " (1 resume, 1 restart from step 0)"
    assert results_markdown._restart_note(info._replace(restarts=0, from_scratch=0)) == ""


def test_training_info_of_an_empty_workdir(tmp_path):
    info = results_markdown.training_info(tmp_path)
    assert (info.steps, info.seconds, info.best_dev, info.hardware) == (
        0, None, None, ())


@pytest.mark.parametrize("seconds, text", [(None, "–"), (4.25, "4.2 s"), (43, "43 s"),
                                           (688, "11 min 28 s"), (11100, "3 h 05 min")])
def test_duration(seconds, text):
    assert results_markdown.duration(seconds) == text


def test_bucket_labels():
    rows = analysis.bucket_scores("synthetic", [analysis.Record(0, "ab", ["ba"], "ba", 2)],
                                  edges=(4, 5, 8))
    assert [results_markdown.bucket_label(b) for b in rows] == ["≤4", "5", "6-8", "9+"]


def test_replace_section():
    doc = "intro\n<!-- BEGIN tiny -->\nold\n<!-- END tiny -->\noutro\n"
    new = results_markdown.replace_section(doc, "tiny", "new\n")
    assert new == "intro\n<!-- BEGIN tiny -->\nnew\n<!-- END tiny -->\noutro\n"
    assert results_markdown.replace_section(new, "tiny", "new\n") == new
    assert results_markdown.replace_section(doc, "other", "x") is None


@pytest.mark.parametrize("name", experiments.NAMES)
def test_experiments_load_and_validate_for_every_model(name):
    exp = experiments.all_experiments()[name]
    assert set(experiments.MODELS) <= set(exp.args)  # variants (multi30k's luong_long) may add
    if exp.config:  # every model the config file offers, none it lacks
        assert tuple(exp.args) == experiments.config_models(exp.config)
    assert list(exp.edges) == sorted(set(exp.edges))
    for model in exp.args:
        c = experiments.load_config(exp, model)
        assert c.model.name == model.partition("_")[0]  # luong_long is a Luong model
        analysis.set_options(c, dict(exp.options))  # every option exists
        config_lib.validate(c)
        kind = config_lib.task_kind(c.data.name)
        assert exp.by_length[0][0] == analysis.main_metric(
            kind, analysis.is_tokenized(c.data.name))


def test_config_models_reads_the_models_dict_and_names_a_missing_file(tmp_path):
    (tmp_path / "two.py").write_text("MODELS = {'b': {}, 'a': {}}\n")
    assert experiments.config_models(str(tmp_path / "two.py")) == ("b", "a")
    with pytest.raises(FileNotFoundError, match=r"absent\.py"):
        experiments.config_models(str(tmp_path / "absent.py"))


def test_with_data_root_resolves_relative_data_folders_only(tmp_path):
    exp = experiments.all_experiments()["g014b2b"]
    assert exp.manual_dir == "cmudict_g014b2b"  # a folder name, no machine path
    assert experiments.with_data_root(exp, tmp_path).manual_dir == str(
        tmp_path / "cmudict_g014b2b")
    assert experiments.with_data_root(exp, None).manual_dir == ""
    absolute = dataclasses.replace(exp, manual_dir=str(tmp_path))
    assert experiments.with_data_root(absolute, "/elsewhere").manual_dir == str(tmp_path)


def test_ensemble_heatmaps_name_the_member_whose_attention_they_show():
    exp = experiments.all_experiments()["multi30k"]
    assert results._attention_source(exp, "ensemble rnn+luong+bahdanau") == (
        " (attention of luong)")
    assert results._attention_source(exp, "ensemble rnn+rnn") == ""
    assert results._attention_source(exp, "bahdanau") == ""


def test_missing_models_give_not_trained_rows(tmp_path):
    rows = results.run_experiment(TINY, tmp_path / "runs", tmp_path / "out",
                                  ensembles=[("rnn", "bahdanau")])
    assert [(r.model, r.status) for r in rows] == [("rnn", "not trained"),
                                                   ("bahdanau", "not trained"),
                                                   ("ensemble rnn+bahdanau", "rnn not trained")]
    text = (tmp_path / "out" / "tiny.md").read_text()
    assert text.count("| not trained |") == 2 and "| rnn not trained |" in text
    for bad in (("rnn",), ("rnn", "gru")):
        with pytest.raises(ValueError, match="needs two or more"):
            results.run_experiment(TINY, tmp_path / "runs", tmp_path / "out", ensembles=[bad])
    assert text.count("Not yet measured") == 2  # one by-length table per plotted metric
    assert (tmp_path / "out" / "tiny_by_length.png").read_bytes()[:8] == PNG_MAGIC


# ---------------------------------------------------------------- a trained workdir


def test_run_experiment_writes_table_figures_and_section(runs, tmp_path):
    out = tmp_path / "docs" / "results"
    into = tmp_path / "RESULTS.md"
    into.write_text("# Results\n<!-- BEGIN tiny -->\nplaceholder\n<!-- END tiny -->\n"
                    "figures:\n<!-- BEGIN tiny by length -->\n<!-- END tiny by length -->\n")
    rows = results.run_experiment(TINY, runs, out, command="python scripts/results.py tiny",
                                  into=into)
    rnn, bahdanau = rows
    assert rnn.status == "not trained" and bahdanau.status == "ok"
    a = bahdanau.analysis
    assert a is not None and bahdanau.training is not None
    assert bahdanau.training.steps == 1 and bahdanau.training.seconds is not None
    assert (runs / "tiny" / "bahdanau" / "analysis" / "test_greedy.jsonl").exists()
    text = (out / "tiny.md").read_text()
    assert "python scripts/results.py tiny" in text
    assert "| rnn | `" in text and "| not trained |" in text
    row = next(line for line in text.splitlines() if line.startswith("| bahdanau |"))
    assert f"{a['params']:,}" in row and f"{a['metrics']['exact_match']:.2f}" in row
    assert "greedy" in row
    table = [line for line in text.splitlines() if line.startswith(("| ≤4 ", "| 5-8 ", "| 9+ "))]
    assert len(table) == 2 * (len(TINY.edges) + 1)
    assert sum(int(line.split("|")[2].strip()) for line in table) == 2 * a["examples"]
    for name in ("tiny_by_length.png", "tiny_attention_bahdanau_1.png",
                 "tiny_attention_bahdanau_2.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
        assert f"]({name})" in text
    assert not list(out.glob("tiny_attention_rnn_*"))
    doc = into.read_text()
    table_part, length_part = doc.split("figures:")
    assert table_part.startswith("# Results\n<!-- BEGIN tiny -->\n")
    assert "placeholder" not in doc and "| bahdanau |" in table_part
    assert "](docs/results/tiny_by_length.png)" in length_part
    assert "](docs/results/tiny_attention_bahdanau_2.png)" in length_part
    assert length_part.endswith("<!-- END tiny by length -->\n")


def test_the_by_length_figure_names_each_model_with_its_parameter_count(tmp_path, monkeypatch):
    drawn = {}
    monkeypatch.setattr(results.plots, "length_curves",
                        lambda panels, counts, path, **kw: drawn.update(panels=panels))
    bucket = {"mean_length": 3.0, "n": 2, "exact_match": 50.0, "char_accuracy": 75.0}
    analysis_of = {"by_length": [bucket], "unit": "characters", "params": 1_096_670}
    rows = [results_markdown.ModelResult("rnn", tmp_path, "a", "ok", analysis_of, None),
            results_markdown.ModelResult("bahdanau", tmp_path, "b", "not trained", None, None)]
    results.plot_by_length(TINY, rows, tmp_path / "f.png")
    assert len(drawn["panels"]) == len(TINY.by_length)
    for (_, series), (key, _) in zip(drawn["panels"], TINY.by_length, strict=True):
        assert list(series) == ["rnn (1.10 M parameters)", "bahdanau (not trained)"]
        assert series["rnn (1.10 M parameters)"] == ([3.0], [bucket[key]])


def test_alpha_decodes_again_under_its_own_name(runs, tmp_path):
    workdir = runs / "tiny" / "bahdanau"
    plain, = results.run_experiment(TINY, runs, tmp_path / "a", models=["bahdanau"],
                                     beam=2, into=None)
    other, = results.run_experiment(TINY, runs, tmp_path / "b", models=["bahdanau"],
                                     beam=2, alpha=2.5, into=None)
    assert plain.analysis is not None and other.analysis is not None
    assert (plain.analysis["decode"], other.analysis["decode"]) == ("beam2", "beam2_alpha2.5")
    assert plain.analysis["key"]["decode"]["alpha"] == config_lib.DEFAULT_ALPHA
    assert other.analysis["key"]["decode"]["alpha"] == 2.5
    assert (workdir / "analysis" / "test_beam2.jsonl").exists()
    assert (workdir / "analysis" / "test_beam2_alpha2.5.jsonl").exists()
    assert "beam2_alpha2.5" in (tmp_path / "b" / "tiny.md").read_text()


def test_an_ensemble_gets_its_own_row_and_line(runs, tmp_path):
    shutil.copytree(runs / "tiny" / "bahdanau", runs / "tiny" / "rnn")
    rows = results.run_experiment(TINY, runs, tmp_path / "out", into=None,
                                  ensembles=[("bahdanau", "rnn")])
    rnn, bahdanau, both = rows
    assert rnn.status == bahdanau.status == "ok"
    assert both.model == "ensemble bahdanau+rnn" and both.status == "ok"
    assert both.analysis is not None and both.training is not None
    # Two copies of one model: the ensemble decodes exactly as each of them.
    assert both.analysis["metrics"] == pytest.approx(bahdanau.analysis["metrics"])
    assert both.training.steps == 2 * bahdanau.training.steps
    assert both.analysis["params"] == 2 * bahdanau.analysis["params"]
    row = next(line for line in (tmp_path / "out" / "tiny.md").read_text().splitlines()
               if line.startswith("| ensemble bahdanau+rnn |"))
    assert "bahdanau best 1; rnn best 1" in row and "greedy_ens-bahdanau+rnn" in row


def test_kept_decodes_of_a_table_are_read_back_for_significance_tests(runs, tmp_path):
    rows = results.run_experiment(TINY, runs, tmp_path / "out", into=None)
    kept = tmp_path / "kept"
    written = keep.keep_rows(TINY.name, [(r.workdir, r.analysis) for r in rows], kept)
    assert written and all(p.is_relative_to(kept / "tiny" / "bahdanau")
                           or p.is_relative_to(kept / "tiny" / keep.REFERENCES) for p in written)
    shutil.rmtree(runs)  # the workdirs go; the kept records still back the row
    records = significance.load_system(kept, "tiny", "bahdanau", decode="greedy")
    bahdanau = rows[1].analysis
    assert bahdanau is not None and len(records) == bahdanau["examples"]
    summary = json.loads((kept / "tiny" / "bahdanau" / "analysis" / "test_greedy.json")
                         .read_text())
    assert summary["metrics"] == bahdanau["metrics"]


def test_a_table_and_its_figures_regenerate_from_kept_decodes_alone(runs, tmp_path):
    shutil.copytree(runs / "tiny" / "bahdanau", runs / "tiny" / "rnn")
    before = results.run_experiment(TINY, runs, tmp_path / "before", into=None,
                                    ensembles=[("bahdanau", "rnn")])
    kept = tmp_path / "kept"
    keep.keep_rows(TINY.name, [(r.workdir, r.analysis) for r in before], kept)
    shutil.rmtree(runs)  # no checkpoint left anywhere
    out = tmp_path / "after"
    after = results.run_experiment(TINY, runs, out, into=None, ensembles=[("bahdanau", "rnn")],
                                   kept=kept)
    assert [r.status for r in after] == ["ok"] * 3
    assert [r.source for r in after] == ["kept"] * 3
    for old, new in zip(before, after, strict=True):
        assert new.analysis == old.analysis and new.training == old.training
    text = (out / "tiny.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| ensemble bahdanau+rnn |"))
    assert "greedy_ens-bahdanau+rnn (kept records)" in row
    assert (out / "tiny_attention_bahdanau_1.png").read_bytes()[:8] == PNG_MAGIC
    assert (out / "tiny_by_length.png").read_bytes()[:8] == PNG_MAGIC
    # Another decode was never kept: the row says so instead of showing the greedy scores.
    beam = results.run_experiment(TINY, runs, tmp_path / "beam", into=None, beam=3, kept=kept)
    assert [r.status for r in beam] == ["not trained"] * 2
    # A kept summary that is not the decode its name says gives a failed row naming the file.
    summary = kept / "tiny" / "rnn" / "analysis" / "test_greedy.json"
    summary.write_text(json.dumps({**json.loads(summary.read_text()), "decode": "beam3"}))
    bad = results.run_model(TINY, "rnn", runs, kept=kept)
    assert bad.status.startswith("failed: ValueError") and "test_greedy.json" in bad.status


def test_train_resumes_a_finished_run_and_records_the_machine(runs):
    directory = runs / "tiny" / "bahdanau"
    before = (directory / "metrics.jsonl").read_text()
    result = results.run_model(TINY, "bahdanau", runs, train=True)
    assert result.status == "ok"
    assert (directory / "metrics.jsonl").read_text() == before  # nothing left to train
    assert (directory / "hardware.txt").read_text().strip() == analysis.host_description()
    assert result.training is not None
    assert result.training.hardware == (analysis.host_description(),)


def test_a_workdir_in_training_gets_a_row_not_a_decode(runs, tmp_path):
    directory = runs / "tiny" / "bahdanau"
    with WorkdirLock(directory):
        rows = results.run_experiment(TINY, runs, tmp_path / "out", into=None)
    steps = results_markdown.training_info(directory).steps
    assert rows[1].status == f"training now (step {steps:,} of {steps:,})"
    assert rows[1].analysis is None and not (directory / "analysis").exists()
    assert f"| training now (step {steps:,} of {steps:,}) |" in (
        tmp_path / "out" / "tiny.md").read_text()
    assert results.run_model(TINY, "bahdanau", runs).status == "ok"  # lock released
    starting = runs / "tiny" / "rnn"  # locked, before its config.json is written
    starting.mkdir(parents=True)
    with WorkdirLock(starting):
        assert results.run_model(TINY, "rnn", runs).status == "training now (starting)"


def test_script_runs_an_experiment_without_workdirs(tmp_path, capsys):
    script = load_script("results")
    out = tmp_path / "out"
    assert script.main(["synthetic_reverse", "--runs", str(tmp_path / "runs"), "--out", str(out),
                        "--models", "rnn,luong", "--into", "",
                        "--keep-decodes", str(tmp_path / "kept")]) == 0
    err = capsys.readouterr().err
    assert "synthetic_reverse luong: not trained" in err
    assert "synthetic_reverse: 0 files kept" in err and not (tmp_path / "kept").exists()
    text = (out / "synthetic_reverse.md").read_text()
    assert "python scripts/results.py synthetic_reverse --runs" in text
    assert "| rnn |" in text and "| luong |" in text and "| bahdanau |" not in text
    with pytest.raises(SystemExit):
        script.main(["nope"])
    with pytest.raises(SystemExit):  # a mistyped kept folder is named, not read as empty
        script.main(["synthetic_reverse", "--from-kept", str(tmp_path / "typo")])
    assert "--from-kept" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        script.main(["synthetic_reverse", "--alpha", "nan"])
    assert "--alpha nan: the length-penalty exponent must be a finite" in capsys.readouterr().err
    for option, value, words in [("--beam", "0", "the beam size must be >= 1"),
                                 ("--limit", "-1", "must be >= 0"),
                                 ("--average", "-2", "must be >= 0")]:
        with pytest.raises(SystemExit):  # rejected before any workdir is read
            script.main(["synthetic_reverse", option, value])
        assert f"{option} {value}: {words}" in capsys.readouterr().err


def test_attention_plots_escape_dollar_signs(tmp_path):
    # Unescaped, "a$^$" and "$_$" are mathtext that matplotlib cannot parse.
    attention = [{"index": 0, "source": "costs a$^$", "src_tokens": ["a$^$", "x"],
                  "out_tokens": ["$_$", "</s>"], "weights": [[0.5, 0.5], [0.0, 1.0]]}]
    row = results.ModelResult("bahdanau", tmp_path, "c.py:a", "ok",
                              {"attention": attention}, None)
    paths = results.plot_attention(TINY, [row], tmp_path)
    assert [p.name for p in paths] == ["tiny_attention_bahdanau_1.png"]
    assert paths[0].read_bytes()[:8] == PNG_MAGIC
    both = row._replace(model="ensemble bahdanau+rnn")
    names = [p.name for p in results.plot_attention(TINY, [both], tmp_path)]
    assert names == ["tiny_attention_ensemble_bahdanau-rnn_1.png"]  # no space for Markdown


def test_an_unreadable_workdir_gives_a_failed_row_not_a_crash(tmp_path):
    (tmp_path / "runs" / "tiny" / "rnn" / "checkpoints" / "1").mkdir(parents=True)
    rows = results.run_experiment(TINY, tmp_path / "runs", tmp_path / "out")
    assert rows[0].status.startswith("failed: ") and rows[1].status == "not trained"
    text = (tmp_path / "out" / "tiny.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| rnn |"))
    assert "| failed: " in row and row.count("|") == text.splitlines()[4].count("|")


def test_results_md_has_both_sections_of_every_experiment():
    text = (Path(__file__).resolve().parents[1] / "RESULTS.md").read_text()
    assert tuple(experiments.all_experiments()) == experiments.NAMES
    for name in experiments.NAMES:
        for section in (name, f"{name} by length"):
            assert results_markdown.BEGIN.format(section) in text, section
            assert results_markdown.END.format(section) in text, section


def test_scored_checkpoint_names_the_averaged_steps():
    plain = {"checkpoint": "best", "step": 9000, "key": {"checkpoint": "best"}}
    assert results_markdown._scored(plain) == "best 9,000"
    averaged = {"checkpoint": "checkpoints", "step": 10000,
                "key": {"averaged": [9000, 9500, 10000]}}
    assert results_markdown._scored(averaged) == "mean of 3 checkpoints (9,000–10,000)"
    members = {"checkpoint": "checkpoints", "step": 10000, "key": {"members": [
        ["runs/x/rnn", "checkpoints", 10000, [9000, 9500, 10000]],
        ["runs/x/bahdanau", "checkpoints", 8000, [7000, 7500, 8000]]]}}
    assert results_markdown._scored(members) == (
        "rnn mean of 3 (9,000–10,000); bahdanau mean of 3 (7,000–8,000)")
    best = {**members, "key": {"members": [["runs/x/rnn", "best", 9000, []]]}}
    assert results_markdown._scored(best) == "rnn best 9,000"


def test_ensemble_training_keeps_each_hardware_note_with_its_member():
    def info(hardware: tuple[str, ...], seconds: float) -> results_markdown.TrainingInfo:
        return results_markdown.TrainingInfo(
            steps=10, num_steps=10, seconds=seconds, restarts=1, from_scratch=0,
            dev_metric="wer", best_dev=1.0, best_step=10, hardware=hardware)

    both = results._ensemble_training([("rnn", info(("cpu core 1", "also shared with tests"), 5.0)),
                                       ("luong", info(("cpu core 1",), 7.0)),
                                       ("bahdanau", info((), 1.0))])
    assert both.hardware == ("rnn: cpu core 1; also shared with tests", "luong: cpu core 1",
                             "bahdanau: not recorded")
    assert (both.steps, both.seconds, both.restarts, both.best_dev) == (30, 13.0, 3, None)
    alike = results._ensemble_training([("a", info(("cpu core 1", "x"), 1.0)),
                                        ("b", info(("cpu core 1", "x"), 1.0))])
    assert alike.hardware == ("cpu core 1", "x")
