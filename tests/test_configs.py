"""Every experiment config loads and passes validation."""

from __future__ import annotations

import dataclasses
import importlib.util

import pytest

from seq2seq_jax import config as config_lib
from seq2seq_jax import models

CONFIGS = config_lib.CONFIGS_DIR
CASES = [("g2p_bahdanau.py", None), ("g2p_rnn.py", None), ("g2p_luong.py", None),
         ("g2p_transformer.py", None)]
CASES += [("g014b2b.py", m) for m in ("rnn", "bahdanau", "luong", "transformer",
                                       "bahdanau_query_input", "bahdanau_seed1",
                                       "bahdanau_query_input_seed1", "bahdanau_seed2",
                                       "bahdanau_query_input_seed2", "bahdanau_seed3",
                                       "bahdanau_rerun", "bahdanau_query_input_rerun",
                                       "bahdanau_enc2", "bahdanau_long",
                                       "bahdanau_query_input_long", "bahdanau_enc2_long",
                                       "bahdanau_query_input_enc2", "transformer_long",
                                       "transformer_distilled")]
CASES += [("multi30k.py", m) for m in ("rnn", "bahdanau", "luong", "luong_long", "transformer",
                                        "bahdanau_query_input", "luong_concat",
                                        "luong_long_seed2", "bahdanau_query_input_long",
                                        "rnn_every_step", "bahdanau_words",
                                        "bahdanau_gru", "bahdanau_query_cell",
                                        "transformer_wu",
                                        "transformer_wu_seed1", "transformer_wu_seed2",
                                        "transformer_wu_seed3")]
CASES += [("multi30k.py", "transformer,de_en"), ("multi30k.py", "bahdanau,en_fr")]
CASES += [("synthetic.py", a) for a in ("reverse", "copy,rnn", "addition,transformer")]
CASES += [("smoke.py", s) for s in ("cmudict_g2p", "multi30k", "tfds", "synthetic")]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name[:-3], CONFIGS / name)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name, arg", CASES)
def test_config_is_valid_and_documented(name, arg):
    mod = _load(name)
    config = mod.get_config(arg) if arg is not None else mod.get_config()
    config_lib.validate(config)
    doc = mod.__doc__ or ""
    assert f"seq2seq-jax train --config {name[:-3]}" in doc  # the command, by name
    assert len(doc.strip().splitlines()) <= 12  # the command and what it reaches; history
    assert "../shared" not in doc  # lives in RESULTS.md, data paths are the user's


def test_configs_are_named_and_resolved_from_the_package(tmp_path):
    assert {"g014b2b", "g2p_bahdanau", "multi30k", "smoke", "synthetic"} <= set(
        config_lib.config_names())
    path, arg = config_lib.resolve_config("g014b2b:bahdanau")
    assert path == CONFIGS / "g014b2b.py" and arg == "bahdanau"
    assert config_lib.resolve_config("g2p_luong") == (CONFIGS / "g2p_luong.py", None)
    own = tmp_path / "mine.py"
    assert config_lib.resolve_config(f"{own}:x") == (own, "x")  # a file is taken as it is
    with pytest.raises(config_lib.ConfigError, match=r"no config named 'g2p'.*g2p_luong"):
        config_lib.resolve_config("g2p:bahdanau")


@pytest.mark.parametrize("name, arg", CASES)
def test_model_section_takes_every_option_of_its_family(name, arg):
    """``--config.model.X=...`` only overrides keys that exist in the file's config."""
    mod = _load(name)
    config = mod.get_config(arg) if arg is not None else mod.get_config()
    model = config.model
    fields = {f.name for f in dataclasses.fields(models.config_class(model.name))}
    assert set(model.keys()) == fields - {"src_vocab", "tgt_vocab", "attention"} | {"name"}
    changes = {"dtype": "bfloat16", "remat": True}
    if model.name != "transformer":
        changes.update(cell="gru", context_mode="every_step", unroll=2,
                       query_cell=False)  # a GRU has no memory cell to read
    model.update(changes)
    cfg = models.make_config(model, 12, 12)
    for key, value in changes.items():
        assert getattr(cfg, key) == value


def test_model_section_needs_a_name_and_known_options():
    with pytest.raises(config_lib.ConfigError, match=r"model\.name is missing"):
        config_lib.model_section(hidden=3)
    with pytest.raises(config_lib.ConfigError, match=r"model\.d_model is not an option"):
        config_lib.model_section(name="luong", d_model=3)
    assert config_lib.model_section(name="transformer").d_model == 128


@pytest.mark.parametrize("name, bad", [("multi30k.py", "gpt"), ("multi30k.py", "rnn,en_xx"),
                                       ("synthetic.py", "sort"), ("smoke.py", "imagenet")])
def test_bad_config_argument_lists_choices(name, bad):
    with pytest.raises(ValueError, match="not valid; "):
        _load(name).get_config(bad)


def test_multi30k_luong_long_is_luong_longer_from_another_seed():
    mod = _load("multi30k.py")
    base, long = mod.get_config("luong"), mod.get_config("luong_long,en_fr")
    assert long.model.to_dict() == base.model.to_dict()
    assert (long.train.num_steps, long.seed) == (2 * base.train.num_steps, 1)
    assert long.data.name == "multi30k/en_fr_tok" and base.seed == 0
    # the ensemble's members: the same long run from a third seed, and the
    # token-in-query Bahdanau one and a half times as long
    seed2 = mod.get_config("luong_long_seed2")
    assert (seed2.model.to_dict(), seed2.train.to_dict(), seed2.seed) == (
        long.model.to_dict(), long.train.to_dict(), 2)
    bqi, bqi_long = mod.get_config("bahdanau_query_input"), mod.get_config(
        "bahdanau_query_input_long")
    assert bqi_long.model.to_dict() == bqi.model.to_dict() and bqi_long.seed == 1
    assert bqi_long.train.num_steps == 6000 == 1.5 * bqi.train.num_steps


def test_g014b2b_seed_members_differ_from_their_bases_in_the_seed_alone():
    mod = _load("g014b2b.py")
    for base_name in ("bahdanau", "bahdanau_query_input"):
        base = mod.get_config(base_name)
        assert mod.get_config(f"{base_name}_rerun").to_dict() == base.to_dict()
        for seed in (1, 2, 3):
            member = mod.get_config(f"{base_name}_seed{seed}")
            assert (member.model.to_dict(), member.train.to_dict(), member.data.to_dict()) == (
                base.model.to_dict(), base.train.to_dict(), base.data.to_dict())
            assert (base.seed, member.seed) == (0, seed)


def test_g014b2b_stronger_members_change_depth_or_length_and_nothing_else():
    mod = _load("g014b2b.py")
    base = mod.get_config("bahdanau")
    deep, long = mod.get_config("bahdanau_enc2"), mod.get_config("bahdanau_long")
    assert {**base.model.to_dict(), "enc_layers": 2} == deep.model.to_dict() != base.model.to_dict()
    assert long.model.to_dict() == base.model.to_dict()
    for member, steps in ((deep, 15_000), (long, 20_000)):
        assert {**base.train.to_dict(), "num_steps": steps} == member.train.to_dict()
        assert member.data.to_dict() == base.data.to_dict()
    assert (base.train.num_steps, deep.seed, long.seed) == (10_000, 0, 4)
    qi, qi_long = mod.get_config("bahdanau_query_input"), mod.get_config(
        "bahdanau_query_input_long")
    assert qi_long.model.to_dict() == qi.model.to_dict() != base.model.to_dict()
    assert {**qi.train.to_dict(), "num_steps": 20_000} == qi_long.train.to_dict()
    assert qi_long.seed == 4
    deep_long = mod.get_config("bahdanau_enc2_long")
    assert deep_long.model.to_dict() == deep.model.to_dict()
    assert {**deep.train.to_dict(), "num_steps": 20_000} == deep_long.train.to_dict()
    assert deep_long.seed == 5
    qi_deep = mod.get_config("bahdanau_query_input_enc2")
    assert {**qi.model.to_dict(), "enc_layers": 2} == qi_deep.model.to_dict()
    assert {**qi.model.to_dict(), "enc_layers": 2} != deep.model.to_dict()
    assert {**qi.train.to_dict(), "num_steps": 15_000} == qi_deep.train.to_dict()
    assert qi_deep.seed == 6


def test_multi30k_bahdanau_query_input_differs_from_bahdanau_in_the_query_alone():
    mod = _load("multi30k.py")
    base, variant = mod.get_config("bahdanau"), mod.get_config("bahdanau_query_input")
    assert {**base.model.to_dict(), "query_input": True} == variant.model.to_dict()
    assert base.model.query_input is False
    assert (base.train.to_dict(), base.seed) == (variant.train.to_dict(), variant.seed)


def test_multi30k_rnn_every_step_differs_from_rnn_in_the_context_mode_alone():
    mod = _load("multi30k.py")
    base, variant = mod.get_config("rnn,de_en"), mod.get_config("rnn_every_step,de_en")
    assert {**base.model.to_dict(), "context_mode": "every_step"} == variant.model.to_dict()
    assert base.model.context_mode == "init"
    assert (base.train.to_dict(), base.seed) == (variant.train.to_dict(), variant.seed)


def test_multi30k_bahdanau_words_differs_from_bahdanau_in_the_tokens_alone():
    mod = _load("multi30k.py")
    base, variant = mod.get_config("bahdanau,de_en"), mod.get_config("bahdanau_words,de_en")
    assert base.model.to_dict() == variant.model.to_dict()
    assert (base.train.to_dict(), base.seed) == (variant.train.to_dict(), variant.seed)
    assert base.data.src_tokenizer == "sentencepiece"
    changed = {"src_tokenizer": "symbol", "tgt_tokenizer": "symbol", "joint_vocab": False}
    assert {**base.data.to_dict(), **changed} == variant.data.to_dict()


def test_multi30k_bahdanau_gru_differs_from_bahdanau_in_the_cell_alone():
    mod = _load("multi30k.py")
    base, variant = mod.get_config("bahdanau,de_en"), mod.get_config("bahdanau_gru,de_en")
    assert {**base.model.to_dict(), "cell": "gru"} == variant.model.to_dict()
    assert base.model.cell == "lstm"
    assert (base.data.to_dict(), base.train.to_dict(), base.seed) == (
        variant.data.to_dict(), variant.train.to_dict(), variant.seed)


def test_multi30k_bahdanau_query_cell_differs_from_bahdanau_in_the_query_alone():
    mod = _load("multi30k.py")
    base, variant = mod.get_config("bahdanau,de_en"), mod.get_config("bahdanau_query_cell,de_en")
    assert {**base.model.to_dict(), "query_cell": True} == variant.model.to_dict()
    assert base.model.query_cell is False
    assert (base.data.to_dict(), base.train.to_dict(), base.seed) == (
        variant.data.to_dict(), variant.train.to_dict(), variant.seed)


def test_multi30k_transformer_wu_changes_the_recipe_not_the_shape():
    mod = _load("multi30k.py")
    base, wu = mod.get_config("transformer"), mod.get_config("transformer_wu")
    assert {**base.model.to_dict(), "ff_dim": 256, "dropout": 0.3} == wu.model.to_dict()
    assert (wu.data.batch_size, base.data.batch_size) == (256, 64)
    assert {**base.train.to_dict(), "learning_rate": 3.5e-3, "warmup_steps": 2000,
            "keep_checkpoints": 5} == wu.train.to_dict()
    for name, seed in (("transformer_wu_seed1", 1), ("transformer_wu_seed2", 2),
                       ("transformer_wu_seed3", 3)):
        other = mod.get_config(name)
        assert (wu.seed, other.seed) == (0, seed)
        assert (other.model.to_dict(), other.train.to_dict()) == (wu.model.to_dict(),
                                                                  wu.train.to_dict())


def test_multi30k_luong_concat_differs_from_luong_in_the_score_alone():
    mod = _load("multi30k.py")
    base, variant = mod.get_config("luong"), mod.get_config("luong_concat,de_en")
    assert {**base.model.to_dict(), "luong_score": "concat"} == variant.model.to_dict()
    assert base.train.to_dict() == variant.train.to_dict()


def test_multi30k_pair_picks_the_data():
    mod = _load("multi30k.py")
    assert mod.get_config("transformer,de_en").data.name == "multi30k/de_en_tok"
    assert mod.get_config("rnn").data.name == "multi30k/en_de_tok"


def test_synthetic_matched_rnn_has_the_attention_models_size_and_nothing_else_changes():
    import jax

    from seq2seq_jax.models import registry
    from seq2seq_jax.models.model_config import make_config

    mod = _load("synthetic.py")

    def size(arg: str) -> int:  # as training builds it, on the task's 30 symbols
        section = mod.get_config(arg).model
        cfg = make_config(section, src_vocab=30, tgt_vocab=30)
        model = registry.get_model(section.name)
        return registry.param_count(model.init(jax.random.PRNGKey(0), cfg))

    rnn, matched = mod.get_config("reverse,rnn"), mod.get_config("reverse,rnn_matched")
    assert matched.model.hidden > rnn.model.hidden
    assert {**matched.model.to_dict(), "hidden": 0} == {**rnn.model.to_dict(), "hidden": 0}
    assert matched.train.to_dict() == rnn.train.to_dict()
    luong, bahdanau = size("reverse,luong"), size("reverse,bahdanau")
    assert min(luong, bahdanau) * 0.95 < size("reverse,rnn_matched") < max(luong, bahdanau) * 1.05
    assert size("reverse,rnn") < 0.6 * luong  # the unmatched one, for contrast
    rotary, long = (mod.get_config(f"reverse,{m}") for m in ("transformer_rotary",
                                                                 "transformer_rotary_long"))
    assert long.model.to_dict() == rotary.model.to_dict()
    assert long.train.num_steps == 2 * rotary.train.num_steps
    deep = mod.get_config("reverse,transformer_rotary_deep")
    assert deep.train.to_dict() == long.train.to_dict()
    assert {**deep.model.to_dict(), "enc_layers": 2, "dec_layers": 2} == rotary.model.to_dict()
    assert (deep.model.enc_layers, deep.model.dec_layers) == (3, 3)
