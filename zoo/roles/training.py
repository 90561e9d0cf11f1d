"""The training role of a task kind: what one step computes, its loss, metrics and optimizers
(as Model Garden's `base_task.Task`); read by `zoo.train.Trainer` (docs/training.md).

Example:
    >>> from zoo.tasks import task_for
    >>> task_for("googlenet_bn").monitor
    'accuracy'
"""

from __future__ import annotations

from typing import Any, Dict

import tensorflow as tf

from zoo.core.conventions import output_is_probability

__all__ = ["TrainingRole", "f32", "smoothed_cross_entropy", "classification_forward", "logits_flag"]


def f32(t):
    """`t` as float32 (mixed-precision outputs are summed in float32)."""
    return tf.cast(t, tf.float32)


def smoothed_cross_entropy(onehot, out, from_logits, eps):
    """Per-example cross-entropy against `onehot` targets smoothed by `eps`."""
    k = tf.cast(tf.shape(onehot)[-1], tf.float32)
    target = onehot * (1.0 - eps) + eps / k
    logp = tf.nn.log_softmax(out) if from_logits else tf.math.log(tf.clip_by_value(out, 1e-7, 1.0))
    return -tf.reduce_sum(target * logp, axis=-1)


def classification_forward(out, y, from_logits, label_smoothing=0.0):
    """`(per-example loss, per-example correct)` of class scores `out` against integer labels."""
    out = f32(out)
    y = tf.cast(y, tf.int32)
    if label_smoothing:
        per = smoothed_cross_entropy(tf.one_hot(y, tf.shape(out)[-1]), out, from_logits,
                                     label_smoothing)
    elif from_logits:
        per = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=out)
    else:
        per = -tf.math.log(tf.clip_by_value(tf.gather(out, y, batch_dims=1), 1e-7, 1.0))
    correct = f32(tf.equal(tf.argmax(out, -1, output_type=tf.int32), y))
    return per, correct


def logits_flag(model, from_logits=None) -> bool:
    """`from_logits` unless None, else whether `model`'s output is not a probability."""
    return (not output_is_probability(model)) if from_logits is None else bool(from_logits)


class TrainingRole:
    """One step, its loss and metrics, and the optimizers it updates.

    Supervised tasks implement `forward(model, batch, training) -> (loss_sum, stats)`: the sum of
    per-example losses of this replica's batch and a dict of *sums* (reduced over replicas and
    steps, turned into metrics by `summarize`). The trainer divides `loss_sum` by the global
    `denominator` (the global batch, or the global number of tokens), so the gradients summed
    over replicas are those of one replica with the global batch. Tasks with their own update
    (GANs) override `train_step`, `build_optimizers` and `optimizer_variables`.
    """

    name = "task"
    # the metric the recipe reports
    monitor = "loss"

    def build_optimizers(self, model, make_optimizer) -> Dict[str, Any]:
        """`{checkpoint key: optimizer}` of `model` (`make_optimizer()` makes one)."""
        return {"optimizer": make_optimizer()}

    def optimizer_variables(self, model, optimizers, optimizer):
        """The variables `optimizer` (one of `optimizers`) updates, to build it before a restore."""
        return model.trainable_variables

    def denominator(self, batch):
        """Per-replica count that normalises the loss (summed over replicas by the trainer)."""
        return tf.cast(tf.shape(tf.nest.flatten(batch)[0])[0], tf.float32)

    def forward(self, model, batch, training):
        raise NotImplementedError(f"{type(self).__name__} does not define `forward`.")

    def train_step(self, model, optimizers, batch, denominator, num_replicas):
        """One update on this replica's batch; returns the dict of sums."""
        optimizer = optimizers["optimizer"]
        variables = model.trainable_variables
        with tf.GradientTape() as tape:
            loss_sum, stats = self.forward(model, batch, training=True)
            loss = loss_sum / denominator
            if model.losses:
                loss += tf.add_n([f32(v) for v in model.losses]) / num_replicas
            scaled = optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss
        grads = tape.gradient(scaled, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return stats

    def evaluation_step(self, model, batch):
        """The dict of sums of one held-out batch (None: the task does not evaluate)."""
        return self.forward(model, batch, training=False)[1]

    def summarize(self, sums: Dict[str, float]) -> Dict[str, float]:
        """Metrics from the dict of sums: each `<metric>_sum` over `count`."""
        count = max(float(sums.get("count", 1.0)), 1e-12)
        return {k[:-4]: float(v) / count for k, v in sums.items() if k.endswith("_sum")}
