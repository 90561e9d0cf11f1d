"""Small stand-in models with search spaces, for the tuning tests (not registered)."""

import keras
import numpy as np

from zoo.core.registry import ModelSpec


def tiny_mlp(units=8, dropout=0.0, classes=3, input_shape=(4, 4, 1), bad=False, explode=False, cell=None,
             peepholes=None):
    """A 2-layer classifier; `bad=True` is an invalid combination, `explode=True` gives NaN loss."""
    if bad:
        raise ValueError(f"`bad` must be False. Received: bad={bad}")
    i = keras.Input(input_shape)
    x = keras.layers.Dense(units, activation="relu")(keras.layers.Flatten()(i))
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    if explode:
        x = keras.layers.Lambda(lambda t: t * np.float32("inf"))(x)
    return keras.Model(i, keras.layers.Dense(classes, activation="softmax")(x))


def conditional_space(hp):
    out = {"learning_rate": hp.Choice("learning_rate", [1e-2, 1e-3])}
    if hp.Choice("cell", ["lstm", "gru"]) == "lstm":
        out["peepholes"] = hp.Boolean("peepholes")
        out["cell"] = "lstm"
    else:
        out["cell"] = "gru"
    return out


def failing_space(hp):
    return {"learning_rate": hp.Choice("learning_rate", [1e-2, 1e-3]),
            "bad": hp.Boolean("bad"), "explode": hp.Choice("explode", [False, True])}


def small_space(hp):
    return {"learning_rate": hp.Float("learning_rate", 1e-3, 1e-1, sampling="log"),
            "units": hp.Choice("units", [4, 8, 16])}


def _spec(space, name):
    return ModelSpec(name=name, builder=tiny_mlp, family="resnet", task="image_classification",
                     paper="stand-in", input_shape=(4, 4, 1), defaults={}, search_space=space)


def conditional_spec():
    return _spec(conditional_space, "tiny_cond")


def failing_spec():
    return _spec(failing_space, "tiny_fail")


def small_spec():
    return _spec(small_space, "tiny_small")
