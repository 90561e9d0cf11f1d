"""torchvision's GoogLeNet weights in `zoo.models.googlenet`'s layout, without PyTorch.

`convert_torchvision_state_dict` maps a `torchvision.models.googlenet` state dict (a `.pth`
file read by `zoo.core.torch_weights`, tensors only) to `{layer name: arrays}`;
`load_torchvision_weights` loads `"imagenet"` (torchvision's published file, fetched and
hash-checked by `zoo.core.weights`, converted once and cached with its sha256) or a local `.pth`.
"""

from __future__ import annotations

import json
import os

import numpy as np

from zoo.core import torch_weights
from zoo.core import weights as _weights

__all__ = ["convert_torchvision_state_dict", "load_torchvision_weights"]

INCEPTION_MODULES = ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")

_TV_STEM = {"conv1": "conv1_7x7_s2", "conv2": "conv2_3x3_reduce", "conv3": "conv2_3x3"}
_TV_BRANCHES = {"branch1": "1x1", "branch2.0": "3x3_reduce", "branch2.1": "3x3",
                "branch3.0": "5x5_reduce", "branch3.1": "5x5", "branch4.1": "pool_proj"}


def is_torch_weights(weights, torchvision):
    if not torchvision or weights is None or not isinstance(weights, (str, os.PathLike)):
        return False
    weights = os.fspath(weights)
    if weights == "imagenet":
        return True
    return os.path.isfile(weights) and weights.endswith((".pth", ".pt"))


def tv_units():
    """(torchvision BasicConv2d prefix, our layer name) for every convolution."""
    units = list(_TV_STEM.items())
    for m in INCEPTION_MODULES:
        units += [(f"inception{m}.{b}", f"inception_{m}_{ours}") for b, ours in _TV_BRANCHES.items()]
    units += [(f"aux{i}.conv", f"aux{i}_conv") for i in (1, 2)]
    return units


def convert_torchvision_state_dict(state):
    """torchvision's GoogLeNet state dict in our layout: `{layer name: [arrays]}`.

    Needs no PyTorch: a path is read with `zoo.core.torch_weights.read_state_dict` (tensors and
    ordered dictionaries only). Convolutions `(O, I, kh, kw)` become `(kh, kw, I, O)` kernels
    (no bias), each BN gives `[gamma, beta, moving_mean, moving_variance]`, linear layers
    `(out, in)` become `(in, out)` kernels; the auxiliary `fc1` rows are permuted from
    torchvision's channels-first flattening of the 4x4x128 map to Keras' channels-last one.

    Args:
        state: a path to a `.pth` file written by `torch.save(model.state_dict())` for
            `torchvision.models.googlenet` (with or without the auxiliary heads), or the
            `{name: array}` dictionary itself.

    Returns:
        `{layer name: list of arrays in the Keras layer's weight order}`.

    Example:
        >>> from zoo.models.googlenet import convert_torchvision_state_dict
        >>> # arrays = convert_torchvision_state_dict("googlenet-1378be20.pth")
        >>> # arrays["conv1_7x7_s2"][0].shape  ->  (7, 7, 3, 64)
    """
    if isinstance(state, (str, os.PathLike)):
        state = torch_weights.read_state_dict(state)
    state = {k: np.asarray(v) for k, v in state.items()}
    used, out = set(), {}

    def take(key):
        used.add(key)
        return state[key]

    for tv, ours in tv_units():
        if f"{tv}.conv.weight" not in state:
            if tv.startswith("aux"):
                continue
            raise _weights.WeightsMismatchError(f"The state dict has no {tv}.conv.weight.")
        out[ours] = [take(f"{tv}.conv.weight").transpose(2, 3, 1, 0)]
        out[f"{ours}_bn"] = [take(f"{tv}.bn.{n}") for n in ("weight", "bias", "running_mean",
                                                              "running_var")]
        used.add(f"{tv}.bn.num_batches_tracked")
    for i in (1, 2):
        if f"aux{i}.fc1.weight" in state:
            w = take(f"aux{i}.fc1.weight")
            w = w.reshape(w.shape[0], 128, 4, 4).transpose(2, 3, 1, 0).reshape(-1, w.shape[0])
            out[f"aux{i}_fc"] = [w, take(f"aux{i}.fc1.bias")]
            out[f"aux{i}_predictions"] = [take(f"aux{i}.fc2.weight").T, take(f"aux{i}.fc2.bias")]
    out["predictions"] = [take("fc.weight").T, take("fc.bias")]
    left = sorted(set(state) - used)
    if left:
        raise _weights.WeightsMismatchError(f"Unexpected entries in the state dict: {left[:5]}")
    return {k: [np.ascontiguousarray(a, dtype="float32") for a in v] for k, v in out.items()}


def _converted_imagenet(include_top):
    """The registered file, fetched (hash-checked) and converted once; cached as `.npz` with a
    sidecar `.json` holding its sha256 (checked before every use)."""
    path, prefix = _weights.resolve_weights("googlenet_torchvision", "imagenet", include_top)
    cached = os.path.join(_weights.cache_dir(),
                          f"googlenet_torchvision_imagenet_{prefix}.converted.npz")
    side = cached[: -len(".npz")] + ".json"
    if os.path.exists(cached) and os.path.exists(side):
        with open(side) as f:
            expected = json.load(f).get("sha256")
        if _weights.hash_of(cached) == expected:
            with np.load(cached) as z:
                arrays = {}
                for key in z.files:  # "<layer>/<index>"
                    layer, i = key.rsplit("/", 1)
                    arrays.setdefault(layer, {})[int(i)] = z[key]
            return {k: [v[i] for i in sorted(v)] for k, v in arrays.items()}
    arrays = convert_torchvision_state_dict(path)
    tmp = cached + ".tmp.npz"
    np.savez(tmp, **{f"{k}/{i}": a for k, v in arrays.items() for i, a in enumerate(v)})
    os.replace(tmp, cached)
    with open(side, "w") as f:
        json.dump({"sha256": _weights.hash_of(cached), "source_sha256": _weights.hash_of(path)},
                  f)
    return arrays


def load_torchvision_weights(model, weights, include_top=True):
    """Load torchvision GoogLeNet weights (`"imagenet"` or a `.pth` path) into `model`.

    All or nothing: every layer with weights must find arrays of its shapes (by layer name)
    before any is assigned. Records the `"tf"` preprocessing (`2x - 1`, see the module
    docstring) on the model, so exports normalise as the weights expect.
    """
    if os.fspath(weights) == "imagenet":
        arrays = _converted_imagenet(include_top)
    else:
        arrays = convert_torchvision_state_dict(weights)
    plan = []
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name not in arrays:
            raise _weights.WeightsMismatchError(
                f"Layer {layer.name!r} has no weights in the torchvision state dict.")
        new = arrays[layer.name]
        shapes = [tuple(v.shape) for v in layer.weights]
        if shapes != [a.shape for a in new]:
            raise _weights.WeightsMismatchError(
                f"Layer {layer.name!r}: the model has shapes {shapes}, the converted torchvision "
                f"weights {[a.shape for a in new]}.")
        plan.append((layer, new))
    for layer, new in plan:
        layer.set_weights(new)
    return _weights.set_preprocessing(model, "tf")
