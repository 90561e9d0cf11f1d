"""Issue 5's DCGAN target: the recipe on the embedded digits, registered builders, documented flags.

A judge CNN trained here on the real digits (at the samples' resolution, channels and [-1, 1]
range; its held-out accuracy is checked) labels 1,000 generated samples: at least 80% must be
labelled with confidence >= 0.9 and every class must appear among them (no collapse). Two checks
beyond the issue's keep that from being met by a degenerate generator: few samples may have a
near-duplicate among the others (a generator whose mixture components each collapsed to one
image would pass the judge), and the samples must not be copies of training digits.

The flags are docs/dcgan.md's: `dcgan_generator_32` / `dcgan_discriminator_32` narrowed to
`base_filters=32` and 4x4 kernels, a mixture latent of 20 components (DeLiGAN), one-sided label
smoothing, an EMA generator and DiffAugment translation (40 epochs are about 90 s of
training on 2 idle CPU cores), 60 epochs (2,640 steps): the seed-to-seed spread at 40
epochs was 0.79-0.93 (docs/dcgan.md). Measured: 0.896 confident, every class, no near-duplicates.
"""

import os

import numpy as np
import pytest

SIZE, CHANNELS, EPOCHS = 32, 3, 60
RECIPE_FLAGS = [
    "dcgan_generator_32", "--batch-size", 32, "--epochs", EPOCHS,
    "--set", "base_filters=32", "--set", "kernel_size=4", "--set", "latent_components=20",
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


def _nearest(a, b, exclude_self=False):
    """Euclidean distance from each row of `a` to its nearest row of `b`."""
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2.0 * a @ b.T
    d = np.sqrt(np.maximum(d, 0.0))
    if exclude_self:
        np.fill_diagonal(d, np.inf)
    return d.min(1)


def _real_digits(size):
    """The training and held-out digits through the recipe's preprocessing (one channel)."""
    from zoo import data

    x_tr, x_te, _, _ = data.digits_split(0)
    pre = data.image_preprocessor(size, 1, "none", with_label=False)

    def prep(x):
        return np.asarray(pre(x[..., None], False)).reshape(len(x), -1)

    return prep(x_tr), prep(x_te)


@pytest.mark.slow
def test_dcgan_recipe_digits_samples_are_recognisable_and_diverse(tmp_path):
    from zoo.train import recipe

    name, *flags = [str(a) for a in RECIPE_FLAGS]
    args = recipe.build_parser(name).parse_args(flags + [
        "--run-dir", str(tmp_path / "run"), "--no-export", "--quiet"])
    trainer = recipe.train_task(name, args)
    assert len(os.listdir(tmp_path / "run" / "samples")) == EPOCHS  # one grid per epoch
    z = np.random.default_rng(1).uniform(-1, 1, (1000, 100)).astype("float32")
    images = np.asarray(trainer.model.sampler(z, training=False))
    assert images.shape == (1000, SIZE, SIZE, CHANNELS)

    probs = _digits_classifier(SIZE, CHANNELS).predict(images, verbose=0)
    confident = probs.max(-1) >= 0.9
    classes = np.bincount(probs.argmax(-1)[confident], minlength=10)

    train, held_out = _real_digits(SIZE)
    flat = images[..., 0].reshape(len(images), -1)
    to_other = _nearest(flat, flat, exclude_self=True)
    near_duplicates = float(np.mean(to_other < 1.0))
    to_train = float(np.median(_nearest(flat, train)))
    real_to_train = float(np.median(_nearest(held_out, train)))
    print(f"confident {confident.mean():.3f}, per class {classes.tolist()}, near-duplicates "
          f"{near_duplicates:.3f}, median distance to the nearest other sample "
          f"{np.median(to_other):.2f}, median distance to the nearest training digit {to_train:.2f} "
          f"(held-out real digits: {real_to_train:.2f})")
    assert confident.mean() >= 0.8, (confident.mean(), classes.tolist())
    assert (classes > 0).all(), classes.tolist()
    # A distance of 1 is a sixth of the real digits' typical nearest-neighbour distance (about 6);
    # generators whose mixture components collapsed had 58-100% of their samples that close.
    assert near_duplicates <= 0.05, near_duplicates
    assert to_train >= 0.5 * real_to_train, (to_train, real_to_train)
