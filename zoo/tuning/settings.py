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

__all__ = ["SearchSettings", "settings_from"]


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
