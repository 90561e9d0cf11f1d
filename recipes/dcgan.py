"""DCGAN with tf.distribute: a generator against its registered discriminator, with zoo's API.

    python recipes/dcgan.py --strategy mirrored --cpu-devices 2 --epochs 30      # 28x28 digits
    python recipes/dcgan.py --model dcgan_generator_32 --batch-size 32 --epochs 60 \\
        --set base_filters=32 --set kernel_size=4 --set latent_components=20 \\
        --set latent_scale=0.5 --discriminator-set base_filters=32 --discriminator-set kernel_size=4 \\
        --label-smoothing 0.1 --ema-decay 0.999 --diff-augment translation

The image generation task (zoo/tasks/image_generation.py, also `zoo train NAME`) pairs the
generator with the discriminator registered as its partner (`--discriminator`), trains both with
the one GAN step (`zoo.roles.gan_training.gan_update`: Adam 2e-4, beta_1 0.5, latents from U(-1, 1)),
writes a grid of samples each epoch to `<run-dir>/samples/` and exports the generator (uint8
images from latents, or from a seed).
"""

import argparse
import sys

import zoo
from zoo import train
from zoo.tasks.image_generation import ImageGeneration


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="dcgan_generator_28", help="a registered generator")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="generator argument")
    ImageGeneration.add_arguments(parser)  # --dataset, --label-smoothing, --ema-decay, ...
    args = train.add_train_arguments(parser, **ImageGeneration.flag_defaults).parse_args(argv)

    strategy = train.make_strategy(args.strategy, cpu_devices=args.cpu_devices)
    task = ImageGeneration.from_args(args)  # checks the GAN options, naming a bad flag
    spec = zoo.get_spec(args.model)
    source, fixed = task.make_source(spec, args)  # images in [-1, 1] at the pair's shape
    pair_fn = task.model_fn(spec, args, source, fixed)  # a GANPair: generator + discriminator
    trainer = train.Trainer(task, source, pair_fn, train.config_from_args(args, args.model),
                            strategy=strategy, callbacks=task.epoch_callbacks(args))
    summary = trainer.fit()
    print(f"generator {trainer.model.generator.count_params():,} and discriminator "
          f"{trainer.model.discriminator.count_params():,} parameters; {task.report(summary)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
