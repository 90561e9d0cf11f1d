"""One module per task kind (TensorFlow), named after a kind of `zoo.core.task_kinds.TASKS`; each
defines its `Task` as `TASK`, and `task_for(name)` gives a registered model's. What each kind
trains, serves and searches: docs/architecture.md.
"""

from __future__ import annotations

import importlib

from zoo.core.registry import TASKS, get_spec, task_kind

__all__ = ["task_class", "task_for", "TASKS"]


def task_class(kind: str):
    """The `Task` subclass of task kind `kind` (one of `zoo.core.registry.TASKS`)."""
    kind = task_kind(kind)
    return importlib.import_module(f"zoo.tasks.{kind}").TASK


def task_for(model, **kwargs):
    """A `Task` instance for registered model `model` (a name or a `ModelSpec`); `kwargs` go to
    the task's constructor."""
    spec = model if hasattr(model, "task") else get_spec(model)
    return task_class(spec.task)(**kwargs)
