"""The model registry: every family registers its variants here.

A registered model is a builder function plus a card of metadata kept *beside* the architecture
(family, task, paper reference, default input shape, partner, weights, search space, a small
configuration for tests). A family module registers its models when it is imported; beside it,
`zoo/models/<family>_card.py` holds their cards as plain data (parameters, multiply-adds, shapes,
...; written by `python -m zoo.core.cards --write`, checked against built models by the tests). The
registry reads those first, so it knows every model, and `zoo list` / `zoo info` answer, without
importing a family module (nor Keras): `create_model` and `get_spec` import the family module of
the name on first use.

Example:
    >>> import zoo
    >>> zoo.list_models("resnet5*")
    ['resnet50', 'resnet50v2']
    >>> model = zoo.create_model("resnet50", weights=None, classes=10, input_shape=(64, 64, 3))
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import fnmatch
import importlib
import inspect
import json
import os
import pkgutil
import sys
from collections.abc import Callable
from typing import Any

from zoo.core.card_contents import RENAMED_CARD_KEYS, ModelCard, card_of, macs_input_shapes
from zoo.core.moved import renamed_arguments, warn_renamed
from zoo.core.task_kinds import RENAMED_TASKS, TASKS, task_kind

__all__ = [
    "RENAMED_CARD_KEYS",
    "RENAMED_TASKS",
    "TASKS",
    "ModelCard",
    "ModelSpec",
    "build_card",
    "card_of",
    "check_folder_name",
    "create_model",
    "exported_names",
    "family_function",
    "families",
    "macs_input_shapes",
    "get_spec",
    "list_models",
    "model_card",
    "module_of",
    "parse_overrides",
    "register_model",
    "registered",
    "resolve_spec",
    "stored_card",
    "task_kind",
]

# The card data of family `zoo.models.<family>` is the module `zoo.models.<family>_card`.
CARD_SUFFIX = "_card"
_MODELS_PACKAGE = "zoo.models"
_MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models")


def __getattr__(name):
    if name == "FAMILIES":  # what was a fixed tuple: the families of the registered models
        return families()
    if name == "flops_input_shapes":  # renamed: the card counts multiply-adds
        warn_renamed("zoo.core.registry.flops_input_shapes", "zoo.core.registry.macs_input_shapes")
        return macs_input_shapes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclasses.dataclass
class ModelSpec:
    """Metadata of one registered model (its card), kept beside the builder.

    Attributes:
        name: registry name, also the builder's name (`zoo.<name>`).
        builder: the function that returns a `keras.Model`.
        family: the family (`families()` lists those registered).
        task: what the model does, one of `TASKS`.
        paper: the reference the architecture follows.
        input_shape: default input shape without the batch axis (a tuple; a dict of tuples for
            several inputs).
        defaults: the builder's default keyword arguments (taken from its signature).
        test_overrides: keyword arguments giving a small configuration for fast unit tests.
        search_space: optional callable `(hp) -> dict` of builder/training overrides (see
            `zoo.core.spaces`).
        description: one line for `zoo list`.
        macs_input_shapes: optional input shapes (without the batch axis; a list, one per input,
            or a dict by input name) giving the sizes at which the card counts multiply-adds for
            the dimensions the model leaves unknown (a sequence length); None: the model's own
            input shapes.
        partner: the registered model this one is trained with (a generator's discriminator,
            a discriminator's generator), or None.
        preprocessing: the input normalisation served by default (a
            `zoo.roles.serving.PREPROCESSING_MODES` name: its peer's `preprocess_input`), or None.
        export_options: default options of `zoo export` (a dict), or None.
        min_input_size: the smallest image side the builder takes, or None.
        bench_peer: what `zoo bench` times the model against (see `BENCH_PEERS`), or None.
        weights: the pretrained files of the model (`zoo.core.weights.WeightsSpec`s, registered
            with it: `weights="imagenet"` then loads one).
        tuning_data, tuning_train: optional `zoo.tuning` hooks replacing the recipe's data and
            training for this model (see `zoo.tuning.hypermodel.ZooHyperModel`), or None.
    """

    name: str
    builder: Callable[..., Any]
    family: str
    task: str
    paper: str
    input_shape: Any
    defaults: dict[str, Any]
    test_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    search_space: Callable[..., dict[str, Any]] | None = None
    description: str = ""
    macs_input_shapes: Any = None
    partner: str | None = None
    preprocessing: str | None = None
    export_options: dict[str, Any] | None = None
    min_input_size: int | None = None
    bench_peer: str | None = None
    tuning_data: Callable[..., Any] | None = None
    tuning_train: Callable[..., Any] | None = None
    weights: tuple[Any, ...] = ()

    def build(self, **overrides):
        return self.builder(**overrides)

    @property
    def extra(self) -> dict[str, Any]:
        """Deprecated: the optional fields that are set, as the untyped dict they once were."""
        warn_renamed("ModelSpec.extra[...]", "ModelSpec.<field>` (preprocessing, export_options, "
                     "min_input_size, bench_peer, tuning_data, tuning_train")
        return {k: getattr(self, k) for k in OPTIONAL_FIELDS if getattr(self, k) is not None}


# The typed optional fields of a spec (once `register_model(**extra)`), in the order cards show them.
OPTIONAL_FIELDS = ("min_input_size", "preprocessing", "export_options", "bench_peer", "tuning_data",
                   "tuning_train")
# What `bench_peer` may name: a keras.applications builder, or the registered builder itself with
# Keras' own recurrent layer (`cell=`), or the same network from keras-hub's layers.
BENCH_PEERS = ("keras.applications.<Builder>", "keras.layers.LSTM", "keras.layers.GRU", "keras_hub")


_REGISTRY: dict[str, ModelSpec] = {}


# ---------------------------------------------------------------------------------------------
# The stored cards (plain data beside the family modules)
# ---------------------------------------------------------------------------------------------

_STORED: dict[str, Any] = {}  # filled once: "cards" name -> card, "modules" name -> module, ...


def _stored() -> dict[str, Any]:
    if not _STORED:
        cards, modules, exports = {}, {}, {}
        data_modules = sorted(
            m.name for m in pkgutil.iter_modules([_MODELS_DIR])
            if m.name.endswith(CARD_SUFFIX) and not m.name.startswith("_")
        )
        for data_name in data_modules:
            data = importlib.import_module(f"{_MODELS_PACKAGE}.{data_name}")
            for name, card in data.CARDS.items():
                cards[name], modules[name] = card, data.MODULE
            for name in data.EXPORTS:
                if name not in FAMILY_FUNCTIONS:
                    exports[name] = data.MODULE
        _STORED.update(cards=cards, modules=modules, exports=exports)
    return _STORED


def stored_card(name: str) -> dict[str, Any] | None:
    """The card of `name` as stored beside its family module (a copy), or None if none is.

    Example:
        >>> stored_card("resnet50")["params"]
        25636712
    """
    card = _stored()["cards"].get(name)
    return copy.deepcopy(card) if card is not None else None


# Functions that each image family defines for itself (keras.applications style): no single one is
# `zoo.<name>`. `zoo.preprocess_input` / `zoo.decode_predictions` were GoogLeNet's: they still are for
# one release, with a DeprecationWarning naming the family modules (`family_function`).
FAMILY_FUNCTIONS = {"preprocess_input": "zoo.models.googlenet",
                    "decode_predictions": "zoo.models.googlenet"}
_FAMILY_FUNCTION_OWNERS = ("zoo.models.resnet", "zoo.models.inception", "zoo.models.googlenet")


def family_function(name: str):
    """The deprecated top-level `zoo.<name>` of `FAMILY_FUNCTIONS` (GoogLeNet's), with a
    DeprecationWarning that says to use the function of the model's own family module.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     family_function("preprocess_input").__module__
        'zoo.models.googlenet'
    """
    module = FAMILY_FUNCTIONS[name]
    choices = ", ".join(f"{m}.{name}" for m in _FAMILY_FUNCTION_OWNERS)
    warn_renamed(f"zoo.{name}", f"{module}.{name}` (what `zoo.{name}` was: GoogLeNet's), or the one "
                 f"of your model's family module: `{choices}", stacklevel=4)
    return getattr(importlib.import_module(module), name)


def exported_names() -> dict[str, str]:
    """Every public builder of the family modules (their `__all__`, as stored beside them), with
    the module defining it: what `zoo.<name>` reaches without importing anything first.

    Example:
        >>> exported_names()["resnet50"]
        'zoo.models.resnet'
    """
    return dict(_stored()["exports"])


def families() -> tuple[str, ...]:
    """The sorted families of the registered models (stored or registered since).

    Example:
        >>> "resnet" in families()
        True
    """
    found = {card["family"] for card in _stored()["cards"].values()}
    return tuple(sorted(found | {s.family for s in _REGISTRY.values()}))


# ---------------------------------------------------------------------------------------------
# Registering and finding models
# ---------------------------------------------------------------------------------------------


def _signature_defaults(fn) -> dict[str, Any]:
    out = {}
    for p in inspect.signature(fn).parameters.values():
        if p.default is not inspect.Parameter.empty and p.kind in (
            p.POSITIONAL_OR_KEYWORD,
            p.KEYWORD_ONLY,
        ):
            out[p.name] = p.default
    return out


# Long by its signature: one typed keyword per ModelSpec field (issue 26: no untyped bag).
@renamed_arguments(flops_input_shapes="macs_input_shapes")
def register_model(
    fn: Callable | None = None,
    *,
    family: str,
    task: str,
    paper: str,
    input_shape: Any,
    name: str | None = None,
    test_overrides: dict[str, Any] | None = None,
    search_space: Callable[..., dict[str, Any]] | None = None,
    description: str = "",
    macs_input_shapes: Any = None,
    partner: str | None = None,
    preprocessing: str | None = None,
    export_options: dict[str, Any] | None = None,
    min_input_size: int | None = None,
    bench_peer: str | None = None,
    tuning_data: Callable[..., Any] | None = None,
    tuning_train: Callable[..., Any] | None = None,
    weights: tuple[Any, ...] = (),
):
    """Decorator that registers a builder function under its name (timm style).

    Args:
        family: the family's name (any; `families()` lists the registered ones).
        task: one of `TASKS`.
        partner: the name of the model this one is trained with (a DCGAN generator's
            discriminator and the reverse), or None.
        (the others: see `ModelSpec`; an argument it does not take is a TypeError)

    Example:
        >>> from zoo.core.registry import register_model
        >>> @register_model(family="resnet", task="image_classification",
        ...                 paper="He et al. 2015", input_shape=(224, 224, 3))
        ... def my_resnet(**kwargs):
        ...     ...
    """
    if not isinstance(family, str) or not family.isidentifier():
        raise ValueError(f"`family` must be a name such as 'resnet'. Received: family={family!r}")
    task = task_kind(task)
    if partner is not None and not isinstance(partner, str):
        raise ValueError(f"`partner` must be a model name or None. Received: partner={partner!r}")
    _check_bench_peer(bench_peer)
    optional = dict(preprocessing=preprocessing, export_options=export_options,
                    min_input_size=min_input_size, bench_peer=bench_peer, tuning_data=tuning_data,
                    tuning_train=tuning_train, weights=tuple(weights))

    def decorator(f):
        key = name or f.__name__
        owner = _stored()["modules"].get(key)
        if owner is not None and owner not in sys.modules:
            importlib.import_module(owner)  # the stored name's module first: no silent clash
        if key in _REGISTRY and _REGISTRY[key].builder is not f:
            raise ValueError(f"A model named {key!r} is already registered.")
        _register_weights(key, optional["weights"])
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
            macs_input_shapes=macs_input_shapes,
            partner=partner,
            **optional,
        )
        return f

    if fn is not None:
        return decorator(fn)
    return decorator


def _register_weights(name, weights):
    """Register the `WeightsSpec`s of model `name` with `zoo.core.weights` (which checks them)."""
    if not weights:
        return
    from zoo.core import weights as _weights

    for spec in weights:
        if not isinstance(spec, _weights.WeightsSpec) or spec.model != name:
            raise ValueError(f"`weights` must hold WeightsSpec(model={name!r}, ...)s. Received: "
                             f"weights={weights!r}")
        _weights.register_weights(spec)


def _check_bench_peer(peer):
    if peer is None or peer in BENCH_PEERS[1:] or (
            isinstance(peer, str) and peer.startswith("keras.applications.")
            and peer.split(".")[-1].isidentifier()):
        return
    raise ValueError(f"`bench_peer` must be None or one of {BENCH_PEERS}. Received: bench_peer={peer!r}")


def registered() -> dict[str, ModelSpec]:
    """The specs registered so far in this process (by the family modules imported, and by
    `register_model` calls), by name; `list_models` also knows the stored ones not imported."""
    return dict(_REGISTRY)


def _family_of(name: str) -> str:
    spec = _REGISTRY.get(name)
    return spec.family if spec is not None else _stored()["cards"][name]["family"]


def list_models(pattern: str = "*", family: str | None = None) -> list[str]:
    """Sorted names of the registered models matching a shell-style wildcard.

    Args:
        pattern: a wildcard such as `"resnet*"` or `"*v2"` (case-insensitive).
        family: keep only this family (one of `families()`).

    Example:
        >>> import zoo
        >>> "googlenet" in zoo.list_models("goog*")
        True
    """
    if not isinstance(pattern, str):
        raise ValueError(f"`pattern` must be a string. Received: pattern={pattern!r}")
    if family is not None and family not in families():
        raise ValueError(f"`family` must be one of {families()}. Received: family={family!r}")
    pat = pattern.lower()
    return sorted(
        n
        for n in set(_REGISTRY) | set(_stored()["cards"])
        if fnmatch.fnmatchcase(n.lower(), pat) and (family is None or _family_of(n) == family)
    )


def get_spec(name: str) -> ModelSpec:
    """The `ModelSpec` of a registered model (importing its family module on first use); a
    ValueError listing the closest names if unknown."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    module = _stored()["modules"].get(name) if isinstance(name, str) else None
    if module is not None:
        importlib.import_module(module)
        if name in _REGISTRY:
            return _REGISTRY[name]
        raise ValueError(
            f"The card data says {module} registers {name!r}, but importing it did not: "
            "regenerate the cards with `python -m zoo.core.cards --write`."
        )
    known = list_models()
    close = difflib.get_close_matches(str(name), known, n=5, cutoff=0.4)
    hint = f" Closest names: {', '.join(close)}." if close else ""
    raise ValueError(
        f"Unknown model name {name!r}.{hint} See `zoo.list_models()` for all "
        f"{len(known)} registered models."
    )


def module_of(name: str) -> str:
    """The module that defines the registered model `name` (read from the stored cards, or from the
    builder of a model registered since; nothing imported).

    Example:
        >>> module_of("resnet50")
        'zoo.models.resnet'
    """
    if name in _REGISTRY:
        return _REGISTRY[name].builder.__module__
    module = _stored()["modules"].get(name) if isinstance(name, str) else None
    return module if module is not None else get_spec(name).builder.__module__


def resolve_spec(model) -> ModelSpec:
    """A `ModelSpec` from a registry name, a `ModelSpec`, or `"module:attr"` naming one (or a
    function returning one), as `zoo tune NAME` takes.

    Example:
        >>> resolve_spec("resnet50").task
        'image_classification'
    """
    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, str) and ":" in model:
        mod, _, attr = model.partition(":")
        allowed = ("a registered name or `module:attr` naming a ModelSpec (or a function "
                   "returning one)")
        try:
            obj = importlib.import_module(mod)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError, ValueError, TypeError) as e:
            raise ValueError(f"`model` must be {allowed}; {e}. Received: model={model!r}") from None
        if callable(obj) and not isinstance(obj, ModelSpec):
            try:
                obj = obj()
            except TypeError as e:  # a function that needs arguments
                raise ValueError(f"`model` must be {allowed}; {e}. Received: model={model!r}") from None
        if not isinstance(obj, ModelSpec):
            raise ValueError(f"`model` must be {allowed}; it gives a {type(obj).__name__}. "
                             f"Received: model={model!r}")
        return obj
    return get_spec(model)


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
    if not takes_kwargs:  # a renamed argument (`renamed_arguments`) still passes, with its warning
        renamed = getattr(spec.builder, "renamed_arguments", {})
        unknown = sorted(set(overrides) - set(params) - set(renamed))
        if unknown:
            raise ValueError(
                f"Model {name!r} does not take the argument(s) {unknown}. "
                f"Allowed: {sorted(params)}"
            )
    return spec.builder(**overrides)


# ---------------------------------------------------------------------------------------------
# Model cards
# ---------------------------------------------------------------------------------------------


def model_card(name: str, **overrides) -> dict[str, Any]:
    """The model card of a registered model.

    The card holds the parameter counts (total and trainable), the multiply-adds of one forward
    pass at the default input shape (`macs`, counted layer by layer from the built graph, see
    `zoo.core.macs`; for inputs of unknown length at the shapes `macs_input_shapes`, which
    `macs_unit` states), input and output shapes, the paper reference, the default
    hyperparameters, the registered weights and the declared search space (one line per
    hyperparameter: its name, type, choices or range, and the parent choice it depends on, if
    any).

    Without overrides it is the card stored beside the family module (read, nothing built; the
    tests check it against the built model); with overrides it is computed from the model built
    with them (`build_card`).

    Example:
        >>> import zoo
        >>> card = zoo.model_card("resnet50")
        >>> card["params"]
        25636712
    """
    if not overrides:
        card = stored_card(name)
        if card is not None:
            return ModelCard(card)
    return ModelCard(build_card(name, **overrides))


def build_card(name: str, **overrides) -> dict[str, Any]:
    """The model card of `name` computed from the model built with `overrides` (Keras needed).

    Example:
        >>> build_card("highway_net", depth=3)["params"]
        49960
    """
    return card_of(get_spec(name), create_model(name, **overrides))


def check_folder_name(value, argument="name") -> str:
    """`value` if it names exactly one folder inside its parent: letters, digits, '_', '-' and
    '.', not '.' or '..' (nor any name of dots only), no path separator, not absolute; else a
    ValueError naming `argument`.

    Example:
        >>> check_folder_name("resnet50")
        'resnet50'
    """
    import re

    if (not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", value)
            or set(value) == {"."}):
        raise ValueError(f"`{argument}` must be one folder name of letters, digits, '_', '-' or '.' "
                         f"(not '.' or '..', no path separator). Received: {argument}={value!r}")
    return value


def parse_overrides(items) -> dict[str, Any]:
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
