"""keras-tuner searches over the search space every registered model declares beside its card
(`zoo tune`): tuners, resumable and distributed searches, trial reports. Manual: docs/tuning.md;
the space convention: `zoo.core.spaces`; modules: docs/api/tuning.md.
"""

from zoo.core.lazy import lazy_attributes

_PUBLIC = {
    "TRAINING_KEYS": "zoo.core.spaces", "describe_space": "zoo.core.spaces",
    "format_space": "zoo.core.spaces",
    "restricted_space": "zoo.core.spaces", "optimizer_space": "zoo.core.spaces",
    "split_overrides": "zoo.core.spaces", "grid_trials": "zoo.core.spaces", "space_values": "zoo.core.spaces",
    "recipe_data": "zoo.tuning.trial", "train_with_recipe_trainer": "zoo.tuning.trial",
    "tuning_data": "zoo.tuning.trial", "train_trial": "zoo.tuning.trial",
    "compile_for_trial": "zoo.tuning.trial", "trial_optimizer": "zoo.tuning.trial",
    "frechet_pixels": "zoo.roles.gan_training",
    "ZooHyperModel": "zoo.tuning.hypermodel", "space_of": "zoo.tasks",
    "default_search_space": "zoo.tasks",
    "TUNERS": "zoo.tuning.search", "make_tuner": "zoo.tuning.search",
    "run_search": "zoo.tuning.search", "serve_chief": "zoo.tuning.search",
    "SearchSettings": "zoo.tuning.settings",
    "check_security": "zoo.tuning.transport", "Security": "zoo.tuning.transport",
    "trials_table": "zoo.tuning.report", "write_report": "zoo.tuning.report",
    "hyperparameter_importance": "zoo.tuning.report",
    "add_cli": "zoo.tuning.cli",
}

__all__ = sorted(_PUBLIC)


__getattr__ = lazy_attributes('zoo.tuning', _PUBLIC)
