"""keras.applications conventions shared by the image builders.

Every image builder takes `include_top, weights, input_tensor, input_shape, pooling, classes,
classifier_activation, name` with keras.applications' meaning, and checks them *before* building
any layer, raising `ValueError` messages that name the argument, what is allowed and what was
received.

Example:
    >>> from zoo.core.conventions import check_image_args
    >>> check_image_args(model_name="resnet50", include_top=True, weights=None, input_tensor=None,
    ...                  input_shape=(64, 64, 3), pooling=None, classes=10,
    ...                  classifier_activation="softmax", default_size=224, min_size=32)
    (64, 64, 3)
"""

from __future__ import annotations

import keras

from zoo.core import weights as _weights

__all__ = [
    "POOLINGS",
    "check_image_args",
    "check_pretrained_activation",
    "image_input",
    "classifier_head",
    "finish_model",
]

POOLINGS = (None, "avg", "max")


def check_image_args(
    *,
    model_name,
    include_top,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes,
    classifier_activation,
    default_size,
    min_size,
    channels=(1, 3),
    require_default_size_for_weights=True,
):
    """Validate keras.applications-style arguments and return the input shape to build with.

    Args:
        default_size: the paper's input side (224 or 299).
        min_size: the smallest input side the network accepts.
        channels: allowed channel counts.

    Returns:
        The input shape `(height, width, channels)`, `None` entries allowed when not
        `include_top`.
    """
    if keras.config.image_data_format() != "channels_last":
        raise ValueError(
            f"{model_name} supports image_data_format='channels_last' only. Received: "
            f"keras.config.image_data_format()={keras.config.image_data_format()!r}"
        )
    _check_head_args(include_top, pooling, classes, classifier_activation)
    _weights.validate_weights_arg(model_name, weights, include_top, classes if include_top else None)
    registered = weights is not None and not _weights.is_weights_path(model_name, weights)
    if input_tensor is not None:
        if not keras.utils.is_keras_tensor(input_tensor) and not hasattr(input_tensor, "shape"):
            raise ValueError(
                "`input_tensor` must be a Keras tensor (from keras.Input or a layer). "
                f"Received: input_tensor={input_tensor!r}"
            )
        if input_shape is None:
            input_shape = tuple(input_tensor.shape[1:])
    if input_shape is None:
        input_shape = (default_size, default_size, 3) if (include_top or registered) else (None, None, 3)
    input_shape = _check_input_shape(input_shape, model_name, include_top, min_size, channels)
    if registered:
        _check_pretrained_shape(input_shape, weights, include_top, default_size,
                                require_default_size_for_weights)
    if input_tensor is not None and tuple(input_tensor.shape[1:]) != tuple(input_shape):
        raise ValueError(
            f"`input_tensor` has shape {tuple(input_tensor.shape)}, which does not match "
            f"input_shape={input_shape}"
        )
    return input_shape


def _check_head_args(include_top, pooling, classes, classifier_activation):
    """`include_top`, `pooling`, `classes` (with the top) and `classifier_activation`."""
    if not isinstance(include_top, bool):
        raise ValueError(f"`include_top` must be True or False. Received: include_top={include_top!r}")
    if pooling not in POOLINGS:
        raise ValueError(
            f"`pooling` must be one of None, 'avg' or 'max'. Received: pooling={pooling!r}"
        )
    if include_top:
        if not isinstance(classes, int) or isinstance(classes, bool) or classes < 1:
            raise ValueError(
                f"`classes` must be an integer of at least 1. Received: classes={classes!r}"
            )
    if classifier_activation is not None and not (
        isinstance(classifier_activation, str) or callable(classifier_activation)
    ):
        raise ValueError(
            "`classifier_activation` must be None, a name such as 'softmax', or a callable. "
            f"Received: classifier_activation={classifier_activation!r}"
        )
    if isinstance(classifier_activation, str):
        try:
            keras.activations.get(classifier_activation)
        except ValueError:
            raise ValueError(
                "`classifier_activation` must be None, a keras activation name such as "
                f"'softmax', or a callable. Received: classifier_activation={classifier_activation!r}"
            ) from None


def _check_input_shape(input_shape, model_name, include_top, min_size, channels):
    """`input_shape` as a tuple of 3 (height, width, channels), sides of at least `min_size`,
    `channels` allowed, fully defined with the top."""
    try:
        input_shape = tuple(None if d is None else int(d) for d in input_shape)
    except TypeError:
        raise ValueError(
            f"`input_shape` must be a tuple (height, width, channels). Received: input_shape={input_shape!r}"
        ) from None
    if len(input_shape) != 3:
        raise ValueError(
            "`input_shape` must have 3 entries (height, width, channels). "
            f"Received: input_shape={input_shape}"
        )
    h, w, c = input_shape
    if c is not None and c not in channels:
        raise ValueError(
            f"`input_shape` must have {' or '.join(map(str, channels))} channels. "
            f"Received: input_shape={input_shape}"
        )
    for side in (h, w):
        if side is not None and side < min_size:
            raise ValueError(
                f"Input size must be at least {min_size}x{min_size} for {model_name}. "
                f"Received: input_shape={input_shape}"
            )
    if include_top and (h is None or w is None):
        # keras.applications asks for a fixed shape with the top; we follow it.
        raise ValueError(
            "When `include_top=True`, `input_shape` must be fully defined (height, width, channels). "
            f"Received: input_shape={input_shape}"
        )
    return input_shape


def _check_pretrained_shape(input_shape, weights, include_top, default_size, require_default_size):
    """The shape a registered weights file needs: 3 channels, and the default size with the top."""
    h, w, c = input_shape
    if require_default_size and include_top and (h, w) != (default_size, default_size):
        raise ValueError(
            f"When using weights={weights!r} with `include_top=True`, `input_shape` must be "
            f"({default_size}, {default_size}, 3). Received: input_shape={input_shape}"
        )
    if c not in (None, 3):
        raise ValueError(
            f"weights={weights!r} need 3 input channels. Received: input_shape={input_shape}"
        )


def check_pretrained_activation(weights, include_top, classifier_activation):
    """keras.applications' rule for pretrained tops: only `None` or `"softmax"` activations.

    A model loading weights (a file or a registered name) with its classifier (`include_top`)
    keeps the classifier the weights were trained with, so keras.applications accepts only logits
    (`None`) or `"softmax"` there. Call it after `check_image_args`, before building any layer.

    Args:
        weights: the builder's `weights` argument (`None` passes).
        include_top: the builder's `include_top` (False passes).
        classifier_activation: the builder's `classifier_activation`.

    Raises:
        ValueError: another activation with pretrained weights and a top.

    Example:
        >>> from zoo.core.conventions import check_pretrained_activation
        >>> check_pretrained_activation("imagenet", True, "softmax")
        >>> check_pretrained_activation(None, True, "sigmoid")  # random weights: anything goes
    """
    if weights is None or not include_top:
        return
    act = keras.activations.get(classifier_activation)
    if act not in (keras.activations.get("softmax"), keras.activations.get(None)):
        raise ValueError(
            "`classifier_activation` must be None or 'softmax' when loading pretrained weights "
            f"with `include_top=True`. Received: classifier_activation={classifier_activation!r}"
        )


def image_input(input_shape, input_tensor, name=None):
    """The image input tensor: `input_tensor` itself, or a new `keras.Input`."""
    if input_tensor is None:
        return keras.Input(shape=input_shape, name=name)
    if not keras.utils.is_keras_tensor(input_tensor):
        return keras.Input(tensor=input_tensor, shape=input_shape, name=name)
    return input_tensor


def classifier_head(x, *, include_top, pooling, classes, classifier_activation,
                    dropout=None, name="predictions", pool_name=None):
    """Global pooling and the classifier, as keras.applications builds them."""
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name=pool_name or "avg_pool")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="dropout")(x)
        x = keras.layers.Dense(classes, activation=classifier_activation, name=name)(x)
    elif pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(name=pool_name or "avg_pool")(x)
    elif pooling == "max":
        x = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def finish_model(img_input, input_tensor, outputs, *, name, weights, model_name, include_top):
    """Make the Functional model (from `input_tensor`'s source inputs if given) and load weights."""
    if input_tensor is not None:
        inputs = keras.utils.get_source_inputs(input_tensor)
    else:
        inputs = img_input
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        _weights.load_weights(model, weights, model_name=model_name, include_top=include_top)
    return model


def output_is_probability(model, names=("softmax", "sigmoid")) -> bool:
    """Whether `model`'s first output already is a probability (its last layer ends in softmax
    or sigmoid, or is a `Softmax` layer): the single answer that training (`from_logits`),
    export (no second softmax) and search use.

    Example:
        >>> import keras
        >>> inp = keras.Input((4,))
        >>> output_is_probability(keras.Model(inp, keras.layers.Dense(3, activation="softmax")(inp)))
        True
        >>> output_is_probability(keras.Model(inp, keras.layers.Dense(3)(inp)))
        False
    """
    try:
        layer = model.outputs[0]._keras_history.operation
    except (AttributeError, IndexError, TypeError):
        return False
    act = getattr(layer, "activation", None)
    if act is None and isinstance(layer, keras.layers.Softmax):
        return True
    return any(act is keras.activations.get(n) for n in names)
