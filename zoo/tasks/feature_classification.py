"""Classification of feature vectors (the highway network of Srivastava et al. 2015 on flattened
images).

* Training and metrics: as `zoo.tasks.image_classification` (cross-entropy, accuracy).
* Data (`zoo train NAME`): the embedded digits flattened to the model's input length (8x8 = 64
  features, or a square side matching the input, e.g. 28x28 = 784); TFDS image datasets are
  flattened the same way.
* Serving: `serving_default` takes `features` float32 `[N, F]` and returns `probabilities`,
  `top_k_values`, `top_k_indices`; features go in as the pipeline made them (no preprocessing).

Example:
    >>> from zoo.tasks import task_for
    >>> task_for("highway_net").name
    'classification'
"""

from __future__ import annotations

import tensorflow as tf

from zoo.core.registry import parse_overrides
from zoo.roles.serving import (
    Endpoint,
    TensorDoc,
    preprocess_fn,
    probabilities_fn,
    probability_outputs,
)
from zoo.tasks.image_classification import ImageClassification

__all__ = ["FeatureClassification", "TASK"]


class FeatureClassification(ImageClassification):
    """See the module docstring."""

    name = "feature_classification"
    pipeline_preprocessing = None  # the features are served as the pipeline made them

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--dataset", default="digits",
                            help="'digits' (embedded), flattened to the model's input length")
        parser.add_argument("--label-smoothing", type=float, default=0.0,
                            help="cross-entropy label smoothing")

    @classmethod
    def from_args(cls, args):
        if args.dataset != "digits":
            raise ValueError("`--dataset` must be 'digits' for a feature-vector model. "
                             f"Received: dataset={args.dataset!r}")
        return cls(label_smoothing=args.label_smoothing)

    def make_source(self, spec, args):
        shape = parse_overrides(getattr(args, "set", None)).get("input_shape") or spec.input_shape
        return self.search_data(spec, {"input_shape": tuple(shape)}, eval_examples=None)

    def endpoints(self, model, **opts):
        shape = list(model.inputs[0].shape[1:])
        if len(model.inputs) != 1 or len(shape) != 1 or shape[0] is None:
            raise ValueError(
                "task='feature_classification' needs a model with one feature-vector input [N, F]. "
                f"Received: model inputs {[tuple(t.shape) for t in model.inputs]}")
        to_probs = probabilities_fn(model, opts.get("output_activation", "auto"))
        classes = int(model.outputs[0].shape[-1])
        k = min(int(opts.get("top_k", 5)), classes)
        pre = preprocess_fn(opts.get("preprocessing", "none"))
        outputs, outs = probability_outputs(to_probs, classes, k, classes > 1,
                                            opts.get("class_names"))

        def classify(features):
            return outputs(model(pre(tf.cast(features, "float32")), training=False))

        return [Endpoint(
            "serving_default", classify,
            [TensorDoc("features", "float32", [None, shape[0]],
                       f"feature vectors; preprocessing={opts.get('preprocessing', 'none')!r} "
                       "inside the graph", {"shape": [2, shape[0]], "low": 0.0, "high": 1.0})],
            outs, "Classify feature vectors.")]


TASK = FeatureClassification
