"""LSTM and GRU cells for one step, unbatched, and the encoder as ``lax.scan``.

Shapes: S source length, D input width, H hidden width, G gates (4 LSTM, 3 GRU).

LSTM (Hochreiter & Schmidhuber 1997; gate order i, f, g, o as in PyTorch)::

    i, f, g, o = split([x; h] @ [W_x; W_h] + b)      # one fused matmul
    c' = sigmoid(f) * c + sigmoid(i) * tanh(g)
    h' = sigmoid(o) * tanh(c')

GRU (Cho et al. 2014; PyTorch's convention, reset applied after the matmul)::

    r, z = sigmoid(x W_xr + b_xr + h W_hr + b_hr), sigmoid(...)
    n = tanh(x W_xn + b_xn + r * (h W_hn + b_hn))
    h' = (1 - z) * n + z * h
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from seq2seq_jax.models import lstm_fused, nn

Array = jax.Array
Params = dict[str, Any]


class LSTMState(NamedTuple):
    h: Array  # [H]
    c: Array  # [H]


class GRUState(NamedTuple):
    h: Array  # [H]


State = Any  # LSTMState | GRUState


def lstm_init(key: Array, d_in: int, hidden: int, forget_bias: float = 1.0) -> Params:
    """LSTM params ``w_x: [D, 4H]``, ``w_h: [H, 4H]``, ``b: [4H]``.

    Weights ~ U(-1/sqrt(H), 1/sqrt(H)) (PyTorch's default). The bias is zero
    except the forget gate's slice ``b[H:2H] = forget_bias`` (default 1.0,
    Jozefowicz et al. 2015), so the cell starts out remembering.
    """
    kx, kh = jax.random.split(key)
    scale = 1.0 / math.sqrt(hidden)
    b = jnp.zeros((4 * hidden,), jnp.float32).at[hidden:2 * hidden].set(forget_bias)
    return {"w_x": nn.uniform(kx, (d_in, 4 * hidden), scale),
            "w_h": nn.uniform(kh, (hidden, 4 * hidden), scale), "b": b}


def lstm_zero_state(hidden: int, dtype: Any = jnp.float32) -> LSTMState:
    return LSTMState(jnp.zeros((hidden,), dtype), jnp.zeros((hidden,), dtype))


def lstm_gates_to_state(state: LSTMState, gates: Array) -> LSTMState:
    """Apply the LSTM nonlinearities to pre-activations ``gates: [4H]``."""
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    c = jax.nn.sigmoid(f) * state.c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return LSTMState(h, c)


def lstm_step(params: Params, state: LSTMState, x: Array) -> LSTMState:
    """One LSTM step: ``x: [D]``, state ``(h, c): [H]`` -> new state.

    The four gates come from one matmul of ``[x; h]`` with the stacked weights.
    """
    w = jnp.concatenate([params["w_x"], params["w_h"]], axis=0).astype(x.dtype)
    gates = jnp.concatenate([x, state.h]) @ w + params["b"].astype(x.dtype)
    return lstm_gates_to_state(state, gates)


def lstm_project(params: Params, x: Array) -> Array:
    """Input projection ``x @ W_x + b`` for ``x: [..., D]`` -> ``[..., 4H]``."""
    return x @ params["w_x"].astype(x.dtype) + params["b"].astype(x.dtype)


def lstm_step_projected(params: Params, state: LSTMState, xw: Array) -> LSTMState:
    """One LSTM step from a precomputed input projection ``xw: [4H]``."""
    return lstm_gates_to_state(state, xw + state.h @ params["w_h"].astype(xw.dtype))


def gru_init(key: Array, d_in: int, hidden: int, forget_bias: float = 0.0) -> Params:
    """GRU params ``w_x: [D, 3H]``, ``w_h: [H, 3H]``, ``b_x, b_h: [3H]`` (order r, z, n).

    ``forget_bias`` initialises the update gate's bias ``b_x[H:2H]``; a positive
    value makes the cell start out copying its state (the GRU's analogue of the
    LSTM forget bias). Default 0.0, as in PyTorch.
    """
    kx, kh = jax.random.split(key)
    scale = 1.0 / math.sqrt(hidden)
    b_x = jnp.zeros((3 * hidden,), jnp.float32).at[hidden:2 * hidden].set(forget_bias)
    return {"w_x": nn.uniform(kx, (d_in, 3 * hidden), scale),
            "w_h": nn.uniform(kh, (hidden, 3 * hidden), scale),
            "b_x": b_x, "b_h": jnp.zeros((3 * hidden,), jnp.float32)}


def gru_zero_state(hidden: int, dtype: Any = jnp.float32) -> GRUState:
    return GRUState(jnp.zeros((hidden,), dtype))


def gru_project(params: Params, x: Array) -> Array:
    """Input projection ``x @ W_x + b_x`` for ``x: [..., D]`` -> ``[..., 3H]``."""
    return x @ params["w_x"].astype(x.dtype) + params["b_x"].astype(x.dtype)


def gru_step_projected(params: Params, state: GRUState, xw: Array) -> GRUState:
    """One GRU step from a precomputed input projection ``xw: [3H]``."""
    hw = state.h @ params["w_h"].astype(xw.dtype) + params["b_h"].astype(xw.dtype)
    xr, xz, xn = jnp.split(xw, 3, axis=-1)
    hr, hz, hn = jnp.split(hw, 3, axis=-1)
    r = jax.nn.sigmoid(xr + hr)
    z = jax.nn.sigmoid(xz + hz)
    n = jnp.tanh(xn + r * hn)
    return GRUState((1.0 - z) * n + z * state.h)


def gru_step(params: Params, state: GRUState, x: Array) -> GRUState:
    """One GRU step: ``x: [D]``, ``h: [H]`` -> new state."""
    return gru_step_projected(params, state, gru_project(params, x))


class Cell(NamedTuple):
    """A recurrent cell as functions; the state is a NamedTuple pytree."""

    init: Callable[..., Params]
    zero_state: Callable[..., State]
    step: Callable[[Params, State, Array], State]
    project: Callable[[Params, Array], Array]
    step_projected: Callable[[Params, State, Array], State]


CELLS = {
    "lstm": Cell(lstm_init, lstm_zero_state, lstm_step, lstm_project, lstm_step_projected),
    "gru": Cell(gru_init, gru_zero_state, gru_step, gru_project, gru_step_projected),
}


def get_cell(name: str) -> Cell:
    if name not in CELLS:
        raise ValueError(f"unknown cell {name!r}; choose one of {sorted(CELLS)}")
    return CELLS[name]


def masked_update(mask: Array, new: State, old: State) -> State:
    """Keep ``old`` where ``mask`` is False (a padded position)."""
    return jax.tree.map(lambda n, o: jnp.where(mask, n, o), new, old)


def scan_layer(cell: Cell, params: Params, x: Array, mask: Array, *, reverse: bool = False,
               hoist: bool = False, unroll: int = 1,
               remat: bool = False, impl: str = "scan") -> tuple[Array, State]:
    """Run one recurrent layer over a sequence with ``lax.scan``.

    Args:
      cell: the cell functions.
      params: the cell's params.
      x: inputs ``[S, D]``.
      mask: ``[S]`` bool, True at real tokens. At padded positions the state is
        carried unchanged and the output is zero, so padding changes neither the
        outputs nor the final state, which is the state at the last real token
        (the first, when ``reverse``).
      reverse: scan from the end (the backward direction).
      hoist: compute the input projection for all steps in one matmul before
        the scan, leaving only ``h @ W_h`` inside it.
      unroll: ``lax.scan`` unroll factor.
      remat: wrap the step in ``jax.checkpoint``, so the backward pass recomputes
        the gate activations from the carried state instead of storing them.
      impl: "scan" (the step above, differentiated by JAX) or "fused" (LSTM only:
        ``lstm_fused.lstm_layer``, the input projection hoisted and a hand-written
        backward pass that computes the weight gradients after the loop; its
        gradient needs the layer to run under ``jax.vmap``; ``hoist``, ``unroll``
        and ``remat`` do not apply).

    Returns:
      outputs ``[S, H]`` and the final state.
    """
    if impl == "fused":
        if cell.step is not lstm_step:
            raise ValueError("impl='fused' is implemented for the LSTM cell only")
        y, h, c = lstm_fused.lstm_layer(params, x, mask, reverse=reverse)
        return y, LSTMState(h, c)
    if impl != "scan":
        raise ValueError(f"unknown impl {impl!r}; choose 'scan' or 'fused'")
    hidden = params["w_h"].shape[0]
    state0 = cell.zero_state(hidden, x.dtype)
    if hoist:
        inputs = cell.project(params, x)
        step = cell.step_projected
    else:
        inputs = x
        step = cell.step

    def body(state: State, inp: tuple[Array, Array]) -> tuple[State, Array]:
        xt, mt = inp
        new = step(params, state, xt)
        state = masked_update(mt, new, state)
        return state, jnp.where(mt, new.h, jnp.zeros_like(new.h))

    final, outputs = jax.lax.scan(nn.remat(body, remat), state0, (inputs, mask),
                                  reverse=reverse, unroll=unroll)
    return outputs, final


def encoder_init(key: Array, cell: str, d_in: int, hidden: int, layers: int,
                 bidirectional: bool, forget_bias: float = 1.0) -> Params:
    """Params ``{"layers": [{"fwd": cell, "bwd": cell}, ...]}`` (``bwd`` if bidirectional)."""
    c = get_cell(cell)
    out = []
    width = d_in
    for layer_key in jax.random.split(key, layers):
        kf, kb = jax.random.split(layer_key)
        layer = {"fwd": c.init(kf, width, hidden, forget_bias)}
        if bidirectional:
            layer["bwd"] = c.init(kb, width, hidden, forget_bias)
        out.append(layer)
        width = hidden * (2 if bidirectional else 1)
    return {"layers": out}


def concat_states(a: State, b: State) -> State:
    """Concatenate the forward and backward states field by field."""
    return jax.tree.map(lambda x, y: jnp.concatenate([x, y], axis=-1), a, b)


def encode(params: Params, cell: str, x: Array, mask: Array, *, dropout: float = 0.0,
           key: Array | None = None, hoist: bool = False,
           unroll: int = 1, remat: bool = False,
           impl: str = "scan") -> tuple[Array, list[State]]:
    """A multi-layer, optionally bidirectional recurrent encoder.

    Args:
      params: from ``encoder_init``.
      cell: "lstm" or "gru".
      x: embedded inputs ``[S, D]``.
      mask: ``[S]`` bool, True at real tokens.
      dropout: rate applied to each layer's outputs before the next layer.
      key: dropout key, or None for no dropout.
      hoist, unroll, remat, impl: see ``scan_layer``.

    Returns:
      top-layer outputs ``[S, H * dirs]`` (forward and backward concatenated,
      zero at padded positions) and the final state of every layer, each field
      ``[H * dirs]``.
    """
    c = get_cell(cell)
    finals = []
    layers = params["layers"]
    keys = nn.split_key(key, len(layers))
    for i, layer in enumerate(layers):
        if i > 0:
            x = nn.dropout(keys[i], x, dropout)
        out, final = scan_layer(c, layer["fwd"], x, mask, hoist=hoist, unroll=unroll,
                                remat=remat, impl=impl)
        if "bwd" in layer:
            out_b, final_b = scan_layer(c, layer["bwd"], x, mask, reverse=True, hoist=hoist,
                                        unroll=unroll, remat=remat, impl=impl)
            out = jnp.concatenate([out, out_b], axis=-1)
            final = concat_states(final, final_b)
        finals.append(final)
        x = out
    return x, finals
