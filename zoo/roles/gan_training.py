"""GAN training, the one implementation (TensorFlow): `gan_update` is the step that the trainer's
task (`zoo.tasks.image_generation`) and the Keras model `DCGAN` (`fit`) both run.

One update: the discriminator once on a real batch and a generated batch (separate batches, so
batch normalisation never mixes them, as in the authors' code), then the generator `g_steps` times
on fresh latents with the non-saturating loss `-log D(G(z))` (Goodfellow et al. 2014, as used by
Radford et al. 2015). Options beyond the paper (off by default): one-sided label smoothing
(Salimans et al. 2016), DiffAugment before D (Zhao et al. 2020), an R1 penalty at real images
(Mescheder et al. 2018), an exponential moving average of G's weights (Yazici et al. 2019).

* `GANPair`: generator + discriminator (+ the EMA copy), checkpointed together; calling samples.
* `DCGAN`: a `keras.Model` with `compile(d_optimizer, g_optimizer)` and `fit` over `gan_update`.
* `frechet_pixels`: a cheap, offline sample-quality score (searches).

Reference:
    Radford, Metz & Chintala 2015, Unsupervised Representation Learning with Deep Convolutional
    Generative Adversarial Networks, arXiv:1511.06434, section 4.

Example:
    >>> import numpy as np, zoo
    >>> from zoo.roles.gan_training import DCGAN
    >>> g = zoo.dcgan_generator(latent_dim=8, image_shape=(16, 16, 1), base_filters=4)
    >>> d = zoo.dcgan_discriminator(image_shape=(16, 16, 1), base_filters=4)
    >>> gan = DCGAN(g, d)
    >>> gan.compile()
    >>> images = np.random.uniform(-1, 1, (32, 16, 16, 1)).astype("float32")
    >>> sorted(gan.fit(images, batch_size=8, epochs=1, verbose=0).history)
    ['d_g_z', 'd_loss', 'd_x', 'g_loss']
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from zoo.core.moved import warn_renamed
from zoo.models.dcgan_sampling import LATENT_DISTRIBUTIONS

__all__ = ["DCGAN", "GANPair", "gan_update", "diff_augment", "DIFF_AUGMENTATIONS",
           "ScaledSchedule", "update_ema", "frechet_pixels", "latent_batch", "latents", "bce",
           "pair_optimizer_variables"]

DIFF_AUGMENTATIONS = ("translation", "cutout")


def latent_batch(batch, latent_dim, distribution="uniform"):
    """A `(batch, latent_dim)` draw from U(-1, 1) (the paper's) or N(0, 1) with TensorFlow's
    global random state, inside the training step (`zoo.models.dcgan_sampling.sample_latents`
    is the seeded NumPy draw for sampling and serving)."""
    shape = tf.stack([tf.cast(batch, tf.int32), latent_dim])
    if distribution == "uniform":
        return tf.random.uniform(shape, minval=-1.0, maxval=1.0)
    return tf.random.normal(shape)


def latents(batch, latent_dim, distribution="uniform"):
    """Deprecated name of `latent_batch`."""
    warn_renamed("zoo.roles.gan_training.latents", "zoo.roles.gan_training.latent_batch")
    return latent_batch(batch, latent_dim, distribution)


def pair_optimizer_variables(model, optimizers, optimizer):
    """The variables a GAN's optimizer updates: `d_optimizer` the discriminator's, `g_optimizer`
    the generator's (of a `GANPair` or a `DCGAN`), else the whole model's."""
    for key, net in (("d_optimizer", "discriminator"), ("g_optimizer", "generator")):
        if optimizers.get(key) is optimizer and hasattr(model, net):
            return getattr(model, net).trainable_variables
    return model.trainable_variables


def bce(target, output, from_logits=True):
    """Per-example binary cross-entropy of D's outputs `(n,)` against a constant `target`."""
    output = tf.cast(output, tf.float32)
    labels = tf.fill(tf.shape(output), tf.cast(target, tf.float32))
    if from_logits:
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=output)
    p = tf.clip_by_value(output, 1e-7, 1.0 - 1e-7)
    return -(labels * tf.math.log(p) + (1.0 - labels) * tf.math.log(1.0 - p))


def diff_augment(images, policy, background=-1.0):
    """DiffAugment (Zhao et al. 2020): random, differentiable augmentations of a batch.

    `translation` shifts each image by up to 1/8 of its side (filling with `background`);
    `cutout` sets a random square of half the side to `background`. Applied to real and
    generated images alike before the discriminator, in both updates, so gradients reach G
    through them and D cannot memorise a small dataset.
    """
    n = tf.shape(images)[0]
    h, w = images.shape[1], images.shape[2]
    for op in policy:
        if op == "translation":
            sh, sw = max(h // 8, 1), max(w // 8, 1)
            padded = tf.pad(images - background, [[0, 0], [sh, sh], [sw, sw], [0, 0]]) + background
            dy = tf.random.uniform([n, 1], 0, 2 * sh + 1, dtype=tf.int32)
            dx = tf.random.uniform([n, 1], 0, 2 * sw + 1, dtype=tf.int32)
            rows = tf.range(h)[None] + dy
            cols = tf.range(w)[None] + dx
            images = tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), cols, axis=2,
                               batch_dims=1)
        elif op == "cutout":
            ch, cw = h // 2, w // 2
            cy = tf.random.uniform([n, 1, 1], 0, h - ch + 1, dtype=tf.int32)
            cx = tf.random.uniform([n, 1, 1], 0, w - cw + 1, dtype=tf.int32)
            y = tf.range(h)[None, :, None]
            x = tf.range(w)[None, None, :]
            inside = (y >= cy) & (y < cy + ch) & (x >= cx) & (x < cx + cw)
            mask = tf.cast(~inside, images.dtype)[..., None]
            images = images * mask + background * (1.0 - mask)
        else:
            raise ValueError(f"`policy` takes names among {DIFF_AUGMENTATIONS}. Received: {op!r}")
    return images


def _scaled(optimizer, loss):
    return optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss


def _real_outputs(d_out, real, r1_gamma):
    """D's outputs at `real` and the per-example R1 term |grad_x D(x)|^2 (None when off); inside
    the discriminator's tape, so that the penalty's gradient reaches D."""
    if not r1_gamma:
        return d_out(real), None
    real = tf.convert_to_tensor(real)
    with tf.GradientTape() as inner:
        inner.watch(real)
        real_out = d_out(real)
        total = tf.reduce_sum(real_out)
    slopes = inner.gradient(total, real)
    return real_out, tf.reduce_sum(tf.square(tf.cast(slopes, tf.float32)),
                                   axis=list(range(1, len(real.shape))))


def gan_update(gen, disc, d_optimizer, g_optimizer, real, denominator, *,
               latent_distribution="uniform", from_logits=True, label_smoothing=0.0, augment=(),
               r1_gamma=0.0, g_steps=1, after_g_step=None):
    """One GAN update on this replica's batch of `real` images; returns a dict of *sums*
    (`d_loss_sum`, `g_loss_sum`, `d_real_sum` = sum of D(x), `d_fake_sum` = sum of D(G(z)),
    `count`).

    Args:
        gen, disc: the generator `(n, latent_dim) -> images` and discriminator `images -> (n, 1)`.
        d_optimizer, g_optimizer: their optimizers (`scale_loss` is applied when they have it).
        real: this replica's real images.
        denominator: what each per-example loss sum is divided by (the global batch, so that
            gradients summed over replicas are those of one replica with the global batch).
        latent_distribution: `"uniform"` (U(-1, 1)) or `"normal"`.
        from_logits: whether D outputs logits (zoo's discriminators do).
        label_smoothing: D's target for real images is `1 - label_smoothing` (one-sided).
        augment: DiffAugment policy (`diff_augment`) applied before D in both updates.
        r1_gamma: weight of `r1_gamma / 2 * |grad_x D(x)|^2` at real images (0: off).
        g_steps: generator updates (each on fresh latents) per discriminator update.
        after_g_step: called after each generator update (the EMA of G's weights).
    """
    n = tf.shape(real)[0]
    latent_dim = int(gen.inputs[0].shape[-1])

    def d_out(images):
        if augment:
            images = diff_augment(images, augment)
        return tf.reshape(tf.cast(disc(images, training=True), tf.float32), [n])

    def prob(out):
        return tf.sigmoid(out) if from_logits else out

    with tf.GradientTape() as tape:
        fake = gen(latent_batch(n, latent_dim, latent_distribution), training=True)
        real_out, r1_per = _real_outputs(d_out, real, r1_gamma)
        fake_out = d_out(fake)
        d_per = bce(1.0 - label_smoothing, real_out, from_logits) + bce(0.0, fake_out, from_logits)
        if r1_gamma:
            d_per += 0.5 * r1_gamma * r1_per
        loss = _scaled(d_optimizer, tf.reduce_sum(d_per) / denominator)
    grads = tape.gradient(loss, disc.trainable_variables)
    d_optimizer.apply_gradients(zip(grads, disc.trainable_variables))
    for _ in range(int(g_steps)):
        with tf.GradientTape() as tape:
            g_out = d_out(gen(latent_batch(n, latent_dim, latent_distribution), training=True))
            g_per = bce(1.0, g_out, from_logits)
            loss = _scaled(g_optimizer, tf.reduce_sum(g_per) / denominator)
        grads = tape.gradient(loss, gen.trainable_variables)
        g_optimizer.apply_gradients(zip(grads, gen.trainable_variables))
        if after_g_step is not None:
            after_g_step()
    return {"d_loss_sum": tf.reduce_sum(d_per), "g_loss_sum": tf.reduce_sum(g_per),
            "d_real_sum": tf.reduce_sum(prob(real_out)),
            "d_fake_sum": tf.reduce_sum(prob(fake_out)), "count": tf.cast(n, tf.float32)}


def update_ema(average_model, model, decay, updates):
    """`average <- d * average + (1 - d) * weights` for every weight (batch-norm statistics too),
    with `d = min(decay, (1 + t) / (10 + t))` at update `t` (as `tf.train.ExponentialMovingAverage`
    with `num_updates`), inside any `tf.distribute` strategy."""
    t = tf.cast(updates, tf.float32)
    d = tf.minimum(decay, (1.0 + t) / (10.0 + t))
    pairs = [(e.value, tf.convert_to_tensor(w.value))
             for e, w in zip(average_model.weights, model.weights)]

    def update(strategy, pairs):
        for average, value in pairs:
            strategy.extended.update(average, lambda a, v: a.assign(d * a + (1.0 - d) * v),
                                     args=(value,), group=False)

    # As Keras' optimizers update their variables: a cross-replica update of each mirrored
    # average where the strategy needs one, a local update otherwise.
    tf.__internal__.distribute.interim.maybe_merge_call(update, tf.distribute.get_strategy(), pairs)


class ScaledSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`schedule(step) * factor` (D's learning rate under `--d-lr-ratio`)."""

    def __init__(self, schedule, factor):
        self.schedule = schedule
        self.factor = factor

    def __call__(self, step):
        return self.schedule(step) * self.factor

    def get_config(self):
        return {"schedule": keras.optimizers.schedules.serialize(self.schedule),
                "factor": self.factor}


@keras.saving.register_keras_serializable(package="zoo")
class GANPair(keras.Model):
    """Holds a generator and a discriminator (checkpointed together); calling it generates.

    With `ema=True` it also holds `ema_generator`, a copy of the generator whose weights (batch
    norm statistics included) are an exponential moving average of the generator's (`update_ema`);
    `sampler` is then that copy.
    """

    def __init__(self, generator, discriminator, ema=False, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.ema_generator = None
        if ema:
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.set_weights(generator.get_weights())

    @property
    def sampler(self):
        """The network that samples and gets exported: the EMA generator if any, else G."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def call(self, z, training=False):
        return self.sampler(z, training=training)

    def get_config(self):
        return {**super().get_config(),
                "generator": keras.saving.serialize_keras_object(self.generator),
                "discriminator": keras.saving.serialize_keras_object(self.discriminator),
                "ema": self.ema_generator is not None}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key],
                                                                custom_objects=custom_objects)
        return cls(**config)


def frechet_pixels(real, fake, size=8):
    """Frechet distance between Gaussians fitted to `size`x`size` average-pooled real and generated
    images (the FID formula of Heusel et al. 2017 on pixels instead of Inception features): a
    cheap, offline sample-quality score for GAN searches; lower is better."""
    from scipy import linalg

    def feats(x):
        x = np.asarray(x, "float64")
        n, h, w, c = x.shape
        fh, fw = max(h // size, 1), max(w // size, 1)
        x = x[:, : fh * (h // fh), : fw * (w // fw)].reshape(n, h // fh, fh, w // fw, fw, c)
        return x.mean((2, 4)).reshape(n, -1)

    a, b = feats(real), feats(fake)
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = np.real(linalg.sqrtm(s1.dot(s2)))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))





def _adam():
    return keras.optimizers.Adam(learning_rate=2e-4, beta_1=0.5)


@keras.saving.register_keras_serializable(package="zoo")
class DCGAN(keras.Model):
    """A generator and a discriminator trained against each other (Radford et al. 2015).

    One `train_step` updates the discriminator once on a real batch and a generated batch
    (separate batches, so batch normalisation never mixes them, as in the authors' code), then the
    generator once on a fresh latent batch with the non-saturating loss `-log D(G(z))`.

    Args:
        generator: a `keras.Model` `(batch, latent_dim) -> images` (e.g. `zoo.dcgan_generator`).
        discriminator: a `keras.Model` `images -> (batch, 1)` (e.g. `zoo.dcgan_discriminator`).
        latent_distribution: `"uniform"` (U(-1, 1), the paper's) or `"normal"`.
        from_logits: whether the discriminator outputs logits (the zoo's default) rather than
            probabilities.
        label_smoothing: one-sided label smoothing of the real targets (0 in the paper).
        **kwargs: `keras.Model` arguments (`name`).

    Calling the model generates: `gan(z)` is `generator(z)`; `gan.predict(z)` works.

    `compile(d_optimizer=None, g_optimizer=None, ...)` defaults both to Adam(lr=0.0002,
    beta_1=0.5). Training (`fit`) needs the TensorFlow backend; it works under any
    `tf.distribute` strategy whose scope held the model's creation and `compile`.

    Reference:
        Radford, Metz & Chintala 2015, Unsupervised Representation Learning with Deep
        Convolutional Generative Adversarial Networks, arXiv:1511.06434, section 4.

    Example:
        >>> import keras, numpy as np, zoo
        >>> from zoo.roles.gan_training import DCGAN
        >>> g = zoo.dcgan_generator(latent_dim=8, image_shape=(16, 16, 1), base_filters=4)
        >>> d = zoo.dcgan_discriminator(image_shape=(16, 16, 1), base_filters=4)
        >>> gan = DCGAN(g, d)
        >>> gan.compile()
        >>> _ = gan.fit(np.zeros((16, 16, 16, 1), "float32"), batch_size=8, verbose=0)
        >>> gan.save("/tmp/gan.keras")
        >>> resumed = keras.saving.load_model("/tmp/gan.keras")   # compiled, optimisers restored
    """

    def __init__(self, generator, discriminator, latent_distribution="uniform",
                 from_logits=True, label_smoothing=0.0, **kwargs):
        for arg, net in (("generator", generator), ("discriminator", discriminator)):
            if not isinstance(net, keras.Model) or len(net.inputs) != 1:
                raise ValueError(
                    f"`{arg}` must be a built keras.Model with one input. Received: {arg}={net!r}"
                )
        if len(generator.inputs[0].shape) != 2 or generator.inputs[0].shape[-1] is None:
            raise ValueError(
                "`generator` must take latent vectors (batch, latent_dim). Received: input "
                f"shape {tuple(generator.inputs[0].shape)}"
            )
        g_out = tuple(generator.outputs[0].shape[1:])
        d_in = tuple(discriminator.inputs[0].shape[1:])
        if g_out != d_in:
            raise ValueError(
                "The generator's output shape must be the discriminator's input shape. "
                f"Received: generator output {g_out}, discriminator input {d_in}"
            )
        if latent_distribution not in LATENT_DISTRIBUTIONS:
            raise ValueError(
                f"`latent_distribution` must be one of {LATENT_DISTRIBUTIONS}. "
                f"Received: latent_distribution={latent_distribution!r}"
            )
        if not isinstance(from_logits, bool):
            raise ValueError(f"`from_logits` must be a bool. Received: from_logits={from_logits!r}")
        if (
            isinstance(label_smoothing, bool)
            or not isinstance(label_smoothing, (int, float))
            or not 0 <= label_smoothing < 1
        ):
            raise ValueError(
                "`label_smoothing` must be a number in [0, 1). "
                f"Received: label_smoothing={label_smoothing!r}"
            )
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_distribution = latent_distribution
        self.from_logits = from_logits
        self.label_smoothing = float(label_smoothing)
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.d_optimizer = None
        self.g_optimizer = None
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_x_tracker = keras.metrics.Mean(name="d_x")
        self.d_g_z_tracker = keras.metrics.Mean(name="d_g_z")
        self.built = True  # both networks are built; calling generates

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.d_x_tracker, self.d_g_z_tracker]

    # -- compile and its config (so a loaded .keras file resumes with its optimisers) --

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """Set the two optimisers (default Adam(lr=0.0002, beta_1=0.5) each).

        Args:
            d_optimizer: optimiser (instance, name or config) of the discriminator.
            g_optimizer: optimiser of the generator.
            **kwargs: `run_eagerly`, `jit_compile`, `steps_per_execution` of `Model.compile`.
        """
        for key in ("optimizer", "loss", "metrics", "loss_weights", "weighted_metrics"):
            if key in kwargs:
                raise ValueError(
                    "DCGAN.compile takes `d_optimizer` and `g_optimizer`; its losses and metrics "
                    f"are fixed. Received: {key}={kwargs[key]!r}"
                )
        d_opt = keras.optimizers.get(d_optimizer) if d_optimizer is not None else _adam()
        g_opt = keras.optimizers.get(g_optimizer) if g_optimizer is not None else _adam()
        if d_opt is g_opt:
            raise ValueError(
                "`d_optimizer` and `g_optimizer` must be two optimizer instances (each keeps its "
                "own moments). Received the same object twice."
            )
        super().compile(optimizer=None, **kwargs)
        self.d_optimizer = d_opt
        self.g_optimizer = g_opt
        scope = getattr(self, "distribute_strategy", None)
        if scope is not None:
            with scope.scope():
                self._build_optimizers()
        else:
            self._build_optimizers()

    def _build_optimizers(self):
        if not self.d_optimizer.built:
            self.d_optimizer.build(self.discriminator.trainable_variables)
        if not self.g_optimizer.built:
            self.g_optimizer.build(self.generator.trainable_variables)

    def get_compile_config(self):
        if self.d_optimizer is None:
            return None
        return {
            "d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
            "g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer),
        }

    def compile_from_config(self, config):
        self.compile(
            d_optimizer=keras.saving.deserialize_keras_object(config["d_optimizer"]),
            g_optimizer=keras.saving.deserialize_keras_object(config["g_optimizer"]),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "generator": keras.saving.serialize_keras_object(self.generator),
                "discriminator": keras.saving.serialize_keras_object(self.discriminator),
                "latent_distribution": self.latent_distribution,
                "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(
                config[key], custom_objects=custom_objects
            )
        return cls(**config)

    # -- training (TensorFlow backend) --

    def fit(self, *args, **kwargs):
        if keras.backend.backend() != "tensorflow":
            raise NotImplementedError(
                "DCGAN.fit implements its train_step for the TensorFlow backend only (see "
                "zoo.roles.gan_training's module docstring). Received: keras.backend.backend()="
                f"{keras.backend.backend()!r}"
            )
        if self.d_optimizer is None:
            raise ValueError("Call `compile()` before `fit()`.")
        return super().fit(*args, **kwargs)

    def _latents(self, batch):
        return latent_batch(batch, self.latent_dim, self.latent_distribution)

    def _bce(self, target, output):
        return tf.reduce_mean(bce(target, output, self.from_logits))

    def _prob(self, output):
        return keras.ops.sigmoid(output) if self.from_logits else output

    def train_step(self, data):
        real = data[0] if isinstance(data, (tuple, list)) else data
        real = tf.cast(real, self.compute_dtype)
        batch = tf.cast(tf.shape(real)[0], tf.float32)
        # Gradients are summed over replicas: losses are divided by the global batch.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        sums = gan_update(self.generator, self.discriminator, self.d_optimizer, self.g_optimizer,
                          real, batch * replicas, latent_distribution=self.latent_distribution,
                          from_logits=self.from_logits, label_smoothing=self.label_smoothing)
        self.d_loss_tracker.update_state(sums["d_loss_sum"] / batch)
        self.g_loss_tracker.update_state(sums["g_loss_sum"] / batch)
        self.d_x_tracker.update_state(sums["d_real_sum"] / batch)
        self.d_g_z_tracker.update_state(sums["d_fake_sum"] / batch)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        real = data[0] if isinstance(data, (tuple, list)) else data
        real = tf.cast(real, self.compute_dtype)
        batch = tf.shape(real)[0]
        real_out = self.discriminator(real, training=False)
        fake_out = self.discriminator(
            self.generator(self._latents(batch), training=False), training=False
        )
        d_loss = self._bce(1.0, real_out) + self._bce(0.0, fake_out)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(self._bce(1.0, fake_out))
        self.d_x_tracker.update_state(keras.ops.mean(self._prob(real_out)))
        self.d_g_z_tracker.update_state(keras.ops.mean(self._prob(fake_out)))
        return {m.name: m.result() for m in self.metrics}


