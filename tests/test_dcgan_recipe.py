"""The DCGAN recipe on the embedded digits, registered builders: a quality regression guard.

A judge CNN trained here on the real digits (at the generated samples' resolution, channels and
[-1, 1] range; its held-out accuracy is checked) labels 1,000 generated samples; every class must
appear among the confident (>= 0.9) ones (no collapse), and at least 60% must be confident.

This is a regression guard of the documented settings, shortened to 20 epochs (880 steps, 0.68
measured; 40 epochs give 0.72-0.74, docs/dcgan.md) to fit the suite's time budget. It is NOT
issue 5's target of 80%, which these settings do not reach in a CI-sized run (0.76-0.79 after
3,520-5,280 steps).
"""

import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SIZE, CHANNELS, EPOCHS = 32, 3, 20
# The recipe's documented flags (docs/dcgan.md), 20 epochs instead of 40.
RECIPE_FLAGS = [
    "dcgan_generator_32", "--image-size", SIZE, "--channels", CHANNELS, "--batch-size", 32,
    "--epochs", EPOCHS, "--set", "base_filters=32", "--set", "kernel_size=4",
    "--discriminator-set", "base_filters=32", "--discriminator-set", "kernel_size=4",
    "--label-smoothing", 0.1, "--ema-decay", 0.999, "--diff-augment", "translation",
]


def _digits_classifier(size, channels):
    """A CNN trained on the real digits (held-out accuracy checked) to judge samples."""
    import keras
    from keras import layers

    from zoo import data

    src = data.digits_source(size, channels, augment="none")
    xs, ys = zip(*data.train_pipeline(src, 64).take(300).as_numpy_iterator())
    x_te, y_te = zip(*data.eval_pipeline(src, 400).as_numpy_iterator())
    clf = keras.Sequential([
        keras.Input((size, size, channels)),
        layers.Conv2D(32, 3, padding="same"), layers.BatchNormalization(), layers.ReLU(),
        layers.MaxPooling2D(),
        layers.Conv2D(64, 3, padding="same", activation="relu"), layers.MaxPooling2D(),
        layers.Flatten(), layers.Dropout(0.3), layers.Dense(10, activation="softmax"),
    ])
    clf.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    clf.fit(np.concatenate(xs), np.concatenate(ys), epochs=2, batch_size=64, verbose=0)
    acc = clf.evaluate(np.concatenate(x_te), np.concatenate(y_te), verbose=0)[1]
    assert acc > 0.95, acc
    return clf


@pytest.mark.slow
def test_dcgan_recipe_digits_samples_are_recognisable_and_diverse(tmp_path):
    from recipes import dcgan as recipe

    args = recipe.build_parser().parse_args([str(a) for a in RECIPE_FLAGS] + [
        "--run-dir", str(tmp_path / "run"), "--no-export", "--quiet"])
    trainer = recipe.run(args)
    assert len(os.listdir(tmp_path / "run" / "samples")) == EPOCHS  # one grid per epoch
    z = np.random.default_rng(1).uniform(-1, 1, (1000, 100)).astype("float32")
    images = np.asarray(trainer.model.sampler(z, training=False))
    assert images.shape == (1000, SIZE, SIZE, CHANNELS)
    probs = _digits_classifier(SIZE, CHANNELS).predict(images, verbose=0)
    confident = probs.max(-1) >= 0.9
    classes = np.bincount(probs.argmax(-1)[confident], minlength=10)
    print(f"confident {confident.mean():.3f}, per class {classes.tolist()}")
    assert confident.mean() >= 0.6, (confident.mean(), classes.tolist())
    assert (classes > 0).all(), classes.tolist()
