"""Small building blocks as (init, apply) pairs over named parameter dicts.

Every apply is written for one example; batching comes from ``jax.vmap``.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

Array = jax.Array
Params = dict[str, Any]


def uniform(key: Array, shape: tuple[int, ...], scale: float) -> Array:
    """U(-scale, scale) in float32."""
    return jax.random.uniform(key, shape, jnp.float32, -scale, scale)


def dense_init(key: Array, d_in: int, d_out: int, bias: bool = True) -> Params:
    """Glorot-uniform weight ``w: [d_in, d_out]`` and zero bias ``b: [d_out]``."""
    params = {"w": uniform(key, (d_in, d_out), math.sqrt(6.0 / (d_in + d_out)))}
    if bias:
        params["b"] = jnp.zeros((d_out,), jnp.float32)
    return params


def dense(params: Params, x: Array, out_dtype: Any = None) -> Array:
    """``x @ w + b`` over the last axis; multiplies in ``x``'s dtype.

    ``out_dtype`` (e.g. float32 for logits under bfloat16 compute) is the dtype
    the matmul accumulates into and returns; None keeps ``x``'s dtype.
    """
    y = jnp.matmul(x, params["w"].astype(x.dtype), preferred_element_type=out_dtype)
    if "b" in params:
        y = y + params["b"].astype(y.dtype)
    return y


def embed_init(key: Array, vocab: int, dim: int) -> Params:
    """Embedding table ``table: [V, dim]`` ~ N(0, dim^-1/2)."""
    return {"table": jax.random.normal(key, (vocab, dim), jnp.float32) * dim**-0.5}


def embed(params: Params, ids: Array, dtype: Any = jnp.float32) -> Array:
    """Look up ``ids: [...]`` -> ``[..., dim]`` in ``dtype``.

    The rows are gathered from the float32 table and then cast, so the
    gradient is scattered into the table in float32 (and only the rows used
    are converted).
    """
    return params["table"][ids].astype(dtype)


def layer_norm_init(dim: int) -> Params:
    return {"scale": jnp.ones((dim,), jnp.float32), "bias": jnp.zeros((dim,), jnp.float32)}


def layer_norm(params: Params, x: Array, eps: float = 1e-6) -> Array:
    """Layer norm over the last axis, statistics in float32."""
    x32 = x.astype(jnp.float32)
    mean = x32.mean(-1, keepdims=True)
    var = jnp.square(x32 - mean).mean(-1, keepdims=True)
    y = (x32 - mean) * jax.lax.rsqrt(var + eps) * params["scale"] + params["bias"]
    return y.astype(x.dtype)


def dropout(key: Array | None, x: Array, rate: float) -> Array:
    """Inverted dropout; the identity when ``key`` is None or ``rate`` is 0."""
    if key is None or rate == 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))


def split_key(key: Array | None, n: int) -> list[Array | None]:
    """``n`` sub-keys, or ``n`` Nones when running deterministically."""
    if key is None:
        return [None] * n
    return list(jax.random.split(key, n))


def compute_dtype(name: str) -> Any:
    """The jnp dtype of a config's ``dtype`` name ("float32" or "bfloat16")."""
    return jnp.bfloat16 if name == "bfloat16" else jnp.float32


def remat(fn: Any, enabled: bool) -> Any:
    """``jax.checkpoint(fn)`` when ``enabled``, else ``fn``: its backward pass
    recomputes the activations inside ``fn`` from its inputs instead of storing them."""
    return jax.checkpoint(fn) if enabled else fn
