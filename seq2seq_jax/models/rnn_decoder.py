"""The recurrent decoder step, with and without attention, and its teacher-forced scan.

Shapes: S source length, T target length, E encoder output width (H * dirs),
H decoder hidden width, A scoring width, V target vocabulary.

Variants, chosen by ``RNNConfig.attention``:

* ``none``: the context is the encoder's final state. With
  ``context_mode="init"`` it only initialises the decoder (Sutskever et al.
  2014); with ``"every_step"`` it is also concatenated to every step's input and
  to the output layer's input (Cho et al. 2014, eq. 4-5).
* ``bahdanau``: scores ``e_ij = v^T tanh(W s_{i-1} + U h_j)`` from the PREVIOUS
  top-layer state; the context enters the LSTM input, and the output layer reads
  ``[s_i; c_i; E y_{i-1}]`` (Bahdanau et al. 2015, A.1.2 and A.2.2, with tanh in
  place of maxout). With ``query_input`` the query is ``[s_{i-1}; E y_{i-1}]``;
  with ``query_cell`` (LSTM) it also reads the memory cell, ``[h_{i-1}; c_{i-1}]``.
* ``luong``: scores from the CURRENT state ``s_t`` (dot, general, concat,
  scaled dot); the attentional state ``s~_t = tanh(W_c [c_t; s_t])`` feeds the
  softmax (Luong et al. 2015, eq. 5) and, with input feeding, the next step's
  input (section 3.3).

In every variant the decoder starts from the encoder's final state, through
a linear + tanh bridge when the widths differ (bidirectional encoder).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from seq2seq_jax.models import attention, lstm, nn
from seq2seq_jax.models.interface import StepOutput
from seq2seq_jax.models.model_config import RNNConfig

Array = jax.Array
Params = dict[str, Any]


class Memory(NamedTuple):
    """What the decoder reads from the encoder, prepared once per sequence."""

    keys: attention.Keys  # values [S, E], proj [S, A], mask [S]
    context: Array  # [E] the fixed-length context vector (top layer's final h)
    finals: tuple[Any, ...]  # per encoder layer, its final state (fields [E])


class DecoderState(NamedTuple):
    cells: tuple[Any, ...]  # per decoder layer, LSTMState or GRUState (fields [H])
    feed: Array  # [H] previous attentional state (Luong input feeding), else zeros


def score_kind(cfg: RNNConfig) -> str:
    return "additive" if cfg.attention == "bahdanau" else cfg.luong_score


def _query_dim(cfg: RNNConfig) -> int:
    if cfg.attention != "bahdanau":
        return cfg.hidden
    return (cfg.hidden * (2 if cfg.query_cell else 1)
            + (cfg.embed_dim if cfg.query_input else 0))


def _cell_input_dim(cfg: RNNConfig) -> int:
    extra = 0
    if cfg.attention == "bahdanau" or (cfg.attention == "none"
                                       and cfg.context_mode == "every_step"):
        extra = cfg.enc_out_dim
    elif cfg.attention == "luong" and cfg.input_feeding:
        extra = cfg.hidden
    return cfg.embed_dim + extra


def _combine_input_dim(cfg: RNNConfig) -> int:
    if cfg.attention == "bahdanau":
        return cfg.hidden + cfg.enc_out_dim + cfg.embed_dim
    if cfg.attention == "luong":
        return cfg.enc_out_dim + cfg.hidden
    if cfg.context_mode == "every_step":
        return cfg.hidden + cfg.enc_out_dim + cfg.embed_dim
    return 0  # plain Sutskever decoder: logits straight from s_t


def init(key: Array, cfg: RNNConfig) -> Params:
    """Decoder params: embedding, cells, bridge, attention, combine and output."""
    ke, kc, kb, ka, ko, kw = jax.random.split(key, 6)
    cell = lstm.get_cell(cfg.cell)
    params: Params = {"embed": nn.embed_init(ke, cfg.tgt_vocab, cfg.embed_dim)}
    width = _cell_input_dim(cfg)
    layers = []
    for k in jax.random.split(kc, cfg.dec_layers):
        layers.append(cell.init(k, width, cfg.hidden, cfg.forget_bias))
        width = cfg.hidden
    params["layers"] = layers
    if cfg.enc_out_dim != cfg.hidden:
        kh, kcc = jax.random.split(kb)
        params["bridge"] = {"h": nn.dense_init(kh, cfg.enc_out_dim, cfg.hidden)}
        if cfg.cell == "lstm":
            params["bridge"]["c"] = nn.dense_init(kcc, cfg.enc_out_dim, cfg.hidden)
    if cfg.attention != "none":
        params["attention"] = attention.init(ka, score_kind(cfg), _query_dim(cfg), cfg.enc_out_dim,
                                             cfg.score_dim)
    if _combine_input_dim(cfg):
        params["combine"] = nn.dense_init(kw, _combine_input_dim(cfg), cfg.hidden, bias=False)
    if not cfg.tie_embeddings:
        params["out"] = nn.dense_init(ko, cfg.hidden, cfg.tgt_vocab)
    return params


def make_memory(params: Params, cfg: RNNConfig, enc_out: Array, mask: Array,
                finals: list[Any]) -> Memory:
    """Prepare the encoder outputs ``[S, E]`` once per sequence (the key projection)."""
    kind = score_kind(cfg) if cfg.attention != "none" else "dot"
    attn_params = params.get("attention", {})
    if cfg.attention == "none":
        keys = attention.Keys(enc_out, enc_out[:, :0], mask)  # nothing to score
    else:
        keys = attention.precompute(attn_params, kind, enc_out, mask)
    return Memory(keys, finals[-1].h, tuple(finals))


def init_state(params: Params, cfg: RNNConfig, memory: Memory) -> DecoderState:
    """Start every decoder layer from an encoder layer's final state.

    Layer ``l`` takes encoder layer ``l``'s final state when the stacks are
    equally deep, else the top encoder layer's, through the bridge
    ``tanh(W x + b)`` when the widths differ.
    """
    finals = memory.finals
    cells = []
    for i in range(cfg.dec_layers):
        state = finals[i] if len(finals) == cfg.dec_layers else finals[-1]
        if "bridge" in params:
            state = type(state)(*[jnp.tanh(nn.dense(params["bridge"][name], v))
                                  for name, v in zip(state._fields, state, strict=True)])
        cells.append(state)
    feed = jnp.zeros((cfg.hidden,), memory.context.dtype)
    return DecoderState(tuple(cells), feed)


def _run_cells(params: Params, cfg: RNNConfig, cells: tuple[Any, ...], x: Array,
               keys: list[Array | None]) -> tuple[Any, ...]:
    cell = lstm.get_cell(cfg.cell)
    new = []
    for i, (p, state) in enumerate(zip(params["layers"], cells, strict=True)):
        if i > 0:
            x = nn.dropout(keys[i], x, cfg.dropout)
        state = cell.step(p, state, x)
        new.append(state)
        x = state.h
    return tuple(new)


def _logits(params: Params, cfg: RNNConfig, x: Array) -> Array:
    """``x: [H]`` -> logits ``[V]``, accumulated and returned in float32 whatever
    the compute dtype, so the softmax and the loss never see bfloat16 logits."""
    if cfg.tie_embeddings:
        return jnp.matmul(x, params["embed"]["table"].T.astype(x.dtype),
                          preferred_element_type=jnp.float32)
    return nn.dense(params["out"], x, jnp.float32)


def step(params: Params, cfg: RNNConfig, memory: Memory, state: DecoderState, token: Array,
         key: Array | None = None) -> tuple[StepOutput, DecoderState]:
    """One decoding step for one example.

    Args:
      params: decoder params.
      cfg: static config.
      memory: from ``make_memory``.
      state: the previous ``DecoderState``.
      token: int scalar, the previous output token (``BOS_ID`` first).
      key: dropout key, or None.

    Returns:
      ``StepOutput(logits [V], attention [S] or None)`` and the new state.
    """
    ks = nn.split_key(key, cfg.dec_layers + 2)
    dtype = memory.keys.values.dtype
    emb = nn.dropout(ks[-2], nn.embed(params["embed"], token, dtype), cfg.dropout)
    weights = None
    if cfg.attention == "bahdanau":
        prev = state.cells[-1].h  # s_{i-1}
        if cfg.query_cell:
            prev = jnp.concatenate([prev, state.cells[-1].c])
        if cfg.query_input:
            prev = jnp.concatenate([prev, emb])
        ctx, weights = attention.attend(params["attention"], "additive", prev, memory.keys)
        cells = _run_cells(params, cfg, state.cells, jnp.concatenate([emb, ctx]), ks)
        top = cells[-1].h
        out = jnp.tanh(nn.dense(params["combine"], jnp.concatenate([top, ctx, emb])))
        feed = state.feed
    elif cfg.attention == "luong":
        x = jnp.concatenate([emb, state.feed]) if cfg.input_feeding else emb
        cells = _run_cells(params, cfg, state.cells, x, ks)
        top = cells[-1].h  # s_t
        ctx, weights = attention.attend(params["attention"], cfg.luong_score, top, memory.keys)
        out = jnp.tanh(nn.dense(params["combine"], jnp.concatenate([ctx, top])))  # s~_t
        feed = out
    elif cfg.context_mode == "every_step":
        ctx = memory.context
        cells = _run_cells(params, cfg, state.cells, jnp.concatenate([emb, ctx]), ks)
        out = jnp.tanh(nn.dense(params["combine"], jnp.concatenate([cells[-1].h, ctx, emb])))
        feed = state.feed
    else:
        cells = _run_cells(params, cfg, state.cells, emb, ks)
        out = cells[-1].h
        feed = state.feed
    out = nn.dropout(ks[-1], out, cfg.dropout)
    return StepOutput(_logits(params, cfg, out), weights), DecoderState(cells, feed)


def teacher_forced(params: Params, cfg: RNNConfig, memory: Memory, tgt_in: Array,
                   key: Array | None = None) -> tuple[Array, Array | None]:
    """Scan ``step`` over the target ``tgt_in: [T]``.

    With ``cfg.remat`` each scan step is rematerialised: the backward pass keeps
    only the step's carry (the cell states and input feed) and recomputes the
    attention scores, gates and logits from it.

    Returns:
      logits ``[T, V]`` and attention ``[T, S]`` (None without attention).
    """
    state0 = init_state(params, cfg, memory)
    steps = jnp.arange(tgt_in.shape[0])

    def body(state: DecoderState, inp: tuple[Array, Array]) -> tuple[DecoderState, Any]:
        token, t = inp
        k = None if key is None else jax.random.fold_in(key, t)
        out, state = step(params, cfg, memory, state, token, k)
        return state, out

    _, outs = jax.lax.scan(nn.remat(body, cfg.remat), state0, (tgt_in, steps),
                           unroll=cfg.unroll)
    return outs.logits, outs.attention
