"""The task kinds a registered model can have: one module of `zoo.tasks` each.

Example:
    >>> from zoo.core.task_kinds import TASKS
    >>> "translation" in TASKS
    True
"""

from __future__ import annotations

from zoo.core.moved import warn_renamed

__all__ = ["RENAMED_TASKS", "TASKS", "task_kind"]

# What a registered model does; `register_model` refuses any other task.
TASKS = (
    "image_classification",
    "image_discrimination",
    "feature_classification",
    "sequence_classification",
    "sequence_regression",
    "text_classification",
    "translation",
    "image_generation",
    "node_classification",
    "forecasting",
)

# Task kinds that were renamed: the old name keeps working for one release, with a warning.
RENAMED_TASKS = {"classification": "feature_classification"}


def task_kind(task: str) -> str:
    """The task kind `task` names (one of `TASKS`; a renamed kind's old name gives the new one,
    with a `DeprecationWarning`).

    Example:
        >>> task_kind("translation")
        'translation'
    """
    if task in RENAMED_TASKS:
        warn_renamed(f"task={task!r}", f"task={RENAMED_TASKS[task]!r}")
        return RENAMED_TASKS[task]
    if task not in TASKS:
        raise ValueError(f"`task` must be one of {TASKS}. Received: task={task!r}")
    return task
