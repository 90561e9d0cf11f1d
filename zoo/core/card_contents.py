"""What a model card holds, computed from a built model: parameters, multiply-adds (at the
shapes `macs_input_shapes` gives), shapes, defaults, weights and search space (`card_of`), and the
`ModelCard` dict that still reads the renamed keys (`"flops"` is `"macs"`).

`zoo.core.registry.model_card` is the entry point; this module needs Keras only in `card_of`.

Example:
    >>> ModelCard(macs=7)["macs"]
    7
"""

from __future__ import annotations

from typing import Any

from zoo.core.moved import warn_renamed

__all__ = ["RENAMED_CARD_KEYS", "ModelCard", "card_of", "macs_input_shapes", "space_lines"]


def _shape_of(t):
    shape = getattr(t, "shape", None)
    return tuple(shape) if shape is not None else None


def macs_input_shapes(spec, model) -> list[tuple] | None:
    """The input shapes (without batch) at which `model_card` counts `spec`'s multiply-adds.

    The model's input shapes, with every dimension it leaves unknown (a sequence length) taken
    from `spec.macs_input_shapes` (a dict is ordered as `model.inputs`); None when they are all
    known already (count at the model's own shapes). An unknown dimension that `spec` does not
    size stays None (`zoo.core.macs.count_macs` then says what is missing).

    Example:
        >>> import zoo
        >>> from zoo.core.registry import get_spec
        >>> spec = get_spec("transformer_classifier")
        >>> macs_input_shapes(spec, zoo.create_model("transformer_classifier"))
        [(64,)]
    """
    own = [tuple(t.shape[1:]) for t in model.inputs]
    if all(d is not None for s in own for d in s):
        return None
    declared = spec.macs_input_shapes
    if declared is None:
        return own
    if isinstance(declared, dict):
        names = [getattr(t, "name", None) for t in model.inputs]
        missing = sorted(set(names) - set(declared))
        if missing:
            raise ValueError(
                f"`macs_input_shapes` of {spec.name!r} must name every input {names}. "
                f"Received: macs_input_shapes={declared!r}"
            )
        declared = [declared[n] for n in names]
    elif isinstance(declared, tuple) and all(isinstance(d, int) for d in declared):
        declared = [declared]
    if len(declared) != len(own):
        raise ValueError(
            f"`macs_input_shapes` of {spec.name!r} must give one shape per input "
            f"({len(own)}). Received: macs_input_shapes={spec.macs_input_shapes!r}"
        )
    return [
        tuple(int(d) if d is not None else (tuple(s)[i] if i < len(s) else None)
              for i, d in enumerate(o))
        for o, s in zip(own, declared)
    ]


# card keys renamed (old -> new): the old ones still read, with a DeprecationWarning, for one release
RENAMED_CARD_KEYS = {"flops": "macs", "flops_unit": "macs_unit",
                     "flops_input_shapes": "macs_input_shapes", "flops_error": "macs_error"}


class ModelCard(dict):
    """A model card (a plain dict) on which the renamed keys (`RENAMED_CARD_KEYS`: `"flops"` is
    `"macs"`, ...) still read, with a DeprecationWarning naming the new key.

    Example:
        >>> card = ModelCard(macs=5)
        >>> card["macs"]
        5
    """

    def __missing__(self, key):
        new = RENAMED_CARD_KEYS.get(key)
        if new is None or new not in self:
            raise KeyError(key)
        warn_renamed(f'model_card(...)["{key}"]', f'model_card(...)["{new}"]')
        return self[new]

    def get(self, key, default=None):
        if key not in self and key in RENAMED_CARD_KEYS:
            try:
                return self.__missing__(key)
            except KeyError:
                return default
        return super().get(key, default)


def card_of(spec, model) -> dict[str, Any]:
    """The card of `spec` with the numbers of `model`, a model built from it (Keras needed)."""
    from zoo.core import macs as _macs
    from zoo.core import weights as _weights

    total = int(sum(_size(w) for w in model.weights))
    trainable = int(sum(_size(w) for w in model.trainable_weights))
    shapes = None
    try:
        shapes = macs_input_shapes(spec, model)
        count = int(_macs.count_macs(model, input_shapes=shapes))
    except Exception as e:  # pragma: no cover - reported, not hidden
        count = None
        macs_error = f"{type(e).__name__}: {e}"
    else:
        macs_error = None
    card = {"name": spec.name, "family": spec.family, "task": spec.task}
    if spec.partner is not None:
        card["partner"] = spec.partner
    card.update({
        "description": spec.description,
        "paper": spec.paper,
        "params": total,
        "trainable_params": trainable,
        "macs": count,
        "macs_unit": _macs_unit(model, shapes),
        "macs_input_shapes": shapes or [tuple(t.shape[1:]) for t in model.inputs],
        "input_shape": spec.input_shape,
        "inputs": [_shape_of(t) for t in model.inputs],
        "outputs": [_shape_of(t) for t in model.outputs],
        "defaults": {k: v for k, v in spec.defaults.items() if _jsonable(v)},
        "weights": _weights.registered_weights(spec.name),
        "search_space": space_lines(spec),
    })
    if macs_error:
        card["macs_error"] = macs_error
    for key in ("min_input_size", "preprocessing", "export_options"):  # what a card shows of them
        if getattr(spec, key) is not None:
            card[key] = getattr(spec, key)
    return card


def _size(variable) -> int:
    n = 1
    for d in variable.shape:
        n *= int(d)
    return n


def _macs_unit(model, shapes) -> str:
    if shapes is None:
        return "multiply-adds per example, at the default input shape"
    text = f"multiply-adds per example, at input shapes {_shapes_text(shapes)}"
    lengths = sorted({
        d for t, s in zip(model.inputs, shapes) for o, d in zip(t.shape[1:], s)
        if o is None and d is not None
    })
    if lengths:
        what = "sequence length" if len(lengths) == 1 else "sequence lengths"
        text += f" ({what} {', '.join(map(str, lengths))}, as declared for counting)"
    return text


def _shapes_text(shapes) -> str:
    return ", ".join(str(tuple(s)) for s in shapes)


def space_lines(spec):
    """The declared search space, one line per hyperparameter (`zoo.core.spaces.format_space`), or
    None when the model declares none."""
    if spec.search_space is None:
        return None
    from zoo.core.spaces import format_space

    return format_space(spec.search_space)


def _jsonable(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str, tuple, list, dict))
