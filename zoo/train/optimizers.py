"""`make_optimizer`: the one place a zoo optimizer is made and its settings are checked.

`zoo train` (`--optimizer`, `--momentum`, `--nesterov`, `--weight-decay`, `--beta-1`,
`--clipnorm`), a trial of `zoo tune` (the space's `optimizer`, `learning_rate`, `momentum`,
`nesterov`, `weight_decay`, `beta_1`, `clipnorm`) and the Python API (`TrainConfig`, or this
function directly) all go through `check_optimizer`, so a bad name or value is refused the same
way everywhere, before any work is done, with the argument and its allowed values named.

The optimizers of the notes (`NOTES_OPTIMIZERS`):

* `sgd`: plain stochastic gradient descent; momentum 0 unless `momentum` is given, Nesterov
  momentum with `nesterov=True` (which needs a momentum > 0);
* `adagrad` (Duchi et al. 2011), `rmsprop` (Tieleman & Hinton 2012; takes `momentum` too),
  `adam` (Kingma & Ba 2015), `adamw` (Loshchilov & Hutter 2019), `nadam` (Dozat 2016: Adam with
  Nesterov momentum);

and any other optimizer `keras.optimizers.get` knows by name (`optimizer_names()`: adamax,
adadelta, adafactor, ftrl, lion, ...). Settings an optimizer does not take (`momentum` for Adam,
`beta_1` for SGD, ...) are refused rather than ignored.

Example:
    >>> opt = make_optimizer("sgd", 0.1, momentum=0.9, nesterov=True)
    >>> type(opt).__name__, float(opt.momentum), opt.nesterov
    ('SGD', 0.9, True)
"""

from __future__ import annotations

import functools
import inspect
import math
from typing import Any, Dict

__all__ = ["NOTES_OPTIMIZERS", "check_optimizer", "make_optimizer", "optimizer_names",
           "optimizer_takes", "share_step_scalars"]

# the optimizers the notes compare (and `adamw`, `nadam`), in the order the notes give them
NOTES_OPTIMIZERS = ("sgd", "adagrad", "rmsprop", "adam", "adamw", "nadam")

# optimizers of keras.optimizers that wrap or combine others: not a `--optimizer`
_WRAPPERS = ("lossscaleoptimizer", "multioptimizer", "optimizermap", "optimizer")


@functools.lru_cache(maxsize=None)
def _classes() -> Dict[str, Any]:
    import keras

    # what `keras.optimizers.get` reads a name with, looked up without making an optimizer: making
    # one starts TensorFlow's devices, after which `--cpu-devices` can no longer split the CPU
    try:
        from keras.src.optimizers import ALL_OBJECTS_DICT as by_name
    except ImportError:  # another Keras layout: the class names alone
        by_name = None
    found = {}
    for attr in dir(keras.optimizers):
        cls = getattr(keras.optimizers, attr)
        if not (isinstance(cls, type) and issubclass(cls, keras.optimizers.Optimizer)):
            continue
        name = cls.__name__.lower()
        if name in _WRAPPERS:
            continue
        if by_name is None or by_name.get(name) is cls:
            found[name] = cls
    return dict(sorted(found.items()))


def optimizer_names():
    """Every name `--optimizer` takes: keras.optimizers' own (lower-case, as `keras.optimizers.get`
    reads them), the notes' six first.

    Example:
        >>> names = optimizer_names()
        >>> names[:6], "adamax" in names
        (('sgd', 'adagrad', 'rmsprop', 'adam', 'adamw', 'nadam'), True)
    """
    rest = tuple(n for n in _classes() if n not in NOTES_OPTIMIZERS)
    return NOTES_OPTIMIZERS + rest


def _params(name):
    return inspect.signature(_classes()[name].__init__).parameters


def optimizer_takes(name, arg) -> bool:
    """Whether optimizer `name` (one of `optimizer_names()`) has the setting `arg`."""
    return arg in _params(_check_name(name))


def _check_name(name):
    names = optimizer_names()
    key = name.lower() if isinstance(name, str) else name
    if key not in names:
        raise ValueError(f"`optimizer` (--optimizer) must be one of {', '.join(names)}. "
                         f"Received: optimizer={name!r}")
    return key


def _number(value, arg, low, high=None, *, low_open=False, high_open=True):
    """`value` as a float in the range, else a ValueError naming `arg` (and its flag)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (
            high is None or (value < high if high_open else value <= high))
    if not ok:
        rng = (("(" if low_open else "[") + f"{low:g}, "
               + (f"{high:g}" + (")" if high_open else "]") if high is not None else "inf)"))
        raise ValueError(f"`{arg}` (--{arg.replace('_', '-')}) must be a number in {rng}. "
                         f"Received: {arg}={value!r}")
    return float(value)


def check_optimizer(name, learning_rate=None, *, momentum=None, nesterov=False, weight_decay=None,
                    beta_1=None, clipnorm=None) -> Dict[str, Any]:
    """Check an optimizer's settings; returns `{"name": ..., "kwargs": {...}}` (its class's
    keyword arguments), or raises a ValueError naming the argument and its allowed values.

    Args:
        name: one of `optimizer_names()` (case-insensitive).
        learning_rate: > 0, or a `keras.optimizers.schedules.LearningRateSchedule`; None: the
            optimizer's default.
        momentum: in [0, 1), for optimizers that take it (sgd, rmsprop); None: theirs (0).
        nesterov: Nesterov momentum (sgd, with momentum > 0); use `nadam` for Adam's.
        weight_decay: >= 0 (decoupled, Keras' `weight_decay`); None or 0 for optimizers
            without one.
        beta_1: in [0, 1), for the Adam family and Lion; None: their default (0.9).
        clipnorm: > 0, or None (no clipping).
    """
    key = _check_name(name)
    params = _params(key)
    allowed = lambda arg: ", ".join(n for n in optimizer_names() if arg in _params(n))  # noqa: E731
    kw: Dict[str, Any] = {}
    if learning_rate is not None:
        if hasattr(learning_rate, "get_config") and callable(learning_rate):
            kw["learning_rate"] = learning_rate  # a schedule
        else:
            kw["learning_rate"] = _number(learning_rate, "learning_rate", 0.0, low_open=True)
    if momentum is not None:
        if "momentum" not in params:
            raise ValueError(f"`momentum` (--momentum) is a setting of {allowed('momentum')} "
                             f"only, not of {key!r}. Received: momentum={momentum!r}")
        kw["momentum"] = _number(momentum, "momentum", 0.0, 1.0)
    if not isinstance(nesterov, bool):
        raise ValueError(f"`nesterov` (--nesterov) must be True or False. Received: "
                         f"nesterov={nesterov!r}")
    if nesterov:
        if "nesterov" not in params:
            hint = " (`nadam` is Adam with Nesterov momentum)" if "beta_1" in params else ""
            raise ValueError(f"`nesterov` (--nesterov) is a setting of {allowed('nesterov')} only, "
                             f"not of {key!r}{hint}. Received: nesterov=True")
        if key == "sgd" and not kw.get("momentum"):
            raise ValueError("`nesterov` (--nesterov) needs a momentum in (0, 1) (--momentum, "
                             f"e.g. 0.9). Received: nesterov=True, momentum={momentum!r}")
        kw["nesterov"] = True
    if weight_decay is not None:
        wd = _number(weight_decay, "weight_decay", 0.0)
        if wd and "weight_decay" not in params:
            raise ValueError(f"`weight_decay` (--weight-decay) is a setting of "
                             f"{allowed('weight_decay')} only, not of {key!r}. "
                             f"Received: weight_decay={weight_decay!r}")
        if "weight_decay" in params and (wd or params["weight_decay"].default):
            kw["weight_decay"] = wd  # (a 0 is left out where it is the default: no decay step)
    if beta_1 is not None:
        if "beta_1" not in params:
            raise ValueError(f"`beta_1` (--beta-1) is a setting of {allowed('beta_1')} only, not "
                             f"of {key!r}. Received: beta_1={beta_1!r}")
        kw["beta_1"] = _number(beta_1, "beta_1", 0.0, 1.0)
    if clipnorm is not None:
        kw["clipnorm"] = _number(clipnorm, "clipnorm", 0.0, low_open=True)
    return {"name": key, "kwargs": kw}


def make_optimizer(name, learning_rate=None, *, momentum=None, nesterov=False, weight_decay=None,
                   beta_1=None, clipnorm=None):
    """A new keras optimizer `name` with the given settings, checked by `check_optimizer`
    (see its arguments); settings left None are the optimizer's own defaults.

    Example:
        >>> opt = make_optimizer("rmsprop", 1e-3, momentum=0.5)
        >>> type(opt).__name__, float(opt.momentum)
        ('RMSprop', 0.5)
    """
    checked = check_optimizer(name, learning_rate, momentum=momentum, nesterov=nesterov,
                              weight_decay=weight_decay, beta_1=beta_1, clipnorm=clipnorm)
    return _classes()[checked["name"]](**checked["kwargs"])


def share_step_scalars(optimizer):
    """`optimizer` itself, updating with fewer graph ops when it is Keras' Adam (or AdamW).

    Keras' `Adam.update_step` computes the step size `alpha = lr * sqrt(1 - beta_2**t) /
    (1 - beta_1**t)` again for every variable (ten scalar ops each, 173 times for GoogLeNet-BN):
    tracing and optimising them was a third of the train function's cost. Here it is computed
    once per update (per dtype and device), with the same ops on the same values, and the rest of
    each variable's update is Keras' own, op for op: the same weights and optimizer variables,
    bit for bit, and the same checkpoints (nothing is added to what is tracked). Other
    optimizers, and AMSGrad, are returned as they are.
    """
    import keras
    from keras import ops

    if (getattr(type(optimizer), "update_step", None) is not keras.optimizers.Adam.update_step
            or optimizer.amsgrad):
        return optimizer
    keras_update_step, keras_backend_update_step = (optimizer.update_step,
                                                    optimizer._backend_update_step)
    step_sizes: Dict[Any, Any] = {}  # during one update: (dtype, device) -> alpha
    updating = []

    def backend_update_step(grads, trainable_variables, learning_rate):
        step_sizes.clear()
        updating.append(True)
        try:
            return keras_backend_update_step(grads, trainable_variables, learning_rate)
        finally:
            updating.pop()
            step_sizes.clear()

    def update_step(gradient, variable, learning_rate):
        if not updating:
            return keras_update_step(gradient, variable, learning_rate)
        opt, dtype = optimizer, variable.dtype
        key = (dtype, getattr(variable, "device", None))
        if key not in step_sizes:  # keras' Adam.update_step, up to its `alpha`
            lr = ops.cast(learning_rate, dtype)
            local_step = ops.cast(opt.iterations + 1, dtype)
            beta_1_power = ops.power(ops.cast(opt.beta_1, dtype), local_step)
            beta_2_power = ops.power(ops.cast(opt.beta_2, dtype), local_step)
            step_sizes[key] = lr * ops.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        alpha = step_sizes[key]
        # the rest of keras' Adam.update_step
        gradient = ops.cast(gradient, dtype)
        m = opt._momentums[opt._get_variable_index(variable)]
        v = opt._velocities[opt._get_variable_index(variable)]
        opt.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - opt.beta_1))
        opt.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - opt.beta_2))
        opt.assign_sub(variable, ops.divide(ops.multiply(m, alpha),
                                            ops.add(ops.sqrt(v), opt.epsilon)))

    # plain attributes of the instance, outside Keras' and TensorFlow's tracking
    object.__setattr__(optimizer, "_backend_update_step", backend_update_step)
    object.__setattr__(optimizer, "update_step", update_step)
    return optimizer
