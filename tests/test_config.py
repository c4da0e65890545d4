"""The experiment config: defaults, validation messages, JSON round trip."""

from __future__ import annotations

import json

import pytest

from seq2seq_jax import config as config_lib
from seq2seq_jax import models
from seq2seq_jax.errors import ConfigError


def _set(c, option: str, value) -> None:
    section, name = option.split(".")
    c[section][name] = value


def test_default_config_validates():
    config_lib.validate(config_lib.default_config())


def test_default_metric_is_a_known_metric_and_method_a_known_method():
    c = config_lib.default_config()
    assert c.train.metric in config_lib.METRICS
    assert c.decode.method in config_lib.DECODE_METHODS


@pytest.mark.parametrize("option, choices", [
    ("data.src_tokenizer", config_lib.TOKENIZERS),
    ("data.tgt_tokenizer", config_lib.TOKENIZERS),
    ("data.spm_model_type", config_lib.SPM_TYPES),
    ("train.optimizer", config_lib.OPTIMIZERS),
    ("train.schedule", config_lib.SCHEDULES),
    ("train.metric", config_lib.task_metrics("cmudict_g2p")),
    ("decode.method", config_lib.DECODE_METHODS),
])
def test_bad_choice_names_the_option_and_lists_the_choices(option, choices):
    c = config_lib.default_config()
    _set(c, option, "bogus")
    with pytest.raises(ConfigError) as err:
        config_lib.validate(c)
    msg = str(err.value)
    assert f"{option}='bogus'" in msg
    for choice in choices:
        assert repr(choice) in msg


@pytest.mark.parametrize("option", [
    "data.max_src_len", "data.max_tgt_len", "data.batch_size", "data.eval_batch_size",
    "data.vocab_size", "train.num_steps", "train.log_every", "train.eval_every",
    "train.checkpoint_every", "train.keep_checkpoints", "decode.beam_size"])
@pytest.mark.parametrize("value", [0, -3, 2.5, True])
def test_sizes_must_be_positive_integers(option, value):
    # ConfigDict refuses a float for an int field, but a JSON file can carry one.
    d = config_lib.default_config().to_dict()
    section, name = option.split(".")
    d[section][name] = value
    c = config_lib.from_json(json.dumps(d))
    with pytest.raises(ConfigError, match=rf"{option}=.*must be an integer >= 1"):
        config_lib.validate(c)


@pytest.mark.parametrize("option", [
    "data.train_limit", "data.eval_limit", "train.warmup_steps", "train.patience",
    "train.eval_max_examples", "decode.max_len"])
def test_counts_may_be_zero_but_not_negative(option):
    c = config_lib.default_config()
    _set(c, option, 0)
    config_lib.validate(c)
    _set(c, option, -1)
    with pytest.raises(ConfigError, match=rf"{option}=-1 must be an integer >= 0"):
        config_lib.validate(c)


@pytest.mark.parametrize("option, bad, good, message", [
    ("train.learning_rate", 0.0, 1e-4, "must be > 0"),
    ("train.learning_rate", -1e-3, 1e-4, "must be > 0"),
    ("train.label_smoothing", -0.1, 0.0, r"must be in \[0, 1\)"),
    ("train.label_smoothing", 1.0, 0.5, r"must be in \[0, 1\)"),
    ("decode.top_p", 0.0, 1.0, r"must be in \(0, 1\]"),
    ("decode.top_p", 1.5, 0.9, r"must be in \(0, 1\]"),
    ("decode.temperature", 0.0, 0.5, "must be > 0"),
    ("decode.temperature", -1.0, 2.0, "must be > 0"),
])
def test_bad_numbers_are_rejected(option, bad, good, message):
    c = config_lib.default_config()
    _set(c, option, bad)
    with pytest.raises(ConfigError, match=rf"{option}=.*{message}"):
        config_lib.validate(c)
    _set(c, option, good)
    config_lib.validate(c)


def test_the_model_section_is_validated_too():
    c = config_lib.default_config()
    c.model.cell = "rnn"
    with pytest.raises(ConfigError, match=r"model\.cell='rnn'.*'lstm'"):
        config_lib.validate(c)
    c = config_lib.default_config()
    c.model.heads = 4  # a Transformer option on an RNN model
    with pytest.raises(ConfigError, match=r"model\.heads is not an option"):
        config_lib.validate(c)


def test_json_round_trip():
    c = config_lib.default_config()
    c.data.name = "synthetic/copy"
    c.train.metric = "exact_match"
    c.train.learning_rate = 1.5e-4
    c.data.synthetic.num_train = 7
    text = config_lib.to_json(c)
    assert json.loads(text)["train"]["learning_rate"] == 1.5e-4
    back = config_lib.from_json(text)
    assert back.to_dict() == c.to_dict()
    assert back.data.synthetic.num_train == 7 and back.data.name == "synthetic/copy"
    config_lib.validate(back)
    assert config_lib.to_json(back) == text


@pytest.mark.parametrize("data, good, bad", [
    ("cmudict_g2p", "per", "bleu"), ("synthetic/copy", "exact_match", "wer"),
    ("multi30k/en_de_tok", "tok_bleu", "exact_match"), ("multi30k/en_de_raw", "chrf", "tok_bleu"),
])
def test_train_metric_must_be_one_the_task_produces(data, good, bad):
    c = config_lib.default_config()
    c.data.name = data
    c.train.metric = good
    config_lib.validate(c)
    c.train.metric = bad
    with pytest.raises(config_lib.ConfigError, match=f"train.metric='{bad}' is not valid"):
        config_lib.validate(c)


def test_parallel_and_accumulation_defaults_change_nothing():
    c = config_lib.default_config()
    assert c.train.grad_accum_steps == 1
    assert c.parallel.model_parallel == 1 and c.parallel.distributed is False
    assert c.model.dtype == "float32" and c.model.remat is False


@pytest.mark.parametrize("option", ["train.grad_accum_steps", "parallel.model_parallel"])
@pytest.mark.parametrize("value", [0, -2, 1.5])
def test_accumulation_and_model_parallel_must_be_positive_integers(option, value):
    d = config_lib.default_config().to_dict()
    section, name = option.split(".")
    d[section][name] = value
    with pytest.raises(ConfigError, match=rf"{option}=.*must be an integer >= 1"):
        config_lib.validate(config_lib.from_json(json.dumps(d)))


def test_parallel_distributed_must_be_a_bool():
    d = config_lib.default_config().to_dict()
    d["parallel"]["distributed"] = "yes"
    with pytest.raises(ConfigError, match=r"parallel\.distributed='yes' must be True or False"):
        config_lib.validate(config_lib.from_json(json.dumps(d)))


def test_configs_without_the_new_sections_still_validate():
    d = config_lib.default_config().to_dict()
    del d["parallel"], d["train"]["grad_accum_steps"]
    config_lib.validate(config_lib.from_json(json.dumps(d)))


@pytest.mark.parametrize("family", models.NAMES)
def test_every_option_has_a_meaning(family):
    """``train --help`` explains every key of every family's config."""
    c = config_lib.default_config()
    c.model = config_lib.model_section(name=family)
    missing = [key for key, _, text in config_lib.describe(c) if not text]
    assert missing == []


def test_a_stop_rule_other_than_exact_is_named_in_eval_files_and_checked():
    from seq2seq_jax import layout

    assert layout.decode_tag("beam", 5) == "beam5"
    assert layout.decode_tag("beam", 5, 1.5, stop="first_k") == "beam5_alpha1.5_first_k"
    assert layout.eval_file("test", layout.decode_tag("beam", 5, stop="current")) == (
        "eval_test_beam5_current.json")
    c = config_lib.default_config()
    config_lib.apply_decode_options(c, 5, False, None, None, "first_k")
    assert (c.decode.method, c.decode.stop) == ("beam", "first_k")
    with pytest.raises(ConfigError, match="--stop never: choose one of exact"):
        config_lib.apply_decode_options(c, 5, False, None, None, "never")
