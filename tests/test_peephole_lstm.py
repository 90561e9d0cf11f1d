"""PeepholeLSTMCell / PeepholeLSTM against a NumPy implementation of the paper's equations.

The reference below is written from Gers, Schraudolph & Schmidhuber (2002) as formulated by
Sak et al. (2014), eqs. (1)-(6), with keras' conventions for masks (a masked step keeps the state;
its output repeats the previous output, or is zero with `zero_output_for_mask`).
"""


import keras
import numpy as np
import pytest

import zoo
from conftest import run_on_jax
from harness import run_config_round_trip, run_keras_file_round_trip
from zoo.layers import PeepholeLSTM, PeepholeLSTMCell

PATHS = ["graph", "xla", "none"]


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def reference(x, weights, mask=None, h0=None, c0=None, go_backwards=False, zero_output=False):
    """NumPy peephole LSTM, float64. Returns (outputs (B, T, u), h_T, c_T)."""
    W, R, b, p_i, p_f, p_o = [np.asarray(w, np.float64) for w in weights]
    x = np.asarray(x, np.float64)
    batch, steps, _ = x.shape
    u = R.shape[0]
    h = np.zeros((batch, u)) if h0 is None else np.asarray(h0, np.float64)
    c = np.zeros((batch, u)) if c0 is None else np.asarray(c0, np.float64)
    prev_out = np.zeros((batch, u))
    outs = []
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    for t in order:
        a = x[:, t] @ W + h @ R + b  # pre-activations of the four blocks, order i, f, c, o
        i = _sigmoid(a[:, :u] + p_i * c)  # input gate sees c(t-1)
        f = _sigmoid(a[:, u : 2 * u] + p_f * c)  # forget gate sees c(t-1)
        c_new = f * c + i * np.tanh(a[:, 2 * u : 3 * u])
        o = _sigmoid(a[:, 3 * u :] + p_o * c_new)  # output gate sees c(t)
        h_new = o * np.tanh(c_new)
        if mask is not None:
            m = mask[:, t][:, None]
            h_new = np.where(m, h_new, h)
            c_new = np.where(m, c_new, c)
            out = np.where(m, h_new, 0.0 if zero_output else prev_out)
        else:
            out = h_new
        h, c, prev_out = h_new, c_new, out
        outs.append(out)
    return np.stack(outs, axis=1), h, c


def _random_weights(rng, m, u, scale=0.5):
    return [
        rng.uniform(-scale, scale, (m, 4 * u)),
        rng.uniform(-scale, scale, (u, 4 * u)),
        rng.uniform(-scale, scale, (4 * u,)),
        rng.uniform(-scale, scale, (u,)),
        rng.uniform(-scale, scale, (u,)),
        rng.uniform(-scale, scale, (u,)),
    ]


def _layer(weights, m, **kwargs):
    u = weights[1].shape[0]
    layer = PeepholeLSTM(u, **kwargs)
    layer.build((None, None, m))
    layer.set_weights([w.astype("float32") for w in weights])
    return layer


def _mask(rng, batch, steps):
    mask = rng.random((batch, steps)) > 0.3
    mask[0, :] = True
    if steps > 2:
        mask[1, -2:] = False  # right padding
        mask[2 % batch, :2] = False  # left padding: outputs stay zero until the first real step
    return mask


@pytest.mark.parametrize("fast_path", PATHS)
@pytest.mark.parametrize("steps", [1, 4, 13])
@pytest.mark.parametrize("masked", [False, True])
def test_matches_numpy_reference(fast_path, steps, masked):
    rng = np.random.default_rng(steps)
    batch, m, u = 3, 5, 4
    weights = _random_weights(rng, m, u)
    x = rng.standard_normal((batch, steps, m)).astype("float32")
    mask = _mask(rng, batch, steps) if masked else None
    layer = _layer(weights, m, return_sequences=True, return_state=True, fast_path=fast_path)
    y, h, c = layer(x, mask=mask)
    y_ref, h_ref, c_ref = reference(x, weights, mask=mask)
    np.testing.assert_allclose(np.asarray(y), y_ref, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(h), h_ref, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(c), c_ref, atol=1e-5, rtol=1e-5)
    # return_sequences=False gives the last output.
    last = _layer(weights, m, fast_path=fast_path)(x, mask=mask)
    np.testing.assert_allclose(np.asarray(last), y_ref[:, -1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("fast_path", ["graph", "none"])
def test_go_backwards_and_initial_state(fast_path):
    rng = np.random.default_rng(1)
    batch, steps, m, u = 2, 6, 3, 5
    weights = _random_weights(rng, m, u)
    x = rng.standard_normal((batch, steps, m)).astype("float32")
    h0 = rng.uniform(-0.5, 0.5, (batch, u)).astype("float32")
    c0 = rng.uniform(-0.5, 0.5, (batch, u)).astype("float32")
    mask = _mask(rng, batch, steps)
    layer = _layer(weights, m, return_sequences=True, return_state=True, go_backwards=True,
                   fast_path=fast_path)
    y, h, c = layer(x, initial_state=[h0, c0], mask=mask)
    y_ref, h_ref, c_ref = reference(x, weights, mask=mask, h0=h0, c0=c0, go_backwards=True)
    for got, want in ((y, y_ref), (h, h_ref), (c, c_ref)):
        np.testing.assert_allclose(np.asarray(got), want, atol=1e-5, rtol=1e-5)


def test_cell_under_keras_rnn_matches_reference():
    rng = np.random.default_rng(2)
    batch, steps, m, u = 2, 5, 3, 4
    weights = _random_weights(rng, m, u)
    x = rng.standard_normal((batch, steps, m)).astype("float32")
    rnn = keras.layers.RNN(PeepholeLSTMCell(u), return_sequences=True)
    rnn.build((None, steps, m))
    rnn.set_weights([w.astype("float32") for w in weights])
    np.testing.assert_allclose(np.asarray(rnn(x)), reference(x, weights)[0], atol=1e-5)


@pytest.mark.parametrize("m,u", [(1, 1), (64, 256), (7, 3)])
def test_parameter_count_and_tf_keras_layout(m, u):
    layer = PeepholeLSTM(u)
    layer.build((None, None, m))
    assert layer.count_params() == 4 * (m * u + u * u + u) + 3 * u
    shapes = {w.path.split("/")[-1]: tuple(w.shape) for w in layer.weights}
    assert shapes == {
        "kernel": (m, 4 * u),
        "recurrent_kernel": (u, 4 * u),
        "bias": (4 * u,),
        "input_gate_peephole_weights": (u,),
        "forget_gate_peephole_weights": (u,),
        "output_gate_peephole_weights": (u,),
    }


@pytest.mark.parametrize("fast_path", PATHS)
def test_layout_matches_tensorflow_block_lstm(fast_path):
    """The weights in our layout, moved to TensorFlow's own peephole LSTM kernel
    (`tf.raw_ops.BlockLSTM`: one `[x, h]` kernel, gates i, c, f, o, peepholes wci, wcf, wco), give
    the same outputs and cell states: the layout and the peephole connections are TensorFlow's,
    not only our reading of the paper."""
    import tensorflow as tf

    rng = np.random.default_rng(4)
    batch, steps, m, u = 3, 7, 5, 4
    layer = PeepholeLSTM(u, return_sequences=True, return_state=True, fast_path=fast_path)
    layer.build((None, None, m))
    layer.set_weights([w.astype("float32") for w in _random_weights(rng, m, u, scale=0.8)])
    named = {w.path.split("/")[-1]: np.asarray(w) for w in layer.weights}
    x = rng.standard_normal((batch, steps, m)).astype("float32")
    y, h, c = layer(x)

    def icfo(a):  # our gate order is i, f, c, o (tf.keras'); BlockLSTM's is i, c, f, o
        i, f, g, o = np.split(a, 4, axis=-1)
        return np.concatenate([i, g, f, o], axis=-1)

    zeros = np.zeros((batch, u), "float32")

    def block_lstm(use_peephole):  # time-major; returns (h, cs) batch-major
        out = tf.raw_ops.BlockLSTM(
            seq_len_max=np.int64(steps), x=x.transpose(1, 0, 2), cs_prev=zeros, h_prev=zeros,
            w=icfo(np.concatenate([named["kernel"], named["recurrent_kernel"]])),
            wci=named["input_gate_peephole_weights"], wcf=named["forget_gate_peephole_weights"],
            wco=named["output_gate_peephole_weights"], b=icfo(named["bias"]), forget_bias=0.0,
            cell_clip=-1.0, use_peephole=use_peephole)
        return [np.asarray(t).transpose(1, 0, 2) for t in (out.h, out.cs)]

    tf_h, tf_c = block_lstm(True)
    np.testing.assert_allclose(np.asarray(y), tf_h, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(h), tf_h[:, -1], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(c), tf_c[:, -1], atol=1e-5, rtol=1e-5)
    # the peepholes matter here: without them TensorFlow's kernel gives other outputs
    assert np.abs(block_lstm(False)[0] - tf_h).max() > 1e-2


def test_unit_forget_bias():
    layer = PeepholeLSTM(3)
    layer.build((None, None, 2))
    np.testing.assert_array_equal(np.asarray(layer.cell.bias), [0, 0, 0, 1, 1, 1] + [0] * 6)
    layer = PeepholeLSTM(3, unit_forget_bias=False)
    layer.build((None, None, 2))
    np.testing.assert_array_equal(np.asarray(layer.cell.bias), np.zeros(12))


@pytest.mark.parametrize("fast_path", ["graph", "none"])
def test_stateful_continues_where_it_stopped(fast_path):
    rng = np.random.default_rng(3)
    batch, steps, m, u = 2, 8, 3, 4
    weights = _random_weights(rng, m, u)
    x = rng.standard_normal((batch, steps, m)).astype("float32")
    inputs = keras.Input(batch_shape=(batch, None, m))
    layer = PeepholeLSTM(u, return_sequences=True, stateful=True, fast_path=fast_path)
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([w.astype("float32") for w in weights])
    first = model(x[:, :5])
    second = model(x[:, 5:])
    y_ref = reference(x, weights)[0]
    np.testing.assert_allclose(np.concatenate([first, second], 1), y_ref, atol=1e-5)
    layer.reset_state()
    np.testing.assert_allclose(model(x[:, :5]), y_ref[:, :5], atol=1e-5)


@pytest.mark.parametrize("fast_path", ["graph", "none"])
def test_bidirectional_and_stacked(fast_path):
    rng = np.random.default_rng(4)
    batch, steps, m, u = 3, 6, 4, 3
    x = rng.standard_normal((batch, steps, m)).astype("float32")
    mask = _mask(rng, batch, steps)
    bi = keras.layers.Bidirectional(PeepholeLSTM(u, return_sequences=True, fast_path=fast_path))
    top = PeepholeLSTM(u, fast_path=fast_path)
    y = top(bi(x, mask=mask), mask=mask)
    wf = [np.asarray(w) for w in bi.forward_layer.weights]
    wb = [np.asarray(w) for w in bi.backward_layer.weights]
    # Bidirectional returns zeros at masked steps when it returns sequences, and flips the
    # backward layer's outputs back into input order.
    y_f = reference(x, wf, mask=mask, zero_output=True)[0]
    y_b = reference(x, wb, mask=mask, zero_output=True, go_backwards=True)[0][:, ::-1]
    mid = np.concatenate([y_f, y_b], axis=-1)
    np.testing.assert_allclose(np.asarray(bi(x, mask=mask)), mid, atol=1e-5)
    want = reference(mid, [np.asarray(w) for w in top.weights], mask=mask)[0][:, -1]
    np.testing.assert_allclose(np.asarray(y), want, atol=1e-5)


def _tf_grads(layer, x, mask=None, initial_state=None, training=False):
    import tensorflow as tf

    x = tf.constant(x)
    state = None if initial_state is None else [tf.constant(s) for s in initial_state]
    with tf.GradientTape() as tape:
        tape.watch(x)
        if state is not None:
            tape.watch(state)
        y = layer(x, mask=mask, initial_state=state, training=training)
        y = y if isinstance(y, (list, tuple)) else [y]
        # A loss that weights every output (sequence and both final states) differently.
        loss = sum(
            tf.reduce_sum(t * tf.cos(tf.reshape(tf.range(tf.size(t), dtype=t.dtype), tf.shape(t))))
            for t in y
        )
    sources = [x] + (state or []) + list(layer.trainable_variables)
    return [np.asarray(t) for t in y], [np.asarray(g) for g in tape.gradient(loss, sources)]


@pytest.mark.parametrize("fast_path", ["graph", "xla"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_fused_tf_path_matches_generic_path(fast_path, go_backwards):
    """Outputs and gradients (inputs, initial state, every weight) of the fused loops with their
    hand-written backward pass equal autodiff through the generic `keras.ops.scan` loop."""
    rng = np.random.default_rng(5)
    batch, steps, m, u = 3, 7, 4, 5
    weights = _random_weights(rng, m, u)
    x = rng.standard_normal((batch, steps, m)).astype("float32")
    mask = _mask(rng, batch, steps)
    state = [rng.uniform(-0.5, 0.5, (batch, u)).astype("float32") for _ in range(2)]
    kw = dict(return_sequences=True, return_state=True, go_backwards=go_backwards)
    for msk in (None, mask):
        y1, g1 = _tf_grads(_layer(weights, m, fast_path=fast_path, **kw), x, msk, state)
        y2, g2 = _tf_grads(_layer(weights, m, fast_path="none", **kw), x, msk, state)
        for a, b in zip(y1, y2):
            np.testing.assert_allclose(a, b, atol=1e-5)
        assert len(g1) == len(g2) == 3 + 6
        for a, b in zip(g1, g2):
            np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("training", [False, True])
def test_fused_tf_path_last_output_only(training):
    """Without sequences or a mask, inference keeps only the last state; outputs and gradients
    (a tape around `training=False` too) still equal the generic loop's."""
    rng = np.random.default_rng(8)
    batch, steps, m, u = 3, 6, 4, 5
    weights = _random_weights(rng, m, u)
    x = rng.standard_normal((batch, steps, m)).astype("float32")
    results = [_tf_grads(_layer(weights, m, fast_path=fp, return_state=True), x,
                         training=training) for fp in ("graph", "none")]
    (y1, g1), (y2, g2) = results
    for a, b in zip(y1 + g1, y2 + g2):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


def test_dropout_in_training_same_masks_on_both_paths():
    """With dropout and recurrent dropout, training outputs differ from inference ones, and the
    fused path (which applies the recurrent mask inside its loops) agrees with the generic one,
    gradients included, when both draw the same masks (same seed)."""
    rng = np.random.default_rng(6)
    batch, steps, m, u = 4, 5, 6, 8
    weights = _random_weights(rng, m, u)
    x = rng.standard_normal((batch, steps, m)).astype("float32")
    results = []
    for fast_path in ("graph", "none"):
        layer = _layer(weights, m, dropout=0.3, recurrent_dropout=0.4, seed=11,
                       return_sequences=True, fast_path=fast_path)
        inference = np.asarray(layer(x, training=False))
        np.testing.assert_allclose(inference, reference(x, weights)[0], atol=1e-5)
        results.append(_tf_grads(layer, x, training=True))
        assert not np.allclose(results[-1][0][0], inference, atol=1e-3)
    (y1, g1), (y2, g2) = results
    np.testing.assert_allclose(y1[0], y2[0], atol=1e-5)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


def test_keras_file_round_trip():
    inputs = keras.Input((None,), dtype="int32")
    h = keras.layers.Embedding(20, 6, mask_zero=True)(inputs)
    h = keras.layers.Bidirectional(PeepholeLSTM(5, return_sequences=True, dropout=0.1))(h)
    h = PeepholeLSTM(4, recurrent_dropout=0.2, fast_path="none", unit_forget_bias=False)(h)
    model = keras.Model(inputs, keras.layers.Dense(2)(h))
    x = np.array([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5]], "int32")
    loaded = run_keras_file_round_trip(model, x, atol=1e-6)
    layer = loaded.layers[-2]
    assert isinstance(layer, PeepholeLSTM)
    assert layer.get_config()["fast_path"] == "none"
    assert layer.get_config()["recurrent_dropout"] == 0.2
    run_config_round_trip(PeepholeLSTM(3, go_backwards=True, fast_path="xla"))


def test_counted_by_zoo_macs():
    from zoo.core.macs import count_macs

    m, u, steps = 3, 8, 10
    inputs = keras.Input((steps, m))
    model = keras.Model(inputs, PeepholeLSTM(u)(inputs))
    assert count_macs(model) == steps * (4 * u * (m + u) + 3 * u)


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        (dict(units=0), "units"),
        (dict(units=2.5), "units"),
        (dict(units=4, fast_path="cudnn"), "fast_path"),
        (dict(units=4, dropout=1.5), "dropout"),
        (dict(units=4, recurrent_dropout=-0.1), "recurrent_dropout"),
    ],
)
def test_invalid_arguments_name_the_argument(kwargs, arg):
    with pytest.raises(ValueError, match=f"{arg}=.*") as info:
        PeepholeLSTM(**kwargs)
    assert f"`{arg}`" in str(info.value) and "Received" in str(info.value)


JAX_SCRIPT = r"""
import json, sys
import numpy as np
import jax, jax.numpy as jnp
import keras
assert keras.backend.backend() == "jax"
sys.path.insert(0, "tests")
from test_peephole_lstm import reference, _random_weights, _layer, _mask
rng = np.random.default_rng(7)
weights = _random_weights(rng, 3, 4)
x = rng.standard_normal((2, 6, 3)).astype("float32")
mask = _mask(rng, 2, 6)
state = [rng.uniform(-0.5, 0.5, (2, 4)).astype("float32") for _ in range(2)]
out = {}
for fast_path in ("auto", "none"):
    layer = _layer(weights, 3, return_sequences=True, return_state=True, go_backwards=True,
                   recurrent_dropout=0.3, seed=5, fast_path=fast_path)
    y_ref = reference(x, weights, mask=mask, h0=state[0], c0=state[1], go_backwards=True)
    y = layer(x, mask=mask, initial_state=state)
    out[fast_path + "_err"] = max(float(np.max(np.abs(np.asarray(a) - b))) for a, b in zip(y, y_ref))
    tv = [v.value for v in layer.trainable_variables]
    ntv = [v.value for v in layer.non_trainable_variables]

    def loss(tv, x, h0, c0):
        ys, _ = layer.stateless_call(tv, ntv, x, mask=mask, initial_state=[h0, c0], training=True)
        return sum((t * jnp.cos(jnp.arange(t.size).reshape(t.shape))).sum() for t in ys)

    out[fast_path] = [np.asarray(g) for g in jax.tree_util.tree_leaves(
        jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3)))(tv, x, *state))]
grad_err = max(float(np.max(np.abs(a - b))) for a, b in zip(out.pop("auto"), out.pop("none")))
print("RESULT " + json.dumps(dict(out, grad_err=grad_err)))
"""


def test_jax_backend_matches_reference():
    result = run_on_jax(JAX_SCRIPT)
    # Both loops (the fused one with its hand-written backward pass, and keras.ops.scan) match
    # the NumPy reference, and their gradients agree (mask, go_backwards, recurrent dropout).
    assert result["auto_err"] < 1e-5 and result["none_err"] < 1e-5, result
    assert result["grad_err"] < 1e-4, result


# -- registered builders ---------------------------------------------------------------------


def _lstm_params(m, u):
    return 4 * (m * u + u * u + u) + 3 * u


def test_classifier_parameter_count_and_shapes():
    model = zoo.peephole_lstm_classifier(vocabulary_size=100, embedding_dim=8, units=(6, 5),
                                         bidirectional=True, classes=3)
    want = 100 * 8 + 2 * _lstm_params(8, 6) + 2 * _lstm_params(12, 5) + (10 * 3 + 3)
    assert model.count_params() == want
    x = np.array([[4, 5, 6, 0, 0], [1, 2, 3, 4, 5]], "int32")
    y = np.asarray(model(x))
    assert y.shape == (2, 3)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
    # Padding (id 0) is masked: trailing padding does not change the prediction.
    np.testing.assert_allclose(np.asarray(model(x[:1, :3])), y[:1], atol=1e-5)

    features = zoo.peephole_lstm_classifier(input_shape=(None, 7), vocabulary_size=None,
                                            units=4, classes=2, classifier_activation=None)
    assert features.count_params() == _lstm_params(7, 4) + 4 * 2 + 2
    assert tuple(features(np.zeros((3, 9, 7), "float32")).shape) == (3, 2)


def test_regressor_shapes_and_card():
    model = zoo.peephole_lstm_regressor(input_shape=(20, 3), units=(8, 4), horizon=5, targets=2)
    assert tuple(model(np.zeros((2, 20, 3), "float32")).shape) == (2, 5, 2)
    assert model.count_params() == _lstm_params(3, 8) + _lstm_params(8, 4) + 4 * 10 + 10
    card = zoo.model_card("peephole_lstm_regressor")
    assert card["family"] == "peephole_lstm" and card["task"] == "sequence_regression"
    assert card["params"] == _lstm_params(1, 64) + 65
    assert card["macs"] == 100 * (4 * 64 * (1 + 64) + 3 * 64) + 64


@pytest.mark.parametrize(
    "builder, kwargs, arg",
    [
        ("peephole_lstm_classifier", dict(units=0), "units"),
        ("peephole_lstm_classifier", dict(units=(8, "x")), "units"),
        ("peephole_lstm_classifier", dict(vocabulary_size=1), "vocabulary_size"),
        ("peephole_lstm_classifier", dict(classes=0), "classes"),
        ("peephole_lstm_classifier", dict(vocabulary_size=None), "input_shape"),
        ("peephole_lstm_classifier", dict(input_shape=(10, 2)), "input_shape"),
        ("peephole_lstm_classifier", dict(bidirectional="yes"), "bidirectional"),
        ("peephole_lstm_classifier", dict(classifier_activation="nope"), "classifier_activation"),
        ("peephole_lstm_regressor", dict(input_shape=(10,)), "input_shape"),
        ("peephole_lstm_regressor", dict(horizon=0), "horizon"),
        ("peephole_lstm_regressor", dict(targets=-1), "targets"),
        ("peephole_lstm_regressor", dict(dropout=1.0), "dropout"),
        ("peephole_lstm_regressor", dict(fast_path="cudnn"), "fast_path"),
        ("peephole_lstm_regressor", dict(weights=3), "weights"),
    ],
)
def test_builders_validate_arguments(builder, kwargs, arg):
    with pytest.raises(ValueError, match="Received") as info:
        getattr(zoo, builder)(**kwargs)
    assert arg in str(info.value)


@pytest.mark.slow
def test_regressor_learns_to_forecast_a_sine():
    """A small forecaster trained for a few epochs predicts the next values of sines it has not
    seen (held-out phases and frequencies) far better than repeating the last value."""
    rng = np.random.default_rng(0)
    steps, horizon, n, held_out = 24, 3, 512, 256
    phase = rng.uniform(0, 2 * np.pi, (n + held_out, 1))
    freq = rng.uniform(0.2, 0.4, (n + held_out, 1))
    t = np.arange(steps + horizon)[None]
    series = np.sin(freq * t + phase).astype("float32")
    x, y = series[:n, :steps, None], series[:n, steps:]
    x_test, y_test = series[n:, :steps, None], series[n:, steps:]
    model = zoo.peephole_lstm_regressor(input_shape=(steps, 1), units=16, horizon=horizon)
    model.compile(keras.optimizers.Adam(0.01), "mse")
    model.fit(x, y, batch_size=64, epochs=12, verbose=0)
    mse = float(np.mean((np.asarray(model(x_test)) - y_test) ** 2))
    naive = float(np.mean((x_test[:, -1] - y_test) ** 2))
    assert mse < 0.2 * naive, (mse, naive)


def test_training_benchmark_script_smoke(tmp_path):
    """benchmarks/peephole_lstm_training.py (issue 16, point 2) runs at tiny sizes (`--smoke`)
    and writes its table: every setting with the zoo model, the A/A twin and the peer; the
    structure only, never the timings."""
    import importlib.util
    import math
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location(
        "peephole_lstm_training", os.path.join(root, "benchmarks", "peephole_lstm_training.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "table.md"
    bench.write("## jax backend\n\nkept\n", "jax", str(out))  # another backend's section stays
    text = bench.main(["--smoke", "--quiet", "--out", str(out)])
    written = out.read_text()
    assert "## jax backend\n\nkept" in written and text.strip() in written
    assert "`python benchmarks/peephole_lstm_training.py --smoke --quiet --out " in text
    assert "load average" in text and f"keras {keras.__version__}" in text
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| ")]
    assert rows[0] == ["| setting", "implementation", "ms per step", "ratio (peer / this)",
                       "95% CI |"]
    body = rows[2:]
    settings = ["fit", "trainer", "predict", "layer", "layer_fwd"]
    impls = [bench.ZOO, bench.TWIN, bench.PEER]
    assert [(r[0][2:], r[1]) for r in body] == [(s, i) for s in settings for i in impls]
    for r in body:
        assert float(r[2]) > 0
        if r[1] == bench.PEER:
            assert r[3] == "1 (reference)"
        else:
            lo, hi = (float(v) for v in r[4].strip("[] |").split(", "))
            assert lo <= float(r[3]) <= hi and all(math.isfinite(v) for v in (lo, hi))
