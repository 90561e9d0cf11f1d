"""The distributed trainer every recipe uses (TensorFlow only: tf.distribute, tf.data, tf.train).

One custom training loop for every strategy: `strategy.run` of a per-replica step over a
distributed dataset, in a `tf.function`, with the per-replica step itself compiled by XLA
(`tf.function(jit_compile=True)`) when `jit_compile` is on. It works where Keras 3's `model.fit`
does not (`MultiWorkerMirroredStrategy`, keras-team/keras#20585) and keeps XLA on under a strategy.

* Strategies: `auto` (all local GPUs mirrored, one GPU, or the CPU), `one_device`, `mirrored`,
  `multi_worker` (reads `TF_CONFIG`). The global batch is split over the replicas; gradients are
  summed over replicas of losses divided by the *global* batch, so any replica count computes
  the same update as one replica with the same global batch.
* Precision: `float32`, `mixed_bfloat16`, `mixed_float16` (dynamic loss scaling).
* Checkpoints (`tf.train.CheckpointManager`: model, optimizers, step) every `checkpoint_every`
  steps and at each epoch end. The data stream is a seeded, deterministic sequence, so its
  position is the step: re-running the same command after a kill resumes at the last checkpoint
  and finishes the planned steps. A damaged checkpoint (cut short, overwritten) is skipped with
  a warning for the newest one that restores.
* Multi-worker: when a worker dies, the others stop with `WorkerLostError` (TensorFlow's
  coordination service notices the missing heartbeats in about 10 s) instead of waiting in a
  collective; re-running every worker resumes from the chief's last checkpoint.
* A non-finite loss stops the run (`NonFiniteLossError`) before anything is saved; the last
  checkpoint is the last good one.
* Progress bars, TensorBoard scalars (loss, metrics, learning rate, examples/s), a training-curve
  PNG and a JSON summary, and an export to `saved_models/<name>/<version>/` at the end.

What one step does is the task's (`zoo.tasks`, one module per task kind; `ClassificationTask`,
`RegressionTask`, `Seq2SeqTask` and `GANTask` here are names for the image classification,
sequence regression, translation and image generation tasks) or the model's own
(`ModelStepTask`). `zoo train NAME` (`zoo.train.recipe`) trains a registered model with its task's
recipe.

Modules: `config` (`TrainConfig`), `optimizers` (`make_optimizer`: every optimizer of the
recipes and searches, checked), `strategy`, `trainer` (`Trainer`), `recipe` (`zoo train`'s
parser and run), `modelstep`, `cli`.

Example:
    >>> import keras
    >>> from zoo import data, train
    >>> src = data.get_source("digits", image_size=16, channels=1)
    >>> def build():
    ...     return keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Flatten(),
    ...                              keras.layers.Dense(10)])
    >>> cfg = train.TrainConfig(name="demo", epochs=1, batch_size=64, run_dir="/tmp/demo",
    ...                         export=False, progress=False)
    >>> summary = train.Trainer(train.ClassificationTask(), src, build, cfg).fit()
    >>> summary["final_test"]["accuracy"] > 0.5
    True
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
    "add_train_arguments": "zoo.train.recipe:add_train_arguments",
    "config_from_args": "zoo.train.recipe:config_from_args",
    "run_recipe": "zoo.train.recipe:run_recipe",
    "ModelStepTask": "zoo.train.modelstep:ModelStepTask",
    "Task": "zoo.roles.task:Task",
    "model_builder": "zoo.roles.task:builder_fn",
    "parse_overrides": "zoo.core.registry:parse_overrides",
    "ClassificationTask": "zoo.tasks.image_classification:ImageClassification",
    "RegressionTask": "zoo.tasks.sequence_regression:SequenceRegression",
    "Seq2SeqTask": "zoo.tasks.translation:Translation",
    "GANTask": "zoo.tasks.image_generation:ImageGeneration",
}

__all__ = sorted(_PUBLIC)


__getattr__ = lazy_attributes('zoo.train', _PUBLIC)
