"""keras-tuner searches over the search space every registered model declares beside its card.

**Search-space convention.** `ModelSpec.search_space` (declared beside the card with
`register_model(..., search_space=...)`) is a callable `space(hp) -> dict`. It calls keras-tuner's
`hp.Choice / hp.Int / hp.Float / hp.Boolean / hp.Fixed` and returns one flat dict:

* keys in `TRAINING_KEYS` (`learning_rate`, `weight_decay`, `warmup_steps`, `batch_size`,
  `epochs`, `label_smoothing`, `clipnorm`, `beta_1`, `optimizer`, `aux_loss_weight`) are
  *training* parameters, given to the trainer;
* every other key is a *builder* override (`depth`, `units`, `num_heads`, `dropout`,
  `peepholes`, ...), given to the builder as `create_model(name, **base, **data, **those)`
  (`base`: the card's small `test_overrides` by default, `{}` for the full model; `data`: what
  the data fixes, such as `classes` or `input_shape`);
* a returned key may come from a differently named hyperparameter (`sgd_learning_rate` ->
  `learning_rate`) and may be a constant or derived value (`d_ff = 4 * d_model`).

Conditional parts: wrap the branch in `with hp.conditional_scope(parent, [values]):` around a
plain `if` on the parent's value (keras-tuner then knows the hyperparameter is inactive elsewhere),
e.g. `optimizer_space` (the optimizer with its own learning rate and weight decay). The grid is
enumerated by running the space itself, so conditional branches are counted and run exactly once
each (keras-tuner's GridSearch breaks on them, keras-tuner#614). `restricted_space(space,
{"d_model": 16, "dropout": [0.0, 0.1]})` searches a subspace (`zoo tune --set`). A model that
declares no space would get `default_search_space(task)` (training parameters only);
`describe_space` / `format_space` list a space (`zoo info NAME`, `zoo tune NAME --show-space`).

**Tuners**: `"grid"` (our `ConditionalGridOracle`), `"random"`, `"bayesian"`, `"hyperband"`
(keras-tuner's). Every search can be interrupted (even by SIGKILL) and resumed: finished trials
are not run again and an interrupted one is run again (`overwrite=False`; Hyperband's resume,
keras-tuner#835, is covered by a test). A failing trial (an exception, a bad combination, NaN
loss, out of memory) is recorded as FAILED with its message, and the search goes on.

**Distributed**: a chief and workers as separate processes (`KERASTUNER_TUNER_ID` = `chief` /
`tuner0`..., `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`); the chief serves the oracle with
a deadline and exits once every expected worker has been told to stop (keras-tuner's chief may
wait forever, #915/#254); workers are bounded by the same deadline.

**Training**: through the recipes: `recipe_data` (the `zoo.data` source for the task, offline)
and `train_with_recipe_trainer` (`zoo.train.Trainer` with the trial's optimizer, schedule, weight
decay, label smoothing; GoogLeNet's auxiliary heads weighted by `aux_loss_weight`; DCGANs as the
recipe's generator/discriminator pair scored by `frechet_pixels`). A `ModelSpec` outside the
registry may instead bring `data_fn`/`train_fn` (or `tuning_data`/`tuning_train` in its card's
`extra`), trained with `model.fit` (`tuning_data`, `train_trial`).

**Results**: `write_report` writes `trials.csv`, `trials.md` (hyperparameters, score, status,
seconds) and `trials.png` (score against trial and against the most important hyperparameter);
`run_search` then exports the best model with `zoo.export`.

Example:
    >>> from zoo import tuning
    >>> result = tuning.run_search("highway_net", tuner="grid", steps_per_epoch=5,
    ...                            restrict={"depth": 5, "width": 16, "activation": "relu",
    ...                                      "learning_rate": 0.03}, directory="runs/tune")
    >>> print(open(result["table_md"]).read())
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import importlib
import json
import math
import os
import signal
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

__all__ = [
    "TRAINING_KEYS",
    "describe_space",
    "format_space",
    "restricted_space",
    "recipe_data",
    "train_with_recipe_trainer",
    "frechet_pixels",
    "TUNERS",
    "default_search_space",
    "optimizer_space",
    "split_overrides",
    "space_of",
    "grid_trials",
    "space_values",
    "tuning_data",
    "train_trial",
    "ZooHyperModel",
    "make_tuner",
    "run_search",
    "trials_table",
    "write_report",
    "add_cli",
]

TRAINING_KEYS = ("learning_rate", "weight_decay", "warmup_steps", "batch_size", "epochs",
                 "label_smoothing", "clipnorm", "beta_1", "optimizer", "aux_loss_weight")
TUNERS = ("grid", "random", "bayesian", "hyperband")
_INTERNAL = ("tuner/", "grid/")


# ----------------------------------------------------------------------------------------------
# Search spaces
# ----------------------------------------------------------------------------------------------


def _default_space_image(hp):
    return {
        "learning_rate": hp.Choice("learning_rate", [1e-3, 3e-4]),
        "weight_decay": hp.Choice("weight_decay", [0.0, 1e-4]),
    }


def _default_space_sequence(hp):
    return {
        "learning_rate": hp.Choice("learning_rate", [3e-3, 1e-3]),
        "weight_decay": hp.Choice("weight_decay", [0.0, 1e-4]),
    }


def _default_space_translation(hp):
    return {
        "learning_rate": hp.Choice("learning_rate", [1e-3, 3e-4]),
        "warmup_steps": hp.Choice("warmup_steps", [0, 100]),
        "label_smoothing": hp.Choice("label_smoothing", [0.0, 0.1]),
    }


def _default_space_generation(hp):
    return {"learning_rate": hp.Choice("learning_rate", [2e-4, 1e-4]),
            "beta_1": hp.Choice("beta_1", [0.5, 0.9])}


_DEFAULT_SPACES = {
    "image_classification": _default_space_image,
    "sequence_classification": _default_space_sequence,
    "sequence_regression": _default_space_sequence,
    "text_classification": _default_space_sequence,
    "translation": _default_space_translation,
    "image_generation": _default_space_generation,
}


def default_search_space(task: str) -> Callable:
    """The space used for a model that declares none: training parameters for its task."""
    return _DEFAULT_SPACES.get(task, _default_space_image)


def optimizer_space(hp, **optimizers) -> Dict[str, Any]:
    """A building block of search spaces: `optimizer` chosen among the keyword names, each with
    its own hyperparameters, active only under it (a conditional space).

    `optimizer_space(hp, sgd={"learning_rate": [0.1, 0.05], "weight_decay": [1e-4]},
    adamw={"learning_rate": [1e-3], "weight_decay": [0.05]})` defines `optimizer`, then
    `sgd_learning_rate`, `sgd_weight_decay` when it is `"sgd"` and `adamw_learning_rate`,
    `adamw_weight_decay` when it is `"adamw"`; it returns `{"optimizer", "learning_rate",
    "weight_decay"}`. Weight decay is decoupled in both (Keras' `weight_decay`: SGD's 1e-4 is the
    classic L2 of 1e-4, AdamW's is per unit of learning rate, so it is larger).
    """
    names = list(optimizers)
    chosen = hp.Choice("optimizer", names) if len(names) > 1 else hp.Fixed("optimizer", names[0])
    out = {"optimizer": chosen}
    for name, params in optimizers.items():
        with hp.conditional_scope("optimizer", [name]):
            if chosen == name:
                for key, values in params.items():
                    values = list(values)
                    out[key] = (hp.Choice(f"{name}_{key}", values) if len(values) > 1
                                else hp.Fixed(f"{name}_{key}", values[0]))
    return out


def space_of(spec) -> Callable:
    """The model's declared search space, or its task's default."""
    return spec.search_space or default_search_space(spec.task)


def split_overrides(values: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Split a space's dict into `(builder_overrides, training_params)` (see the convention)."""
    if not isinstance(values, dict):
        raise ValueError(f"A search space must return a dict. Received: {values!r}")
    builder = {k: v for k, v in values.items() if k not in TRAINING_KEYS}
    training = {k: v for k, v in values.items() if k in TRAINING_KEYS}
    return builder, training


class _RestrictedHP:
    """Passes every call to the real `HyperParameters`, except the definitions of restricted
    names, which become `Fixed` (one value) or `Choice` (a list) in the same conditional scope."""

    def __init__(self, hp, restrict):
        self._hp, self._restrict = hp, restrict

    def __getattr__(self, attr):
        target = getattr(self._hp, attr)
        if attr not in ("Choice", "Int", "Float", "Boolean", "Fixed"):
            return target

        def define(name, *args, **kwargs):
            if name not in self._restrict:
                return target(name, *args, **kwargs)
            v = self._restrict[name]
            if isinstance(v, list) and len(v) > 1:
                return self._hp.Choice(name, v, parent_name=kwargs.get("parent_name"),
                                       parent_values=kwargs.get("parent_values"))
            v = v[0] if isinstance(v, list) else v
            return self._hp.Fixed(name, v, parent_name=kwargs.get("parent_name"),
                                  parent_values=kwargs.get("parent_values"))

        return define


def restricted_space(space: Callable, restrict: Optional[Dict[str, Any]]) -> Callable:
    """`space` searched over a subspace: `restrict` maps a hyperparameter's name to one value (it
    becomes `Fixed`) or a list of values (a `Choice` of those), wherever it is defined, inside a
    conditional scope too. Used by every tuner (`--set` of `zoo tune`).

    Example:
        >>> space = lambda hp: {"d_model": hp.Choice("d_model", [256, 512]),
        ...                     "dropout": hp.Choice("dropout", [0.0, 0.1, 0.3])}
        >>> grid_trials(restricted_space(space, {"d_model": 16, "dropout": [0.0, 0.1]}))
        [{'d_model': 16, 'dropout': 0.0}, {'d_model': 16, 'dropout': 0.1}]
    """
    if not restrict:
        return space
    if not isinstance(restrict, dict):
        raise ValueError(f"`restrict` must be a dict of name -> value or list. Received: restrict={restrict!r}")

    def space_restricted(hp):
        return space(_RestrictedHP(hp, restrict))

    space_restricted.restrict = dict(restrict)
    return space_restricted


def describe_space(space: Callable, max_runs: int = 5000) -> List[Dict[str, Any]]:
    """Every hyperparameter a space can define, over all its conditional branches.

    Returns one dict per hyperparameter: `name`, `type` (`Choice`, `Int`, `Float`, `Boolean`,
    `Fixed`), `values` (choices, or the grid of an Int/Float with a step) or `range`
    (`[min, max]`, with `sampling`), `default`, and `when` (the parent choices that make it
    active, e.g. `"optimizer in ['sgd']"`, or `""`).

    Example:
        >>> describe_space(lambda hp: {"units": hp.Choice("units", [64, 128])})
        [{'name': 'units', 'type': 'Choice', 'values': [64, 128], 'default': 64, 'when': ''}]
    """
    import keras_tuner as kt
    from keras_tuner.src.engine.hyperparameters import hp_types

    seen: Dict[str, Dict[str, Any]] = {}

    def entry(hp, conditions):
        when = " and ".join(f"{c.name} in {list(c.values)}" for c in conditions)
        d = {"name": hp.name, "type": type(hp).__name__}
        if isinstance(hp, (hp_types.Float, hp_types.Int)):
            try:
                values = _grid_values(hp)
            except ValueError:  # a Float without a step
                values = None
            if values is None or len(values) > 12:
                d["range"] = [hp.min_value, hp.max_value]
                d["sampling"] = hp.sampling or "linear"
            else:
                d["values"] = values
        elif isinstance(hp, hp_types.Fixed):
            d["values"] = [hp.value]
        elif isinstance(hp, hp_types.Boolean):
            d["values"] = [False, True]
        else:
            d["values"] = list(hp.values)
        d["default"] = hp.default
        d["when"] = when
        return d

    class _Explorer(kt.HyperParameters):
        def __init__(self, fixed):
            super().__init__()
            self._fixed = fixed

        def _retrieve(self, hp):
            super()._retrieve(hp)
            if not self.is_active(hp):
                return None
            key = (hp.name, entry(hp, self._conditions)["when"])
            if key not in seen:
                seen[key] = entry(hp, list(self._conditions))
            if hp.name not in self._fixed:
                try:
                    values = _grid_values(hp)
                except ValueError:  # a continuous range: explore its default only
                    values = [hp.default]
                if len(values) > 12:
                    values = [hp.default]
                raise _Branch(hp.name, values)
            self.values[hp.name] = self._fixed[hp.name]
            return self._fixed[hp.name]

    queue, runs = [{}], 0
    while queue and runs < max_runs:
        fixed = queue.pop(0)
        runs += 1
        try:
            space(_Explorer(fixed))
        except _Branch as b:
            queue[:0] = [dict(fixed, **{b.name: v}) for v in b.values]
    return list(seen.values())


def format_space(space: Callable) -> List[str]:
    """`describe_space` as short lines: `name: Choice [a, b] (default a) [when parent in [..]]`."""
    lines = []
    for d in describe_space(space):
        what = (f"{d['values']}" if "values" in d else
                f"range {d['range'][0]:g}..{d['range'][1]:g} ({d.get('sampling', 'linear')})")
        line = f"{d['name']}: {d['type']} {what}"
        if d["when"]:
            line += f"  [when {d['when']}]"
        lines.append(line)
    return lines


class _Branch(Exception):
    def __init__(self, name, values):
        super().__init__(name)
        self.name, self.values = name, values


def _grid_values(hp):
    from keras_tuner.src.engine.hyperparameters import hp_types

    if isinstance(hp, hp_types.Fixed):
        return [hp.value]
    if isinstance(hp, hp_types.Boolean):
        return [False, True]
    if isinstance(hp, hp_types.Choice):
        return list(hp.values)
    if isinstance(hp, hp_types.Float):
        if hp.step is None:
            raise ValueError(
                f"A grid search needs a step for Float {hp.name!r} (or use Choice). "
                f"Received: step={hp.step}"
            )
        if hp.sampling == "log":
            n = int(round(math.log(hp.max_value / hp.min_value) / math.log(hp.step))) + 1
            return [float(f"{hp.min_value * hp.step ** i:.12g}") for i in range(n)]
        n = int(round((hp.max_value - hp.min_value) / hp.step)) + 1
        return [float(f"{hp.min_value + hp.step * i:.12g}") for i in range(n)]
    return list(hp.values)  # Int


_REC = []


def _recorder_class():
    if _REC:
        return _REC[0]
    import keras_tuner as kt

    class _Recorder(kt.HyperParameters):
        """Gives the fixed values; the first active hyperparameter without one raises `_Branch`."""

        def __init__(self, fixed):
            super().__init__()
            self._fixed = fixed
            self._used = {}

        def _retrieve(self, hp):
            super()._retrieve(hp)
            if not self.is_active(hp):
                return None
            if hp.name not in self._fixed:
                raise _Branch(hp.name, _grid_values(hp))
            self.values[hp.name] = self._fixed[hp.name]
            self._used[hp.name] = self._fixed[hp.name]
            return self._fixed[hp.name]

    _REC.append(_Recorder)
    return _Recorder


def space_values(space: Callable, point: Dict[str, Any]) -> Dict[str, Any]:
    """What `space` returns (builder and training overrides) at a grid point of `grid_trials`.

    Example:
        >>> space = lambda hp: {"d_model": hp.Choice("d_model", [256, 512]), "d_ff": 1024}
        >>> space_values(space, {"d_model": 512})
        {'d_model': 512, 'd_ff': 1024}
    """
    try:
        return space(_recorder_class()(dict(point)))
    except _Branch as b:
        raise ValueError(f"`point` lacks the active hyperparameter {b.name!r}. Received: point={point!r}")


def grid_trials(space: Callable, restrict: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    """Every combination of the active hyperparameters of `space`, conditional branches included.

    The space is run once per partial assignment: the first hyperparameter without a value
    branches into all its values, so a hyperparameter used only on one branch multiplies that
    branch only. `restrict` (name -> value or list of values) searches a subspace (see
    `restricted_space`).

    Example:
        >>> def space(hp):
        ...     if hp.Choice("cell", ["lstm", "gru"]) == "lstm":
        ...         return {"peepholes": hp.Boolean("peepholes")}
        ...     return {}
        >>> grid_trials(space)
        [{'cell': 'lstm', 'peepholes': False}, {'cell': 'lstm', 'peepholes': True}, {'cell': 'gru'}]
    """
    space = restricted_space(space, restrict)
    out, queue = [], [{}]
    while queue:
        fixed = queue.pop(0)
        rec = _recorder_class()(fixed)
        try:
            space(rec)
        except _Branch as b:
            queue[:0] = [dict(fixed, **{b.name: v}) for v in b.values]
            continue
        if rec._used not in out:
            out.append(rec._used)
    return out


# ----------------------------------------------------------------------------------------------
# Data and training (swap these for the recipes' data and trainer)
# ----------------------------------------------------------------------------------------------


def tuning_data(spec, model, seed=0, n=96):
    """A small embedded, learnable dataset fitting `model`'s inputs, for `spec.task`.

    Returns a dict with `x`, `y` and `validation_data`. Until the recipes' data pipelines are
    used here, this is what every search trains on (offline, no download).
    """
    rng = np.random.default_rng(seed)
    task = spec.task
    inp = model.inputs[0]
    shape = [d if d is not None else 8 for d in inp.shape[1:]]
    out_dim = model.outputs[0].shape[-1]
    if task == "translation":
        src = rng.integers(2, 10, size=(n, 6)).astype("int32")
        tgt = np.concatenate([np.ones((n, 1), "int32"), src[:, ::-1]], 1)  # reverse the source
        x, y = [src, tgt[:, :-1]], tgt[:, 1:]
    elif "int" in str(inp.dtype):
        x = rng.integers(1, 10, size=[n] + shape).astype("int32")
        score = (x > 5).mean(axis=tuple(range(1, x.ndim)))
        if task == "sequence_regression":
            y = score[:, None].astype("float32")
        else:
            y = np.minimum((score * (out_dim or 2)).astype("int64"), (out_dim or 2) - 1)
    else:
        classes = int(out_dim or 2)
        if task == "sequence_regression":
            x = rng.standard_normal([n] + shape).astype("float32")
            y = x.mean(axis=tuple(range(1, x.ndim)))[:, None].astype("float32")
        else:
            y = rng.integers(0, classes, size=n)
            x = rng.standard_normal([n] + shape).astype("float32") * 0.5
            x[..., 0] += (y.reshape([n] + [1] * (len(shape) - 1)) - classes / 2).astype("float32")
    cut = n * 3 // 4
    split = lambda a: ([t[:cut] for t in a], [t[cut:] for t in a]) if isinstance(a, list) else (a[:cut], a[cut:])  # noqa: E731
    (xt, xv), (yt, yv) = split(x), split(y)
    return {"x": xt, "y": yt, "validation_data": (xv, yv)}


def _loss_for(spec, model, training):
    import keras

    from zoo.export import _ends_in_activation

    smoothing = float(training.get("label_smoothing", 0.0) or 0.0)
    if spec.task == "sequence_regression":
        return "mse", []
    from_logits = not _ends_in_activation(model)
    if smoothing:
        def loss(y_true, y_pred):
            classes = keras.ops.shape(y_pred)[-1]
            onehot = keras.ops.one_hot(keras.ops.cast(y_true, "int32"), classes)
            return keras.losses.categorical_crossentropy(onehot, y_pred, from_logits=from_logits,
                                                         label_smoothing=smoothing)

        return loss, ["accuracy"]
    return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits), ["accuracy"]


def compile_for_trial(spec, model, training, steps_per_epoch=1):
    """Compile `model` with AdamW and a linear warm-up from the trial's training parameters."""
    import keras

    lr = float(training.get("learning_rate", 1e-3))
    warmup = int(training.get("warmup_steps", 0) or 0)
    if warmup > 0:
        lr = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=10 ** 9, warmup_target=lr, warmup_steps=warmup)
    kwargs = {"learning_rate": lr, "weight_decay": float(training.get("weight_decay", 0.0) or 0.0),
              "beta_1": float(training.get("beta_1", 0.9))}
    if training.get("clipnorm"):
        kwargs["clipnorm"] = float(training["clipnorm"])
    name = training.get("optimizer", "adamw")
    if name not in ("adamw", "adam", "sgd"):
        raise ValueError(f"`optimizer` must be 'adamw', 'adam' or 'sgd'. Received: optimizer={name!r}")
    if name == "sgd":
        opt = keras.optimizers.SGD(learning_rate=kwargs["learning_rate"], momentum=0.9,
                                   weight_decay=kwargs["weight_decay"])
    elif name == "adam":
        kwargs.pop("weight_decay")
        opt = keras.optimizers.Adam(**kwargs)
    else:
        opt = keras.optimizers.AdamW(**kwargs)
    loss, metrics = _loss_for(spec, model, training)
    model.compile(optimizer=opt, loss=loss, metrics=metrics)
    return model


def train_trial(model, data, training, *, epochs=1, initial_epoch=0, callbacks=(), verbose=0):
    """Train one trial (model.fit); returns the History. Swap for the recipes' trainer."""
    return model.fit(data["x"], data["y"], validation_data=data.get("validation_data"),
                     batch_size=int(training.get("batch_size", 32)), epochs=epochs,
                     initial_epoch=initial_epoch, callbacks=list(callbacks), verbose=verbose)


# ----------------------------------------------------------------------------------------------
# The recipes' data and trainer (the default): zoo.data sources and zoo.train.Trainer
# ----------------------------------------------------------------------------------------------


def _takes(spec, key):
    import inspect

    params = inspect.signature(spec.builder).parameters
    return key in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def _limit_eval(src, n):
    if src.eval is not None and n:
        full = src.eval
        src.eval = lambda: full().take(n)
        src.num_eval = min(src.num_eval or n, n)
    return src


def _partner_name(spec):
    if spec.task == "image_generation":
        return spec.name.replace("generator", "discriminator")
    return spec.name.replace("discriminator", "generator")


def _gan_image_shape(spec, base):
    from zoo.registry import get_spec

    if spec.task == "image_discrimination":
        shape = base.get("image_shape") or spec.input_shape
    else:
        partner = get_spec(_partner_name(spec))
        shape = base.get("image_shape") or partner.input_shape
    return tuple(int(d) for d in shape)


def recipe_data(spec, base, *, eval_examples=256, num_train=2048, seed=0):
    """The recipes' data for `spec.task` (`zoo.data`, embedded, offline) and what it fixes.

    Returns `(source, builder_overrides)`: a `zoo.data.DataSource` and the builder arguments the
    data decides (classes, input shape, vocabulary), as the recipes pass them:

    * image classification: the digits (`digits_source`) at the model's input size (a flat
      input such as `highway_net`'s gets them flattened), 10 classes;
    * sequence classification: `digits_rows` (8 steps of 8 features), 10 classes;
    * sequence regression: the adding problem at the input's length;
    * translation: sequence reversal (`reversal_source`, 8 tokens of 10 symbols);
    * text classification: the digits as 64 tokens (17 grey levels), 10 classes;
    * image generation / discrimination: the digits without labels at the DCGAN's image size.

    The held-out split is cut to `eval_examples` examples (the score of a trial).
    """
    import tensorflow as tf

    from zoo import data as zdata

    task = spec.task
    over: Dict[str, Any] = {}
    if task in ("image_generation", "image_discrimination"):
        shape = _gan_image_shape(spec, base)
        src = zdata.digits_source(shape[0], shape[2], augment="none", seed=seed)
        src.eval, src.num_eval = None, None
        return src, over
    if task in ("image_classification", "classification"):
        shape = tuple(base.get("input_shape") or spec.input_shape)
        if len(shape) == 1:  # a flat input: digits at side x side, flattened
            side = int(round(math.sqrt(shape[0])))
            side = side if side * side == shape[0] else 8
            src = zdata.digits_source(side, 1, augment="none", seed=seed)
            inner = src.preprocess
            src.preprocess = lambda ex, training: (lambda x, y: (tf.reshape(x, [-1]), y))(*inner(ex, training))
            over["input_shape"] = (side * side,)
        else:
            src = zdata.digits_source(shape[0], shape[2], augment="crop", seed=seed)
            over["input_shape"] = shape
        over.update(classes=10, weights=None, include_top=True, classifier_activation="softmax")
    elif task == "sequence_classification":
        src = zdata.digits_rows_source(seed=seed)
        over.update(vocabulary_size=None, input_shape=(8, 8), classes=10)
    elif task == "sequence_regression":
        shape = tuple(base.get("input_shape") or spec.input_shape or (100, 1))
        steps = int(shape[0] or 100)
        src = zdata.adding_source(steps=steps, num_train=num_train, num_eval=eval_examples, seed=seed)
        over.update(input_shape=(steps, 2), horizon=1, targets=1)
    elif task == "translation":
        src = zdata.reversal_source(max_len=8, vocab=10, num_train=num_train, num_eval=eval_examples,
                                    seed=seed)
        v = src.info["vocab_size"]
        over.update(vocab_size=v, source_vocab_size=v, target_vocab_size=v)
    elif task == "text_classification":
        x_tr, x_te, y_tr, y_te = zdata._digits_split(seed)
        tok = lambda x: (np.round(x.reshape(len(x), -1) / 255.0 * 16) + 1).astype("int32")  # noqa: E731
        src = zdata.array_source("digits_tokens", tok(x_tr), y_tr, tok(x_te), y_te,
                                 info={"num_classes": 10, "vocab_size": 18})
        over.update(vocab_size=18, classes=10)
    else:
        raise ValueError(f"No recipe data for task {task!r} of model {spec.name!r}. Pass `data_fn` "
                         f"and `train_fn` (the model.fit path).")
    return _limit_eval(src, eval_examples), {k: v for k, v in over.items() if _takes(spec, k)}


def _aux_task_class():
    from zoo import train as ztrain

    class AuxClassificationTask(ztrain.ClassificationTask):
        """Cross-entropy of the main output plus `aux_weight` times that of each auxiliary head
        (GoogLeNet: 0.3, Szegedy et al. 2014 section 5); accuracy of the main output."""

        def __init__(self, aux_weight=0.3, **kw):
            super().__init__(**kw)
            self.aux_weight = aux_weight

        def forward(self, model, batch, training):
            import tensorflow as tf

            x, y = batch
            outs = model(x, training=training)
            if not isinstance(outs, (list, tuple)):
                return super().forward(model, batch, training)
            single = lambda out: super(AuxClassificationTask, self).forward(  # noqa: E731
                lambda *a, **k: out, (x, y), training)
            loss_sum, stats = single(outs[0])
            if training and self.aux_weight:
                for aux in outs[1:]:
                    loss_sum += self.aux_weight * single(aux)[0]
                stats = dict(stats, loss_sum=tf.identity(stats["loss_sum"]))
            return loss_sum, stats

        def _logits_flag(self, model):
            if self.from_logits is not None:
                return self.from_logits
            return False  # zoo's image classifiers end in softmax (classifier_activation)

    return AuxClassificationTask


def frechet_pixels(real, fake, size=8):
    """Fréchet distance between Gaussians fitted to `size`x`size` average-pooled real and generated
    images (the FID formula of Heusel et al. 2017 on pixels instead of Inception features): a cheap,
    offline sample-quality score for GAN searches; lower is better."""
    from scipy import linalg

    def feats(x):
        x = np.asarray(x, "float64")
        n, h, w, c = x.shape
        fh, fw = max(h // size, 1), max(w // size, 1)
        x = x[:, : fh * (h // fh), : fw * (w // fw)].reshape(n, h // fh, fh, w // fw, fw, c).mean((2, 4))
        return x.reshape(n, -1)

    a, b = feats(real), feats(fake)
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = np.real(linalg.sqrtm(s1.dot(s2)))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def _trainer_class():
    from zoo import train as ztrain

    class TuningTrainer(ztrain.Trainer):
        """The recipes' Trainer; SGD also gets the trial's (decoupled) weight decay."""

        def _make_optimizer(self):
            import keras

            opt = super()._make_optimizer()
            inner = getattr(opt, "inner_optimizer", opt)
            if self.config.weight_decay and isinstance(inner, keras.optimizers.SGD):
                inner.weight_decay = float(self.config.weight_decay)
            return opt

        def _save(self):
            # keras-tuner keeps the best epoch's weights (and re-runs an interrupted trial from
            # its start), so the trainer's own checkpoints would only cost time and disk.
            return None

    return TuningTrainer


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
    import keras
    import tensorflow as tf

    from zoo import train as ztrain

    task_name = spec.task
    smoothing = float(training.get("label_smoothing", 0.0) or 0.0)
    gan = task_name in ("image_generation", "image_discrimination")
    if gan:
        pair = _gan_pair(model, partner, generator_first=task_name == "image_generation")
        task = ztrain.GANTask()
        train_model = pair
    elif task_name == "sequence_regression":
        task, train_model = ztrain.RegressionTask(), model
    elif task_name == "translation":
        task, train_model = ztrain.Seq2SeqTask(label_smoothing=smoothing), model
    else:
        task = _aux_task_class()(aux_weight=float(training.get("aux_loss_weight", 0.3)),
                                 label_smoothing=smoothing)
        train_model = model
    warmup = int(training.get("warmup_steps", 0) or 0)
    cfg = ztrain.TrainConfig(
        name=spec.name, epochs=max(int(epochs) - int(initial_epoch), 1),
        steps_per_epoch=steps_per_epoch, seed=seed,
        batch_size=int(batch_size or training.get("batch_size", 32)),
        learning_rate=float(training.get("learning_rate", 2e-4 if gan else 1e-3)),
        optimizer=str(training.get("optimizer", "adam" if gan else "adamw")),
        schedule="cosine" if warmup else "constant", warmup_steps=warmup,
        weight_decay=float(training.get("weight_decay", 0.0) or 0.0),
        beta_1=float(training.get("beta_1", 0.5 if gan else 0.9)),
        clipnorm=float(training["clipnorm"]) if training.get("clipnorm") else None,
        run_dir=run_dir, checkpoint_every=0, keep_checkpoints=1, progress=False, export=False,
        jit_compile="off")
    history = keras.callbacks.History()
    history.set_model(model)
    cbs = [history] + list(callbacks)
    for cb in cbs:
        cb.set_model(model)
        cb.on_train_begin()
    real = []

    def on_epoch(trainer, epoch, _logs):
        rec = trainer.history[-1]
        logs = {}
        for k, v in rec.items():
            if k.startswith("train_"):
                logs[k[6:]] = v
            elif k.startswith("eval_"):
                logs["val_" + k[5:]] = v
        if gan:
            gen = trainer.model.generator
            z = np.random.default_rng(seed).uniform(-1, 1, (256, int(gen.inputs[0].shape[-1])))
            if not real:
                real.append(_take_images(source, 256))
            logs["frechet"] = frechet_pixels(real[0], np.asarray(gen(z.astype("float32"), training=False)))
        for cb in cbs:
            cb.on_epoch_end(initial_epoch + epoch - 1, logs)
        if getattr(model, "stop_training", False):
            raise _StopTrial()

    trainer = _trainer_class()(task, source, lambda: train_model, cfg, callbacks=[on_epoch],
                               strategy=tf.distribute.get_strategy())
    try:
        trainer.fit()
    except _StopTrial:
        pass
    for cb in cbs:
        cb.on_train_end()
    return history


class _StopTrial(Exception):
    pass


def _take_images(source, n):
    ds = source.train(None).take(n)
    if source.preprocess is not None:
        from zoo import data as zdata

        ds = ds.map(lambda *ex: source.preprocess(zdata._unpack(ex), False))
    batch = next(ds.batch(n).as_numpy_iterator())
    return np.asarray(batch[0] if isinstance(batch, (tuple, list)) else batch)


def _gan_pair(model, partner, generator_first):
    import importlib.util

    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "recipes", "dcgan.py")
    try:
        from recipes.dcgan import GANPair
    except ImportError:
        spec = importlib.util.spec_from_file_location("zoo_recipe_dcgan", here)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        GANPair = mod.GANPair
    gen, disc = (model, partner) if generator_first else (partner, model)
    return GANPair(gen, disc)


# ----------------------------------------------------------------------------------------------
# HyperModel, oracles, tuners
# ----------------------------------------------------------------------------------------------


def _kt():
    import keras_tuner as kt

    return kt


def _resolve_spec(model):
    from zoo.registry import ModelSpec, get_spec

    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, str) and ":" in model:
        mod, _, attr = model.partition(":")
        obj = getattr(importlib.import_module(mod), attr)
        return obj() if callable(obj) and not isinstance(obj, ModelSpec) else obj
    return get_spec(model)


def __getattr__(name):
    # keras-tuner is imported lazily; `zoo.tuning.ZooHyperModel` is the keras_tuner.HyperModel.
    if name == "ZooHyperModel":
        return _hypermodel_class()
    raise AttributeError(name)


_HM = []


def _hypermodel_class():
    if _HM:
        return _HM[0]
    kt = _kt()

    class _ZooHyperModel(kt.HyperModel):
        """Builds `spec` with the trial's builder overrides and trains it with its training params.

        By default on the recipes' data and trainer (`recipe_data`, `train_with_recipe_trainer`);
        with `data_fn` / `train_fn` (or `tuning_data` / `tuning_train` in the card's `extra`) on
        those, through `model.fit` (`tuning_data`, `train_trial`).
        """

        def __init__(self, spec, base_overrides=None, epochs=1, data_fn=None, train_fn=None,
                     steps_per_epoch=None, eval_examples=256, batch_size=None, seed=0,
                     restrict=None):
            super().__init__(name=spec.name)
            self.spec = spec
            self.small = base_overrides is None
            self.base = dict(spec.test_overrides if base_overrides is None else base_overrides)
            self.space = restricted_space(space_of(spec), restrict)
            self.epochs = epochs
            self.recipes = not (data_fn or train_fn or spec.extra.get("tuning_data")
                                or spec.extra.get("tuning_train"))
            self.data_fn = data_fn or spec.extra.get("tuning_data") or tuning_data
            self.train_fn = train_fn or spec.extra.get("tuning_train") or train_trial
            self.steps_per_epoch = steps_per_epoch
            self.eval_examples = eval_examples
            self.batch_size = batch_size
            self.seed = seed
            self._data = None
            self._source = None

        def _recipe_source(self):
            if self._source is None:
                self._source = recipe_data(self.spec, self.base, eval_examples=self.eval_examples,
                                           seed=self.seed)
            return self._source

        def build_kwargs(self, builder):
            """The builder's arguments: base config, then the data's, then the trial's."""
            data_over = self._recipe_source()[1] if self.recipes else {}
            return dict(self.base, **data_over, **builder)

        def build(self, hp):
            builder, training = split_overrides(self.space(hp))
            try:
                model = self.spec.build(**self.build_kwargs(builder))
                if not self.recipes:
                    compile_for_trial(self.spec, model, training)
            except Exception as e:  # a bad combination: recorded as failed, no retry
                raise kt.errors.FailedTrialError(f"{type(e).__name__}: {e}") from e
            return model

        def _partner(self):
            from zoo.registry import get_spec

            other = get_spec(_partner_name(self.spec))
            kwargs = dict(other.test_overrides if self.small else {})
            return other.build(**kwargs)

        def fit(self, hp, model, *args, **kwargs):
            import keras

            _, training = split_overrides(self.space(hp))
            _maybe_self_kill("fit")
            epochs = kwargs.get("epochs", int(training.get("epochs", self.epochs)))
            callbacks = list(kwargs.get("callbacks", []))
            if self.recipes:
                from zoo.train import NonFiniteLossError

                run_dir = None
                for cb in callbacks:
                    if hasattr(cb, "trial") and hasattr(cb, "tuner"):
                        run_dir = os.path.join(cb.tuner.get_trial_dir(cb.trial.trial_id), "train")
                partner = self._partner() if self.spec.task in (
                    "image_generation", "image_discrimination") else None
                try:
                    history = train_with_recipe_trainer(
                        self.spec, model, self._recipe_source()[0], training, epochs=epochs,
                        initial_epoch=kwargs.get("initial_epoch", 0), callbacks=callbacks,
                        steps_per_epoch=self.steps_per_epoch, run_dir=run_dir, seed=self.seed,
                        batch_size=self.batch_size, partner=partner)
                except NonFiniteLossError as e:
                    raise kt.errors.FailedTrialError(f"non-finite loss: {e}") from e
                except Exception as e:
                    raise kt.errors.FailedTrialError(f"{type(e).__name__}: {e}") from e
            else:
                if self._data is None:
                    self._data = self.data_fn(self.spec, model)
                callbacks.append(keras.callbacks.TerminateOnNaN())
                try:
                    history = self.train_fn(model, self._data, training, epochs=epochs,
                                            initial_epoch=kwargs.get("initial_epoch", 0),
                                            callbacks=callbacks)
                except Exception as e:
                    raise kt.errors.FailedTrialError(f"{type(e).__name__}: {e}") from e
            losses = history.history.get("loss", [])
            if not losses or not np.all(np.isfinite(losses)):
                raise kt.errors.FailedTrialError(f"non-finite loss: {losses}")
            return history

    _HM.append(_ZooHyperModel)
    return _ZooHyperModel


def _maybe_self_kill(point):
    """Test hook: `ZOO_TUNE_SIGKILL_AT=N` SIGKILLs this process as trial N (1-based) starts."""
    at = os.environ.get("ZOO_TUNE_SIGKILL_AT")
    if not at:
        return
    _maybe_self_kill.count = getattr(_maybe_self_kill, "count", 0) + 1
    if _maybe_self_kill.count == int(at):
        os.kill(os.getpid(), signal.SIGKILL)


def _grid_oracle_class():
    kt = _kt()

    class ConditionalGridOracle(kt.Oracle):
        """Runs a precomputed list of grid points (`grid_trials`), each exactly once."""

        def __init__(self, plan, **kwargs):
            kwargs.setdefault("max_trials", len(plan))
            super().__init__(**kwargs)
            self.plan = plan

        def populate_space(self, trial_id):
            started = {t.hyperparameters.values.get("grid/index") for t in self.trials.values()}
            for i, values in enumerate(self.plan):
                if i not in started:
                    return {"status": kt.engine.trial.TrialStatus.RUNNING,
                            "values": dict(values, **{"grid/index": i})}
            return {"status": kt.engine.trial.TrialStatus.STOPPED, "values": None}

        def _populate_space(self, trial_id):  # keras-tuner's other hook name
            return self.populate_space(trial_id)

        def get_state(self):
            state = super().get_state()
            state["plan"] = self.plan
            return state

        def set_state(self, state):
            super().set_state(state)
            self.plan = state.get("plan", self.plan)

    return ConditionalGridOracle


def _timed(base):
    """A tuner class that logs each trial's start/end (pid, seconds, status) to `runs.jsonl`."""

    class Timed(base):
        def run_trial(self, trial, *args, **kwargs):
            self._log(trial, "start")
            t0 = time.time()
            try:
                result = super().run_trial(trial, *args, **kwargs)
            except BaseException as e:
                self._log(trial, "failed", seconds=time.time() - t0, message=f"{type(e).__name__}: {e}"[:300])
                raise
            self._log(trial, "end", seconds=time.time() - t0)
            return result

        def _log(self, trial, event, **kw):
            rec = {"trial_id": trial.trial_id, "event": event, "pid": os.getpid(),
                   "tuner_id": self.tuner_id, "time": time.time(),
                   "values": {k: v for k, v in trial.hyperparameters.values.items()}}
            rec.update(kw)
            path = os.path.join(self.project_dir, "runs.jsonl")
            with open(path, "a") as f:
                f.write(json.dumps(rec, default=str) + "\n")

    Timed.__name__ = f"Zoo{base.__name__}"
    return Timed


def make_tuner(model, tuner="random", *, directory="runs/tune", project_name=None, max_trials=6,
               epochs=1, max_epochs=3, objective=None, seed=0, overwrite=False,
               base_overrides=None, data_fn=None, train_fn=None, max_consecutive_failed_trials=None,
               verbose=0, restrict=None, steps_per_epoch=None, eval_examples=256, batch_size=None):
    """A keras-tuner tuner over `model`'s declared search space.

    Args:
        model: a registry name, a `ModelSpec`, or `"module:attr"` giving a ModelSpec.
        tuner: one of `TUNERS`.
        directory, project_name: where trials are stored (`project_name` defaults to
            `<name>_<tuner>`); an existing project is resumed unless `overwrite`.
        max_trials: for random and bayesian searches (a grid runs its whole grid).
        epochs: epochs per trial (grid, random, bayesian); `max_epochs` for hyperband.
        base_overrides: builder arguments under the space's (default: the card's
            `test_overrides`, a small configuration; pass `{}` for the full model).
        data_fn, train_fn: replace `tuning_data` / `train_trial`.
        max_consecutive_failed_trials: stop after that many failures in a row (default: never
            stop for failures, every trial is tried).
        restrict: search a subspace: name -> value (fixed) or list of values (see
            `restricted_space`).
        steps_per_epoch, eval_examples, batch_size: the trainer's budget per epoch, the held-out
            examples that score a trial, the batch (default: the space's `batch_size` or 32).
        objective: default `val_loss`, or `frechet` (min) for the DCGAN's image tasks.
    """
    kt = _kt()
    spec = _resolve_spec(model)
    if tuner not in TUNERS:
        raise ValueError(f"`tuner` must be one of {TUNERS}. Received: tuner={tuner!r}")
    if not isinstance(max_trials, int) or max_trials < 1:
        raise ValueError(f"`max_trials` must be a positive integer. Received: max_trials={max_trials!r}")
    hypermodel = _hypermodel_class()(spec, base_overrides=base_overrides, epochs=epochs,
                                     data_fn=data_fn, train_fn=train_fn,
                                     steps_per_epoch=steps_per_epoch, eval_examples=eval_examples,
                                     batch_size=batch_size, seed=seed, restrict=restrict)
    if objective is None:
        objective = (kt.Objective("frechet", "min") if hypermodel.recipes and spec.task in
                     ("image_generation", "image_discrimination") else "val_loss")
    common = dict(objective=objective, seed=seed, max_consecutive_failed_trials=max_consecutive_failed_trials or 10 ** 6)
    kw = dict(directory=directory, project_name=project_name or f"{spec.name}_{tuner}",
              overwrite=overwrite)
    if tuner == "grid":
        plan = grid_trials(hypermodel.space)
        oracle = _grid_oracle_class()(plan, **common)
        t = _timed(kt.Tuner)(oracle=oracle, hypermodel=hypermodel, **kw)
    elif tuner == "random":
        t = _timed(kt.RandomSearch)(hypermodel, max_trials=max_trials, **common, **kw)
    elif tuner == "bayesian":
        t = _timed(kt.BayesianOptimization)(hypermodel, max_trials=max_trials,
                                           num_initial_points=min(2, max_trials), **common, **kw)
    else:
        t = _timed(kt.Hyperband)(hypermodel, max_epochs=max_epochs, factor=3, hyperband_iterations=1,
                                 **common, **kw)
    _fix_retry_queue(t.oracle)
    t.zoo_spec = spec
    t.zoo_plan = plan if tuner == "grid" else None
    return t


def _fix_retry_queue(oracle):
    """Resume fix: a reloaded oracle's retry queue may hold ids not in `trials` (keras-tuner#835)."""
    trials = getattr(oracle, "trials", None)
    queue = getattr(oracle, "_retry_queue", None)
    if trials is None or queue is None:
        return
    oracle._retry_queue = [tid for tid in dict.fromkeys(
        getattr(t, "trial_id", t) for t in queue) if tid in trials]


# ----------------------------------------------------------------------------------------------
# Distributed chief with a deadline
# ----------------------------------------------------------------------------------------------


def serve_chief(oracle, num_workers, deadline):
    """Serve `oracle` to workers until all `num_workers` were told to stop or `deadline` passes.

    Returns True when the search ended normally.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    stopped = set()

    class Servicer(oracle_chief.OracleServicer):
        def CreateTrial(self, request, context):
            trial = self.oracle.create_trial(request.tuner_id)
            if trial.status == "STOPPED":
                stopped.add(request.tuner_id)
            return protos.get_service().CreateTrialResponse(trial=trial.to_proto())

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    protos.get_service_grpc().add_OracleServicer_to_server(Servicer(oracle), server)
    server.add_insecure_port(f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}")
    server.start()
    ok = False
    try:
        while time.time() < deadline:
            time.sleep(0.2)
            if len(stopped) >= num_workers and not oracle.ongoing_trials:
                ok = True
                break
    finally:
        server.stop(grace=1).wait()
    return ok


def _watchdog(seconds, code=3):
    """Exit the process (code 3) after `seconds`, whatever it is doing (bounded workers)."""
    def fire():
        time.sleep(seconds)
        print(f"zoo tune: time limit of {seconds:.0f}s reached, exiting", flush=True)
        os._exit(code)

    threading.Thread(target=fire, daemon=True).start()


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------


def _trial_times(project_dir):
    times = {}
    path = os.path.join(project_dir, "runs.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if rec["event"] in ("end", "failed"):
                    times[rec["trial_id"]] = rec.get("seconds")
    return times


def trials_table(tuner) -> List[Dict[str, Any]]:
    """One row per trial: id, status, score, seconds, message, then the hyperparameters."""
    oracle = tuner.oracle
    times = _trial_times(tuner.project_dir)
    rows = []
    for tid in sorted(oracle.trials):
        t = oracle.trials[tid]
        hps = {k: v for k, v in t.hyperparameters.values.items() if not k.startswith(_INTERNAL)}
        plan = getattr(oracle, "plan", None) or getattr(tuner, "zoo_plan", None)
        index = t.hyperparameters.values.get("grid/index")
        if plan and index is not None and index < len(plan):
            hps = dict(plan[index])  # only the active hyperparameters of this grid point
        if "tuner/epochs" in t.hyperparameters.values:
            hps["epochs"] = t.hyperparameters.values["tuner/epochs"]
        score = t.score if t.score is not None and np.isfinite(t.score) else None
        rows.append({"trial": tid, "status": t.status, "score": score,
                     "seconds": None if times.get(tid) is None else round(times[tid], 2),
                     "message": (t.message or "").strip().splitlines()[-1][:120] if t.message else "",
                     **hps})
    return rows


def hyperparameter_importance(rows) -> Dict[str, float]:
    """Share of the score's variance explained by each hyperparameter (correlation ratio eta²).

    Numbers with more than 5 distinct values are binned into 5 quantile bins.
    """
    fixed = {"trial", "status", "score", "seconds", "message"}
    done = [r for r in rows if r["score"] is not None]
    if len(done) < 2:
        return {}
    y = np.array([r["score"] for r in done], float)
    total = ((y - y.mean()) ** 2).sum()
    out = {}
    keys = sorted({k for r in done for k in r if k not in fixed})
    for k in keys:
        vals = [r.get(k) for r in done]
        if len(set(map(str, vals))) < 2 or total == 0:
            out[k] = 0.0
            continue
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals) and len(set(vals)) > 5:
            edges = np.quantile(vals, [0.2, 0.4, 0.6, 0.8])
            groups = np.digitize(vals, edges).astype(str)
        else:
            groups = np.array([str(v) for v in vals])
        between = sum(((y[groups == g].mean() - y.mean()) ** 2) * (groups == g).sum() for g in set(groups))
        out[k] = float(between / total)
    return out


def write_report(tuner, out_dir=None) -> Dict[str, str]:
    """Write `trials.csv`, `trials.md` and `trials.png` for `tuner` (chief or local)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = out_dir or tuner.project_dir
    os.makedirs(out_dir, exist_ok=True)
    rows = trials_table(tuner)
    hp_keys = sorted({k for r in rows for k in r} - {"trial", "status", "score", "seconds", "message"})
    cols = ["trial"] + hp_keys + ["score", "status", "seconds", "message"]
    paths = {"table_csv": os.path.join(out_dir, "trials.csv"),
             "table_md": os.path.join(out_dir, "trials.md"),
             "plot": os.path.join(out_dir, "trials.png")}
    with open(paths["table_csv"], "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in cols})
    fmt = lambda v: "" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))  # noqa: E731
    obj = tuner.oracle.objective
    lines = [f"Objective: `{getattr(obj, 'name', obj)}` ({getattr(obj, 'direction', 'min')}).", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(c)).replace("|", "/") for c in cols) + " |")
    importance = hyperparameter_importance(rows)
    if importance:
        lines += ["", "Hyperparameter importance (share of score variance): " +
                  ", ".join(f"`{k}` {v:.2f}" for k, v in sorted(importance.items(), key=lambda kv: -kv[1]))]
    with open(paths["table_md"], "w") as f:
        f.write("\n".join(lines) + "\n")

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    done = [r for r in rows if r["score"] is not None]
    failed = [r for r in rows if r["score"] is None]
    axes[0].plot([int(r["trial"]) for r in done], [r["score"] for r in done], "o-", label="completed")
    if failed:
        lo = min([r["score"] for r in done], default=0.0)
        axes[0].plot([int(r["trial"]) for r in failed], [lo] * len(failed), "rx", label="failed")
    axes[0].set_xlabel("trial")
    axes[0].set_ylabel(getattr(obj, "name", "score"))
    axes[0].legend()
    top = max(importance, key=importance.get) if importance else None
    if top:
        xs = [r.get(top) for r in done]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs)
        axes[1].plot(xs if numeric else [str(v) for v in xs], [r["score"] for r in done], "o")
        if numeric and all(v > 0 for v in xs) and max(xs) / min(xs) > 20:
            axes[1].set_xscale("log")
        axes[1].set_xlabel(f"{top} (most important)")
    axes[1].set_ylabel(getattr(obj, "name", "score"))
    fig.suptitle(f"{tuner.zoo_spec.name}: {type(tuner).__name__}")
    fig.tight_layout()
    fig.savefig(paths["plot"], dpi=80)
    plt.close(fig)
    return paths


# ----------------------------------------------------------------------------------------------
# The whole search
# ----------------------------------------------------------------------------------------------


def run_search(model, tuner="random", *, directory="runs/tune", project_name=None, max_trials=6,
               epochs=1, max_epochs=3, objective=None, seed=0, overwrite=False,
               base_overrides=None, export=True, export_dir="saved_models", time_limit=None,
               num_workers=2, data_fn=None, train_fn=None, log=print, restrict=None,
               steps_per_epoch=None, eval_examples=256, batch_size=None) -> Dict[str, Any]:
    """Run (or resume) a search, write its table and plot, and export the best model.

    In distributed mode (`KERASTUNER_ORACLE_IP` set) the chief (`KERASTUNER_TUNER_ID=chief`)
    serves the oracle until `num_workers` workers have finished or `time_limit` seconds pass,
    then writes the results; a worker runs trials and returns.

    Returns:
        A dict: `tuner`, `num_trials` (the grid's size, stated before it starts), `rows`,
        `best_hyperparameters`, `export_path`, and the report paths.
    """
    from keras_tuner.src.distribute import utils as dist_utils

    t = make_tuner(model, tuner, directory=directory, project_name=project_name, max_trials=max_trials,
                   epochs=epochs, max_epochs=max_epochs, objective=objective, seed=seed,
                   overwrite=overwrite, base_overrides=base_overrides, data_fn=data_fn, train_fn=train_fn,
                   restrict=restrict, steps_per_epoch=steps_per_epoch, eval_examples=eval_examples,
                   batch_size=batch_size)
    result: Dict[str, Any] = {"tuner": t}
    if t.zoo_plan is not None:
        result["num_trials"] = len(t.zoo_plan)
        log(f"grid search over {len(t.zoo_plan)} trials (conditional branches included)")
    deadline = time.time() + (time_limit or 10 ** 7)
    if dist_utils.has_chief_oracle():
        if not dist_utils.is_chief_oracle():
            from keras_tuner.src.distribute import oracle_client

            oracle_client.TIMEOUT = max(5, int(deadline - time.time()))
            if time_limit:
                _watchdog(time_limit)
            t.search(verbose=0)
            result["role"] = "worker"
            return result
        t.save()
        result["finished"] = serve_chief(t.oracle, num_workers, deadline)
        result["role"] = "chief"
    else:
        if time_limit:
            _watchdog(time_limit)
        t.search(verbose=0)
        result["finished"] = True
    result.update(write_report(t))
    result["rows"] = trials_table(t)
    best = [r for r in result["rows"] if r["score"] is not None]
    if best:
        hp = t.get_best_hyperparameters(1)[0]
        result["best_hyperparameters"] = {k: v for k, v in hp.values.items() if not k.startswith(_INTERNAL)}
        if export:
            from zoo.export import TASKS as export_tasks
            from zoo.export import export_model

            best_model = t.get_best_models(1)[0]
            task = t.zoo_spec.task if t.zoo_spec.task in export_tasks else "generic"
            options = dict(t.zoo_spec.extra.get("export_options", {}))
            if task == "translation":  # beam search of zoo.decoding (export's default names
                options.setdefault("translate_fn", "zoo.decoding:translate")  # another module)
            result["export_path"] = export_model(best_model, t.zoo_spec.name, task=task,
                                                 export_dir=export_dir, **options)
            log(f"best model exported to {result['export_path']}")
    log(f"trials table: {result['table_md']}")
    return result


def _parse_restrict(items):
    from zoo.registry import parse_overrides  # `--set KEY=VALUE`, JSON values, as the recipes'

    return parse_overrides(items)


def _cmd_tune(args):
    if args.show_space:
        spec = _resolve_spec(args.name)
        print(f"{spec.name}: {'declared' if spec.search_space else 'default (training only)'} search space")
        for line in format_space(restricted_space(space_of(spec), _parse_restrict(args.set))):
            print("  " + line)
        print(f"  grid: {len(grid_trials(space_of(spec), _parse_restrict(args.set)))} trials")
        return 0
    res = run_search(args.name, args.tuner, directory=args.directory, project_name=args.project_name,
                     max_trials=args.max_trials, epochs=args.epochs, max_epochs=args.max_epochs,
                     objective=args.objective, overwrite=args.overwrite,
                     base_overrides={} if args.full_size else None, export=not args.no_export,
                     export_dir=args.export_dir, time_limit=args.time_limit, num_workers=args.num_workers,
                     restrict=_parse_restrict(args.set), steps_per_epoch=args.steps_per_epoch,
                     eval_examples=args.eval_examples, batch_size=args.batch_size)
    if "table_md" in res:
        print(open(res["table_md"]).read())
    return 0


def add_cli(subparsers):
    """Add `zoo tune NAME` to the `zoo` command."""
    p = subparsers.add_parser("tune", help="keras-tuner search over a model's declared search space")
    p.add_argument("name", help="registered model name (or module:attr giving a ModelSpec)")
    p.add_argument("--tuner", choices=TUNERS, default="random")
    p.add_argument("--max-trials", type=int, default=6)
    p.add_argument("--epochs", type=int, default=1, help="epochs per trial")
    p.add_argument("--max-epochs", type=int, default=3, help="hyperband's largest budget")
    p.add_argument("--objective", default=None,
                   help="default val_loss (frechet, lower is better, for the DCGAN's image tasks)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="search a subspace: fix a hyperparameter (d_model=16) or restrict its "
                        "choices (dropout=[0.0,0.1]); JSON values")
    p.add_argument("--steps-per-epoch", type=int, default=None,
                   help="trainer steps per epoch (default: the training examples / batch)")
    p.add_argument("--eval-examples", type=int, default=256, help="held-out examples scoring a trial")
    p.add_argument("--batch-size", type=int, default=None, help="default: the space's or 32")
    p.add_argument("--show-space", action="store_true", help="print the declared space and exit")
    p.add_argument("--directory", default="runs/tune")
    p.add_argument("--project-name", default=None)
    p.add_argument("--overwrite", action="store_true", help="start afresh instead of resuming")
    p.add_argument("--full-size", action="store_true", help="search the full model, not the card's small test configuration")
    p.add_argument("--no-export", action="store_true")
    p.add_argument("--export-dir", default="saved_models")
    p.add_argument("--time-limit", type=float, default=None, help="seconds; distributed chief and workers exit by then")
    p.add_argument("--num-workers", type=int, default=2, help="distributed: workers the chief waits for")
    p.set_defaults(func=_cmd_tune)
