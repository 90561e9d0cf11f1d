"""Image classification: train any registered image model (googlenet, inception_v3, resnet*,
gated_resnet*, ...) on the embedded digits, a TFDS dataset or an image folder.

    zoo train resnet50 --epochs 3                      # embedded digits, upsampled to 32x32
    zoo train resnet50 --dataset cifar10 --epochs 90 --batch-size 256 --strategy mirrored
    zoo train inception_v3 --dataset imagenet2012 --manual-dir ~/imagenet --image-size 299 \\
        --batch-size 1024 --lr 0.1 --optimizer sgd --lr-scaling linear --base-batch-size 256
    zoo train googlenet --dataset /data/flowers        # folders of images, one per class
"""

import argparse
import os
import sys

from zoo import data, train


def build_parser():
    p = argparse.ArgumentParser(prog="zoo train MODEL", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a registered image model (`zoo list`)")
    p.add_argument("--dataset", default="digits",
                   help="'digits' (embedded), a TFDS name (cifar10, mnist, imagenet2012, ...) "
                        "or a folder of class folders")
    p.add_argument("--data-dir", default=None, help="TFDS data_dir")
    p.add_argument("--manual-dir", default=None, help="TFDS manual_dir (imagenet2012)")
    p.add_argument("--image-size", type=int, default=None,
                   help="default: 32 for digits, else the dataset's image size")
    p.add_argument("--channels", type=int, default=3, help="channels the model takes")
    p.add_argument("--augment", choices=data.AUGMENTATIONS, default=None,
                   help="default: crop for digits, crop_flip otherwise")
    p.add_argument("--label-smoothing", type=float, default=0.0,
                   help="cross-entropy label smoothing")
    p.add_argument("--bn-momentum", type=float, default=None,
                   help="momentum of every BatchNormalization's moving statistics; default: 0.9 "
                        "for digits (a few hundred steps: with Keras' 0.99 the statistics used "
                        "at evaluation lag the weights), else the builder's own")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="builder argument")
    return train.add_train_arguments(p, epochs=10, batch_size=64, learning_rate=1e-3,
                                     schedule="cosine", warmup_steps=50)


def make_source(args):
    augment = args.augment or ("crop" if args.dataset == "digits" else "crop_flip")
    if args.dataset == "digits":
        size = args.image_size or 32
        src = data.digits_source(size, args.channels, augment)
    elif os.path.isdir(args.dataset):
        size = args.image_size or 224
        src = data.image_folder_source(
            args.dataset, preprocess=data.image_preprocessor(size, args.channels, augment))
    else:
        src = data.tfds_source(args.dataset, data_dir=args.data_dir, manual_dir=args.manual_dir)
        size = args.image_size or (src.info.get("image_shape") or (224,))[0] or 224
        src.preprocess = data.image_preprocessor(size, args.channels, augment)
    src.info["input_shape"] = (size, size, args.channels)
    return src


def _with_bn_momentum(model_fn, momentum):
    """`model_fn` whose model's BatchNormalization layers (nested ones too) use `momentum`."""
    import keras

    def set_momentum(layer):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum
        for inner in getattr(layer, "layers", None) or []:
            set_momentum(inner)

    def build():
        model = model_fn()
        set_momentum(model)
        return model

    return build


def run(args, model_fn=None):
    src = make_source(args)
    model_fn = model_fn or train.model_builder(
        args.model, args.set, include_top=True, weights=None, input_shape=src.info["input_shape"],
        classes=src.info["num_classes"], classifier_activation="softmax")
    momentum = args.bn_momentum if args.bn_momentum is not None else (
        0.9 if args.dataset == "digits" else None)
    if momentum is not None:
        model_fn = _with_bn_momentum(model_fn, momentum)
    task = train.ClassificationTask(label_smoothing=args.label_smoothing)
    # the pipeline scales pixels to [-1, 1] (zoo.data.image_preprocessor): the export does the
    # same inside its graph, whatever the family's default for keras.applications weights is
    task.export_options = {"preprocessing": "symmetric"}
    return train.run_recipe(args, task, src, model_fn).summary


def main(argv=None):
    summary = run(build_parser().parse_args(argv))
    print(f"{summary['name']}: held-out accuracy {summary['final_eval'].get('accuracy', float('nan')):.4f}"
          f", exported to {summary.get('export_path')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
