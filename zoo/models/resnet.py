"""ResNet bottleneck networks: ResNet-50/101/152 (v1) and their pre-activation versions (v2).

The graphs are keras.applications' own, layer for layer: the same layer names
(`conv1_conv`, `conv2_block1_0_conv`, ..., `predictions`) in the same order with the same weights,
so parameter counts are identical, and every file keras.applications reads or writes
(`.weights.h5`, and the legacy HDF5 files it publishes on ImageNet, with and without top) loads
here and gives the same outputs. `weights="imagenet"` fetches keras.applications' very files
(same URLs and md5 hashes) through `keras.utils.get_file` into `~/.keras/models`.

Preprocessing happens outside the model, as in keras.applications: `preprocess_input` (caffe mode
for v1: BGR, mean-subtracted; tf mode for v2: scaled to [-1, 1]) and `decode_predictions` below
delegate to `keras.applications.imagenet_utils`.

Reference:
    He, Zhang, Ren, Sun. Deep Residual Learning for Image Recognition. CVPR 2016,
    arXiv:1512.03385 (v1, bottleneck blocks, Table 1).
    He, Zhang, Ren, Sun. Identity Mappings in Deep Residual Networks. ECCV 2016,
    arXiv:1603.05027 (v2, pre-activation).

Example:
    >>> import zoo
    >>> model = zoo.resnet50(weights=None, classes=10, input_shape=(64, 64, 3))
    >>> model.count_params() == 25636712 - 1000 * 2049 + 10 * 2049
    True
"""

from __future__ import annotations

from keras import layers

from zoo.core import conventions
from zoo.core import weights as _weights
from zoo.core.registry import register_model
from zoo.core.spaces import optimizer_space

__all__ = [
    "resnet50",
    "resnet101",
    "resnet152",
    "resnet50v2",
    "resnet101v2",
    "resnet152v2",
    "preprocess_input",
    "decode_predictions",
]

PAPER_V1 = (
    "He et al. 2015, Deep Residual Learning for Image Recognition, arXiv:1512.03385"
)
PAPER_V2 = (
    "He et al. 2016, Identity Mappings in Deep Residual Networks, arXiv:1603.05027"
)

BN_EPSILON = 1.001e-5
DEFAULT_SIZE = 224
MIN_SIZE = 32

# Blocks per stage (conv2..conv5), He et al. 2015, Table 1.
DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}

# keras.applications' ImageNet files: keras/src/applications/resnet.py (WEIGHTS_HASHES, md5).
BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
IMAGENET_MD5 = {
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
}


def _imagenet(model_name):
    """keras.applications' ImageNet files of `model_name` (with and without the top; md5 hashes)."""
    specs = []
    for include_top, md5 in zip((True, False), IMAGENET_MD5[model_name]):
        suffix = "" if include_top else "_notop"
        file_name = f"{model_name}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
        specs.append(_weights.WeightsSpec(
            model=model_name, name="imagenet", include_top=include_top,
            url=BASE_WEIGHTS_PATH + file_name, file_hash=md5, hash_algorithm="md5",
            file_name=file_name, classes=1000 if include_top else None, layout="legacy_h5",
            # the input normalisation these weights expect (their `preprocess_input`)
            preprocessing="tf" if model_name.endswith("v2") else "caffe",
        ))
    return tuple(specs)


# ---------------------------------------------------------------------------------------------
# Blocks (names as in keras.applications: `{stage}_block{i}_{k}_{conv|bn|relu}`)
# ---------------------------------------------------------------------------------------------


def bottleneck_block(x, filters, stride=1, conv_shortcut=True, name=None):
    """Bottleneck residual block of ResNet v1 (1x1, 3x3, 1x1 convolutions; He et al. 2015, Fig. 5).

    Args:
        x: input tensor.
        filters: width of the bottleneck (the block outputs `4 * filters` channels).
        stride: stride of the first 1x1 convolution (and of the projection shortcut).
        conv_shortcut: a 1x1 projection shortcut (first block of a stage) or the identity.
        name: block label, e.g. `"conv2_block1"`.

    Returns:
        The block's output tensor.
    """
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_0_bn")(
            shortcut
        )
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.Conv2D(filters, 3, padding="SAME", name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_3_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def preact_bottleneck_block(x, filters, stride=1, conv_shortcut=False, name=None, pool_name=None):
    """Pre-activation bottleneck block of ResNet v2 (He et al. 2016, Fig. 4(e)).

    BN and ReLU come before each convolution; the addition is left unactivated. As in
    keras.applications (and the authors' code), the stride sits on the 3x3 convolution of the
    *last* block of a stage, whose identity shortcut is then subsampled by a 1x1 max pool.

    Args:
        x: input tensor.
        filters: width of the bottleneck (the block outputs `4 * filters` channels).
        stride: stride of the 3x3 convolution.
        conv_shortcut: a 1x1 projection shortcut on the pre-activation, or the identity.
        name: block label, e.g. `"conv2_block1"`.
        pool_name: name of the shortcut's 1x1 max pool when `stride > 1` (keras.applications
            leaves it unnamed; `None` keeps that).

    Returns:
        The block's output tensor.
    """
    preact = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_preact_bn")(x)
    preact = layers.Activation("relu", name=f"{name}_preact_relu")(preact)
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    else:
        shortcut = layers.MaxPooling2D(1, strides=stride, name=pool_name)(x) if stride > 1 else x
    x = layers.Conv2D(filters, 1, strides=1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = layers.Conv2D(filters, 3, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name=f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return layers.Add(name=f"{name}_out")([shortcut, x])


def _stages(x, depths, preact):
    widths = (64, 128, 256, 512)
    pools = 0
    for s, (filters, blocks) in enumerate(zip(widths, depths)):
        stage = f"conv{s + 2}"
        if not preact:
            x = bottleneck_block(x, filters, stride=1 if s == 0 else 2, name=f"{stage}_block1")
            for i in range(2, blocks + 1):
                x = bottleneck_block(x, filters, conv_shortcut=False, name=f"{stage}_block{i}")
        else:
            x = preact_bottleneck_block(x, filters, conv_shortcut=True, name=f"{stage}_block1")
            for i in range(2, blocks):
                x = preact_bottleneck_block(x, filters, name=f"{stage}_block{i}")
            stride = 1 if s == len(widths) - 1 else 2
            # keras.applications leaves these pools unnamed; we give them the names Keras gives
            # them in a fresh session, so summaries match and names do not depend on history.
            pool_name = None
            if stride > 1:
                pool_name = "max_pooling2d" if pools == 0 else f"max_pooling2d_{pools}"
                pools += 1
            x = preact_bottleneck_block(
                x, filters, stride=stride, name=f"{stage}_block{blocks}", pool_name=pool_name
            )
    return x


# Long only by its docstring (every argument documented); the code is 58 lines.
def build_resnet(
    depths,
    preact,
    *,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="resnet",
    model_name=None,
):
    """The configurable ResNet builder behind every registered variant.

    Args:
        depths: bottleneck blocks per stage conv2..conv5, e.g. `(3, 4, 6, 3)` for ResNet-50.
        preact: `False` for ResNet v1 (post-activation), `True` for v2 (pre-activation).
        include_top: whether to end with global average pooling and the `predictions` layer.
        weights: `None`, a path to a weights file, or a registered name (`"imagenet"`).
        input_tensor: optional Keras tensor to build the model on.
        input_shape: `(height, width, channels)`, sides at least 32; defaults to
            `(224, 224, 3)` with the top, `(None, None, 3)` without.
        pooling: `None`, `"avg"` or `"max"` when `include_top=False`.
        classes: number of classes of the top.
        classifier_activation: activation of `predictions` (`None` for logits).
        name: model name.
        model_name: registry name used to look up registered weights.

    Returns:
        A `keras.Model`.
    """
    model_name = model_name or name
    depths = tuple(depths)
    if len(depths) != 4 or not all(isinstance(d, int) and d >= 1 for d in depths):
        raise ValueError(
            "`depths` must be 4 positive integers (blocks in stages conv2..conv5). "
            f"Received: depths={depths}"
        )
    input_shape = conventions.check_image_args(
        model_name=model_name,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        default_size=DEFAULT_SIZE,
        min_size=MIN_SIZE,
    )
    conventions.check_pretrained_activation(weights, include_top, classifier_activation)
    img_input = conventions.image_input(input_shape, input_tensor)

    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=True, name="conv1_conv")(x)
    if not preact:
        x = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name="conv1_bn")(x)
        x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = _stages(x, depths, preact)
    if preact:
        x = layers.BatchNormalization(axis=3, epsilon=BN_EPSILON, name="post_bn")(x)
        x = layers.Activation("relu", name="post_relu")(x)
    x = conventions.classifier_head(
        x,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
    )
    return conventions.finish_model(
        img_input, input_tensor, x, name=name, weights=weights, model_name=model_name,
        include_top=include_top,
    )


def _documented(depth, preact):
    """Decorator: the docstring of the ResNet-`depth` builder (v2 with `preact`)."""
    suffix = "v2" if preact else ""
    kind = "pre-activation (v2)" if preact else "v1"

    def document(fn):
        fn.__doc__ = f"""ResNet-{depth} {kind}, layer for layer keras.applications'
    ResNet{depth}{suffix.upper()}.

    Args:
        include_top: whether to end with global average pooling and the `predictions` layer.
        weights: `None` (random), a path to a `.weights.h5` or legacy `.h5` file, or
            `"imagenet"` (keras.applications' file, fetched once into `~/.keras/models`).
        input_tensor: optional Keras tensor to build the model on.
        input_shape: `(height, width, channels)` with sides of at least 32; defaults to
            `(224, 224, 3)` with the top, `(None, None, 3)` without.
        pooling: `None`, `"avg"` or `"max"` (used when `include_top=False`).
        classes: number of classes of the top (1000 with `weights="imagenet"`).
        classifier_activation: activation of the top (`None` for logits).
        name: model name.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: an invalid argument (before anything is built).
        zoo.core.weights.WeightsMismatchError: a weights file that does not fit.

    Reference:
        {PAPER_V2 if preact else PAPER_V1}

    Example:
        >>> import zoo
        >>> model = zoo.resnet{depth}{suffix}(weights=None, classes=10, input_shape=(64, 64, 3))
        >>> model.output.shape
        (None, 10)
    """
        return fn

    return document


def resnet_search_space(hp):
    """Search space of the ResNets (v1 and v2), see `zoo.core.spaces` for the convention.

    He et al. 2015 (section 3.4) train with SGD, momentum 0.9, learning rate 0.1 at batch 256
    and weight decay 1e-4; AdamW is the common alternative (its decoupled decay is larger).
    Label smoothing (Szegedy et al. 2015) on or off.
    """
    out = optimizer_space(hp, sgd={"learning_rate": [0.1, 0.05], "weight_decay": [1e-4, 5e-5],
                              "momentum": 0.9, "nesterov": True},
                          adamw={"learning_rate": [1e-3, 3e-4], "weight_decay": [0.05]})
    out["label_smoothing"] = hp.Choice("label_smoothing", [0.0, 0.1])
    return out


def _card(depth, preact):
    """What the cards of ResNet-`depth` (v2 with `preact`) register beside the builder."""
    suffix, kind = ("v2", "pre-activation (v2)") if preact else ("", "v1")
    return dict(
        family="resnet", task="image_classification", paper=PAPER_V2 if preact else PAPER_V1,
        input_shape=(DEFAULT_SIZE, DEFAULT_SIZE, 3),
        test_overrides={"input_shape": (32, 32, 3), "classes": 5},
        description=f"ResNet-{depth} {kind} bottleneck network (keras.applications layout)",
        min_input_size=MIN_SIZE, search_space=resnet_search_space,
        # keras.applications' `preprocess_input` for this layout (served by default)
        preprocessing="tf" if preact else "caffe",
        bench_peer=f"keras.applications.ResNet{depth}{suffix.upper()}",
        weights=_imagenet(f"resnet{depth}{suffix}"),
    )


@register_model(**_card(50, False))
@_documented(50, False)
def resnet50(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
             classes=1000, classifier_activation="softmax", name="resnet50"):
    return build_resnet(DEPTHS[50], False, include_top=include_top, weights=weights,
                        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling,
                        classes=classes, classifier_activation=classifier_activation, name=name,
                        model_name="resnet50")


@register_model(**_card(101, False))
@_documented(101, False)
def resnet101(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
              classes=1000, classifier_activation="softmax", name="resnet101"):
    return build_resnet(DEPTHS[101], False, include_top=include_top, weights=weights,
                        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling,
                        classes=classes, classifier_activation=classifier_activation, name=name,
                        model_name="resnet101")


@register_model(**_card(152, False))
@_documented(152, False)
def resnet152(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
              classes=1000, classifier_activation="softmax", name="resnet152"):
    return build_resnet(DEPTHS[152], False, include_top=include_top, weights=weights,
                        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling,
                        classes=classes, classifier_activation=classifier_activation, name=name,
                        model_name="resnet152")


@register_model(**_card(50, True))
@_documented(50, True)
def resnet50v2(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
               classes=1000, classifier_activation="softmax", name="resnet50v2"):
    return build_resnet(DEPTHS[50], True, include_top=include_top, weights=weights,
                        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling,
                        classes=classes, classifier_activation=classifier_activation, name=name,
                        model_name="resnet50v2")


@register_model(**_card(101, True))
@_documented(101, True)
def resnet101v2(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="resnet101v2"):
    return build_resnet(DEPTHS[101], True, include_top=include_top, weights=weights,
                        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling,
                        classes=classes, classifier_activation=classifier_activation, name=name,
                        model_name="resnet101v2")


@register_model(**_card(152, True))
@_documented(152, True)
def resnet152v2(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                classes=1000, classifier_activation="softmax", name="resnet152v2"):
    return build_resnet(DEPTHS[152], True, include_top=include_top, weights=weights,
                        input_tensor=input_tensor, input_shape=input_shape, pooling=pooling,
                        classes=classes, classifier_activation=classifier_activation, name=name,
                        model_name="resnet152v2")


def preprocess_input(x, data_format=None, version=1):
    """keras.applications' preprocessing: caffe mode for v1 (BGR, ImageNet means), tf mode for v2.

    Example:
        >>> import numpy as np
        >>> from zoo.models.resnet import preprocess_input
        >>> float(preprocess_input(np.full((1, 2, 2, 3), 127.5), version=2).max())
        0.0
    """
    from keras.applications import imagenet_utils

    if version not in (1, 2):
        raise ValueError(f"`version` must be 1 or 2. Received: version={version!r}")
    mode = "caffe" if version == 1 else "tf"
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode=mode)


def decode_predictions(preds, top=5):
    """ImageNet class names of the top predictions (keras.applications; needs the class index file)."""
    from keras.applications import imagenet_utils

    return imagenet_utils.decode_predictions(preds, top=top)
