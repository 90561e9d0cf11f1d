"""The distributed trainer every recipe uses and `zoo train` (TensorFlow only: tf.distribute, tf.data,
tf.train): strategies, precision, checkpoints and resuming, multi-worker failure handling.
Manual: docs/recipes.md; modules: docs/api/train.md.
"""

from zoo.core.lazy import lazy_attributes

# public name -> "module:attribute"; loaded on first use, so that `zoo.train.cli` (the `zoo`
# command's parser) does not import TensorFlow
_PUBLIC = {
    "TrainConfig": "zoo.train.config:TrainConfig",
    "STRATEGIES": "zoo.train.config:STRATEGIES",
    "PRECISIONS": "zoo.train.config:PRECISIONS",
    "OPTIMIZERS": "zoo.train.config:OPTIMIZERS",
    "SCHEDULES": "zoo.train.config:SCHEDULES",
    "LR_SCALINGS": "zoo.train.config:LR_SCALINGS",
    "make_optimizer": "zoo.train.optimizers:make_optimizer",
    "check_optimizer": "zoo.train.optimizers:check_optimizer",
    "optimizer_names": "zoo.train.optimizers:optimizer_names",
    "Trainer": "zoo.train.trainer:Trainer",
    "NonFiniteLossError": "zoo.train.trainer:NonFiniteLossError",
    "WorkerLostError": "zoo.train.trainer:WorkerLostError",
    "make_strategy": "zoo.train.strategy:make_strategy",
    "check_backend": "zoo.train.backend:check_backend",
    "add_train_arguments": "zoo.train.recipe:add_train_arguments",
    "config_from_args": "zoo.train.recipe:config_from_args",
    "run_recipe": "zoo.train.recipe:run_recipe",
    "ModelStepTask": "zoo.train.modelstep:ModelStepTask",
    "Task": "zoo.roles.task:Task",
    "builder_fn": "zoo.roles.task:builder_fn",
    "parse_overrides": "zoo.core.registry:parse_overrides",
}

# old name -> new name (for one release, with a DeprecationWarning naming the real class)
_RENAMED = {
    "model_builder": "builder_fn",
    "ClassificationTask": "zoo.tasks.image_classification:ImageClassification",
    "RegressionTask": "zoo.tasks.sequence_regression:SequenceRegression",
    "Seq2SeqTask": "zoo.tasks.translation:Translation",
    "GANTask": "zoo.tasks.image_generation:ImageGeneration",
}

__all__ = sorted(_PUBLIC)


__getattr__ = lazy_attributes("zoo.train", _PUBLIC, _RENAMED)
