"""Sequence regression: the recurrent regressors (plain RNN, GRU, LSTM, peephole LSTM), on the
adding problem (Hochreiter & Schmidhuber 1997) by default.

* Training: mean squared error (and mean absolute error) over the outputs.
* Data (`zoo train NAME`): the embedded adding problem (`--steps`, `--num-train`); serving and the
  other data of `zoo.roles.sequence`. The signature returns `predictions`.
* Search: trials train on the adding problem at the model's input length.

Example:
    >>> from zoo.tasks import task_for
    >>> task_for("peephole_lstm_regressor").monitor
    'mse'
"""

from __future__ import annotations

import tensorflow as tf

from zoo import data as zdata
from zoo.roles.sequence import SequenceTask, sequence_endpoints
from zoo.roles.task import f32
from zoo.tasks.image_classification import limit_eval

__all__ = ["SequenceRegression", "TASK"]


class SequenceRegression(SequenceTask):
    """See the module docstring."""

    name = "sequence_regression"
    monitor = "mse"
    default_dataset = "adding"

    def forward(self, model, batch, training):
        x, y = batch
        out = f32(model(x, training=training))
        err = tf.reshape(out - tf.reshape(f32(y), tf.shape(out)), [tf.shape(out)[0], -1])
        per = tf.reduce_mean(tf.square(err), axis=-1)
        loss_sum = tf.reduce_sum(per)
        return loss_sum, {"loss_sum": loss_sum, "mse_sum": loss_sum,
                          "mae_sum": tf.reduce_sum(tf.reduce_mean(tf.abs(err), -1)),
                          "count": tf.cast(tf.shape(out)[0], tf.float32)}

    def fixed_by(self, spec, info):
        return dict(super().fixed_by(spec, info), classes=None, num_classes=None, outputs=1)

    def endpoints(self, model, **opts):
        return sequence_endpoints(model, opts, regression=True)

    def search_data(self, spec, base, *, eval_examples=256, num_train=2048, seed=0):
        shape = tuple(base.get("input_shape") or spec.input_shape or (100, 1))
        steps = int(shape[0] or 100)
        src = zdata.adding_source(steps=steps, num_train=num_train, num_test=eval_examples,
                                  seed=seed, num_validation=eval_examples)
        return limit_eval(src, eval_examples), dict(input_shape=(steps, 2), horizon=1, targets=1)

    def quick_examples(self, model, rng, n):
        """Targets: the share of tokens over 5, or the mean of the features."""
        inp = model.inputs[0]
        shape = [d if d is not None else 8 for d in inp.shape[1:]]
        if "int" in str(inp.dtype):
            x = rng.integers(1, 10, size=[n] + shape).astype("int32")
            score = (x > 5).mean(axis=tuple(range(1, x.ndim)))
            return x, score[:, None].astype("float32")
        x = rng.standard_normal([n] + shape).astype("float32")
        return x, x.mean(axis=tuple(range(1, x.ndim)))[:, None].astype("float32")

    def trial_loss(self, model, training):
        return "mse", []


TASK = SequenceRegression
