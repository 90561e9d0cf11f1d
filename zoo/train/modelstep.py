"""`ModelStepTask`: train any model with its own step through the distributed trainer."""

from __future__ import annotations

from typing import Any, Callable, Optional

import tensorflow as tf

from zoo.roles.gan_training import pair_optimizer_variables
from zoo.roles.task import Task, f32

__all__ = ["ModelStepTask"]


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

    def optimizer_variables(self, model, optimizers, optimizer):
        return pair_optimizer_variables(model, optimizers, optimizer)

    def train_step(self, model, optimizers, batch, denominator, num_replicas):
        if hasattr(model, "distributed_train_step"):
            logs = model.distributed_train_step(batch, denominator)
        else:
            logs = model.train_step(batch)
        stats = {f"{k}_sum": f32(v) for k, v in logs.items() if tf.is_tensor(v) or
                 isinstance(v, (float, int))}
        stats["count"] = tf.constant(1.0)
        return stats

    def evaluation_step(self, model, batch):
        return None

    def export_model(self, model):
        return getattr(model, "generator", model)  # a GAN model: serve its generator
