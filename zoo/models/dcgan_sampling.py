"""Monitoring, sampling and the served generator of the DCGAN networks (`zoo.models.dcgan`);
Keras only, every backend.

* `GANMonitor`: a callback that flags a discriminator whose loss goes to ~0 and a generated batch
  whose diversity collapses, keeps the last good checkpoint (written atomically), and warns or
  stops training.
* `SampleGrid`: a callback rendering a fixed latent grid to a PNG after every epoch.
* `sample_latents`, `interpolate_latents` (linear and slerp), `image_grid`, `save_image_grid`.
* `serving_generator`: the generator wrapped to map latent vectors to uint8 images.

GAN training (the one implementation: `zoo.roles.gan_training.gan_update`, used by the trainer's task and
by the Keras model `zoo.roles.gan_training.DCGAN`) and the served signatures
(`zoo.tasks.image_generation`) live with the tasks.

Reference:
    Radford, Metz & Chintala 2015, Unsupervised Representation Learning with Deep Convolutional
    Generative Adversarial Networks, arXiv:1511.06434.

Example:
    >>> import zoo
    >>> from zoo.models.dcgan_sampling import sample_latents, serving_generator
    >>> g = zoo.dcgan_generator(latent_dim=8, image_shape=(16, 16, 1), base_filters=4)
    >>> serving_generator(g).predict(sample_latents(0, 2, 8), verbose=0).shape
    (2, 16, 16, 1)
"""

from __future__ import annotations

import math
import os
import warnings

import keras
import numpy as np

from zoo.layers.uint8_image import ToUint8Image

__all__ = [
    "GANMonitor",
    "SampleGrid",
    "sample_latents",
    "interpolate_latents",
    "slerp",
    "to_uint8",
    "image_grid",
    "save_image_grid",
    "mean_pairwise_distance",
    "serving_generator",
    "atomic_save",
]

LATENT_DISTRIBUTIONS = ("uniform", "normal")


# ----------------------------------------------------------------------------- sampling


def sample_latents(seed, count, latent_dim, distribution="uniform"):
    """`count` latent vectors, reproducible from `seed` (NumPy's PCG64 generator).

    Args:
        seed: an int.
        count: number of vectors.
        latent_dim: their size.
        distribution: `"uniform"` (U(-1, 1), the paper's) or `"normal"` (N(0, 1)).

    Returns:
        A float32 array `(count, latent_dim)`.

    Example:
        >>> from zoo.models.dcgan_sampling import sample_latents
        >>> sample_latents(seed=0, count=4, latent_dim=100).shape
        (4, 100)
    """
    for arg, value in (("count", count), ("latent_dim", latent_dim)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"`{arg}` must be a positive integer. Received: {arg}={value!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer. Received: seed={seed!r}")
    if distribution not in LATENT_DISTRIBUTIONS:
        raise ValueError(
            f"`distribution` must be one of {LATENT_DISTRIBUTIONS}. "
            f"Received: distribution={distribution!r}"
        )
    rng = np.random.default_rng(int(seed))
    if distribution == "uniform":
        z = rng.uniform(-1.0, 1.0, size=(int(count), int(latent_dim)))
    else:
        z = rng.standard_normal(size=(int(count), int(latent_dim)))
    return z.astype("float32")


def slerp(z0, z1, t):
    """Spherical linear interpolation between two vectors at fractions `t` (White 2016).

    Falls back to linear interpolation when the vectors are (nearly) parallel.

    Returns:
        A float32 array `(len(t), dim)`; row 0 is `z0` and the last row `z1` when `t` runs from
        0 to 1.

    Example:
        >>> import numpy as np
        >>> from zoo.models.dcgan_sampling import slerp
        >>> np.round(slerp(np.array([1.0, 0.0]), np.array([0.0, 1.0]), [0.5]), 4)
        array([[0.7071, 0.7071]], dtype=float32)
    """
    z0 = np.asarray(z0, dtype="float64")
    z1 = np.asarray(z1, dtype="float64")
    t = np.asarray(t, dtype="float64").reshape(-1, 1)
    n0, n1 = np.linalg.norm(z0), np.linalg.norm(z1)
    if n0 == 0 or n1 == 0:
        return ((1 - t) * z0 + t * z1).astype("float32")
    cos = np.clip(np.dot(z0 / n0, z1 / n1), -1.0, 1.0)
    omega = np.arccos(cos)
    if np.sin(omega) < 1e-6:
        return ((1 - t) * z0 + t * z1).astype("float32")
    s = np.sin(omega)
    out = np.sin((1 - t) * omega) / s * z0 + np.sin(t * omega) / s * z1
    return out.astype("float32")


def interpolate_latents(z0, z1, steps=8, method="slerp"):
    """`steps` latent vectors from `z0` to `z1` (both included), linear or spherical.

    Spherical interpolation keeps the vectors at the typical norm of the prior, which linear
    interpolation shrinks in the middle (White 2016, Sampling Generative Networks).

    Args:
        z0, z1: two latent vectors of the same size.
        steps: number of vectors, at least 2.
        method: `"linear"` or `"slerp"`.

    Returns:
        A float32 array `(steps, dim)` whose first row is `z0` and last row `z1`.

    Example:
        >>> from zoo.models.dcgan_sampling import interpolate_latents, sample_latents
        >>> a, b = sample_latents(seed=1, count=2, latent_dim=100)
        >>> interpolate_latents(a, b, steps=10, method="linear").shape
        (10, 100)
    """
    z0 = np.asarray(z0, dtype="float32")
    z1 = np.asarray(z1, dtype="float32")
    if z0.ndim != 1 or z0.shape != z1.shape:
        raise ValueError(
            "`z0` and `z1` must be two 1-D vectors of the same size. "
            f"Received: z0.shape={z0.shape}, z1.shape={z1.shape}"
        )
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 2:
        raise ValueError(f"`steps` must be an integer of at least 2. Received: steps={steps!r}")
    if method not in ("linear", "slerp"):
        raise ValueError(f"`method` must be 'linear' or 'slerp'. Received: method={method!r}")
    t = np.linspace(0.0, 1.0, int(steps))
    if method == "linear":
        out = ((1 - t[:, None]) * z0.astype("float64") + t[:, None] * z1.astype("float64"))
        out = out.astype("float32")
    else:
        out = slerp(z0, z1, t)
    out[0], out[-1] = z0, z1  # exact endpoints, free of rounding
    return out


def to_uint8(images, low=-1.0, high=1.0):
    """NumPy twin of `ToUint8Image`: `[low, high]` floats to uint8 0..255 (round half up)."""
    x = (np.asarray(images, dtype="float32") - low) * (255.0 / (high - low))
    return np.clip(np.floor(x + 0.5), 0, 255).astype("uint8")


def image_grid(images, rows=None, padding=2, pad_value=255):
    """Tile a batch of images `(n, h, w, c)` into one uint8 image.

    Args:
        images: floats in [-1, 1] (a generator's output) or uint8.
        rows: number of rows (default: the ceiling of the square root of `n`).
        padding: pixels between tiles and around the grid.
        pad_value: the padding's grey level.

    Returns:
        A uint8 array `(rows * (h + padding) + padding, cols * (w + padding) + padding, c)`.

    Example:
        >>> import numpy as np
        >>> from zoo.models.dcgan_sampling import image_grid
        >>> image_grid(np.zeros((6, 8, 8, 3)), rows=2, padding=1).shape
        (19, 28, 3)
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            f"`images` must be a batch (n, height, width, channels). Received: "
            f"images.shape={images.shape}"
        )
    if images.dtype != np.uint8:
        images = to_uint8(images)
    n, h, w, c = images.shape
    if rows is None:
        rows = max(1, math.ceil(math.sqrt(n)))
    if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or rows < 1:
        raise ValueError(f"`rows` must be a positive integer. Received: rows={rows!r}")
    cols = math.ceil(n / rows)
    grid = np.full(
        (rows * (h + padding) + padding, cols * (w + padding) + padding, c),
        pad_value,
        dtype="uint8",
    )
    for i in range(n):
        r, q = divmod(i, cols)
        y, x = padding + r * (h + padding), padding + q * (w + padding)
        grid[y:y + h, x:x + w] = images[i]
    return grid


def _temp_path(path):
    """A temporary path beside `path` that keeps its Keras extension."""
    directory, base = os.path.split(os.path.abspath(path))
    for ext in (".weights.h5", ".keras", ".png", ".h5"):
        if base.endswith(ext):
            stem = base[: -len(ext)]
            break
    else:
        stem, ext = base, ""
    return os.path.join(directory, f".{stem}.tmp-{os.getpid()}{ext}")


def atomic_save(write, path):
    """Call `write(temporary_path)`, then move the file onto `path` with `os.replace`.

    A reader (or a crash) never sees a half-written `path`: it holds the previous file or the
    new one.

    Example:
        >>> import keras
        >>> from zoo.models.dcgan_sampling import atomic_save
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> atomic_save(model.save_weights, "/tmp/example.weights.h5")
        '/tmp/example.weights.h5'
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    tmp = _temp_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def save_image_grid(images, path, rows=None, padding=2):
    """Write `image_grid(images)` as a PNG (atomically) and return the path.

    Example:
        >>> import numpy as np
        >>> from zoo.models.dcgan_sampling import save_image_grid
        >>> save_image_grid(np.zeros((4, 8, 8, 1)), "/tmp/grid.png")
        '/tmp/grid.png'
    """
    grid = image_grid(images, rows=rows, padding=padding)
    return atomic_save(
        lambda tmp: keras.utils.save_img(tmp, grid, data_format="channels_last", scale=False,
                                         file_format="png"),
        path,
    )


def mean_pairwise_distance(images):
    """Mean Euclidean distance between all pairs of a batch (a diversity measure).

    Example:
        >>> import numpy as np
        >>> from zoo.models.dcgan_sampling import mean_pairwise_distance
        >>> float(mean_pairwise_distance(np.array([[0.0, 0.0], [3.0, 4.0]])))
        5.0
    """
    x = np.asarray(images, dtype="float64").reshape(len(images), -1)
    n = len(x)
    if n < 2:
        raise ValueError(f"`images` must hold at least 2 samples. Received: {n}")
    sq = np.sum(x * x, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0)
    iu = np.triu_indices(n, k=1)
    return float(np.mean(np.sqrt(d2[iu])))


# ----------------------------------------------------------------------------- serving


def serving_generator(generator, name=None):
    """The generator as served: latent vectors `(batch, latent_dim)` -> uint8 images 0..255.

    A functional `keras.Model` (generator in inference mode, then `ToUint8Image`), ready for
    `keras.export.ExportArchive` or `model.export(...)`; it saves as `.keras` too.

    Example:
        >>> import zoo
        >>> from zoo.models.dcgan_sampling import sample_latents, serving_generator
        >>> g = zoo.dcgan_generator(latent_dim=8, image_shape=(16, 16, 3), base_filters=4)
        >>> served = serving_generator(g)
        >>> served.predict(sample_latents(0, 2, 8), verbose=0).dtype
        dtype('uint8')
    """
    if not isinstance(generator, keras.Model) or len(generator.inputs) != 1:
        raise ValueError(
            "`generator` must be a keras.Model with one latent input. "
            f"Received: generator={generator!r}"
        )
    latent_dim = generator.inputs[0].shape[-1]
    z = keras.Input(shape=(latent_dim,), name="latents")
    images = generator(z, training=False)
    pixels = ToUint8Image(name="uint8_images")(images)
    return keras.Model(z, pixels, name=name or f"{generator.name}_serving")


# ----------------------------------------------------------------------------- callbacks


def _generator_of(model):
    return model.generator if hasattr(model, "generator") else model


def _fixed_latents(latents, num_samples, seed, latent_dim, distribution="uniform"):
    if latents is not None:
        latents = np.asarray(latents, dtype="float32")
        if latents.ndim != 2 or latents.shape[1] != latent_dim:
            raise ValueError(
                f"`latents` must have shape (n, {latent_dim}). Received: shape {latents.shape}"
            )
        return latents
    return sample_latents(seed, num_samples, latent_dim, distribution)


class SampleGrid(keras.callbacks.Callback):
    """Render the generator's images of a fixed latent batch to a PNG grid after every epoch.

    The same latent vectors every epoch, so the grids show how each sample evolves.

    Args:
        directory: where the PNGs go (created if needed).
        num_samples: size of the fixed latent batch (ignored when `latents` is given).
        seed: seed of the fixed batch (`sample_latents`).
        latents: an explicit `(n, latent_dim)` batch instead.
        rows: rows of the grid (default: square).
        file_pattern: file name, formatted with `epoch` (1-based).
        every: write every `every` epochs.

    Attributes:
        paths: the files written so far.

    Example:
        >>> from zoo.models.dcgan_sampling import SampleGrid
        >>> grid = SampleGrid("/tmp/samples", num_samples=16, seed=0)
        >>> # gan.fit(images, epochs=5, callbacks=[grid])  -> /tmp/samples/epoch_0001.png, ...
    """

    def __init__(self, directory, num_samples=64, seed=0, latents=None, rows=None,
                 file_pattern="epoch_{epoch:04d}.png", every=1):
        super().__init__()
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"`every` must be a positive integer. Received: every={every!r}")
        self.directory = os.fspath(directory)
        self.num_samples = num_samples
        self.seed = seed
        self._latents = latents
        self.rows = rows
        self.file_pattern = file_pattern
        self.every = every
        self.latents = None
        self.paths = []

    def on_train_begin(self, logs=None):
        g = _generator_of(self.model)
        dist = getattr(self.model, "latent_distribution", "uniform")
        self.latents = _fixed_latents(self._latents, self.num_samples, self.seed,
                                      int(g.inputs[0].shape[-1]), dist)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        images = _generator_of(self.model).predict(self.latents, verbose=0)
        path = os.path.join(self.directory, self.file_pattern.format(epoch=epoch + 1))
        self.paths.append(save_image_grid(images, path, rows=self.rows))


class GANMonitor(keras.callbacks.Callback):
    """Watch a GAN for an overwhelming discriminator and for mode collapse; keep the last good
    checkpoint.

    At every check (each epoch end, or every `check_every_batches` batches) it measures:

    * the discriminator's loss `d_loss` from the logs: below `d_loss_threshold` means D wins
      outright and the generator's gradient vanishes (an imbalance);
    * the diversity of the generator's images of a fixed latent batch, the mean pairwise
      Euclidean distance, compared with the largest diversity seen so far (starting at the
      untrained generator): below `collapse_ratio` times that reference means the samples
      collapsed onto a few modes.

    A check with neither problem is good: the model is saved to `checkpoint_path` (a `.keras`
    file, or `.weights.h5` for weights only), written to a temporary file and moved into place
    with `os.replace`, so the file always holds the last good state. A check with a problem is
    recorded in `events`, and, after `patience` bad checks in a row, either warns
    (`action="warn"`) or stops training (`action="stop"`); `restore_on_stop=True` then loads the
    last good checkpoint back into the model.

    Args:
        checkpoint_path: where to keep the last good state (`None`: no checkpoint).
        d_loss_threshold: a discriminator loss below this is flagged (its maximum is
            `2 log 2` ~ 1.386 at equilibrium).
        collapse_ratio: diversity below this fraction of the reference is flagged.
        num_samples, seed, latents: the fixed latent batch (see `SampleGrid`).
        patience: consecutive bad checks before acting.
        action: `"warn"` or `"stop"`.
        restore_on_stop: on stopping, load the last good checkpoint's weights.
        check_every_batches: also check every this many batches (`None`: epoch ends only).
        verbose: print a line per flag.

    Attributes:
        events: a list of dicts `{"epoch", "batch", "kind", "value", "reference"}`.
        diversity_history: the diversity of every check.
        last_good: the epoch (and batch) of the last good checkpoint.

    Example:
        >>> from zoo.models.dcgan_sampling import GANMonitor
        >>> monitor = GANMonitor("/tmp/last_good.keras", action="stop")
        >>> # gan.fit(images, epochs=25, callbacks=[monitor]); monitor.events
    """

    def __init__(self, checkpoint_path=None, d_loss_threshold=1e-2, collapse_ratio=0.1,
                 num_samples=64, seed=0, latents=None, patience=1, action="warn",
                 restore_on_stop=False, check_every_batches=None, verbose=1):
        super().__init__()
        if action not in ("warn", "stop"):
            raise ValueError(f"`action` must be 'warn' or 'stop'. Received: action={action!r}")
        if checkpoint_path is not None:
            checkpoint_path = os.fspath(checkpoint_path)
            if not checkpoint_path.endswith((".keras", ".weights.h5")):
                raise ValueError(
                    "`checkpoint_path` must end with '.keras' or '.weights.h5'. "
                    f"Received: checkpoint_path={checkpoint_path!r}"
                )
        if not 0 < collapse_ratio < 1:
            raise ValueError(
                f"`collapse_ratio` must be in (0, 1). Received: collapse_ratio={collapse_ratio!r}"
            )
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"`patience` must be a positive integer. Received: patience={patience!r}")
        if check_every_batches is not None and (
            isinstance(check_every_batches, bool)
            or not isinstance(check_every_batches, int)
            or check_every_batches < 1
        ):
            raise ValueError(
                "`check_every_batches` must be None or a positive integer. "
                f"Received: check_every_batches={check_every_batches!r}"
            )
        if restore_on_stop and checkpoint_path is None:
            raise ValueError("`restore_on_stop=True` needs a `checkpoint_path`.")
        self.checkpoint_path = checkpoint_path
        self.d_loss_threshold = float(d_loss_threshold)
        self.collapse_ratio = float(collapse_ratio)
        self.num_samples = num_samples
        self.seed = seed
        self._latents = latents
        self.patience = patience
        self.action = action
        self.restore_on_stop = restore_on_stop
        self.check_every_batches = check_every_batches
        self.verbose = verbose
        self.events = []
        self.diversity_history = []
        self.reference = None
        self.last_good = None
        self.stopped = False
        self._bad = 0
        self._epoch = 0

    def diversity(self):
        """Mean pairwise distance of the generator's images of the fixed latent batch."""
        images = _generator_of(self.model).predict(self.latents, verbose=0)
        return mean_pairwise_distance(images)

    def on_train_begin(self, logs=None):
        g = _generator_of(self.model)
        dist = getattr(self.model, "latent_distribution", "uniform")
        self.latents = _fixed_latents(self._latents, self.num_samples, self.seed,
                                      int(g.inputs[0].shape[-1]), dist)
        if self.reference is None:
            self.reference = self.diversity()
        self._bad = 0
        self.stopped = False

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.check_every_batches and (batch + 1) % self.check_every_batches == 0:
            self._check(logs or {}, batch=batch)

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs or {}, batch=None)

    def _flag(self, kind, value, reference, batch):
        event = {"epoch": self._epoch + 1, "batch": batch, "kind": kind,
                 "value": float(value), "reference": float(reference)}
        self.events.append(event)
        if self.verbose:
            print(f"GANMonitor: {kind} at epoch {event['epoch']}"
                  f"{'' if batch is None else f' batch {batch + 1}'}: "
                  f"{value:.4g} (threshold {reference:.4g})")

    def _check(self, logs, batch):
        if self.stopped:
            return
        problems = 0
        d_loss = logs.get("d_loss")
        if d_loss is not None and float(d_loss) < self.d_loss_threshold:
            self._flag("discriminator_wins", float(d_loss), self.d_loss_threshold, batch)
            problems += 1
        diversity = self.diversity()
        self.diversity_history.append(diversity)
        if diversity < self.collapse_ratio * self.reference:
            self._flag("mode_collapse", diversity, self.collapse_ratio * self.reference, batch)
            problems += 1
        else:
            self.reference = max(self.reference, diversity)
        if not problems:
            self._bad = 0
            if self.checkpoint_path is not None:
                self._save()
            self.last_good = {"epoch": self._epoch + 1, "batch": batch}
            return
        self._bad += 1
        if self._bad < self.patience:
            return
        if self.action == "stop":
            self.model.stop_training = True
            self.stopped = True
            if self.restore_on_stop and self.last_good is not None:
                self._restore()
        else:
            warnings.warn(
                f"GANMonitor: {self.events[-1]['kind']} for {self._bad} check(s) in a row; last "
                f"good checkpoint: {self.last_good}",
                RuntimeWarning,
                stacklevel=2,
            )

    def _save(self):
        if self.checkpoint_path.endswith(".weights.h5"):
            atomic_save(self.model.save_weights, self.checkpoint_path)
        else:
            atomic_save(self.model.save, self.checkpoint_path)

    def _restore(self):
        if self.checkpoint_path.endswith(".weights.h5"):
            self.model.load_weights(self.checkpoint_path)
            return
        good = keras.saving.load_model(self.checkpoint_path)
        self.model.set_weights(good.get_weights())
        for attr in ("d_optimizer", "g_optimizer"):
            mine, theirs = getattr(self.model, attr, None), getattr(good, attr, None)
            if mine is not None and theirs is not None:
                for a, b in zip(mine.variables, theirs.variables):
                    a.assign(b)
