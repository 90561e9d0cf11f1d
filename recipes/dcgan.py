"""DCGAN: train a generator and discriminator on images, with a grid of samples each epoch.

    zoo train dcgan_generator_28 --dataset digits --epochs 30            # embedded 8x8 digits
    zoo train dcgan_generator --dataset celeb_a --image-size 64 --epochs 20 --strategy mirrored

NAME is a registered generator; its discriminator is `--discriminator` (default: the name with
"generator" replaced by "discriminator"). Adam with lr 2e-4 and beta_1 0.5 (Radford et al. 2015),
latent vectors from U(-1, 1), images scaled to [-1, 1]. The generator is exported.
"""

import argparse
import os
import sys

import keras
import numpy as np

from zoo import data, train


@keras.saving.register_keras_serializable(package="zoo_recipes")
class GANPair(keras.Model):
    """Holds a generator and a discriminator (checkpointed together); calling it generates."""

    def __init__(self, generator, discriminator, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator

    def call(self, z, training=False):
        return self.generator(z, training=training)


def build_parser():
    p = argparse.ArgumentParser(prog="zoo train MODEL", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a registered DCGAN generator (`zoo list --family dcgan`)")
    p.add_argument("--discriminator", default=None)
    p.add_argument("--dataset", default="digits",
                   help="digits (embedded) or a TFDS image dataset (celeb_a, mnist, cifar10, ...)")
    p.add_argument("--image-size", type=int, default=None, help="default 28 for digits, else 64")
    p.add_argument("--channels", type=int, default=None, help="default 1 for digits, else 3")
    p.add_argument("--latent-dim", type=int, default=100)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="generator argument")
    return train.add_train_arguments(p, epochs=30, batch_size=64, learning_rate=2e-4,
                                     beta_1=0.5)


def make_source(args):
    size = args.image_size or (28 if args.dataset == "digits" else 64)
    channels = args.channels or (1 if args.dataset in ("digits", "mnist") else 3)
    if args.dataset == "digits":
        src = data.digits_source(size, channels, augment="none")
        src.eval = None
        return src, (size, size, channels)
    src = data.tfds_source(args.dataset, data_dir=args.data_dir, supervised=False, eval_split=None)
    src.preprocess = data.image_preprocessor(size, channels, "none", with_label=False)
    return src, (size, size, channels)


def sample_grid(generator, z, path, columns=8):
    """Render `generator(z)` (tanh outputs) as a PNG grid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = (np.asarray(generator(z, training=False), "float32") + 1.0) / 2.0
    rows = int(np.ceil(len(images) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns, rows))
    for ax, img in zip(axes.flat, images):
        ax.imshow(np.clip(img.squeeze(), 0, 1), cmap="gray" if img.shape[-1] == 1 else None)
        ax.axis("off")
    fig.savefig(path, dpi=60)
    plt.close(fig)
    return path


def run(args, model_fn=None):
    src, shape = make_source(args)
    if model_fn is None:
        disc_name = args.discriminator or args.model.replace("generator", "discriminator")
        gen_fn = train.model_builder(args.model, args.set, latent_dim=args.latent_dim,
                                     image_shape=shape)
        disc_fn = train.model_builder(disc_name, None, image_shape=shape)
        model_fn = lambda: GANPair(gen_fn(), disc_fn())  # noqa: E731
    fixed_z = np.random.default_rng(0).uniform(-1, 1, (64, args.latent_dim)).astype("float32")

    def samples(trainer, epoch, logs):
        folder = os.path.join(trainer.run_dir, "samples")
        os.makedirs(folder, exist_ok=True)
        sample_grid(trainer.model.generator, fixed_z, os.path.join(folder, f"epoch_{epoch:03d}.png"))

    task = train.GANTask(latent_dim=args.latent_dim)
    return train.run_recipe(args, task, src, model_fn, callbacks=[samples])


def main(argv=None):
    trainer = run(build_parser().parse_args(argv))
    print(f"{trainer.summary['name']}: {trainer.summary['final_train']}; samples in "
          f"{os.path.join(trainer.run_dir, 'samples')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
