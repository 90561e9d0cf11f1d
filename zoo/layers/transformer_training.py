"""The Transformer's serializable pieces outside its layers: the classifier's first-token pooling,
the label-smoothed loss (section 5.4) and the learning-rate schedule (eq. 3). They live with the
layers so that `import zoo` registers them before `keras.saving.load_model` (docs/transformer.md).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

__all__ = ["FirstToken", "LabelSmoothedCrossEntropy", "TransformerSchedule"]


def _check_int(name, value, minimum=1):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(
            f"`{name}` must be an integer of at least {minimum}. Received: {name}={value!r}"
        )


@keras.saving.register_keras_serializable(package="zoo")
class FirstToken(keras.layers.Layer):
    """The representation at position 0: (batch, length, d) -> (batch, d)."""

    def call(self, inputs):
        return inputs[:, 0]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


# `.keras` files written before 0.2 name the class `zoo>_FirstToken`
keras.saving.get_custom_objects()["zoo>_FirstToken"] = FirstToken


@keras.saving.register_keras_serializable(package="zoo")
class LabelSmoothedCrossEntropy(keras.losses.Loss):
    """Cross-entropy with label smoothing eps_ls (section 5.4) that ignores padding positions.

    The target distribution puts 1 - epsilon + epsilon / V on the true token and epsilon / V on
    every other token (keras' `label_smoothing` convention); positions whose label is `pad_id`
    get weight 0 and the loss is averaged over the real tokens.

    Args:
        epsilon: smoothing eps_ls (the paper: 0.1).
        pad_id: label id of padding, ignored.
        from_logits: whether predictions are logits (the `zoo.transformer_seq2seq` output) or
            probabilities.
        reduction, name, dtype: as for `keras.losses.Loss`; the default reduction
            "mean_with_sample_weight" averages over the non-padding tokens.

    Example:
        >>> import numpy as np
        >>> loss = LabelSmoothedCrossEntropy(epsilon=0.1)
        >>> y_true = np.array([[3, 1, 0]])
        >>> logits = np.zeros((1, 3, 5), "float32")
        >>> round(float(loss(y_true, logits)), 4)      # uniform prediction: log(5)
        1.6094
    """

    def __init__(self, epsilon=0.1, pad_id=0, from_logits=True,
                 reduction="mean_with_sample_weight", name="label_smoothed_cross_entropy",
                 dtype=None):
        if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or not 0 <= epsilon < 1:
            raise ValueError(f"`epsilon` must be a float in [0, 1). Received: epsilon={epsilon!r}")
        _check_int("pad_id", pad_id, minimum=0)
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.epsilon = float(epsilon)
        self.pad_id = int(pad_id)
        self.from_logits = bool(from_logits)

    def __call__(self, y_true, y_pred, sample_weight=None):
        weights = ops.cast(ops.not_equal(ops.cast(y_true, "int32"), self.pad_id), "float32")
        if sample_weight is not None:
            weights = weights * ops.cast(sample_weight, "float32")
        return super().__call__(y_true, y_pred, sample_weight=weights)

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        labels = ops.cast(y_true, "int32")
        if self.from_logits:
            log_probs = ops.log_softmax(y_pred, axis=-1)
        else:
            log_probs = ops.log(ops.clip(y_pred, keras.backend.epsilon(), 1.0))
        log_probs = ops.cast(log_probs, "float32")
        true_lp = ops.squeeze(
            ops.take_along_axis(log_probs, ops.expand_dims(labels, -1), axis=-1), -1
        )
        mean_lp = ops.mean(log_probs, axis=-1)
        # -(1 - eps) log p_y - eps * mean_v log p_v
        return -(1.0 - self.epsilon) * true_lp - self.epsilon * mean_lp

    def get_config(self):
        config = super().get_config()
        config.update(
            {"epsilon": self.epsilon, "pad_id": self.pad_id, "from_logits": self.from_logits}
        )
        return config


@keras.saving.register_keras_serializable(package="zoo")
class TransformerSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """lrate = scale * d_model^-0.5 * min(step_num^-0.5, step_num * warmup_steps^-1.5) (eq. 3).

    `step` is the optimizer's iteration count, which starts at 0; `step_num = step + 1`, so the
    first update uses step_num = 1 and the peak d_model^-0.5 * warmup^-0.5 is reached at
    step = warmup_steps - 1.

    Args:
        d_model: model width (512 for base, 1024 for big).
        warmup_steps: the paper's 4000.
        scale: an extra factor (1 in the paper).

    Example:
        >>> schedule = TransformerSchedule(d_model=512, warmup_steps=4000)
        >>> round(float(schedule(3999)), 7)
        0.0006988
    """

    def __init__(self, d_model=512, warmup_steps=4000, scale=1.0):
        _check_int("d_model", d_model)
        _check_int("warmup_steps", warmup_steps)
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or scale <= 0:
            raise ValueError(f"`scale` must be a positive number. Received: scale={scale!r}")
        self.d_model = int(d_model)
        self.warmup_steps = int(warmup_steps)
        self.scale = float(scale)

    def __call__(self, step):
        step_num = ops.cast(step, "float32") + 1.0
        return (
            self.scale
            * self.d_model**-0.5
            * ops.minimum(ops.rsqrt(step_num), step_num * float(self.warmup_steps) ** -1.5)
        )

    def get_config(self):
        return {"d_model": self.d_model, "warmup_steps": self.warmup_steps, "scale": self.scale}
