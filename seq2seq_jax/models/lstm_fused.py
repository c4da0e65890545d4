"""A masked LSTM layer with a hand-written backward pass and a batching rule.

Shapes: T time steps, D input width, H hidden width; ``...`` any batch axes.

``lax.scan`` differentiated by JAX accumulates the weight gradients inside the
reverse loop: every step adds a rank-B update ``h_t^T dG_t`` to a ``[H, 4H]``
accumulator. Here the reverse scan emits only the gate gradients ``dG: [T, ..., 4H]``
and the weight gradients are computed after it, each as one large matmul over all
steps and examples (as cuDNN does)::

    dW_x = X^T dG        dW_h = H_prev^T dG        db = sum dG

The input projection ``X W_x + b`` is likewise one matmul before the loop.

The layer is written for one example (``layer(params, x [T, D], mask [T])``) like
the rest of the package. Under ``jax.vmap`` a ``custom_vmap`` rule runs the whole
batch through one time-major scan instead of vmapping the per-example backward
pass (which would build a ``[B, D, 4H]`` weight gradient per example and then sum
it). Differentiating the layer therefore needs it to be under ``jax.vmap``, as
``models.batch_apply`` does; for per-example gradients without ``vmap`` use
``lstm.scan_layer(..., impl="scan")``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap

Array = jax.Array
Weights = tuple[Array, Array, Array]  # w_x [D, 4H], w_h [H, 4H], b [4H]


def _forward(w: Weights, x: Array, m: Array, reverse: bool) -> tuple[Any, ...]:
    """Outputs ``y: [T, ..., H]``, final ``(h, c): [..., H]`` and the residuals."""
    w_x, w_h, b = w
    xw = x @ w_x + b  # [T, ..., 4H]
    zeros = jnp.zeros((*xw.shape[1:-1], w_h.shape[0]), xw.dtype)

    def step(carry: tuple[Array, Array], inp: tuple[Array, Array]) -> Any:
        h, c = carry
        xw_t, m_t = inp
        g = xw_t + h @ w_h
        gi, gf, gu, go = jnp.split(g, 4, axis=-1)
        i, f, o, u = jax.nn.sigmoid(gi), jax.nn.sigmoid(gf), jax.nn.sigmoid(go), jnp.tanh(gu)
        c_new = f * c + i * u
        tc = jnp.tanh(c_new)
        h_new = o * tc
        y = jnp.where(m_t, h_new, 0.0)
        carry = (jnp.where(m_t, h_new, h), jnp.where(m_t, c_new, c))
        return carry, (y, jnp.concatenate([i, f, u, o], -1), tc, h, c)

    (h, c), (y, act, tc, h_prev, c_prev) = jax.lax.scan(step, (zeros, zeros), (xw, m),
                                                        reverse=reverse)
    return y, h, c, (act, tc, h_prev, c_prev)


def _flat(a: Array) -> Array:
    """``[T, ..., F] -> [T * ..., F]``: one matmul over every step and example."""
    return a.reshape(-1, a.shape[-1])


@functools.partial(jax.custom_vjp, nondiff_argnums=(5,))
def _layer(w_x: Array, w_h: Array, b: Array, x: Array, m: Array,
           reverse: bool) -> tuple[Array, Array, Array]:
    y, h, c, _ = _forward((w_x, w_h, b), x, m, reverse)
    return y, h, c


def _layer_fwd(w_x: Array, w_h: Array, b: Array, x: Array, m: Array, reverse: bool) -> Any:
    y, h, c, res = _forward((w_x, w_h, b), x, m, reverse)
    return (y, h, c), (w_x, w_h, x, m, *res)


def _layer_bwd(reverse: bool, res: tuple[Array, ...], cot: tuple[Array, Array, Array]) -> Any:
    w_x, w_h, x, m, act, tc, h_prev, c_prev = res
    dy, dh_final, dc_final = cot

    def step(carry: tuple[Array, Array], inp: tuple[Array, ...]) -> Any:
        dh, dc = carry
        dy_t, act_t, tc_t, c_t, m_t = inp
        i, f, u, o = jnp.split(act_t, 4, axis=-1)
        dh_t = jnp.where(m_t, dy_t + dh, 0.0)
        dc_t = jnp.where(m_t, dc, 0.0) + dh_t * o * (1.0 - tc_t * tc_t)
        dg = jnp.concatenate([dc_t * u * i * (1.0 - i), dc_t * c_t * f * (1.0 - f),
                              dc_t * i * (1.0 - u * u), dh_t * tc_t * o * (1.0 - o)], -1)
        # padded steps pass the carried gradients through unchanged
        carry = (dg @ w_h.T + jnp.where(m_t, 0.0, dh), dc_t * f + jnp.where(m_t, 0.0, dc))
        return carry, dg

    init = (dh_final.astype(dy.dtype), dc_final.astype(dy.dtype))
    _, dg = jax.lax.scan(step, init, (dy, act, tc, c_prev, m), reverse=not reverse)
    d_w_x = _flat(x).T @ _flat(dg)
    d_w_h = _flat(h_prev).T @ _flat(dg)
    return (d_w_x, d_w_h, _flat(dg).sum(0), dg @ w_x.T, None)


_layer.defvjp(_layer_fwd, _layer_bwd)


def _time_major(a: Array) -> Array:
    return jnp.moveaxis(a, 0, 1)


def _make(reverse: bool) -> Any:
    """The per-example layer for one direction, with its batching rule."""

    @custom_vmap
    def layer(w_x: Array, w_h: Array, b: Array, x: Array, m: Array) -> Any:
        return _layer(w_x, w_h, b, x, m[:, None], reverse)

    @layer.def_vmap
    def rule(axis_size: int, in_batched: list[bool], w_x: Array, w_h: Array, b: Array,
             x: Array, m: Array) -> Any:
        if any(in_batched[:3]):  # per-example weights: no shared weight gradient to batch
            axes = [0 if batched else None for batched in in_batched]
            per_example = jax.vmap(lambda *a: _layer(*a[:4], a[4][:, None], reverse),
                                   in_axes=axes, axis_size=axis_size)
            return per_example(w_x, w_h, b, x, m), (True, True, True)
        if not in_batched[3]:
            x = jnp.broadcast_to(x, (axis_size, *x.shape))
        if not in_batched[4]:
            m = jnp.broadcast_to(m, (axis_size, *m.shape))
        y, h, c = _layer(w_x, w_h, b, _time_major(x), _time_major(m)[..., None], reverse)
        return (_time_major(y), h, c), (True, True, True)

    return layer


_LAYERS = {False: _make(False), True: _make(True)}


def lstm_layer(params: dict[str, Array], x: Array, mask: Array, *,
               reverse: bool = False) -> tuple[Array, Array, Array]:
    """One masked LSTM layer over ``x: [T, D]`` with ``lstm.lstm_init`` params.

    Returns ``y: [T, H]`` (zero at padded steps) and the final ``h, c: [H]``, the
    state at the last real step (the first, when ``reverse``), exactly as
    ``lstm.scan_layer`` computes them.
    """
    w = [params[k].astype(x.dtype) for k in ("w_x", "w_h", "b")]
    return _LAYERS[reverse](*w, x, mask)
