"""Attention over encoder states: additive (Bahdanau) and multiplicative (Luong).

Shapes (``interface``'s glossary): S source positions, Q query width (decoder state),
C key width (encoder state), A scoring width.

Scores (one query ``s``, keys ``h_j``):

* ``additive``:   ``e_j = v^T tanh(W s + U h_j)``      (Bahdanau et al. 2015, A.1.2)
* ``dot``:        ``e_j = s^T h_j``                    (Luong et al. 2015, eq. 8)
* ``general``:    ``e_j = s^T W h_j``                  (Luong et al. 2015, eq. 8)
* ``concat``:     ``e_j = v^T tanh(W [s; h_j])``       (Luong et al. 2015, eq. 8)
* ``scaled_dot``: ``e_j = s^T h_j / sqrt(C)``          (Vaswani et al. 2017, eq. 1)

The key-side projection (``U h_j``, ``W h_j``) depends only on the encoder
states, so ``precompute`` runs it once per sequence; ``attend`` then costs one
query projection and a reduction over ``S`` per decoding step. Whether the
query is the previous (Bahdanau) or the current (Luong) decoder state is the
decoder's business.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from seq2seq_jax.models import nn

Array = jax.Array
Params = dict[str, Any]

KINDS = ("additive", "dot", "general", "concat", "scaled_dot")


class Keys(NamedTuple):
    """Encoder states prepared once per sequence."""

    values: Array  # [S, C] encoder states (the context is their weighted sum)
    proj: Array  # [S, A] key-side projection (``values`` itself for dot products)
    mask: Array  # [S] bool, True at real source positions


def init(key: Array, kind: str, query_dim: int, key_dim: int, attn_dim: int) -> Params:
    """Params for one scoring function.

    additive / concat: ``w_q: [Q, A]``, ``w_k: [C, A]``, ``v: [A]``;
    general: ``w: [C, Q]``; dot / scaled_dot: none.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown attention kind {kind!r}; choose one of {list(KINDS)}")
    kq, kk, kv = jax.random.split(key, 3)
    if kind in ("additive", "concat"):
        return {"w_q": nn.dense_init(kq, query_dim, attn_dim, bias=False)["w"],
                "w_k": nn.dense_init(kk, key_dim, attn_dim, bias=True),
                "v": nn.uniform(kv, (attn_dim,), 1.0 / math.sqrt(attn_dim))}
    if kind == "general":
        return {"w": nn.dense_init(kq, key_dim, query_dim, bias=False)["w"]}
    if key_dim != query_dim:
        raise ValueError(f"{kind} attention needs equal query ({query_dim}) and key "
                         f"({key_dim}) widths")
    return {}


def precompute(params: Params, kind: str, values: Array, mask: Array) -> Keys:
    """Project the encoder states ``values: [S, C]`` once per sequence."""
    if kind in ("additive", "concat"):
        proj = nn.dense(params["w_k"], values)
    elif kind == "general":
        proj = values @ params["w"].astype(values.dtype)  # [S, Q]
    else:
        proj = values
    return Keys(values, proj, mask)


def scores(params: Params, kind: str, query: Array, keys: Keys) -> Array:
    """Unnormalised scores ``[S]`` of one ``query: [Q]`` against every key."""
    if kind in ("additive", "concat"):
        hidden = jnp.tanh(keys.proj + query @ params["w_q"].astype(query.dtype))  # [S, A]
        return hidden @ params["v"].astype(query.dtype)
    e = keys.proj @ query
    if kind == "scaled_dot":
        e = e / math.sqrt(query.shape[-1])
    return e


def masked_softmax(logits: Array, mask: Array) -> Array:
    """Softmax over the last axis in float32 with masked entries exactly zero.

    Masked logits are set to the most negative finite float (not ``-inf``),
    and the result is zeroed where masked, so a fully masked row gives all
    zeros rather than NaN.
    """
    dtype = jnp.promote_types(logits.dtype, jnp.float32)  # never below float32
    x = logits.astype(dtype)
    x = jnp.where(mask, x, jnp.finfo(dtype).min)
    w = jax.nn.softmax(x, axis=-1)
    return jnp.where(mask, w, 0.0)


def attend(params: Params, kind: str, query: Array, keys: Keys) -> tuple[Array, Array]:
    """Attend with ``query: [Q]`` over ``keys``.

    Returns:
      context ``[C]`` (the weighted sum of ``keys.values``) and weights ``[S]``,
      non-negative, summing to one over real positions, zero at padding.
    """
    w = masked_softmax(scores(params, kind, query, keys), keys.mask)
    return w.astype(keys.values.dtype) @ keys.values, w
