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
from typing import Callable, Dict, Optional

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, table: Dict[str, str],
                    deprecated: Optional[Dict[str, str]] = None) -> Callable[[str], object]:
    """A module-level `__getattr__` for `package`: `table` maps a public name to `"module"`
    (the same name in that module) or `"module:attribute"`; `deprecated` maps an old public name
    to its new one (a name of `table`, or `"module:attribute"`), read with a `DeprecationWarning`
    (`zoo.core.moved.warn_renamed`)."""
    deprecated = deprecated or {}

    def __getattr__(name):
        if name in deprecated:
            from zoo.core.moved import warn_renamed

            new = deprecated[name]
            module, _, attr = new.partition(":")
            warn_renamed(f"{package}.{name}", f"{module}.{attr}" if attr else f"{package}.{new}")
            return getattr(importlib.import_module(module), attr) if attr else __getattr__(new)
        if name in table:
            module, _, attr = table[name].partition(":")
            return getattr(importlib.import_module(module), attr or name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
