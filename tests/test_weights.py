"""zoo.core.weights: registered names offline (cache in $KERAS_HOME/models, md5/sha256 checks), and
files that do not fit failing before anything is loaded. Never touches the network."""

import dataclasses
import hashlib
import os

import h5py
import keras
import numpy as np
import pytest

import zoo
from zoo.core import weights as zw

TINY = "zoo_test_tiny"


def _tiny(n_conv=2, classes=3):
    inputs = keras.Input((8, 8, 3))
    x = inputs
    for i in range(n_conv):
        x = keras.layers.Conv2D(4, 3, padding="same", name=f"conv{i}")(x)
        x = keras.layers.BatchNormalization(name=f"bn{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dense(classes, name="predictions")(x)
    return keras.Model(inputs, x)


def _randomize(model, seed):
    rng = np.random.default_rng(seed)
    for v in model.weights:
        v.assign(rng.uniform(0.5, 1.5, tuple(v.shape)).astype("float32"))


def _values(model):
    return [keras.ops.convert_to_numpy(v).copy() for v in model.weights]


def _save_legacy(model, path):
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


def _digest(path, algorithm):
    return hashlib.new(algorithm, open(path, "rb").read()).hexdigest()


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """KERAS_HOME in a temporary folder, and keras.utils.get_file failing like a machine offline."""
    home = tmp_path / "keras_home"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(home))
    calls = []

    def no_network(*args, **kwargs):
        calls.append((args, kwargs))
        raise OSError("network is unreachable")

    monkeypatch.setattr(keras.utils, "get_file", no_network)
    return home / "models", calls


def _register_tiny(monkeypatch, file_name, file_hash, algorithm):
    spec = zw.WeightsSpec(
        model=TINY, name="test", include_top=True, url="https://example.invalid/" + file_name,
        file_hash=file_hash, file_name=file_name, classes=3, hash_algorithm=algorithm,
    )
    monkeypatch.setitem(zw._WEIGHTS, (TINY, "test", True), spec)
    return spec


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_cached_registered_file_is_used_offline(offline, monkeypatch, algorithm):
    cache, calls = offline
    source = _tiny()
    _randomize(source, 1)
    path = str(cache / "tiny.h5")
    _save_legacy(source, path)
    _register_tiny(monkeypatch, "tiny.h5", _digest(path, algorithm), algorithm)

    model = _tiny()
    zw.load_weights(model, "test", model_name=TINY)
    for a, b in zip(_values(model), _values(source)):
        np.testing.assert_array_equal(a, b)
    assert calls == []  # no download attempted


def test_a_local_file_named_like_registered_weights_does_not_replace_them(offline, monkeypatch,
                                                                         tmp_path):
    """`weights="test"` is the registered, hash-checked file even when the current folder holds a
    file called `test` (other weights); `./test` is that file."""
    cache, calls = offline
    source, other = _tiny(), _tiny()
    _randomize(source, 1)
    _randomize(other, 2)
    path = str(cache / "tiny.h5")
    _save_legacy(source, path)
    _register_tiny(monkeypatch, "tiny.h5", _digest(path, "sha256"), "sha256")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    _save_legacy(other, "test")
    assert not zw.is_weights_path(TINY, "test") and zw.is_weights_path(TINY, "./test")
    model = _tiny()
    zw.load_weights(model, "test", model_name=TINY)
    for a, b in zip(_values(model), _values(source)):
        np.testing.assert_array_equal(a, b)
    zw.load_weights(model, "./test", model_name=TINY)
    for a, b in zip(_values(model), _values(other)):
        np.testing.assert_array_equal(a, b)
    assert calls == []


def test_cached_file_with_wrong_hash_fails_and_loads_nothing(offline, monkeypatch):
    cache, calls = offline
    source = _tiny()
    _randomize(source, 1)
    path = str(cache / "tiny.h5")
    _save_legacy(source, path)
    _register_tiny(monkeypatch, "tiny.h5", "0" * 32, "md5")
    model = _tiny()
    before = _values(model)
    with pytest.raises(ValueError, match="md5") as err:
        zw.load_weights(model, "test", model_name=TINY)
    assert path in str(err.value) and _digest(path, "md5") in str(err.value)
    for a, b in zip(_values(model), before):
        np.testing.assert_array_equal(a, b)
    assert calls == []


def test_missing_imagenet_file_offline_says_where_to_put_it(offline):
    cache, calls = offline
    expected = os.path.join(str(cache), "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5")
    with pytest.raises(RuntimeError) as err:
        zoo.resnet50(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    msg = str(err.value)
    assert expected in msg and "4d473c1dd8becc155b73f8504c6f6626" in msg, msg
    # It asked keras.utils.get_file for keras.applications' file, md5-checked, in $KERAS_HOME.
    (args, kwargs), = calls
    assert args[0] == "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert args[1] == ("https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
                       "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5")
    assert kwargs["file_hash"] == "4d473c1dd8becc155b73f8504c6f6626"
    assert kwargs["hash_algorithm"] == "md5"
    assert kwargs["cache_subdir"] == "models"
    assert os.path.join(kwargs["cache_dir"], "models") == str(cache)


def test_imagenet_name_loads_a_cached_keras_applications_file(offline, monkeypatch):
    """The whole `weights="imagenet"` path, on a file laid out like keras.applications' own."""
    cache, calls = offline
    keras.backend.clear_session(free_memory=False)
    peer = keras.applications.ResNet50V2(weights=None, include_top=False, input_shape=(32, 32, 3))
    _randomize(peer, 3)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(peer(x, training=False))
    path = str(cache / "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5")
    _save_legacy(peer, path)
    key = ("resnet50v2", "imagenet", False)
    zoo.get_spec("resnet50v2")  # imports the family module, which registers its weights
    monkeypatch.setitem(zw._WEIGHTS, key, dataclasses.replace(
        zw._WEIGHTS[key], file_hash=_digest(path, "md5")))  # our file stands in for ImageNet's
    ours = zoo.resnet50v2(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(x, training=False)), expected,
                               rtol=1e-5, atol=1e-5)
    assert calls == []


@pytest.mark.parametrize("layout", ["keras_v3", "legacy_h5"])
@pytest.mark.parametrize("n_file,n_model", [(3, 2), (2, 3)])
def test_file_with_more_or_fewer_layers_fails_and_loads_nothing(tmp_path, layout, n_file, n_model):
    """Keras 3.15's own `load_weights` loads a `.weights.h5` with extra layers silently (the
    extra ones are ignored) and half-loads one with fewer; zoo refuses both before assigning."""
    source = _tiny(n_conv=n_file)
    _randomize(source, 1)
    path = str(tmp_path / ("w.weights.h5" if layout == "keras_v3" else "w.h5"))
    if layout == "keras_v3":
        source.save_weights(path)
    else:
        _save_legacy(source, path)
    model = _tiny(n_conv=n_model)
    before = _values(model)
    with pytest.raises(zw.WeightsMismatchError) as err:
        zw.load_weights(model, path)
    msg = str(err.value)
    assert "No weights were loaded" in msg
    if layout == "keras_v3":
        # Keras matches a Functional model's layers by class and order: conv2d, conv2d_1, ...
        # One file layer more or fewer shows up as the file's or the model's third conv/BN.
        assert "conv2d_2" in msg or "batch_normalization_2" in msg or "'conv2'" in msg, msg
    elif n_file > n_model:
        # the legacy layout is read in order: the model's `predictions` meets the file's conv2
        assert "'predictions'" in msg and "'conv2'" in msg, msg
    else:
        assert "'conv2'" in msg, msg
    for a, b in zip(_values(model), before):
        np.testing.assert_array_equal(a, b)


def test_keras_itself_loads_the_extra_layer_file_silently(tmp_path):
    """Why zoo checks first: what Keras 3 does with a file that has an extra layer."""
    source = _tiny(n_conv=3)
    _randomize(source, 1)
    path = str(tmp_path / "w.weights.h5")
    source.save_weights(path)
    model = _tiny(n_conv=2)
    model.load_weights(path)  # no error from Keras
    # what it loaded: the two convolutions and batch norms the file shares with the model, by
    # class and order, and the head (the file's third conv/BN ignored): every weight changed
    names = [v.path for v in model.weights]
    wanted = {v.path: keras.ops.convert_to_numpy(v) for v in source.weights
              if not v.path.startswith(("conv2/", "bn2/"))}
    assert sorted(names) == sorted(wanted)
    for v in model.weights:
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(v), wanted[v.path])


def test_shape_mismatch_names_layer_and_both_shapes(tmp_path):
    source = _tiny(classes=5)
    path = str(tmp_path / "w.weights.h5")
    source.save_weights(path)
    model = _tiny(classes=3)
    before = _values(model)
    with pytest.raises(zw.WeightsMismatchError) as err:
        zw.load_weights(model, path)
    msg = str(err.value)
    assert "'predictions'" in msg and "(4, 3)" in msg and "(4, 5)" in msg, msg
    for a, b in zip(_values(model), before):
        np.testing.assert_array_equal(a, b)


def test_weights_spec_hash_algorithm_is_checked():
    with pytest.raises(ValueError, match="hash_algorithm="):
        zw.register_weights(zw.WeightsSpec(
            model=TINY, name="x", include_top=True, url="u", file_hash="0", file_name="f",
            hash_algorithm="crc32"))
    card = zw.registered_weights("resnet50")
    assert card["imagenet"]["include_top"] == "md5:2cb95161c43110f7111970584f804107"


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_a_garbled_file_written_by_zoo_is_refused_naming_it(tmp_path, suffix):
    """2,000 bytes garbled in the middle of a file zoo wrote: Keras would load the `.weights.h5`
    silently (other weights); zoo checks the sha256 its sidecar recorded and loads nothing."""
    source = _tiny()
    _randomize(source, 1)
    path = zw.save_model(source, str(tmp_path / ("w" + suffix)))
    side = zw.read_sidecar(path)
    assert side["sha256"] == _digest(path, "sha256")
    model = _tiny()
    if suffix == ".weights.h5":  # intact: loads, every weight equal
        zw.load_weights(model, path)
        for a, b in zip(_values(model), _values(source)):
            np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_array_equal(_values(zw.load_model(path))[0], _values(source)[0])
    data = bytearray(open(path, "rb").read())
    middle = len(data) // 2
    data[middle : middle + 2000] = np.random.default_rng(0).integers(0, 256, 2000, "uint8").tobytes()
    open(path, "wb").write(bytes(data))
    fresh = _tiny()
    before = _values(fresh)
    with pytest.raises(ValueError, match="is damaged or was changed") as err:
        if suffix == ".weights.h5":
            zw.load_weights(fresh, path)
        else:
            zw.load_model(path)
    assert path in str(err.value)
    for a, b in zip(_values(fresh), before):
        np.testing.assert_array_equal(a, b)
