"""Transformer encoder-decoder (Vaswani et al. 2017) as pure functions, unbatched.

Shapes: S source length, T target length, M decode-cache length (``max_len``),
D model width (``d_model``), N heads, Dh head width (D / N), F feed-forward
width, V vocabulary, Y decoder layers (``interface``'s glossary).

Scaled dot-product attention, per head (Vaswani et al. 2017, eq. 1)::

    Attention(Q, K, V) = softmax(Q K^T / sqrt(Dh)) V

Each sub-layer (self-attention, cross-attention, feed-forward ``relu(x W1) W2``,
eq. 2) sits in a residual branch. Post-norm (the paper, section 5.4) computes
``LN(x + drop(f(x)))``; pre-norm computes ``x + drop(f(LN(x)))`` and adds a
final layer norm on each stack. Embeddings are scaled by ``sqrt(D)`` and the
sinusoidal positional encodings of section 3.5 are added, or, with
``positions="rotary"``, every self-attention rotates its queries and keys by their
positions instead (``multihead.rotary``; cross-attention has no positions).

Decoding is incremental: ``encode`` projects the encoder output into every
decoder layer's cross-attention keys and values once; ``step`` writes one
position's self-attention keys and values into a fixed-size cache, so a step
never recomputes the prefix. ``apply`` and ``step`` share ``_decoder_layer``.
With ``cfg.remat`` every block of the teacher-forced pass is wrapped in
``jax.checkpoint``: the backward pass stores each block's input only.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from seq2seq_jax.constants import PAD_ID
from seq2seq_jax.models import nn
from seq2seq_jax.models.interface import Model, Output, StepOutput
from seq2seq_jax.models.model_config import TransformerConfig
from seq2seq_jax.models.multihead import (
    attend,
    attention_init,
    multi_head_attention,
    rotary,
    split_heads,
)

Array = jax.Array
Params = dict[str, Any]


class TransformerMemory(NamedTuple):
    """The encoded source, computed once per sequence."""

    enc: Array  # [S, D] encoder output (after the final norm when pre-norm)
    # Cross-attention keys and values, one [N, S, Dh] array (heads first) a decoder layer:
    # separate arrays, so that a step reads a layer's without copying it out of a stack.
    k: tuple[Array, ...]
    v: tuple[Array, ...]
    mask: Array  # [S] bool, True at real source positions


class TransformerCache(NamedTuple):
    """Decoder self-attention keys and values of the positions decoded so far."""

    k: tuple[Array, ...]  # one [N, M, Dh] a decoder layer, heads first; rows >= pos unused
    v: tuple[Array, ...]
    pos: Array  # [] int32, the position the next ``step`` decodes




def positional_encoding(positions: Array, d_model: int) -> Array:
    """Sinusoids of section 3.5: ``[T] -> [T, D]``; positions may be traced.

    ``PE[p, 2i] = sin(p / 10000^(2i/D))``, ``PE[p, 2i+1] = cos(p / 10000^(2i/D))``.
    """
    half = (d_model + 1) // 2
    inv_freq = jnp.exp(-math.log(10000.0) * 2.0 * jnp.arange(half) / d_model)  # [D/2]
    angle = positions.astype(jnp.float32)[:, None] * inv_freq  # [T, D/2]
    pe = jnp.stack([jnp.sin(angle), jnp.cos(angle)], axis=-1)  # [T, D/2, 2]
    return pe.reshape(positions.shape[0], 2 * half)[:, :d_model]


def _ff_init(key: Array, cfg: TransformerConfig) -> Params:
    k1, k2 = jax.random.split(key)
    return {"w1": nn.dense_init(k1, cfg.d_model, cfg.ff_dim),
            "w2": nn.dense_init(k2, cfg.ff_dim, cfg.d_model)}


def _ff(params: Params, cfg: TransformerConfig, x: Array, key: Array | None) -> Array:
    h = jax.nn.relu(nn.dense(params["w1"], x))  # [T, F]
    return nn.dense(params["w2"], nn.dropout(key, h, cfg.dropout))  # [T, D]


def _residual(params: Params, cfg: TransformerConfig, x: Array, branch: Array,
              key: Array | None) -> Array:
    """``x + drop(branch)``, then the layer norm when post-norm."""
    y = x + nn.dropout(key, branch, cfg.dropout)
    return y if cfg.pre_norm else nn.layer_norm(params, y)


def _pre(params: Params, cfg: TransformerConfig, x: Array) -> Array:
    """The sub-layer input: normed when pre-norm."""
    return nn.layer_norm(params, x) if cfg.pre_norm else x


def encoder_layer_init(key: Array, cfg: TransformerConfig) -> Params:
    """``{"attn", "attn_norm", "ff", "ff_norm"}``."""
    ka, kf = jax.random.split(key)
    return {"attn": attention_init(ka, cfg.d_model), "attn_norm": nn.layer_norm_init(cfg.d_model),
            "ff": _ff_init(kf, cfg), "ff_norm": nn.layer_norm_init(cfg.d_model)}


def encoder_layer(params: Params, cfg: TransformerConfig, x: Array, mask: Array,
                  key: Array | None = None) -> Array:
    """One encoder block: self-attention then feed-forward.

    Args:
      x: ``[S, D]`` in the compute dtype; mask: ``[S]`` bool, True at real positions.
      key: dropout key, or None for deterministic.

    Returns:
      ``[S, D]``.
    """
    ka, kw, kf, kr = nn.split_key(key, 4)
    h = _pre(params["attn_norm"], cfg, x)
    at = jnp.arange(x.shape[0])
    a, _ = multi_head_attention(params["attn"], h, h, jnp.broadcast_to(mask, (x.shape[0],) * 2),
                                heads=cfg.heads, impl=cfg.attention_impl, key=kw,
                                rate=cfg.attn_dropout,
                                positions=(at, at) if cfg.positions == "rotary" else None)
    x = _residual(params["attn_norm"], cfg, x, a, ka)
    h = _pre(params["ff_norm"], cfg, x)
    return _residual(params["ff_norm"], cfg, x, _ff(params["ff"], cfg, h, kf), kr)


def _decoder_layer_init(key: Array, cfg: TransformerConfig) -> Params:
    ks, kc, kf = jax.random.split(key, 3)
    return {"self_attn": attention_init(ks, cfg.d_model),
            "self_norm": nn.layer_norm_init(cfg.d_model),
            "cross_attn": attention_init(kc, cfg.d_model),
            "cross_norm": nn.layer_norm_init(cfg.d_model),
            "ff": _ff_init(kf, cfg), "ff_norm": nn.layer_norm_init(cfg.d_model)}


def _decoder_layer(params: Params, cfg: TransformerConfig, x: Array, self_mask: Array,
                   cache: tuple[Array, Array] | None, layer: int, pos: Array | int,
                   memory: TransformerMemory, cross_mask: Array, need_weights: bool,
                   key: Array | None
                   ) -> tuple[Array, tuple[Array, Array] | None, Array | None]:
    """Decoder block ``layer`` over ``x: [T, D]`` at positions ``pos .. pos+T-1``.

    With ``cache`` (this layer's keys and values, ``[N, M, Dh]`` each) the block
    writes its new self-attention keys and values at ``[:, pos]`` in place and
    attends over the cache; without it, over ``x`` alone.
    ``self_mask`` is ``[T, M]`` (or ``[T, T]``), ``cross_mask`` ``[T, S]``.

    Returns:
      ``[T, D]``, the updated cache (None without one), and the
      cross-attention weights ``[N, T, S]`` when ``need_weights``.
    """
    ks, kw, kc, kcw, kf, kr = nn.split_key(key, 6)
    h = _pre(params["self_norm"], cfg, x)
    q = split_heads(params["self_attn"]["q"], h, cfg.heads)  # [T, N, Dh]
    k = split_heads(params["self_attn"]["k"], h, cfg.heads)
    v = split_heads(params["self_attn"]["v"], h, cfg.heads)
    if cfg.positions == "rotary":  # keys enter the cache rotated at their own position
        where = pos + jnp.arange(x.shape[0])
        q, k = rotary(q, where), rotary(k, where)
    k, v = k.swapaxes(0, 1), v.swapaxes(0, 1)  # [N, T, Dh]
    if cache is not None:
        at = (0, pos, 0)
        cache = (jax.lax.dynamic_update_slice(cache[0], k.astype(cache[0].dtype), at),
                 jax.lax.dynamic_update_slice(cache[1], v.astype(cache[1].dtype), at))
        k, v = cache  # [N, M, Dh]
    ctx, _ = attend(q, k, v, self_mask, impl=cfg.attention_impl, key=kw, rate=cfg.attn_dropout,
                    heads_first=True)
    a = nn.dense(params["self_attn"]["o"], ctx.reshape(x.shape))
    x = _residual(params["self_norm"], cfg, x, a, ks)

    h = _pre(params["cross_norm"], cfg, x)
    q = split_heads(params["cross_attn"]["q"], h, cfg.heads)
    ctx, w = attend(q, memory.k[layer], memory.v[layer], cross_mask, impl=cfg.attention_impl,
                    need_weights=need_weights, key=kcw, rate=cfg.attn_dropout, heads_first=True)
    a = nn.dense(params["cross_attn"]["o"], ctx.reshape(x.shape))
    x = _residual(params["cross_norm"], cfg, x, a, kc)

    h = _pre(params["ff_norm"], cfg, x)
    x = _residual(params["ff_norm"], cfg, x, _ff(params["ff"], cfg, h, kf), kr)
    return x, cache, w


# ---------------------------------------------------------------- model


def init(key: Array, cfg: TransformerConfig) -> Params:
    """Named params.

    ``{"src_embed", "tgt_embed"}`` (or one ``"embed"`` when ``share_embeddings``),
    ``"encoder": {"layers": [...], "norm"}``, ``"decoder": {"layers": [...], "norm"}``
    (``"norm"`` only when pre-norm), and ``"out": {"w": [D, V], "b": [V]}`` unless
    ``tie_output``.
    """
    k_src, k_tgt, k_enc, k_dec, k_out = jax.random.split(key, 5)
    params: Params = {}
    if cfg.share_embeddings:
        params["embed"] = nn.embed_init(k_src, cfg.tgt_vocab, cfg.d_model)
    else:
        params["src_embed"] = nn.embed_init(k_src, cfg.src_vocab, cfg.d_model)
        params["tgt_embed"] = nn.embed_init(k_tgt, cfg.tgt_vocab, cfg.d_model)
    stacks = (("encoder", k_enc, cfg.enc_layers, encoder_layer_init),
              ("decoder", k_dec, cfg.dec_layers, _decoder_layer_init))
    for name, k, n, layer_init in stacks:
        stack: Params = {"layers": [layer_init(kl, cfg) for kl in jax.random.split(k, n)]}
        if cfg.pre_norm:
            stack["norm"] = nn.layer_norm_init(cfg.d_model)
        params[name] = stack
    if not cfg.tie_output:
        params["out"] = nn.dense_init(k_out, cfg.d_model, cfg.tgt_vocab)
    return params


def _table(params: Params, side: str) -> Params:
    return params["embed"] if "embed" in params else params[f"{side}_embed"]


def _embed(params: Params, cfg: TransformerConfig, ids: Array, positions: Array,
           key: Array | None) -> Array:
    """``sqrt(D) * E[ids] + PE[positions]``, dropped out: ``[T] -> [T, D]``; no ``PE``
    with rotary positions (self-attention rotates its queries and keys instead)."""
    dtype = nn.compute_dtype(cfg.dtype)
    x = nn.embed(params, ids, jnp.float32) * math.sqrt(cfg.d_model)
    if cfg.positions == "sinusoidal":
        x = x + positional_encoding(positions, cfg.d_model)
    return nn.dropout(key, x.astype(dtype), cfg.dropout)


def _fold(key: Array | None, site: Array | int) -> Array | None:
    return None if key is None else jax.random.fold_in(key, site)


def encode(params: Params, cfg: TransformerConfig, src: Array,
           key: Array | None = None) -> TransformerMemory:
    """Encode ``src: [S]`` (int, padded with PAD_ID) and project the
    cross-attention keys and values of every decoder layer once."""
    mask = src != PAD_ID  # [S]
    x = _embed(_table(params, "src"), cfg, src, jnp.arange(src.shape[0]), _fold(key, 0))
    block = nn.remat(functools.partial(encoder_layer, cfg=cfg), cfg.remat)
    for i, layer in enumerate(params["encoder"]["layers"]):
        x = block(params=layer, x=x, mask=mask, key=_fold(key, i + 1))  # [S, D]
    if cfg.pre_norm:
        x = nn.layer_norm(params["encoder"]["norm"], x)
    layers = params["decoder"]["layers"]
    # cross-attention keys and values of every decoder layer, heads first: [N, S, Dh]
    k = tuple(split_heads(p["cross_attn"]["k"], x, cfg.heads).swapaxes(0, 1) for p in layers)
    v = tuple(split_heads(p["cross_attn"]["v"], x, cfg.heads).swapaxes(0, 1) for p in layers)
    return TransformerMemory(x, k, v, mask)


def _logits(params: Params, cfg: TransformerConfig, x: Array) -> Array:
    """Final norm (pre-norm) and output projection: ``[T, D] -> [T, V]`` float32."""
    if cfg.pre_norm:
        x = nn.layer_norm(params["decoder"]["norm"], x)
    if cfg.tie_output:  # accumulated in float32 under bfloat16 compute
        return jnp.matmul(x, _table(params, "tgt")["table"].astype(x.dtype).T,
                          preferred_element_type=jnp.float32)
    return nn.dense(params["out"], x, jnp.float32)


def _decode(params: Params, cfg: TransformerConfig, memory: TransformerMemory, x: Array,
            self_mask: Array, cache: TransformerCache | None, pos: Array | int,
            key: Array | None) -> tuple[Array, Array, tuple[tuple[Array, ...],
                                                            tuple[Array, ...]] | None]:
    """Run the decoder stack over embedded ``x: [T, D]`` at positions ``pos..``.

    Returns:
      Logits ``[T, V]``, last-layer cross-attention averaged over heads ``[T, S]``,
      and the updated cache's keys and values, ``Y`` arrays ``[N, M, Dh]`` each (None
      without a cache).
    """
    cross_mask = jnp.broadcast_to(memory.mask, (x.shape[0], memory.mask.shape[0]))  # [T, S]
    layers = params["decoder"]["layers"]
    new_k, new_v = [], []
    w = None
    for i, layer in enumerate(layers):
        block = functools.partial(_decoder_layer, cfg=cfg, layer=i,
                                  need_weights=i == len(layers) - 1)
        block = nn.remat(block, cfg.remat and cache is None)  # training only
        kv = None if cache is None else (cache.k[i], cache.v[i])
        x, kv, w = block(params=layer, x=x, self_mask=self_mask, cache=kv, pos=pos,
                         memory=memory, cross_mask=cross_mask, key=_fold(key, i))
        if kv is not None:
            new_k.append(kv[0])
            new_v.append(kv[1])
    assert w is not None
    kvs = None if cache is None else (tuple(new_k), tuple(new_v))
    return _logits(params, cfg, x), w.mean(0), kvs  # [T, V], [T, S]


def apply(params: Params, cfg: TransformerConfig, src: Array, tgt_in: Array,
          key: Array | None = None) -> Output:
    """Teacher-forced decoding of ``tgt_in: [T]`` given ``src: [S]``, all positions at once.

    Returns:
      ``Output(logits [T, V] float32, attention [T, S])``; the attention is the
      last decoder layer's cross-attention averaged over heads: rows sum to one
      over real source positions and are exactly zero at padding.
    """
    k_enc, k_dec, k_emb = nn.split_key(key, 3)
    memory = encode(params, cfg, src, k_enc)
    t = tgt_in.shape[0]
    positions = jnp.arange(t)
    x = _embed(_table(params, "tgt"), cfg, tgt_in, positions, k_emb)  # [T, D]
    causal = positions[:, None] >= positions[None, :]  # [T, T]
    logits, attn, _ = _decode(params, cfg, memory, x, causal, None, 0, k_dec)
    return Output(logits, attn)


def init_cache(params: Params, cfg: TransformerConfig, memory: TransformerMemory,
               max_len: int) -> TransformerCache:
    """An empty cache for up to ``max_len`` decoded positions (a static int)."""
    dtype = nn.compute_dtype(cfg.dtype)
    shape = (cfg.heads, max_len, cfg.head_dim)
    layers = len(params["decoder"]["layers"])
    return TransformerCache(tuple(jnp.zeros(shape, dtype) for _ in range(layers)),
                            tuple(jnp.zeros(shape, dtype) for _ in range(layers)),
                            jnp.zeros((), jnp.int32))


def grow_cache(params: Params, cfg: TransformerConfig, cache: TransformerCache,
               max_len: int) -> TransformerCache:
    """``cache`` with room for ``max_len`` positions (static): zero rows appended."""
    pad = max_len - cache.k[0].shape[1]
    if pad < 0:
        raise ValueError(f"cannot shrink a cache of {cache.k[0].shape[1]} positions to "
                         f"{max_len}")
    widths = ((0, 0), (0, pad), (0, 0))
    return cache._replace(k=tuple(jnp.pad(k, widths) for k in cache.k),
                          v=tuple(jnp.pad(v, widths) for v in cache.v))


def step(params: Params, cfg: TransformerConfig, memory: TransformerMemory,
         cache: TransformerCache, token: Array,
         key: Array | None = None) -> tuple[StepOutput, TransformerCache]:
    """Decode one ``token: []`` at position ``cache.pos``.

    Writes the position's self-attention keys and values into the cache and
    attends over cache positions ``<= pos``; cross-attention reuses the keys
    and values in ``memory``. Past ``max_len`` the write is clamped to the last
    row (``dynamic_update_slice``), so callers keep ``pos < max_len``. The key
    is folded with ``pos``, so one key serves a whole sequence.

    Returns:
      ``StepOutput(logits [V] float32, attention [S])`` (the last layer's
      cross-attention averaged over heads) and the advanced cache.
    """
    pos = cache.pos
    key = _fold(key, pos)
    k_emb, k_dec = nn.split_key(key, 2)
    x = _embed(_table(params, "tgt"), cfg, token.reshape(1), pos.reshape(1), k_emb)  # [1, D]
    self_mask = (jnp.arange(cache.k[0].shape[1]) <= pos)[None, :]  # [1, M]
    logits, attn, kv = _decode(params, cfg, memory, x, self_mask, cache, pos, k_dec)
    assert kv is not None
    return StepOutput(logits[0], attn[0]), TransformerCache(kv[0], kv[1], pos + 1)


MODEL = Model(name="transformer", init=init, apply=apply, encode=encode,
              init_cache=init_cache, step=step, grow_cache=grow_cache)
