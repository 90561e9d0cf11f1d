"""zoo: a Keras 3 model zoo with keras.applications-style builders, a registry and model cards.

`import zoo` loads neither Keras nor TensorFlow; builders (`zoo.resnet50`) and subpackages load on
first use. Once Keras is imported (before or after zoo), zoo's serializable layers (`zoo.layers`) are
registered with it, so `keras.saving.load_model` reads a zoo `.keras` file. The layout and the
manual: docs/architecture.md, docs/index.md.

Example:
    >>> import zoo
    >>> zoo.list_models("resnet*")[:2]
    ['resnet101', 'resnet101v2']
    >>> model = zoo.create_model("resnet50", classes=10, input_shape=(64, 64, 3))
"""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

from zoo.core import moved as _moved
from zoo.core import registry
from zoo.core.registry import create_model as create_model
from zoo.core.registry import get_spec as get_spec
from zoo.core.registry import list_models as list_models
from zoo.core.registry import model_card as model_card
from zoo.core.registry import register_model as register_model

__version__ = "0.1.0"

_moved.install()


def _register_layers():
    """Import `zoo.layers`, which registers zoo's layers with Keras (`package="zoo"`)."""
    try:
        importlib.import_module("zoo.layers")
    except Exception as error:  # a broken zoo must not break `import keras`
        warnings.warn(f"zoo could not register its Keras layers ({error!r}): run `import zoo.layers` "
                      "before `keras.saving.load_model` of a zoo `.keras` file.", RuntimeWarning,
                      stacklevel=2)


class _AfterKeras(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when `keras` is first imported, it wraps Keras' own loader so that
    `zoo.layers` is imported right after Keras, then takes itself off `sys.meta_path`."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("keras")
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader

        class _Loader(importlib.abc.Loader):
            def create_module(self, spec):
                return loader.create_module(spec)

            def exec_module(self, module):
                loader.exec_module(module)
                _register_layers()

            def __getattr__(self, name):  # get_resource_reader, is_package, ...: Keras' loader's
                return getattr(loader, name)

        spec.loader = _Loader()
        return spec


if "keras" in sys.modules:
    _register_layers()
elif not any(isinstance(f, _AfterKeras) for f in sys.meta_path):
    sys.meta_path.insert(0, _AfterKeras())

_API = ["create_model", "get_spec", "list_models", "model_card", "register_model", "core", "layers",
        "models", "data"]


def __getattr__(name):
    """A subpackage (`zoo.layers`, `zoo.data`, ...) or a family's builder (`zoo.resnet50`), imported
    on first use."""
    if name == "__all__":
        return _API + sorted(registry.exported_names())
    if name.startswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name in registry.FAMILY_FUNCTIONS:  # one per family module; the top-level one is deprecated
        return registry.family_function(name)
    module = registry.exported_names().get(name)
    if module is not None:
        return getattr(importlib.import_module(module), name)
    if importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API) | set(registry.exported_names()))
