"""The recurrent encoder-decoder family: no attention, Bahdanau and Luong.

Shapes: S source length, T target length, D embedding width, E encoder output
width, V vocabulary. Every function is for one example; batch with ``jax.vmap``.
"""

from __future__ import annotations

from typing import Any

import jax

from seq2seq_jax.constants import PAD_ID
from seq2seq_jax.models import lstm, nn, rnn_decoder
from seq2seq_jax.models.interface import Model, Output, StepOutput
from seq2seq_jax.models.model_config import RNNConfig

Array = jax.Array
Params = dict[str, Any]


def init(key: Array, cfg: RNNConfig) -> Params:
    """Params ``{"src_embed", "encoder": {"layers"}, "decoder": {...}}``."""
    ks, ke, kd = jax.random.split(key, 3)
    return {
        "src_embed": nn.embed_init(ks, cfg.src_vocab, cfg.embed_dim),
        "encoder": lstm.encoder_init(ke, cfg.cell, cfg.embed_dim, cfg.hidden, cfg.enc_layers,
                                     cfg.bidirectional, cfg.forget_bias),
        "decoder": rnn_decoder.init(kd, cfg),
    }


def encode(params: Params, cfg: RNNConfig, src: Array,
           key: Array | None = None) -> rnn_decoder.Memory:
    """Encode ``src: [S]`` (padded with ``PAD_ID``) into the decoder's memory."""
    k_emb, k_enc = nn.split_key(key, 2)
    mask = src != PAD_ID
    x = nn.embed(params["src_embed"], src, nn.compute_dtype(cfg.dtype))
    x = nn.dropout(k_emb, x, cfg.dropout)
    out, finals = lstm.encode(params["encoder"], cfg.cell, x, mask, dropout=cfg.dropout,
                              key=k_enc, hoist=cfg.hoist, unroll=cfg.unroll, remat=cfg.remat,
                              impl=cfg.encoder_impl)
    out = nn.dropout(None if k_enc is None else jax.random.fold_in(k_enc, 1), out, cfg.dropout)
    return rnn_decoder.make_memory(params["decoder"], cfg, out, mask, finals)


def init_cache(params: Params, cfg: RNNConfig, memory: rnn_decoder.Memory,
               max_len: int) -> rnn_decoder.DecoderState:
    """The decoder's first state; ``max_len`` is unused (the state has fixed size)."""
    del max_len
    return rnn_decoder.init_state(params["decoder"], cfg, memory)


def step(params: Params, cfg: RNNConfig, memory: rnn_decoder.Memory,
         cache: rnn_decoder.DecoderState, token: Array,
         key: Array | None = None) -> tuple[StepOutput, rnn_decoder.DecoderState]:
    """One decoding step: ``token`` (int scalar) -> logits ``[V]``, attention ``[S]``."""
    return rnn_decoder.step(params["decoder"], cfg, memory, cache, token, key)


def apply(params: Params, cfg: RNNConfig, src: Array, tgt_in: Array,
          key: Array | None = None) -> Output:
    """Teacher-forced: logits ``[T, V]`` and attention ``[T, S]`` (None without attention)."""
    k_enc, k_dec = nn.split_key(key, 2)
    memory = encode(params, cfg, src, k_enc)
    logits, attn = rnn_decoder.teacher_forced(params["decoder"], cfg, memory, tgt_in, k_dec)
    return Output(logits, attn)


MODEL = Model(name="rnn", init=init, apply=apply, encode=encode, init_cache=init_cache,
              step=step)
