"""Package attributes loaded on first use (PEP 562), so that importing a workflow package's
`cli` module (the `zoo` command's parser) does not import TensorFlow or keras-tuner; and
`skip_optional_imports`, which spares zoo's own processes the optional packages that TensorFlow
and Keras load at import for features zoo does not use.

Example:
    >>> from zoo.core.lazy import lazy_attributes
    >>> __getattr__ = lazy_attributes("pkg", {"sqrt": "math", "pi": "math:pi"})
    >>> __getattr__("sqrt")(4.0)
    2.0
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys
from typing import Callable, Dict, Optional

__all__ = ["lazy_attributes", "skip_optional_imports"]


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


class _SkipOptional(importlib.abc.MetaPathFinder):
    """Imports that TensorFlow and Keras make while loading, for features zoo's processes never
    use, refused to those modules only (they go on as where the package is not installed):
    TFLite's JAX converter and Keras' Orbax callback import `jax`, Keras' scikit-learn wrappers
    `sklearn` and its plotting helpers `matplotlib`. zoo's own imports of them are untouched,
    and on the JAX backend Keras has loaded `jax` before these ask. CPU at start on a 2-core AMD
    EPYC: about 1 s less for a `zoo train`, 9.7 -> 6.5 s for a verification process
    (zoo/export/verify_child.py keeps an exact copy, tests/test_cli.py: zoo is blocked there)."""

    SKIPPED = {"jax": ("tensorflow.lite.", "keras.src.callbacks.orbax_checkpoint"),
               "sklearn": ("keras.src.wrappers.",), "matplotlib": ("keras.src.visualization.",)}

    def find_spec(self, name, path=None, target=None):
        importers = self.SKIPPED.get(name)
        frame = sys._getframe(1) if importers else None
        while frame is not None:  # refused only when one of those modules imports it
            if frame.f_globals.get("__name__", "").startswith(importers):
                raise ModuleNotFoundError(f"{name} is not loaded for {importers}", name=name)
            frame = frame.f_back
        return None


def skip_optional_imports():
    """Installs `_SkipOptional` (once) in a process that zoo starts (the `zoo` command, its
    benchmark children), before TensorFlow loads; `import zoo` does not, and leaves a user's
    process as it is.

    Example:
        >>> from zoo.core.lazy import skip_optional_imports
        >>> skip_optional_imports()
        >>> import sys
        >>> any(type(f).__name__ == "_SkipOptional" for f in sys.meta_path)
        True
    """
    if not any(isinstance(f, _SkipOptional) for f in sys.meta_path):
        sys.meta_path.insert(0, _SkipOptional())
