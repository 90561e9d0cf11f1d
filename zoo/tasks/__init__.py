"""One module per task kind (TensorFlow), named after a kind of `zoo.core.task_kinds.TASKS`; each
defines its `Task` (the four roles of `zoo.roles`) as `TASK`. `task_for(name)` gives a registered
model's task, `serving_for(kind)` an export's; the workflows read them and never switch on task or
model names. What each kind trains, serves and searches: docs/architecture.md.
"""

from __future__ import annotations

import importlib

from zoo.core.registry import RENAMED_TASKS, TASKS, get_spec, task_kind

__all__ = ["task_class", "task_for", "serving_for", "guess_export_task", "space_of", "default_search_space",
           "TASKS", "EXPORT_TASKS"]

# what an export takes (`zoo export --task`, `zoo.export.export_model(task=...)`): the task kinds,
# and "generic" (an unregistered model's own inputs and outputs, `zoo.roles.serving.GenericServing`)
GENERIC = "generic"
EXPORT_TASKS = tuple(TASKS) + (GENERIC,)


def task_class(kind: str):
    """The `Task` subclass of task kind `kind` (one of `zoo.core.registry.TASKS`)."""
    kind = task_kind(kind)
    return importlib.import_module(f"zoo.tasks.{kind}").TASK


def task_for(model, **kwargs):
    """A `Task` instance for registered model `model` (a name or a `ModelSpec`); `kwargs` go to
    the task's constructor."""
    spec = model if hasattr(model, "task") else get_spec(model)
    return task_class(spec.task)(**kwargs)


def default_search_space(kind: str):
    """The search space of a model of task kind `kind` that declares none (training parameters:
    the task's `default_space`; imports the task, so TensorFlow)."""
    return task_class(kind)().default_space


def space_of(spec):
    """The search space of `spec` (a `ModelSpec`): its declared one (no TensorFlow), else its
    task's default (`default_search_space`)."""
    if spec.search_space is not None:
        return spec.search_space
    return default_search_space(spec.task)


def serving_for(kind: str):
    """The serving role of export task `kind` (one of `EXPORT_TASKS`; a renamed kind is
    accepted): the task kind's `Task`, or `zoo.roles.serving.GenericServing` for "generic"."""
    if kind in RENAMED_TASKS:  # an export written before the rename
        kind = task_kind(kind)
    if kind not in EXPORT_TASKS:
        raise ValueError(f"`task` must be one of {EXPORT_TASKS}. Received: task={kind!r}")
    if kind == GENERIC:
        from zoo.roles.serving import GenericServing

        return GenericServing()
    return task_class(kind)()


def guess_export_task(model) -> str:
    """The export task of an unregistered `model`: an image classifier (one image input, one
    vector output), else "generic"."""
    if len(model.inputs) == 1 and len(model.inputs[0].shape) == 4 and len(model.outputs[0].shape) == 2:
        return "image_classification"
    return GENERIC
