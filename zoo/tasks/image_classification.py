"""Image classification: GoogLeNet/Inception, ResNet, gated ResNets (and image discriminators'
serving, `zoo.tasks.image_discrimination`).

* Training: sparse categorical cross-entropy (optionally label-smoothed) and accuracy; a model with
  auxiliary heads (GoogLeNet's `aux_logits=True`) adds `aux_loss_weight` (0.3, Szegedy et al. 2014
  section 5) times each head's loss.
* Data (`zoo train NAME`): the embedded scikit-learn digits (upsampled to 32x32, no download), a
  TFDS name (`cifar10`, `imagenet2012`, ...) or a folder of class folders; pixels scaled to
  [-1, 1] (`zoo.data.image_preprocessor`), the `pipeline_preprocessing` that the export puts in
  front of the model.
* Serving: `serving_default` (uint8 images of any size) and `classify_float` (float32 pixels),
  resized and normalised inside the graph, returning `probabilities`, `top_k_values`,
  `top_k_indices`.
* Search: trials train on the digits at the model's input size (flat inputs get them flattened).

Example:
    >>> from zoo.tasks.image_classification import ImageClassification
    >>> ImageClassification().pipeline_preprocessing
    'symmetric'
"""

from __future__ import annotations

import math
import os
from typing import Any, Dict

import tensorflow as tf

from zoo import data as zdata
from zoo.core.moved import RenamedAttribute, renamed_arguments
from zoo.roles.image_bytes import IMAGE_FORMATS, decode_images
from zoo.roles.recipe import check_classes
from zoo.roles.serving import (
    Endpoint,
    TensorDoc,
    callable_name,
    model_core,
    preprocess_fn,
    probabilities_fn,
    probability_outputs,
    single_output,
)
from zoo.roles.task import Task, classification_forward, export_note, logits_flag, validation_note
from zoo.roles.transfer import add_transfer_arguments

__all__ = ["ImageClassification", "image_endpoints", "with_bn_momentum", "TASK"]


class ImageClassification(Task):
    """See the module docstring.

    Args:
        label_smoothing: cross-entropy label smoothing.
        aux_loss_weight: weight of each auxiliary head's loss (models with several outputs;
            `aux_weight` is its deprecated name).
        from_logits: None: from the model (`zoo.core.conventions.output_is_probability`).
    """

    name = "image_classification"
    monitor = "accuracy"
    pipeline_preprocessing = "symmetric"
    flag_defaults = dict(epochs=10, batch_size=64, learning_rate=1e-3, schedule="cosine",
                          warmup_steps=50)

    @renamed_arguments(aux_weight="aux_loss_weight")
    def __init__(self, label_smoothing=0.0, aux_loss_weight=0.3, from_logits=None, bn_momentum=None):
        if not 0 <= float(label_smoothing) < 1:
            raise ValueError(f"`label_smoothing` must be in [0, 1). "
                             f"Received: label_smoothing={label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)
        self.aux_loss_weight = float(aux_loss_weight)
        self.from_logits = from_logits
        self.bn_momentum = bn_momentum

    # -------------------------------------------------------------------------- training
    def forward(self, model, batch, training):
        x, y = batch
        outs = model(x, training=training)
        heads = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        from_logits = logits_flag(model, self.from_logits)
        per, correct = classification_forward(heads[0], y, from_logits, self.label_smoothing)
        loss_sum = tf.reduce_sum(per)
        stats = {"loss_sum": loss_sum, "accuracy_sum": tf.reduce_sum(correct),
                 "count": tf.cast(tf.shape(per)[0], tf.float32)}
        if training and self.aux_loss_weight:
            for aux in heads[1:]:
                loss_sum += self.aux_loss_weight * tf.reduce_sum(
                    classification_forward(aux, y, from_logits, self.label_smoothing)[0])
        return loss_sum, stats

    # ---------------------------------------------------------------------------- recipe
    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--dataset", default="digits",
                            help="'digits' (embedded) or a TFDS name (cifar10, mnist, "
                                 "imagenet2012, ...) or a folder of class folders")
        parser.add_argument("--data-dir", default=None, help="TFDS data_dir")
        parser.add_argument("--manual-dir", default=None, help="TFDS manual_dir (imagenet2012)")
        parser.add_argument("--image-size", type=int, default=None,
                            help="default: 32 for digits, else the dataset's image size")
        parser.add_argument("--channels", type=int, default=3, help="channels the model takes")
        parser.add_argument("--augment", choices=zdata.AUGMENTATIONS, default=None,
                            help="default: crop for digits, crop_flip otherwise")
        parser.add_argument("--label-smoothing", type=float, default=0.0,
                            help="cross-entropy label smoothing")
        parser.add_argument("--bn-momentum", type=float, default=None,
                            help="momentum of every BatchNormalization's moving statistics; "
                                 "default: 0.9 for digits (a few hundred steps: with Keras' 0.99 "
                                 "the statistics used at evaluation lag the weights), else the "
                                 "builder's own")
        add_transfer_arguments(parser)

    @classmethod
    def from_args(cls, args):
        momentum = args.bn_momentum if args.bn_momentum is not None else (
            0.9 if args.dataset == "digits" else None)
        return cls(label_smoothing=args.label_smoothing, bn_momentum=momentum)

    def make_source(self, spec, args):
        augment = args.augment or ("crop" if args.dataset == "digits" else "crop_flip")
        if args.dataset == "digits":
            size = args.image_size or 32
            src = zdata.digits_source(size, args.channels, augment)
        elif os.path.isdir(args.dataset):
            size = args.image_size or 224
            src = zdata.image_folder_source(
                args.dataset, preprocess=zdata.image_preprocessor(size, args.channels, augment))
        else:
            src = zdata.tfds_source(args.dataset, data_dir=args.data_dir,
                                    manual_dir=args.manual_dir)
            size = args.image_size or (src.info.get("image_shape") or (224,))[0] or 224
            src.preprocess = zdata.image_preprocessor(size, args.channels, augment)
        shape = (size, size, args.channels)
        src.info["input_shape"] = shape
        check_classes(src.info.get("num_classes"), args.dataset)
        return src, dict(include_top=True, weights=None, input_shape=shape,
                         classes=src.info["num_classes"], classifier_activation="softmax")

    def model_fn(self, spec, args, source, fixed):
        build = super().model_fn(spec, args, source, fixed)
        return with_bn_momentum(build, self.bn_momentum) if self.bn_momentum is not None else build

    def report(self, summary):
        acc = summary["final_test"].get("accuracy", float("nan"))
        return (f"{summary['name']}: test accuracy {acc:.4f}"
                f"{validation_note(summary, 'accuracy')}"
                f"{export_note(summary)}")

    # --------------------------------------------------------------------------- serving
    def endpoints(self, model, **opts):
        return image_endpoints(model, opts, with_top_k=True)

    # ---------------------------------------------------------------------------- search
    def search_data(self, spec, base, *, eval_examples=256, num_train=2048, seed=0):
        shape = tuple(base.get("input_shape") or spec.input_shape)
        over: Dict[str, Any] = {}
        if len(shape) == 1:  # a flat input: the digits at side x side, flattened
            side = int(round(math.sqrt(shape[0])))
            side = side if side * side == shape[0] else 8
            src = zdata.digits_source(side, 1, augment="none", seed=seed)
            inner = src.preprocess

            def flat(ex, training):
                x, y = inner(ex, training)
                return tf.reshape(x, [-1]), y

            src.preprocess = flat
            over["input_shape"] = (side * side,)
        else:
            src = zdata.digits_source(shape[0], shape[2], augment="crop", seed=seed)
            over["input_shape"] = shape
        over.update(classes=10, weights=None, include_top=True, classifier_activation="softmax")
        return limit_eval(src, eval_examples), over

    def tuning_task(self, training):
        return type(self)(label_smoothing=float(training.get("label_smoothing", 0.0) or 0.0),
                          aux_loss_weight=float(training.get("aux_loss_weight", 0.3)))

    aux_weight = RenamedAttribute("aux_loss_weight")


def limit_eval(src, n):
    """`src` with its held-out splits (test, and validation where it has one) cut to `n`
    examples each (None: all)."""
    if src.test is not None and n:
        full = src.test
        src.test = lambda: full().take(n)
        src.num_test = min(src.num_test or n, n)
    if src.validation is not None and n:
        whole = src.validation
        src.validation = lambda: whole().take(n)
        src.num_validation = min(src.num_validation or n, n)
    return src


def with_bn_momentum(model_fn, momentum):
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


def image_bytes_endpoints(classify, size, channels, method, pre_doc, outs, verb):
    """The `image_bytes` signature (a batch of encoded images, `zoo.roles.image_bytes`) of a
    model of a fixed input `size`; none for a model of any size."""
    if size is None:
        return []
    h, w = size

    def from_bytes(image_bytes):
        return classify(decode_images(image_bytes, size, channels, method))

    return [Endpoint(
        "image_bytes", from_bytes,
        [TensorDoc("image_bytes", "string", [None],
                   f"encoded images ({', '.join(IMAGE_FORMATS)}; REST: {{\"b64\": ...}}), each "
                   f"of its own size, decoded to {channels} channel(s) and resized to {h}x{w} "
                   f"({method}) on its own, then {pre_doc}",
                   {"encoded": True, "sizes": [[h + 5, w + 3], [max(h - 3, 1), w + 7]],
                    "channels": channels})],
        outs, f"{verb} a batch of encoded images (JPEG, PNG, GIF, BMP) of any sizes.")]


def image_endpoints(model, opts, *, with_top_k, verb="Classify",
                    what="class probabilities"):
    """`serving_default` (uint8) and `classify_float` (float32) signatures of an image model:
    resize to the model's size, normalise (`preprocessing`), probabilities (+ top-k)."""
    shape = tuple(model.inputs[0].shape[1:])
    if len(model.inputs) != 1 or len(shape) != 3:
        raise ValueError(
            "An image task needs a model with one image input [N, H, W, C]. "
            f"Received: model inputs {[tuple(t.shape) for t in model.inputs]}")
    h, w, c = shape
    size = opts.get("image_size") or ((h, w) if h is not None and w is not None else None)
    pre = preprocess_fn(opts.get("preprocessing", "none"))
    to_probs = probabilities_fn(model, opts.get("output_activation", "auto"))
    classes = int(model.outputs[0].shape[-1])
    k = min(int(opts.get("top_k", 5)), classes)
    method = opts.get("resize_method", "bilinear")
    core = model_core(model, opts, [None] + (list(size) if size else [h, w]) + [c])
    outputs, outs = probability_outputs(to_probs, classes, k, with_top_k and classes > 1,
                                        opts.get("class_names"))
    outs[0].doc = what

    def classify(images):
        x = tf.cast(images, "float32")
        if size is not None:
            x = tf.image.resize(x, size, method=method)
        return outputs(single_output(core(pre(x))))

    sample_size = [(size[0] + 5) if size else 37, (size[1] + 3) if size else 29]
    resize_doc = f"resized to {size[0]}x{size[1]} ({method})" if size else "not resized"
    pre_name = opts.get("preprocessing", "none")
    pre_doc = f"preprocessing={callable_name(pre_name) if callable(pre_name) else pre_name!r}"
    sample = {"shape": [2] + sample_size + [c]}
    return [
        Endpoint("serving_default", classify,
                 [TensorDoc("images", "uint8", [None, None, None, c],
                            f"images of any size with {c} channel(s), pixel values 0..255; "
                            f"{resize_doc}, then {pre_doc} inside the graph",
                            dict(sample, low=0, high=256))],
                 outs, f"{verb} uint8 images of any size."),
        Endpoint("classify_float", classify,
                 [TensorDoc("images", "float32", [None, None, None, c],
                            f"images of any size as float32 pixel values 0..255; {resize_doc}, "
                            f"then {pre_doc}", dict(sample, low=0.0, high=255.0))],
                 outs, f"{verb} float32 images of any size (same as serving_default, float "
                       "pixels)."),
    ] + image_bytes_endpoints(classify, size, c, method, pre_doc, outs, verb)


TASK = ImageClassification
