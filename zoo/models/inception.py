"""Inception v3, layer for layer keras.applications' InceptionV3 (23,851,784 parameters).

Same graph, same layer order and the same layer names: keras.applications leaves most of its
layers unnamed, so Keras names them `conv2d`, `conv2d_1`, ..., `batch_normalization_93`,
`activation_93`, ... in a fresh session; we give them exactly those names explicitly, so they do
not depend on what was built before. Weights saved from keras.applications.InceptionV3 (Keras 3
`.weights.h5`, or the legacy HDF5 layout of its published ImageNet files) load here and give the
same outputs; `weights="imagenet"` fetches keras.applications' files (same URLs, same md5).

Preprocessing stays outside the model, as in keras.applications: `preprocess_input` below
(inputs scaled to [-1, 1]).

Reference:
    Szegedy, Vanhoucke, Ioffe, Shlens, Wojna. Rethinking the Inception Architecture for
    Computer Vision. CVPR 2016, arXiv:1512.00567.

Example:
    >>> import zoo
    >>> model = zoo.inception_v3(weights=None)
    >>> model.count_params()
    23851784
"""

from __future__ import annotations

from keras import layers

from zoo.core import conventions
from zoo.core import weights as _weights
from zoo.core.registry import register_model
from zoo.core.spaces import optimizer_space

__all__ = ["inception_v3", "preprocess_input", "decode_predictions"]

PAPER = (
    "Szegedy et al. 2016, Rethinking the Inception Architecture for Computer Vision, "
    "arXiv:1512.00567"
)
DEFAULT_SIZE = 299
MIN_SIZE = 75

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
IMAGENET_WEIGHTS = tuple(
    _weights.WeightsSpec(
        model="inception_v3", name="imagenet", include_top=_top, url=_BASE + _file,
        file_hash=_md5, hash_algorithm="md5", file_name=_file,
        classes=1000 if _top else None, layout="legacy_h5",
        preprocessing="tf",  # [-1, 1], keras.applications' inception_v3.preprocess_input
    )
    for _top, _file, _md5 in (
        (True, "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
         "9a0d58056eeedaa3f26cb7ebd46da564"),
        (False, "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
         "bcbd6486424b2319ff4ef7d526e38f63"),
    )
)


class _Names:
    """Keras' automatic layer names (`conv2d`, `conv2d_1`, ...) as a fresh session gives them."""

    def __init__(self):
        self.counts = {}

    def __call__(self, prefix):
        n = self.counts.get(prefix, 0)
        self.counts[prefix] = n + 1
        return prefix if n == 0 else f"{prefix}_{n}"


def conv2d_bn(x, filters, num_row, num_col, names, padding="same", strides=(1, 1)):
    """Convolution (no bias), batch normalization (no scale) and ReLU, as keras.applications.

    Args:
        x: input tensor.
        filters: output channels.
        num_row: kernel height.
        num_col: kernel width.
        names: the model's `_Names` counter.
        padding: `"same"` or `"valid"`.
        strides: convolution strides.

    Returns:
        The output tensor.
    """
    x = layers.Conv2D(filters, (num_row, num_col), strides=strides, padding=padding,
                      use_bias=False, name=names("conv2d"))(x)
    x = layers.BatchNormalization(axis=3, scale=False, name=names("batch_normalization"))(x)
    return layers.Activation("relu", name=names("activation"))(x)


def _avg_pool(x, names):
    return layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same",
                                   name=names("average_pooling2d"))(x)


def _max_pool(x, names):
    return layers.MaxPooling2D((3, 3), strides=(2, 2), name=names("max_pooling2d"))(x)


def _concat(xs, name):
    return layers.Concatenate(axis=3, name=name)(xs)


def inception_a(x, pool_filters, names, name):
    """35x35 module (mixed0-2): 1x1, 1x1-5x5, 1x1-3x3-3x3 and avg-pool-1x1 branches."""
    b1 = conv2d_bn(x, 64, 1, 1, names)
    b5 = conv2d_bn(x, 48, 1, 1, names)
    b5 = conv2d_bn(b5, 64, 5, 5, names)
    b3 = conv2d_bn(x, 64, 1, 1, names)
    b3 = conv2d_bn(b3, 96, 3, 3, names)
    b3 = conv2d_bn(b3, 96, 3, 3, names)
    bp = conv2d_bn(_avg_pool(x, names), pool_filters, 1, 1, names)
    return _concat([b1, b5, b3, bp], name)


def reduction_a(x, names, name="mixed3"):
    """35x35 -> 17x17 grid reduction (mixed3)."""
    b3 = conv2d_bn(x, 384, 3, 3, names, strides=(2, 2), padding="valid")
    bd = conv2d_bn(x, 64, 1, 1, names)
    bd = conv2d_bn(bd, 96, 3, 3, names)
    bd = conv2d_bn(bd, 96, 3, 3, names, strides=(2, 2), padding="valid")
    bp = _max_pool(x, names)
    return _concat([b3, bd, bp], name)


def inception_b(x, width, names, name):
    """17x17 module with factorized 7x7 convolutions (mixed4-7); `width` of the 7x7 branches."""
    b1 = conv2d_bn(x, 192, 1, 1, names)
    b7 = conv2d_bn(x, width, 1, 1, names)
    b7 = conv2d_bn(b7, width, 1, 7, names)
    b7 = conv2d_bn(b7, 192, 7, 1, names)
    bd = conv2d_bn(x, width, 1, 1, names)
    bd = conv2d_bn(bd, width, 7, 1, names)
    bd = conv2d_bn(bd, width, 1, 7, names)
    bd = conv2d_bn(bd, width, 7, 1, names)
    bd = conv2d_bn(bd, 192, 1, 7, names)
    bp = conv2d_bn(_avg_pool(x, names), 192, 1, 1, names)
    return _concat([b1, b7, bd, bp], name)


def reduction_b(x, names, name="mixed8"):
    """17x17 -> 8x8 grid reduction (mixed8)."""
    b3 = conv2d_bn(x, 192, 1, 1, names)
    b3 = conv2d_bn(b3, 320, 3, 3, names, strides=(2, 2), padding="valid")
    b7 = conv2d_bn(x, 192, 1, 1, names)
    b7 = conv2d_bn(b7, 192, 1, 7, names)
    b7 = conv2d_bn(b7, 192, 7, 1, names)
    b7 = conv2d_bn(b7, 192, 3, 3, names, strides=(2, 2), padding="valid")
    bp = _max_pool(x, names)
    return _concat([b3, b7, bp], name)


def inception_c(x, index, names, name):
    """8x8 module with expanded filter banks (mixed9, mixed10)."""
    b1 = conv2d_bn(x, 320, 1, 1, names)
    b3 = conv2d_bn(x, 384, 1, 1, names)
    b3_1 = conv2d_bn(b3, 384, 1, 3, names)
    b3_2 = conv2d_bn(b3, 384, 3, 1, names)
    b3 = _concat([b3_1, b3_2], f"mixed9_{index}")
    bd = conv2d_bn(x, 448, 1, 1, names)
    bd = conv2d_bn(bd, 384, 3, 3, names)
    bd_1 = conv2d_bn(bd, 384, 1, 3, names)
    bd_2 = conv2d_bn(bd, 384, 3, 1, names)
    bd = _concat([bd_1, bd_2], names("concatenate"))
    bp = conv2d_bn(_avg_pool(x, names), 192, 1, 1, names)
    return _concat([b1, b3, bd, bp], name)


def inception_v3_search_space(hp):
    """Search space of Inception v3 (`zoo.core.spaces` convention), after Szegedy et al. 2015 section 8:
    RMSProp at 0.045 with gradient clipping at 2.0 and label smoothing 0.1 (section 7); here SGD
    (momentum 0.9) at 0.045 or 0.1 or AdamW, clipping 2.0 or none, label smoothing 0.1 or none,
    weight decay 4e-5 (TF-slim's Inception v3)."""
    out = optimizer_space(hp, sgd={"learning_rate": [0.045, 0.1], "weight_decay": [4e-5],
                              "momentum": 0.9, "nesterov": True},
                          adamw={"learning_rate": [1e-3, 3e-4], "weight_decay": [0.05]})
    out["label_smoothing"] = hp.Choice("label_smoothing", [0.1, 0.0])
    out["clipnorm"] = hp.Choice("clipnorm", [2.0, 0.0])
    return out


# Long only by its docstring (every argument documented); the code is 57 lines.
@register_model(
    family="inception",
    task="image_classification",
    paper=PAPER,
    input_shape=(DEFAULT_SIZE, DEFAULT_SIZE, 3),
    test_overrides={"input_shape": (75, 75, 3), "classes": 5},
    description="Inception v3 (keras.applications layout and layer names)",
    min_input_size=MIN_SIZE,
    search_space=inception_v3_search_space,
    preprocessing="tf",  # keras.applications' `preprocess_input` for Inception v3 (served by default)
    bench_peer="keras.applications.InceptionV3",
    weights=IMAGENET_WEIGHTS,
)
def inception_v3(
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="inception_v3",
):
    """Inception v3, layer for layer keras.applications' InceptionV3.

    Args:
        include_top: whether to end with global average pooling and the `predictions` layer.
        weights: `None` (random), a path to a `.weights.h5` or legacy `.h5` file, or
            `"imagenet"` (keras.applications' file, fetched once into `~/.keras/models`).
        input_tensor: optional Keras tensor to build the model on.
        input_shape: `(height, width, channels)` with sides of at least 75; defaults to
            `(299, 299, 3)` with the top, `(None, None, 3)` without.
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
        Szegedy et al. 2016, Rethinking the Inception Architecture for Computer Vision,
        arXiv:1512.00567.

    Example:
        >>> import zoo
        >>> model = zoo.inception_v3(include_top=False, pooling="avg", input_shape=(75, 75, 3))
        >>> model.output.shape
        (None, 2048)
    """
    input_shape = conventions.check_image_args(
        model_name="inception_v3",
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
    names = _Names()
    img_input = conventions.image_input(input_shape, input_tensor)

    x = conv2d_bn(img_input, 32, 3, 3, names, strides=(2, 2), padding="valid")
    x = conv2d_bn(x, 32, 3, 3, names, padding="valid")
    x = conv2d_bn(x, 64, 3, 3, names)
    x = _max_pool(x, names)
    x = conv2d_bn(x, 80, 1, 1, names, padding="valid")
    x = conv2d_bn(x, 192, 3, 3, names, padding="valid")
    x = _max_pool(x, names)

    x = inception_a(x, 32, names, "mixed0")  # 35 x 35 x 256
    x = inception_a(x, 64, names, "mixed1")  # 35 x 35 x 288
    x = inception_a(x, 64, names, "mixed2")  # 35 x 35 x 288
    x = reduction_a(x, names)  # 17 x 17 x 768
    x = inception_b(x, 128, names, "mixed4")
    x = inception_b(x, 160, names, "mixed5")
    x = inception_b(x, 160, names, "mixed6")
    x = inception_b(x, 192, names, "mixed7")
    x = reduction_b(x, names)  # 8 x 8 x 1280
    x = inception_c(x, 0, names, "mixed9")  # 8 x 8 x 2048
    x = inception_c(x, 1, names, "mixed10")

    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name=names("global_average_pooling2d"))(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name=names("global_max_pooling2d"))(x)
    return conventions.finish_model(
        img_input, input_tensor, x, name=name, weights=weights, model_name="inception_v3",
        include_top=include_top,
    )


def preprocess_input(x, data_format=None):
    """keras.applications' Inception preprocessing: pixels in [0, 255] scaled to [-1, 1]."""
    from keras.applications import imagenet_utils

    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """ImageNet class names of the top predictions (keras.applications; needs the class index file)."""
    from keras.applications import imagenet_utils

    return imagenet_utils.decode_predictions(preds, top=top)
