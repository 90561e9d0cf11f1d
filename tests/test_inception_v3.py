"""Inception v3 against keras.applications.InceptionV3 (the peer)."""

import inspect
import re

import h5py
import keras
import numpy as np
import pytest

import zoo
from zoo.core import weights as zw
from zoo.models import inception as zoo_inception


def _peer(**kw):
    keras.backend.clear_session(free_memory=False)  # its layers are auto-named: compare in a fresh session
    return keras.applications.InceptionV3(weights=None, **kw)


def _out(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def _perturb(model, seed=1):
    rng = np.random.default_rng(seed)
    for v in model.weights:
        a = keras.ops.convert_to_numpy(v)
        if "variance" in v.path:
            a = rng.uniform(0.8, 1.2, a.shape)
        elif a.ndim == 1:
            a = rng.normal(0.0, 0.1, a.shape)
        else:
            a = a * rng.uniform(0.5, 1.5, a.shape)
        v.assign(a.astype("float32"))


def test_same_network_and_names_as_keras_applications():
    peer = _peer()
    keras.backend.clear_session(free_memory=False)
    ours = zoo.inception_v3()
    assert ours.count_params() == peer.count_params() == 23_851_784
    assert [l.name for l in ours.layers] == [l.name for l in peer.layers]
    assert [type(l) for l in ours.layers] == [type(l) for l in peer.layers]
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in peer.weights]
    assert ours.output.shape == (None, 1000)
    # the module outputs of the paper's Figure/Table 1 grid: 35x35x288, 17x17x768, 8x8x2048
    shapes = {l.name: tuple(l.output.shape[1:]) for l in ours.layers if l.name.startswith("mixed")}
    assert shapes["mixed2"] == (35, 35, 288)
    assert shapes["mixed7"] == (17, 17, 768)
    assert shapes["mixed10"] == (8, 8, 2048)


def test_weights_from_keras_applications_give_same_outputs(tmp_path):
    """Legacy HDF5 layout with top (at 75x75: the top follows a global pool) and `.weights.h5`
    without top; every peer weight moved to a random value first."""
    from keras.src.legacy.saving import legacy_h5_format

    x = np.random.default_rng(0).uniform(0, 255, (2, 75, 75, 3)).astype("float32")
    x = zoo_inception.preprocess_input(x)
    peer = _peer(input_shape=(75, 75, 3), classifier_activation=None)
    _perturb(peer)
    expected = _out(peer, x)
    path = str(tmp_path / "inception_v3.h5")
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, peer)
    top_layer_weights = [w.path for w in peer.layers[-1].weights]
    no_top = keras.Model(peer.input, peer.get_layer("mixed10").output)
    no_top.save_weights(str(tmp_path / "inception_v3_notop.weights.h5"))
    expected_no_top = _out(no_top, x)
    del peer, no_top

    ours = zoo.inception_v3(weights=path, input_shape=(75, 75, 3), classifier_activation=None)
    np.testing.assert_allclose(_out(ours, x), expected, atol=1e-5, rtol=1e-5)
    assert len(top_layer_weights) == 2

    ours = zoo.inception_v3(weights=str(tmp_path / "inception_v3_notop.weights.h5"),
                            include_top=False, input_shape=(75, 75, 3))
    np.testing.assert_allclose(_out(ours, x), expected_no_top, atol=1e-5, rtol=1e-5)


def test_imagenet_files_are_keras_applications_files():
    from keras.src.applications import inception_v3 as peer_module

    source = inspect.getsource(peer_module.InceptionV3)
    md5s = re.findall(r'file_hash="([0-9a-f]{32})"', source)
    top = zw._WEIGHTS[("inception_v3", "imagenet", True)]
    no_top = zw._WEIGHTS[("inception_v3", "imagenet", False)]
    assert (top.url, no_top.url) == (peer_module.WEIGHTS_PATH, peer_module.WEIGHTS_PATH_NO_TOP)
    assert [top.file_hash, no_top.file_hash] == md5s
    assert top.hash_algorithm == no_top.hash_algorithm == "md5"


@pytest.mark.parametrize("kwargs,arg", [
    ({"input_shape": (74, 74, 3), "include_top": False}, "input_shape"),
    ({"classes": 0}, "classes"),
    ({"pooling": "mean", "include_top": False}, "pooling"),
])
def test_invalid_arguments_raise_before_building(monkeypatch, kwargs, arg):
    monkeypatch.setattr(zoo_inception, "layers", None)
    with pytest.raises(ValueError, match=f"{arg}="):
        zoo.inception_v3(**kwargs)

