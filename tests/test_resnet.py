"""ResNet v1/v2 against keras.applications (the peer) and He et al. 2015, Table 1."""

import inspect
import re

import h5py
import keras
import numpy as np
import pytest

import zoo
from zoo.core import weights as zw
from zoo.models import resnet as zoo_resnet

PEERS = {
    "resnet50": "ResNet50",
    "resnet101": "ResNet101",
    "resnet152": "ResNet152",
    "resnet50v2": "ResNet50V2",
    "resnet101v2": "ResNet101V2",
    "resnet152v2": "ResNet152V2",
}


def _peer(name, **kw):
    keras.backend.clear_session(free_memory=False)  # keras.applications leaves some layers unnamed
    return getattr(keras.applications, PEERS[name])(weights=None, **kw)


def _perturb(model, seed=1):
    """Move every weight away from its initial value, BN statistics included."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        a = keras.ops.convert_to_numpy(v)
        if "variance" in v.path or v.path.endswith("gamma"):
            a = rng.uniform(0.8, 1.2, a.shape)
        elif a.ndim == 1:
            a = rng.normal(0.0, 0.1, a.shape)
        else:
            a = a * rng.uniform(0.5, 1.5, a.shape)
        v.assign(a.astype("float32"))


def _save_legacy(model, path):
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


def _snapshot(model):
    return [keras.ops.convert_to_numpy(v).copy() for v in model.weights]


def _assert_unchanged(model, snap):
    for v, a in zip(model.weights, snap):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(v), a, err_msg=v.path)


@pytest.mark.parametrize("name", sorted(PEERS))
def test_same_network_as_keras_applications(name):
    """Same parameter count, layer names, layer classes and weight shapes in the same order."""
    peer = _peer(name, input_shape=(32, 32, 3))
    keras.backend.clear_session(free_memory=False)
    ours = zoo.create_model(name, input_shape=(32, 32, 3))
    assert ours.count_params() == peer.count_params()
    assert [l.name for l in ours.layers] == [l.name for l in peer.layers]
    assert [type(l) for l in ours.layers] == [type(l) for l in peer.layers]
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in peer.weights]
    if name == "resnet50":
        assert ours.count_params() == 25_636_712


def _out(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def test_resnet50_weights_from_keras_applications_give_same_outputs(tmp_path):
    """A `.weights.h5` file and the legacy HDF5 layout, with top; the legacy layout without top.

    Every weight of the peer (BN statistics included) is moved to a random value first, so a
    weight that did not load shows in the outputs.
    """
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    x = zoo_resnet.preprocess_input(x)
    peer = _peer("resnet50", input_shape=(32, 32, 3), classifier_activation=None)
    _perturb(peer)
    expected = _out(peer, x)
    peer.save_weights(str(tmp_path / "r50.weights.h5"))
    _save_legacy(peer, str(tmp_path / "r50_legacy.h5"))
    del peer
    for path in ("r50.weights.h5", "r50_legacy.h5"):
        ours = zoo.resnet50(weights=str(tmp_path / path), input_shape=(32, 32, 3),
                            classifier_activation=None)
        np.testing.assert_allclose(_out(ours, x), expected, atol=1e-5, rtol=1e-5, err_msg=path)

    peer = _peer("resnet50", include_top=False, pooling="avg", input_shape=(32, 32, 3))
    _perturb(peer, seed=2)
    expected = _out(peer, x)
    _save_legacy(peer, str(tmp_path / "r50_notop.h5"))
    ours = zoo.resnet50(weights=str(tmp_path / "r50_notop.h5"), include_top=False,
                        pooling="avg", input_shape=(32, 32, 3))
    np.testing.assert_allclose(_out(ours, x), expected, atol=1e-5, rtol=1e-5)


def test_resnet50v2_legacy_weights_give_same_outputs(tmp_path):
    x = np.random.default_rng(3).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    peer = _peer("resnet50v2", include_top=False, input_shape=(32, 32, 3))
    _perturb(peer)
    expected = _out(peer, x)
    _save_legacy(peer, str(tmp_path / "r50v2_notop.h5"))
    ours = zoo.resnet50v2(weights=str(tmp_path / "r50v2_notop.h5"), include_top=False,
                          input_shape=(32, 32, 3))
    np.testing.assert_allclose(_out(ours, x), expected, atol=1e-5, rtol=1e-5)


def test_resnet101_weights_do_not_fit_resnet50(tmp_path):
    peer = _peer("resnet101", include_top=False, input_shape=(32, 32, 3))
    path = str(tmp_path / "r101.weights.h5")
    peer.save_weights(path)
    model = zoo.resnet50(include_top=False, input_shape=(32, 32, 3))
    snap = _snapshot(model)
    with pytest.raises(zw.WeightsMismatchError) as err:
        zw.load_weights(model, path)
    msg = str(err.value)
    # The first layer that differs: conv5_block1 of ResNet-50 meets conv4_block7 of ResNet-101.
    assert "'conv5_block1_1_conv'" in msg, msg
    assert "(1, 1, 1024, 512)" in msg and "(1, 1, 1024, 256)" in msg, msg
    _assert_unchanged(model, snap)


@pytest.fixture(scope="module")
def classes_10_and_5():
    """A 10-class peer ResNet-50 and ours with 5 classes, built once for both layouts: the peer
    is only saved, and ours must come out of each failed load unchanged (each test checks)."""
    peer = _peer("resnet50", input_shape=(32, 32, 3), classes=10)
    return peer, zoo.resnet50(input_shape=(32, 32, 3), classes=5)


@pytest.mark.parametrize("layout", ["keras_v3", "legacy_h5"])
def test_classes_mismatch_names_predictions_and_loads_nothing(tmp_path, layout, classes_10_and_5):
    peer, model = classes_10_and_5
    path = str(tmp_path / ("r50.weights.h5" if layout == "keras_v3" else "r50.h5"))
    if layout == "keras_v3":
        peer.save_weights(path)
    else:
        _save_legacy(peer, path)
    snap = _snapshot(model)
    with pytest.raises(zw.WeightsMismatchError) as err:
        zw.load_weights(model, path)
    msg = str(err.value)
    assert "'predictions'" in msg and "(2048, 5)" in msg and "(2048, 10)" in msg, msg
    _assert_unchanged(model, snap)
    if layout == "keras_v3":  # and through the builder
        with pytest.raises(zw.WeightsMismatchError, match="predictions"):
            zoo.resnet50(weights=path, input_shape=(32, 32, 3), classes=5)


@pytest.mark.parametrize("name,paper_macs,docs_macs", [
    ("resnet50", 3.8e9, 3.86e9), ("resnet101", 7.6e9, 7.57e9), ("resnet152", 11.3e9, 11.28e9),
])
def test_model_card_macs_match_paper_table_1(name, paper_macs, docs_macs):
    """The card's multiply-adds are docs/image.md's figures (to their digits) and within 1.6% of
    the paper's two-digit ones (ResNet-50: +1.5%, 101: -0.4%, 152: -0.2%)."""
    card = zoo.model_card(name)
    assert card["input_shape"] == (224, 224, 3)
    assert abs(card["macs"] - paper_macs) / paper_macs < 0.016, card["macs"]
    assert abs(card["macs"] - docs_macs) <= 0.005e9, card["macs"]
    assert card["params"] == _peer_params(name)
    assert set(card["weights"]["imagenet"]) == {"include_top", "no_top"}


def _peer_params(name):
    # keras.applications' parameter counts with the 1000-class top (keras.io/api/applications)
    return {"resnet50": 25_636_712, "resnet101": 44_707_176, "resnet152": 60_419_944}[name]


def test_imagenet_files_are_keras_applications_files():
    """Same URLs and the same (md5) hashes as keras.applications."""
    from keras.src.applications import resnet as peer_resnet

    for name in PEERS:
        for top, h in zip((True, False), peer_resnet.WEIGHTS_HASHES[name]):
            spec = zw._WEIGHTS[(name, "imagenet", top)]
            suffix = "" if top else "_notop"
            file_name = f"{name}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
            assert spec.file_name == file_name
            assert spec.url == peer_resnet.BASE_WEIGHTS_PATH + file_name
            assert (spec.file_hash, spec.hash_algorithm) == (h, "md5")
            assert spec.layout == "legacy_h5" and spec.classes == (1000 if top else None)


@pytest.mark.parametrize("kwargs,arg", [
    ({"classes": 0}, "classes"),
    ({"input_shape": (16, 16, 3)}, "input_shape"),
    ({"input_shape": (32, 31, 3), "include_top": False}, "input_shape"),
    ({"pooling": "mean", "include_top": False}, "pooling"),
    ({"weights": "no-such-weights"}, "weights"),
    ({"weights": "imagenet", "classes": 10}, "classes"),
    ({"weights": "imagenet", "input_shape": (64, 64, 3)}, "input_shape"),
    ({"weights": "imagenet", "classifier_activation": "sigmoid"}, "classifier_activation"),
])
def test_invalid_arguments_raise_before_building(monkeypatch, kwargs, arg):
    monkeypatch.setattr(zoo_resnet, "layers", None)  # building any layer would fail differently
    for builder in (zoo.resnet50, zoo.resnet101v2):
        with pytest.raises(ValueError, match=f"{arg}=") as err:
            builder(**kwargs)
        assert "Received" in str(err.value)


def test_preprocess_input_is_keras_applications():
    x = np.random.default_rng(0).uniform(0, 255, (1, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(
        zoo_resnet.preprocess_input(x.copy()),
        keras.applications.resnet.preprocess_input(x.copy()),
    )
    np.testing.assert_allclose(
        zoo_resnet.preprocess_input(x.copy(), version=2),
        keras.applications.resnet_v2.preprocess_input(x.copy()),
    )


def test_docstrings_name_the_paper():
    for name in PEERS:
        doc = inspect.getdoc(getattr(zoo, name))
        assert re.search(r"arXiv:1(512\.03385|603\.05027)", doc), name
        assert "Example:" in doc
