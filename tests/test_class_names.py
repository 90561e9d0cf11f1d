"""Names in every answer (issue 28): a classification export returns `classes` (the class names of
`top_k_indices`, best first) and records the names in its signatures.json and its run's summary."""

import json
import os

import numpy as np
import pytest


def _signatures(path):
    with open(os.path.join(path, "assets.extra", "signatures.json")) as f:
        return json.load(f)


@pytest.mark.slow
def test_an_image_folder_run_serves_its_folder_names(tmp_path):
    import tensorflow as tf

    from tests import _recipe_models as stand_ins
    from zoo import cli
    from zoo.core import registry
    from zoo.export import verify

    rng = np.random.default_rng(0)
    names = ["cat", "dog", "fox"]
    for c, name in enumerate(names):  # each class its own colour, so the run learns them
        os.makedirs(tmp_path / "photos" / name)
        for i in range(6):
            img = np.full((12, 12, 3), 40, np.uint8)
            img[..., c] = 220
            img = np.clip(img + rng.integers(-20, 20, img.shape), 0, 255).astype(np.uint8)
            tf.io.write_file(str(tmp_path / "photos" / name / f"{i}.png"), tf.io.encode_png(img))

    @registry.register_model(family="resnet", task="image_classification", paper="test",
                             input_shape=(12, 12, 3))
    def _test_names_cnn(include_top=True, weights=None, input_shape=None, classes=1000,
                        classifier_activation="softmax"):
        return stand_ins.small_cnn(input_shape, classes)()

    try:
        rc = cli.main(["train", "_test_names_cnn", "--dataset", str(tmp_path / "photos"),
                       "--image-size", "12", "--epochs", "3", "--steps-per-epoch", "4",
                       "--batch-size", "8", "--warmup-steps", "0", "--learning-rate", "3e-3",
                       "--augment", "none", "--quiet", "--run-dir", str(tmp_path / "run"),
                       "--export-dir", str(tmp_path / "saved")])
    finally:
        registry._REGISTRY.pop("_test_names_cnn", None)
    assert rc == 0
    with open(tmp_path / "run" / "summary.json") as f:
        summary = json.load(f)
    assert summary["class_names"] == names
    path = summary["export_path"]
    sig = _signatures(path)
    assert sig["options"]["class_names"] == names
    outs = sig["signatures"]["serving_default"]["outputs"]
    assert [o["name"] for o in outs][-1] == "classes" and "cat, dog, fox" in outs[-1]["doc"]
    served = tf.saved_model.load(path).signatures["serving_default"]
    images = np.stack([np.full((20, 20, 3), 40, np.uint8) for _ in range(3)])
    for c in range(3):
        images[c, ..., c] = 220
    out = served(images=tf.constant(images))
    got = out["classes"].numpy().astype(str)
    np.testing.assert_array_equal(got, np.array(names)[out["top_k_indices"].numpy()])
    assert got.shape == (3, 3)
    report = verify(path)
    assert report["ok"], report["problems"]


def test_text_node_and_digits_exports_name_their_classes(tmp_path):
    import keras
    import tensorflow as tf

    from zoo.core.registry import create_model
    from zoo.data import digits_source
    from zoo.data.graphs import graph_source, karate_club
    from zoo.export import export_model
    from zoo.roles.class_names import set_class_names, source_class_names

    assert source_class_names(digits_source(8)) == [str(i) for i in range(10)]
    import tensorflow_datasets as tfds

    from zoo.data import tfds_source

    with tfds.testing.mock_data(num_examples=4, policy=tfds.testing.MockPolicy.USE_CODE):
        assert source_class_names(tfds_source("mnist", data_dir=str(tmp_path))) == [
            str(i) for i in range(10)]
    club = karate_club()
    assert source_class_names(graph_source(club)) == ["Mr. Hi", "Officer"]

    gcn = set_class_names(create_model("gcn", num_features=club.num_features, classes=2),
                          ["Mr. Hi", "Officer"])
    path = export_model(gcn, "gcn", export_dir=str(tmp_path), task="node_classification")
    assert _signatures(path)["options"]["class_names"] == ["Mr. Hi", "Officer"]
    out = tf.saved_model.load(str(path)).signatures["serving_default"](
        node_features=tf.constant(club.features, tf.float32),
        adjacency=tf.constant(club.adjacency, tf.float32))
    want = np.array(["Mr. Hi", "Officer"])[out["probabilities"].numpy().argmax(-1)]
    np.testing.assert_array_equal(out["classes"].numpy().astype(str), want)

    text = set_class_names(create_model("lstm_classifier", vocabulary_size=30, classes=3,
                                        units=4), ["negative", "neutral", "positive"])
    path = export_model(text, "text", export_dir=str(tmp_path), task="sequence_classification")
    out = tf.saved_model.load(str(path)).signatures["serving_default"](
        tokens=tf.constant([[3, 4, 5, 0]], tf.int32), lengths=tf.constant([3], tf.int32))
    np.testing.assert_array_equal(
        out["classes"].numpy().astype(str),
        np.array(["negative", "neutral", "positive"])[out["top_k_indices"].numpy()])

    with pytest.raises(ValueError, match=r"one name per class \(3\). Received: class_names="):
        export_model(set_class_names(keras.Sequential(
            [keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(3)]),
            ["a", "b"]), "bad", export_dir=str(tmp_path), task="image_classification")
