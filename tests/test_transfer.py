"""Fine-tuning (issue 28, docs/transfer_learning.md): `zoo train NAME --weights ...` and
`zoo.train.finetune.fine_tune` load the backbone of a registered name, a file or an earlier run,
make a head of another class count new, and train the head on the frozen backbone before every
layer."""

import json
import os

import numpy as np
import pytest

IMAGE = 16


def _tiny_cnn(input_shape, classes, include_top=True):
    import keras
    from keras import layers

    top = [layers.Dense(classes, activation="softmax", name="predictions")] if include_top else []
    return keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(16, 3, padding="same"), layers.BatchNormalization(), layers.ReLU(),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, padding="same"), layers.BatchNormalization(), layers.ReLU(),
        layers.GlobalAveragePooling2D(), *top,
    ], name="tiny_transfer_cnn")


@pytest.fixture
def tiny_model():
    """A registered tiny image classifier that loads `weights` as the ResNets do."""
    from zoo.core import registry
    from zoo.core.weights import load_weights

    @registry.register_model(family="resnet", task="image_classification", paper="test",
                             input_shape=(IMAGE, IMAGE, 3))
    def _test_transfer_cnn(include_top=True, weights=None, input_shape=None, classes=1000,
                           classifier_activation="softmax"):
        model = _tiny_cnn(input_shape or (IMAGE, IMAGE, 3), classes, include_top)
        if weights is not None:
            load_weights(model, weights, model_name="_test_transfer_cnn", include_top=include_top)
        return model

    yield "_test_transfer_cnn"
    registry._REGISTRY.pop("_test_transfer_cnn", None)


def _write_folder(root, images, labels, names):
    import tensorflow as tf

    for name in names:
        os.makedirs(os.path.join(root, name), exist_ok=True)
    for i, (img, label) in enumerate(zip(images, labels)):
        png = tf.io.encode_png(np.asarray(img, np.uint8)[..., None])
        tf.io.write_file(os.path.join(root, names[label], f"{i}.png"), png)
    return str(root)


DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _folders(tmp_path, shots=3):
    """A 10-class folder (the digits' training split: the pretraining task) and a 3-class one:
    `shots` threes, fives and eights of the digits' test split (never seen in pretraining) in
    `train/`, the others (about 100) in `test/`."""
    from zoo.data import digits_split

    x_train, x_test, y_train, y_test = digits_split(0)
    ten = _write_folder(tmp_path / "ten", x_train, y_train, DIGITS)
    keep = np.flatnonzero(np.isin(y_test, [3, 5, 8]))
    label = {3: 0, 5: 1, 8: 2}
    labels = np.array([label[int(v)] for v in y_test[keep]])
    train = np.concatenate([keep[labels == c][:shots] for c in range(3)])
    test = np.setdiff1d(keep, train)
    names = ["three", "five", "eight"]
    for split, idx in (("train", train), ("test", test)):
        _write_folder(tmp_path / "three" / split, x_test[idx],
                      [label[int(v)] for v in y_test[idx]], names)
    return ten, str(tmp_path / "three")


def _train(name, argv):
    from zoo import cli

    return cli.main(["train", name, "--image-size", str(IMAGE), "--quiet", *argv])


def _summary(run_dir):
    with open(os.path.join(run_dir, "summary.json")) as f:
        return json.load(f)


def _backbone_equal(model, source, head):
    """Every weight of `model`'s layers outside `head` equals `source`'s (in order)."""
    pairs = [(a, b) for la, lb in zip(model.layers, source.layers) if la.name not in head
             for a, b in zip(la.weights, lb.weights)]
    assert pairs
    return all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in pairs)


@pytest.mark.slow
def test_fine_tuning_a_ten_class_run_onto_three_classes_beats_training_from_scratch(
        tmp_path, tiny_model, capsys):
    import keras

    from zoo.core.saving import load_model
    from zoo.roles.transfer import transfer_weights
    from zoo.tasks.image_classification import ImageClassification
    from zoo.train import TrainConfig
    from zoo.train.finetune import fine_tune

    ten, three = _folders(tmp_path)
    pre = str(tmp_path / "pre")
    common = ["--augment", "none", "--bn-momentum", "0.9", "--warmup-steps", "0",
              "--export-dir", str(tmp_path / "saved")]
    assert _train(tiny_model, ["--dataset", ten, "--epochs", "10", "--batch-size", "32",
                               "--learning-rate", "3e-3", "--run-dir", pre, *common]) == 0
    assert _summary(pre)["final_test"]["accuracy"] > 0.8  # a meaningful pretraining task
    source = load_model(os.path.join(pre, "model.keras"))

    # loading: the backbone is the file's, the 3-class head is new
    model = _tiny_cnn((IMAGE, IMAGE, 3), 3)
    transfer = transfer_weights(model, pre)
    assert transfer.initialised == ["predictions"] and len(transfer.loaded) == 4
    assert transfer.source == os.path.join(pre, "model.keras")
    assert _backbone_equal(model, source, ["predictions"])

    # the frozen phase (Python API) trains the head only: the backbone is unchanged
    from zoo import data

    src = data.image_folder_source(three, preprocess=data.image_preprocessor(IMAGE, 3, "none"))
    build = lambda: _tiny_cnn((IMAGE, IMAGE, 3), 3)  # noqa: E731
    trainer = fine_tune(ImageClassification(), src, build,
                        TrainConfig(name="frozen_only", epochs=1, steps_per_epoch=5, batch_size=9,
                                    learning_rate=3e-3, run_dir=str(tmp_path / "frozen_only"),
                                    export=False, progress=False),
                        weights=os.path.join(pre, "model.keras"), freeze_epochs=1)
    assert [p["phase"] for p in trainer.phases] == ["frozen"]
    assert _backbone_equal(trainer.model, source, ["predictions"])
    head = trainer.model.get_layer("predictions").kernel
    assert not np.array_equal(np.asarray(head), np.asarray(model.get_layer("predictions").kernel))
    keras.backend.clear_session(free_memory=False)

    # equal steps (30) on 9 training images: fine-tuned (the head at a high rate on the frozen
    # backbone, then every layer at --fine-tune-lr) vs from scratch (at 0.03, the best of 0.01,
    # 0.03 and 0.1 for it in one seeded try)
    steps = ["--epochs", "6", "--steps-per-epoch", "5", "--batch-size", "9"]
    capsys.readouterr()
    assert _train(tiny_model, ["--dataset", three, *steps, "--weights", pre, "--freeze-epochs",
                               "3", "--learning-rate", "0.1", "--schedule", "constant",
                               "--fine-tune-lr", "1e-3", "--run-dir", str(tmp_path / "tuned"),
                               "--no-export", *common]) == 0
    tuned = _summary(tmp_path / "tuned")
    assert _train(tiny_model, ["--dataset", three, *steps, "--learning-rate", "0.03",
                               "--run-dir", str(tmp_path / "scratch"), "--no-export", *common]) == 0
    scratch = _summary(tmp_path / "scratch")
    assert tuned["total_steps"] == scratch["steps"] == 30
    assert [(p["phase"], p["steps"]) for p in tuned["phases"]] == [("frozen", 15), ("all", 15)]
    assert tuned["phases"][1]["learning_rate"] == pytest.approx(1e-3)
    assert tuned["transfer"]["initialised"] == ["predictions"]
    acc_tuned, acc_scratch = tuned["final_test"]["accuracy"], scratch["final_test"]["accuracy"]
    # about 100 test images: 0.05 is about 5 of them
    assert acc_tuned >= acc_scratch + 0.05, (acc_tuned, acc_scratch)


def test_weights_file_and_registered_names_load_the_backbone_and_name_the_new_head(
        tmp_path, tiny_model, monkeypatch, capsys):
    import keras

    from zoo.core import registry
    from zoo.core.saving import save_model
    from zoo.core.weights import WeightsSpec, hash_of, register_weights
    from zoo.roles.transfer import set_phase, transfer_weights

    ten = registry.create_model(tiny_model, classes=10, input_shape=(IMAGE, IMAGE, 3))
    path = save_model(ten, str(tmp_path / "ten.weights.h5"))
    model = _tiny_cnn((IMAGE, IMAGE, 3), 3)
    t = transfer_weights(model, path)
    assert (t.loaded, t.initialised) == (
        [la.name for la in model.layers if la.weights][:-1], ["predictions"])
    assert t.initialised_params == 32 * 3 + 3
    assert _backbone_equal(model, ten, ["predictions"])
    assert "initialised new: predictions (99 parameters)" in t.note()

    # a registered name: the file found in the cache by its hash, never downloaded
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    os.makedirs(tmp_path / "keras_home" / "models")
    no_top = keras.Model(ten.inputs, ten.layers[-2].output)
    no_top.save_weights(str(tmp_path / "keras_home" / "models" / "tiny_no_top.weights.h5"))
    register_weights(WeightsSpec(
        model=tiny_model, name="pretrained", include_top=False, url="https://example.invalid/x",
        file_hash=hash_of(str(tmp_path / "keras_home" / "models" / "tiny_no_top.weights.h5")),
        file_name="tiny_no_top.weights.h5", layout="keras_v3"))
    try:
        model = _tiny_cnn((IMAGE, IMAGE, 3), 3)
        t = transfer_weights(model, "pretrained", model_name=tiny_model,
                             builder_kwargs={"input_shape": (IMAGE, IMAGE, 3)})
    finally:
        from zoo.core import weights as zweights

        zweights._WEIGHTS.pop((tiny_model, "pretrained", False), None)
    assert t.initialised == ["predictions"] and "without its classifier" in t.source
    assert _backbone_equal(model, ten, ["predictions"])

    # the phases' trainable layers: the head alone, then all but batch normalization
    set_phase(model, "frozen", ["predictions"])
    assert [v.path for v in model.trainable_variables] == [
        "tiny_transfer_cnn/predictions/kernel", "tiny_transfer_cnn/predictions/bias"]
    set_phase(model, "all", ["predictions"])
    bn = [la for la in model.layers if isinstance(la, keras.layers.BatchNormalization)]
    assert bn and not any(la.trainable for la in bn)
    assert len(model.trainable_variables) == 6

    # errors name the argument
    with pytest.raises(ValueError, match=r"Received: weights='nowhere'"):
        transfer_weights(model, "nowhere", model_name=tiny_model)
    with pytest.raises(ValueError, match=r"without a model.keras"):
        transfer_weights(model, str(tmp_path))
    other = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"No layer of .* fits the model"):
        transfer_weights(other, path)
    from zoo import cli

    rc = cli.main(["train", tiny_model, "--weights", path, "--freeze-epochs", "3", "--epochs", "2",
                   "--no-export", "--run-dir", str(tmp_path / "bad")])
    assert rc == 2
    assert "`freeze_epochs` must be an integer in [0, epochs=2]. Received: freeze_epochs=3" in (
        capsys.readouterr().err)


@pytest.mark.slow
def test_fine_tune_resumes_both_phases_and_keeps_the_transfer_record(tmp_path):
    """Re-running a finished fine-tuning resumes: each phase restores its last checkpoint and no
    step is trained again (Python API, a tiny dense model)."""
    import keras

    from zoo.data import array_source
    from zoo.tasks.feature_classification import FeatureClassification
    from zoo.train import TrainConfig, Trainer
    from zoo.train.finetune import fine_tune

    def net(classes):
        return lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(8),
                                         keras.layers.Dense(classes, activation="softmax")])

    x = np.random.default_rng(0).random((32, 4)).astype("float32")
    cfg = dict(epochs=2, batch_size=8, progress=False, export_dir=str(tmp_path / "saved"))
    Trainer(FeatureClassification(), array_source("a", x, np.arange(32) % 10), net(10),
            TrainConfig(name="ten", run_dir=str(tmp_path / "ten"), **cfg)).fit()

    def run():
        return fine_tune(FeatureClassification(), array_source("b", x, np.arange(32) % 3), net(3),
                         TrainConfig(name="three", run_dir=str(tmp_path / "three"), export=False,
                                     **{k: v for k, v in cfg.items() if k != "export_dir"}),
                         weights=str(tmp_path / "ten"), freeze_epochs=1)

    first = run()
    weights = [np.asarray(w) for w in first.model.weights]
    again = run()
    assert [p["steps"] for p in again.phases] == [4, 4]
    assert again.summary["resumed_from_step"] == 4 and again.summary["transfer"]["loaded"]
    for a, b in zip(weights, again.model.weights):
        np.testing.assert_array_equal(a, np.asarray(b))


def test_zoo_train_refuses_missing_weights_before_making_the_run_folder(tmp_path, monkeypatch, capsys):
    """`--weights` naming no file and no registered name: one line, exit 2, and no `runs/`
    (the check once came after the trainer had made the run folder and its lock)."""
    from zoo.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["train", "resnet50", "--weights", "missing.weights.h5", "--epochs", "1"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("zoo: error:")]
    assert len(err) == 1 and "weights='missing.weights.h5'" in err[0], err
    assert os.listdir(tmp_path) == []
