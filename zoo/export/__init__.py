"""SavedModel exports that TF Serving loads (named signatures per task kind, preprocessing in the
graph) and their verification in a process without zoo (TensorFlow only). Signatures, layout and
`zoo verify`: docs/serving.md; modules: docs/api/export.md.
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
