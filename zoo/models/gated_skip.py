"""Gated-skip networks: ResNet-v1 bottleneck nets with gated shortcuts, and highway networks.

`gated_resnet50/101/152` are keras.applications' ResNet50/101/152 (same layer names, same
bottleneck blocks, the same weights shapes) in which every block's addition is replaced by a
`zoo.layers.GatedSkip` named `convN_blockM_gate`, computing (He et al. 2016, Table 1)

    highway / exclusive:  T(s) * F(x) + (1 - T(s)) * s
    shortcut_only:        F(x) + (1 - T(s)) * s

with `s` the block's shortcut (the input, or its 1x1 projection in the first block of a stage),
`F` the bottleneck branch and `T(s) = sigmoid(1x1 conv(s))`; the ReLU after the addition stays.
`highway_net` is the deep fully connected highway network of Srivastava et al. 2015: a plain
dense layer to the network's width, then `depth - 1` highway layers, then the classifier.

References:
    He, Zhang, Ren, Sun 2016, Identity Mappings in Deep Residual Networks, arXiv:1603.05027.
    Srivastava, Greff, Schmidhuber 2015, Training Very Deep Networks, arXiv:1507.06228.
"""

from __future__ import annotations

import keras
from keras import layers

from zoo.core import weights as _weights
from zoo.core.conventions import check_image_args, classifier_head, finish_model, image_input
from zoo.core.registry import register_model
from zoo.core.spaces import optimizer_space
from zoo.layers.gated_skip import GatedSkip, HighwayDense, check_gating, default_gate_bias

__all__ = ["gated_resnet50", "gated_resnet101", "gated_resnet152", "highway_net"]

PAPER_GATED = (
    "He et al. 2016, Identity Mappings in Deep Residual Networks, arXiv:1603.05027 (Table 1 "
    "gated shortcuts) on He et al. 2015, Deep Residual Learning, arXiv:1512.03385"
)
PAPER_HIGHWAY = "Srivastava, Greff, Schmidhuber 2015, Training Very Deep Networks, arXiv:1507.06228"

_BN_EPS = 1.001e-5  # as keras.applications' ResNets


def _check_positive_int(arg, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{arg}` must be an integer of at least {minimum}. Received: {arg}={value!r}")


def gated_bottleneck_block(x, filters, name, *, stride=1, conv_shortcut=False, variant="highway",
                           gate_bias=None):
    """A ResNet-v1 bottleneck block whose shortcut is gated (He et al. 2016, Table 1).

    1x1 conv (`filters`, stride) - BN - ReLU - 3x3 conv - BN - ReLU - 1x1 conv (`4 * filters`) -
    BN, combined with the shortcut by a `GatedSkip` (`f"{name}_gate"`), then ReLU. Layer names
    are keras.applications' (`conv2_block1_1_conv`, ..., `conv2_block1_out`).

    Args:
        x: input feature map (channels last).
        filters: bottleneck width (the block outputs `4 * filters` channels).
        name: prefix of the layer names, e.g. `"conv2_block1"`.
        stride: stride of the first 1x1 convolution (and of the projection).
        conv_shortcut: project the shortcut with a 1x1 convolution and BN.
        variant: `"highway"`, `"exclusive"` or `"shortcut_only"`.
        gate_bias: initial gate bias (None: the variant's default).

    Returns:
        The block's output.

    Example:
        >>> import keras
        >>> from zoo.models.gated_skip import gated_bottleneck_block
        >>> y = gated_bottleneck_block(keras.Input((8, 8, 64)), 16, "conv2_block1",
        ...                            conv_shortcut=True)
        >>> tuple(y.shape)
        (None, 8, 8, 64)
    """
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = layers.BatchNormalization(epsilon=_BN_EPS, name=f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = layers.BatchNormalization(epsilon=_BN_EPS, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(epsilon=_BN_EPS, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = layers.BatchNormalization(epsilon=_BN_EPS, name=f"{name}_3_bn")(x)
    x = GatedSkip(variant, gate_bias=gate_bias, name=f"{name}_gate")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def _gated_resnet(blocks, *, include_top, weights, input_tensor, input_shape, pooling, classes,
                  classifier_activation, name, variant, gate_bias, base_filters, model_name):
    check_gating(variant, gate_bias)
    _check_positive_int("base_filters", base_filters)
    input_shape = check_image_args(
        model_name=model_name, include_top=include_top, weights=weights, input_tensor=input_tensor,
        input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, default_size=224, min_size=32,
    )
    if gate_bias is None:
        # Srivastava et al. count gated layers; here every bottleneck block is one.
        gate_bias = default_gate_bias(variant, depth=sum(blocks))
    img_input = image_input(input_shape, input_tensor)
    x = layers.ZeroPadding2D(3, name="conv1_pad")(img_input)
    x = layers.Conv2D(base_filters, 7, strides=2, name="conv1_conv")(x)
    x = layers.BatchNormalization(epsilon=_BN_EPS, name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, n in enumerate(blocks):
        filters = base_filters * 2 ** stage
        for b in range(n):
            x = gated_bottleneck_block(
                x, filters, f"conv{stage + 2}_block{b + 1}",
                stride=(1 if stage == 0 else 2) if b == 0 else 1, conv_shortcut=b == 0,
                variant=variant, gate_bias=gate_bias,
            )
    x = classifier_head(x, include_top=include_top, pooling=pooling, classes=classes,
                        classifier_activation=classifier_activation)
    return finish_model(img_input, input_tensor, x, name=name, weights=weights,
                        model_name=model_name, include_top=include_top)


_GATED_DOC = """{title}

    keras.applications' {peer} (ResNet v1, bottleneck blocks {blocks}) with every block's
    shortcut gated by a `GatedSkip`: `highway`/`exclusive` gating computes
    `T * F(x) + (1 - T) * s`, `shortcut_only` gating `F(x) + (1 - T) * s` (He et al. 2016,
    Table 1), `T = sigmoid(1x1 conv(s) + b)` with `b` starting at `gate_bias`. Layer names are
    keras.applications' plus `convN_blockM_gate`; each gate adds `C * C + C` parameters for a block
    of `C` output channels.

    Args:
        include_top: whether to include the average pool and the classifier.
        weights: None, or the path to a weights file.
        input_tensor: optional Keras tensor to use as the image input.
        input_shape: `(height, width, channels)`, at least 32x32; defaults to `(224, 224, 3)`.
        pooling: with `include_top=False`, None, `"avg"` or `"max"`.
        classes: number of classes (with `include_top`).
        classifier_activation: activation of the classifier; None for logits.
        name: the model's name.
        variant: `"highway"` (default), `"exclusive"` or `"shortcut_only"`.
        gate_bias: initial gate bias; None follows the variant's paper: -1, -2 or -3 by the
            number of gated blocks for highway (Srivastava et al. 2015: about 10, 20, 30), -6
            for exclusive and shortcut-only gating (He et al. 2016).
        base_filters: bottleneck width of the first stage (64 in the paper; the stages use
            1x, 2x, 4x and 8x, the blocks output 4x that).

    Returns:
        A `keras.Model`.

    Reference:
        He et al. 2016, Identity Mappings in Deep Residual Networks, arXiv:1603.05027, Table 1;
        He et al. 2015, Deep Residual Learning for Image Recognition, arXiv:1512.03385.

    Example:
        >>> import zoo
        >>> model = zoo.{fn}(variant="shortcut_only", classes=10, input_shape=(64, 64, 3))
        >>> model.get_layer("conv2_block1_gate").initial_gate_bias
        -6.0
"""

_GATED_TEST = dict(classes=10, input_shape=(32, 32, 3), base_filters=8)


def _gate_space(hp, highway_biases):
    """The gating variant and, conditional on it, the gate's initial bias."""
    variant = hp.Choice("variant", ["highway", "exclusive", "shortcut_only"])
    out = {"variant": variant}
    with hp.conditional_scope("variant", ["highway"]):
        if variant == "highway":
            out["gate_bias"] = hp.Choice("highway_gate_bias", list(highway_biases))
    with hp.conditional_scope("variant", ["exclusive", "shortcut_only"]):
        if variant != "highway":
            out["gate_bias"] = hp.Choice("gate_bias", [-6.0, 0.0])
    return out


def gated_resnet_search_space(hp):
    """Search space of the gated ResNets (`zoo.core.spaces` convention): the gating variant with its
    initial gate bias as a conditional hyperparameter (highway: -1, -2, -3, Srivastava et al.
    2015; exclusive / shortcut-only: -6 or 0, He et al. 2016 Table 1), the width (`base_filters`
    64 as ResNet, or 32), and SGD at 0.1 with weight decay 1e-4 (He et al. 2015) or AdamW."""
    out = optimizer_space(hp, sgd={"learning_rate": [0.1, 0.05], "weight_decay": [1e-4],
                              "momentum": 0.9, "nesterov": True},
                          adamw={"learning_rate": [1e-3], "weight_decay": [0.05]})
    out.update(_gate_space(hp, (-1.0, -2.0, -3.0)))
    out["base_filters"] = hp.Choice("base_filters", [64, 32])
    return out


def _gated_card(peer):
    """What the card of the gated `peer` (keras.applications' name) registers beside the builder."""
    return dict(family="gated_skip", task="image_classification", paper=PAPER_GATED,
                input_shape=(224, 224, 3), test_overrides=_GATED_TEST,
                search_space=gated_resnet_search_space,
                description=f"{peer} with every bottleneck shortcut gated (highway / exclusive / "
                            "shortcut-only)")


def _gated_doc(blocks, peer):
    """Decorator: the docstring of a gated ResNet (its first line, expanded by `_GATED_DOC`)."""
    def document(fn):
        fn.__doc__ = _GATED_DOC.format(title=fn.__doc__.strip(), peer=peer, blocks=blocks,
                                       fn=fn.__name__)
        return fn

    return document


@register_model(**_gated_card("ResNet50"))
@_gated_doc("3, 4, 6, 3", "ResNet50")
def gated_resnet50(include_top=True, weights=None, input_tensor=None, input_shape=None,
                   pooling=None, classes=1000, classifier_activation="softmax",
                   name="gated_resnet50", variant="highway", gate_bias=None, base_filters=64):
    """ResNet-50 with gated shortcuts."""
    return _gated_resnet([3, 4, 6, 3], model_name="gated_resnet50", **locals())


@register_model(**_gated_card("ResNet101"))
@_gated_doc("3, 4, 23, 3", "ResNet101")
def gated_resnet101(include_top=True, weights=None, input_tensor=None, input_shape=None,
                    pooling=None, classes=1000, classifier_activation="softmax",
                    name="gated_resnet101", variant="highway", gate_bias=None, base_filters=64):
    """ResNet-101 with gated shortcuts."""
    return _gated_resnet([3, 4, 23, 3], model_name="gated_resnet101", **locals())


@register_model(**_gated_card("ResNet152"))
@_gated_doc("3, 8, 36, 3", "ResNet152")
def gated_resnet152(include_top=True, weights=None, input_tensor=None, input_shape=None,
                    pooling=None, classes=1000, classifier_activation="softmax",
                    name="gated_resnet152", variant="highway", gate_bias=None, base_filters=64):
    """ResNet-152 with gated shortcuts."""
    return _gated_resnet([3, 8, 36, 3], model_name="gated_resnet152", **locals())


def highway_net_search_space(hp):
    """Search space of the highway network (`zoo.core.spaces` convention), after Srivastava et al.
    2015: depths 10, 20, 50, 100 and widths 50 or 71 of their MNIST networks, ReLU or tanh, the
    gating variant with its initial gate bias conditional on it (highway: -1, -2, -3; the paper
    suggests more negative for deeper nets), SGD with momentum at 0.01 to 0.1 (the paper searched
    the learning rate at random)."""
    out = {"depth": hp.Choice("depth", [10, 20, 50, 100]), "width": hp.Choice("width", [50, 71]),
           "activation": hp.Choice("activation", ["relu", "tanh"])}
    out.update(_gate_space(hp, (-1.0, -2.0, -3.0)))
    out.update(optimizer="sgd", momentum=0.9, nesterov=True)  # SGD with Nesterov momentum 0.9
    out["learning_rate"] = hp.Choice("learning_rate", [0.01, 0.03, 0.1])
    return out


# Long only by its docstring (every argument documented); the code is 49 lines.
@register_model(
    family="gated_skip", task="feature_classification", paper=PAPER_HIGHWAY, input_shape=(784,),
    test_overrides=dict(depth=5, width=16), search_space=highway_net_search_space,
    description="Deep fully connected highway network (MNIST-sized by default)",
)
def highway_net(include_top=True, weights=None, input_tensor=None, input_shape=(784,), classes=10,
                classifier_activation="softmax", name="highway_net", depth=10, width=50,
                activation="relu", variant="highway", gate_bias=None):
    """A deep fully connected highway network (Srivastava et al. 2015).

    A plain dense layer (`dense_in`) maps the input to `width` units, then `depth - 1` highway
    layers (`highway_1`, ...) compute `H(x) * T(x) + x * (1 - T(x))`, then the classifier
    (`predictions`). `depth` counts the plain first layer and the highway layers, as the paper's
    depths 10, 20, 50, 100 do (its MNIST networks are 50 units wide).

    Args:
        include_top: whether to include the classifier; without it the model returns the last
            highway layer's output.
        weights: None, or the path to a weights file.
        input_tensor: optional Keras tensor to use as the input.
        input_shape: the input's shape, one dimension (default `(784,)`, a flattened MNIST image).
        classes: number of classes.
        classifier_activation: activation of the classifier; None for logits.
        name: the model's name.
        depth: number of layers before the classifier (at least 2).
        width: units per layer.
        activation: activation of the first layer and of every `H`.
        variant: `"highway"` (default), `"exclusive"` or `"shortcut_only"`.
        gate_bias: initial transform-gate bias; None follows the variant's paper (highway: -1,
            -2, -3 for depths of about 10, 20, 30 and more; the others: -6).

    Returns:
        A `keras.Model`.

    Reference:
        Srivastava, Greff, Schmidhuber 2015, Training Very Deep Networks, arXiv:1507.06228.

    Example:
        >>> import zoo
        >>> model = zoo.highway_net(depth=20)
        >>> model.get_layer("highway_1").initial_gate_bias
        -2.0
    """
    if not isinstance(include_top, bool):
        raise ValueError(f"`include_top` must be True or False. Received: include_top={include_top!r}")
    _check_positive_int("depth", depth, 2)
    _check_positive_int("width", width)
    check_gating(variant, gate_bias)
    if include_top:
        _check_positive_int("classes", classes)
    try:
        keras.activations.get(activation)
    except ValueError:
        raise ValueError(
            f"`activation` must be a keras activation. Received: activation={activation!r}"
        ) from None
    if classifier_activation is not None:
        try:
            keras.activations.get(classifier_activation)
        except ValueError:
            raise ValueError(
                "`classifier_activation` must be None or a keras activation. "
                f"Received: classifier_activation={classifier_activation!r}"
            ) from None
    if input_tensor is not None:
        input_shape = tuple(input_tensor.shape[1:])
    try:
        input_shape = tuple(int(d) for d in input_shape)
    except TypeError:
        raise ValueError(
            f"`input_shape` must be a tuple of one known dimension. Received: input_shape={input_shape!r}"
        ) from None
    if len(input_shape) != 1 or input_shape[0] < 1:
        raise ValueError(
            f"`input_shape` must be a tuple of one positive dimension. Received: input_shape={input_shape!r}"
        )
    _weights.validate_weights_arg("highway_net", weights, include_top, classes if include_top else None)
    if gate_bias is None:
        gate_bias = default_gate_bias(variant, depth=depth)

    inputs = image_input(input_shape, input_tensor)
    x = layers.Dense(width, activation=activation, name="dense_in")(inputs)
    for i in range(1, depth):
        x = HighwayDense(width, activation=activation, variant=variant, gate_bias=gate_bias,
                         name=f"highway_{i}")(x)
    if include_top:
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    return finish_model(inputs, input_tensor, x, name=name, weights=weights,
                        model_name="highway_net", include_top=include_top)
