"""Weights: registered names, hash-checked downloads, and loading that never half-loads.

`weights` in every builder is `None`, a path to a weights file, or a name registered here for that
model (for example `"imagenet"` for the ResNets and InceptionV3, the very files keras.applications
publishes). Files are fetched with `keras.utils.get_file` into `~/.keras/models` (`$KERAS_HOME/models`
if set) and checked by sha256, or by md5 where the publisher gives only that (`WeightsSpec.
hash_algorithm`, as for keras.applications' files); a file already there is used without any
network access, and a missing one, offline, fails with a message saying where to put it.

Loading checks the whole file against the architecture *before* assigning anything: a file that
does not fit fails with an error naming the first mismatching layer and the two shapes, and the
model keeps its previous values.

Two file layouts are read:
  * Keras 3 `.weights.h5` (what `model.save_weights` writes);
  * the legacy HDF5 layout (`layer_names` / `weight_names` attributes) in which keras.applications
    publishes its ImageNet files, with and without top, matched layer by layer in order (as Keras
    does) or by layer name (`by_name=True`).

Example:
    >>> import keras, zoo
    >>> peer = keras.applications.ResNet50(weights=None)
    >>> peer.save_weights("/tmp/r50.weights.h5")
    >>> model = zoo.resnet50(weights="/tmp/r50.weights.h5")
"""

from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Optional, Tuple

import numpy as np

from zoo.core.lazy import lazy_attributes
from zoo.core.moved import RenamedAttribute, renamed_arguments
from zoo.core.saving import (  # noqa: F401  (save_model & co. are zoo.core.weights' names too)
    PREPROCESSING_ATTR,
    SIDECAR_SUFFIX,
    check_recorded_hash,
    check_weights_values,
    hash_of,
    load_model,
    preprocessing_of,
    read_sidecar,
    save_model,
    set_preprocessing,
)

__all__ = [
    "WeightsSpec",
    "register_weights",
    "registered_weights",
    "resolve_weights",
    "is_weights_path",
    "load_weights",
    "hash_of",
    "WeightsMismatchError",
    "set_preprocessing",
    "preprocessing_of",
    "save_model",
    "load_model",
]

# The attribute of a model that says how its weights' inputs were normalised.


class WeightsMismatchError(ValueError):
    """A weights file does not fit the architecture (names the first mismatching layer)."""


@dataclasses.dataclass(frozen=True)
class WeightsSpec:
    """A registered weights file for one model.

    Attributes:
        model: registry name of the model.
        name: the name users pass as `weights=` (e.g. `"imagenet"`).
        include_top: whether the file holds the classifier.
        url: where `keras.utils.get_file` fetches it from.
        file_hash: the file's hash (checked after download and before every load), in the
            algorithm `hash_algorithm` names (`keras.utils.get_file`'s two arguments); the
            keyword `sha256=` is its deprecated name.
        file_name: the name it is cached under in `~/.keras/models`.
        classes: number of classes of the top (when `include_top`).
        layout: `"legacy_h5"`, `"keras_v3"` or `"torch_pth"` (a PyTorch file that the model's
            builder converts itself, e.g. `googlenet_torchvision`; `load_weights` refuses it).
        hash_algorithm: `"sha256"` (default), `"md5"` or `"sha256_prefix"`, the algorithm of
            `file_hash` (keras.applications publishes md5 hashes for its ImageNet files;
            torchvision publishes the first 8 hex digits of a file's sha256 in its name, which
            `"sha256_prefix"` checks: the file's sha256 must start with `file_hash`).
        preprocessing: the input normalisation the weights were trained with (a
            `zoo.roles.serving.PREPROCESSING_MODES` name, e.g. keras.applications' `"caffe"`);
            it travels with the loaded model (`preprocessing_of`) into its exports.
    """

    model: str
    name: str
    include_top: bool
    url: str
    file_hash: str
    file_name: str
    classes: Optional[int] = None
    layout: str = "legacy_h5"
    hash_algorithm: str = "sha256"
    preprocessing: Optional[str] = None

    sha256 = RenamedAttribute("file_hash")  # it held md5 hashes for keras.applications' files


WeightsSpec.__init__ = renamed_arguments(sha256="file_hash")(WeightsSpec.__init__)


HASH_ALGORITHMS = ("sha256", "md5", "sha256_prefix")
LAYOUTS = ("legacy_h5", "keras_v3", "torch_pth")

_WEIGHTS: Dict[Tuple[str, str, bool], WeightsSpec] = {}


def register_weights(spec: WeightsSpec) -> WeightsSpec:
    """Register a weights file under `(spec.model, spec.name, spec.include_top)`."""
    if spec.layout not in LAYOUTS:
        raise ValueError(f"`layout` must be one of {LAYOUTS}. Received: layout={spec.layout!r}")
    if spec.hash_algorithm not in HASH_ALGORITHMS:
        raise ValueError(
            f"`hash_algorithm` must be one of {HASH_ALGORITHMS}. "
            f"Received: hash_algorithm={spec.hash_algorithm!r}"
        )
    _WEIGHTS[(spec.model, spec.name, bool(spec.include_top))] = spec
    return spec


def registered_weights(model: str) -> Dict[str, Dict[str, str]]:
    """`{name: {"include_top": hash, "no_top": hash}}` for a registered model.

    A hash is the sha256 hex digest, or `"md5:<digest>"` for files registered with an md5.
    """
    out: Dict[str, Dict[str, str]] = {}
    for (m, name, top), spec in sorted(_WEIGHTS.items()):
        if m == model:
            h = spec.file_hash
            if spec.hash_algorithm != "sha256":
                h = f"{spec.hash_algorithm}:{h}"
            out.setdefault(name, {})["include_top" if top else "no_top"] = h
    return out


def weight_names(model: str) -> List[str]:
    return sorted({name for (m, name, _top) in _WEIGHTS if m == model})


# one hashing function: `hash_of(path)` (sha256 by default)
__getattr__ = lazy_attributes(__name__, {}, deprecated={"sha256_of": "zoo.core.weights:hash_of"})


def cache_dir() -> str:
    base = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(base, "models")


def validate_weights_arg(model_name: str, weights, include_top: bool, classes: Optional[int] = None):
    """Check `weights` before any layer is built (keras.applications wording)."""
    if weights is None:
        return
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            "The `weights` argument should be either `None` (random initialization), the path "
            f"to a weights file, or one of {weight_names(model_name) or '(none registered)'}. "
            f"Received: weights={weights!r}"
        )
    weights = os.fspath(weights)
    names = weight_names(model_name)
    if weights not in names:
        if os.path.exists(weights):  # a path; a registered name is never read as a path
            return
        raise ValueError(
            "The `weights` argument should be either `None` (random initialization), the path "
            f"to an existing weights file, or one of {names or '(none registered for this model)'}. "
            f"Received: weights={weights!r}"
        )
    spec = _WEIGHTS.get((model_name, weights, bool(include_top)))
    if spec is None:
        raise ValueError(
            f"No {weights!r} weights are registered for {model_name} with "
            f"include_top={include_top}."
        )
    if include_top and spec.classes is not None and classes is not None and classes != spec.classes:
        raise ValueError(
            f"If using `weights={weights!r}` with `include_top=True`, `classes` should be "
            f"{spec.classes}. Received: classes={classes}"
        )


def resolve_weights(model_name: str, weights: str, include_top: bool) -> Tuple[str, Optional[str]]:
    """The local path of `weights` (a path, or a registered name fetched/cached) and its hash.

    A registered file already in the cache is used without network access. A missing one is
    fetched with `keras.utils.get_file`; if that fails (offline), the error says where to put it.
    """
    path, spec = _resolve(model_name, weights, include_top)
    return path, (spec.file_hash if spec is not None else None)


def _hash_matches(digest: str, spec: WeightsSpec) -> bool:
    if spec.hash_algorithm == "sha256_prefix":
        return digest.startswith(spec.file_hash)
    return digest == spec.file_hash


def is_weights_path(model_name: str, weights) -> bool:
    """Whether `weights` is read as a file: any existing path that is not one of the model's
    registered names. A file called `imagenet` in the current folder does not replace the
    registered, hash-checked `"imagenet"` file (pass `./imagenet` to load it)."""
    if weights is None:
        return False
    weights = os.fspath(weights)
    return weights not in weight_names(model_name) and os.path.exists(weights)


def _resolve(model_name: str, weights, include_top: bool) -> Tuple[str, Optional[WeightsSpec]]:
    weights = os.fspath(weights)
    if is_weights_path(model_name, weights):
        return weights, None
    spec = _WEIGHTS.get((model_name, weights, bool(include_top)))
    if spec is None:
        validate_weights_arg(model_name, weights, include_top)
        raise AssertionError("unreachable")  # validate_weights_arg raised
    alg = spec.hash_algorithm
    cached = os.path.join(cache_dir(), spec.file_name)
    if os.path.exists(cached):
        digest = hash_of(cached, alg)
        if not _hash_matches(digest, spec):
            raise ValueError(
                f"The cached weights file {cached} has {alg} {digest}, expected {spec.file_hash}. "
                "Delete it to download it again."
            )
        return cached, spec
    import keras

    try:
        path = keras.utils.get_file(
            spec.file_name, spec.url, cache_subdir="models",
            file_hash=None if alg == "sha256_prefix" else spec.file_hash,
            hash_algorithm="sha256" if alg == "sha256_prefix" else alg,
            cache_dir=os.path.dirname(cache_dir()),
        )
        if alg == "sha256_prefix" and not _hash_matches(hash_of(path, alg), spec):
            os.remove(path)
            raise ValueError(f"The downloaded file's sha256 does not start with {spec.file_hash}.")
    except Exception as e:
        raise RuntimeError(
            f"Could not download the {weights!r} weights of {model_name} "
            f"(include_top={include_top}) from {spec.url}: {e}\n"
            f"Offline? Put the file there by hand: {cached} ({alg} {spec.file_hash})."
        ) from e
    return path, spec


# ---------------------------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------------------------


def _decode(v):
    return v.decode("utf8") if hasattr(v, "decode") else str(v)


def _legacy_layers(path: str) -> List[Tuple[str, List[Tuple[str, np.ndarray]]]]:
    """`[(layer_name, [(weight_name, array), ...]), ...]` of a legacy HDF5 file, in file order."""
    import h5py

    with h5py.File(path, "r") as f:
        g = f["model_weights"] if "model_weights" in f else f
        layers = []
        for lname in g.attrs.get("layer_names", []):
            lname = _decode(lname)
            lg = g[lname]
            names = [_decode(n) for n in lg.attrs.get("weight_names", [])]
            if names:
                layers.append((lname, [(n, np.asarray(lg[n])) for n in names]))
        return layers


def _is_legacy(path: str) -> bool:
    import h5py

    with h5py.File(path, "r") as f:
        g = f["model_weights"] if "model_weights" in f else f
        return "layer_names" in g.attrs


def _legacy_weights(layer):
    # Same order as Keras' legacy loader: trainable then non-trainable.
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def _mismatch(msg: str) -> WeightsMismatchError:
    return WeightsMismatchError(msg + " No weights were loaded.")


def _raise_count_mismatch(targets, saved, path):
    """Layer counts differ: name the first layer, in order, whose name or shapes differ."""
    counts = (
        f"the file has weights for {len(saved)} layers, the model for {len(targets)}"
    )
    for layer, (saved_name, values) in zip(targets, saved):
        ours = [tuple(v.shape) for v in _legacy_weights(layer)]
        theirs = [tuple(a.shape) for _, a in values]
        if ours != theirs or layer.name != saved_name:
            raise _mismatch(
                f"Layer {layer.name!r} (shapes {ours}) meets the file's layer {saved_name!r} "
                f"(shapes {theirs}) in {path}: {counts}."
            )
    if len(saved) > len(targets):
        raise _mismatch(
            f"{counts[0].upper()}{counts[1:]} ({path}); first extra layer in the file: "
            f"{saved[len(targets)][0]!r}."
        )
    raise _mismatch(
        f"{counts[0].upper()}{counts[1:]} ({path}); first model layer without weights in the "
        f"file: {targets[len(saved)].name!r}."
    )


def _plan_legacy(model, path: str, by_name: bool):
    saved = _legacy_layers(path)
    targets = [l for l in model.layers if _legacy_weights(l)]
    plan = []
    if by_name:
        saved_by_name = dict(saved)
        for layer in targets:
            if layer.name not in saved_by_name:
                raise _mismatch(
                    f"Layer {layer.name!r} of the model has no entry in {path}."
                )
            plan.append((layer, saved_by_name[layer.name], layer.name))
    else:
        if len(saved) != len(targets):
            _raise_count_mismatch(targets, saved, path)
        for k, layer in enumerate(targets):
            plan.append((layer, saved[k][1], saved[k][0]))
    assignments = []
    for layer, values, saved_name in plan:
        variables = _legacy_weights(layer)
        if len(values) != len(variables):
            raise _mismatch(
                f"Layer {layer.name!r} (saved as {saved_name!r}) expects {len(variables)} "
                f"weights; the file has {len(values)}."
            )
        for var, (wname, arr) in zip(variables, values):
            if tuple(var.shape) != tuple(arr.shape):
                raise _mismatch(
                    f"Layer {layer.name!r} (saved as {saved_name!r}): weight {var.path} has shape "
                    f"{tuple(var.shape)}, the file's {wname} has shape {tuple(arr.shape)}."
                )
            assignments.append((var, arr))
    return assignments


def keras_v3_layout(path: str) -> List[Tuple[str, List[Tuple[int, ...]]]]:
    """`[(group_path, [shapes of its vars])]` in file order, for mismatch reports."""
    import h5py

    out = []
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Group) and name.endswith("/vars") and len(obj):
                shapes = [tuple(obj[k].shape) for k in sorted(obj, key=lambda s: int(s))]
                out.append((name[: -len("/vars")], shapes))
        f.visititems(visit)
    return out


_keras_v3_layout = keras_v3_layout


def _snake(name: str) -> str:
    try:
        from keras.src.utils.naming import to_snake_case
    except ImportError:  # pragma: no cover - Keras moved it
        import re

        name = re.sub(r"\W+", "", name)
        name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
        return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
    return to_snake_case(name)


def file_entries_of_layers(model) -> Optional[List[Tuple[str, object]]]:
    """`[(file_key, layer)]` as Keras 3 names a Functional/Sequential model's layers in a file.

    Keras saves `model.layers` in order under `layers/<snake_case(class)>[_<n>]` (see
    keras/src/saving/saving_lib.py, `_save_container_state`). `None` for other models.
    """
    obj_type = getattr(model, "_obj_type", lambda: None)()
    if obj_type not in ("Functional", "Sequential"):
        return None
    used: Dict[str, int] = {}
    out = []
    for layer in model.layers:
        key = _snake(layer.__class__.__name__)
        if key in used:
            used[key] += 1
            key = f"{key}_{used[key]}"
        else:
            used[key] = 0
        out.append((f"layers/{key}", layer))
    return out


_file_entries_of_layers = file_entries_of_layers


def _check_keras_v3_by_layer(model, path: str) -> bool:
    """Layer-by-layer check in the order Keras loads; `False` when it does not apply."""
    entries = _file_entries_of_layers(model)
    if entries is None:
        return False
    layout = _keras_v3_layout(path)
    if not any(g.startswith("layers/") for g, _ in layout):
        return False
    if any(not g.startswith("layers/") for g, _ in layout):
        return False  # model-level variables: leave it to the generic check
    by_group: Dict[str, List[Tuple[int, ...]]] = {}
    for g, shapes in layout:
        top = "/".join(g.split("/")[:2])
        by_group.setdefault(top, []).extend(shapes)
    keys = set()
    for key, layer in entries:
        keys.add(key)
        ours = sorted(tuple(int(d) for d in w.shape) for w in layer.weights)
        theirs = sorted(by_group.get(key, []))
        if ours != theirs:
            where = f"the file's entry {key} has {theirs}" if key in by_group else (
                f"the file has no entry {key}"
            )
            raise _mismatch(
                f"Layer {layer.name!r} does not fit {path}: its weights have shapes {ours}, "
                f"{where} (the file's layers are matched by order and type, as Keras does)."
            )
    extra = [g for g in by_group if g not in keys]
    if extra:
        raise _mismatch(
            f"The file {path} has weights for layers the model does not have; first: "
            f"{extra[0]} with shapes {by_group[extra[0]]} (file: {len(by_group)} layers with "
            f"weights, model: {sum(1 for _, l in entries if l.weights)})."
        )
    return True


def _check_keras_v3(model, path: str):
    """Compare the file's weight arrays with the model's before loading anything.

    For Functional and Sequential models the file's entries are matched to the model's layers
    as Keras matches them (by order and class), and the first layer that does not fit is named.
    Other models: entries are matched as a multiset of shapes; the first model weight without
    a matching array is named.
    """
    from collections import Counter

    if _check_keras_v3_by_layer(model, path):
        return

    saved = [(g, s) for g, shapes in _keras_v3_layout(path) for s in shapes]
    available = Counter(s for _, s in saved)
    for var in model.weights:
        shape = tuple(var.shape)
        if available[shape] <= 0:
            same_count = len(saved) == len(model.weights)
            raise _mismatch(
                f"Weight {var.path} (layer {var.path.split('/')[-2] if '/' in var.path else var.path!r}) "
                f"has shape {shape}, and {path} has no unused array of that shape "
                f"(file: {len(saved)} arrays, model: {len(model.weights)}"
                f"{'' if same_count else ', counts differ'})."
            )
        available[shape] -= 1
    extra = [s for s, n in available.items() if n > 0]
    if extra:
        group = next(g for g, s in saved if s == extra[0])
        raise _mismatch(
            f"The file {path} has arrays the model has no place for; first: {group} {extra[0]}."
        )


def _load_keras_v3(model, path: str):
    _check_keras_v3(model, path)
    import keras

    snapshot = [keras.ops.convert_to_numpy(v) for v in model.weights]
    try:
        model.load_weights(path)
    except Exception as e:
        for var, val in zip(model.weights, snapshot):
            var.assign(val)
        raise _mismatch(f"The weights file {path} does not fit the model: {e}") from e


def load_weights(model, weights, *, model_name: Optional[str] = None, include_top: bool = True,
                 by_name: bool = False):
    """Load `weights` (a path or a registered name) into `model`, all or nothing.

    Args:
        model: a built `keras.Model`.
        weights: a path to a `.weights.h5` or legacy `.h5` file, or a name registered for
            `model_name`.
        model_name: the registry name (needed for registered names).
        include_top: which registered file to use.
        by_name: for legacy files, match layers by name instead of by order.

    Raises:
        WeightsMismatchError: the file does not fit; names the first mismatching layer and shapes.
        ValueError: a registered file's hash (sha256, or md5 where registered so) does not match,
            a zoo file's recorded sha256 does not, or a file without a recorded hash is not a
            readable HDF5 file or holds non-finite or implausible values (`check_weights_values`,
            which also warns that its bytes could not be checked).
    """
    # A registered file's hash is checked by `_resolve` (cached file) or by get_file (download).
    path, spec = _resolve(model_name or model.name, weights, include_top)
    if spec is not None and spec.layout == "torch_pth":
        raise ValueError(
            f"The {weights!r} weights of {model_name} are a PyTorch file that its builder "
            f"converts: build the model with `weights={weights!r}`."
        )
    if not os.path.isfile(path):
        raise ValueError(f"`weights` must be a file. Received: weights={weights!r}")
    if spec is None:  # a file written by zoo: its recorded sha256 (registered ones: _resolve)
        check_recorded_hash(path)
    if path.endswith(".keras"):
        raise ValueError(
            "`weights` takes a weights file (.weights.h5 or legacy .h5), not a whole model; "
            f"use keras.saving.load_model for .keras files. Received: weights={weights!r}"
        )
    if spec is None and read_sidecar(path).get("sha256") is None:  # no hash to check it by
        check_weights_values(path)
    if _is_legacy(path):
        assignments = _plan_legacy(model, path, by_name)
        for var, arr in assignments:
            var.assign(arr)
    else:
        if by_name:
            raise ValueError("`by_name=True` only applies to legacy HDF5 files.")
        _load_keras_v3(model, path)
    set_preprocessing(model, spec.preprocessing if spec is not None else read_sidecar(path).get(
        "preprocessing"))
    return model
