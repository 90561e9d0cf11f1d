"""Search spaces, in plain Python: the convention, its building blocks, and listing a space.

**Search-space convention.** `ModelSpec.search_space` (declared beside the card with
`register_model(..., search_space=...)`) is a callable `space(hp) -> dict`. It calls
`hp.Choice / hp.Int / hp.Float / hp.Boolean / hp.Fixed` (keras-tuner's `HyperParameters` when
searching; the small recorder here when listing or enumerating) and returns one flat dict:

* keys in `TRAINING_KEYS` (`learning_rate`, `weight_decay`, `warmup_steps`, `batch_size`,
  `epochs`, `label_smoothing`, `clipnorm`, `beta_1`, `optimizer`, `momentum`, `nesterov`,
  `aux_loss_weight`) are *training* parameters, given to the trainer (the optimizer's, checked
  by `zoo.train.optimizers.check_optimizer`: `optimizer` may be any of its names, e.g.
  `hp.Choice("optimizer", ["sgd", "adagrad", "rmsprop", "adam"])`; `sgd` is plain SGD unless
  `momentum` / `nesterov` are given);
* every other key is a *builder* override (`depth`, `units`, `num_heads`, `dropout`,
  `peepholes`, ...), given to the builder as `create_model(name, **base, **data, **those)`;
* a returned key may come from a differently named hyperparameter (`sgd_learning_rate` ->
  `learning_rate`) and may be a constant or derived value (`d_ff = 4 * d_model`).

Conditional parts: wrap the branch in `with hp.conditional_scope(parent, [values]):` around a
plain `if` on the parent's value, e.g. `optimizer_space` (the optimizer with its own learning rate
and weight decay). The grid is enumerated by running the space itself (`grid_trials`), so
conditional branches are counted and run exactly once each. `restricted_space(space,
{"d_model": 16, "dropout": [0.0, 0.1]})` searches a subspace; `describe_space` / `format_space`
list a space (`zoo info NAME`).

Nothing here imports keras or keras-tuner: `_HyperParameters` records a space the way
keras-tuner's `HyperParameters` defines it (the same types, defaults, value conversions and
conditions), so `zoo info` lists a space without loading either.

Example:
    >>> from zoo.core.spaces import grid_trials, optimizer_space
    >>> len(grid_trials(lambda hp: optimizer_space(hp, sgd={"learning_rate": [0.1, 0.05]},
    ...                                            adam={"learning_rate": [1e-3]})))
    3
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

__all__ = [
    "TUNERS",
    "TRAINING_KEYS",
    "describe_space",
    "format_space",
    "grid_trials",
    "optimizer_space",
    "restricted_space",
    "space_values",
    "split_overrides",
]

# the tuners of `zoo tune` (`zoo.tuning.search.make_tuner`)
TUNERS = ("grid", "random", "bayesian", "hyperband")

TRAINING_KEYS = ("learning_rate", "weight_decay", "warmup_steps", "batch_size", "epochs",
                 "label_smoothing", "clipnorm", "beta_1", "optimizer", "momentum", "nesterov",
                 "aux_loss_weight")


# ----------------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------------


def optimizer_space(hp, **optimizers) -> dict[str, Any]:
    """A building block of search spaces: `optimizer` chosen among the keyword names, each with
    its own hyperparameters, active only under it (a conditional space).

    `optimizer_space(hp, sgd={"learning_rate": [0.1, 0.05], "weight_decay": [1e-4]},
    adamw={"learning_rate": [1e-3], "weight_decay": [0.05]})` defines `optimizer`, then
    `sgd_learning_rate`, `sgd_weight_decay` when it is `"sgd"` and `adamw_learning_rate`,
    `adamw_weight_decay` when it is `"adamw"`; it returns `{"optimizer", "learning_rate",
    "weight_decay"}`. Weight decay is decoupled in both (Keras' `weight_decay`: SGD's 1e-4 is the
    classic L2 of 1e-4, AdamW's is per unit of learning rate, so it is larger). A value that is
    not a list is a constant of that optimizer, not a hyperparameter: `sgd={..., "momentum": 0.9,
    "nesterov": True}` is SGD with Nesterov momentum 0.9 (`sgd` alone is plain SGD).
    """
    names = list(optimizers)
    chosen = hp.Choice("optimizer", names) if len(names) > 1 else hp.Fixed("optimizer", names[0])
    out = {"optimizer": chosen}
    for name, params in optimizers.items():
        with hp.conditional_scope("optimizer", [name]):
            if chosen == name:
                for key, values in params.items():
                    if not isinstance(values, (list, tuple)):
                        out[key] = values  # a constant of this optimizer
                        continue
                    values = list(values)
                    out[key] = (hp.Choice(f"{name}_{key}", values) if len(values) > 1
                                else hp.Fixed(f"{name}_{key}", values[0]))
    return out


def split_overrides(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a space's dict into `(builder_overrides, training_params)` (see the convention).

    Example:
        >>> split_overrides({"learning_rate": 1e-3, "units": 8})
        ({'units': 8}, {'learning_rate': 0.001})
    """
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


def restricted_space(space: Callable, restrict: dict[str, Any] | None) -> Callable:
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
        raise ValueError("`restrict` must be a dict of name -> value or list. "
                         f"Received: restrict={restrict!r}")

    def space_restricted(hp):
        return space(_RestrictedHP(hp, restrict))

    space_restricted.restrict = dict(restrict)
    return space_restricted


# ----------------------------------------------------------------------------------------------
# A recorder of hyperparameters (keras-tuner's definitions, without keras-tuner)
# ----------------------------------------------------------------------------------------------


class _Parent:
    """A condition: the hyperparameter `name` has one of `values` (keras-tuner's `Parent`)."""

    def __init__(self, name, values):
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        first = values[0]
        if isinstance(first, str):
            values = [str(v) for v in values]
        elif isinstance(first, bool):
            pass
        elif isinstance(first, int):
            values = [int(v) for v in values]
        elif not isinstance(first, float):
            raise TypeError(
                "Can contain only `int`, `float`, `str`, or `bool`, found values: "
                f"{values}with types: {type(first)}"
            )
        self.name, self.values = name, values

    def is_active(self, values):
        return self.name in values and values[self.name] in self.values

    def __eq__(self, other):
        return isinstance(other, _Parent) and (other.name, other.values) == (self.name, self.values)


class _HP:
    """One defined hyperparameter: its type (`kind`), values or range, default and conditions."""

    def __init__(self, kind, name, conditions, default=None, values=None, min_value=None,
                 max_value=None, step=None, sampling=None):
        self.kind, self.name, self.conditions = kind, name, list(conditions)
        self.default, self.values = default, values
        self.min_value, self.max_value, self.step, self.sampling = (min_value, max_value, step,
                                                                   sampling)


def _choice(name, conditions, values, default):
    if not values:
        raise ValueError("`values` must be provided for `Choice`.")
    types = {type(v) for v in values}
    if len(types) > 1:
        raise TypeError(f"A `Choice` can contain only one type of value, found values: {values} "
                        f"with types {types}.")
    values = list(values)
    if isinstance(values[0], str):
        values = [str(v) for v in values]
        default = str(default) if default is not None else None
    elif isinstance(values[0], int):  # bools too, as keras-tuner does
        values = [int(v) for v in values]
        default = int(default) if default is not None else None
    elif not isinstance(values[0], (bool, float)):
        raise TypeError("A `Choice` can contain only `int`, `float`, `str`, or `bool`, found "
                        f"values: {values}with types: {type(values[0])}")
    if default is not None and default not in values:
        raise ValueError(f"The default value should be one of the choices. You passed: "
                         f"values={values}, default={default}")
    return _HP("Choice", name, conditions, values[0] if default is None else default, values)


def _check_int(value, arg):
    as_int = int(value)
    if as_int != value:
        raise ValueError(f"{arg} must be an int, Received: {value} of type {type(value)}.")
    return as_int


def _numerical(kind, name, conditions, min_value, max_value, step, sampling, default):
    sampling = (sampling or "linear").lower()
    if min_value > max_value:
        raise ValueError(f"For HyperParameters.{kind}(name='{name}'), min_value {min_value} is "
                         f"greater than the max_value {max_value}.")
    if sampling not in ("linear", "log", "reverse_log"):
        raise ValueError(f"For HyperParameters.{kind}(name='{name}'), sampling must be one of "
                         "{'linear', 'log', 'reverse_log'}")
    if sampling != "linear" and min_value <= 0:
        raise ValueError(f"For HyperParameters.{kind}(name='{name}'), sampling='{sampling}' does "
                         f"not support negative values, found min_value: {min_value}.")
    if sampling != "linear" and step is not None and step <= 1:
        raise ValueError(f"For HyperParameters.{kind}(name='{name}'), expected step > 1 with "
                         f"sampling='{sampling}'. Received: step={step}.")
    hp = _HP(kind, name, conditions, min_value if default is None else default, None, min_value,
             max_value, step, sampling)
    if kind == "Int":
        hp.values = _int_values(hp)
    return hp


def _int_values(hp):
    """An Int's values as keras-tuner enumerates them (`Int.values`)."""
    lo, hi, step = hp.min_value, hp.max_value, hp.step
    if step is None:  # log sampling without a step: ten samples of the range
        def sample(prob, top):
            if hp.sampling == "log":
                return lo * math.pow(top / lo, prob)
            return top + lo - lo * math.pow(top / lo, 1 - prob)

        return list({int(sample(i * 0.1 + 0.05, hi + 1)) for i in range(10)})
    if hp.sampling == "linear":
        return [lo + i * step for i in range(int((hi - lo) // step + 1))]
    n = int(math.log(hi / lo, step) + 1e-08) + 1
    if hp.sampling == "log":
        return [lo * math.pow(step, i) for i in range(n)]
    return [hi + lo - lo * math.pow(step, i) for i in range(n)]


class _HyperParameters:
    """Defines hyperparameters as keras-tuner's `HyperParameters` does (`Choice`, `Int`, `Float`,
    `Boolean`, `Fixed`, `conditional_scope`, `parent_name`/`parent_values`) and hands each one
    defined to `_retrieve`, which subclasses override."""

    def __init__(self):
        self._conditions: list[_Parent] = []
        self._hps: dict[str, list[_HP]] = {}
        self.values: dict[str, Any] = {}

    @contextlib.contextmanager
    def conditional_scope(self, parent_name, parent_values):
        if not self._exists(parent_name, self._conditions):
            raise ValueError(f"`HyperParameter` named: {parent_name} not defined.")
        self._conditions.append(_Parent(parent_name, parent_values))
        try:
            yield
        finally:
            self._conditions.pop()

    @contextlib.contextmanager
    def _maybe_conditional_scope(self, parent_name, parent_values):
        if parent_name:
            with self.conditional_scope(parent_name, parent_values):
                yield
        else:
            yield

    def is_active(self, hp) -> bool:
        return all(c.is_active(self.values) for c in hp.conditions)

    def _exists(self, name, conditions) -> bool:
        return any(hp.conditions == conditions for hp in self._hps.get(name, ()))

    def _register(self, hp):
        """keras-tuner's `_retrieve`: the value of `hp` (its default when new), None if inactive."""
        if not self._exists(hp.name, hp.conditions):
            for c in self._conditions:
                if c.name == hp.name:
                    raise ValueError("A conditional `HyperParameter` cannot have the same name "
                                     f"as its parent. Found: {hp.name} and parent_name: {c.name}")
            self._hps.setdefault(hp.name, []).append(hp)
            if self.is_active(hp) and hp.name not in self.values:
                self.values[hp.name] = hp.default
        return self.values[hp.name] if self.is_active(hp) else None

    def _retrieve(self, hp):
        return self._register(hp)

    def _define(self, make, parent_name, parent_values):
        with self._maybe_conditional_scope(parent_name, parent_values):
            return self._retrieve(make(list(self._conditions)))

    def Choice(self, name, values, ordered=None, default=None, parent_name=None,
               parent_values=None):
        return self._define(lambda c: _choice(name, c, values, default), parent_name,
                            parent_values)

    def Int(self, name, min_value, max_value, step=None, sampling="linear", default=None,
            parent_name=None, parent_values=None):
        if step is not None:
            step = _check_int(step, "step")
        elif sampling == "linear":
            step = 1
        lo, hi = _check_int(min_value, "min_value"), _check_int(max_value, "max_value")
        return self._define(lambda c: _numerical("Int", name, c, lo, hi, step, sampling, default),
                            parent_name, parent_values)

    def Float(self, name, min_value, max_value, step=None, sampling="linear", default=None,
              parent_name=None, parent_values=None):
        lo, hi = float(min_value), float(max_value)
        return self._define(lambda c: _numerical("Float", name, c, lo, hi, step, sampling,
                                                 default), parent_name, parent_values)

    def Boolean(self, name, default=False, parent_name=None, parent_values=None):
        if default not in {True, False}:
            raise ValueError(f"`default` must be a Python boolean. You passed: default={default}")
        return self._define(lambda c: _HP("Boolean", name, c, default, [True, False]),
                            parent_name, parent_values)

    def Fixed(self, name, value, parent_name=None, parent_values=None):
        if isinstance(value, bool):
            value = bool(value)
        elif isinstance(value, int):
            value = int(value)
        elif not isinstance(value, (float, str)):
            raise ValueError(f"`Fixed` value must be an `int`, `float`, `str`, or `bool`, "
                             f"found {value}")
        return self._define(lambda c: _HP("Fixed", name, c, value, [value]), parent_name,
                            parent_values)


class _Branch(Exception):
    def __init__(self, name, values):
        super().__init__(name)
        self.name, self.values = name, values


def _grid_values(hp):
    if hp.kind in ("Fixed", "Choice"):
        return list(hp.values)
    if hp.kind == "Boolean":
        return [False, True]
    if hp.kind == "Float":
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


class _Recorder(_HyperParameters):
    """Gives the fixed values; the first active hyperparameter without one raises `_Branch`."""

    def __init__(self, fixed):
        super().__init__()
        self._fixed = fixed
        self._used = {}

    def _retrieve(self, hp):
        self._register(hp)
        if not self.is_active(hp):
            return None
        if hp.name not in self._fixed:
            raise _Branch(hp.name, _grid_values(hp))
        self.values[hp.name] = self._fixed[hp.name]
        self._used[hp.name] = self._fixed[hp.name]
        return self._fixed[hp.name]


# ----------------------------------------------------------------------------------------------
# Listing and enumerating a space
# ----------------------------------------------------------------------------------------------


def _describe_entry(hp, conditions):
    """One hyperparameter of `describe_space`, active under `conditions`."""
    when = " and ".join(f"{c.name} in {list(c.values)}" for c in conditions)
    d = {"name": hp.name, "type": hp.kind}
    if hp.kind in ("Float", "Int"):
        try:
            values = _grid_values(hp)
        except ValueError:  # a Float without a step
            values = None
        if values is None or len(values) > 12:
            d["range"] = [hp.min_value, hp.max_value]
            d["sampling"] = hp.sampling or "linear"
        else:
            d["values"] = values
    elif hp.kind == "Fixed":
        d["values"] = [hp.default]
    elif hp.kind == "Boolean":
        d["values"] = [False, True]
    else:
        d["values"] = list(hp.values)
    d["default"] = hp.default
    d["when"] = when
    return d


def describe_space(space: Callable, max_runs: int = 5000) -> list[dict[str, Any]]:
    """Every hyperparameter a space can define, over all its conditional branches.

    Returns one dict per hyperparameter: `name`, `type` (`Choice`, `Int`, `Float`, `Boolean`,
    `Fixed`), `values` (choices, or the grid of an Int/Float with a step) or `range`
    (`[min, max]`, with `sampling`), `default`, and `when` (the parent choices that make it
    active, e.g. `"optimizer in ['sgd']"`, or `""`).

    Example:
        >>> describe_space(lambda hp: {"units": hp.Choice("units", [64, 128])})
        [{'name': 'units', 'type': 'Choice', 'values': [64, 128], 'default': 64, 'when': ''}]
    """
    seen: dict[tuple[str, str], dict[str, Any]] = {}

    class _Explorer(_HyperParameters):
        def __init__(self, fixed):
            super().__init__()
            self._fixed = fixed

        def _retrieve(self, hp):
            self._register(hp)
            if not self.is_active(hp):
                return None
            key = (hp.name, _describe_entry(hp, self._conditions)["when"])
            if key not in seen:
                seen[key] = _describe_entry(hp, list(self._conditions))
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


def format_space(space: Callable) -> list[str]:
    """`describe_space` as short lines: `name: Choice [a, b] (default a) [when parent in [..]]`.

    Example:
        >>> format_space(lambda hp: optimizer_space(hp, sgd={"learning_rate": [0.1, 0.05]},
        ...                                         adam={"learning_rate": [1e-3]}))
        ... # doctest: +NORMALIZE_WHITESPACE
        ["optimizer: Choice ['sgd', 'adam']",
         "sgd_learning_rate: Choice [0.1, 0.05]  [when optimizer in ['sgd']]",
         "adam_learning_rate: Fixed [0.001]  [when optimizer in ['adam']]"]
    """
    lines = []
    for d in describe_space(space):
        what = (f"{d['values']}" if "values" in d else
                f"range {d['range'][0]:g}..{d['range'][1]:g} ({d.get('sampling', 'linear')})")
        line = f"{d['name']}: {d['type']} {what}"
        if d["when"]:
            line += f"  [when {d['when']}]"
        lines.append(line)
    return lines


def space_values(space: Callable, point: dict[str, Any]) -> dict[str, Any]:
    """What `space` returns (builder and training overrides) at a grid point of `grid_trials`.

    Example:
        >>> space = lambda hp: {"d_model": hp.Choice("d_model", [256, 512]), "d_ff": 1024}
        >>> space_values(space, {"d_model": 512})
        {'d_model': 512, 'd_ff': 1024}
    """
    try:
        return space(_Recorder(dict(point)))
    except _Branch as b:
        raise ValueError(f"`point` lacks the active hyperparameter {b.name!r}. "
                         f"Received: point={point!r}") from None


def grid_trials(space: Callable, restrict: dict[str, Any] | None = None) -> list[dict[str, Any]]:
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
        rec = _Recorder(fixed)
        try:
            space(rec)
        except _Branch as b:
            queue[:0] = [dict(fixed, **{b.name: v}) for v in b.values]
            continue
        if rec._used not in out:
            out.append(rec._used)
    return out
