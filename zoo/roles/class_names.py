"""Class names in every classification answer: the names a model was trained with travel with it
(`set_class_names` / `class_names_of`, as its preprocessing does) into its export options, its
`signatures.json` and its run's `summary.json`; `class_name_outputs` adds the `classes` output
(string names in top-k order) to a signature (docs/serving.md).

Example:
    >>> import tensorflow as tf
    >>> from zoo.roles.class_names import class_name_outputs
    >>> fn, doc = class_name_outputs(["cat", "dog", "fox"])
    >>> fn(tf.constant([[2, 0]]))["classes"].numpy().tolist()
    [[b'fox', b'cat']]
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

__all__ = ["CLASS_NAMES_ATTR", "set_class_names", "class_names_of", "check_class_names",
           "source_class_names", "class_name_outputs"]

# the attribute of a model that holds the names of its output classes, in index order
CLASS_NAMES_ATTR = "_zoo_class_names"


def check_class_names(names, classes: Optional[int] = None) -> Optional[List[str]]:
    """`names` as a list of strings (None stays None), one per class when `classes` is given."""
    if names is None:
        return None
    if isinstance(names, str) or not all(isinstance(n, (str, int)) for n in names):
        raise ValueError("`class_names` must be a list of strings, one per class. "
                         f"Received: class_names={names!r}")
    names = [str(n) for n in names]
    if classes is not None and len(names) != int(classes):
        raise ValueError(f"`class_names` must hold one name per class ({classes}). "
                         f"Received: class_names={names!r}")
    return names


def set_class_names(model, names: Optional[Sequence[str]]):
    """Record the names of `model`'s classes (index order) on it; returns `model`. None leaves
    what is recorded."""
    if names is not None:
        setattr(model, CLASS_NAMES_ATTR, check_class_names(names))
    return model


def class_names_of(model) -> Optional[List[str]]:
    """The class names recorded on `model`, or None."""
    names = getattr(model, CLASS_NAMES_ATTR, None)
    return list(names) if names else None


def source_class_names(source) -> Optional[List[str]]:
    """The class names a `DataSource` states (`info["class_names"]`), or None."""
    info = getattr(source, "info", None) or {}
    names = info.get("class_names")
    return [str(n) for n in names] if names else None


def class_name_outputs(names: Sequence[str]) -> Tuple[Callable[..., Dict[str, Any]], str]:
    """`(fn, doc)`: `fn(top_k_indices)` gives `{"classes": the names of those indices}` (a
    string tensor of the indices' shape); `doc` describes that output (`zoo.roles.serving.
    probability_outputs` makes its `TensorDoc`)."""
    import tensorflow as tf

    table = tf.constant(list(names), dtype=tf.string)

    def fn(indices):
        return {"classes": tf.gather(table, tf.cast(indices, tf.int32))}

    shown = ", ".join(list(names)[:10]) + (", ..." if len(names) > 10 else "")
    return fn, f"the names of top_k_indices, best first (classes: {shown})"
