"""Sequence classification: the recurrent classifiers (sequences of features or tokens).

* Training: sparse categorical cross-entropy and accuracy (`zoo.roles.task.classification_forward`).
* Data, serving: `zoo.roles.sequence` (default data: the digits as 8 rows of 8 features).
* Search: trials train on `digits_rows`.

Example:
    >>> from zoo.tasks import task_for
    >>> task_for("peephole_lstm_classifier").monitor
    'accuracy'
"""

from __future__ import annotations

import tensorflow as tf

from zoo.roles.recipe import check_classes
from zoo.roles.sequence import SequenceTask
from zoo.roles.task import classification_forward, logits_flag

__all__ = ["SequenceClassification", "TASK"]


class SequenceClassification(SequenceTask):
    """See the module docstring."""

    name = "sequence_classification"
    monitor = "accuracy"
    default_dataset = "digits_rows"

    def __init__(self, label_smoothing=0.0, from_logits=None):
        self.label_smoothing = float(label_smoothing)
        self.from_logits = from_logits

    def forward(self, model, batch, training):
        x, y = batch
        per, correct = classification_forward(model(x, training=training), y,
                                              logits_flag(model, self.from_logits),
                                              self.label_smoothing)
        loss_sum = tf.reduce_sum(per)
        return loss_sum, {"loss_sum": loss_sum, "accuracy_sum": tf.reduce_sum(correct),
                          "count": tf.cast(tf.shape(per)[0], tf.float32)}

    def make_source(self, spec, args):
        src, fixed = super().make_source(spec, args)
        check_classes(src.info.get("num_classes"), args.dataset or self.default_dataset)
        return src, fixed

    def tuning_task(self, training):
        return type(self)(label_smoothing=float(training.get("label_smoothing", 0.0) or 0.0))


TASK = SequenceClassification
