"""`zoo train NAME`: the recipe every registered model trains with, read from its task.

The parser is the trainer's flags (`add_train_arguments`, with the task's `flag_defaults`) plus
the task's own flags (`Task.add_arguments`) and `--set KEY=VALUE` (builder arguments); `run`
builds the task from the flags, its data source and model, trains with `Trainer` and exports.

Example:
    >>> from zoo.train import recipe
    >>> summary = recipe.run("highway_net", ["--epochs", "1", "--steps-per-epoch", "2",
    ...                                      "--set", "depth=2", "--quiet", "--no-export",
    ...                                      "--run-dir", "/tmp/zoo-doc-run"])
    >>> sorted(summary["final_test"])
    ['accuracy', 'loss']
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from zoo.core.locks import FolderLock
from zoo.core.registry import get_spec
from zoo.tasks import task_class
from zoo.train.backend import check_backend
from zoo.train.config import CLUSTERS, LR_SCALINGS, OPTIMIZERS, PRECISIONS, SCHEDULES, STRATEGIES, TrainConfig
from zoo.train.finetune import fine_tune
from zoo.train.optimizers import optimizer_takes
from zoo.train.trainer import Trainer

__all__ = ["OPTIMIZER_SETTINGS", "add_train_arguments", "config_from_args", "build_parser", "run",
           "run_recipe", "train_task"]


# settings of some optimizers only: a task's default for one applies to the optimizers that have it
OPTIMIZER_SETTINGS = ("momentum", "nesterov", "beta_1")


def add_train_arguments(parser: argparse.ArgumentParser, **defaults):
    """The trainer's flags (shared by every recipe); `defaults` override the recipe's defaults.

    A default of `momentum`, `nesterov` or `beta_1` is the task's default for the optimizers
    that have that setting (`config_from_args`): `beta_1=0.5` of the DCGAN's Adam does not
    stop `--optimizer sgd`."""
    d = dataclasses.asdict(TrainConfig())
    d.update(defaults)
    optimizer_defaults = {k: d[k] for k in OPTIMIZER_SETTINGS if d[k] not in (None, False)}
    parser.set_defaults(optimizer_defaults=optimizer_defaults)
    for k in OPTIMIZER_SETTINGS:
        d[k] = None
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
    g.add_argument("--optimizer", default=d["optimizer"], metavar="NAME",
                   help=f"{', '.join(OPTIMIZERS)} (sgd: plain, see --momentum / --nesterov) or "
                        "any other name keras.optimizers.get knows (adamax, adadelta, ftrl, "
                        "lion, ...)")
    def task_default(k, otherwise):
        return (f"default: {optimizer_defaults[k]} where the optimizer has it" if k in
                optimizer_defaults else otherwise)

    g.add_argument("--momentum", type=float, default=d["momentum"],
                   help="sgd / rmsprop momentum in [0, 1) ("
                        + task_default("momentum", "default: 0, plain SGD") + ")")
    g.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=d["nesterov"],
                   help="sgd: Nesterov momentum (needs --momentum > 0"
                        + ("; " + task_default("nesterov", "") if "nesterov" in optimizer_defaults
                           else "") + ")")
    g.add_argument("--schedule", choices=SCHEDULES, default=d["schedule"],
                   help="cosine: linear warm-up, then cosine decay to 0 at the last step")
    g.add_argument("--warmup-steps", type=int, default=d["warmup_steps"],
                   help="linear warm-up steps (cosine schedule)")
    g.add_argument("--weight-decay", type=float, default=d["weight_decay"],
                   help="decoupled weight decay (Keras' weight_decay; any optimizer)")
    g.add_argument("--beta-1", type=float, default=d["beta_1"],
                   help="Adam family / Lion beta_1 ("
                        + task_default("beta_1", "default: the optimizer's, 0.9") + ")")
    g.add_argument("--clipnorm", type=float, default=d["clipnorm"],
                   help="clip each gradient to this norm")
    _add_run_arguments(g, d)
    return parser


def _add_run_arguments(g, d):
    """The flags of where and how a run happens (strategy, precision, checkpoints, export)."""
    g.add_argument("--strategy", choices=STRATEGIES, default=d["strategy"],
                   help="auto: all local GPUs (mirrored), one GPU or the CPU; multi_worker reads "
                        "TF_CONFIG")
    g.add_argument("--cluster", choices=CLUSTERS, default=d["cluster"],
                   help="where the workers are read from: TF_CONFIG, a Slurm step, a Kubernetes "
                        "Job's pod, a TPU; auto: what the environment shows (zoo.train.cluster)")
    g.add_argument("--cluster-port", type=int, default=d["cluster_port"],
                   help="--cluster slurm: the first task's port on each node")
    g.add_argument("--tpu", default=d["tpu"], metavar="NAME",
                   help="--cluster tpu: the TPU's name or grpc:// address (default $TPU_NAME, "
                        "else local)")
    g.add_argument("--precision", choices=PRECISIONS, default=d["precision"],
                   help="Keras dtype policy; mixed_float16 adds dynamic loss scaling")
    g.add_argument("--jit-compile", choices=("auto", "on", "off"), default=d["jit_compile"],
                   help="XLA: auto = on with a GPU/TPU")
    g.add_argument("--run-dir", default=d["run_dir"], help="default: runs/<name>")
    g.add_argument("--checkpoint-every", default=d["checkpoint_every"], metavar="WHEN",
                   help="auto (every 30 s or more, at most 2 percent of the time), N steps, '90s', "
                        "'10min', 'epoch' (0), 'Nepochs' or 'end'; the last step always")
    g.add_argument("--eval-every", default=d["eval_every"], metavar="WHEN",
                   help="evaluate at epoch ends: auto (the first two epochs, then at most 5 percent "
                        "of the time), N steps, '90s', 'epoch', 'Nepochs' or 'end'; the last "
                        "epoch always")
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


def config_from_args(args, name, **fixed) -> TrainConfig:
    """The `TrainConfig` of parsed flags; the task's optimizer settings (`OPTIMIZER_SETTINGS`)
    fill those not given, where the optimizer has them."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    kw = {k: v for k, v in vars(args).items() if k in fields}
    kw.update(fixed)
    for k, v in (getattr(args, "optimizer_defaults", None) or {}).items():
        if kw.get(k) is None and optimizer_takes(kw.get("optimizer", TrainConfig.optimizer), k):
            kw[k] = v
    kw["nesterov"] = bool(kw.get("nesterov"))
    kw["name"] = name
    return TrainConfig(**kw)


def run_recipe(args, task, source, model_fn, callbacks=None, **fixed):
    """Train with the flags of `add_train_arguments` (`args`); returns the `Trainer` (its
    `summary`, `model`, ...)."""
    cfg = config_from_args(args, args.model, **fixed)
    trainer = Trainer(task, source, model_fn, cfg, callbacks=callbacks)
    trainer.fit()
    return trainer


def build_parser(name):
    """The parser of `zoo train NAME`: the task's flags, `--set`, the trainer's flags."""
    spec = get_spec(name)
    cls = task_class(spec.task)
    p = argparse.ArgumentParser(
        prog=f"zoo train {name}", formatter_class=argparse.RawDescriptionHelpFormatter,
        description=f"Train {name} ({spec.task}; zoo.tasks.{spec.task}).\n\n"
                    + (sys.modules[cls.__module__].__doc__ or ""))
    p.set_defaults(model=name)
    cls.add_arguments(p)
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="builder argument (JSON value), e.g. --set depth=10")
    return add_train_arguments(p, **cls.flag_defaults)


def train_task(name, args):
    """Train registered model `name` with parsed flags `args`; returns the `Trainer`."""
    check_backend()
    spec = get_spec(name)
    cfg = config_from_args(args, name).validate()  # bad flags fail before the data and model are made
    run_dir = cfg.run_dir or os.path.join("runs", name)
    if cfg.strategy != "multi_worker" and os.path.isdir(run_dir):
        # a run folder another training writes is refused before the data is read (the trainer
        # holds the lock itself from its start; the workers of one run share their folder)
        FolderLock(run_dir, "run folder", "run_dir").acquire().release()
    task = task_class(spec.task).from_args(args)
    source, fixed = task.make_source(spec, args)
    model_fn = task.model_fn(spec, args, source, fixed)
    if getattr(args, "weights", None) is not None:  # fine-tuning (zoo.train.finetune)
        trainer = fine_tune(
            task, source, model_fn, config_from_args(args, name), weights=args.weights,
            freeze_epochs=args.freeze_epochs, fine_tune_lr=args.fine_tune_lr, model_name=name,
            builder_kwargs=fixed, callbacks=task.epoch_callbacks(args))
    else:
        trainer = run_recipe(args, task, source, model_fn, callbacks=task.epoch_callbacks(args))
    task.after_training(trainer, args, source)
    trainer.task_report = task.report(trainer.summary)
    return trainer


def run(name, argv=()):
    """`zoo train NAME ARGV...` in-process; returns the run's summary dict."""
    return train_task(name, build_parser(name).parse_args(list(argv))).summary
