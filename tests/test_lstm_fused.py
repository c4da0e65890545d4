"""The fused LSTM layer (hand-written backward pass, batching rule) against the scan."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from seq2seq_jax.models import lstm, lstm_fused

B, T, D, H = 3, 7, 5, 6
LENGTHS = np.array([7, 4, 1])


@pytest.fixture(scope="module")
def data():
    params = lstm.lstm_init(jax.random.PRNGKey(0), D, H)
    x = jax.random.normal(jax.random.PRNGKey(1), (B, T, D))
    mask = jnp.asarray(np.arange(T)[None] < LENGTHS[:, None])
    return params, x, mask


def _scan(p, x, m, reverse):
    out, final = lstm.scan_layer(lstm.get_cell("lstm"), p, x, m, reverse=reverse)
    return out, final.h, final.c


def _fused(p, x, m, reverse):
    return lstm_fused.lstm_layer(p, x, m, reverse=reverse)


def _loss(layer, reverse, mask):
    def loss(p, x):  # every output reaches the loss, the final state with its own weight
        y, h, c = jax.vmap(lambda xi, mi: layer(p, xi, mi, reverse))(x, mask)
        return (y ** 2).sum() + (1.3 * h).sum() + (c ** 3).sum()
    return loss


@pytest.mark.parametrize("reverse", [False, True])
def test_outputs_and_final_state_match_the_scan(data, reverse):
    p, x, m = data
    want = jax.vmap(lambda xi, mi: _scan(p, xi, mi, reverse))(x, m)
    got = jax.vmap(lambda xi, mi: _fused(p, xi, mi, reverse))(x, m)
    for a, b in zip(want, got, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert np.all(np.asarray(got[0])[2, 1:] == 0)  # padded steps output zero


@pytest.mark.parametrize("reverse", [False, True])
def test_gradients_match_the_scan(data, reverse):
    p, x, m = data
    want = jax.jit(jax.grad(_loss(_scan, reverse, m), (0, 1)))(p, x)
    got = jax.jit(jax.grad(_loss(_fused, reverse, m), (0, 1)))(p, x)
    for k in p:
        np.testing.assert_allclose(want[0][k], got[0][k], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(want[1], got[1], rtol=1e-4, atol=1e-5)
    assert np.all(np.asarray(got[1])[2, 1:] == 0)  # padding gets no gradient
    assert np.abs(np.asarray(got[0]["w_h"])).max() > 0


def test_bidirectional_two_layer_encoder_matches(data):
    _, x, m = data
    params = lstm.encoder_init(jax.random.PRNGKey(3), "lstm", D, H, 2, True)

    def loss(impl):
        def f(p, x):
            out, finals = jax.vmap(lambda xi, mi: lstm.encode(p, "lstm", xi, mi, impl=impl))(x, m)
            return (out ** 2).sum() + sum((s.h * s.c).sum() for s in finals)
        return jax.jit(jax.value_and_grad(f, (0, 1)))

    (la, ga), (lb, gb) = loss("scan")(params, x), loss("fused")(params, x)
    np.testing.assert_allclose(la, lb, rtol=1e-5)
    for a, b in zip(jax.tree.leaves(ga), jax.tree.leaves(gb), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_per_example_weights_and_unbatched_forward(data):
    p, x, m = data
    shared = jax.vmap(lambda xi, mi: _fused(p, xi, mi, False))(x, m)
    stacked = jax.tree.map(lambda a: jnp.stack([a] * B), p)
    per_example = jax.vmap(lambda pi, xi, mi: _fused(pi, xi, mi, False))(stacked, x, m)
    for a, b in zip(shared, per_example, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    one = _fused(p, x[1], m[1], False)
    for a, b in zip(one, _scan(p, x[1], m[1], False), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_bfloat16_tracks_float32(data):
    p, x, m = data
    y32 = jax.vmap(lambda xi, mi: _fused(p, xi, mi, False))(x, m)[0]
    y16 = jax.vmap(lambda xi, mi: _fused(p, xi, mi, False))(x.astype(jnp.bfloat16), m)[0]
    assert y16.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(y16, np.float32), y32, atol=0.05)


def test_bad_impl_and_cell_are_refused(data):
    p, x, m = data
    with pytest.raises(ValueError, match="unknown impl"):
        lstm.scan_layer(lstm.get_cell("lstm"), p, x[0], m[0], impl="cudnn")
    gru = lstm.gru_init(jax.random.PRNGKey(0), D, H)
    with pytest.raises(ValueError, match="LSTM cell only"):
        lstm.scan_layer(lstm.get_cell("gru"), gru, x[0], m[0], impl="fused")


def test_model_option_gives_the_same_loss_and_gradients():
    from seq2seq_jax import models
    from seq2seq_jax.errors import ConfigError

    spec = {"name": "bahdanau", "embed_dim": 8, "hidden": 12, "bidirectional": True,
            "enc_layers": 2}
    model = models.get_model("bahdanau")
    src = jnp.array([[5, 6, 7, 8, 0], [9, 4, 0, 0, 0]])
    tgt = jnp.array([[1, 5, 6, 0], [1, 7, 0, 0]])

    def loss_and_grad(impl):
        cfg = models.make_config({**spec, "encoder_impl": impl}, 12, 10)
        params = model.init(jax.random.PRNGKey(0), cfg)

        def loss(p):
            return (models.batch_apply(model, p, cfg, src, tgt).logits ** 2).mean()
        return jax.jit(jax.value_and_grad(loss))(params)

    (la, ga), (lb, gb) = loss_and_grad("scan"), loss_and_grad("fused")
    np.testing.assert_allclose(la, lb, rtol=1e-5)
    for a, b in zip(jax.tree.leaves(ga), jax.tree.leaves(gb), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    with pytest.raises(ConfigError, match="encoder_impl"):
        models.make_config({**spec, "encoder_impl": "fused", "cell": "gru"}, 12, 10)
    with pytest.raises(ConfigError, match="encoder_impl"):
        models.make_config({**spec, "encoder_impl": "cudnn"}, 12, 10)
