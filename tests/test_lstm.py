"""LSTM/GRU cells and the scan encoder: equations, padding, and independent peers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from seq2seq_jax.models import lstm

H, D, S = 6, 5, 7


def _x(seed: int = 0, shape=(S, D)):
    return jax.random.normal(jax.random.PRNGKey(seed), shape)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_lstm_step_matches_the_gate_equations():
    p = lstm.lstm_init(jax.random.PRNGKey(1), D, H, forget_bias=0.5)
    x, h, c = np.asarray(_x(2, (D,))), np.asarray(_x(3, (H,))), np.asarray(_x(4, (H,)))
    wx, wh, b = (np.asarray(p[k]) for k in ("w_x", "w_h", "b"))
    z = x @ wx + h @ wh + b
    i, f, g, o = np.split(z, 4)
    c_ref = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    h_ref = _sigmoid(o) * np.tanh(c_ref)
    out = lstm.lstm_step(p, lstm.LSTMState(jnp.asarray(h), jnp.asarray(c)), jnp.asarray(x))
    np.testing.assert_allclose(out.c, c_ref, atol=1e-6)
    np.testing.assert_allclose(out.h, h_ref, atol=1e-6)


def test_forget_bias_is_configurable():
    for fb in (0.0, 1.0, 2.5):
        b = lstm.lstm_init(jax.random.PRNGKey(0), D, H, forget_bias=fb)["b"]
        np.testing.assert_array_equal(b[H:2 * H], fb)
        np.testing.assert_array_equal(b[:H], 0.0)
        np.testing.assert_array_equal(b[2 * H:], 0.0)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_projected_step_equals_fused_step(cell):
    c = lstm.get_cell(cell)
    p = c.init(jax.random.PRNGKey(0), D, H, 1.0)
    state = jax.tree.map(lambda z: z + 0.3, c.zero_state(H))
    x = _x(1, (D,))
    a = c.step(p, state, x)
    b = c.step_projected(p, state, c.project(p, x))
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, atol=1e-6), a, b)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("hoist", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_equals_unrolled_cell(cell, hoist, reverse):
    c = lstm.get_cell(cell)
    p = c.init(jax.random.PRNGKey(0), D, H, 1.0)
    x = _x()
    mask = jnp.ones((S,), bool)
    out, final = lstm.scan_layer(c, p, x, mask, reverse=reverse, hoist=hoist, unroll=3)
    state = c.zero_state(H)
    ref = [None] * S
    order = range(S - 1, -1, -1) if reverse else range(S)
    for t in order:
        state = c.step(p, state, x[t])
        ref[t] = state.h
    np.testing.assert_allclose(out, jnp.stack(ref), atol=1e-5)
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, atol=1e-5), final, state)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_changes_neither_outputs_nor_final_state(cell, bidirectional):
    p = lstm.encoder_init(jax.random.PRNGKey(0), cell, D, H, 2, bidirectional)
    n = 4
    x = _x()
    short, _ = x[:n], None
    out_s, fin_s = lstm.encode(p, cell, short, jnp.ones((n,), bool))
    mask = jnp.arange(S) < n
    x_pad = x.at[n:].set(123.0)  # garbage at padded positions must not leak
    out_p, fin_p = lstm.encode(p, cell, x_pad, mask)
    np.testing.assert_allclose(out_p[:n], out_s, atol=1e-5)
    np.testing.assert_array_equal(out_p[n:], 0.0)
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, atol=1e-5), fin_p, fin_s)


def test_bidirectional_final_state_is_forward_last_and_backward_first():
    p = lstm.encoder_init(jax.random.PRNGKey(0), "lstm", D, H, 1, True)
    n = 5
    mask = jnp.arange(S) < n
    out, finals = lstm.encode(p, "lstm", _x(), mask)
    np.testing.assert_allclose(finals[0].h[:H], out[n - 1, :H], atol=1e-6)
    np.testing.assert_allclose(finals[0].h[H:], out[0, H:], atol=1e-6)


def test_hoisting_is_a_switch_with_the_same_result():
    p = lstm.encoder_init(jax.random.PRNGKey(0), "lstm", D, H, 2, True)
    mask = jnp.arange(S) < 5
    a = lstm.encode(p, "lstm", _x(), mask, hoist=False)
    b = lstm.encode(p, "lstm", _x(), mask, hoist=True)
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, atol=1e-5), a, b)


def test_dropout_between_layers_only_with_a_key():
    p = lstm.encoder_init(jax.random.PRNGKey(0), "lstm", D, H, 2, False)
    mask = jnp.ones((S,), bool)
    a, _ = lstm.encode(p, "lstm", _x(), mask, dropout=0.5)
    b, _ = lstm.encode(p, "lstm", _x(), mask, dropout=0.5)
    c, _ = lstm.encode(p, "lstm", _x(), mask, dropout=0.5, key=jax.random.PRNGKey(3))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_cell_gradients_match_finite_differences(cell):
    c = lstm.get_cell(cell)
    p = c.init(jax.random.PRNGKey(0), 3, 4, 1.0)
    state = jax.tree.map(lambda z: z + 0.1, c.zero_state(4))
    x = _x(1, (3,))
    with jax.enable_x64(True):
        p64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), p)
        s64 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), state)
        x64 = jnp.asarray(x, jnp.float64)
        check_grads(lambda pp, ss, xx: c.step(pp, ss, xx).h, (p64, s64, x64), order=2,
                    modes=("fwd", "rev"))


def test_lstm_equals_flax_optimized_lstm_cell():
    import flax.linen as fnn

    p = lstm.lstm_init(jax.random.PRNGKey(0), D, H)
    x = _x(1, (2, S, D))
    lengths = jnp.array([S, 4])
    i_, f_, g_, o_ = (np.split(np.asarray(p["w_x"]), 4, axis=1))
    hi, hf, hg, ho = np.split(np.asarray(p["w_h"]), 4, axis=1)
    bi, bf, bg, bo = np.split(np.asarray(p["b"]), 4)
    cell_params = {
        "ii": {"kernel": i_}, "if": {"kernel": f_}, "ig": {"kernel": g_}, "io": {"kernel": o_},
        "hi": {"kernel": hi, "bias": bi}, "hf": {"kernel": hf, "bias": bf},
        "hg": {"kernel": hg, "bias": bg}, "ho": {"kernel": ho, "bias": bo},
    }
    rnn = fnn.RNN(fnn.OptimizedLSTMCell(features=H), return_carry=True)
    (c_ref, h_ref), out_ref = rnn.apply({"params": {"cell": cell_params}}, x,
                                        seq_lengths=lengths)
    enc = {"layers": [{"fwd": p}]}
    for b in range(2):
        mask = jnp.arange(S) < lengths[b]
        out, finals = lstm.encode(enc, "lstm", x[b], mask)
        n = int(lengths[b])
        np.testing.assert_allclose(out[:n], out_ref[b, :n], atol=1e-5)
        np.testing.assert_allclose(finals[0].h, h_ref[b], atol=1e-5)
        np.testing.assert_allclose(finals[0].c, c_ref[b], atol=1e-5)


def _torch_rnn_weights(enc, cell: str, layers: int, bidirectional: bool):
    """Our params as a torch state dict (gate order i,f,g,o / r,z,n matches)."""
    sd = {}
    for i in range(layers):
        for direction, suffix in (("fwd", ""), ("bwd", "_reverse")):
            if direction not in enc["layers"][i]:
                continue
            p = {k: np.asarray(v) for k, v in enc["layers"][i][direction].items()}
            sd[f"weight_ih_l{i}{suffix}"] = p["w_x"].T
            sd[f"weight_hh_l{i}{suffix}"] = p["w_h"].T
            if cell == "lstm":
                sd[f"bias_ih_l{i}{suffix}"] = p["b"]
                sd[f"bias_hh_l{i}{suffix}"] = np.zeros_like(p["b"])
            else:
                sd[f"bias_ih_l{i}{suffix}"] = p["b_x"]
                sd[f"bias_hh_l{i}{suffix}"] = p["b_h"]
    return sd


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_encoder_equals_torch(cell, bidirectional):
    torch = pytest.importorskip("torch")
    layers = 2
    enc = lstm.encoder_init(jax.random.PRNGKey(0), cell, D, H, layers, bidirectional, 1.0)
    cls = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
    ref = cls(D, H, num_layers=layers, bidirectional=bidirectional, batch_first=True)
    sd = {k: torch.from_numpy(np.array(v, copy=True))
          for k, v in _torch_rnn_weights(enc, cell, layers, bidirectional).items()}
    ref.load_state_dict(sd)
    x = _x(1, (S, D))
    with torch.no_grad():
        out_ref, state_ref = ref(torch.from_numpy(np.asarray(x))[None])
    out, finals = lstm.encode(enc, cell, x, jnp.ones((S,), bool))
    np.testing.assert_allclose(out, out_ref[0].numpy(), atol=1e-5)
    h_ref = state_ref[0] if cell == "lstm" else state_ref
    dirs = 2 if bidirectional else 1
    for i in range(layers):
        want = np.concatenate([h_ref[i * dirs + d, 0].numpy() for d in range(dirs)])
        np.testing.assert_allclose(finals[i].h, want, atol=1e-5)
    if cell == "lstm":
        c_ref = state_ref[1]
        for i in range(layers):
            want = np.concatenate([c_ref[i * dirs + d, 0].numpy() for d in range(dirs)])
            np.testing.assert_allclose(finals[i].c, want, atol=1e-5)
