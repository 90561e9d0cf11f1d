"""The peer each registered model is timed against in `zoo bench`, where one exists.

A peer is the same network written by someone else, built with the same arguments:
keras.applications for the ResNets and Inception v3, and Keras' own `keras.layers.LSTM` for the
peephole LSTM models (the registered builder with `cell="lstm"`: the same network without the
peephole weights, on Keras' fused LSTM layer), and for the Transformers the same networks
assembled from keras-hub's layers (`zoo.bench.keras_hub_peers`, same parameter counts) where
keras-hub is installed (`pip install -e ".[bench]"`; it is not a dependency of the package:
without it the Transformers are timed against their A/A twin only). Every model is also
timed against a second copy of itself (the A/A control), and every training step is the step of
Keras `fit` (`train_on_batch`).

Example:
    >>> from zoo.bench.peers import peer_for
    >>> peer_for("resnet50", {"input_shape": (32, 32, 3), "classes": 5})[0]
    'keras.applications.ResNet50'
    >>> peer_for("googlenet", {}) is None
    True
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

from zoo.bench import keras_hub_peers
from zoo.core.registry import create_model

__all__ = ["peer_for", "APPLICATIONS", "KERAS_CELL"]

# registered name -> keras.applications builder taking the same keras.applications arguments
APPLICATIONS = {
    "resnet50": "ResNet50", "resnet101": "ResNet101", "resnet152": "ResNet152",
    "resnet50v2": "ResNet50V2", "resnet101v2": "ResNet101V2", "resnet152v2": "ResNet152V2",
    "inception_v3": "InceptionV3",
}
# registered name -> the `cell` of Keras' own layer the same builder builds as its peer
KERAS_CELL = {
    "peephole_lstm_classifier": "lstm",
    "peephole_lstm_regressor": "lstm",
}
_APPLICATION_ARGS = ("include_top", "input_shape", "pooling", "classes", "classifier_activation")


def peer_for(name: str, kwargs: Dict[str, Any]) -> Optional[Tuple[str, Callable[[], Any]]]:
    """`(label, build)` of the peer of registered model `name` built with builder arguments
    `kwargs`, or None where the model has none."""
    if name in APPLICATIONS:
        def build_application():
            import keras

            fn = getattr(keras.applications, APPLICATIONS[name])
            return fn(weights=None, **{k: v for k, v in kwargs.items() if k in _APPLICATION_ARGS})

        return f"keras.applications.{APPLICATIONS[name]}", build_application
    if name in KERAS_CELL:
        cell = KERAS_CELL[name]
        layer = {"lstm": "LSTM", "gru": "GRU"}[cell]
        return (f"keras.layers.{layer} ({name} with cell={cell!r})",
                lambda: create_model(name, **{**kwargs, "cell": cell}))
    if name in keras_hub_peers.TRANSFORMERS and keras_hub_peers.available():
        return (keras_hub_peers.label(name),
                lambda: keras_hub_peers.build_peer(name, kwargs))
    return None
