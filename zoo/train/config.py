"""`TrainConfig`: everything a training run needs besides the task, the data and the model."""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Optional, Union

from zoo.core.saving import check_writable_folder
from zoo.train.schedule import parse_every

__all__ = ["TrainConfig", "STRATEGIES", "CLUSTERS", "PRECISIONS", "OPTIMIZERS", "SCHEDULES", "LR_SCALINGS"]

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")
# where the cluster of a multi-worker run is read from (zoo.train.cluster)
CLUSTERS = ("auto", "none", "tf_config", "slurm", "kubernetes", "tpu")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# the optimizers of the notes; `--optimizer` takes any name of `zoo.train.optimizers.optimizer_names()`
OPTIMIZERS = ("sgd", "adagrad", "rmsprop", "adam", "adamw", "nadam")
SCHEDULES = ("constant", "cosine")
LR_SCALINGS = ("none", "linear", "sqrt")


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
        optimizer / momentum / nesterov / weight_decay / beta_1 / clipnorm: the optimizer, made
            and checked by `zoo.train.optimizers.make_optimizer` (`sgd` is plain SGD: momentum
            0 unless `momentum` is given; None: the optimizer's own default).
        schedule / warmup_steps: the learning rate's schedule.
        strategy / precision: see `STRATEGIES`, `PRECISIONS`.
        jit_compile: `auto` (XLA on GPU/TPU, off on CPU where it compiles slower than it runs
            for small models), `on` or `off`.
        run_dir: checkpoints, TensorBoard logs, history, curve and summary (`runs/<name>`).
        checkpoint_every: when to checkpoint (`zoo.train.schedule`): `"auto"` (every 30 s or
            more, at most 2% of the time), steps (an int or `"500steps"`; 0: epoch ends),
            seconds (`"90s"`, `"10min"`), `"epoch"` / `"Nepochs"` or `"end"`; the last step
            is always checkpointed.
        eval_every: when to evaluate at an epoch end, in the same terms: `"auto"` (after the
            first two epochs, then so that evaluating costs at most 5% of the run); the last
            epoch is always evaluated. `eval_every_epoch=False` evaluates only at the end.
        export / export_dir: export at the end to `<export_dir>/<name>/<version>/`.
        cpu_devices: split the CPU into this many logical devices (to try `mirrored` on CPU).
        cluster / cluster_port / tpu: the cluster of a multi-worker or TPU run, read by
            tf.distribute's resolver for it (`zoo.train.cluster`; `auto` finds it in the
            environment), Slurm's first port on each node, and the TPU's name.
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
    momentum: Optional[float] = None
    nesterov: bool = False
    beta_1: Optional[float] = None
    clipnorm: Optional[float] = None
    strategy: str = "auto"
    precision: str = "float32"
    jit_compile: str = "auto"
    run_dir: Optional[str] = None
    checkpoint_every: Union[int, str] = "auto"
    keep_checkpoints: int = 3
    log_every: int = 20
    seed: int = 0
    progress: bool = True
    export: bool = True
    export_dir: str = "saved_models"
    cpu_devices: int = 0
    cluster: str = "auto"
    cluster_port: int = 8888
    tpu: Optional[str] = None
    eval_every_epoch: bool = True
    eval_every: Union[int, str] = "auto"

    def validate(self):
        def check(cond, arg, allowed):
            if not cond:
                raise ValueError(
                    f"`{arg}` must be {allowed}. Received: {arg}={getattr(self, arg)!r}"
                )
        check(self.strategy in STRATEGIES, "strategy", f"one of {STRATEGIES}")
        check(self.cluster in CLUSTERS, "cluster", f"one of {CLUSTERS}")
        check(isinstance(self.cluster_port, int) and 0 < self.cluster_port < 65536,
              "cluster_port", "a port number (1 to 65535)")
        check(self.precision in PRECISIONS, "precision", f"one of {PRECISIONS}")
        check(self.jit_compile in ("auto", "on", "off"), "jit_compile", "'auto', 'on' or 'off'")
        check(self.schedule in SCHEDULES, "schedule", f"one of {SCHEDULES}")
        check(self.lr_scaling in LR_SCALINGS, "lr_scaling", f"one of {LR_SCALINGS}")
        check(isinstance(self.epochs, int) and self.epochs >= 1, "epochs", "an integer >= 1")
        check(isinstance(self.batch_size, int) and self.batch_size >= 1, "batch_size",
              "an integer >= 1")
        check(self.steps_per_epoch is None or self.steps_per_epoch >= 1, "steps_per_epoch",
              "None or an integer >= 1")
        parse_every(self.checkpoint_every, "checkpoint_every")
        parse_every(self.eval_every, "eval_every")
        check(isinstance(self.log_every, int) and self.log_every >= 1, "log_every",
              "an integer >= 1")
        check(isinstance(self.keep_checkpoints, int) and self.keep_checkpoints >= 1,
              "keep_checkpoints", "an integer >= 1")
        check(isinstance(self.warmup_steps, int) and self.warmup_steps >= 0, "warmup_steps",
              "an integer >= 0")
        check(self.eval_batch_size is None or self.eval_batch_size >= 1, "eval_batch_size",
              "None or an integer >= 1")
        check(self.base_batch_size is None or self.base_batch_size >= 1, "base_batch_size",
              "None or an integer >= 1")
        check(self.lr_scaling == "none" or self.base_batch_size is not None, "base_batch_size",
              f"given with lr_scaling={self.lr_scaling!r} (the batch the learning rate is for)")
        check(isinstance(self.cpu_devices, int) and self.cpu_devices >= 0, "cpu_devices",
              "an integer >= 0")
        check(isinstance(self.seed, int) and self.seed >= 0, "seed", "an integer >= 0")
        # folders: checked before the first step, never found wrong after training
        if self.run_dir is not None:
            check_writable_folder(self.run_dir, "run_dir")
        if self.export:
            check_writable_folder(self.export_dir, "export_dir")
            check_writable_folder(os.path.join(self.export_dir, self.name), "export_dir/name")
        self.check_optimizer()
        return self

    def check_optimizer(self):
        """The optimizer's settings checked (`zoo.train.optimizers.check_optimizer`)."""
        from zoo.train.optimizers import check_optimizer

        return check_optimizer(self.optimizer, self.learning_rate, momentum=self.momentum,
                               nesterov=self.nesterov, weight_decay=self.weight_decay,
                               beta_1=self.beta_1, clipnorm=self.clipnorm or None)

    def scaled_learning_rate(self):
        if self.lr_scaling == "none" or not self.base_batch_size:
            return self.learning_rate
        ratio = self.batch_size / self.base_batch_size
        return self.learning_rate * (ratio if self.lr_scaling == "linear" else math.sqrt(ratio))
