"""GoogLeNet's ceil-mode pooling, the PyTorch-free torch reader and torchvision weights (issue 17).

The converter is checked against a state dict written by real torchvision and torchvision's own
outputs, committed under tests/data/googlenet_torchvision/ (made once by
tools/make_torchvision_googlenet_fixture.py; no PyTorch needed here). The comparison at full size
(which needs PyTorch) is benchmarks/googlenet_torchvision.py; its figures are in
docs/googlenet_gated.md.
"""

import hashlib
import lzma
import math
import os
import pickle
import zipfile

import numpy as np
import pytest

from zoo.core import weights as zw
from zoo.core.torch_weights import UnsafeTorchFileError, read_state_dict, write_state_dict
from zoo.models import googlenet as g
from zoo.models import googlenet_torch as gt

POOLS3 = ("pool1_3x3_s2", "pool2_3x3_s2", "pool3_3x3_s2")


def _ceil_out(n, k=3, s=2):
    out = math.ceil((n - k) / s) + 1
    return out - 1 if (out - 1) * s >= n else out  # PyTorch: the last window starts inside


def _expected_grid(n, torchvision):
    side = (n + 6 - 7) // 2 + 1  # conv1 7x7/2, padding 3
    sides = {}
    for name in POOLS3:
        side = sides[name] = _ceil_out(side)
    sides["pool4"] = _ceil_out(side, 2, 2) if torchvision else _ceil_out(side)
    return sides


@pytest.mark.parametrize("variant,sides", [
    ("torchvision", (65, 96, 224, 225, 299)), ("paper", (79, 224, 225, 299)),
])
def test_pool_grids_follow_ceil_mode(variant, sides):
    for n in sides:
        build = g.googlenet_torchvision if variant == "torchvision" else g.googlenet
        model = build(include_top=False, input_shape=(n, n, 3), aux_logits=False)
        want = _expected_grid(n, variant == "torchvision")
        pool4 = "pool4_2x2_s2" if variant == "torchvision" else "pool4_3x3_s2"
        got = {k: model.get_layer(k).output.shape[1:3] for k in POOLS3}
        got["pool4"] = model.get_layer(pool4).output.shape[1:3]
        assert got == {k: (v, v) for k, v in want.items()}, n


def test_ceil_pool_equals_numpy_ceil_mode():
    import keras

    x = np.random.default_rng(0).random((1, 9, 10, 2)).astype("float32")  # >= 0, as after ReLU
    inp = keras.Input((9, 10, 2))
    y = keras.ops.convert_to_numpy(keras.Model(inp, g.ceil_max_pool(inp, "p"))(x))
    ref = np.zeros((1, _ceil_out(9), _ceil_out(10), 2), "float32")
    for i in range(ref.shape[1]):
        for j in range(ref.shape[2]):
            ref[0, i, j] = x[0, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max(axis=(0, 1))
    np.testing.assert_array_equal(y, ref)


def test_reader_refuses_other_globals(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo refused-or-not",))

    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"x": Evil()}, protocol=2))
    with pytest.raises(UnsafeTorchFileError, match=r"system"):
        read_state_dict(path)


def test_writer_reader_roundtrip(tmp_path):
    rng = np.random.default_rng(1)
    state = {"w": rng.random((3, 4, 5)).astype("float32"), "n": np.array(7, "int64"),
             "b": rng.random(4)}
    write_state_dict(tmp_path / "s.pth", state)
    back = read_state_dict(tmp_path / "s.pth")
    assert list(back) == list(state)
    for k in state:
        assert back[k].dtype == state[k].dtype and np.array_equal(back[k], state[k])


def _torchvision_state(model):
    """Our model's weights in torchvision's state-dict layout (names, shapes, flattening)."""
    state = {}
    for tv, ours in gt.tv_units():
        if ours not in [layer.name for layer in model.layers]:
            continue
        (k,) = model.get_layer(ours).get_weights()
        state[f"{tv}.conv.weight"] = k.transpose(3, 2, 0, 1)
        for n, a in zip(("weight", "bias", "running_mean", "running_var"),
                        model.get_layer(f"{ours}_bn").get_weights()):
            state[f"{tv}.bn.{n}"] = a
        state[f"{tv}.bn.num_batches_tracked"] = np.array(0, "int64")
    for i in (1, 2):
        w, b = model.get_layer(f"aux{i}_fc").get_weights()
        state[f"aux{i}.fc1.weight"] = w.reshape(4, 4, 128, -1).transpose(3, 2, 0, 1).reshape(
            w.shape[1], -1)
        state[f"aux{i}.fc1.bias"] = b
        w, b = model.get_layer(f"aux{i}_predictions").get_weights()
        state[f"aux{i}.fc2.weight"], state[f"aux{i}.fc2.bias"] = w.T, b
    w, b = model.get_layer("predictions").get_weights()
    state["fc.weight"], state["fc.bias"] = w.T, b
    return state


def _randomise(model, seed=0):
    rng = np.random.default_rng(seed)
    for v in model.weights:
        shape = tuple(v.shape)
        v.assign(rng.uniform(0.5, 1.5, shape) if "variance" in v.path
                 else rng.normal(0, 0.05, shape))


TV_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "googlenet_torchvision")


def _real_torchvision_file(tmp_path):
    """The state dict that torch.save wrote for torchvision's GoogLeNet (10 classes, auxiliary
    heads; tools/make_torchvision_googlenet_fixture.py), decompressed, and torchvision's outputs."""
    path = tmp_path / "googlenet_tv.pth"
    with lzma.open(os.path.join(TV_DATA, "state_dict.pth.xz")) as f:
        path.write_bytes(f.read())
    with np.load(os.path.join(TV_DATA, "outputs.npz")) as z:
        return path, {k: z[k] for k in z.files}


def test_torchvision_file_loads_and_matches(tmp_path):
    """A file written by real torchvision (not by our writer with our name table) loads through
    the converter, and the model gives torchvision's own outputs, auxiliary heads included."""
    path, ref = _real_torchvision_file(tmp_path)
    assert ref["torch_version"].item() and ref["torchvision_version"].item()  # recorded
    side = ref["image"].shape[1]
    model = g.googlenet_torchvision(classes=10, input_shape=(side, side, 3), aux_logits=True,
                                    classifier_activation=None, weights=str(path))
    assert zw.preprocessing_of(model) == "tf"
    x = ref["image"].astype("float32") / np.float32(127.5) - np.float32(1.0)
    got = dict(zip(model.output_names, model(x, training=False)))
    assert sorted(got) == ["aux1_predictions", "aux2_predictions", "predictions"], sorted(got)
    for ours, theirs in (("predictions", "logits"), ("aux1_predictions", "aux1"),
                         ("aux2_predictions", "aux2")):
        want = ref[theirs]
        assert np.abs(want).max() > 0.5 and want.std() > 0.1, theirs  # not a trivial output
        np.testing.assert_allclose(np.asarray(got[ours]), want, rtol=0,
                                   atol=1e-4 * np.abs(want).max(), err_msg=ours)
    # Without the top, the same file loads (the classifier entries are simply not used).
    g.googlenet_torchvision(include_top=False, input_shape=(side, side, 3), weights=str(path))
    # A state dict of another layout is refused before any layer changes.
    state = read_state_dict(path)
    del state["inception3a.branch1.conv.weight"]
    write_state_dict(tmp_path / "bad.pth", state)
    before = [np.asarray(w) for w in model.weights]
    with pytest.raises(zw.WeightsMismatchError, match="inception3a.branch1"):
        gt.load_torchvision_weights(model, str(tmp_path / "bad.pth"))
    for a, b in zip(before, model.weights):
        np.testing.assert_array_equal(a, np.asarray(b))


def test_imagenet_uses_hash_prefix_and_caches_conversion(tmp_path, monkeypatch):
    src = g.googlenet_torchvision(input_shape=(32, 32, 3), aux_logits=True)
    _randomise(src, 3)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    os.makedirs(zw.cache_dir())
    path = os.path.join(zw.cache_dir(), "fake.pth")
    write_state_dict(path, _torchvision_state(src))
    prefix = hashlib.sha256(open(path, "rb").read()).hexdigest()[:8]
    for top in (True, False):
        spec = zw._WEIGHTS[("googlenet_torchvision", "imagenet", top)]
        monkeypatch.setitem(zw._WEIGHTS, ("googlenet_torchvision", "imagenet", top),
                            spec.__class__(**{**spec.__dict__, "file_hash": prefix,
                                              "file_name": "fake.pth", "url": "http://invalid/"}))
    model = g.googlenet_torchvision(weights="imagenet", input_shape=(32, 32, 3))
    np.testing.assert_array_equal(np.asarray(model.get_layer("predictions").kernel),
                                  np.asarray(src.get_layer("predictions").kernel))
    cached = [f for f in os.listdir(zw.cache_dir()) if f.endswith(".converted.npz")]
    assert cached, os.listdir(zw.cache_dir())
    g.googlenet_torchvision(weights="imagenet", input_shape=(32, 32, 3))  # from the cache
    with open(path, "ab") as f:
        f.write(b"tampered")
    with pytest.raises(ValueError, match="sha256_prefix"):
        zw.resolve_weights("googlenet_torchvision", "imagenet", True)


def test_imagenet_registered_with_torchvision_hash_and_preprocessing():
    spec = zw._WEIGHTS[("googlenet_torchvision", "imagenet", True)]
    assert spec.url == "https://download.pytorch.org/models/googlenet-1378be20.pth"
    assert (spec.hash_algorithm, spec.file_hash, spec.preprocessing) == ("sha256_prefix", "1378be20", "tf")
    x = np.array([[[[0.0, 127.5, 255.0]]]])
    np.testing.assert_allclose(g.preprocess_input(x), [[[[-1.0, 0.0, 1.0]]]])
    with pytest.raises(ValueError):
        g.googlenet(weights="imagenet")
