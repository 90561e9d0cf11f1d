"""TensorFlow-only: SavedModel exports that TF Serving loads, and their verification
(docs/serving.md).

`export_model` writes `<export_dir>/<name>/<version>/` atomically, with the named signatures of
the model's serving role (`zoo.roles.serving.ServingRole`, bound to the model in an
`ExportModule`; "generic" serves an unregistered model's own inputs and outputs) and the
preprocessing its weights were trained with; `verify` checks an export in a zoo-free process.
`EXPORT_TASKS` (was `TASKS`, which warns) lists what `task=` takes.

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
"""

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
