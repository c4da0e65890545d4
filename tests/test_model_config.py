"""Static model configs: validation messages, hashing, frozenness, derived widths."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import pytest

from seq2seq_jax.models.model_config import (
    ATTENTION_IMPLS,
    ATTENTIONS,
    CELLS,
    CONTEXT_MODES,
    DTYPES,
    LUONG_SCORES,
    ConfigError,
    RNNConfig,
    TransformerConfig,
)


def rnn(**kw) -> RNNConfig:
    return RNNConfig(src_vocab=10, tgt_vocab=12, **kw)


def tfm(**kw) -> TransformerConfig:
    return TransformerConfig(src_vocab=10, tgt_vocab=12, **kw)


def test_defaults_validate_and_return_self():
    cfg = rnn()
    assert cfg.validate() is cfg
    t = tfm()
    assert t.validate() is t


@pytest.mark.parametrize("option, choices", [
    ("cell", CELLS), ("attention", ATTENTIONS), ("luong_score", LUONG_SCORES),
    ("context_mode", CONTEXT_MODES), ("dtype", DTYPES)])
def test_rnn_choice_options_name_the_option_and_the_choices(option, choices):
    with pytest.raises(ConfigError) as err:
        rnn(**{option: "bogus"}).validate()
    msg = str(err.value)
    assert f"model.{option}='bogus'" in msg
    for choice in choices:
        assert repr(choice) in msg
    for choice in choices:  # and every listed choice is accepted on its own
        if option == "luong_score" and choice in ("dot", "scaled_dot"):
            continue  # needs matching widths; covered below
        rnn(**{option: choice}).validate()


@pytest.mark.parametrize("option", ["src_vocab", "tgt_vocab", "embed_dim", "hidden",
                                    "enc_layers", "dec_layers", "unroll", "attn_dim"])
@pytest.mark.parametrize("value", [0, -1, 2.0])
def test_rnn_sizes_must_be_positive_integers(option, value):
    if option == "attn_dim" and value == 0:
        rnn(attn_dim=0).validate()  # 0 means "use hidden"
        return
    kw = {"src_vocab": 10, "tgt_vocab": 12, option: value}
    with pytest.raises(ConfigError, match=rf"model\.{option}=.*positive integer"):
        RNNConfig(**kw).validate()


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_rnn_dropout_must_be_a_rate(rate):
    with pytest.raises(ConfigError, match=r"model\.dropout=.*\[0, 1\)"):
        rnn(dropout=rate).validate()
    rnn(dropout=0.0).validate()
    rnn(dropout=0.99).validate()


@pytest.mark.parametrize("score", ["dot", "scaled_dot"])
def test_luong_dot_scores_need_equal_encoder_and_decoder_widths(score):
    with pytest.raises(ConfigError, match=rf"model\.luong_score='{score}'.*'general'"):
        rnn(attention="luong", luong_score=score, bidirectional=True).validate()
    rnn(attention="luong", luong_score=score, bidirectional=False).validate()
    # Other attentions do not care about luong_score.
    rnn(attention="bahdanau", luong_score=score, bidirectional=True).validate()
    rnn(attention="luong", luong_score="general", bidirectional=True).validate()


def test_tied_embeddings_need_embed_dim_equal_to_hidden():
    with pytest.raises(ConfigError, match=r"model\.tie_embeddings.*embed_dim == hidden"):
        rnn(tie_embeddings=True, embed_dim=8, hidden=16).validate()
    rnn(tie_embeddings=True, embed_dim=16, hidden=16).validate()


@pytest.mark.parametrize("option", ["src_vocab", "tgt_vocab", "d_model", "heads", "ff_dim",
                                    "enc_layers", "dec_layers", "max_len"])
def test_transformer_sizes_must_be_positive_integers(option):
    kw = {"src_vocab": 10, "tgt_vocab": 12, option: 0}
    with pytest.raises(ConfigError, match=rf"model\.{option}=0 must be a positive integer"):
        TransformerConfig(**kw).validate()


def test_transformer_d_model_must_divide_by_heads():
    with pytest.raises(ConfigError, match=r"model\.d_model=10.*model\.heads=4"):
        tfm(d_model=10, heads=4).validate()
    tfm(d_model=12, heads=4).validate()


def test_transformer_shared_embeddings_need_a_joint_vocabulary():
    with pytest.raises(ConfigError, match=r"model\.share_embeddings.*src_vocab == tgt_vocab"):
        tfm(share_embeddings=True).validate()
    TransformerConfig(src_vocab=11, tgt_vocab=11, share_embeddings=True).validate()


@pytest.mark.parametrize("option, choices", [("attention_impl", ATTENTION_IMPLS),
                                             ("dtype", DTYPES)])
def test_transformer_choice_options(option, choices):
    with pytest.raises(ConfigError) as err:
        tfm(**{option: "bogus"}).validate()
    assert f"model.{option}='bogus'" in str(err.value)
    for choice in choices:
        assert repr(choice) in str(err.value)
        tfm(**{option: choice}).validate()


@pytest.mark.parametrize("option", ["dropout", "attn_dropout"])
@pytest.mark.parametrize("rate", [-0.5, 1.0])
def test_transformer_rates(option, rate):
    with pytest.raises(ConfigError, match=rf"model\.{option}=.*\[0, 1\)"):
        tfm(**{option: rate}).validate()


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


@pytest.mark.parametrize("make", [rnn, tfm])
def test_configs_are_frozen_and_hashable(make):
    a, b = make(), make()
    assert a == b and hash(a) == hash(b)
    c = make(dropout=0.3)
    assert c != a
    assert len({a, b, c}) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.dropout = 0.5  # type: ignore[misc]


def test_configs_work_as_jit_static_arguments():
    traces = []

    def f(x, cfg):
        traces.append(cfg)
        return x * cfg.enc_out_dim

    g = jax.jit(f, static_argnums=1)
    x = jnp.ones(())
    assert float(g(x, rnn(hidden=4))) == 4.0
    assert float(g(x, rnn(hidden=4))) == 4.0  # an equal config hits the cache
    assert len(traces) == 1
    assert float(g(x, rnn(hidden=4, bidirectional=True))) == 8.0
    assert len(traces) == 2


def test_derived_widths():
    assert rnn(hidden=16).enc_out_dim == 16
    assert rnn(hidden=16, bidirectional=True).enc_out_dim == 32
    assert rnn(hidden=16).score_dim == 16  # attn_dim 0 means hidden
    assert rnn(hidden=16, attn_dim=5).score_dim == 5
    assert tfm(d_model=24, heads=3).head_dim == 8


@pytest.mark.parametrize("make", [rnn, tfm])
def test_remat_is_a_flag_off_by_default(make):
    assert make().remat is False
    make(remat=True).validate()
    with pytest.raises(ConfigError, match=r"model\.remat=1 must be True or False"):
        make(remat=1).validate()


def test_query_cell_is_for_bahdanau_with_lstm_cells_only():
    rnn(attention="bahdanau", query_cell=True).validate()
    rnn(attention="bahdanau", query_cell=True, query_input=True).validate()
    for bad in (dict(attention="luong"), dict(attention="none"),
                dict(attention="bahdanau", cell="gru")):
        with pytest.raises(ConfigError, match=r"model\.query_cell=True applies to Bahdanau "
                                              r"attention with LSTM cells only"):
            rnn(query_cell=True, **bad).validate()
    with pytest.raises(ConfigError, match=r"model\.query_cell=1 must be True or False"):
        rnn(attention="bahdanau", query_cell=1).validate()


def test_query_input_is_for_bahdanau_only():
    rnn(attention="bahdanau", query_input=True).validate()
    for attention in ("none", "luong"):
        with pytest.raises(ConfigError, match=r"model\.query_input=True applies to Bahdanau"):
            rnn(attention=attention, query_input=True).validate()
