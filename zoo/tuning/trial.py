"""Training one trial: on the recipes' data with the recipes' trainer (the default), or through
`model.fit` on data a caller brings (`data_fn` / `train_fn`, or `tuning_data` for a quick check).

What a trial of a model trains on, with which step, loss and objective, is its task's search role
(`zoo.roles.search.SearchRole`); docs/tuning.md.
"""

from __future__ import annotations

import inspect

import keras
import numpy as np
import tensorflow as tf

from zoo.tasks import task_for
from zoo.train.config import TrainConfig
from zoo.train.optimizers import check_optimizer, make_optimizer, optimizer_takes
from zoo.train.trainer import Trainer

__all__ = ["tuning_data", "trial_optimizer", "compile_for_trial", "train_trial", "recipe_data",
           "train_with_recipe_trainer", "TuningTrainer", "StopTrial"]


def recipe_data(spec, base, *, eval_examples=256, num_train=2048, seed=0):
    """`(source, builder overrides)`: the embedded data trials of `spec` train on (its task's
    `search_data`); of the overrides the data fixes (classes, input shape, `weights=None`, ...)
    only those `spec.builder` takes (a stand-in builder need not take keras.applications'
    arguments)."""
    source, over = task_for(spec).search_data(spec, base, eval_examples=eval_examples,
                                              num_train=num_train, seed=seed)
    params = inspect.signature(spec.builder).parameters
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        over = {k: v for k, v in over.items() if k in params}
    return source, over


def tuning_data(spec, model, seed=0, n=96):
    """A small embedded, learnable dataset fitting `model`'s inputs, for a `model.fit` trial:
    the examples of `spec`'s task (`quick_examples`), three quarters for training.

    Returns a dict with `x`, `y` and `validation_data`.
    """
    x, y = task_for(spec).quick_examples(model, np.random.default_rng(seed), n)
    cut = n * 3 // 4

    def split(a):
        if isinstance(a, list):
            return [t[:cut] for t in a], [t[cut:] for t in a]
        return a[:cut], a[cut:]

    (xt, xv), (yt, yv) = split(x), split(y)
    return {"x": xt, "y": yt, "validation_data": (xv, yv)}


def trial_optimizer(training, defaults=None):
    """The optimizer settings of a trial's training parameters (`zoo.train.make_optimizer`'s
    keywords, and `optimizer`): the space's `optimizer`, `momentum`, `nesterov`,
    `weight_decay`, `beta_1`, `clipnorm`, else the task's `trial_defaults()` (`defaults`);
    `beta_1` only for an optimizer that has one. Checked (`check_optimizer`)."""
    defaults = dict(defaults or {"optimizer": "adamw", "beta_1": 0.9})
    name = str(training.get("optimizer", defaults.get("optimizer", "adamw")))

    def setting(key, default=None):  # the space's, else the task's where the optimizer has it
        if key in training:
            return training[key]
        return defaults.get(key, default) if optimizer_takes(name, key) else default

    momentum, beta_1 = setting("momentum"), setting("beta_1")
    out = {"optimizer": name,
           "momentum": None if momentum is None else float(momentum),
           "nesterov": bool(setting("nesterov", False)),
           "weight_decay": float(training.get("weight_decay", 0.0) or 0.0),
           "beta_1": None if beta_1 is None else float(beta_1),
           "clipnorm": float(training["clipnorm"]) if training.get("clipnorm") else None}
    check_optimizer(name, momentum=out["momentum"], nesterov=out["nesterov"],
                    weight_decay=out["weight_decay"], beta_1=out["beta_1"],
                    clipnorm=out["clipnorm"])
    return out


def compile_for_trial(spec, model, training, steps_per_epoch=1):
    """Compile `model` with the trial's optimizer (default AdamW, `trial_optimizer`) and a linear
    warm-up from the trial's training parameters."""
    lr = float(training.get("learning_rate", 1e-3))
    warmup = int(training.get("warmup_steps", 0) or 0)
    if warmup > 0:
        lr = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=10 ** 9, warmup_target=lr, warmup_steps=warmup)
    settings = trial_optimizer(training)
    opt = make_optimizer(settings.pop("optimizer"), lr, **settings)
    loss, metrics = task_for(spec).trial_loss(model, training)
    model.compile(optimizer=opt, loss=loss, metrics=metrics)
    return model


def train_trial(model, data, training, *, epochs=1, initial_epoch=0, callbacks=(), verbose=0):
    """Train one trial (model.fit); returns the History. Swap for the recipes' trainer."""
    return model.fit(data["x"], data["y"], validation_data=data.get("validation_data"),
                     batch_size=int(training.get("batch_size", 32)), epochs=epochs,
                     initial_epoch=initial_epoch, callbacks=list(callbacks), verbose=verbose)


class TuningTrainer(Trainer):
    """The recipes' Trainer, without its checkpoints."""

    def _save(self):
        # keras-tuner keeps the best epoch's weights (and re-runs an interrupted trial from
        # its start), so the trainer's own checkpoints would only cost time and disk.
        return None


def train_with_recipe_trainer(spec, model, source, training, *, epochs=1, initial_epoch=0,
                              callbacks=(), steps_per_epoch=None, run_dir=None, seed=0,
                              batch_size=None, partner=None):
    """Train one trial with the recipes' trainer (`zoo.train.Trainer`) on `source`.

    The trial's training parameters become the `TrainConfig` (optimizer, learning rate, warm-up
    with a cosine schedule, weight decay, beta_1, clipnorm, batch size) and the task's options
    (label smoothing, auxiliary-head weight). Keras callbacks (keras-tuner's) get
    `on_epoch_end` with `loss`/`val_loss` and the other metrics, so the tuner saves the best
    epoch's weights. Returns a `keras.callbacks.History`.
    """
    task_kind = task_for(spec)
    task = task_kind.tuning_task(training)
    train_model = task_kind.tuning_model(model, partner)
    defaults = task_kind.trial_defaults()
    warmup = int(training.get("warmup_steps", 0) or 0)
    cfg = TrainConfig(
        name=spec.name, epochs=max(int(epochs) - int(initial_epoch), 1),
        steps_per_epoch=steps_per_epoch, seed=seed,
        batch_size=int(batch_size or training.get("batch_size", 32)),
        learning_rate=float(training.get("learning_rate", defaults["learning_rate"])),
        schedule="cosine" if warmup else "constant", warmup_steps=warmup,
        **trial_optimizer(training, defaults),
        run_dir=run_dir, checkpoint_every=0, eval_every="epoch", keep_checkpoints=1, progress=False,
        export=False,
        jit_compile="off")
    history = keras.callbacks.History()
    history.set_model(model)
    cbs = [history] + list(callbacks)
    for cb in cbs:
        cb.set_model(model)
        cb.on_train_begin()
    def on_epoch(trainer, epoch, _logs):
        rec = trainer.history[-1]
        logs = {}
        for k, v in rec.items():
            if k.startswith("train_"):
                logs[k[6:]] = v
            elif k.startswith(("validation_", "test_")):  # validation, else test, figures
                logs["val_" + k.split("_", 1)[1]] = v
        logs.update(task_kind.trial_metrics(trainer, source, seed))
        for cb in cbs:
            cb.on_epoch_end(initial_epoch + epoch - 1, logs)
        if getattr(model, "stop_training", False):
            raise StopTrial()

    trainer = TuningTrainer(task, source, lambda: train_model, cfg, callbacks=[on_epoch],
                               strategy=tf.distribute.get_strategy())
    try:
        trainer.fit()
    except StopTrial:
        pass
    for cb in cbs:
        cb.on_train_end()
    return history


class StopTrial(Exception):
    """keras-tuner asked the trial to stop (`model.stop_training`)."""
