"""Transfer learning: the weights of a registered name, a file or an earlier run loaded into a
model whose head may differ, and the layers frozen and unfrozen for the two-phase recipe
(docs/transfer_learning.md; `zoo.train.finetune` runs the phases).

Layers are matched as Keras matches a model's layers in a weights file: in order, by class
(`zoo.core.weights.file_entries_of_layers`); a layer whose weights have the same shapes in the
source is loaded, any other (a classifier of another class count) keeps its new initial values.

Example:
    >>> import keras
    >>> from zoo.roles.transfer import transfer_weights
    >>> def net(classes):
    ...     inp = keras.Input((4,))
    ...     h = keras.layers.Dense(8, name="features")(inp)
    ...     return keras.Model(inp, keras.layers.Dense(classes, name="predictions")(h))
    >>> _ = net(10).save_weights("/tmp/zoo-doc-10.weights.h5")
    >>> t = transfer_weights(net(3), "/tmp/zoo-doc-10.weights.h5")
    >>> t.loaded, t.initialised
    (['features'], ['predictions'])
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Any, Dict, List, Optional

import numpy as np

from zoo.core.registry import create_model
from zoo.core.saving import (
    check_recorded_hash,
    load_model,
    preprocessing_of,
    read_sidecar,
    set_preprocessing,
)
from zoo.core.weights import file_entries_of_layers, keras_v3_layout, registered_weights

__all__ = ["Transfer", "transfer_weights", "check_weights_source", "source_file", "head_layers", "set_phase",
           "add_transfer_arguments", "check_transfer_arguments", "PHASES"]

# the two phases of fine-tuning: the new head on a frozen backbone, then every layer (batch
# normalization kept in inference mode, its statistics and scale fixed)
PHASES = ("frozen", "all")


@dataclasses.dataclass
class Transfer:
    """What `transfer_weights` did: the source, the layers loaded and those left initialised.

    Attributes:
        source: what was loaded (a registered name, a file; a run folder as its model file).
        loaded: names of the model's layers whose weights came from the source.
        initialised: names of the layers with weights that kept their new initial values.
        loaded_params / initialised_params: their parameter counts.
    """

    source: str
    loaded: List[str]
    initialised: List[str]
    loaded_params: int = 0
    initialised_params: int = 0

    def note(self) -> str:
        """One line for the training log."""
        new = ", ".join(self.initialised) if self.initialised else "none"
        return (f"weights from {self.source}: {len(self.loaded)} layers loaded "
                f"({self.loaded_params:,} parameters); initialised new: {new} "
                f"({self.initialised_params:,} parameters)")

    def as_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def _params(layer) -> int:
    return int(sum(int(np.prod(w.shape)) for w in layer.weights))


def _shapes(layer):
    return [tuple(int(d) for d in w.shape) for w in layer.weights]


def _entries(model):
    entries = file_entries_of_layers(model)
    if entries is None:
        raise ValueError(
            "Weights are transferred into Functional or Sequential Keras models only. "
            f"Received: a model of class {type(model).__name__}")
    return entries


def source_file(weights) -> str:
    """The file of `weights` when it is a path: a `.keras` or `.weights.h5` file, or a run
    folder (its `model.keras`, written at the end of a run that exports)."""
    path = os.fspath(weights)
    if os.path.isdir(path):
        inner = os.path.join(path, "model.keras")
        if not os.path.isfile(inner):
            raise ValueError(
                "`weights` names a folder without a model.keras: pass a run folder of `zoo train` "
                "(it writes model.keras unless run with --no-export), a .keras or a .weights.h5 "
                f"file. Received: weights={weights!r}")
        return inner
    if not (path.endswith(".keras") or path.endswith(".weights.h5")):
        raise ValueError(
            "`weights` must be a registered name, a .keras or .weights.h5 file or a run folder. "
            f"Received: weights={weights!r}")
    return path


def _from_model(model, source_model):
    """(loaded, initialised) after copying every layer of `source_model` that fits."""
    theirs = dict(_entries(source_model))
    loaded, initialised = [], []
    for key, layer in _entries(model):
        if not layer.weights:
            continue
        other = theirs.get(key)
        if other is not None and _shapes(other) == _shapes(layer):
            for var, value in zip(layer.weights, other.weights):
                var.assign(np.asarray(value))
            loaded.append(layer)
        else:
            initialised.append(layer)
    return loaded, initialised


def _from_weights_file(model, path):
    """(loaded, initialised) after loading the layers of a `.weights.h5` file that fit."""
    check_recorded_hash(path)
    by_key: Dict[str, list] = {}
    for group, shapes in keras_v3_layout(path):
        by_key.setdefault("/".join(group.split("/")[:2]), []).extend(shapes)
    loaded, initialised = [], []
    for key, layer in _entries(model):
        if layer.weights:
            fits = sorted(by_key.get(key, [])) == sorted(_shapes(layer))
            (loaded if fits else initialised).append(layer)
    keep = [(v, np.asarray(v)) for layer in initialised for v in layer.weights]
    with warnings.catch_warnings():  # the layers that do not fit are reported by the caller
        warnings.simplefilter("ignore")
        model.load_weights(path, skip_mismatch=True)
    for var, value in keep:  # exactly as initialised, whatever Keras did with them
        var.assign(value)
    set_preprocessing(model, read_sidecar(path).get("preprocessing"))
    return loaded, initialised


def check_weights_source(weights, model_name: Optional[str] = None) -> Optional[str]:
    """The file `weights` names (`source_file`), or None for a name registered for `model_name`;
    a ValueError naming `weights` for anything else. Reads nothing: `fine_tune` calls it before
    any run folder, data or model is made."""
    if weights is None or not isinstance(weights, (str, os.PathLike)):
        raise ValueError("`weights` must be a registered name, a .keras or .weights.h5 file or a "
                         f"run folder. Received: weights={weights!r}")
    names = registered_weights(model_name) if model_name else {}
    if os.fspath(weights) in names and not os.path.exists(os.fspath(weights)):
        return None
    if not os.path.exists(os.fspath(weights)):
        raise ValueError(
            "`weights` must be a registered name "
            f"({sorted(names) or 'none registered for this model'}), an existing .keras or "
            f".weights.h5 file or a run folder. Received: weights={weights!r}")
    return source_file(weights)


def transfer_weights(model, weights, *, model_name: Optional[str] = None,
                     builder_kwargs: Optional[Dict[str, Any]] = None) -> Transfer:
    """Load the layers of `weights` that fit into `model`; the others keep their initial values.

    Args:
        model: a built Functional or Sequential Keras model (its head may have another class
            count than the source's).
        weights: a name registered for `model_name` (e.g. `"imagenet"`: its file without the
            classifier where one is registered), a `.keras` or `.weights.h5` file, or a run
            folder of `zoo train` (its `model.keras`).
        model_name: the registry name (for registered names).
        builder_kwargs: builder arguments of the source for a registered name (`input_shape`).

    Returns:
        A `Transfer` naming the layers loaded and those initialised.

    Raises:
        ValueError: `weights` is none of those, or no layer fits.
    """
    path = check_weights_source(weights, model_name)
    if path is None:  # a registered name
        names = registered_weights(model_name)
        top = "no_top" not in names[os.fspath(weights)]
        kwargs = {k: v for k, v in (builder_kwargs or {}).items() if k == "input_shape"}
        source_model = create_model(model_name, include_top=top, weights=weights, **kwargs)
        loaded, initialised = _from_model(model, source_model)
        set_preprocessing(model, preprocessing_of(source_model))
        source = f"{weights!r} ({model_name}, {'with' if top else 'without'} its classifier)"
    else:
        source = path
        if path.endswith(".keras"):
            source_model = load_model(path)
            loaded, initialised = _from_model(model, source_model)
            set_preprocessing(model, preprocessing_of(source_model))
        else:
            loaded, initialised = _from_weights_file(model, path)
    if not loaded:
        raise ValueError(f"No layer of {weights!r} fits the model (another architecture?). "
                         f"Received: weights={weights!r}")
    return Transfer(source, [la.name for la in loaded], [la.name for la in initialised],
                    sum(_params(la) for la in loaded), sum(_params(la) for la in initialised))


def head_layers(model, transfer: Transfer) -> List[str]:
    """The layers trained on the frozen backbone: those `transfer` initialised, else (a source
    of the same class count) the last layer with weights."""
    if transfer.initialised:
        return list(transfer.initialised)
    return [next(la.name for la in reversed(model.layers) if la.weights)]


def _all_layers(layer):
    yield layer
    for inner in getattr(layer, "layers", None) or []:
        yield from _all_layers(inner)


def set_phase(model, phase: str, head: List[str]):
    """Make `model` trainable for `phase`: `"frozen"` (only the `head` layers train; the
    backbone, batch normalization included, runs in inference mode) or `"all"` (every layer
    trains, except batch normalization, which stays in inference mode with its statistics and
    scale as loaded). Returns `model`."""
    import keras

    if phase not in PHASES:
        raise ValueError(f"`phase` must be one of {PHASES}. Received: phase={phase!r}")
    for layer in model.layers:
        layer.trainable = phase == "all" or layer.name in head
    if phase == "all":
        for layer in _all_layers(model):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
    return model


def add_transfer_arguments(parser):
    """The fine-tuning flags of `zoo train`: `--weights`, `--freeze-epochs`, `--fine-tune-lr`."""
    g = parser.add_argument_group("fine-tuning (docs/transfer_learning.md)")
    g.add_argument("--weights", default=None, metavar="NAME|FILE|RUN_DIR",
                   help="start from these weights: a registered name (imagenet), a .keras or "
                        ".weights.h5 file, or an earlier run's folder; a head of another class "
                        "count is made new")
    g.add_argument("--freeze-epochs", type=int, default=1,
                   help="with --weights: the first epochs train the new head only, on the frozen "
                        "backbone (default: 1; 0: none)")
    g.add_argument("--fine-tune-lr", type=float, default=None,
                   help="with --weights: the learning rate of the later epochs, which train every "
                        "layer with batch normalization in inference mode (default: "
                        "--learning-rate / 10)")


def check_transfer_arguments(freeze_epochs, fine_tune_lr, epochs):
    """ValueError naming a bad fine-tuning setting."""
    if not isinstance(freeze_epochs, int) or not 0 <= freeze_epochs <= epochs:
        raise ValueError(f"`freeze_epochs` must be an integer in [0, epochs={epochs}]. "
                         f"Received: freeze_epochs={freeze_epochs!r}")
    if fine_tune_lr is not None and not float(fine_tune_lr) > 0:
        raise ValueError(f"`fine_tune_lr` must be > 0. Received: fine_tune_lr={fine_tune_lr!r}")
