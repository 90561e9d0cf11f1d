"""The search role of a task kind: the default search space, the data trials train on, the task
and model a trial trains, its extra metrics and the objective; read by `zoo.tuning`
(docs/tuning.md).

Example:
    >>> from zoo.tasks import task_for
    >>> task_for("dcgan_generator_64").objective
    ('frechet', 'min')
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

import numpy as np

__all__ = ["SearchRole"]


class SearchRole:
    """What a search of a model of this task kind trains, on what, and how it is scored."""

    # keras-tuner objective: (metric name, "min" | "max")
    objective: Tuple[str, str] = ("val_loss", "min")
    # whether a trial trains the model with its registered partner (`ModelSpec.partner`)
    needs_partner = False

    def default_space(self, hp) -> Dict[str, Any]:
        """The search space of a model that declares none: training parameters."""
        return {"learning_rate": hp.Choice("learning_rate", [1e-3, 3e-4]),
                "weight_decay": hp.Choice("weight_decay", [0.0, 1e-4])}

    def search_data(self, spec, base, *, eval_examples=256, num_train=2048, seed=0):
        """`(source, builder overrides)`: the embedded data a search trains on."""
        raise NotImplementedError(f"{type(self).__name__} does not define `search_data`.")

    def tuning_task(self, training: Dict[str, Any]):
        """The task one trial trains with, from the trial's training parameters."""
        return type(self)()

    def tuning_model(self, model, partner=None):
        """What the trainer trains in a trial (the model, or a GAN's pair)."""
        return model

    def trial_metrics(self, trainer, source, seed=0) -> Dict[str, float]:
        """Extra metrics of a trial's epoch (a GAN's Frechet distance)."""
        return {}

    def trial_defaults(self) -> Dict[str, Any]:
        """Defaults of a trial's training parameters (learning rate, optimizer, beta_1)."""
        return {"learning_rate": 1e-3, "optimizer": "adamw", "beta_1": 0.9}

    def quick_examples(self, model, rng, n):
        """`(x, y)`: `n` small learnable examples fitting `model`'s inputs for a `model.fit`
        trial (`zoo.tuning.tuning_data`): class labels from the inputs."""
        inp = model.inputs[0]
        shape = [d if d is not None else 8 for d in inp.shape[1:]]
        out_dim = model.outputs[0].shape[-1]
        if "int" in str(inp.dtype):
            x = rng.integers(1, 10, size=[n] + shape).astype("int32")
            score = (x > 5).mean(axis=tuple(range(1, x.ndim)))
            return x, np.minimum((score * (out_dim or 2)).astype("int64"), (out_dim or 2) - 1)
        classes = int(out_dim or 2)
        y = rng.integers(0, classes, size=n)
        x = rng.standard_normal([n] + shape).astype("float32") * 0.5
        x[..., 0] += (y.reshape([n] + [1] * (len(shape) - 1)) - classes / 2).astype("float32")
        return x, y

    def trial_loss(self, model, training):
        """`(loss, metrics)` of a `model.fit` trial (`zoo.tuning.compile_for_trial`): sparse
        cross-entropy (label-smoothed by the trial's `label_smoothing`) and accuracy."""
        import keras

        from zoo.core.conventions import output_is_probability

        smoothing = float(training.get("label_smoothing", 0.0) or 0.0)
        from_logits = not output_is_probability(model)
        if smoothing:
            def loss(y_true, y_pred):
                classes = keras.ops.shape(y_pred)[-1]
                onehot = keras.ops.one_hot(keras.ops.cast(y_true, "int32"), classes)
                return keras.losses.categorical_crossentropy(onehot, y_pred, from_logits=from_logits,
                                                             label_smoothing=smoothing)

            return loss, ["accuracy"]
        return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits), ["accuracy"]
