"""`SearchSettings`: every setting of one search, the argument of `zoo.tuning.run_search` and
`make_tuner` (no TensorFlow: `zoo tune` builds it); docs/tuning.md.

Example:
    >>> from zoo.tuning.settings import SearchSettings
    >>> SearchSettings(tuner="grid", steps_per_epoch=5).max_trials
    6
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Optional

from zoo.core.moved import warn_renamed

__all__ = ["SearchSettings", "settings_from", "check_restrict"]


@dataclasses.dataclass
class SearchSettings:
    """The settings of a search.

    Attributes:
        tuner: one of `zoo.core.spaces.TUNERS`.
        directory, project_name: where trials are stored (`project_name` defaults to
            `<name>_<tuner>`); an existing project is resumed unless `overwrite`.
        max_trials: for random and bayesian searches (a grid runs its whole grid).
        epochs: epochs per trial (grid, random, bayesian); `max_epochs` for hyperband.
        objective: default the task's (`val_loss`, or `frechet` (min) for image generation).
        seed: the tuner's and the data's seed.
        base_overrides: builder arguments under the space's (default: the card's
            `test_overrides`, a small configuration; `{}` for the full model).
        export, export_dir: export the best model (`zoo.export`) under `export_dir`.
        time_limit: seconds before the search stops (a distributed chief writes what it has).
        num_workers: workers a distributed chief waits for.
        data_fn, train_fn: replace `tuning_data` / `train_trial` (a model outside the registry).
        log: prints the search's progress lines.
        restrict: search a subspace: name -> value (fixed) or list of values.
        steps_per_epoch, eval_examples, batch_size: the trainer's budget per epoch, the held-out
            examples that score a trial, the batch (default: the space's `batch_size` or 32).
        security: `zoo.tuning.transport.check_security`'s result (distributed searches).
        max_consecutive_failed_trials: stop after that many failures in a row (default never).
        verbose: keras-tuner's verbosity.
    """

    tuner: str = "random"
    directory: str = "runs/tune"
    project_name: Optional[str] = None
    max_trials: int = 6
    epochs: int = 1
    max_epochs: int = 3
    objective: Any = None
    seed: int = 0
    overwrite: bool = False
    base_overrides: Optional[Dict[str, Any]] = None
    export: bool = True
    export_dir: str = "saved_models"
    time_limit: Optional[float] = None
    num_workers: int = 2
    data_fn: Optional[Callable] = None
    train_fn: Optional[Callable] = None
    log: Callable[[str], Any] = print
    restrict: Optional[Dict[str, Any]] = None
    steps_per_epoch: Optional[int] = None
    eval_examples: int = 256
    batch_size: Optional[int] = None
    security: Any = None
    max_consecutive_failed_trials: Optional[int] = None
    verbose: int = 0

    def validate(self):
        """`self`, or a ValueError naming the first bad setting, before any work (no folder made).

        Example:
            >>> SearchSettings(epochs=0).validate()
            Traceback (most recent call last):
            ...
            ValueError: `epochs` must be an integer >= 1. Received: epochs=0
        """
        from zoo.core.saving import check_writable_folder
        from zoo.core.spaces import TUNERS

        def check(ok, arg, allowed):
            if not ok:
                raise ValueError(f"`{arg}` must be {allowed}. Received: {arg}={getattr(self, arg)!r}")

        def integer(v, least, optional=False):
            return (optional and v is None) or (
                isinstance(v, int) and not isinstance(v, bool) and v >= least)

        check(self.tuner in TUNERS, "tuner", f"one of {TUNERS}")
        check(integer(self.max_trials, 1), "max_trials", "an integer >= 1")
        check(integer(self.epochs, 1), "epochs", "an integer >= 1")
        check(integer(self.max_epochs, 1), "max_epochs", "an integer >= 1 (hyperband's largest budget)")
        check(integer(self.steps_per_epoch, 1, True), "steps_per_epoch", "None or an integer >= 1")
        check(integer(self.eval_examples, 1), "eval_examples", "an integer >= 1")
        check(integer(self.batch_size, 1, True), "batch_size", "None or an integer >= 1")
        check(integer(self.num_workers, 1), "num_workers", "an integer >= 1")
        check(integer(self.seed, 0), "seed", "an integer >= 0")
        check(self.time_limit is None or (isinstance(self.time_limit, (int, float))
                                          and 0 < self.time_limit < float("inf")),
              "time_limit", "None or a finite number of seconds > 0")
        check_writable_folder(self.directory, "directory")
        if self.export:
            check_writable_folder(self.export_dir, "export_dir")
        return self


def check_restrict(space, restrict):
    """`restrict` (`zoo tune --set NAME=VALUE`), or a ValueError naming a hyperparameter the
    space does not define (a misspelt name would otherwise be ignored) or an empty list of
    choices."""
    from zoo.core.spaces import describe_space

    if not restrict:
        return restrict
    if not isinstance(restrict, dict):
        raise ValueError(f"`restrict` must be a dict of name -> value or list. "
                         f"Received: restrict={restrict!r}")
    names = sorted({d["name"] for d in describe_space(space)})
    for name, value in restrict.items():
        if name not in names:
            raise ValueError(f"`--set {name}=...` names no hyperparameter of the search space; "
                             f"allowed: {names}. Received: {name}={value!r}")
        scalar = (int, float, str, bool)
        if not (isinstance(value, scalar) or (isinstance(value, list) and value and all(
                isinstance(v, scalar) for v in value))):
            raise ValueError(f"`--set {name}` takes a value (int, float, str, bool) or a non-empty "
                             f"list of them. Received: {name}={value!r}")
    return restrict


def settings_from(fn_name: str, settings=None, keywords=None) -> SearchSettings:
    """The `SearchSettings` of a call `fn_name(model, settings)`; the old call
    `fn_name(model, tuner, **keywords)` still works for one release, with a DeprecationWarning."""
    keywords = dict(keywords or {})
    if isinstance(settings, SearchSettings):
        if keywords:
            raise TypeError(f"{fn_name}() takes `settings` or keyword settings, not both. "
                            f"Received: keywords={sorted(keywords)}")
        return settings
    if settings is None and not keywords:
        return SearchSettings()
    if settings is not None and not isinstance(settings, str):
        raise TypeError(f"`settings` must be a SearchSettings. Received: settings={settings!r}")
    if settings is not None:
        keywords["tuner"] = settings
    names = {f.name for f in dataclasses.fields(SearchSettings)}
    unknown = sorted(set(keywords) - names)
    if unknown:
        raise TypeError(f"{fn_name}() got unexpected keyword arguments {unknown}. "
                        f"Allowed: {sorted(names)}")
    warn_renamed(f"{fn_name}(model, tuner, **keywords)", f"{fn_name}(model, SearchSettings(...))",
                 stacklevel=4)
    return SearchSettings(**keywords)
