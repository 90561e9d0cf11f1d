"""The preprocessing the weights were trained with travels with them (issue 12, point 3).

keras.applications' ImageNet weights carry theirs (a registered `WeightsSpec.preprocessing`); a zoo
training run carries its pipeline's (recorded on the model and in the `.zoo.json` beside the saved
`.keras`). So the export at the end of `zoo train`, `zoo export --keras-file` of the model it saved
and the best model of `zoo tune` all normalise as the weights were made, and a registered weights
file's preprocessing wins over the card's.

GoogLeNet is the image classifier that traces fastest (no batch normalization); its card's
preprocessing is zoo's pipeline's, so the registered-weights case gives it caffe-mode weights.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import _spawn

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from zoo import cli  # noqa: E402
from zoo.core import weights as zw  # noqa: E402
from zoo.core.registry import create_model, get_spec  # noqa: E402
from zoo.export import export_model  # noqa: E402
from zoo.tasks import task_for  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "googlenet"


def _zoo(cwd, *args):
    """`python -m zoo.cli ARGS` in a fresh process; a Popen (the caller waits)."""
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    return _spawn.Popen([sys.executable, "-m", "zoo.cli", *args], cwd=str(cwd), env=env,
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc, what, timeout=600):
    try:
        out = proc.communicate(timeout=timeout)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, f"{what} failed:\n{out[-4000:]}"
    return out


def _options(export_path):
    with open(os.path.join(export_path, "assets.extra", "signatures.json")) as f:
        return json.load(f)["options"]


def _serve(export_path, images):
    fn = tf.saved_model.load(str(export_path)).signatures["serving_default"]
    return fn(images=tf.constant(images))["probabilities"].numpy()


@pytest.mark.slow
def test_train_export_and_tune_record_the_pipelines_preprocessing(tmp_path):
    pipeline = task_for(NAME).pipeline_preprocessing
    assert pipeline == "symmetric"  # the digits pipeline scales pixels to [-1, 1]
    # (c) the search runs beside the training run (independent; separate export folders)
    tune = _zoo(tmp_path, "tune", NAME, "--tuner", "random", "--max-trials", "1",
                "--steps-per-epoch", "1", "--batch-size", "4", "--eval-examples", "8",
                "--set", "aux_logits=false", "--set", "batch_norm=false", "--directory", "tune",
                "--export-dir", "sm_tune")
    try:
        # (a) `zoo train` saves run/model.keras (+ its .zoo.json) and exports
        _finish(_zoo(tmp_path, "train", NAME, "--image-size", "32", "--epochs", "1",
                     "--steps-per-epoch", "1", "--batch-size", "4", "--jit-compile", "off",
                     "--run-dir", "run", "--export-dir", "sm_train", "--quiet"), "zoo train")
        with open(tmp_path / "run" / "summary.json") as f:
            summary = json.load(f)
        model_path = tmp_path / summary["model_path"]
        train_export = tmp_path / summary["export_path"]
        assert model_path == tmp_path / "run" / "model.keras"
        with open(f"{model_path}{zw.SIDECAR_SUFFIX}") as f:
            assert json.load(f)["preprocessing"] == pipeline
        # (b) `zoo export` of the saved model
        out = _finish(_zoo(tmp_path, "export", NAME, "--keras-file", str(model_path),
                           "--export-dir", "sm_export"), "zoo export")
        file_export = tmp_path / "sm_export" / NAME / "1"
        assert out.strip().splitlines()[-1] == os.path.join("sm_export", NAME, "1")
    finally:
        tune_out = _finish(tune, "zoo tune")
    assert "best model exported to" in tune_out
    tune_export = tmp_path / "sm_tune" / NAME / "1"

    # all three record the preprocessing the weights were trained with
    assert [_options(p).get("preprocessing") for p in (train_export, file_export, tune_export)] \
        == [pipeline] * 3
    # (a) and (b) are the same weights served the same way
    images = np.random.default_rng(0).integers(0, 256, size=(3, 40, 36, 3)).astype("uint8")
    got_train, got_file = _serve(train_export, images), _serve(file_export, images)
    np.testing.assert_array_equal(got_train, got_file)
    # and that way is the pipeline's: resized to the trained size, scaled to [-1, 1]
    model = zw.load_model(str(model_path))
    assert zw.preprocessing_of(model) == pipeline
    x = tf.image.resize(images.astype("float32"), (32, 32)).numpy() / 127.5 - 1.0
    np.testing.assert_allclose(got_train, np.asarray(model(x, training=False)), atol=1e-5)


@pytest.mark.slow
def test_registered_weights_preprocessing_wins_over_the_card(tmp_path, monkeypatch):
    """A registered weights file made with keras.applications' caffe mode (as ResNet v1's
    ImageNet files): a model built with it exports with "caffe", though GoogLeNet's card
    (zoo's pipeline) says "symmetric"; its saved copy carries it too."""
    kwargs = dict(classes=10)  # registered weights with the top: at the card's 224x224
    assert task_for(NAME).export_options(get_spec(NAME)) == {"preprocessing": "symmetric"}
    source = create_model(NAME, weights=None, **kwargs)
    cache = tmp_path / "keras_home" / "models"
    cache.mkdir(parents=True)
    file_name = "googlenet_tiny_caffe.weights.h5"
    source.save_weights(str(cache / file_name))
    # a fresh registry of weights (restored after the test), files cached under $KERAS_HOME
    monkeypatch.setattr(zw, "_WEIGHTS", dict(zw._WEIGHTS))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    zw.register_weights(zw.WeightsSpec(
        model=NAME, name="tiny_caffe", include_top=True, url="https://example.invalid/never-fetched",
        sha256=zw.sha256_of(str(cache / file_name)), file_name=file_name, classes=10,
        layout="keras_v3", preprocessing="caffe"))

    model = create_model(NAME, weights="tiny_caffe", **kwargs)  # from the cache, hash checked
    assert zw.preprocessing_of(model) == "caffe"
    for a, b in zip(model.weights, source.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    path = export_model(model, NAME, export_dir=str(tmp_path / "sm"))
    assert _options(path)["preprocessing"] == "caffe"
    images = np.random.default_rng(1).integers(0, 256, size=(2, 224, 224, 3)).astype("uint8")
    want = model(keras.applications.imagenet_utils.preprocess_input(
        images.astype("float32"), mode="caffe"), training=False)
    np.testing.assert_allclose(_serve(path, images), np.asarray(want), atol=1e-5)
    # saved by zoo, it keeps saying so: `zoo export --keras-file` reads it, not the card
    saved = zw.save_model(model, str(tmp_path / "caffe.keras"))
    assert zw.preprocessing_of(zw.load_model(saved)) == "caffe"
    assert cli.main(["export", NAME, "--keras-file", saved, "--export-dir", str(tmp_path / "sm")]) == 0
    assert _options(os.path.join(tmp_path, "sm", NAME, "2"))["preprocessing"] == "caffe"
