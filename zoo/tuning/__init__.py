"""keras-tuner searches over the search space every registered model declares beside its card.

**Search-space convention.** `ModelSpec.search_space` (declared beside the card with
`register_model(..., search_space=...)`) is a callable `space(hp) -> dict`. It calls keras-tuner's
`hp.Choice / hp.Int / hp.Float / hp.Boolean / hp.Fixed` and returns one flat dict:

* keys in `TRAINING_KEYS` (`learning_rate`, `weight_decay`, `warmup_steps`, `batch_size`,
  `epochs`, `label_smoothing`, `clipnorm`, `beta_1`, `optimizer`, `momentum`, `nesterov`,
  `aux_loss_weight`) are *training* parameters, given to the trainer (the optimizer's made and
  checked by `zoo.train.optimizers.make_optimizer`, as `zoo train`'s);
* every other key is a *builder* override (`depth`, `units`, `num_heads`, `dropout`,
  `peepholes`, ...), given to the builder as `create_model(name, **base, **data, **those)`
  (`base`: the card's small `test_overrides` by default, `{}` for the full model; `data`: what
  the data fixes, such as `classes` or `input_shape`);
* a returned key may come from a differently named hyperparameter (`sgd_learning_rate` ->
  `learning_rate`) and may be a constant or derived value (`d_ff = 4 * d_model`).

Conditional parts: wrap the branch in `with hp.conditional_scope(parent, [values]):` around a
plain `if` on the parent's value (keras-tuner then knows the hyperparameter is inactive elsewhere),
e.g. `optimizer_space` (the optimizer with its own learning rate and weight decay). The grid is
enumerated by running the space itself, so conditional branches are counted and run exactly once
each (keras-tuner's GridSearch breaks on them, keras-tuner#614). `restricted_space(space,
{"d_model": 16, "dropout": [0.0, 0.1]})` searches a subspace (`zoo tune --set`). A model that
declares no space would get `default_search_space(task)` (training parameters only);
`describe_space` / `format_space` list a space (`zoo info NAME`, `zoo tune NAME --show-space`).

**Tuners**: `"grid"` (our `ConditionalGridOracle`), `"random"`, `"bayesian"`, `"hyperband"`
(keras-tuner's). Every search can be interrupted (even by SIGKILL) and resumed: finished trials
are not run again and an interrupted one is run again (`overwrite=False`; Hyperband's resume,
keras-tuner#835, is covered by a test). A failing trial (an exception, a bad combination, NaN
loss, out of memory) is recorded as FAILED with its message, and the search goes on.

**Distributed**: a chief and workers as separate processes (`KERASTUNER_TUNER_ID` = `chief` /
`tuner0`..., `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`); the chief serves the oracle with
a deadline and exits once every expected worker has been told to stop (keras-tuner's chief may
wait forever, #915/#254); workers are bounded by the same deadline. The chief listens on
127.0.0.1 unless told otherwise, with TLS and a shared token when given (`zoo.tuning.transport`:
`check_security`, `--oracle-address`, `--tls-cert`/`--tls-key`, `--tls-ca`, `--token-file` or
`ZOO_TUNER_TOKEN`), and warns when it listens elsewhere without them.

**Training**: through the recipes: `recipe_data` (the task's `search_data`, embedded, offline)
and `train_with_recipe_trainer` (`zoo.train.Trainer` with the task's `tuning_task`: the trial's
optimizer, schedule, weight decay, label smoothing; GoogLeNet's auxiliary heads weighted by
`aux_loss_weight`; DCGANs as the generator/discriminator pair of `zoo.roles.gan_training`, scored by
`frechet_pixels`, the task's objective). A `ModelSpec` outside the
registry may instead bring `data_fn`/`train_fn` (or its fields `tuning_data`/`tuning_train`),
trained with `model.fit` (`tuning_data`, `train_trial`).

**Results**: `write_report` writes `trials.csv`, `trials.md` (hyperparameters, score, status,
seconds) and `trials.png` (score against trial and against the most important hyperparameter);
`run_search` then exports the best model with `zoo.export`.

Example:
    >>> from zoo import tuning
    >>> result = tuning.run_search("highway_net", tuner="grid", steps_per_epoch=5,
    ...                            restrict={"depth": 5, "width": 16, "activation": "relu",
    ...                                      "learning_rate": 0.03}, directory="runs/tune")
    >>> print(open(result["table_md"]).read())

Modules: `zoo.core.spaces` (the space convention, core), `trial` (data and training of a trial),
`hypermodel`, `search` (tuners, distributed chief, `run_search`), `transport` (the chief's
address, TLS and token), `report`, `cli`.
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
    "ZooHyperModel": "zoo.tuning.hypermodel", "space_of": "zoo.tuning.hypermodel",
    "default_search_space": "zoo.tuning.hypermodel",
    "TUNERS": "zoo.tuning.search", "make_tuner": "zoo.tuning.search",
    "run_search": "zoo.tuning.search", "serve_chief": "zoo.tuning.search",
    "check_security": "zoo.tuning.transport", "Security": "zoo.tuning.transport",
    "trials_table": "zoo.tuning.report", "write_report": "zoo.tuning.report",
    "hyperparameter_importance": "zoo.tuning.report",
    "add_cli": "zoo.tuning.cli",
}

__all__ = sorted(_PUBLIC)


__getattr__ = lazy_attributes('zoo.tuning', _PUBLIC)
