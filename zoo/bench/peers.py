"""The peer each registered model is timed against in `zoo bench`, where one exists: its spec's
`bench_peer` (`zoo.core.registry.ModelSpec`).

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
from zoo.core.moved import warn_renamed
from zoo.core.registry import create_model, get_spec, list_models

__all__ = ["peer_for"]

_APPLICATION_ARGS = ("include_top", "input_shape", "pooling", "classes", "classifier_activation")


def __getattr__(name):
    # the tables that named the peers before the specs did (`ModelSpec.bench_peer`)
    if name in ("APPLICATIONS", "KERAS_CELL"):
        warn_renamed(f"zoo.bench.peers.{name}", "zoo.get_spec(name).bench_peer")
        peers = {n: get_spec(n).bench_peer or "" for n in list_models()}
        if name == "APPLICATIONS":
            return {n: p.split(".")[-1] for n, p in peers.items() if p.startswith("keras.applications.")}
        return {n: p.split(".")[-1].lower() for n, p in peers.items() if p.startswith("keras.layers.")}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def peer_for(name: str, kwargs: Dict[str, Any]) -> Optional[Tuple[str, Callable[[], Any]]]:
    """`(label, build)` of the peer of registered model `name` (its spec's `bench_peer`) built
    with builder arguments `kwargs`, or None where the model has none."""
    peer = get_spec(name).bench_peer if name in list_models() else None
    if peer is None:
        return None
    if peer.startswith("keras.applications."):
        def build_application():
            import keras

            fn = getattr(keras.applications, peer.split(".")[-1])
            return fn(weights=None, **{k: v for k, v in kwargs.items() if k in _APPLICATION_ARGS})

        return peer, build_application
    if peer.startswith("keras.layers."):
        cell = peer.split(".")[-1].lower()
        return (f"{peer} ({name} with cell={cell!r})",
                lambda: create_model(name, **{**kwargs, "cell": cell}))
    if keras_hub_peers.available():
        return (keras_hub_peers.label(name),
                lambda: keras_hub_peers.build_peer(name, kwargs))
    return None
