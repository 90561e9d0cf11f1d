"""Gated skip connections: what the gate is for (gradients at initialisation), its formula
against NumPy, the papers' gate biases, serialization, and gated ResNets against
keras.applications' ResNets.
"""

import numpy as np
import pytest

import zoo
from harness import run_layer_test
from zoo.layers import GatedSkip, HighwayDense
from zoo.layers.gated_skip import default_gate_bias

# One xdist worker runs this whole module, so its module-scoped fixtures are built once.
pytestmark = pytest.mark.xdist_group("test_gated_skip")

DEPTH = 50  # gated blocks in the gradient test
WIDTH = 64


def _block_gradient_ratio(model, names):
    """||dL/dW|| of the first block over that of the last block, at initialisation."""
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, WIDTH)).astype("float32")
    y = np.arange(32) % 10
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss = tf.reduce_mean(
            keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        )
    first, last = (model.get_layer(n).trainable_weights for n in (names[0], names[-1]))
    g_first, g_last = tape.gradient(loss, [first, last])
    norm = lambda gs: float(np.sqrt(sum(np.sum(np.square(np.asarray(g))) for g in gs)))  # noqa: E731
    return norm(g_first) / norm(g_last)


def _gated_stack(variant):
    # 50 gated blocks: highway_net's first layer is plain, the next 50 are gated.
    return zoo.highway_net(input_shape=(WIDTH,), depth=DEPTH + 1, width=WIDTH, variant=variant,
                           classifier_activation=None)


def _plain_stack():
    """The same stack without skips: 50 dense ReLU blocks of the same width and initialisation."""
    import keras

    inp = keras.Input((WIDTH,))
    x = keras.layers.Dense(WIDTH, activation="relu", name="dense_in")(inp)
    for i in range(1, DEPTH + 1):
        x = keras.layers.Dense(WIDTH, activation="relu", name=f"highway_{i}")(x)
    return keras.Model(inp, keras.layers.Dense(10, name="predictions")(x))


BLOCKS = [f"highway_{i}" for i in range(1, DEPTH + 1)]


@pytest.mark.parametrize("variant", ["highway", "exclusive"])
def test_gradient_reaches_the_first_of_50_gated_blocks(variant):
    ratio = _block_gradient_ratio(_gated_stack(variant), BLOCKS)
    assert 0.1 < ratio < 10, ratio  # measured: highway (bias -3) 1.13, exclusive (bias -6) 1.10


def test_gradient_vanishes_in_a_plain_stack_of_the_same_depth():
    ratio = _block_gradient_ratio(_plain_stack(), BLOCKS)
    assert ratio < 1e-3, ratio  # measured: 2.5e-7, about seven orders of magnitude


def test_shortcut_only_gating_does_not_let_the_gradient_vanish():
    # F(x) + (1 - T) x: the gate scales only the shortcut, never F (He et al. 2016, section 3.1),
    # so it cannot hold back what F adds. Without normalisation every block adds a ReLU output to
    # the carried signal and the gradient grows towards the input (measured 1e4-4e5), as in an
    # ungated residual stack of the same layers - it never vanishes, unlike the plain stack.
    # The factor-10 bound holds only for gating that scales F (above); see the next test for
    # what the paper's claim about shortcut-only gating is.
    ratio = _block_gradient_ratio(_gated_stack("shortcut_only"), BLOCKS)
    assert ratio > 1, ratio


def _residual_unit_stack(combine, gate_bias=None):
    """50 of He et al.'s residual units (2016, Fig. 2: weight-BN-ReLU-weight-BN, combine with the
    shortcut, ReLU), dense, He-initialised: `combine` is "identity" (the ungated ResNet, x + F),
    "plain" (no shortcut) or a gating variant."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((WIDTH,))
    x = keras.layers.Dense(WIDTH, activation="relu", name="dense_in")(inp)
    for i in range(1, DEPTH + 1):
        f = keras.layers.Dense(WIDTH, kernel_initializer="he_normal", name=f"unit_{i}")(x)
        f = keras.layers.BatchNormalization()(f)
        f = keras.layers.ReLU()(f)
        f = keras.layers.Dense(WIDTH, kernel_initializer="he_normal")(f)
        f = keras.layers.BatchNormalization()(f)
        if combine == "identity":
            x = keras.layers.Add()([x, f])
        elif combine == "plain":
            x = f
        else:
            x = GatedSkip(combine, gate_bias=gate_bias)([x, f])
        x = keras.layers.ReLU()(x)
    return keras.Model(inp, keras.layers.Dense(10, name="predictions")(x))


UNITS = [f"unit_{i}" for i in range(1, DEPTH + 1)]


def test_shortcut_only_gating_at_minus_6_is_the_identity_shortcut_of_the_paper():
    # He et al. 2016, section 3.1 / Table 1 (ResNet-110 on CIFAR-10): shortcut-only gating with
    # the gate bias at -6 makes 1 - g(x) close to 1, "the shortcut connection is nearly an
    # identity mapping", and it ends close to the ungated baseline (6.91% against 6.61%), while
    # a bias of 0 (1 - g about 0.5 in every unit) trains poorly (12.86%). In a 50-unit stack of
    # the paper's units (with BN) the gradient at initialisation shows the same: at -6 the first
    # unit's gradient relative to the last's is that of the ungated ResNet within a factor 10
    # (measured 193 against 45: BN stacks grow the gradient towards the input, gated or not),
    # at 0 it is five orders of magnitude away (2.5e7), nearer the stack without shortcuts (9e8).
    identity = _block_gradient_ratio(_residual_unit_stack("identity"), UNITS)
    gated = _block_gradient_ratio(_residual_unit_stack("shortcut_only", -6.0), UNITS)
    half_open = _block_gradient_ratio(_residual_unit_stack("shortcut_only", 0.0), UNITS)
    assert 0.1 < gated / identity < 10, (gated, identity)
    assert half_open / identity > 1e3, (half_open, identity)


# --------------------------------------------------------------------------------------------
# The gate's formula
# --------------------------------------------------------------------------------------------


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.mark.parametrize("variant", ["highway", "exclusive", "shortcut_only"])
@pytest.mark.parametrize("shape", [(3, 6), (2, 4, 5, 6)])
def test_gated_skip_computes_the_formula(variant, shape):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype("float32")
    fx = rng.standard_normal(shape).astype("float32")
    layer = GatedSkip(variant, gate_bias=-0.5)
    layer([x, fx])
    w = rng.standard_normal((6, 6)).astype("float32") * 0.5
    b = rng.standard_normal(6).astype("float32")
    layer.set_weights([w, b])
    t = _sigmoid(x @ w + b)
    want = fx + (1 - t) * x if variant == "shortcut_only" else t * fx + (1 - t) * x
    np.testing.assert_allclose(np.asarray(layer([x, fx])), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("variant", ["highway", "shortcut_only"])
def test_highway_dense_computes_the_formula(variant):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 7)).astype("float32")
    layer = HighwayDense(7, activation="tanh", variant=variant)
    layer(x)
    wh, bh, wt, bt = (rng.standard_normal(s).astype("float32") for s in [(7, 7), 7, (7, 7), 7])
    layer.set_weights([wh, bh, wt, bt])
    h, t = np.tanh(x @ wh + bh), _sigmoid(x @ wt + bt)
    want = h + (1 - t) * x if variant == "shortcut_only" else h * t + x * (1 - t)
    np.testing.assert_allclose(np.asarray(layer(x)), want, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------
# Gate biases: Srivastava et al. 2015 (-1, -2, -3 for depths 10, 20, 30), He et al. 2016 (-6)
# --------------------------------------------------------------------------------------------


def test_default_gate_biases_follow_the_papers():
    assert [default_gate_bias("highway", d) for d in (10, 20, 30, 50, 100)] == [-1, -2, -3, -3, -3]
    assert default_gate_bias("highway") == -1
    assert default_gate_bias("exclusive") == -6 == default_gate_bias("shortcut_only")
    x = np.zeros((1, 4), "float32")
    for variant, bias in [("highway", -1), ("exclusive", -6), ("shortcut_only", -6)]:
        layer = GatedSkip(variant)
        layer([x, x])
        np.testing.assert_array_equal(np.asarray(layer.bias), np.full(4, bias, "float32"))
    for depth, bias in [(10, -1), (20, -2), (30, -3)]:
        model = zoo.highway_net(depth=depth, width=8)
        np.testing.assert_array_equal(
            np.asarray(model.get_layer("highway_1").gate_bias_weight), np.full(8, bias, "float32")
        )
    assert zoo.highway_net(depth=5, width=8, variant="exclusive").get_layer(
        "highway_4").initial_gate_bias == -6
    assert zoo.highway_net(depth=5, width=8, gate_bias=-2.5).get_layer(
        "highway_4").initial_gate_bias == -2.5


def test_gated_resnet_gate_biases():
    kw = dict(input_shape=(32, 32, 3), base_filters=4, classes=3)
    # 16 gated blocks: highway gets -2 (Srivastava et al. for depths around 20)
    gates = [l for l in zoo.gated_resnet50(**kw).layers if isinstance(l, GatedSkip)]
    assert len(gates) == 16 and {g.initial_gate_bias for g in gates} == {-2.0}
    gate = zoo.gated_resnet50(variant="shortcut_only", **kw).get_layer("conv4_block6_gate")
    assert gate.variant == "shortcut_only"
    np.testing.assert_array_equal(np.asarray(gate.bias), np.full(64, -6.0, "float32"))


# --------------------------------------------------------------------------------------------
# Serialization
# --------------------------------------------------------------------------------------------


def test_layers_round_trip():
    x, y = np.random.default_rng(5).standard_normal((2, 3, 6)).astype("float32")
    run_layer_test(HighwayDense, dict(units=6, activation="tanh", variant="shortcut_only",
                                      gate_bias=-4.0), x, (3, 6))
    # two different inputs: with [x, x] the exclusive gate mixes x with itself and gets no gradient
    gs = run_layer_test(GatedSkip, dict(variant="exclusive", kernel_regularizer="l2"), [x, y],
                        (3, 6))
    cfg = gs.get_config()
    assert (cfg["variant"], cfg["gate_bias"]) == ("exclusive", None)
    assert GatedSkip.from_config(cfg).initial_gate_bias == -6.0


def test_gated_skip_rejects_bad_arguments():
    with pytest.raises(ValueError, match="variant"):
        GatedSkip("carry")
    with pytest.raises(ValueError, match="gate_bias"):
        GatedSkip(gate_bias="low")
    with pytest.raises(ValueError, match="same shape"):
        GatedSkip()([np.zeros((1, 4), "float32"), np.zeros((1, 5), "float32")])
    with pytest.raises(ValueError, match="units"):
        HighwayDense(4)(np.zeros((1, 5), "float32"))


# --------------------------------------------------------------------------------------------
# gated_resnet50 against keras.applications.ResNet50
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resnet50_pair():
    import keras

    peer = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3))
    ours = zoo.gated_resnet50(input_shape=(32, 32, 3))
    return peer, ours


def test_gated_resnet50_is_resnet50_plus_gates(resnet50_pair):
    peer, ours = resnet50_pair
    gates = [l for l in ours.layers if isinstance(l, GatedSkip)]
    assert len(gates) == 16
    # every block of C output channels gains a 1x1 gate convolution: C * C + C
    channels = [256] * 3 + [512] * 4 + [1024] * 6 + [2048] * 3
    assert sorted(g.kernel.shape[0] for g in gates) == sorted(channels)
    assert ours.count_params() == peer.count_params() + sum(c * c + c for c in channels)
    assert ours.count_params() == 25_636_712 + 20_134_656
    shapes = {l.name: [tuple(w.shape) for w in l.weights] for l in ours.layers}
    for layer in peer.layers:
        if layer.name.endswith("_add") or not layer.weights:
            continue
        assert shapes[layer.name] == [tuple(w.shape) for w in layer.weights], layer.name


def test_gated_resnet50_macs(resnet50_pair):
    from zoo.core.macs import count_macs

    peer, ours = resnet50_pair
    gate_macs = sum(
        int(np.prod(l.output.shape[1:-1])) * int(l.kernel.shape[0]) ** 2
        for l in ours.layers if isinstance(l, GatedSkip)
    )
    assert count_macs(ours) == count_macs(peer) + gate_macs


def test_deeper_gated_resnets_have_the_papers_blocks():
    for fn, blocks in [(zoo.gated_resnet101, [3, 4, 23, 3]), (zoo.gated_resnet152, [3, 8, 36, 3])]:
        model = fn(input_shape=(32, 32, 3), base_filters=2, classes=2)
        for stage, n in enumerate(blocks, start=2):
            names = [l.name for l in model.layers if l.name.startswith(f"conv{stage}_block")
                     and l.name.endswith("_gate")]
            assert len(names) == n


BAD_ARGS = [
    (zoo.gated_resnet50, dict(variant="highwayy"), "variant"),
    (zoo.gated_resnet50, dict(gate_bias="-6"), "gate_bias"),
    (zoo.gated_resnet50, dict(base_filters=0), "base_filters"),
    (zoo.gated_resnet50, dict(classes=0), "classes"),
    (zoo.gated_resnet50, dict(input_shape=(16, 16, 3)), "input_shape"),
    (zoo.gated_resnet50, dict(include_top=False, pooling="sum"), "pooling"),
    (zoo.highway_net, dict(depth=1), "depth"),
    (zoo.highway_net, dict(width=0), "width"),
    (zoo.highway_net, dict(classes=-1), "classes"),
    (zoo.highway_net, dict(input_shape=(28, 28)), "input_shape"),
    (zoo.highway_net, dict(activation="nope"), "activation"),
    (zoo.highway_net, dict(variant="plain"), "variant"),
    (zoo.highway_net, dict(weights="imagenet"), "weights"),
]


@pytest.mark.parametrize("fn,kwargs,arg", BAD_ARGS, ids=[f"{f.__name__}-{a}" for f, _, a in BAD_ARGS])
def test_invalid_arguments_raise_before_building(monkeypatch, fn, kwargs, arg):
    import keras

    built = []
    original = keras.layers.Layer.__init__

    def spy(self, *a, **k):
        built.append(type(self).__name__)
        original(self, *a, **k)

    monkeypatch.setattr(keras.layers.Layer, "__init__", spy)
    with pytest.raises(ValueError, match=arg):
        fn(**kwargs)
    assert built == []
