"""zoo: a Keras 3 model zoo (GoogLeNet/Inception, ResNet, gated-skip nets, peephole LSTM,
Transformer, DCGAN, GCN) with keras.applications-style builders, a registry and model cards.

`import zoo` loads neither Keras nor TensorFlow: the registry knows every model from the cards
stored beside the family modules, and a builder (`zoo.resnet50`), `zoo.layers`, `zoo.models`,
`zoo.gan` and the other submodules are imported on first use. (Keras finds zoo's layers in a
`.keras` file once they are imported: building any zoo model does it, or `import zoo.layers`.)

Example:
    >>> import zoo
    >>> zoo.list_models("resnet*")[:2]
    ['resnet101', 'resnet101v2']
    >>> model = zoo.create_model("resnet50", classes=10, input_shape=(64, 64, 3))
    >>> card = zoo.model_card("resnet50")
    >>> z = zoo.gan.sample_latents(0, 4, 100)   # zoo.gan: DCGAN training and sampling
"""

import importlib
import importlib.util

from zoo import registry
from zoo.registry import create_model as create_model
from zoo.registry import get_spec as get_spec
from zoo.registry import list_models as list_models
from zoo.registry import model_card as model_card
from zoo.registry import register_model as register_model

__version__ = "0.1.0"

_API = ["create_model", "get_spec", "list_models", "model_card", "register_model", "layers",
        "models", "gan"]


def __getattr__(name):
    """A submodule (`zoo.layers`, `zoo.gan`, ...) or a family's builder (`zoo.resnet50`), imported
    on first use."""
    if name == "__all__":
        return _API + sorted(registry.exported_names())
    if name.startswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = registry.exported_names().get(name)
    if module is not None:
        return getattr(importlib.import_module(module), name)
    if importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API) | set(registry.exported_names()))
