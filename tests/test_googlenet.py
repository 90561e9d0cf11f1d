"""GoogLeNet against Szegedy et al. 2014, Table 1, and the LRN layer against tf.nn.

The table is written here as data (branch widths, the printed "params" and "ops" columns) and the
expected weight counts are computed from the widths by hand formula, independently of the builder.
"""

import numpy as np
import pytest

import zoo
from harness import run_layer_test
from zoo.models.googlenet import googlenet_inference_model, googlenet_loss_weights

# One xdist worker runs this whole module, so its module-scoped fixtures are built once.
pytestmark = pytest.mark.xdist_group("test_googlenet")

# Table 1 of the paper: input channels, (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj),
# output size, printed params (K = 1024 weights, without biases) and ops (M multiply-adds).
TABLE_1 = [
    # module, in, widths,                     out, side, paramsK, opsM
    ("3a", 192, (64, 96, 128, 16, 32, 32), 256, 28, 159, 128),
    ("3b", 256, (128, 128, 192, 32, 96, 64), 480, 28, 380, 304),
    ("4a", 480, (192, 96, 208, 16, 48, 64), 512, 14, 364, 73),
    ("4b", 512, (160, 112, 224, 24, 64, 64), 512, 14, 437, 88),
    ("4c", 512, (128, 128, 256, 24, 64, 64), 512, 14, 463, 100),
    ("4d", 512, (112, 144, 288, 32, 64, 64), 528, 14, 580, 119),
    ("4e", 528, (256, 160, 320, 32, 128, 128), 832, 14, 840, 170),
    ("5a", 832, (256, 160, 320, 32, 128, 128), 832, 7, 1072, 54),
    ("5b", 832, (384, 192, 384, 48, 128, 128), 1024, 7, 1388, 71),
]


def table_weights(cin, widths):
    """Weights (no biases) of a module, by hand from Table 1's branch widths."""
    n1, n3r, n3, n5r, n5, pp = widths
    return cin * n1 + cin * n3r + 9 * n3r * n3 + cin * n5r + 25 * n5r * n5 + cin * pp


def module_layers(model, module, kind):
    return [l for l in model.layers
            if l.name.startswith(f"inception_{module}_") and l.__class__.__name__ == kind]


@pytest.fixture(scope="module")
def paper_aux():
    """The paper's GoogLeNet at 224x224 with the auxiliary classifiers (built once)."""
    return zoo.googlenet(aux_logits=True)


@pytest.fixture(scope="module")
def torchvision_model():
    """torchvision's layout with its auxiliary heads (built once)."""
    return zoo.googlenet_torchvision(aux_logits=True)


@pytest.mark.parametrize("module,cin,widths,depth,side,_p,_o", TABLE_1, ids=[r[0] for r in TABLE_1])
def test_module_output_depth_and_size(paper_aux, module, cin, widths, depth, side, _p, _o):
    out = paper_aux.get_layer(f"inception_{module}_output").output
    assert tuple(out.shape[1:]) == (side, side, depth)
    assert sum(widths[i] for i in (0, 2, 4, 5)) == depth  # the table agrees with itself
    inp = paper_aux.get_layer(f"inception_{module}_1x1").input
    assert inp.shape[-1] == cin


@pytest.mark.parametrize("module,cin,widths,_d,_s,params_k,_o", TABLE_1, ids=[r[0] for r in TABLE_1])
def test_module_weight_count(paper_aux, module, cin, widths, _d, _s, params_k, _o):
    convs = module_layers(paper_aux, module, "Conv2D")
    assert len(convs) == 6
    kernels = sum(int(np.prod(c.kernel.shape)) for c in convs)
    biases = sum(int(np.prod(c.bias.shape)) for c in convs)
    assert kernels == table_weights(cin, widths)
    n1, n3r, n3, n5r, n5, pp = widths
    assert biases == n1 + n3r + n3 + n5r + n5 + pp
    # the true 5x5 convolution
    assert tuple(paper_aux.get_layer(f"inception_{module}_5x5").kernel.shape) == (5, 5, n5r, n5)
    # the printed params column is rounded and in places inconsistent with its widths (4c, 5a)
    assert kernels / 1024 == pytest.approx(params_k, rel=0.08)


def test_module_ops_match_table(paper_aux):
    from zoo.core.macs import count_macs

    per_layer = count_macs(googlenet_inference_model(paper_aux), per_layer=True)
    for module, cin, widths, _d, side, _p, ops_m in TABLE_1:
        macs = sum(m for n, m in per_layer if n.startswith(f"inception_{module}_"))
        assert macs == side * side * table_weights(cin, widths)
        assert macs / 1e6 == pytest.approx(ops_m, rel=0.08), module
    total = sum(m for _, m in per_layer)
    # "the overall number of multiply-adds is about 1.5 billion" (section 5 / Table 1)
    assert total / 1e9 == pytest.approx(1.5, rel=0.1)


def test_stem_and_head_shapes(paper_aux):
    expected = {
        "conv1_7x7_s2": (112, 112, 64),
        "pool1_3x3_s2": (56, 56, 64),
        "pool1_norm1": (56, 56, 64),
        "conv2_3x3_reduce": (56, 56, 64),
        "conv2_3x3": (56, 56, 192),
        "pool2_3x3_s2": (28, 28, 192),
        "pool3_3x3_s2": (14, 14, 480),
        "pool4_3x3_s2": (7, 7, 832),
        "avg_pool": (1024,),
        "predictions": (1000,),
        "aux1_avg_pool": (4, 4, 512),
        "aux2_avg_pool": (4, 4, 528),
        "aux1_fc": (1024,),
        "aux2_predictions": (1000,),
    }
    for name, shape in expected.items():
        assert tuple(paper_aux.get_layer(name).output.shape[1:]) == shape, name
    assert paper_aux.get_layer("dropout").rate == 0.4
    assert paper_aux.get_layer("aux1_dropout").rate == 0.7
    assert paper_aux.get_layer("aux2_conv").filters == 128
    lrn = paper_aux.get_layer("pool1_norm1")
    assert (lrn.depth_radius, lrn.alpha, lrn.beta) == (2, 1e-4 / 5, 0.75)


def test_parameter_totals(paper_aux, torchvision_model):
    assert paper_aux.count_params() == 13_378_280
    main = googlenet_inference_model(paper_aux)
    assert main.count_params() == 6_998_552
    def trainable(model):
        return sum(int(np.prod(w.shape)) for w in model.trainable_weights)

    assert trainable(googlenet_inference_model(torchvision_model)) == 6_624_904
    # torchvision's googlenet(aux_logits=True) has 13,004,888 parameters
    assert trainable(torchvision_model) == 13_004_888


def test_torchvision_layout(torchvision_model):
    m = torchvision_model
    assert tuple(m.get_layer("inception_3a_5x5").kernel.shape) == (3, 3, 16, 32)
    convs = [l for l in m.layers if l.__class__.__name__ == "Conv2D"]
    assert len(convs) == 59 and not any(c.use_bias for c in convs)  # 57 + the two aux convs
    bns = [l for l in m.layers if l.__class__.__name__ == "BatchNormalization"]
    assert len(bns) == 59 and all(b.epsilon == 1e-3 for b in bns)
    assert not [l for l in m.layers if "norm" in l.name]
    assert m.get_layer("pool4_2x2_s2").pool_size == (2, 2)
    assert m.get_layer("dropout").rate == 0.2
    assert m.get_layer("aux1_avg_pool").__class__.__name__ == "AdaptiveAveragePooling2D"
    assert tuple(m.get_layer("aux2_flatten").output.shape[1:]) == (2048,)
    # the adaptive pool takes any input the trunk takes
    small = zoo.googlenet_torchvision(aux_logits=True, input_shape=(32, 32, 3), classes=3)
    assert tuple(small.get_layer("aux1_flatten").output.shape[1:]) == (2048,)


def test_batch_norm_variant_counts():
    model = zoo.googlenet_bn(input_shape=(64, 64, 3))
    convs = [l for l in model.layers if l.__class__.__name__ == "Conv2D"]
    assert len(convs) == 57 and not any(c.use_bias for c in convs)
    channels = sum(c.filters for c in convs)
    # the paper's count, less the convolution biases, plus gamma and beta (trainable) and the
    # moving mean and variance of a BN per convolution
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 6_998_552 + channels
    assert model.count_params() == 6_998_552 + 3 * channels
    assert not [l for l in model.layers if "norm" in l.name]


def test_aux_outputs_loss_weights_and_inference(paper_aux):
    import keras

    assert paper_aux.output_names == ["predictions", "aux1_predictions", "aux2_predictions"]
    assert googlenet_loss_weights(paper_aux) == [1.0, 0.3, 0.3]
    x = np.random.default_rng(0).standard_normal((2, 224, 224, 3)).astype("float32")
    y = np.array([3, 7])
    outs = [np.asarray(o) for o in paper_aux(x, training=False)]
    main = googlenet_inference_model(paper_aux)
    assert len(main.outputs) == 1
    np.testing.assert_allclose(np.asarray(main(x, training=False)), outs[0], rtol=1e-5, atol=1e-6)
    # the compiled loss is main + 0.3 * (aux1 + aux2)
    paper_aux.compile(loss=["sparse_categorical_crossentropy"] * 3,
                      loss_weights=googlenet_loss_weights(paper_aux))
    got = paper_aux.evaluate(x, [y, y, y], verbose=0, return_dict=True)["loss"]
    sce = [float(np.mean(keras.losses.sparse_categorical_crossentropy(y, o))) for o in outs]
    assert got == pytest.approx(sce[0] + 0.3 * (sce[1] + sce[2]), rel=1e-4)
    single = zoo.googlenet(input_shape=(64, 64, 3), classes=5)
    assert googlenet_loss_weights(single) == [1.0]
    assert googlenet_inference_model(single) is single


BAD_ARGS = [
    (dict(classes=0), "classes"),
    (dict(aux_logits="yes"), "aux_logits"),
    (dict(variant="caffe"), "variant"),
    (dict(variant="torchvision", batch_norm=False), "batch_norm"),
    (dict(batch_norm=1), "batch_norm"),
    (dict(dropout=1.5), "dropout"),
    (dict(include_top=False, pooling="min"), "pooling"),
    (dict(input_shape=(31, 31, 3)), "input_shape"),
    (dict(input_shape=(64, 64, 3), aux_logits=True), "input_shape"),
    (dict(include_top=False, aux_logits=True), "aux_logits"),
    (dict(weights="imagenet"), "weights"),
]


@pytest.mark.parametrize("kwargs,arg", BAD_ARGS, ids=[a for _, a in BAD_ARGS])
def test_invalid_arguments_raise_before_building(monkeypatch, kwargs, arg):
    import keras

    built = []
    original = keras.layers.Layer.__init__

    def spy(self, *a, **k):
        built.append(type(self).__name__)
        original(self, *a, **k)

    monkeypatch.setattr(keras.layers.Layer, "__init__", spy)
    with pytest.raises(ValueError, match=arg):
        zoo.googlenet(**kwargs)
    assert built == []


def test_inception_module_names():
    import keras

    from zoo.models.googlenet import inception_module

    y = inception_module(keras.Input((28, 28, 192)), (64, 96, 128, 16, 32, 32), "inception_3a")
    assert tuple(y.shape) == (None, 28, 28, 256)
    assert y._keras_history.operation.name == "inception_3a_output"


# --------------------------------------------------------------------------------------------
# LocalResponseNormalization
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [dict(), dict(depth_radius=2, bias=1.0, alpha=2e-5, beta=0.75),
                                    dict(depth_radius=0, bias=2.0, alpha=0.5, beta=1.0)])
def test_lrn_matches_tf_nn(kwargs):
    import tensorflow as tf

    from zoo.layers import LocalResponseNormalization

    x = np.random.default_rng(1).standard_normal((2, 5, 5, 13)).astype("float32") * 3
    got = np.asarray(LocalResponseNormalization(**kwargs)(x))
    want = tf.nn.local_response_normalization(x, **kwargs).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_lrn_numpy_formula_and_round_trip():

    from zoo.layers import LocalResponseNormalization

    x = np.random.default_rng(2).standard_normal((1, 3, 3, 7)).astype("float32")
    r, k, a, b = 2, 1.0, 1e-1, 0.75
    sq = np.pad(x ** 2, [(0, 0)] * 3 + [(r, r)])
    want = x / (k + a * sum(sq[..., i:i + 7] for i in range(2 * r + 1))) ** b
    layer = run_layer_test(LocalResponseNormalization,
                           dict(depth_radius=r, bias=k, alpha=a, beta=b), x, (1, 3, 3, 7))
    np.testing.assert_allclose(np.asarray(layer(x)), want, rtol=1e-5)
    assert layer.get_config()["alpha"] == a


def test_lrn_rejects_bad_arguments():
    from zoo.layers import LocalResponseNormalization

    with pytest.raises(ValueError, match="depth_radius"):
        LocalResponseNormalization(depth_radius=-1)
    with pytest.raises(ValueError, match="beta"):
        LocalResponseNormalization(beta="x")


def _ceil_mode_max_pool(x, k, s, pad=0):
    """NumPy max pool as Caffe / torch `ceil_mode=True` compute it (windows may overhang)."""
    n, h, w, c = x.shape
    xp = np.pad(x, [(0, 0), (pad, pad), (pad, pad), (0, 0)], constant_values=-np.inf)
    out_side = -(-(h + 2 * pad - k) // s) + 1
    if (out_side - 1) * s >= h + pad:  # the last window must start inside the image
        out_side -= 1
    out = np.empty((n, out_side, out_side, c), x.dtype)
    for i in range(out_side):
        for j in range(out_side):
            out[:, i, j] = xp[:, i * s:i * s + k, j * s:j * s + k].max(axis=(1, 2))
    return out


@pytest.mark.parametrize("side,k,s,pad", [(112, 3, 2, 0), (56, 3, 2, 0), (28, 3, 2, 0),
                                          (14, 2, 2, 0), (14, 3, 1, 1)])
def test_same_pools_equal_the_reference_ceil_mode_pools(side, k, s, pad):
    """At 224x224 the "same" max pools give what Caffe's and torchvision's ceil-mode pools give."""
    import keras

    x = np.random.default_rng(6).standard_normal((1, side, side, 3)).astype("float32")
    got = np.asarray(keras.layers.MaxPooling2D(k, strides=s, padding="same")(x))
    np.testing.assert_array_equal(got, _ceil_mode_max_pool(x, k, s, pad))
