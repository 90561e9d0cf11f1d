"""The distributed trainer every recipe uses (TensorFlow only: tf.distribute, tf.data, tf.train).

One custom training loop for every strategy: `strategy.run` of a per-replica step over a
distributed dataset, in a `tf.function`, with the per-replica step itself compiled by XLA
(`tf.function(jit_compile=True)`) when `jit_compile` is on. It works where Keras 3's `model.fit`
does not (`MultiWorkerMirroredStrategy`, keras-team/keras#20585) and keeps XLA on under a strategy.

* Strategies: `auto` (all local GPUs mirrored, one GPU, or the CPU), `one_device`, `mirrored`,
  `multi_worker` (reads `TF_CONFIG`). The global batch is split over the replicas; gradients are
  summed over replicas of losses divided by the *global* batch, so any replica count computes
  the same update as one replica with the same global batch.
* Precision: `float32`, `mixed_bfloat16`, `mixed_float16` (dynamic loss scaling).
* Checkpoints (`tf.train.CheckpointManager`: model, optimizers, step) every `checkpoint_every`
  steps and at each epoch end. The data stream is a seeded, deterministic sequence, so its
  position is the step: re-running the same command after a kill resumes at the last checkpoint
  and finishes the planned steps.
* A non-finite loss stops the run (`NonFiniteLossError`) before anything is saved; the last
  checkpoint is the last good one.
* Progress bars, TensorBoard scalars (loss, metrics, learning rate, examples/s), a training-curve
  PNG and a JSON summary, and an export to `saved_models/<name>/<version>/` at the end.

Tasks (`Task`) say what one step does: `ClassificationTask` (sparse cross-entropy, accuracy),
`RegressionTask` (MSE), `Seq2SeqTask` (teacher forcing, loss over non-padding tokens), `GANTask`
(two optimizers, non-saturating loss) and `ModelStepTask` (the model's own `train_step`).

Example:
    >>> import keras
    >>> from zoo import data, train
    >>> src = data.get_source("digits", image_size=16, channels=1)
    >>> def build():
    ...     return keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Flatten(),
    ...                              keras.layers.Dense(10)])
    >>> cfg = train.TrainConfig(name="demo", epochs=1, batch_size=64, run_dir="/tmp/demo",
    ...                         export=False, progress=False)
    >>> summary = train.Trainer(train.ClassificationTask(), src, build, cfg).fit()
    >>> summary["final_eval"]["accuracy"] > 0.5
    True
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import sys
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import tensorflow as tf

from zoo import data as zdata
from zoo.registry import parse_overrides  # noqa: F401  (`--set KEY=VALUE`; public here too)

__all__ = [
    "TrainConfig",
    "Trainer",
    "Task",
    "ClassificationTask",
    "RegressionTask",
    "Seq2SeqTask",
    "GANTask",
    "ModelStepTask",
    "NonFiniteLossError",
    "make_strategy",
    "add_train_arguments",
    "config_from_args",
    "add_cli",
    "parse_overrides",
    "model_builder",
    "run_recipe",
    "STRATEGIES",
    "PRECISIONS",
]

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine")
LR_SCALINGS = ("none", "linear", "sqrt")


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the run stopped and kept its last good checkpoint."""


# ------------------------------------------------------------------------------------ config

@dataclasses.dataclass
class TrainConfig:
    """Everything a run needs besides the task, the data and the model.

    Attributes:
        name: run and export name (`saved_models/<name>/`).
        epochs: planned epochs; `steps_per_epoch` defaults to `num_train // batch_size`.
        batch_size: the *global* batch (split over replicas).
        learning_rate: at `base_batch_size` (see `lr_scaling`).
        lr_scaling: `none`, `linear` or `sqrt` scaling of the learning rate with
            `batch_size / base_batch_size`.
        optimizer / schedule / warmup_steps / weight_decay / momentum: the optimizer.
        strategy / precision: see `STRATEGIES`, `PRECISIONS`.
        jit_compile: `auto` (XLA on GPU/TPU, off on CPU where it compiles slower than it runs
            for small models), `on` or `off`.
        run_dir: checkpoints, TensorBoard logs, history, curve and summary (`runs/<name>`).
        checkpoint_every: steps between checkpoints (and each epoch end); 0: epoch ends only.
        export / export_dir: export at the end to `<export_dir>/<name>/<version>/`.
        cpu_devices: split the CPU into this many logical devices (to try `mirrored` on CPU).
    """

    name: str = "model"
    epochs: int = 1
    steps_per_epoch: Optional[int] = None
    batch_size: int = 64
    eval_batch_size: Optional[int] = None
    learning_rate: float = 1e-3
    base_batch_size: Optional[int] = None
    lr_scaling: str = "none"
    optimizer: str = "adam"
    schedule: str = "constant"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    momentum: float = 0.9
    beta_1: float = 0.9
    clipnorm: Optional[float] = None
    strategy: str = "auto"
    precision: str = "float32"
    jit_compile: str = "auto"
    run_dir: Optional[str] = None
    checkpoint_every: int = 200
    keep_checkpoints: int = 3
    log_every: int = 20
    seed: int = 0
    progress: bool = True
    export: bool = True
    export_dir: str = "saved_models"
    cpu_devices: int = 0
    eval_every_epoch: bool = True

    def validate(self):
        def check(cond, arg, allowed):
            if not cond:
                raise ValueError(
                    f"`{arg}` must be {allowed}. Received: {arg}={getattr(self, arg)!r}"
                )
        check(self.strategy in STRATEGIES, "strategy", f"one of {STRATEGIES}")
        check(self.precision in PRECISIONS, "precision", f"one of {PRECISIONS}")
        check(self.jit_compile in ("auto", "on", "off"), "jit_compile", "'auto', 'on' or 'off'")
        check(self.optimizer in OPTIMIZERS, "optimizer", f"one of {OPTIMIZERS}")
        check(self.schedule in SCHEDULES, "schedule", f"one of {SCHEDULES}")
        check(self.lr_scaling in LR_SCALINGS, "lr_scaling", f"one of {LR_SCALINGS}")
        check(isinstance(self.epochs, int) and self.epochs >= 1, "epochs", "an integer >= 1")
        check(isinstance(self.batch_size, int) and self.batch_size >= 1, "batch_size",
              "an integer >= 1")
        check(self.steps_per_epoch is None or self.steps_per_epoch >= 1, "steps_per_epoch",
              "None or an integer >= 1")
        check(self.learning_rate > 0, "learning_rate", "positive")
        check(self.checkpoint_every >= 0, "checkpoint_every", "an integer >= 0")
        return self

    def scaled_learning_rate(self):
        if self.lr_scaling == "none" or not self.base_batch_size:
            return self.learning_rate
        ratio = self.batch_size / self.base_batch_size
        return self.learning_rate * (ratio if self.lr_scaling == "linear" else math.sqrt(ratio))


# ------------------------------------------------------------------------------------- tasks

class Task:
    """What one training step computes, per replica.

    Supervised tasks implement `forward(model, batch, training) -> (loss_sum, stats)`: the sum of
    per-example losses of this replica's batch and a dict of *sums* (reduced over replicas and
    steps, turned into metrics by `summarize`). The trainer divides `loss_sum` by the global
    `denominator` (the global batch, or the global number of tokens), so the gradients summed over
    replicas are those of one replica with the global batch. Tasks with their own update
    (GANs, models with a `train_step`) override `train_step` and `build_optimizers`.
    """

    name = "task"
    monitor = "loss"  # the metric a recipe reports
    export_options: Dict[str, Any] = {}  # extra `zoo.export.export_model` options

    def build_optimizers(self, model, make_optimizer) -> Dict[str, Any]:
        return {"optimizer": make_optimizer()}

    def denominator(self, batch):
        """Per-replica count that normalises the loss (summed over replicas by the trainer)."""
        return tf.cast(tf.shape(tf.nest.flatten(batch)[0])[0], tf.float32)

    def forward(self, model, batch, training):
        raise NotImplementedError

    def train_step(self, model, optimizers, batch, denominator, num_replicas):
        """One update on this replica's batch; returns the dict of sums."""
        optimizer = optimizers["optimizer"]
        variables = model.trainable_variables
        with tf.GradientTape() as tape:
            loss_sum, stats = self.forward(model, batch, training=True)
            loss = loss_sum / denominator
            if model.losses:
                loss += tf.add_n([tf.cast(l, tf.float32) for l in model.losses]) / num_replicas
            scaled = optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss
        grads = tape.gradient(scaled, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return stats

    def eval_step(self, model, batch):
        return self.forward(model, batch, training=False)[1]

    def summarize(self, sums: Dict[str, float]) -> Dict[str, float]:
        count = max(float(sums.get("count", 1.0)), 1e-12)
        return {k[:-4]: float(v) / count for k, v in sums.items() if k.endswith("_sum")}

    def export_model(self, model):
        """The model that gets exported for serving."""
        return model


def _f32(t):
    return tf.cast(t, tf.float32)


class ClassificationTask(Task):
    """Sparse categorical cross-entropy and accuracy; the model outputs logits or probabilities."""

    name = "classification"
    monitor = "accuracy"

    def __init__(self, from_logits=None, label_smoothing=0.0):
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing

    def _logits_flag(self, model):
        if self.from_logits is not None:
            return self.from_logits
        last = model.layers[-1] if getattr(model, "layers", None) else None
        act = getattr(last, "activation", None)
        return getattr(act, "__name__", "") != "softmax"

    def forward(self, model, batch, training):
        x, y = batch
        out = _f32(model(x, training=training))
        from_logits = self._logits_flag(model)
        y = tf.cast(y, tf.int32)
        if self.label_smoothing:
            onehot = tf.one_hot(y, tf.shape(out)[-1])
            per = _smoothed_ce(onehot, out, from_logits, self.label_smoothing)
        elif from_logits:
            per = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=out)
        else:
            per = -tf.math.log(tf.clip_by_value(tf.gather(out, y, batch_dims=1), 1e-7, 1.0))
        correct = tf.cast(tf.equal(tf.argmax(out, -1, output_type=tf.int32), y), tf.float32)
        n = tf.cast(tf.shape(y)[0], tf.float32)
        loss_sum = tf.reduce_sum(per)
        return loss_sum, {"loss_sum": loss_sum, "accuracy_sum": tf.reduce_sum(correct),
                          "count": n}


def _smoothed_ce(onehot, out, from_logits, eps):
    k = tf.cast(tf.shape(onehot)[-1], tf.float32)
    target = onehot * (1.0 - eps) + eps / k
    logp = tf.nn.log_softmax(out) if from_logits else tf.math.log(tf.clip_by_value(out, 1e-7, 1.0))
    return -tf.reduce_sum(target * logp, axis=-1)


class RegressionTask(Task):
    """Mean squared error (and mean absolute error)."""

    name = "regression"
    monitor = "mse"

    def forward(self, model, batch, training):
        x, y = batch
        out = _f32(model(x, training=training))
        y = tf.reshape(_f32(y), tf.shape(out))
        err = tf.reshape(out - y, [tf.shape(out)[0], -1])
        per = tf.reduce_mean(tf.square(err), axis=-1)
        loss_sum = tf.reduce_sum(per)
        return loss_sum, {"loss_sum": loss_sum, "mse_sum": loss_sum,
                          "mae_sum": tf.reduce_sum(tf.reduce_mean(tf.abs(err), -1)),
                          "count": tf.cast(tf.shape(out)[0], tf.float32)}


class Seq2SeqTask(Task):
    """Teacher forcing: the model takes `[source, decoder_input]` and returns logits over the
    target vocabulary at every position; cross-entropy (optionally label-smoothed) and token
    accuracy count only the non-padding target tokens, and the loss is normalised by the global
    number of target tokens."""

    name = "seq2seq"
    monitor = "token_accuracy"

    def __init__(self, pad_id=zdata.PAD, label_smoothing=0.0):
        self.pad_id = pad_id
        self.label_smoothing = label_smoothing

    def denominator(self, batch):
        return tf.reduce_sum(_f32(tf.not_equal(batch[1], self.pad_id)))

    def forward(self, model, batch, training):
        (src, dec_in), labels = batch
        logits = _f32(model([src, dec_in], training=training))
        labels = tf.cast(labels, tf.int32)
        mask = _f32(tf.not_equal(labels, self.pad_id))
        if self.label_smoothing:
            onehot = tf.one_hot(labels, tf.shape(logits)[-1])
            per = _smoothed_ce(onehot, logits, True, self.label_smoothing)
        else:
            per = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        correct = _f32(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels)) * mask
        loss_sum = tf.reduce_sum(per * mask)
        exact = tf.reduce_sum(_f32(tf.equal(tf.reduce_sum(correct, -1), tf.reduce_sum(mask, -1))))
        return loss_sum, {"loss_sum": loss_sum, "token_accuracy_sum": tf.reduce_sum(correct),
                          "tokens": tf.reduce_sum(mask), "exact_sum": exact,
                          "count": _f32(tf.shape(labels)[0])}

    def summarize(self, sums):
        tokens = max(float(sums.get("tokens", 1.0)), 1e-12)
        count = max(float(sums.get("count", 1.0)), 1e-12)
        return {"loss": float(sums["loss_sum"]) / tokens,
                "token_accuracy": float(sums["token_accuracy_sum"]) / tokens,
                "teacher_forced_exact": float(sums["exact_sum"]) / count}


class GANTask(Task):
    """A GAN from a model with `generator` and `discriminator` attributes (e.g. zoo's DCGAN).

    Non-saturating loss (Goodfellow et al. 2014), one discriminator and one generator update per
    step, each with its own optimizer (Adam lr 2e-4, beta_1 0.5 as in Radford et al. 2015 when the
    recipe says so). Latent vectors are drawn from U(-1, 1). The batch is images (a tuple's first
    entry if labelled). The generator is what gets exported.
    """

    name = "gan"
    monitor = "d_real"

    def __init__(self, latent_dim=None):
        self.latent_dim = latent_dim

    def build_optimizers(self, model, make_optimizer):
        return {"d_optimizer": make_optimizer(), "g_optimizer": make_optimizer()}

    def _latent(self, model):
        if self.latent_dim is not None:
            return self.latent_dim
        return int(model.generator.inputs[0].shape[-1])

    def train_step(self, model, optimizers, batch, denominator, num_replicas):
        real = batch[0] if isinstance(batch, (tuple, list)) else batch
        n = tf.shape(real)[0]
        gen, disc = model.generator, model.discriminator
        bce = lambda labels, logits: tf.nn.sigmoid_cross_entropy_with_logits(  # noqa: E731
            labels=labels, logits=logits)
        z = tf.random.uniform([n, self._latent(model)], -1.0, 1.0)
        with tf.GradientTape() as tape:
            fake = gen(z, training=True)
            real_logits = tf.reshape(_f32(disc(real, training=True)), [n])
            fake_logits = tf.reshape(_f32(disc(fake, training=True)), [n])
            d_per = bce(tf.ones_like(real_logits), real_logits) + bce(
                tf.zeros_like(fake_logits), fake_logits)
            d_loss = tf.reduce_sum(d_per) / denominator
            scaled = optimizers["d_optimizer"].scale_loss(d_loss)
        grads = tape.gradient(scaled, disc.trainable_variables)
        optimizers["d_optimizer"].apply_gradients(zip(grads, disc.trainable_variables))
        z = tf.random.uniform([n, self._latent(model)], -1.0, 1.0)
        with tf.GradientTape() as tape:
            fake_logits = tf.reshape(_f32(disc(gen(z, training=True), training=True)), [n])
            g_per = bce(tf.ones_like(fake_logits), fake_logits)
            g_loss = tf.reduce_sum(g_per) / denominator
            scaled = optimizers["g_optimizer"].scale_loss(g_loss)
        grads = tape.gradient(scaled, gen.trainable_variables)
        optimizers["g_optimizer"].apply_gradients(zip(grads, gen.trainable_variables))
        return {"d_loss_sum": tf.reduce_sum(d_per), "g_loss_sum": tf.reduce_sum(g_per),
                "d_real_sum": tf.reduce_sum(tf.sigmoid(real_logits)),
                "d_fake_sum": tf.reduce_sum(tf.sigmoid(fake_logits)), "count": _f32(n)}

    def summarize(self, sums):
        out = super().summarize(sums)
        out["loss"] = out["d_loss"] + out["g_loss"]
        return out

    def eval_step(self, model, batch):
        return None

    def export_model(self, model):
        return model.generator


class ModelStepTask(Task):
    """Use the model's own step: `model.distributed_train_step(batch, global_denominator)` if it
    has one (it must divide its per-example losses by that global count), else Keras'
    `model.train_step(batch)` (the model must be compiled in the strategy's scope; its metrics are
    averaged over replicas and steps). Checkpoints include the model's optimizers as attributes."""

    name = "model_step"

    def __init__(self, compile_fn: Optional[Callable[[Any, Callable], None]] = None):
        self.compile_fn = compile_fn

    def build_optimizers(self, model, make_optimizer):
        if self.compile_fn is not None:
            self.compile_fn(model, make_optimizer)
        opts = {}
        for attr in ("optimizer", "d_optimizer", "g_optimizer"):
            opt = getattr(model, attr, None)
            if opt is not None:
                opts[attr] = opt
        return opts

    def train_step(self, model, optimizers, batch, denominator, num_replicas):
        if hasattr(model, "distributed_train_step"):
            logs = model.distributed_train_step(batch, denominator)
        else:
            logs = model.train_step(batch)
        stats = {f"{k}_sum": _f32(v) for k, v in logs.items() if tf.is_tensor(v) or
                 isinstance(v, (float, int))}
        stats["count"] = tf.constant(1.0)
        return stats

    def eval_step(self, model, batch):
        return None

    def export_model(self, model):
        return getattr(model, "generator", model)


# --------------------------------------------------------------------------------- strategy

def _split_cpu(n):
    if n and n > 1:
        cpus = tf.config.list_physical_devices("CPU")
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
        )


def make_strategy(name="auto"):
    """A `tf.distribute` strategy by name (see the module docstring)."""
    if name not in STRATEGIES:
        raise ValueError(f"`strategy` must be one of {STRATEGIES}. Received: strategy={name!r}")
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "strategy='multi_worker' reads the cluster from the TF_CONFIG environment "
                "variable, which is not set. Received: TF_CONFIG=None"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored":
        if gpus:
            return tf.distribute.MirroredStrategy()
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(
            devices=cpus, cross_device_ops=tf.distribute.ReductionToOneDevice()
        )
    if name == "auto" and len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")


def _is_chief(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type is None or task_type == "chief" or (
        task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()
    )


def _worker_index(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and resolver is not None:
        return f"{resolver.task_type}_{resolver.task_id}"
    return "0"


# ---------------------------------------------------------------------------------- trainer

class Trainer:
    """Trains `model_fn()` on `source` for `task` as `config` says; see the module docstring.

    Args:
        task: a `Task`.
        source: a `zoo.data.DataSource`.
        model_fn: builds the model (called in the strategy's scope, after the dtype policy is set).
        config: a `TrainConfig`.
        callbacks: `fn(trainer, epoch, logs)` called on the chief after each epoch (sample grids).
        step_callbacks: `fn(trainer, step, metrics)` called on every worker after each step.
        strategy: an existing strategy (otherwise `make_strategy(config.strategy)`).
    """

    def __init__(self, task: Task, source, model_fn: Callable, config: TrainConfig,
                 callbacks: Optional[List[Callable]] = None, strategy=None,
                 step_callbacks: Optional[List[Callable]] = None):
        self.task = task
        self.source = source
        self.model_fn = model_fn
        self.config = config.validate()
        self.callbacks = list(callbacks or [])
        self.step_callbacks = list(step_callbacks or [])
        self._strategy = strategy
        self.model = None
        self.history: List[Dict[str, Any]] = []

    # -- set-up
    def _setup(self):
        import keras

        cfg = self.config
        _split_cpu(cfg.cpu_devices)
        self.strategy = self._strategy or make_strategy(cfg.strategy)
        self.is_chief = _is_chief(self.strategy)
        self.replicas = self.strategy.num_replicas_in_sync
        if cfg.batch_size % self.replicas:
            raise ValueError(
                f"`batch_size` (global) must be divisible by the {self.replicas} replicas. "
                f"Received: batch_size={cfg.batch_size}"
            )
        self.per_replica_batch = cfg.batch_size // self.replicas
        n = self.source.num_train
        self.steps_per_epoch = cfg.steps_per_epoch or (max(n // cfg.batch_size, 1) if n else None)
        if self.steps_per_epoch is None:
            raise ValueError(
                "The dataset's size is unknown: pass `steps_per_epoch`. Received: "
                "steps_per_epoch=None"
            )
        self.total_steps = self.steps_per_epoch * cfg.epochs
        on_accelerator = bool(tf.config.list_logical_devices("GPU") or
                              tf.config.list_logical_devices("TPU"))
        self.jit = cfg.jit_compile == "on" or (cfg.jit_compile == "auto" and on_accelerator)
        if self.jit and not on_accelerator and self.replicas > 1:
            # On CPU, XLA can neither reach variables of another logical device
            # (tensorflow.org/xla/known_issues) nor compile collectives (b/194942685); on GPUs the
            # whole per-replica step, all-reduce included, is compiled.
            print("[zoo.train] XLA is off: several CPU replicas cannot run XLA-compiled steps.",
                  file=sys.stderr)
            self.jit = False
        keras.config.set_dtype_policy(cfg.precision)
        keras.utils.set_random_seed(cfg.seed)
        self.run_dir = cfg.run_dir or os.path.join("runs", cfg.name)
        self.ckpt_dir = os.path.join(self.run_dir, "checkpoints")
        if not self.is_chief:  # other workers write their copy aside and delete it
            self.ckpt_write_dir = os.path.join(
                self.run_dir, "worker_tmp", _worker_index(self.strategy))
        else:
            self.ckpt_write_dir = self.ckpt_dir
        with self.strategy.scope():
            self.model = self.model_fn()
            self.optimizers = self.task.build_optimizers(self.model, self._make_optimizer)
            for opt in self.optimizers.values():
                if not opt.built:
                    opt.build(self.model.trainable_variables if len(self.optimizers) == 1
                              else self._variables_for(opt))
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.checkpoint = tf.train.Checkpoint(model=self.model, step=self.step, **self.optimizers)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self.ckpt_write_dir, max_to_keep=cfg.keep_checkpoints)

    def _variables_for(self, opt):
        model = self.model
        for key, net in (("d_optimizer", "discriminator"), ("g_optimizer", "generator")):
            if self.optimizers.get(key) is opt and hasattr(model, net):
                return getattr(model, net).trainable_variables
        return model.trainable_variables

    def _make_optimizer(self):
        import keras

        cfg = self.config
        lr = cfg.scaled_learning_rate()
        if cfg.schedule == "cosine":
            lr = keras.optimizers.schedules.CosineDecay(
                0.0 if cfg.warmup_steps else lr, decay_steps=max(self.total_steps - cfg.warmup_steps, 1),
                warmup_target=lr if cfg.warmup_steps else None, warmup_steps=cfg.warmup_steps,
            )
        kw = {"learning_rate": lr}
        if cfg.clipnorm:
            kw["clipnorm"] = cfg.clipnorm
        if cfg.optimizer == "adam":
            opt = keras.optimizers.Adam(beta_1=cfg.beta_1, **kw)
        elif cfg.optimizer == "adamw":
            opt = keras.optimizers.AdamW(beta_1=cfg.beta_1, weight_decay=cfg.weight_decay, **kw)
        else:
            opt = keras.optimizers.SGD(momentum=cfg.momentum, nesterov=True, **kw)
        if cfg.precision == "mixed_float16":
            opt = keras.optimizers.LossScaleOptimizer(opt)
        return opt

    def _dataset(self, skip_steps):
        def fn(ctx):
            return zdata.train_pipeline(
                self.source, ctx.get_per_replica_batch_size(self.config.batch_size), ctx,
                seed=self.config.seed, skip_steps=skip_steps)
        options = tf.distribute.InputOptions(experimental_fetch_to_device=True)
        return self.strategy.distribute_datasets_from_function(fn, options)

    def _make_train_function(self):
        strategy, task, model, opts = self.strategy, self.task, self.model, self.optimizers
        replicas = self.replicas

        def replica_step(batch, denominator):
            return task.train_step(model, opts, batch, denominator, replicas)

        if self.jit:
            replica_step = tf.function(replica_step, jit_compile=True, reduce_retracing=True)

        def count(batch):
            return task.denominator(batch)

        @tf.function
        def train_function(iterator):
            batch = next(iterator)
            denom = strategy.reduce("SUM", strategy.run(count, args=(batch,)), axis=None)
            stats = strategy.run(replica_step, args=(batch, denom))
            self.step.assign_add(1)
            return {k: strategy.reduce("SUM", v, axis=None) for k, v in stats.items()}

        return train_function

    # -- checkpoints and history
    def _restore(self):
        latest = tf.train.latest_checkpoint(self.ckpt_dir)
        if latest:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
            hist_file = os.path.join(self.run_dir, "history.json")
            if os.path.exists(hist_file):
                with open(hist_file) as f:
                    saved = json.load(f)
                self.history = [h for h in saved.get("history", [])
                                if h["step"] <= int(self.step.numpy())]
                self._prior_wall = float(saved.get("wall_time_s", 0.0))
        return latest

    def _save(self):
        path = self.manager.save(checkpoint_number=int(self.step.numpy()))
        if not self.is_chief:
            shutil.rmtree(self.ckpt_write_dir, ignore_errors=True)
            try:
                os.rmdir(os.path.dirname(self.ckpt_write_dir))  # only when no other worker's
            except OSError:
                pass
            return path
        self._write_json("history.json", {"history": self.history,
                                          "wall_time_s": self._wall_time()})
        return path

    def update_summary(self, **entries):
        """Add entries (e.g. a recipe's final check) to the summary and its JSON file."""
        self.summary.update(entries)
        self._write_json("summary.json", self.summary)

    def _write_json(self, filename, obj):
        if not self.is_chief:
            return
        os.makedirs(self.run_dir, exist_ok=True)
        path = os.path.join(self.run_dir, filename)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, default=_json_default)
        os.replace(tmp, path)

    def _wall_time(self):
        return self._prior_wall + (time.time() - self._t0)

    def current_learning_rate(self):
        opt = next(iter(self.optimizers.values()), None)
        inner = getattr(opt, "inner_optimizer", opt)
        try:
            return float(np.asarray(inner.learning_rate))
        except Exception:
            return float("nan")

    # -- evaluation
    def evaluate(self):
        """Metrics on the held-out split (every example, on this worker), or {}."""
        ds = zdata.eval_pipeline(self.source, self.config.eval_batch_size or self.config.batch_size)
        if ds is None:
            return {}
        if not hasattr(self, "_eval_fn"):
            fn = lambda batch: self.task.eval_step(self.model, batch)  # noqa: E731
            self._eval_fn = tf.function(fn, jit_compile=self.jit, reduce_retracing=True)
        sums = {}
        with self.strategy.scope():
            for batch in ds:
                stats = self._eval_fn(batch)
                if stats is None:
                    return {}
                for k, v in stats.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
        return self.task.summarize(sums)

    # -- the loop
    def fit(self) -> Dict[str, Any]:
        """Train (resuming from the run's last checkpoint), evaluate, write the curve, the summary
        and the export; returns the summary."""
        import keras

        self._prior_wall = 0.0
        self._setup()
        cfg = self.config
        self._t0 = time.time()
        resumed = self._restore()
        start = int(self.step.numpy())
        writer = tf.summary.create_file_writer(os.path.join(self.run_dir, "logs")) \
            if self.is_chief else tf.summary.create_noop_writer()
        if self.is_chief and cfg.progress:
            where = f"resuming at step {start} from {resumed}" if resumed else "from scratch"
            print(f"[zoo.train] {cfg.name}: {self.replicas} replica(s) "
                  f"({type(self.strategy).__name__}), global batch {cfg.batch_size}, "
                  f"{self.total_steps} steps, precision {cfg.precision}, "
                  f"XLA {'on' if self.jit else 'off'}; {where}", flush=True)
        train_function = self._make_train_function()
        iterator = iter(self._dataset(start))
        epoch_sums: Dict[str, float] = {}
        window_t, window_n = time.time(), 0
        throughput = []
        last_good = resumed
        bar = None
        step = start
        eval_logs: Dict[str, float] = {}
        while step < self.total_steps:
            epoch, in_epoch = divmod(step, self.steps_per_epoch)
            if in_epoch == 0 or bar is None:
                if in_epoch == 0:
                    epoch_sums = {}
                if self.is_chief and cfg.progress:
                    print(f"Epoch {epoch + 1}/{cfg.epochs}", flush=True)
                    bar = keras.utils.Progbar(self.steps_per_epoch, verbose=1 if sys.stdout.isatty()
                                              else 2)
                else:
                    bar = False
            stats = {k: float(v) for k, v in train_function(iterator).items()}
            step += 1
            metrics = self.task.summarize(stats)
            bad = [k for k, v in metrics.items() if not math.isfinite(v)]
            if bad:
                raise NonFiniteLossError(
                    f"The {bad[0]} became {metrics[bad[0]]} at step {step} (epoch {epoch + 1}) "
                    f"of run {cfg.name!r}. Training stopped without saving; the last good "
                    f"checkpoint is {last_good or 'none (no checkpoint was written yet)'}. Try a "
                    f"lower learning rate, gradient clipping (clipnorm) or float32.")
            for k, v in stats.items():
                epoch_sums[k] = epoch_sums.get(k, 0.0) + v
            window_n += cfg.batch_size
            for cb in self.step_callbacks:
                cb(self, step, metrics)
            epoch_metrics = self.task.summarize(epoch_sums)
            if bar:
                bar.update(in_epoch + 1, values=list(epoch_metrics.items()), finalize=False)
            end_of_epoch = (step % self.steps_per_epoch == 0)
            if step % cfg.log_every == 0 or end_of_epoch or step == self.total_steps:
                now = time.time()
                eps = window_n / max(now - window_t, 1e-9)
                if step - start > cfg.log_every or end_of_epoch:  # the first window holds tracing
                    throughput.append(eps)
                window_t, window_n = now, 0
                lr = self.current_learning_rate()
                with writer.as_default(step=step):
                    for k, v in metrics.items():
                        tf.summary.scalar(f"train/{k}", v)
                    tf.summary.scalar("train/learning_rate", lr)
                    tf.summary.scalar("train/examples_per_second", eps)
                self.history.append({"step": step, "epoch": epoch + 1, "kind": "train",
                                     "learning_rate": lr, "examples_per_second": eps, **metrics})
            if end_of_epoch:
                if bar:
                    bar.update(self.steps_per_epoch, values=list(epoch_metrics.items()),
                               finalize=True)
                eval_logs = self.evaluate() if cfg.eval_every_epoch else {}
                if eval_logs:
                    with writer.as_default(step=step):
                        for k, v in eval_logs.items():
                            tf.summary.scalar(f"eval/{k}", v)
                    if self.is_chief and cfg.progress:
                        print("  eval: " + ", ".join(f"{k}={v:.4f}" for k, v in eval_logs.items()),
                              flush=True)
                self.history.append({"step": step, "epoch": epoch + 1, "kind": "epoch",
                                     **{f"train_{k}": v for k, v in epoch_metrics.items()},
                                     **{f"eval_{k}": v for k, v in eval_logs.items()}})
                for cb in self.callbacks:
                    if self.is_chief:
                        cb(self, epoch + 1, {**epoch_metrics, **eval_logs})
            if end_of_epoch or (cfg.checkpoint_every and step % cfg.checkpoint_every == 0):
                last_good = self._save()
            writer.flush()
        if not eval_logs:
            eval_logs = self.evaluate()
        final_train = self.task.summarize(epoch_sums) if epoch_sums else {}
        summary = {
            "name": cfg.name, "task": self.task.name, "dataset": self.source.name,
            "strategy": type(self.strategy).__name__, "replicas": self.replicas,
            "precision": cfg.precision, "jit_compile": self.jit,
            "global_batch_size": cfg.batch_size, "learning_rate": cfg.scaled_learning_rate(),
            "epochs": cfg.epochs, "steps": self.total_steps, "resumed_from_step": start,
            "final_train": final_train, "final_eval": eval_logs,
            "wall_time_s": self._wall_time(),
            "examples_per_second": float(np.median(throughput)) if throughput else None,
            "params": int(sum(int(np.prod(w.shape)) for w in self.model.weights)),
        }
        self.summary = summary
        if self.is_chief:
            summary["curve"] = self._plot()
            if cfg.export:
                summary["export_path"] = _export(self.task.export_model(self.model), cfg.name,
                                                 cfg.export_dir, **self.task.export_options)
            self._write_json("summary.json", summary)
            if cfg.progress:
                print(f"[zoo.train] done: {json.dumps(summary['final_eval'] or final_train)}; "
                      f"summary in {os.path.join(self.run_dir, 'summary.json')}", flush=True)
        return summary

    def _plot(self):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        train = [h for h in self.history if h["kind"] == "train"]
        epochs = [h for h in self.history if h["kind"] == "epoch"]
        if not train:
            return None
        keys = [k for k in train[-1] if k not in ("step", "epoch", "kind", "learning_rate",
                                                  "examples_per_second")]
        fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.5), squeeze=False)
        for ax, k in zip(axes[0], keys):
            ax.plot([h["step"] for h in train], [h[k] for h in train], label=f"train {k}")
            ev = [(h["step"], h[f"eval_{k}"]) for h in epochs if f"eval_{k}" in h]
            if ev:
                ax.plot(*zip(*ev), "o-", label=f"eval {k}")
            ax.set_xlabel("step")
            ax.set_title(k)
            ax.legend()
        fig.suptitle(self.config.name)
        fig.tight_layout()
        path = os.path.join(self.run_dir, "training_curve.png")
        fig.savefig(path, dpi=80)
        plt.close(fig)
        return path


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    return str(o)


def _export(model, name, export_dir, **options):
    """Export for serving with `zoo.export.export_model` (`options` are its task options):
    `<export_dir>/<name>/<version>/`, the next free integer version, written to a temporary
    folder and renamed into place."""
    from zoo.export import export_model

    return str(export_model(model, name=name, export_dir=export_dir, **options))


# ------------------------------------------------------------------------------------- CLI

def add_train_arguments(parser: argparse.ArgumentParser, **defaults):
    """The trainer's flags (shared by every recipe); `defaults` override the recipe's defaults."""
    d = dataclasses.asdict(TrainConfig())
    d.update(defaults)
    g = parser.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=d["epochs"], help="planned epochs")
    g.add_argument("--steps-per-epoch", type=int, default=d["steps_per_epoch"],
                   help="default: examples // batch size")
    g.add_argument("--batch-size", type=int, default=d["batch_size"], help="global batch")
    g.add_argument("--learning-rate", "--lr", type=float, default=d["learning_rate"],
                   help="peak learning rate (at --base-batch-size when --lr-scaling is on)")
    g.add_argument("--lr-scaling", choices=LR_SCALINGS, default=d["lr_scaling"],
                   help="scale the learning rate with batch-size / base-batch-size")
    g.add_argument("--base-batch-size", type=int, default=d["base_batch_size"],
                   help="the batch --lr is given for (with --lr-scaling)")
    g.add_argument("--optimizer", choices=OPTIMIZERS, default=d["optimizer"],
                   help="sgd: Nesterov momentum 0.9")
    g.add_argument("--schedule", choices=SCHEDULES, default=d["schedule"],
                   help="cosine: linear warm-up, then cosine decay to 0 at the last step")
    g.add_argument("--warmup-steps", type=int, default=d["warmup_steps"],
                   help="linear warm-up steps (cosine schedule)")
    g.add_argument("--weight-decay", type=float, default=d["weight_decay"], help="AdamW")
    g.add_argument("--beta-1", type=float, default=d["beta_1"], help="Adam beta_1")
    g.add_argument("--clipnorm", type=float, default=d["clipnorm"],
                   help="clip each gradient to this norm")
    g.add_argument("--strategy", choices=STRATEGIES, default=d["strategy"],
                   help="auto: all local GPUs (mirrored), one GPU or the CPU; multi_worker reads "
                        "TF_CONFIG")
    g.add_argument("--precision", choices=PRECISIONS, default=d["precision"],
                   help="Keras dtype policy; mixed_float16 adds dynamic loss scaling")
    g.add_argument("--jit-compile", choices=("auto", "on", "off"), default=d["jit_compile"],
                   help="XLA: auto = on with a GPU/TPU")
    g.add_argument("--run-dir", default=d["run_dir"], help="default: runs/<name>")
    g.add_argument("--checkpoint-every", type=int, default=d["checkpoint_every"],
                   help="steps between checkpoints (also at each epoch end; 0: epoch ends only)")
    g.add_argument("--log-every", type=int, default=d["log_every"],
                   help="steps between TensorBoard / history entries")
    g.add_argument("--seed", type=int, default=d["seed"],
                   help="initialisation and data order (the same on every worker)")
    g.add_argument("--no-export", dest="export", action="store_false", default=d["export"],
                   help="skip the SavedModel export at the end")
    g.add_argument("--export-dir", default=d["export_dir"],
                   help="export to <export-dir>/<name>/<version>/ (next free version)")
    g.add_argument("--quiet", dest="progress", action="store_false", default=d["progress"],
                   help="no progress bars or per-epoch lines")
    g.add_argument("--cpu-devices", type=int, default=d["cpu_devices"],
                   help="split the CPU into N logical devices (try --strategy mirrored on CPU)")
    return parser


def config_from_args(args, name, **fixed) -> TrainConfig:
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    kw = {k: v for k, v in vars(args).items() if k in fields}
    kw.update(fixed)
    kw["name"] = name
    return TrainConfig(**kw)


def model_builder(name, overrides=None, **candidates):
    """`model_fn` for `Trainer`: `zoo.create_model(name, **kwargs)` where `kwargs` are the
    `candidates` the builder takes (by its signature) updated with `overrides` (`--set`)."""
    import inspect

    from zoo.registry import create_model, get_spec

    params = inspect.signature(get_spec(name).builder).parameters
    takes_any = any(p.kind == p.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in candidates.items()
              if v is not None and (takes_any or k in params)}
    kwargs.update(parse_overrides(overrides) if isinstance(overrides, list) else (overrides or {}))
    return lambda: create_model(name, **kwargs)


def zoo_task_of(name):
    """The registered task of model `name` (ValueError if it is not registered)."""
    from zoo.registry import get_spec

    return get_spec(name).task


def run_recipe(args, task, source, model_fn, callbacks=None, **fixed):
    """Train with the flags of `add_train_arguments` (`args`); returns the `Trainer` (its
    `summary`, `model`, ...)."""
    cfg = config_from_args(args, args.model, **fixed)
    trainer = Trainer(task, source, model_fn, cfg, callbacks=callbacks)
    trainer.fit()
    return trainer


# Recipe modules by family (the `recipes/` scripts); `zoo train NAME` picks one by the model's
# family, or by the name itself for the sequence baselines.
RECIPES = {
    "resnet": "image_classification",
    "googlenet": "image_classification",
    "inception": "image_classification",
    "gated_skip": "image_classification",
    "peephole_lstm": "peephole_lstm",
    "transformer": "transformer",
    "dcgan": "dcgan",
}


def _load_recipe(module_name):
    import importlib
    import importlib.util

    try:
        return importlib.import_module(f"recipes.{module_name}")
    except ImportError:
        here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "recipes",
                            f"{module_name}.py")
        spec = importlib.util.spec_from_file_location(f"zoo_recipe_{module_name}", here)
        if spec is None or not os.path.exists(here):
            raise
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod


def recipe_for(name):
    """The recipe module that trains registered model `name`."""
    from zoo.registry import get_spec

    return _load_recipe(RECIPES[get_spec(name).family])


def _cmd_train(args):
    recipe = recipe_for(args.name)
    argv = [args.name] + list(args.recipe_args)
    try:
        return recipe.main(argv)
    except NonFiniteLossError as e:
        print(f"zoo train: {e}", file=sys.stderr)
        return 1


def add_cli(subparsers):
    """`zoo train NAME [recipe flags]`: runs the recipe of NAME's family (see recipes/)."""
    p = subparsers.add_parser(
        "train", help="train a registered model with its family's recipe",
        description="Train a registered model with its family's recipe; the flags after NAME go "
                    "to the recipe (see `zoo train NAME --help`).", add_help=True)
    p.add_argument("name")
    p.add_argument("recipe_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_cmd_train)
