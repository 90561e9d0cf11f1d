"""The model registry: every family registers its variants here.

A registered model is a builder function plus a card of metadata kept *beside* the architecture
(family, task, paper reference, default input shape, weights, search space, a small configuration
for tests). The registry is filled when `zoo` is imported.

Example:
    >>> import zoo
    >>> zoo.list_models("resnet5*")
    ['resnet50', 'resnet50v2']
    >>> model = zoo.create_model("resnet50", weights=None, classes=10, input_shape=(64, 64, 3))
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import inspect
import json
from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = [
    "ModelSpec",
    "register_model",
    "list_models",
    "create_model",
    "get_spec",
    "model_card",
    "FAMILIES",
    "FLOPS_SEQUENCE_LENGTH",
    "flops_input_shapes",
    "parse_overrides",
]

# The task kinds (one module each in zoo.tasks).
TASKS = (
    "image_classification",
    "image_discrimination",
    "classification",
    "sequence_classification",
    "sequence_regression",
    "text_classification",
    "translation",
    "image_generation",
)

# Families and the kind of input their builders take.
FAMILIES = (
    "resnet",
    "googlenet",
    "inception",
    "gated_skip",
    "peephole_lstm",
    "transformer",
    "dcgan",
)

# The sequence length at which a model card counts multiply-adds when the model's inputs have an
# unknown length, per family (a `ModelSpec.flops_input_shapes` overrides it for one model):
# 64 source and target tokens for the Transformer family, 100 steps for the LSTM family.
FLOPS_SEQUENCE_LENGTH = {"transformer": 64, "peephole_lstm": 100}


@dataclasses.dataclass
class ModelSpec:
    """Metadata of one registered model (its card), kept beside the builder.

    Attributes:
        name: registry name, also the builder's name (`zoo.<name>`).
        builder: the function that returns a `keras.Model`.
        family: one of `FAMILIES`.
        task: what the model does (`"image_classification"`, `"sequence_classification"`,
            `"sequence_regression"`, `"translation"`, `"text_classification"`,
            `"image_generation"`, `"image_discrimination"`, ...).
        paper: the reference the architecture follows.
        input_shape: default input shape without the batch axis (a tuple; a dict of tuples for
            several inputs).
        defaults: the builder's default keyword arguments (taken from its signature).
        test_overrides: keyword arguments giving a small configuration for fast unit tests.
        search_space: optional callable `(hp) -> dict` of builder/training overrides for
            keras-tuner (see `zoo.tuning`).
        description: one line for `zoo list`.
        flops_input_shapes: optional input shapes (without the batch axis; a list, one per input,
            or a dict by input name) at which the card counts multiply-adds; None: the model's own
            input shapes, with an unknown length set to the family's `FLOPS_SEQUENCE_LENGTH`.
    """

    name: str
    builder: Callable[..., Any]
    family: str
    task: str
    paper: str
    input_shape: Any
    defaults: Dict[str, Any]
    test_overrides: Dict[str, Any] = dataclasses.field(default_factory=dict)
    search_space: Optional[Callable[..., Dict[str, Any]]] = None
    description: str = ""
    extra: Dict[str, Any] = dataclasses.field(default_factory=dict)
    flops_input_shapes: Any = None
    partner: Optional[str] = None

    def build(self, **overrides):
        return self.builder(**overrides)


_REGISTRY: Dict[str, ModelSpec] = {}


def _signature_defaults(fn) -> Dict[str, Any]:
    out = {}
    for p in inspect.signature(fn).parameters.values():
        if p.default is not inspect.Parameter.empty and p.kind in (
            p.POSITIONAL_OR_KEYWORD,
            p.KEYWORD_ONLY,
        ):
            out[p.name] = p.default
    return out


def register_model(
    fn: Optional[Callable] = None,
    *,
    family: str,
    task: str,
    paper: str,
    input_shape: Any,
    name: Optional[str] = None,
    test_overrides: Optional[Dict[str, Any]] = None,
    search_space: Optional[Callable[..., Dict[str, Any]]] = None,
    description: str = "",
    flops_input_shapes: Any = None,
    partner: Optional[str] = None,
    **extra,
):
    """Decorator that registers a builder function under its name (timm style).

    Example:
        >>> from zoo.registry import register_model
        >>> @register_model(family="resnet", task="image_classification",
        ...                 paper="He et al. 2015", input_shape=(224, 224, 3))
        ... def my_resnet(**kwargs):
        ...     ...
    """
    if family not in FAMILIES:
        raise ValueError(
            f"`family` must be one of {FAMILIES}. Received: family={family!r}"
        )

    def decorator(f):
        key = name or f.__name__
        if key in _REGISTRY and _REGISTRY[key].builder is not f:
            raise ValueError(f"A model named {key!r} is already registered.")
        _REGISTRY[key] = ModelSpec(
            name=key,
            builder=f,
            family=family,
            task=task,
            paper=paper,
            input_shape=input_shape,
            defaults=_signature_defaults(f),
            test_overrides=dict(test_overrides or {}),
            search_space=search_space,
            description=description or (inspect.getdoc(f) or "").split("\n")[0],
            extra=dict(extra),
            flops_input_shapes=flops_input_shapes,
            partner=partner,
        )
        return f

    if fn is not None:
        return decorator(fn)
    return decorator


def list_models(pattern: str = "*", family: Optional[str] = None) -> List[str]:
    """Sorted names of the registered models matching a shell-style wildcard.

    Args:
        pattern: a wildcard such as `"resnet*"` or `"*v2"` (case-insensitive).
        family: keep only this family (one of `zoo.registry.FAMILIES`).

    Example:
        >>> import zoo
        >>> "googlenet" in zoo.list_models("goog*")
        True
    """
    if not isinstance(pattern, str):
        raise ValueError(f"`pattern` must be a string. Received: pattern={pattern!r}")
    if family is not None and family not in FAMILIES:
        raise ValueError(f"`family` must be one of {FAMILIES}. Received: family={family!r}")
    pat = pattern.lower()
    return sorted(
        n
        for n, s in _REGISTRY.items()
        if fnmatch.fnmatchcase(n.lower(), pat) and (family is None or s.family == family)
    )


def get_spec(name: str) -> ModelSpec:
    """The `ModelSpec` of a registered model; a ValueError listing the closest names if unknown."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    close = difflib.get_close_matches(str(name), list(_REGISTRY), n=5, cutoff=0.4)
    hint = f" Closest names: {', '.join(close)}." if close else ""
    raise ValueError(
        f"Unknown model name {name!r}.{hint} See `zoo.list_models()` for all "
        f"{len(_REGISTRY)} registered models."
    )


def create_model(name: str, **overrides):
    """Build a registered model by name, with keyword overrides of its builder's defaults.

    Args:
        name: a name from `zoo.list_models()`.
        **overrides: keyword arguments for the builder (e.g. `classes=10`, `weights=None`).

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: for an unknown name (the message lists the closest names) or an argument the
            builder does not take.

    Example:
        >>> import zoo
        >>> model = zoo.create_model("googlenet", classes=10, input_shape=(96, 96, 3))
    """
    spec = get_spec(name)
    params = inspect.signature(spec.builder).parameters
    takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in params.values())
    if not takes_kwargs:
        unknown = sorted(set(overrides) - set(params))
        if unknown:
            raise ValueError(
                f"Model {name!r} does not take the argument(s) {unknown}. "
                f"Allowed: {sorted(params)}"
            )
    return spec.builder(**overrides)


def _shape_of(t):
    shape = getattr(t, "shape", None)
    return tuple(shape) if shape is not None else None


def flops_input_shapes(spec: ModelSpec, model) -> Optional[List[Tuple]]:
    """The input shapes (without batch) at which `model_card` counts `spec`'s multiply-adds.

    `spec.flops_input_shapes` if declared (a dict is ordered as `model.inputs`); else the model's
    input shapes with every unknown dimension set to the family's `FLOPS_SEQUENCE_LENGTH`; None
    when they are all known already (count at the model's own shapes).

    Example:
        >>> import zoo
        >>> from zoo.registry import flops_input_shapes, get_spec
        >>> spec = get_spec("transformer_classifier")
        >>> flops_input_shapes(spec, zoo.create_model("transformer_classifier"))
        [(64,)]
    """
    declared = spec.flops_input_shapes
    if declared is not None:
        if isinstance(declared, dict):
            names = [getattr(t, "name", None) for t in model.inputs]
            missing = sorted(set(names) - set(declared))
            if missing:
                raise ValueError(
                    f"`flops_input_shapes` of {spec.name!r} must name every input {names}. "
                    f"Received: flops_input_shapes={declared!r}"
                )
            return [tuple(declared[n]) for n in names]
        if isinstance(declared, tuple) and all(isinstance(d, int) for d in declared):
            declared = [declared]
        return [tuple(s) for s in declared]
    own = [tuple(t.shape[1:]) for t in model.inputs]
    if all(d is not None for s in own for d in s):
        return None
    length = FLOPS_SEQUENCE_LENGTH.get(spec.family)
    if length is None:
        return own  # count_macs explains what is missing
    return [tuple(length if d is None else int(d) for d in s) for s in own]


def model_card(name: str, **overrides) -> Dict[str, Any]:
    """The model card of a registered model, computed from the built graph.

    The card holds the parameter counts (total and trainable), the multiply-adds of one forward
    pass at the default input shape (`flops`, counted layer by layer from the built graph, see
    `zoo.flops`; for inputs of unknown length at the shapes `flops_input_shapes`, which
    `flops_unit` states), input and output shapes, the paper reference, the default hyperparameters, the
    registered weights and the declared search space (one line per hyperparameter: its name,
    type, choices or range, and the parent choice it depends on, if any).

    Example:
        >>> import zoo
        >>> card = zoo.model_card("resnet50")
        >>> card["params"]
        25636712
    """
    from zoo import flops as _flops

    spec = get_spec(name)
    model = create_model(name, **overrides)
    import keras

    total = int(sum(int(keras.ops.size(w)) for w in model.weights))
    trainable = int(sum(int(keras.ops.size(w)) for w in model.trainable_weights))
    shapes = None
    try:
        shapes = flops_input_shapes(spec, model)
        macs = int(_flops.count_macs(model, input_shapes=shapes))
    except Exception as e:  # pragma: no cover - reported, not hidden
        macs = None
        flops_error = f"{type(e).__name__}: {e}"
    else:
        flops_error = None
    from zoo import weights as _weights

    card = {
        "name": spec.name,
        "family": spec.family,
        "task": spec.task,
        "description": spec.description,
        "paper": spec.paper,
        "params": total,
        "trainable_params": trainable,
        "flops": macs,
        "flops_unit": "multiply-adds per example, at the default input shape" if shapes is None
        else f"multiply-adds per example, at input shapes {_shapes_text(shapes)}"
        + (f" (sequence length {FLOPS_SEQUENCE_LENGTH[spec.family]}, the {spec.family} family's "
           "length for counting)" if spec.flops_input_shapes is None
           and spec.family in FLOPS_SEQUENCE_LENGTH else ""),
        "flops_input_shapes": shapes or [tuple(t.shape[1:]) for t in model.inputs],
        "input_shape": spec.input_shape,
        "inputs": [_shape_of(t) for t in model.inputs],
        "outputs": [_shape_of(t) for t in model.outputs],
        "defaults": {k: v for k, v in spec.defaults.items() if _jsonable(v)},
        "weights": _weights.registered_weights(spec.name),
        "search_space": _space_lines(spec),
    }
    if flops_error:
        card["flops_error"] = flops_error
    card.update(spec.extra)
    return card


def _shapes_text(shapes) -> str:
    return ", ".join(str(tuple(s)) for s in shapes)


def _space_lines(spec):
    """The declared search space, one line per hyperparameter (`zoo.tuning.format_space`), or
    None when the model declares none."""
    if spec.search_space is None:
        return None
    from zoo.spaces import format_space

    return format_space(spec.search_space)


def _jsonable(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str, tuple, list, dict))


def parse_overrides(items) -> Dict[str, Any]:
    """`["KEY=VALUE", ...]` (the command line's `--set`) -> builder overrides for `create_model`.

    Values are read as JSON when they parse (`classes=10`, `input_shape=[32,32,3]`), else kept
    as strings (`name=x`).

    Example:
        >>> parse_overrides(["classes=10", "name=x"])
        {'classes': 10, 'name': 'x'}
    """
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"`--set` takes KEY=VALUE. Received: --set={item!r}")
        k, v = item.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out
