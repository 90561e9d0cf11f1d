# ruff: noqa: E501, B904  (a verbatim copy of the old code, kept as it was)
"""The keras-tuner-based search-space functions zoo had before `zoo.core.spaces` (copied from
zoo/tuning.py at a274a83): the independent reference `tests/test_spaces.py` compares the
plain-Python `zoo.core.spaces` with. They drive keras-tuner's own `HyperParameters`."""

import math
from typing import Any, Callable, Dict, List, Optional, Tuple

TRAINING_KEYS = ("learning_rate", "weight_decay", "warmup_steps", "batch_size", "epochs",
                 "label_smoothing", "clipnorm", "beta_1", "optimizer", "aux_loss_weight")


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
