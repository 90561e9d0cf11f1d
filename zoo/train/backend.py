"""The Keras backend `zoo train` needs (TensorFlow), checked before Keras itself is imported.

The trainer is TensorFlow's (tf.distribute, tf.data, tf.train checkpoints): under another
backend it would fail deep inside a checkpoint write, and under one whose package is missing
(`KERAS_BACKEND=torch` without PyTorch) `import keras` itself raises. `check_backend` reads the
backend the way Keras does (`$KERAS_BACKEND`, else `backend` in `$KERAS_HOME/keras.json` or
`~/.keras/keras.json`, else TensorFlow; Keras' own answer once it is imported) and refuses
another with one line.

Example:
    >>> from zoo.train.backend import check_backend
    >>> check_backend()
    'tensorflow'
"""

from __future__ import annotations

import json
import os
import sys

__all__ = ["SUPPORTED_BACKENDS", "check_backend", "configured_backend"]

SUPPORTED_BACKENDS = ("tensorflow",)


def configured_backend() -> str:
    """The Keras backend of this process: Keras' answer when it is imported, else what it will
    read (`$KERAS_BACKEND`, `keras.json`, its default `tensorflow`)."""
    keras = sys.modules.get("keras")
    backend = getattr(getattr(keras, "backend", None), "backend", None)
    if callable(backend):
        return backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return json.load(f).get("backend") or "tensorflow"
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def check_backend(command: str = "zoo train") -> str:
    """The backend if `command` supports it, else a one-line ValueError naming it and what is
    supported (before any data is read or model built)."""
    name = configured_backend()
    if name not in SUPPORTED_BACKENDS:
        raise ValueError(
            f"`{command}` trains with TensorFlow (tf.distribute, tf.data, tf.train checkpoints) "
            f"and supports only the Keras backend {' or '.join(map(repr, SUPPORTED_BACKENDS))}: "
            f"run it with KERAS_BACKEND=tensorflow. Received: KERAS_BACKEND={name!r}")
    return name
