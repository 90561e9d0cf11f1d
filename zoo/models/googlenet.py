"""GoogLeNet (Inception v1), exactly as Szegedy et al. 2014, Table 1, and its BN variants.

Layer names follow the authors' Caffe model (bvlc_googlenet): `conv1_7x7_s2`, `pool1_3x3_s2`,
`pool1_norm1`, `conv2_3x3_reduce`, `conv2_3x3`, `conv2_norm2`, `pool2_3x3_s2`, then for every
inception module `inception_3a_1x1`, `inception_3a_3x3_reduce`, `inception_3a_3x3`,
`inception_3a_5x5_reduce`, `inception_3a_5x5`, `inception_3a_pool`, `inception_3a_pool_proj`,
`inception_3a_output` (the concatenation); `pool3_3x3_s2`, `pool4_3x3_s2`, `avg_pool`, `dropout`,
`predictions`. With batch normalisation each convolution `c` is followed by `c_bn` and `c_relu`.

The auxiliary classifiers (`aux_logits=True`, section 5 of the paper) are named `aux1_*` (on top
of 4a) and `aux2_*` (on 4d); the model then has three outputs, the main one first:
`[predictions, aux1_predictions, aux2_predictions]`. Train with `googlenet_loss_weights(model)`
(1.0, 0.3, 0.3) and drop the auxiliary heads for inference and export with
`googlenet_inference_model(model)`, which shares the weights.

The 3x3 stride-2 max pools round their output size up (`ceil((n - 3) / 2) + 1`), as torchvision
(`MaxPool2d(3, 2, ceil_mode=True)`) and the reference Caffe model (whose pooling always rounds up)
do: a one-cell zero padding at the bottom and right (`<pool>_pad`, no weights) and a "valid"
pool. Every such pool follows a ReLU (or an LRN of one, or a concatenation of ReLU outputs), so
the padded zeros are never above the true maximum and the function is exactly the ceil-mode one
at every input size.

`weights="imagenet"` for `googlenet_torchvision` fetches torchvision's published file
(`googlenet-1378be20.pth`), reads it without PyTorch (`zoo.core.torch_weights`, tensors only),
converts it (`convert_torchvision_state_dict`) and caches the converted arrays with their sha256;
a local torchvision `.pth` file passed as `weights=` converts the same way. Those weights expect
the inputs of `preprocess_input` below: torchvision builds its pretrained GoogLeNet with
`transform_input=True`, which maps its ImageNet mean/std normalisation back to `2 * x - 1` for
`x` in [0, 1], i.e. keras.applications' `"tf"` mode.

Reference:
    Szegedy et al. 2014, Going Deeper with Convolutions, arXiv:1409.4842.
"""

from __future__ import annotations

import keras
from keras import layers

from zoo.core import weights as _weights
from zoo.core.conventions import check_image_args, classifier_head, finish_model, image_input
from zoo.core.registry import register_model
from zoo.core.spaces import optimizer_space
from zoo.layers.lrn import LocalResponseNormalization
from zoo.models.googlenet_torch import (
    convert_torchvision_state_dict,
    is_torch_weights,
    load_torchvision_weights,
)

__all__ = [
    "googlenet",
    "googlenet_bn",
    "googlenet_torchvision",
    "googlenet_loss_weights",
    "googlenet_inference_model",
    "convert_torchvision_state_dict",
    "load_torchvision_weights",
    "preprocess_input",
    "decode_predictions",
]

PAPER = "Szegedy et al. 2014, Going Deeper with Convolutions, arXiv:1409.4842"

# Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
INCEPTION_WIDTHS = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}

VARIANTS = ("paper", "torchvision")
AUX_LOSS_WEIGHT = 0.3
# LRN of the Caffe reference model (local_size 5, alpha 1e-4, beta 0.75) in tf.nn terms.
_LRN = dict(depth_radius=2, bias=1.0, alpha=1e-4 / 5, beta=0.75)


TORCHVISION_URL = "https://download.pytorch.org/models/googlenet-1378be20.pth"
TORCHVISION_WEIGHTS = tuple(
    _weights.WeightsSpec(
        model="googlenet_torchvision", name="imagenet", include_top=_top,
        url=TORCHVISION_URL, file_hash="1378be20", hash_algorithm="sha256_prefix",
        file_name="googlenet-1378be20.pth", classes=1000 if _top else None,
        layout="torch_pth",
        preprocessing="tf",  # 2x - 1: torchvision's transform_input=True (module docstring)
    )
    for _top in (True, False)
)


def ceil_max_pool(x, name, pool_size=3, strides=2):
    """Max pool that rounds its output size up (PyTorch `ceil_mode=True`, Caffe's rounding).

    For a 3x3/2 pool the output side is `ceil((n - 3) / 2) + 1` for every n: one zero row and
    column at the bottom and right (`f"{name}_pad"`) and a "valid" pool. Only for inputs >= 0
    (after a ReLU), where the padded zeros never exceed the true maximum.
    """
    if (pool_size, strides) != (3, 2):
        raise ValueError("ceil_max_pool pads for 3x3/2 pools only.")
    x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"{name}_pad")(x)
    return layers.MaxPooling2D(pool_size, strides=strides, padding="valid", name=name)(x)


def conv_unit(x, filters, kernel_size, name, *, strides=1, padding="same", batch_norm=False,
              bn_momentum=0.99):
    """Convolution and ReLU; with `batch_norm`, convolution (no bias), BN (eps 1e-3) and ReLU."""
    if not batch_norm:
        return layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                             activation="relu", name=name)(x)
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=False,
                      name=name)(x)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=bn_momentum, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def inception_module(x, widths, name, *, batch_norm=False, five_by_five_kernel=5, bn_momentum=0.99):
    """An inception module with dimension reductions (Szegedy et al. 2014, Figure 2b).

    Args:
        x: the input feature map (channels last).
        widths: `(#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj)` as in Table 1.
        name: prefix of the layer names, e.g. `"inception_3a"`.
        batch_norm: a BN after every convolution.
        five_by_five_kernel: kernel size of the "5x5" branch (5 in the paper, 3 in torchvision).
        bn_momentum: moving-average momentum of the BN layers.

    Returns:
        The concatenation of the four branches (`#1x1 + #3x3 + #5x5 + pool proj` channels), named
        `f"{name}_output"`.

    Example:
        >>> import keras
        >>> from zoo.models.googlenet import inception_module
        >>> y = inception_module(keras.Input((28, 28, 192)), (64, 96, 128, 16, 32, 32), "inception_3a")
        >>> tuple(y.shape)
        (None, 28, 28, 256)
    """
    n1, n3r, n3, n5r, n5, pool_proj = widths
    kw = dict(batch_norm=batch_norm, bn_momentum=bn_momentum)
    b1 = conv_unit(x, n1, 1, f"{name}_1x1", **kw)
    b2 = conv_unit(x, n3r, 1, f"{name}_3x3_reduce", **kw)
    b2 = conv_unit(b2, n3, 3, f"{name}_3x3", **kw)
    b3 = conv_unit(x, n5r, 1, f"{name}_5x5_reduce", **kw)
    b3 = conv_unit(b3, n5, five_by_five_kernel, f"{name}_5x5", **kw)
    b4 = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    b4 = conv_unit(b4, pool_proj, 1, f"{name}_pool_proj", **kw)
    return layers.Concatenate(axis=-1, name=f"{name}_output")([b1, b2, b3, b4])


def _aux_classifier(x, prefix, *, classes, classifier_activation, batch_norm, bn_momentum,
                    adaptive_pool=False):
    """Section 5: 5x5/3 average pool, 1x1 conv 128 + ReLU, FC 1024 + ReLU, 70% dropout, linear.

    With `adaptive_pool` (torchvision), an adaptive average pool to 4x4 replaces the 5x5/3 one.
    """
    if adaptive_pool:
        x = layers.AdaptiveAveragePooling2D(4, name=f"{prefix}_avg_pool")(x)
    else:
        x = layers.AveragePooling2D(5, strides=3, padding="valid", name=f"{prefix}_avg_pool")(x)
    x = conv_unit(x, 128, 1, f"{prefix}_conv", batch_norm=batch_norm, bn_momentum=bn_momentum)
    x = layers.Flatten(name=f"{prefix}_flatten")(x)
    x = layers.Dense(1024, activation="relu", name=f"{prefix}_fc")(x)
    x = layers.Dropout(0.7, name=f"{prefix}_dropout")(x)
    return layers.Dense(classes, activation=classifier_activation, name=f"{prefix}_predictions")(x)


def _check_options(aux_logits, batch_norm, variant, dropout, include_top):
    if not isinstance(aux_logits, bool):
        raise ValueError(f"`aux_logits` must be True or False. Received: aux_logits={aux_logits!r}")
    if variant not in VARIANTS:
        raise ValueError(f"`variant` must be one of {VARIANTS}. Received: variant={variant!r}")
    if batch_norm is not None and not isinstance(batch_norm, bool):
        raise ValueError(
            f"`batch_norm` must be True, False or None (the variant's default). "
            f"Received: batch_norm={batch_norm!r}"
        )
    if variant == "torchvision" and batch_norm is False:
        raise ValueError(
            "variant='torchvision' always has batch normalisation; `batch_norm` must be None or "
            f"True. Received: batch_norm={batch_norm!r}"
        )
    if dropout is not None and (
        isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1
    ):
        raise ValueError(
            f"`dropout` must be None (the variant's default) or a rate in [0, 1). "
            f"Received: dropout={dropout!r}"
        )
    if aux_logits and not include_top:
        raise ValueError(
            "`aux_logits=True` needs `include_top=True` (the auxiliary classifiers predict the "
            f"classes). Received: aux_logits={aux_logits!r}, include_top={include_top!r}"
        )


def _stem(img_input, batch_norm, kw):
    """conv1 to pool2. The 7x7/2 convolution pads 3 on every side (as Caffe and torchvision do);
    without batch normalisation, LRN after pool1 and after conv2 (Table 1)."""
    x = layers.ZeroPadding2D(3, name="conv1_pad")(img_input)
    x = conv_unit(x, 64, 7, "conv1_7x7_s2", strides=2, padding="valid", **kw)
    x = ceil_max_pool(x, "pool1_3x3_s2")
    if not batch_norm:
        x = LocalResponseNormalization(**_LRN, name="pool1_norm1")(x)
    x = conv_unit(x, 64, 1, "conv2_3x3_reduce", **kw)
    x = conv_unit(x, 192, 3, "conv2_3x3", **kw)
    if not batch_norm:
        x = LocalResponseNormalization(**_LRN, name="conv2_norm2")(x)
    return ceil_max_pool(x, "pool2_3x3_s2")


def _googlenet(*, include_top, weights, input_tensor, input_shape, pooling, classes,
               classifier_activation, name, aux_logits, batch_norm, variant, dropout, model_name):
    _check_options(aux_logits, batch_norm, variant, dropout, include_top)
    torchvision = variant == "torchvision"
    batch_norm = True if torchvision else bool(batch_norm)
    if dropout is None:
        dropout = 0.2 if torchvision else 0.4
    # Every side is at least 1 at 5b from 32 on; the auxiliary 5x5 pool needs 4a to be >= 5x5.
    weights_arg = weights
    torch_file = is_torch_weights(weights, torchvision)
    if torch_file:
        weights = None  # converted and loaded below
    # With ceil pooling, 4a is >= 5x5 from 79 on (79 -> 40 -> 20 -> 10 -> 5).
    min_size = 79 if aux_logits and not torchvision else 32
    input_shape = check_image_args(
        model_name=model_name, include_top=include_top, weights=weights, input_tensor=input_tensor,
        input_shape=input_shape, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, default_size=224, min_size=min_size,
    )
    if torch_file:
        _weights.validate_weights_arg(model_name, weights_arg, include_top, classes)
    if not isinstance(name, str) or not name:
        raise ValueError(f"`name` must be a non-empty string. Received: name={name!r}")
    kw = dict(batch_norm=batch_norm, bn_momentum=0.9 if torchvision else 0.99)
    five = 3 if torchvision else 5

    img_input = image_input(input_shape, input_tensor)
    x = _stem(img_input, batch_norm, kw)
    aux = []
    for module in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"):
        if module == "4a":
            x = ceil_max_pool(x, "pool3_3x3_s2")
        if module == "5a" and torchvision:
            # torchvision's maxpool4 is MaxPool2d(2, 2, ceil_mode=True): Keras' "same" 2x2/2
            # pool is the same function (ceil(n / 2) cells, the odd side's last window clipped).
            x = layers.MaxPooling2D(2, strides=2, padding="same", name="pool4_2x2_s2")(x)
        elif module == "5a":
            x = ceil_max_pool(x, "pool4_3x3_s2")
        x = inception_module(x, INCEPTION_WIDTHS[module], f"inception_{module}",
                             five_by_five_kernel=five, **kw)
        if aux_logits and module in ("4a", "4d"):
            aux.append(
                _aux_classifier(x, f"aux{len(aux) + 1}", classes=classes,
                                classifier_activation=classifier_activation,
                                adaptive_pool=torchvision, **kw)
            )

    # 7x7 average pool (global at 224x224), 40% dropout, linear + softmax.
    x = classifier_head(x, include_top=include_top, pooling=pooling, classes=classes,
                        classifier_activation=classifier_activation, dropout=dropout)
    outputs = [x] + aux if aux_logits else x
    model = finish_model(img_input, input_tensor, outputs, name=name, weights=weights,
                         model_name=model_name, include_top=include_top)
    if torch_file:
        load_torchvision_weights(model, weights_arg, include_top=include_top)
    return model


_DOC_ARGS = """    Args:
        include_top: whether to include the average pool, dropout and classifier.
        weights: None, the path to a weights file, or (for `googlenet_torchvision`)
            `"imagenet"` or the path to a torchvision `.pth` file.
        input_tensor: optional Keras tensor to use as the image input.
        input_shape: `(height, width, channels)`; defaults to `(224, 224, 3)`. At least 32x32
            (79x79 with the paper's `aux_logits`).
        pooling: with `include_top=False`, None, `"avg"` or `"max"` global pooling.
        classes: number of classes (with `include_top`).
        classifier_activation: activation of the classifier(s); None for logits.
        name: the model's name.
        aux_logits: add the two auxiliary classifiers on 4a and 4d; the model then returns
            `[predictions, aux1_predictions, aux2_predictions]`.
        dropout: dropout rate before the classifier; None gives 0.4 (the paper) or 0.2
            (torchvision).
"""


def _with_args_doc(fn):
    fn.__doc__ = fn.__doc__.replace("{args}", "\n" + _DOC_ARGS)
    return fn


def googlenet_search_space(dropouts=(0.4, 0.2), batch_norm=False):
    """Search space of a GoogLeNet variant (`zoo.core.spaces` convention), after Szegedy et al. 2014
    (section 6): SGD with momentum 0.9 (or AdamW), dropout before the classifier (0.4 in the
    paper, 0.2 in torchvision), the auxiliary classifiers on or off and, when on, the weight of
    their loss (0.3 in the paper, section 5; a conditional hyperparameter); `batch_norm` adds
    the BN-or-LRN choice."""
    def space(hp):
        out = optimizer_space(hp, sgd={"learning_rate": [0.01, 0.04], "weight_decay": [2e-4],
                                       "momentum": 0.9, "nesterov": True},
                              adamw={"learning_rate": [1e-3, 3e-4], "weight_decay": [0.05]})
        out["dropout"] = hp.Choice("dropout", list(dropouts))
        aux = out["aux_logits"] = hp.Boolean("aux_logits", default=True)
        with hp.conditional_scope("aux_logits", [True]):
            if aux:
                out["aux_loss_weight"] = hp.Choice("aux_loss_weight", [0.3, 0.1])
        if batch_norm:
            out["batch_norm"] = hp.Boolean("batch_norm", default=False)
        return out

    return space


@register_model(
    family="googlenet", task="image_classification", paper=PAPER, input_shape=(224, 224, 3),
    test_overrides=dict(classes=10, input_shape=(96, 96, 3), aux_logits=True),
    description="GoogLeNet (Inception v1) as in Table 1: LRN, true 5x5 branches, 6,998,552 params",
    search_space=googlenet_search_space(batch_norm=True),
)
@_with_args_doc
def googlenet(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
              classes=1000, classifier_activation="softmax", name="googlenet", aux_logits=False,
              batch_norm=None, variant="paper", dropout=None):
    """GoogLeNet (Inception v1) exactly as Szegedy et al. 2014, Table 1.

    The stem (7x7/2 conv 64, 3x3/2 max pool, LRN, 1x1 conv 64, 3x3 conv 192, LRN, 3x3/2 max pool),
    the nine inception modules 3a-5b with the table's branch widths and true 5x5 convolutions,
    the 3x3/2 max pools after 3b and 4e, the 7x7 average pool, 40% dropout and the linear layer:
    6,998,552 parameters with 1000 classes (13,378,280 with `aux_logits=True`).

    Options: `batch_norm=True` puts a BN after every convolution (convolutions without bias) and
    drops the LRNs; `variant="torchvision"` is torchvision's `googlenet` layout (BN with eps 1e-3,
    a 3x3 convolution in the "5x5" branch, a 2x2 max pool after 4e, dropout 0.2, auxiliary heads
    with an adaptive 4x4 average pool), so that weights ported from there fit: 6,624,904
    trainable parameters.
{args}        batch_norm: None (False for the paper, True for torchvision) or a bool.
        variant: `"paper"` or `"torchvision"`.

    Returns:
        A `keras.Model`.

    Reference:
        Szegedy et al. 2014, Going Deeper with Convolutions, arXiv:1409.4842.

    Example:
        >>> import zoo
        >>> model = zoo.googlenet()
        >>> model.count_params()
        6998552
    """
    return _googlenet(include_top=include_top, weights=weights, input_tensor=input_tensor,
                      input_shape=input_shape, pooling=pooling, classes=classes,
                      classifier_activation=classifier_activation, name=name,
                      aux_logits=aux_logits, batch_norm=batch_norm, variant=variant,
                      dropout=dropout, model_name="googlenet")


@register_model(
    family="googlenet", task="image_classification", paper=PAPER + " (with batch normalization)",
    input_shape=(224, 224, 3), test_overrides=dict(classes=10, input_shape=(64, 64, 3)),
    description="GoogLeNet with a BN after every convolution (no LRN), true 5x5 branches",
    search_space=googlenet_search_space(),
)
@_with_args_doc
def googlenet_bn(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,
                 classes=1000, classifier_activation="softmax", name="googlenet_bn",
                 aux_logits=False, dropout=None):
    """GoogLeNet of Table 1 with a batch normalisation after every convolution and no LRN.

    The variant most people train today: convolutions without bias, BN (eps 1e-3) and ReLU.
{args}
    Returns:
        A `keras.Model`.

    Reference:
        Szegedy et al. 2014, Going Deeper with Convolutions, arXiv:1409.4842; Ioffe and Szegedy
        2015, Batch Normalization, arXiv:1502.03167.

    Example:
        >>> import zoo
        >>> model = zoo.googlenet_bn(classes=10, input_shape=(96, 96, 3))
    """
    return _googlenet(include_top=include_top, weights=weights, input_tensor=input_tensor,
                      input_shape=input_shape, pooling=pooling, classes=classes,
                      classifier_activation=classifier_activation, name=name,
                      aux_logits=aux_logits, batch_norm=True, variant="paper", dropout=dropout,
                      model_name="googlenet_bn")


@register_model(
    family="googlenet", task="image_classification",
    paper=PAPER + " (torchvision's layout: BN, 3x3 in the 5x5 branch)",
    input_shape=(224, 224, 3),
    test_overrides=dict(classes=10, input_shape=(64, 64, 3), aux_logits=True),
    description="GoogLeNet in torchvision's layout (BN, 3x3 '5x5' branch): 6,624,904 trainable",
    search_space=googlenet_search_space(dropouts=(0.2, 0.4)), weights=TORCHVISION_WEIGHTS,
)
@_with_args_doc
def googlenet_torchvision(include_top=True, weights=None, input_tensor=None, input_shape=None,
                          pooling=None, classes=1000, classifier_activation="softmax",
                          name="googlenet_torchvision", aux_logits=False, dropout=None):
    """GoogLeNet in torchvision's layout, so that weights ported from torchvision fit.

    Same as `googlenet(variant="torchvision")`: BN after every convolution (eps 1e-3, no conv
    bias, no LRN), a 3x3 convolution where the paper has the 5x5 one, a 2x2/2 max pool after 4e
    and dropout 0.2: 6,624,904 trainable parameters with 1000 classes. Its auxiliary heads pool
    adaptively to 4x4 (`keras.layers.AdaptiveAveragePooling2D`), as torchvision's do.
{args}
    Returns:
        A `keras.Model`.

    Reference:
        Szegedy et al. 2014, Going Deeper with Convolutions, arXiv:1409.4842; torchvision's
        `torchvision/models/googlenet.py`.

    Example:
        >>> import zoo
        >>> model = zoo.googlenet_torchvision(classes=10, input_shape=(96, 96, 3))
    """
    return _googlenet(include_top=include_top, weights=weights, input_tensor=input_tensor,
                      input_shape=input_shape, pooling=pooling, classes=classes,
                      classifier_activation=classifier_activation, name=name,
                      aux_logits=aux_logits, batch_norm=True, variant="torchvision",
                      dropout=dropout, model_name="googlenet_torchvision")


def _is_aux(output_name):
    return str(output_name).startswith("aux")


def googlenet_loss_weights(model):
    """Loss weights for a GoogLeNet's outputs: 1.0 for the main one, 0.3 for the auxiliary ones.

    Section 5 of the paper: "during training, their loss gets added to the total loss of the
    network with a discount weight (the losses of the auxiliary classifiers were weighted by 0.3)".

    Args:
        model: a GoogLeNet built with or without `aux_logits`.

    Returns:
        A list with one weight per output, in `model.outputs` order.

    Example:
        >>> import zoo
        >>> from zoo.models.googlenet import googlenet_loss_weights
        >>> model = zoo.googlenet(classes=10, input_shape=(96, 96, 3), aux_logits=True)
        >>> googlenet_loss_weights(model)
        [1.0, 0.3, 0.3]
        >>> model.compile("sgd", loss=["sparse_categorical_crossentropy"] * 3,
        ...               loss_weights=googlenet_loss_weights(model))
        >>> # model.fit(images, [labels, labels, labels])
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model. Received: model={model!r}")
    return [AUX_LOSS_WEIGHT if _is_aux(n) else 1.0 for n in model.output_names]


def googlenet_inference_model(model):
    """The model without its auxiliary classifiers, for inference and export.

    The returned model shares the layers (and so the weights) of `model` and has its main output
    only; a model without auxiliary outputs is returned as it is. Exporters call this before
    writing a SavedModel, so the auxiliary heads never reach serving.

    Args:
        model: a GoogLeNet (or any functional model whose auxiliary outputs' names start with
            `"aux"`).

    Returns:
        A `keras.Model` with a single output.

    Example:
        >>> import zoo
        >>> from zoo.models.googlenet import googlenet_inference_model
        >>> model = zoo.googlenet(classes=10, input_shape=(96, 96, 3), aux_logits=True)
        >>> len(googlenet_inference_model(model).outputs)
        1
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model. Received: model={model!r}")
    names = list(model.output_names)
    keep = [t for n, t in zip(names, model.outputs) if not _is_aux(n)]
    if len(keep) == len(names):
        return model
    if len(keep) != 1:
        raise ValueError(
            f"Expected one main output besides the auxiliary ones. Received outputs: {names}"
        )
    return keras.Model(model.input, keep[0], name=model.name)


def preprocess_input(x, data_format=None):
    """The input normalisation of `googlenet_torchvision`'s ImageNet weights: `x / 127.5 - 1`
    for RGB in [0, 255] (keras.applications' `"tf"` mode), which is what torchvision's
    pretrained GoogLeNet computes from its mean/std-normalised input (`transform_input=True`)."""
    from keras.applications import imagenet_utils

    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """ImageNet labels of the 1000-class predictions (keras.applications' decoder; it fetches
    the class index JSON once, into `~/.keras/models`)."""
    from keras.applications import imagenet_utils

    return imagenet_utils.decode_predictions(preds, top=top)
