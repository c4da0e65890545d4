"""Multi-head scaled dot-product attention (Vaswani et al. 2017, section 3.2), unbatched.

Shapes: T queries, S keys, D model width, N heads, Dh head width (D / N)::

    Attention(Q, K, V) = softmax(Q K^T / sqrt(Dh)) V

The Transformer (``transformer``) builds its self- and cross-attention from
these; the step-cached decoder calls ``split_heads`` and ``attend`` directly.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from seq2seq_jax.models import nn
from seq2seq_jax.models.attention import masked_softmax
from seq2seq_jax.models.model_config import ATTENTION_IMPLS as IMPLS

Array = jax.Array
Params = dict[str, Any]


def attention_init(key: Array, d_model: int) -> Params:
    """Projections ``q, k, v, o``, each ``{"w": [D, D], "b": [D]}``."""
    kq, kk, kv, ko = jax.random.split(key, 4)
    return {"q": nn.dense_init(kq, d_model, d_model), "k": nn.dense_init(kk, d_model, d_model),
            "v": nn.dense_init(kv, d_model, d_model), "o": nn.dense_init(ko, d_model, d_model)}


def split_heads(params: Params, x: Array, heads: int) -> Array:
    """Project ``x: [T, D]`` and split into heads: ``[T, N, Dh]``."""
    y = nn.dense(params, x)
    return y.reshape(y.shape[0], heads, y.shape[1] // heads)


def attention_weights(q: Array, k: Array, mask: Array, *, heads_first: bool = False) -> Array:
    """Softmax of ``q k^T / sqrt(Dh)`` in float32; ``[N, T, S]``.

    Args:
      q: ``[T, N, Dh]``; k: ``[S, N, Dh]`` (``[N, S, Dh]`` when ``heads_first``);
      mask: ``[T, S]`` bool, True = attend.

    Returns:
      Weights, exactly zero where masked; a fully masked row is all zeros.
    """
    spec = "tnh,nsh->nts" if heads_first else "tnh,snh->nts"
    logits = jnp.einsum(spec, q, k, preferred_element_type=jnp.float32)
    return masked_softmax(logits / math.sqrt(q.shape[-1]), mask[None])


def attend(q: Array, k: Array, v: Array, mask: Array, *, impl: str = "einsum",
           need_weights: bool = False, key: Array | None = None,
           rate: float = 0.0, heads_first: bool = False) -> tuple[Array, Array | None]:
    """Scaled dot-product attention over heads already split.

    Args:
      q: ``[T, N, Dh]``; k, v: ``[S, N, Dh]``, or ``[N, S, Dh]`` when ``heads_first``
        (the decode caches' layout: under vmap the heads then sit beside the batch
        axes and the products need no transposed copy of the keys);
      mask: ``[T, S]`` bool, True = attend.
      impl: "einsum" (explicit float32 softmax) or "dot_product_attention"
        (``jax.nn.dot_product_attention``, which returns no weights). The einsum
        path is taken anyway when ``need_weights`` or attention dropout is on.
      key, rate: dropout on the attention weights, active when ``key`` is given.

    Returns:
      Context ``[T, N, Dh]`` (zero for fully masked rows) and weights
      ``[N, T, S]`` before dropout, or None from the ``jax.nn`` path.
    """
    if impl not in IMPLS:
        raise ValueError(f"impl={impl!r} is not valid; choose one of {list(IMPLS)}")
    dropping = key is not None and rate > 0.0
    if impl == "dot_product_attention" and not (need_weights or dropping):
        if heads_first:
            k, v = k.swapaxes(0, 1), v.swapaxes(0, 1)
        ctx = jax.nn.dot_product_attention(q, k, v, mask=mask[None])  # [T, N, Dh]
        # jax.nn gives a fully masked row uniform weights; match the einsum path.
        return jnp.where(mask.any(-1)[:, None, None], ctx, 0).astype(q.dtype), None
    w = attention_weights(q, k, mask, heads_first=heads_first)  # [N, T, S] float32
    w_used = nn.dropout(key, w, rate)
    ctx = jnp.einsum("nts,nsh->tnh" if heads_first else "nts,snh->tnh",
                     w_used.astype(v.dtype), v)
    return ctx, w


def rotary(x: Array, positions: Array) -> Array:
    """Rotary position embedding (Su et al. 2021, RoFormer): ``[T, N, Dh] -> [T, N, Dh]``.

    Each pair of dimensions ``(i, i + Dh/2)`` is rotated by ``position * 10000^(-2i/Dh)``,
    so that the product of a rotated query at p and a rotated key at p' depends on
    ``p - p'`` alone. ``positions: [T]`` may be traced; Dh must be even.
    """
    half = x.shape[-1] // 2
    inv_freq = jnp.exp(-math.log(10000.0) * 2.0 * jnp.arange(half) / x.shape[-1])  # [Dh/2]
    angle = positions.astype(jnp.float32)[:, None, None] * inv_freq  # [T, 1, Dh/2]
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    x1, x2 = x[..., :half].astype(jnp.float32), x[..., half:].astype(jnp.float32)
    return jnp.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1).astype(x.dtype)


def multi_head_attention(params: Params, q_in: Array, kv_in: Array, mask: Array, *,
                         heads: int, impl: str = "einsum", key: Array | None = None,
                         rate: float = 0.0, positions: tuple[Array, Array] | None = None
                         ) -> tuple[Array, Array | None]:
    """Multi-head attention (Vaswani et al. 2017, section 3.2.2).

    Args:
      params: from ``attention_init``.
      q_in: queries ``[T, D]``; kv_in: keys and values ``[S, D]``.
      mask: ``[T, S]`` bool, True where query t may attend to position s.
      heads: N; impl, key, rate: as in ``attend``.
      positions: ``(query positions [T], key positions [S])`` to rotate queries and
        keys by (``rotary``), or None.

    Returns:
      ``out: [T, D]`` and weights ``[N, T, S]``; None for "dot_product_attention"
      unless attention dropout is on (which takes the einsum path).
    """
    q = split_heads(params["q"], q_in, heads)  # [T, N, Dh]
    k = split_heads(params["k"], kv_in, heads)  # [S, N, Dh]
    v = split_heads(params["v"], kv_in, heads)  # [S, N, Dh]
    if positions is not None:
        q, k = rotary(q, positions[0]), rotary(k, positions[1])
    ctx, w = attend(q, k, v, mask, impl=impl, key=key, rate=rate)
    return nn.dense(params["o"], ctx.reshape(ctx.shape[0], q_in.shape[-1])), w  # S=0 safe

