"""Serializable building blocks (`keras.ops` only), registered with
`keras.saving.register_keras_serializable(package="zoo")`; each module's `__all__` is re-exported
here. `import zoo` imports this package once Keras is loaded, so `keras.saving.load_model` reads a
zoo `.keras` file. Reference: docs/api/layers.md.
"""

import importlib
import pkgutil

__all__ = []

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith("_"):
        continue
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    for _name in getattr(_module, "__all__", ()):
        globals()[_name] = getattr(_module, _name)
        __all__.append(_name)

del importlib, pkgutil
