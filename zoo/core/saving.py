"""Models and weights files written by zoo: the preprocessing their weights were trained with
and their sha256, in a `<file>.zoo.json` sidecar, both checked when zoo loads them.

A file whose bytes changed after zoo wrote it (a truncated copy, a flipped block in the middle)
is refused with an error naming the file, instead of loading weights that are silently wrong:
Keras itself loads a `.weights.h5` with 2,000 bytes garbled in its middle without a word.

A `.weights.h5` without that sidecar (written by Keras itself, or its sidecar lost) cannot be
checked byte for byte: HDF5 keeps no checksum of its data. `check_weights_values` then reads
every array before anything is loaded, refusing a file that is not a readable HDF5 file or holds
a non-finite or implausible (beyond 1e30) value, and warns that the rest cannot be checked. A
`.keras` file is a zip whose members carry CRCs: a damaged one is refused naming the file.

Example:
    >>> import keras
    >>> from zoo.core.saving import load_model, preprocessing_of, save_model, set_preprocessing
    >>> inp = keras.Input((3,))
    >>> model = set_preprocessing(keras.Model(inp, keras.layers.Dense(2)(inp)), "symmetric")
    >>> _ = save_model(model, "/tmp/tiny.keras")
    >>> preprocessing_of(load_model("/tmp/tiny.keras"))
    'symmetric'
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
import zlib
from typing import Any, Dict, Optional

__all__ = [
    "PREPROCESSING_ATTR",
    "check_writable_folder",
    "SIDECAR_SUFFIX",
    "check_recorded_hash",
    "check_weights_values",
    "hash_of",
    "load_model",
    "preprocessing_of",
    "read_sidecar",
    "save_model",
    "set_preprocessing",
    "source_file_of",
]

PREPROCESSING_ATTR = "zoo_preprocessing"
# the file `load_model` read a model from (what travels beside it, a run's tokenizer, is found by it)
SOURCE_FILE_ATTR = "zoo_source_file"
SIDECAR_SUFFIX = ".zoo.json"


def check_writable_folder(path, argument) -> str:
    """`path` if it is a folder, or can be made one, that this process can write in; else a
    ValueError naming `argument` (a file in the way, an unwritable parent). Creates nothing.

    Example:
        >>> check_writable_folder("/tmp/runs/new", "run_dir")
        '/tmp/runs/new'
    """
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ValueError(f"`{argument}` must be a folder path. Received: {argument}={path!r}")
    path = os.fspath(path)
    probe = os.path.abspath(path)
    while not os.path.exists(probe):  # the nearest part of the path that exists
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        what = "is a file" if probe == os.path.abspath(path) else f"is under the file {probe}"
        raise ValueError(f"`{argument}` must be a folder, and {path!r} {what}. "
                         f"Received: {argument}={path!r}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"`{argument}` must be a folder this user can write in; {probe} is not "
                         f"writable. Received: {argument}={path!r}")
    return path


def set_preprocessing(model, preprocessing: Optional[str]):
    """Record on `model` the input normalisation its weights were trained with (None: unknown).

    Training (`zoo.train`), a registered weights file (`WeightsSpec.preprocessing`) and
    `load_model`/`load_weights` of a file saved by zoo set it; exports read it
    (`preprocessing_of`), so the served graph normalises as the weights expect.
    """
    object.__setattr__(model, PREPROCESSING_ATTR, preprocessing)
    return model


def preprocessing_of(model) -> Optional[str]:
    """The input normalisation recorded on `model` by `set_preprocessing`, or None."""
    return getattr(model, PREPROCESSING_ATTR, None)


def read_sidecar(path: str) -> Dict[str, Any]:
    """What `save_model` recorded beside `path` (`{}` for a file zoo did not write)."""
    side = os.fspath(path) + SIDECAR_SUFFIX
    if not os.path.isfile(side):
        return {}
    try:
        with open(side) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f"The file {side} beside {path} is damaged ({e}); delete it to load "
                         f"{path} without its recorded preprocessing and hash.") from None


def hash_of(path: str, algorithm: str = "sha256", chunk: int = 1 << 20) -> str:
    """Hex digest of a file with `algorithm` (`"sha256"` or `"md5"`; `"sha256_prefix"` is
    sha256): the one hashing function of zoo's files (weights, saved models)."""
    h = hashlib.new("sha256" if algorithm == "sha256_prefix" else algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def check_recorded_hash(path: str) -> None:
    """Refuse `path` if its sidecar records a sha256 that its bytes no longer have."""
    want = read_sidecar(path).get("sha256")
    if want is None:
        return
    got = hash_of(path)
    if got != want:
        raise ValueError(f"The file {path} is damaged or was changed after zoo wrote it: its "
                         f"sha256 is {got}, recorded {want} in {path}{SIDECAR_SUFFIX}. Nothing "
                         "was loaded.")


# Beyond this magnitude a float in a weights file is taken for damage: random bytes read as
# float32 land there about one time in nine, trained weights never do.
IMPLAUSIBLE = 1e30


def check_weights_values(path: str) -> None:
    """Refuse an HDF5 weights file zoo cannot check by a recorded hash if it is not a readable
    HDF5 file or one of its float arrays holds a non-finite value or one beyond `IMPLAUSIBLE`
    (ValueError naming the file and the array); warn that nothing more can be checked. Bytes
    garbled into plausible values stay unnoticed: only `save_model`'s sidecar catches those."""
    import h5py
    import numpy as np

    def bad(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind == "f" and obj.size:
            a = np.asarray(obj[()])
            if not np.all(np.isfinite(a)):
                return f"its array {name} holds {int(np.sum(~np.isfinite(a)))} non-finite values"
            if np.max(np.abs(a)) > IMPLAUSIBLE:
                return (f"its array {name} holds {np.max(np.abs(a)):.3g}, beyond {IMPLAUSIBLE:g}, "
                        "which trained weights never reach")
        return None

    try:
        with h5py.File(path, "r") as f:
            problem = f.visititems(bad)
    except (OSError, RuntimeError, KeyError, TypeError, ValueError) as e:
        problem = f"it is not a readable HDF5 file ({type(e).__name__}: {str(e)[:160]})"
    if problem:
        raise ValueError(f"The weights file {path} is damaged: {problem}. It has no "
                         f"{SIDECAR_SUFFIX} sidecar recording its sha256. Nothing was loaded.")
    warnings.warn(f"The weights file {path} has no {SIDECAR_SUFFIX} sidecar recording its sha256 "
                  "(zoo's save_model writes one): only its structure and values (finite, below "
                  f"{IMPLAUSIBLE:g}) were checked, not its bytes.", UserWarning, stacklevel=3)


def save_model(model, path: str, **info) -> str:
    """`model.save(path)` (a `.keras` or `.weights.h5` file) plus `<path>.zoo.json` holding
    `preprocessing_of(model)`, the file's sha256 and `info`, both written to temporary names and
    renamed into place.

    Example:
        >>> import keras
        >>> from zoo.core.saving import load_model, save_model, set_preprocessing
        >>> inp = keras.Input((3,))
        >>> model = set_preprocessing(keras.Model(inp, keras.layers.Dense(2)(inp)), "symmetric")
        >>> _ = save_model(model, "/tmp/tiny.keras")
        >>> from zoo.core.saving import preprocessing_of
        >>> preprocessing_of(load_model("/tmp/tiny.keras"))
        'symmetric'
    """
    path = os.fspath(path)
    suffix = ".weights.h5" if path.endswith(".weights.h5") else os.path.splitext(path)[1]
    if suffix not in (".keras", ".weights.h5"):
        raise ValueError(f"`path` must end in .keras or .weights.h5. Received: path={path!r}")
    tmp = f"{path[: -len(suffix)]}.tmp{os.getpid()}{suffix}"
    (model.save_weights if suffix == ".weights.h5" else model.save)(tmp)
    side = {"preprocessing": preprocessing_of(model), "sha256": hash_of(tmp), **info}
    with open(tmp + SIDECAR_SUFFIX, "w") as f:
        json.dump(side, f, indent=2, default=str)
    os.replace(tmp + SIDECAR_SUFFIX, path + SIDECAR_SUFFIX)
    os.replace(tmp, path)
    return path


def load_model(path: str, **kwargs):
    """`keras.saving.load_model(path)` with the preprocessing recorded by `save_model`, after
    checking the file's recorded sha256."""
    import keras

    check_recorded_hash(path)
    try:
        model = keras.saving.load_model(path, **kwargs)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        raise ValueError(f"The model file {path} is damaged ({type(e).__name__}: "
                         f"{str(e)[:200]}). Nothing was loaded.") from None
    object.__setattr__(model, SOURCE_FILE_ATTR, os.path.abspath(path))
    return set_preprocessing(model, read_sidecar(path).get("preprocessing"))


def source_file_of(model) -> Optional[str]:
    """The file `load_model` read `model` from (absolute), or None."""
    return getattr(model, SOURCE_FILE_ATTR, None)
