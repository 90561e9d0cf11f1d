"""Package attributes loaded on first use (PEP 562), so that importing a workflow package's
`cli` module (the `zoo` command's parser) does not import TensorFlow or keras-tuner.

Example:
    >>> from zoo.core.lazy import lazy_attributes
    >>> __getattr__ = lazy_attributes("pkg", {"sqrt": "math", "pi": "math:pi"})
    >>> __getattr__("sqrt")(4.0)
    2.0
"""

from __future__ import annotations

import importlib
from typing import Callable, Dict

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, table: Dict[str, str]) -> Callable[[str], object]:
    """A module-level `__getattr__` for `package`: `table` maps a public name to `"module"`
    (the same name in that module) or `"module:attribute"`."""

    def __getattr__(name):
        if name in table:
            module, _, attr = table[name].partition(":")
            return getattr(importlib.import_module(module), attr or name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
