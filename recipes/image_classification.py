"""Image classification with tf.distribute, written out with zoo's Python API.

    python recipes/image_classification.py --strategy mirrored --cpu-devices 2 --epochs 3
    python recipes/image_classification.py --model resnet50 --epochs 1 --steps-per-epoch 20 \\
        --strategy one_device --precision mixed_bfloat16 --label-smoothing 0.1

Trains a registered image classifier (`--model`, default googlenet_bn) on the embedded digits
(scikit-learn's, upsampled to `--image-size` with 3 channels; no download) and exports it to
`saved_models/<model>/<version>/`. `zoo train NAME` is the same recipe with every flag (TFDS
datasets, image folders, `--augment`, ...): zoo/tasks/image_classification.py, `zoo train NAME
--help`.
"""

import argparse
import sys

from zoo import data, train
from zoo.tasks.image_classification import ImageClassification, with_bn_momentum


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="googlenet_bn", help="a registered image classifier")
    parser.add_argument("--image-size", type=int, default=32, help="side of the digits")
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="builder argument")
    # the trainer's flags (--strategy, --cpu-devices, --epochs, ...) with the task's defaults
    args = train.add_train_arguments(parser, **ImageClassification.flag_defaults).parse_args(argv)

    # tf.distribute: `mirrored` with `--cpu-devices 2` runs two replicas on one CPU
    strategy = train.make_strategy(args.strategy, cpu_devices=args.cpu_devices)
    task = ImageClassification(label_smoothing=args.label_smoothing)  # loss, metrics, serving
    source = data.digits_source(args.image_size, channels=3, augment="crop")  # pixels in [-1, 1]
    shape = (args.image_size, args.image_size, 3)
    model_fn = train.builder_fn(args.model, args.set, input_shape=shape, classes=10,
                                   include_top=True, weights=None, classifier_activation="softmax")
    # a few hundred steps: batch normalisation's moving statistics must follow the weights faster
    model_fn = with_bn_momentum(model_fn, 0.9)
    config = train.config_from_args(args, name=args.model)
    summary = train.Trainer(task, source, model_fn, config, strategy=strategy).fit()
    print(f"{summary['replicas']} replica(s) ({summary['strategy']}), {summary['steps']} steps: "
          f"{task.report(summary)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
