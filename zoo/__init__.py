"""zoo: a Keras 3 model zoo (GoogLeNet/Inception, ResNet, gated-skip nets, peephole LSTM,
Transformer, DCGAN) with keras.applications-style builders, a registry and model cards.

Example:
    >>> import zoo
    >>> zoo.list_models("resnet*")[:2]
    ['resnet101', 'resnet101v2']
    >>> model = zoo.create_model("resnet50", classes=10, input_shape=(64, 64, 3))
    >>> card = zoo.model_card("resnet50")
    >>> z = zoo.gan.sample_latents(0, 4, 100)   # zoo.gan: DCGAN training and sampling
"""

__version__ = "0.1.0"

from zoo import (
    gan,  # noqa: E402,F401  (keras only at import; its TensorFlow parts load on use)
    layers,  # noqa: E402,F401
    models,  # noqa: E402,F401
)
from zoo.models import *  # noqa: E402,F401,F403
from zoo.registry import create_model, get_spec, list_models, model_card, register_model  # noqa: E402

__all__ = [
    "create_model",
    "get_spec",
    "list_models",
    "model_card",
    "register_model",
    "layers",
    "models",
    "gan",
] + list(models.__all__)
