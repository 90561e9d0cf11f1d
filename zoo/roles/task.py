"""`Task`: one kind of task, composed of its four roles (docs/architecture.md).

* training (`zoo.roles.training.TrainingRole`): step, loss, metrics, optimizers; read by
  `zoo.train.Trainer`;
* recipe (`zoo.roles.recipe.RecipeRole`): flags, data source, model, callbacks, report; read by
  `zoo train NAME`;
* serving (`zoo.roles.serving.ServingRole`): signatures, exported model, export options; read by
  `zoo.export` through an `ExportModule`;
* search (`zoo.roles.search.SearchRole`): space, data, trial task and model, objective; read by
  `zoo.tuning`.

A task kind (`zoo.tasks.<kind>`) subclasses `Task` and overrides what differs in each role; the
workflows read the roles and never switch on task or model names.

Example:
    >>> from zoo.tasks import task_for
    >>> task = task_for("googlenet_bn")
    >>> task.name, task.monitor
    ('image_classification', 'accuracy')
"""

from __future__ import annotations

from typing import Any, Dict

from zoo.core.moved import RenamedAttribute, warn_renamed
from zoo.roles.recipe import RecipeRole, builder_fn, export_note, validation_note
from zoo.roles.search import SearchRole
from zoo.roles.serving import ServingRole
from zoo.roles.training import (
    TrainingRole,
    classification_forward,
    f32,
    logits_flag,
    smoothed_cross_entropy,
)

__all__ = ["Task", "builder_fn", "f32", "smoothed_cross_entropy", "classification_forward",
           "logits_flag", "export_note", "validation_note"]


# The roles are mixins, not attributes holding four objects: a task kind's roles share its
# configuration (a translation task's `label_smoothing` is read by its step, its recipe and its
# trial task), each workflow already receives one task object, and a kind overrides a role's method
# in one class. Each role is its own small class and module; a workflow calls only its role's methods.
class Task(TrainingRole, RecipeRole, ServingRole, SearchRole):
    """Base class of the task kinds: the composition of the four roles (module docstring)."""

    name = "task"

    train_defaults = RenamedAttribute("flag_defaults")

    def training_defaults(self) -> Dict[str, Any]:
        """Deprecated name of `trial_defaults`."""
        warn_renamed("Task.training_defaults()", "Task.trial_defaults()")
        return self.trial_defaults()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "train_defaults" in cls.__dict__:  # a task kind written before the rename
            warn_renamed(f"{cls.__name__}.train_defaults", f"{cls.__name__}.flag_defaults")
            cls.flag_defaults = cls.__dict__["train_defaults"]
        if "training_defaults" in cls.__dict__:
            warn_renamed(f"{cls.__name__}.training_defaults()", f"{cls.__name__}.trial_defaults()")
            cls.trial_defaults = cls.__dict__["training_defaults"]
        if "eval_step" in cls.__dict__:
            warn_renamed(f"{cls.__name__}.eval_step()", f"{cls.__name__}.evaluation_step()")
            cls.evaluation_step = cls.__dict__["eval_step"]
