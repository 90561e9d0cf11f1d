"""A digits judge that can say "not a digit", for the DCGAN quality test (tests/test_dcgan_recipe.py).

A softmax over 11 classes: the ten digits and "not a digit". The 11th class is trained on images
made from the judge's own seed: uniform and smooth noise, blends of two training digits of
different classes, and digits buried in noise. An image is *confident* when the judge gives one
digit class a probability of at least `THRESHOLD`; with `members > 1` the probabilities are the
mean over independently initialised networks (they must agree).

`rates` measures the judge on images it never saw (made from other seeds, from the held-out
digits): uniform noise, 50/50 blends of two held-out digits of different classes, and the
held-out digits themselves. The test asserts those rates; docs/dcgan.md reports them.

The test's judge (seed 0, one network, 20 epochs, on the training digits at 32x32x3) is trained
once and stored in tests/data/ (`Judge.stored()`; about 50 s of training the test no longer
repeats): `python tests/_digits_judge.py --write` trains it as the test did when it was stored,
in a process with oneDNN's AVX2 kernels on TensorFlow's default threads (quality_spread.py's
`avx2`; the test now runs `avx2_one_thread`, which scores the same), and prints the file's
SHA-256 that `WEIGHTS_SHA256` records. Its rates on noise, blends and held-out digits are
asserted on every run.
"""

import hashlib
import os
import sys

import numpy as np

THRESHOLD = 0.9
NOT_A_DIGIT = 10
WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                       "digits_judge_32x32x3_seed0.weights.h5")
WEIGHTS_SHA256 = "0da040317b247c1a8a27928d66385aab8db637eabef49abf07626f0f4131c0db"


def upsample(digits8, size, channels):
    """8x8 digits in 0..255 -> `(n, size, size, channels)` in [-1, 1], as the recipe's data."""
    from zoo import data

    pre = data.image_preprocessor(size, channels, "none", with_label=False)
    return np.asarray(pre(np.asarray(digits8, "float32")[..., None], False))


def _smooth_noise(rng, n, size, channels):
    """Uniform noise drawn at a coarse side (2 to 16) and upsampled: blobs, not pixels."""
    import tensorflow as tf

    out = []
    for side in rng.integers(2, 17, n):
        low = rng.uniform(-1, 1, (1, side, side, 1)).astype("float32")
        out.append(np.asarray(tf.image.resize(low, (size, size)))[0])
    out = np.stack(out)
    return np.repeat(out, channels, -1) if channels > 1 else out


def _pairs(rng, labels, n):
    """`n` index pairs of different classes."""
    i = rng.integers(0, len(labels), n)
    j = rng.integers(0, len(labels), n)
    same = labels[i] == labels[j]
    while same.any():
        j[same] = rng.integers(0, len(labels), same.sum())
        same = labels[i] == labels[j]
    return i, j


def blends(images, labels, n, seed, alpha=0.5):
    """`n` blends `a * x_i + (1 - a) * x_j` of images of different classes (`alpha`: a number or a
    `(low, high)` range drawn uniformly)."""
    rng = np.random.default_rng(seed)
    i, j = _pairs(rng, labels, n)
    a = rng.uniform(*alpha, n) if isinstance(alpha, tuple) else np.full(n, alpha)
    a = a.astype("float32")[:, None, None, None]
    return a * images[i] + (1 - a) * images[j]


def uniform_noise(n, size, channels, seed):
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, channels)).astype("float32")


def not_digits(images, labels, n, seed):
    """`n` training images of the 11th class, drawn from `images` (training digits) and `seed`."""
    rng = np.random.default_rng(seed)
    size, channels = images.shape[1], images.shape[3]
    k = n // 5
    lo, hi = rng.uniform(-1, 0.2, (k, 1, 1, 1)), rng.uniform(0.2, 1, (k, 1, 1, 1))
    noise = lo + (hi - lo) * rng.uniform(0, 1, (k, size, size, channels))
    smooth = _smooth_noise(rng, k, size, channels)
    mixed = blends(images, labels, k, rng.integers(1 << 31), alpha=(0.4, 0.6))
    buried = images[rng.integers(0, len(images), k)]
    w = rng.uniform(0.2, 0.5, (k, 1, 1, 1))
    buried = w * buried + (1 - w) * rng.uniform(-1, 1, buried.shape)
    rest = n - 4 * k  # three-digit blends
    i, j = _pairs(rng, labels, rest)
    m = rng.integers(0, len(images), rest)
    triple = (images[i] + images[j] + images[m]) / 3.0
    return np.concatenate([noise, smooth, mixed, buried, triple]).astype("float32")


def _network(size, channels):
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input((size, size, channels)),
        layers.AveragePooling2D(max(1, size // 16)),  # the digits are 8x8: 16x16 loses nothing
        layers.Conv2D(32, 3, padding="same"), layers.BatchNormalization(), layers.ReLU(),
        layers.MaxPooling2D(),
        layers.Conv2D(64, 3, padding="same"), layers.BatchNormalization(), layers.ReLU(),
        layers.MaxPooling2D(),
        layers.Flatten(), layers.Dropout(0.3), layers.Dense(NOT_A_DIGIT + 1, activation="softmax"),
    ])


class Judge:
    """`members` networks trained on `images`/`labels` (training digits) and as many "not a digit"
    images; `seed` draws the not-digits, the shifts and the initialisation."""

    def __init__(self, images, labels, seed=0, members=1, epochs=20):
        import keras

        rng = np.random.default_rng(seed)
        size, channels = images.shape[1], images.shape[3]
        self.models = []
        for member in range(members):
            keras.utils.set_random_seed(1000 * seed + member)
            real = np.concatenate([images, _shift(images, rng), _shift(images, rng)])
            y_real = np.concatenate([labels] * 3)
            fake = not_digits(images, labels, len(real) // 2, rng.integers(1 << 31))
            x = np.concatenate([real, fake])
            y = np.concatenate([y_real, np.full(len(fake), NOT_A_DIGIT)])
            model = _network(size, channels)
            steps = epochs * -(-len(x) // 64)
            lr = keras.optimizers.schedules.CosineDecay(2e-3, steps)
            model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy")
            model.fit(x, y, batch_size=64, epochs=epochs, shuffle=True, verbose=0)
            self.models.append(model)

    @classmethod
    def stored(cls, path=WEIGHTS, sha256=WEIGHTS_SHA256):
        """The test's judge as `python tests/_digits_judge.py --write` trained and stored it
        (its SHA-256 checked): seed 0, one network, 32x32x3 digits."""
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if digest != sha256:
            raise ValueError(f"{path} has SHA-256 {digest}, not the stored judge's {sha256}; "
                             "write it again with `python tests/_digits_judge.py --write`")
        judge = cls.__new__(cls)
        model = _network(32, 3)
        model.load_weights(path)
        judge.models = [model]
        return judge

    def probabilities(self, images):
        return np.mean([m.predict(images, batch_size=256, verbose=0) for m in self.models], 0)

    def confident(self, images):
        """`(confident mask, predicted digit)`: a digit class at probability >= THRESHOLD."""
        p = self.probabilities(images)[:, :NOT_A_DIGIT]
        return p.max(-1) >= THRESHOLD, p.argmax(-1)

    def rates(self, held_out, held_out_labels, seed, n=1000):
        """Confident fractions on unseen uniform noise, 50/50 blends of held-out digits of
        different classes and the held-out digits (with their accuracy)."""
        size, channels = held_out.shape[1], held_out.shape[3]
        real, digit = self.confident(held_out)
        return {
            "noise": float(self.confident(uniform_noise(n, size, channels, seed))[0].mean()),
            "blends": float(self.confident(blends(held_out, held_out_labels, n, seed + 1))[0].mean()),
            "real": float(real.mean()),
            "real_accuracy": float((digit == held_out_labels).mean()),
        }


def _shift(images, rng):
    """Each image moved by up to 2 pixels (wrapping the empty border)."""
    out = np.empty_like(images)
    for k, (dy, dx) in enumerate(rng.integers(-2, 3, (len(images), 2))):
        out[k] = np.roll(images[k], (dy, dx), (0, 1))
    return out


def write(path=WEIGHTS):
    """Train the test's judge (tests/test_dcgan_recipe.py: seed 0 on the training digits at
    32x32x3) in a fresh process with the test's kernels, store its weights at `path` and return
    the file's SHA-256."""
    import subprocess

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import quality_spread

    env = dict(os.environ, PYTHONPATH=os.path.dirname(here), TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_NUM_INTRAOP_THREADS", None)  # as the stored judge was trained: TensorFlow's threads
    env.update(quality_spread.VARIANTS["avx2"])
    code = ("import sys; sys.path.insert(0, %r)\n"
            "import test_dcgan_recipe as t, _digits_judge as j\n"
            "train, _, y_train, _ = t._real_digits(t.SIZE, t.CHANNELS)\n"
            "j.Judge(train, y_train, seed=0).models[0].save_weights(%r)\n") % (here, path)
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/_digits_judge.py --write")
    print(write())
