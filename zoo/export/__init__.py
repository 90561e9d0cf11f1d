"""TensorFlow-only: SavedModel exports that TF Serving loads, and their verification.

`export_model` writes `<export_dir>/<name>/<version>/` (TF Serving's layout: an integer version
folder, the next free one by default) through `keras.export.ExportArchive`, with *named*
signatures per task (Keras 3's plain export names inputs `keras_tensor` and outputs `output_0`,
keras-team/keras#19458). The version is written into a hidden temporary folder beside it and
renamed into place only when complete, so a crash never leaves a partial version that a server
would load (TF Serving only looks at integer folder names).

Signatures per `task` (the registry's `ModelSpec.task`):

Signatures per task (the model's registered task; see each `zoo.tasks.<task>` module):

* `image_classification`: `serving_default` (`images` uint8 `[N, H, W, C]`, any size) and
  `classify_float` (float32 pixels 0..255) -> `probabilities`, `top_k_values`, `top_k_indices`;
* `image_discrimination`: the same inputs -> `probabilities` `[N, 1]` (real);
* `feature_classification`: `features` float32 `[N, F]` -> `probabilities` (+ top-k);
* `sequence_classification`, `text_classification`: `tokens` int32 `[N, T]` or `features` float32
  `[N, T, F]`, and `lengths` int32 `[N]` -> `probabilities` (+ top-k for several classes);
* `sequence_regression`: as above -> `predictions`;
* `translation`: `serving_default` (`source_ids`, `target_ids` -> next-token `probabilities`),
  `translate` and `translate_greedy` (`source_ids` -> `token_ids`, `scores`);
* `image_generation`: `serving_default` (`latents` float32 `[N, Z]` -> `images` uint8) and
  `generate_from_seed` (`seed` int64, `count` int32 scalars -> `images` uint8);
* `generic` (an unregistered model of no known task): the model's inputs and outputs, named after
  its layers.

The signatures are the task's (`zoo.tasks.<task>.endpoints`). Images are resized
(`tf.image.resize`) to the model's input size and normalised inside the graph (`preprocessing`:
`"none"`, `"unit"` (x/255), `"symmetric"` (x/127.5-1), keras.applications' `"caffe"`, `"torch"`,
`"tf"` modes, or a callable on a float32 tensor). The default preprocessing is the one the weights
were trained with (`zoo.roles.task.Task.export_options`): a zoo training run's pipeline (recorded
on the model, and in the `.zoo.json` beside a saved model), a registered weights file's (e.g.
keras.applications' caffe mode for ResNet v1), else the card's. Auxiliary heads are dropped
(`outputs=` picks the outputs to keep; by default outputs whose layer name contains "aux" go).
Translation decodes with `zoo.models.transformer_decoding.translate` (beam search and greedy).

Each export carries `assets.extra/signatures.json` (every signature, input and output with its
documentation, dtype and shape, and the export options) and `assets.extra/README.md`.
`write_model_config` writes TF Serving's `models.config` (a `model_config_list`).

Modules: `archive` (writing), `verification` and `verify_child` (the zoo-free process), `cli`.

`verify` loads the SavedModel in a fresh Python process in which `zoo` cannot be imported, runs
every signature on sample inputs, compares with the Keras model (eager) to 1e-5, and checks that
`saved_model_cli show --all` lists the named signatures; optionally converts to TFLite and compares
the same way.

Example:
    >>> import keras, zoo.export
    >>> inp = keras.Input((32, 32, 3))
    >>> out = keras.layers.Dense(10, activation="softmax")(keras.layers.GlobalAveragePooling2D()(inp))
    >>> model = keras.Model(inp, out)
    >>> path = zoo.export.export_model(model, "tiny", task="image_classification",
    ...                                export_dir="/tmp/saved_models", preprocessing="unit", top_k=3)
    >>> report = zoo.export.verify(path, keras_model=model)
    >>> report["ok"]
    True
"""  # noqa: E501 (the table of signatures)

from zoo.core.lazy import lazy_attributes

# public name -> module; loaded on first use (the `zoo` command's parser imports `zoo.export.cli`
# without TensorFlow)
_PUBLIC = {
    "EXPORT_TASKS": "zoo.export.archive",
    "TMP_PREFIX": "zoo.export.archive",
    "export_model": "zoo.export.archive",
    "endpoints_for": "zoo.export.archive",
    "next_version": "zoo.export.archive",
    "list_versions": "zoo.export.archive",
    "write_model_config": "zoo.export.archive",
    "serving_options": "zoo.export.archive",
    "verify": "zoo.export.verification",
    "verify_many": "zoo.export.verification",
    "find_exports": "zoo.export.verification",
    "select_outputs": "zoo.roles.serving",
    "PREPROCESSING_MODES": "zoo.roles.serving",
    "add_cli": "zoo.export.cli",
}

__all__ = sorted(_PUBLIC)


# old name -> new name (for one release, with a DeprecationWarning)
_RENAMED = {"TASKS": "EXPORT_TASKS"}

__getattr__ = lazy_attributes("zoo.export", _PUBLIC, _RENAMED)
