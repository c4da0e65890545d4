"""Static model hyper-parameters: frozen, hashable dataclasses.

They are passed to jitted functions as static arguments and never live inside
params. ``validate()`` runs before any compilation and raises ``ConfigError``
naming the option and its valid choices.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from seq2seq_jax.errors import ConfigError

CELLS = ("lstm", "gru")
ATTENTIONS = ("none", "bahdanau", "luong")
LUONG_SCORES = ("dot", "general", "concat", "scaled_dot")
CONTEXT_MODES = ("init", "every_step")
ATTENTION_IMPLS = ("einsum", "dot_product_attention")
DTYPES = ("float32", "bfloat16")
POSITIONS = ("sinusoidal", "rotary")
ENCODER_IMPLS = ("scan", "fused")


def _choice(name: str, value: Any, choices: tuple[Any, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"model.{name}={value!r} is not valid; choose one of {list(choices)}")


def _positive(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"model.{name}={value!r} must be a positive integer")


def _flag(name: str, value: bool) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"model.{name}={value!r} must be True or False")


def _rate(name: str, value: float) -> None:
    if not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise ConfigError(f"model.{name}={value!r} must be in [0, 1)")


@dataclasses.dataclass(frozen=True)
class RNNConfig:
    """An LSTM/GRU encoder-decoder, with or without attention.

    Attributes:
      src_vocab, tgt_vocab: vocabulary sizes (ids 0..3 are pad, bos, eos, unk).
      embed_dim: token embedding width.
      hidden: recurrent width per direction.
      enc_layers, dec_layers: stacked recurrent layers.
      bidirectional: encoder reads both ways; states are concatenated.
      cell: "lstm" or "gru".
      dropout: rate between layers and on embeddings / outputs.
      forget_bias: initial LSTM forget-gate bias (1.0, Jozefowicz et al. 2015).
      hoist: compute the encoder's input projection for all steps before the scan.
        Off by default: on the 2-core CPU at B=64, I=256, H=512 the hoisted train
        step was slower (1091 vs 1073 ms at T=64, 1747 vs 1633 ms at T=256),
        while at B=1 it was faster (148 vs 209 ms at T=512); see BENCHMARKS.md.
      unroll: ``lax.scan`` unroll factor.
      attention: "none", "bahdanau" (additive) or "luong" (multiplicative).
      luong_score: "dot", "general", "concat" or "scaled_dot".
      input_feeding: Luong: feed the previous attentional state to the next input.
      query_input: Bahdanau: the scoring network reads the previous output's
        embedding beside the previous state, ``[s_{i-1}; E y_{i-1}]``, so where
        to look next can depend on the token just emitted (as in the conditional
        GRU of Sennrich et al. 2017, which runs a cell on ``y_{i-1}`` first).
        Off: the query is ``s_{i-1}`` alone, as in Bahdanau et al. 2015.
      query_cell: Bahdanau with LSTM cells: the query also reads the top layer's
        memory cell, ``[h_{i-1}; c_{i-1}]`` (before ``E y_{i-1}`` with
        ``query_input``). An LSTM's ``h = o * tanh(c)`` is what its output gate
        lets through; a GRU's state, its whole memory, is already its query.
      context_mode: no attention: "init" (Sutskever et al. 2014) or
        "every_step" (Cho et al. 2014, the context also enters every step).
      attn_dim: width of the additive / concat scoring network.
      tie_embeddings: share the target embedding with the output projection.
      dtype: compute dtype: "float32", or "bfloat16" for mixed precision
        (matmuls and activations in bfloat16; params, gradients, optimizer
        state, the attention softmax, logits and the loss in float32).
      remat: rematerialise (``jax.checkpoint``) each encoder and decoder scan
        step, so the backward pass recomputes a step's activations from its
        carry instead of storing them: less memory, more compute.
      encoder_impl: "scan" (the cell step under ``lax.scan``, differentiated by
        JAX) or "fused" (LSTM only: ``lstm_fused``, a hand-written backward pass
        that computes the weight gradients after the loop; its gradient needs the
        model under ``jax.vmap``, as ``models.batch_apply`` does). See BENCHMARKS.md.
    """

    src_vocab: int
    tgt_vocab: int
    embed_dim: int = 64
    hidden: int = 128
    enc_layers: int = 1
    dec_layers: int = 1
    bidirectional: bool = False
    cell: str = "lstm"
    dropout: float = 0.0
    forget_bias: float = 1.0
    hoist: bool = False
    unroll: int = 1
    attention: str = "bahdanau"
    luong_score: str = "general"
    input_feeding: bool = True
    query_input: bool = False
    query_cell: bool = False
    context_mode: str = "init"
    attn_dim: int = 0  # 0 means hidden
    tie_embeddings: bool = False
    dtype: str = "float32"
    remat: bool = False
    encoder_impl: str = "scan"

    @property
    def enc_out_dim(self) -> int:
        return self.hidden * (2 if self.bidirectional else 1)

    @property
    def score_dim(self) -> int:
        return self.attn_dim or self.hidden

    def validate(self) -> RNNConfig:
        for name in ("src_vocab", "tgt_vocab", "embed_dim", "hidden", "enc_layers",
                     "dec_layers", "unroll", "attn_dim"):
            if name == "attn_dim" and self.attn_dim == 0:
                continue
            _positive(name, getattr(self, name))
        _choice("cell", self.cell, CELLS)
        _choice("attention", self.attention, ATTENTIONS)
        _choice("luong_score", self.luong_score, LUONG_SCORES)
        _choice("context_mode", self.context_mode, CONTEXT_MODES)
        _choice("dtype", self.dtype, DTYPES)
        _flag("remat", self.remat)
        _flag("query_input", self.query_input)
        if self.query_input and self.attention != "bahdanau":
            raise ConfigError("model.query_input=True applies to Bahdanau attention only "
                              "(Luong already scores from the state that read the last "
                              "token); use model.name='bahdanau' or drop the option")
        _flag("query_cell", self.query_cell)
        if self.query_cell and (self.attention != "bahdanau" or self.cell != "lstm"):
            raise ConfigError("model.query_cell=True applies to Bahdanau attention with "
                              "LSTM cells only (a GRU has no memory cell besides its state); "
                              "use model.name='bahdanau' and model.cell='lstm', or drop "
                              "the option")
        _choice("encoder_impl", self.encoder_impl, ENCODER_IMPLS)
        if self.encoder_impl == "fused" and (self.cell != "lstm" or self.remat):
            raise ConfigError("model.encoder_impl='fused' needs model.cell='lstm' and "
                              "model.remat=False; use encoder_impl='scan'")
        _rate("dropout", self.dropout)
        if self.attention == "luong" and self.luong_score in ("dot", "scaled_dot") \
                and self.enc_out_dim != self.hidden:
            raise ConfigError(
                f"model.luong_score={self.luong_score!r} needs encoder width "
                f"({self.enc_out_dim}) == decoder hidden ({self.hidden}); use 'general' "
                "or 'concat', or bidirectional=False")
        if self.tie_embeddings and self.embed_dim != self.hidden:
            raise ConfigError("model.tie_embeddings=True needs embed_dim == hidden")
        return self


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
    """A Transformer encoder-decoder (Vaswani et al. 2017).

    Attributes:
      src_vocab, tgt_vocab: vocabulary sizes.
      d_model: model width; heads: attention heads (d_model % heads == 0).
      ff_dim: feed-forward inner width.
      enc_layers, dec_layers: blocks per stack.
      dropout: residual, embedding and feed-forward dropout.
      attn_dropout: dropout on the attention weights.
      pre_norm: layer norm before each sub-layer (True) or after the residual.
      tie_output: output projection is the transposed target embedding.
      share_embeddings: one embedding table for source and target (joint vocab).
      max_len: longest position the decode cache holds.
      attention_impl: "einsum" or "dot_product_attention" (``jax.nn``).
      positions: "sinusoidal" (absolute encodings added to the embeddings) or
        "rotary" (RoFormer's rotations of self-attention queries and keys, so that
        their product depends on the distance between positions only).
      dtype: compute dtype: "float32", or "bfloat16" for mixed precision
        (params, gradients, optimizer state, layer-norm statistics, the
        attention softmax, logits and the loss stay float32).
      remat: rematerialise (``jax.checkpoint``) every encoder and decoder block
        in the teacher-forced pass: the backward pass recomputes a block's
        activations from its input instead of storing them.
    """

    src_vocab: int
    tgt_vocab: int
    d_model: int = 128
    heads: int = 4
    ff_dim: int = 512
    enc_layers: int = 2
    dec_layers: int = 2
    dropout: float = 0.1
    attn_dropout: float = 0.0
    pre_norm: bool = True
    tie_output: bool = True
    share_embeddings: bool = False
    max_len: int = 256
    attention_impl: str = "einsum"
    dtype: str = "float32"
    remat: bool = False
    positions: str = "sinusoidal"

    @property
    def head_dim(self) -> int:
        return self.d_model // self.heads

    def validate(self) -> TransformerConfig:
        for name in ("src_vocab", "tgt_vocab", "d_model", "heads", "ff_dim",
                     "enc_layers", "dec_layers", "max_len"):
            _positive(name, getattr(self, name))
        if self.d_model % self.heads:
            raise ConfigError(
                f"model.d_model={self.d_model} is not divisible by model.heads={self.heads}")
        if self.share_embeddings and self.src_vocab != self.tgt_vocab:
            raise ConfigError("model.share_embeddings=True needs src_vocab == tgt_vocab "
                              "(a joint vocabulary)")
        _choice("attention_impl", self.attention_impl, ATTENTION_IMPLS)
        _choice("positions", self.positions, POSITIONS)
        if self.positions == "rotary" and self.head_dim % 2:
            raise ConfigError(f"model.positions='rotary' needs an even head width; "
                              f"d_model / heads = {self.head_dim}")
        _choice("dtype", self.dtype, DTYPES)
        _flag("remat", self.remat)
        _rate("dropout", self.dropout)
        _rate("attn_dropout", self.attn_dropout)
        return self


ModelConfig = RNNConfig | TransformerConfig

NAMES = ("rnn", "bahdanau", "luong", "transformer")
_ATTENTION = {"rnn": "none", "bahdanau": "bahdanau", "luong": "luong"}


def config_class(name: str) -> type[RNNConfig] | type[TransformerConfig]:
    """The config dataclass of ``model.name``."""
    if name not in NAMES:
        raise ConfigError(f"model.name={name!r} is not valid; choose one of {list(NAMES)}")
    return TransformerConfig if name == "transformer" else RNNConfig


def option_defaults(name: str) -> dict[str, Any]:
    """Every option a ``model`` section of ``model.name`` may set, with its default.

    The vocabulary sizes and the attention kind are not options: the data and
    the name set them.
    """
    return {f.name: f.default for f in dataclasses.fields(config_class(name))
            if f.name not in ("src_vocab", "tgt_vocab", "attention")}


def check_options(name: str, keys: Any) -> None:
    """``ConfigError`` naming the first of ``keys`` that is no option of ``name``."""
    valid = option_defaults(name)
    unknown = sorted(set(keys) - set(valid) - {"name"})
    if unknown:
        raise ConfigError(f"model.{unknown[0]} is not an option of model.name={name!r}; "
                          f"valid options: {sorted(valid)}")


def make_config(model: Mapping[str, Any], src_vocab: int, tgt_vocab: int) -> ModelConfig:
    """Build and validate the frozen config from a ``model`` mapping (e.g. a ConfigDict).

    ``model["name"]`` picks the family; every other key must be a field of its
    config dataclass. Raises ``ConfigError`` naming an unknown key or a bad value,
    with the valid choices, before anything is compiled.
    """
    model = dict(model)
    name = model.pop("name", None)
    if name is None:
        raise ConfigError(f"model.name is missing; choose one of {list(NAMES)}")
    cls = config_class(name)
    check_options(name, model)
    if name in _ATTENTION:
        model["attention"] = _ATTENTION[name]
    return cls(src_vocab=src_vocab, tgt_vocab=tgt_vocab, **model).validate()


def model_name(cfg: ModelConfig) -> str:
    """The registry name of a config (inverse of ``make_config``)."""
    if isinstance(cfg, TransformerConfig):
        return "transformer"
    return {v: k for k, v in _ATTENTION.items()}[cfg.attention]
