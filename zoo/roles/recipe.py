"""The recipe role of a task kind: the flags of `zoo train NAME`, the data source, the model to
train, the epoch callbacks and the report line; read by `zoo.train.recipe` (docs/recipes.md).

Example:
    >>> from zoo.tasks import task_for
    >>> task_for("gcn").flag_defaults["epochs"]
    200
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, List, Tuple

from zoo.core.registry import create_model, get_spec, parse_overrides

__all__ = ["check_classes", "check_agrees_with_data", "DATA_FIXED", "RecipeRole", "builder_fn",
           "export_note", "validation_note"]


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
    overrides = parse_overrides(overrides) if isinstance(overrides, list) else (overrides or {})
    kwargs.update(check_agrees_with_data(overrides, kwargs))
    return lambda: create_model(name, **kwargs)


# builder arguments whose value the data fixes (its classes, shapes, vocabulary, window): a
# `--set` of another value would build a model the data does not fit
DATA_FIXED = ("classes", "input_shape", "image_shape", "channels", "num_features", "window",
              "horizon", "num_drivers", "vocabulary_size", "target_vocabulary_size", "max_length")


def check_agrees_with_data(overrides, fixed):
    """`overrides` (`--set`), or a ValueError naming the first of `DATA_FIXED` that it sets to
    another value than the data fixes (`fixed`), before the model is built or trained.

    Example:
        >>> check_agrees_with_data({"classes": 3}, {"classes": 10})
        Traceback (most recent call last):
        ...
        ValueError: `--set classes=3` disagrees with the data, which fixes classes=10. Received: classes=3
    """
    def same(a, b):
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
        return a == b

    for key, value in overrides.items():
        if key in DATA_FIXED and fixed.get(key) is not None and not same(value, fixed[key]):
            raise ValueError(f"`--set {key}={value!r}` disagrees with the data, which fixes "
                             f"{key}={fixed[key]!r}. Received: {key}={value!r}")
    return overrides


def check_classes(num_classes, dataset):
    """`num_classes`, or a ValueError before training: a classifier needs integer class labels
    (None: the data's targets are real values, a regression problem) of at least 2 classes
    (with one, every prediction is right and the accuracy says nothing)."""
    if num_classes is None:
        raise ValueError(f"`--dataset` must have class labels for a classifier; {dataset!r} has "
                         f"real-valued targets (a regression problem: train a *_regressor model). "
                         f"Received: dataset={dataset!r}")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"`--dataset` must have at least 2 classes for a classifier; {dataset!r} "
                         f"has {num_classes}. Received: dataset={dataset!r}")
    return num_classes


def export_note(summary) -> str:
    """", exported to PATH" for a report line, or ", not exported" after `--no-export`."""
    from zoo.core.locks import shown_path

    path = summary.get("export_path")
    return f", exported to {shown_path(path)}" if path else ", not exported"


def validation_note(summary, metric=None) -> str:
    """", validation ..." (the split settings are chosen on) for a report line, or ""."""
    val = summary.get("final_validation") or {}
    if metric is not None:
        return f", validation {metric} {val[metric]:.4f}" if metric in val else ""
    return f", validation {val}" if val else ""


class RecipeRole:
    """What `zoo train NAME` needs beyond the trainer: flags, data, model, callbacks, report."""

    # the trainer's flag defaults for this task's recipe (`zoo train NAME --help`)
    flag_defaults: Dict[str, Any] = {}

    @classmethod
    def add_arguments(cls, parser) -> None:
        """The task's own flags of `zoo train NAME` (the trainer adds its flags)."""

    @classmethod
    def from_args(cls, args):
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
