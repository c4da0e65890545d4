"""Analysis: hand-computed bucket scores on fixed strings, and tiny trained workdirs."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import jax
import pytest

from seq2seq_jax import config as config_lib
from seq2seq_jax.bench import decoding as bench_decode
from seq2seq_jax.bench import harness as bench
from seq2seq_jax.cli import commands
from seq2seq_jax.evaluation import evaluate, metrics
from seq2seq_jax.lab import analysis
from seq2seq_jax.lab.analysis import Record
from seq2seq_jax.training import host

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.py"
# Test lengths past the smoke config's longest training input (8), as in the
# bottleneck experiment; decode.max_len stays the training evaluation's 16.
LONGER = {"data.synthetic.test_max_len": 12}


def smoke_config(source: str):
    """``configs/smoke.py:source`` cut to one step and one evaluation."""
    spec = importlib.util.spec_from_file_location("smoke_for_analysis", SMOKE)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    c = mod.get_config(source)
    c.train.update(num_steps=1, eval_every=1, checkpoint_every=1, log_every=1)
    return c


def tiny_workdir(base: Path, source: str, shared_tfds=None) -> Path:
    """A trained smoke workdir, trained once per test session (``base`` is shared);
    local datasets are read from ``shared_tfds`` (conftest)."""
    directory = base / f"tiny_{source}"
    done = directory / "TRAINED"
    if not done.exists():
        shutil.rmtree(directory, ignore_errors=True)
        config = smoke_config(source)
        if shared_tfds is not None:
            shared_tfds.prepare(config.data.name)
            config.data.data_dir = str(shared_tfds.root)
        commands.run_train(config, str(directory))
        done.touch()
    return directory


@pytest.fixture
def synthetic_wd(tmp_path_factory, tmp_path) -> Path:
    """A private copy (analyses write into the workdir)."""
    shared = tiny_workdir(tmp_path_factory.getbasetemp(), "synthetic")
    return Path(shutil.copytree(shared, tmp_path / "wd"))


def _strict_json(path: Path) -> dict:
    def no_constants(name: str):
        raise AssertionError(f"{name} in {path}")

    return json.loads(path.read_text(), parse_constant=no_constants)


def _recs(rows) -> list[Record]:
    """Records from (length, hypothesis, references...) tuples."""
    return [Record(i, "x" * n, list(refs), hyp, n) for i, (n, hyp, *refs) in enumerate(rows)]


# ---------------------------------------------------------------- fixed strings


@pytest.mark.skipif(not hasattr(host.os, "sched_getaffinity"), reason="no CPU affinity")
def test_host_description_counts_the_cores_taskset_allows(monkeypatch):
    monkeypatch.setattr(host.os, "sched_getaffinity", lambda pid: {3})
    assert ", 1 CPU core, JAX " in analysis.host_description()
    monkeypatch.setattr(host.os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert ", 3 CPU cores, JAX " in analysis.host_description()
    if jax.devices()[0].platform == "cpu":  # the benchmarks name the same cores
        assert bench.device_name().endswith(" x3")
        args = SimpleNamespace(batch=1, max_len=1, steps="cap", cell="lstm")
        assert bench_decode.environment(args)["cpus"] == 3


def test_source_length_counts_task_units():
    assert analysis.source_length("g2p", "o'neil") == 6
    assert analysis.source_length("synthetic", "abc de") == 6
    assert analysis.source_length("translation", "a man , in a hat .") == 7
    # Raw text goes through sacreBLEU's 13a tokeniser first: "hat." is two words.
    assert analysis.source_length("translation", "A man, in a hat.", tokenized=False) == 7


def test_records_round_trip(tmp_path):
    records = [Record(0, "müde", ["M UW D AH", "M Y UW D AH"], "M UW D", 4),
               Record(1, "ein hund .", ["a dog ."], "a dog .", 3, ["A dog."])]
    path = tmp_path / "r.jsonl"
    analysis.save_records(path, records)
    assert analysis.load_records(path) == records
    assert len(path.read_text().splitlines()) == 2


def test_g2p_buckets_by_hand():
    records = _recs([
        (3, "K AE T", "K AE T"),  # <=4: correct
        (5, "HH AH L OW", "HH AH L OW"),  # 5-8: correct
        (6, "T AH M EY T OW", "T AH M AA T OW", "T AH M EY T OW"),  # correct (2nd ref)
        (8, "B AH D", "B AE D"),  # wrong: 1 edit over 3
        (9, "AH", "AH B AH K AH S"),  # 9+: wrong, 5 edits over 6
    ])
    buckets = analysis.bucket_scores("g2p", records, edges=(4, 8))
    assert [(b["label"], b["n"]) for b in buckets] == [("<=4", 1), ("5-8", 3), ("9+", 1)]
    assert [b["wer"] for b in buckets] == pytest.approx([0.0, 100 / 3, 100.0])
    assert buckets[1]["per"] == pytest.approx(100 * 1 / (4 + 6 + 3))
    assert buckets[2]["per"] == pytest.approx(100 * 5 / 6)
    assert [b["mean_length"] for b in buckets] == pytest.approx([3, 19 / 3, 9])
    overall = analysis.score_records("g2p", records)
    assert overall["wer"] == pytest.approx(40.0)
    assert overall["wer"] == pytest.approx(
        sum(b["n"] * b["wer"] for b in buckets) / len(records))
    assert overall["per"] == pytest.approx(
        100 * sum(b["phone_edits"] for b in buckets) / sum(b["ref_phones"] for b in buckets))


def test_synthetic_buckets_by_hand_and_empty_bucket():
    records = _recs([(2, "ba", "ba"), (3, "cba", "cbb"), (12, "lkjihgfedcb", "lkjihgfedcba")])
    buckets = analysis.bucket_scores("synthetic", records, edges=(4, 8))
    assert [b["n"] for b in buckets] == [2, 0, 1]
    assert buckets[0]["exact_match"] == pytest.approx(50.0)
    assert buckets[0]["char_accuracy"] == pytest.approx(100 * 4 / 5)
    assert buckets[1]["exact_match"] is None and buckets[1]["mean_length"] is None
    assert (buckets[2]["exact_match"], buckets[2]["char_accuracy"]) == pytest.approx(
        (0.0, 100 * 11 / 12))
    overall = analysis.score_records("synthetic", records)
    assert overall["exact_match"] == pytest.approx(100 / 3)
    assert overall["exact_matches"] == 1
    assert overall["char_accuracy"] == pytest.approx(100 * 15 / 17)


def test_translation_bucket_bleu_is_the_buckets_corpus_bleu():
    short = [(4, "a dog runs fast", "a dog runs fast"),
             (4, "the cat sat down", "a cat sat down")]
    long = [(9, "zwei männer stehen vor einem roten auto in der stadt",
             "zwei frauen sitzen neben einem blauen bus auf dem land")]
    records = _recs(short + long)
    buckets = analysis.bucket_scores("translation", records, edges=(5,))
    assert [b["n"] for b in buckets] == [2, 1]
    expected = metrics.tok_bleu([h for _, h, _ in short], [r for _, _, r in short])["bleu"]
    assert buckets[0]["tok_bleu"] == pytest.approx(expected)
    # Corpus BLEU pools n-gram counts: not the mean of the two sentences' BLEU.
    sentence = [metrics.tok_bleu([h], [r])["bleu"] for _, h, r in short]
    assert expected != pytest.approx(sum(sentence) / 2)
    assert buckets[1]["tok_bleu"] == 0.0  # no 3-gram matches, no smoothing
    assert analysis.bucket_scores("translation", records[:1], edges=(5,))[0]["tok_bleu"] == \
        pytest.approx(100.0)


def test_translation_scores_detokenised_against_raw_references():
    hyp = "ein mann mit einem roten hut steht auf einer leiter ."
    raw = "Ein Mann mit einem roten Hut steht auf einer Leiter."
    records = [Record(0, "a man", [hyp], hyp, 2, [raw])]
    s = analysis.score_records("translation", records)
    assert s["tok_bleu"] == pytest.approx(100.0)
    assert s["bleu_lc"] == pytest.approx(100.0)  # only case differs after detokenising
    assert 0 < s["bleu"] < 100
    assert "case:mixed" in s["bleu_signature"] and "case:lc" in s["bleu_lc_signature"]
    assert "tok:none" in s["tok_bleu_signature"]
    # Without raw references only the tokenised score exists.
    bare = analysis.score_records("translation", [Record(0, "a", [hyp], hyp, 1)])
    assert set(bare) == {"tok_bleu", "tok_bleu_signature"}


def test_pick_examples_is_deterministic_and_distinct():
    records = _recs([(3, "", "a"), (7, "", "a"), (6, "", "a"), (8, "", "a"), (7, "", "a")])
    assert analysis.pick_examples(records, [7, 7, 100]) == [1, 4, 3]
    assert analysis.pick_examples(records, []) == []
    assert analysis.pick_examples(records[:1], [3, 3]) == [0]


def test_set_options_and_beam():
    c = config_lib.default_config()
    analysis.set_options(c, {"data.synthetic.test_max_len": 99, "decode.max_len": 7})
    assert (c.data.synthetic.test_max_len, c.decode.max_len) == (99, 7)
    with pytest.raises(KeyError, match=r"data\.nope"):
        analysis.set_options(c, {"data.nope": 1})
    analysis.set_beam(c, 4)
    assert (c.decode.method, c.decode.beam_size, analysis.decode_name(c)) == ("beam", 4, "beam4")
    analysis.set_beam(c, 1)
    assert analysis.decode_name(c) == "greedy"


def test_a_length_penalty_other_than_the_default_is_in_the_decode_name():
    c = config_lib.default_config()
    analysis.set_beam(c, 5, alpha=1.0)
    assert (c.decode.alpha, analysis.decode_name(c)) == (1.0, "beam5_alpha1")
    assert analysis.analysis_name(c, average=3) == "beam5_alpha1_avg3"
    analysis.set_beam(c, 5, alpha=config_lib.DEFAULT_ALPHA)
    assert analysis.decode_name(c) == "beam5"  # the names of earlier decodes stay
    analysis.set_beam(c, 1, alpha=1.0)
    assert analysis.decode_name(c) == "greedy"  # greedy has no length penalty


# ---------------------------------------------------------------- trained workdirs


def test_analyze_synthetic_workdir(synthetic_wd):
    s = analysis.analyze(synthetic_wd, edges=(4, 8), options=LONGER, attention_lengths=(3, 10))
    records_path, summary_path = analysis.analysis_paths(synthetic_wd, "test", "greedy")
    assert _strict_json(summary_path) == s
    records = analysis.load_records(records_path)
    assert s["examples"] == len(records) == 32 and s["kind"] == "synthetic"
    assert [r.index for r in records] == list(range(32))
    assert all(r.length == len(r.source) and r.references == [r.source[::-1]] for r in records)
    assert max(r.length for r in records) > 8 and s["truncated_sources"] == 0
    buckets = s["by_length"]
    assert [b["label"] for b in buckets] == ["<=4", "5-8", "9+"]
    assert sum(b["n"] for b in buckets) == s["examples"]
    filled = [b for b in buckets if b["n"]]
    assert s["metrics"]["exact_match"] == pytest.approx(
        sum(b["n"] * b["exact_match"] for b in filled) / s["examples"])
    assert s["metrics"]["char_accuracy"] == pytest.approx(
        100 * sum(b["char_matches"] for b in filled) / sum(b["char_positions"] for b in filled))
    # Recomputed from the stored records alone, the scores are the same.
    assert analysis.score_records("synthetic", records) == pytest.approx(s["metrics"])
    assert s["params"] > 0 and s["decode_seconds"] > 0 and "CPU" in s["hardware"]
    maps = s["attention"]
    assert [m["index"] for m in maps] == analysis.pick_examples(records, (3, 10))
    for m in maps:
        assert len(m["weights"]) == len(m["out_tokens"])
        assert all(len(row) == len(m["src_tokens"]) for row in m["weights"])
        assert all(math.isclose(sum(row), 1.0, abs_tol=1e-3) for row in m["weights"])


def test_analyze_reuses_stored_records_until_asked(synthetic_wd, monkeypatch):
    first = analysis.analyze(synthetic_wd, edges=(4, 8), options=LONGER)
    summary = next((synthetic_wd / "analysis").glob("test_*.json"))
    written = summary.read_bytes()
    analysis.analyze(synthetic_wd, edges=(4, 8), options=LONGER)
    assert summary.read_bytes() == written  # re-scored, byte for byte (kept copies stay)
    calls = []
    real = analysis.decode_records

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(analysis, "decode_records", counting)
    again = analysis.analyze(synthetic_wd, edges=(2, 4, 6, 8), options=LONGER)
    assert calls == [] and again["metrics"] == first["metrics"]
    assert again["decode_seconds"] == first["decode_seconds"]
    assert len(again["by_length"]) == 5  # new buckets from the same records
    analysis.analyze(synthetic_wd, edges=(4, 8), options=LONGER, redecode=True)
    assert calls == [1]
    analysis.analyze(synthetic_wd, edges=(4, 8), options={})  # other options: other test set
    assert calls == [1, 1]


def test_analyze_with_averaged_checkpoints_is_its_own_decode(synthetic_wd):
    from seq2seq_jax.errors import ConfigError
    from seq2seq_jax.training import checkpoint

    steps = checkpoint.complete_steps(synthetic_wd)
    plain = analysis.analyze(synthetic_wd, edges=(4, 8), options=LONGER)
    avg = analysis.analyze(synthetic_wd, edges=(4, 8), options=LONGER, average=1)
    assert avg["decode"] == "greedy_avg1" and avg["key"]["averaged"] == steps[-1:]
    assert "averaged" not in plain["key"]  # decodes stored before averaging stay valid
    _, summary_path = analysis.analysis_paths(synthetic_wd, "test", "greedy_avg1")
    assert _strict_json(summary_path) == avg
    # One training step: the newest checkpoint is the best one, so the scores agree.
    assert plain["step"] == avg["step"] == steps[-1]
    assert avg["metrics"] == pytest.approx(plain["metrics"])
    with pytest.raises(ConfigError, match="keep_checkpoints"):
        analysis.analyze(synthetic_wd, edges=(4, 8), options=LONGER, average=len(steps) + 1)


def test_analyze_an_ensemble_of_a_workdir_and_its_twin_decodes_as_the_workdir(
        synthetic_wd, tmp_path_factory):
    twin = Path(shutil.copytree(synthetic_wd, tmp_path_factory.mktemp("twin") / "twin"))
    plain = analysis.analyze(synthetic_wd, edges=(4, 8), options=LONGER)
    both = analysis.analyze(synthetic_wd, edges=(4, 8), options=LONGER, ensemble=[twin])
    assert both["decode"] == "greedy_ens-wd+twin" and both["model"] == plain["model"]
    assert [m[0] for m in both["key"]["members"]] == [str(synthetic_wd), str(twin)]
    assert both["params"] == 2 * plain["params"]
    hyps = [[r.hypothesis for r in analysis.load_records(synthetic_wd / "analysis" / s[
        "records_file"])] for s in (plain, both)]
    assert hyps[0] == hyps[1] and both["metrics"] == pytest.approx(plain["metrics"])


def test_analyze_an_averaged_export_alone_and_in_an_ensemble(synthetic_wd, tmp_path):
    from seq2seq_jax.lab import markdown as results_markdown
    from seq2seq_jax.training import checkpoint
    from seq2seq_jax.training.export import export

    steps = checkpoint.complete_steps(synthetic_wd)
    out = tmp_path / "exported"
    export(synthetic_wd, out, average=1)
    avg = analysis.analyze(out, edges=(4, 8), options=LONGER, average=1)
    assert avg["decode"] == "greedy_avg1" and avg["key"]["checkpoint"] == checkpoint.BEST
    assert avg["key"]["averaged"] == steps[-1:] and avg["step"] == steps[-1]
    direct = analysis.analyze(synthetic_wd, edges=(4, 8), options=LONGER, average=1)
    assert avg["metrics"] == pytest.approx(direct["metrics"])
    # without --average it is still the mean it was exported as, and says so
    plain = analysis.analyze(out, edges=(4, 8), options=LONGER)
    assert plain["decode"] == "greedy" and plain["key"]["averaged"] == steps[-1:]
    label = f"mean of 1 checkpoints ({steps[-1]:,}–{steps[-1]:,})"
    assert results_markdown._scored(plain) == results_markdown._scored(avg) == label
    both = analysis.analyze(synthetic_wd, edges=(4, 8), options=LONGER, average=1,
                            ensemble=[out])
    assert both["key"]["members"][1] == [str(out), checkpoint.BEST, steps[-1], steps[-1:]]
    assert results_markdown._scored(both) == "; ".join(
        [f"wd mean of 1 ({steps[-1]:,}–{steps[-1]:,})",
         f"exported mean of 1 ({steps[-1]:,}–{steps[-1]:,})"])


def test_analyze_g2p_workdir_groups_references(tmp_path_factory, shared_tfds):
    directory = tiny_workdir(tmp_path_factory.getbasetemp(), "cmudict_g2p", shared_tfds)
    directory = Path(shutil.copytree(directory, tmp_path_factory.mktemp("g2p") / "wd"))
    s = analysis.analyze(directory, edges=(4, 6, 8), limit=40, attention_lengths=(6,))
    assert s["records_file"] == "test-first40_greedy.jsonl" and s["unit"] == "letters"
    records = analysis.load_records(directory / "analysis" / s["records_file"])
    assert len({r.source for r in records}) == len(records) == s["examples"]
    assert all(r.length == len(r.source) for r in records)
    # The overall scores are the evaluation's own.
    expected = evaluate.score("g2p", [r.hypothesis for r in records],
                              [r.references for r in records])
    assert s["metrics"] == pytest.approx(expected)
    buckets = s["by_length"]
    assert sum(b["n"] for b in buckets) == s["examples"]
    filled = [b for b in buckets if b["n"]]
    assert s["metrics"]["wer"] == pytest.approx(
        sum(b["n"] * b["wer"] for b in filled) / s["examples"])
    assert s["metrics"]["per"] == pytest.approx(
        100 * sum(b["phone_edits"] for b in filled) / sum(b["ref_phones"] for b in filled))
    assert len(s["attention"]) == 1
