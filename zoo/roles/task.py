"""`Task`: everything the workflows need to know about one kind of task.

A task kind (`zoo.core.registry.TASKS`) is one module of `zoo.tasks` holding one `Task` subclass, the
single place that says, for every model registered with that task:

* **training**: what one step computes (`forward` for supervised tasks: the sum of per-example
  losses and a dict of sums; or a whole `train_step` with its own optimizers, as the GAN task),
  the metrics (`summarize`) and the one the recipe reports (`monitor`);
* **data**: the recipe's flags (`add_arguments`, `train_defaults`), the default data source and its
  preprocessing (`make_source`), what the data fixes in the builder (classes, input shape, ...);
* **serving**: the named signatures (`endpoints`), what is exported (`export_model`) and with which
  options (`export_options`: the preprocessing the weights were trained with travels with them);
* **search**: the default search space (`default_space`), the data trials train on
  (`search_data`), the task a trial trains with (`tuning_task`) and the objective (`objective`).

The workflows (`zoo.train`, `zoo.export`, `zoo.tuning`) read the task of the registered model
(`zoo.tasks.task_for(name)`) and never switch on task or model names.

Example:
    >>> from zoo.tasks import task_for
    >>> task = task_for("googlenet_bn")
    >>> task.name, task.monitor
    ('image_classification', 'accuracy')
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, List, Optional, Tuple

import tensorflow as tf

from zoo.core.conventions import output_is_probability
from zoo.core.registry import create_model, get_spec, parse_overrides

__all__ = ["Task", "builder_fn", "f32", "smoothed_cross_entropy", "classification_forward"]


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


def builder_fn(name, overrides=None, **candidates) -> Callable[[], Any]:
    """`model_fn` for the trainer: `zoo.create_model(name, **kwargs)` where `kwargs` are the
    `candidates` the builder takes (by its signature; None values dropped) updated with
    `overrides` (a dict, or `--set KEY=VALUE` strings).

    Example:
        >>> fn = builder_fn("highway_net", ["depth=2"], classes=10, unknown_argument=1)
        >>> fn().name
        'highway_net'
    """
    params = inspect.signature(get_spec(name).builder).parameters
    takes_any = any(p.kind == p.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in candidates.items() if v is not None and (takes_any or k in params)}
    kwargs.update(parse_overrides(overrides) if isinstance(overrides, list) else (overrides or {}))
    return lambda: create_model(name, **kwargs)


class Task:
    """Base class of the task kinds; see the module docstring.

    Supervised tasks implement `forward(model, batch, training) -> (loss_sum, stats)`: the sum of
    per-example losses of this replica's batch and a dict of *sums* (reduced over replicas and
    steps, turned into metrics by `summarize`). The trainer divides `loss_sum` by the global
    `denominator` (the global batch, or the global number of tokens), so the gradients summed
    over replicas are those of one replica with the global batch. Tasks with their own update
    (GANs) override `train_step` and `build_optimizers`.
    """

    name = "task"
    monitor = "loss"
    # the trainer's flag defaults for this task's recipe (`zoo train NAME --help`)
    train_defaults: Dict[str, Any] = {}
    # the image normalisation the task's data pipeline trains with (`export_options`)
    pipeline_preprocessing: Optional[str] = None
    # keras-tuner objective: (metric name, "min" | "max")
    objective: Tuple[str, str] = ("val_loss", "min")
    needs_partner = False

    # ------------------------------------------------------------------------- training
    def build_optimizers(self, model, make_optimizer) -> Dict[str, Any]:
        return {"optimizer": make_optimizer()}

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
        return self.forward(model, batch, training=False)[1]

    def summarize(self, sums: Dict[str, float]) -> Dict[str, float]:
        count = max(float(sums.get("count", 1.0)), 1e-12)
        return {k[:-4]: float(v) / count for k, v in sums.items() if k.endswith("_sum")}

    # ---------------------------------------------------------------------- the recipe
    @classmethod
    def add_arguments(cls, parser) -> None:
        """The task's own flags of `zoo train NAME` (the trainer adds its flags)."""

    @classmethod
    def from_args(cls, args) -> "Task":
        """The task configured by the recipe's flags (ValueError naming a bad flag)."""
        return cls()

    def make_source(self, spec, args) -> Tuple[Any, Dict[str, Any]]:
        """`(zoo.data.DataSource, builder arguments the data fixes)` for `zoo train`."""
        raise NotImplementedError(f"{type(self).__name__} does not define `make_source`.")

    def model_fn(self, spec, args, source, fixed: Dict[str, Any]) -> Callable[[], Any]:
        """Builds the model to train (in the strategy's scope): the registered builder with
        what the data fixes and the `--set` overrides."""
        return builder_fn(spec.name, getattr(args, "set", None), **fixed)

    def epoch_callbacks(self, args) -> List[Callable]:
        """`fn(trainer, epoch, logs)` called on the chief after each epoch."""
        return []

    def after_training(self, trainer, args, source) -> None:
        """Extra evaluation once training is done (added to `trainer.summary`)."""

    def report(self, summary) -> str:
        """The one line `zoo train` prints at the end."""
        return (f"{summary['name']} on {summary['dataset']}: test {summary['final_test']}"
                f"{validation_note(summary)}{export_note(summary)}")

    # -------------------------------------------------------------------------- serving
    def trained_preprocessing(self, source=None) -> Optional[str]:
        """The input normalisation of a model this task trained on `source` (its
        `info["preprocessing"]`, else the task pipeline's): what the trainer and a search record
        on the model they trained, so that its exports normalise as it was trained."""
        info = getattr(source, "info", None) or {}
        return info.get("preprocessing", self.pipeline_preprocessing)

    def export_model(self, model):
        """The model that gets exported for serving."""
        return model

    def export_options(self, spec=None, model=None) -> Dict[str, Any]:
        """Export options of `model` (registered as `spec`, or None): the preprocessing its
        weights were trained with (`zoo.core.weights.preprocessing_of`: a zoo training run's pipeline,
        or the peer's for ported weights); for an untrained registered model the card's
        `preprocessing` (its peer's `preprocess_input`), else the task pipeline's."""
        from zoo.core.weights import preprocessing_of

        opts = dict((spec.export_options or {}) if spec is not None else {})
        pre = preprocessing_of(model) if model is not None else None
        if pre is None and spec is not None:  # untrained: the card's, else the pipeline's
            pre = spec.preprocessing if spec.preprocessing is not None else self.pipeline_preprocessing
        if pre is not None:
            opts["preprocessing"] = pre
        return opts

    def endpoints(self, model, **opts) -> List[Any]:
        """The named signatures (`zoo.roles.serving.Endpoint`) of `model`."""
        raise NotImplementedError(f"{type(self).__name__} does not define `endpoints`.")

    # --------------------------------------------------------------------------- search
    def default_space(self, hp) -> Dict[str, Any]:
        """The search space of a model that declares none: training parameters."""
        return {"learning_rate": hp.Choice("learning_rate", [1e-3, 3e-4]),
                "weight_decay": hp.Choice("weight_decay", [0.0, 1e-4])}

    def search_data(self, spec, base, *, eval_examples=256, num_train=2048, seed=0):
        """`(source, builder overrides)`: the embedded data a search trains on."""
        raise NotImplementedError(f"{type(self).__name__} does not define `search_data`.")

    def tuning_task(self, training: Dict[str, Any]) -> "Task":
        """The task one trial trains with, from the trial's training parameters."""
        return type(self)()

    def tuning_model(self, model, partner=None):
        """What the trainer trains in a trial (the model, or a GAN's pair)."""
        return model

    def trial_metrics(self, trainer, source, seed=0) -> Dict[str, float]:
        """Extra metrics of a trial's epoch (a GAN's Frechet distance)."""
        return {}

    def training_defaults(self) -> Dict[str, Any]:
        """Defaults of a trial's training parameters (learning rate, optimizer, beta_1)."""
        return {"learning_rate": 1e-3, "optimizer": "adamw", "beta_1": 0.9}


def export_note(summary) -> str:
    """", exported to PATH" for a report line, or ", not exported" after `--no-export`."""
    path = summary.get("export_path")
    return f", exported to {path}" if path else ", not exported"


def validation_note(summary, metric=None) -> str:
    """", validation ..." (the split settings are chosen on) for a report line, or ""."""
    val = summary.get("final_validation") or {}
    if metric is not None:
        return f", validation {metric} {val[metric]:.4f}" if metric in val else ""
    return f", validation {val}" if val else ""


def logits_flag(model, from_logits=None) -> bool:
    """`from_logits` unless None, else whether `model`'s output is not a probability."""
    return (not output_is_probability(model)) if from_logits is None else bool(from_logits)
