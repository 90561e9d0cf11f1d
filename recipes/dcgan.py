"""DCGAN: train a generator and discriminator on images, with a grid of samples each epoch.

    zoo train dcgan_generator_28 --dataset digits --epochs 30            # embedded 8x8 digits
    zoo train dcgan_generator_64 --dataset celeb_a --epochs 20 --strategy mirrored

NAME is a registered generator; its discriminator is `--discriminator` (default: the name with
"generator" replaced by "discriminator"). Adam with lr 2e-4 and beta_1 0.5 (Radford et al. 2015),
latent vectors from U(-1, 1), images scaled to [-1, 1]. The generator is exported.

Options beyond the paper (all off by default): `--label-smoothing` (one-sided, Salimans et al.
2016), `--ema-decay` (a moving average of G's weights samples and is exported; Yazici et al.
2019), `--diff-augment translation,cutout` (DiffAugment, Zhao et al. 2020, for small datasets),
`--r1-gamma` (a penalty on D's gradient at real images, Mescheder et al. 2018), `--g-steps`
(generator updates per discriminator update), `--discriminator-set KEY=VALUE` (discriminator
arguments, as `--set` for the generator). On the embedded digits (docs/dcgan.md):

    zoo train dcgan_generator_32 --batch-size 32 --epochs 60 \
        --set base_filters=32 --set kernel_size=4 --set latent_components=20 \
        --discriminator-set base_filters=32 --discriminator-set kernel_size=4 \
        --label-smoothing 0.1 --ema-decay 0.999 --diff-augment translation

(`latent_components=20`: a learned mixture latent, DeLiGAN, `zoo.layers.MixtureLatent`; 0.90 of
1,000 samples judged confident, every class: tests/test_dcgan_recipe.py.)
"""

import argparse
import os
import sys

import keras
import numpy as np
import tensorflow as tf

from zoo import data, train
from zoo.gan import save_image_grid


@keras.saving.register_keras_serializable(package="zoo_recipes")
class GANPair(keras.Model):
    """Holds a generator and a discriminator (checkpointed together); calling it generates.

    With `ema=True` it also holds `ema_generator`, a copy of the generator whose weights (batch
    norm statistics included) are an exponential moving average of the generator's, updated by
    `DCGANTask` after every step; `sampler` is then that copy.
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


DIFF_AUGMENTATIONS = ("translation", "cutout")


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
    return images


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


class DCGANTask(train.GANTask):
    """`train.GANTask` with one-sided label smoothing and an EMA of the generator's weights.

    Args:
        latent_dim: size of z (default: the generator's input).
        label_smoothing: the discriminator's target for real images is `1 - label_smoothing`
            (one-sided: generated images keep target 0; Salimans et al. 2016, section 3.4).
        ema_decay: decay of the moving average of the generator's weights kept in
            `model.ema_generator` (Yazici et al. 2019); the decay at update `t` is
            `min(ema_decay, (1 + t) / (10 + t))`, as `tf.train.ExponentialMovingAverage` with
            `num_updates`, so short runs average over fewer steps. 0 turns it off.
        augment: DiffAugment policy (`diff_augment`) applied before D in both updates.
        d_lr_ratio, beta_2: D's learning rate over G's, and Adam's beta_2 (`build_optimizers`).
        r1_gamma: weight of the R1 penalty `r1_gamma / 2 * |grad_x D(x)|^2` at real images
            (Mescheder et al. 2018, eq. 9), added to D's loss; 0 turns it off.
        g_steps: generator updates (each on fresh latents) per discriminator update.
    """

    def __init__(self, latent_dim=None, label_smoothing=0.0, ema_decay=0.0, augment=(),
                 d_lr_ratio=1.0, beta_2=0.999, r1_gamma=0.0, g_steps=1):
        super().__init__(latent_dim=latent_dim)
        self.g_steps = int(g_steps)
        self.r1_gamma = float(r1_gamma)
        self.augment = tuple(augment)
        self.label_smoothing = float(label_smoothing)
        self.ema_decay = float(ema_decay)
        self.d_lr_ratio = float(d_lr_ratio)
        self.beta_2 = float(beta_2)

    def build_optimizers(self, model, make_optimizer):
        """Two optimizers of the trainer's flags; D's learning rate (schedule included) is
        `d_lr_ratio` times G's (the two time-scale update rule, Heusel et al. 2017), and Adam's
        beta_2 is `beta_2`."""
        opts = {"d_optimizer": make_optimizer(), "g_optimizer": make_optimizer()}
        for opt in opts.values():
            inner = getattr(opt, "inner_optimizer", opt)
            if hasattr(inner, "beta_2"):
                inner.beta_2 = self.beta_2
        if self.d_lr_ratio != 1.0:
            inner = getattr(opts["d_optimizer"], "inner_optimizer", opts["d_optimizer"])
            lr = inner._learning_rate
            if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule):
                inner._learning_rate = ScaledSchedule(lr, self.d_lr_ratio)
            else:
                inner.learning_rate = float(inner.learning_rate) * self.d_lr_ratio
        return opts

    def train_step(self, model, optimizers, batch, denominator, num_replicas):
        real = batch[0] if isinstance(batch, (tuple, list)) else batch
        n = tf.shape(real)[0]
        gen, disc = model.generator, model.discriminator
        latent = self._latent(model)

        def logits(images):
            if self.augment:
                images = diff_augment(images, self.augment)
            return tf.reshape(tf.cast(disc(images, training=True), tf.float32), [n])

        def bce(target, x):
            return tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill([n], target), logits=x)

        with tf.GradientTape() as tape:
            fake = gen(tf.random.uniform([n, latent], -1.0, 1.0), training=True)
            if self.r1_gamma:
                real = tf.convert_to_tensor(real)
                with tf.GradientTape() as inner:
                    inner.watch(real)
                    real_logits = logits(real)
                    total = tf.reduce_sum(real_logits)
                slopes = inner.gradient(total, real)
                r1_per = tf.reduce_sum(tf.square(slopes), axis=[1, 2, 3])
            else:
                real_logits = logits(real)
            fake_logits = logits(fake)
            d_per = bce(1.0 - self.label_smoothing, real_logits) + bce(0.0, fake_logits)
            if self.r1_gamma:
                d_per += 0.5 * self.r1_gamma * r1_per
            scaled = optimizers["d_optimizer"].scale_loss(tf.reduce_sum(d_per) / denominator)
        grads = tape.gradient(scaled, disc.trainable_variables)
        optimizers["d_optimizer"].apply_gradients(zip(grads, disc.trainable_variables))
        for _ in range(self.g_steps):
            with tf.GradientTape() as tape:
                g_logits = logits(gen(tf.random.uniform([n, latent], -1.0, 1.0), training=True))
                g_per = bce(1.0, g_logits)
                scaled = optimizers["g_optimizer"].scale_loss(tf.reduce_sum(g_per) / denominator)
            grads = tape.gradient(scaled, gen.trainable_variables)
            optimizers["g_optimizer"].apply_gradients(zip(grads, gen.trainable_variables))
            if self.ema_decay and getattr(model, "ema_generator", None) is not None:
                self._update_ema(model, optimizers["g_optimizer"].iterations)
        return {"d_loss_sum": tf.reduce_sum(d_per), "g_loss_sum": tf.reduce_sum(g_per),
                "d_real_sum": tf.reduce_sum(tf.sigmoid(real_logits)),
                "d_fake_sum": tf.reduce_sum(tf.sigmoid(fake_logits)),
                "count": tf.cast(n, tf.float32)}

    def _update_ema(self, model, updates):
        t = tf.cast(updates, tf.float32)
        decay = tf.minimum(self.ema_decay, (1.0 + t) / (10.0 + t))
        pairs = [(e.value, tf.convert_to_tensor(w.value))
                 for e, w in zip(model.ema_generator.weights, model.generator.weights)]

        def update(strategy, pairs):
            for average, value in pairs:
                strategy.extended.update(
                    average, lambda a, v: a.assign(decay * a + (1.0 - decay) * v),
                    args=(value,), group=False)

        # As Keras' optimizers update their variables: a cross-replica update of each mirrored
        # average where the strategy needs one, a local update otherwise.
        tf.__internal__.distribute.interim.maybe_merge_call(
            update, tf.distribute.get_strategy(), pairs)

    def export_model(self, model):
        return getattr(model, "sampler", model.generator)


def build_parser():
    p = argparse.ArgumentParser(prog="zoo train MODEL", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a registered DCGAN generator (`zoo list --family dcgan`)")
    p.add_argument("--discriminator", default=None)
    p.add_argument("--dataset", default="digits",
                   help="digits (embedded) or a TFDS image dataset (celeb_a, mnist, cifar10, ...)")
    p.add_argument("--image-size", type=int, default=None,
                   help="the models' image side (the default; another value is an error, since "
                        "each registered variant has a fixed side)")
    p.add_argument("--channels", type=int, default=None,
                   help="default: the models' (1 for dcgan_*_28, else 3)")
    p.add_argument("--latent-dim", type=int, default=100)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="generator argument")
    p.add_argument("--discriminator-set", action="append", metavar="KEY=VALUE",
                   help="discriminator argument")
    p.add_argument("--label-smoothing", type=float, default=0.0,
                   help="one-sided: D's target for real images is 1 - this (0 in the paper)")
    p.add_argument("--diff-augment", default="",
                   help="comma-separated DiffAugment policy for D's inputs: translation, cutout")
    p.add_argument("--d-lr-ratio", type=float, default=1.0,
                   help="D's learning rate is this times G's (--learning-rate); 4 with G at 1e-4 "
                        "is the two time-scale update rule (Heusel et al. 2017); 1 in the paper")
    p.add_argument("--g-steps", type=int, default=1,
                   help="generator updates per discriminator update (1 in the paper; 2 in "
                        "carpedm20/DCGAN-tensorflow, so that D's loss does not go to zero)")
    p.add_argument("--r1-gamma", type=float, default=0.0,
                   help="R1 penalty weight on D's gradient at real images (Mescheder et al. "
                        "2018); 0 (off) in the paper")
    p.add_argument("--beta-2", type=float, default=0.999, help="Adam beta_2 (0.999 in the paper)")
    p.add_argument("--ema-decay", type=float, default=0.0,
                   help="keep an exponential moving average of G's weights, which samples and "
                        "is exported (0: off)")
    return train.add_train_arguments(p, epochs=30, batch_size=64, learning_rate=2e-4,
                                     beta_1=0.5)


def discriminator_name(args):
    """`--discriminator`, or NAME with "generator" replaced by "discriminator"."""
    return args.discriminator or args.model.replace("generator", "discriminator")


def image_shape_of(args):
    """`(side, side, channels)` of the registered discriminator, checked against the flags.

    Each registered variant has a fixed side (`dcgan_generator_32` makes 32x32 images), so
    `--image-size` must be that side or absent; `--channels` may change the channels.
    """
    from zoo.registry import get_spec

    disc_name = discriminator_name(args)
    # Read from the cards, not by building a model: that would initialise TensorFlow's devices
    # before the trainer sets up `--cpu-devices`.
    g_side = get_spec(args.model).builder.image_shape[0]
    h, w, c = get_spec(disc_name).builder.image_shape
    if g_side != h:
        raise ValueError(f"The generator `{args.model}` makes {g_side}x{g_side} images but the "
                         f"discriminator `{disc_name}` takes {h}x{w}; pass a matching "
                         f"`--discriminator`.")
    if args.image_size not in (None, h):
        raise ValueError(f"`--image-size` must be {h} for `{args.model}` (its fixed side; the "
                         f"registered variants are dcgan_generator_28/32/64). "
                         f"Received: image_size={args.image_size}")
    if args.channels is not None and args.channels < 1:
        raise ValueError(f"`--channels` must be a positive integer. Received: "
                         f"channels={args.channels}")
    return h, w, args.channels or c


def make_source(args):
    size, _, channels = image_shape_of(args)
    if args.dataset == "digits":
        src = data.digits_source(size, channels, augment="none")
        src.eval = None
        return src, (size, size, channels)
    src = data.tfds_source(args.dataset, data_dir=args.data_dir, supervised=False, eval_split=None)
    src.preprocess = data.image_preprocessor(size, channels, "none", with_label=False)
    return src, (size, size, channels)


def sample_grid(generator, z, path, columns=8):
    """Render `generator(z)` (tanh outputs) as a PNG grid (`zoo.gan.save_image_grid`)."""
    images = np.asarray(generator(z, training=False), "float32")
    return save_image_grid(images, path, rows=int(np.ceil(len(images) / columns)))


def make_task(args):
    """The `DCGANTask` of the flags (ValueError on a bad value, before anything is built)."""
    policy = [a for a in (args.diff_augment or "").split(",") if a]
    if any(a not in DIFF_AUGMENTATIONS for a in policy):
        raise ValueError(f"`--diff-augment` takes a comma-separated subset of "
                         f"{DIFF_AUGMENTATIONS}. Received: diff_augment={args.diff_augment!r}")
    if not 0 <= args.label_smoothing < 1:
        raise ValueError(f"`--label-smoothing` must be in [0, 1). "
                         f"Received: label_smoothing={args.label_smoothing}")
    if not 0 <= args.ema_decay < 1:
        raise ValueError(f"`--ema-decay` must be in [0, 1) (0: off). "
                         f"Received: ema_decay={args.ema_decay}")
    if args.d_lr_ratio <= 0:
        raise ValueError(f"`--d-lr-ratio` must be positive. Received: d_lr_ratio={args.d_lr_ratio}")
    if not 0 <= args.beta_2 < 1:
        raise ValueError(f"`--beta-2` must be in [0, 1). Received: beta_2={args.beta_2}")
    if args.r1_gamma < 0:
        raise ValueError(f"`--r1-gamma` must be >= 0 (0: off). Received: r1_gamma={args.r1_gamma}")
    if args.g_steps < 1:
        raise ValueError(f"`--g-steps` must be >= 1. Received: g_steps={args.g_steps}")
    return DCGANTask(args.latent_dim, args.label_smoothing, args.ema_decay, policy,
                     args.d_lr_ratio, args.beta_2, args.r1_gamma, args.g_steps)


def run(args, model_fn=None):
    task = make_task(args)
    src, shape = make_source(args)
    if model_fn is None:
        disc_name = discriminator_name(args)
        gen_fn = train.model_builder(args.model, args.set, latent_dim=args.latent_dim,
                                     image_shape=shape, channels=shape[2])
        disc_fn = train.model_builder(disc_name, args.discriminator_set, image_shape=shape,
                                      channels=shape[2])
        model_fn = lambda: GANPair(gen_fn(), disc_fn(), ema=args.ema_decay > 0)  # noqa: E731
    fixed_z = np.random.default_rng(0).uniform(-1, 1, (64, args.latent_dim)).astype("float32")

    def samples(trainer, epoch, logs):
        folder = os.path.join(trainer.run_dir, "samples")
        os.makedirs(folder, exist_ok=True)
        sample_grid(getattr(trainer.model, "sampler", trainer.model.generator), fixed_z,
                    os.path.join(folder, f"epoch_{epoch:03d}.png"))

    return train.run_recipe(args, task, src, model_fn, callbacks=[samples])


def main(argv=None):
    trainer = run(build_parser().parse_args(argv))
    print(f"{trainer.summary['name']}: {trainer.summary['final_train']}; samples in "
          f"{os.path.join(trainer.run_dir, 'samples')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
