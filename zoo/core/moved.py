"""Names that moved: the old module paths keep working for one release, with a
`DeprecationWarning` that names the new one.

`import zoo` installs a finder for the old paths (`zoo.registry`, `zoo.gan`, `zoo.tasks.base`,
...): importing one gives the module at its new path, with the warning.

Example:
    >>> import warnings, zoo
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     import zoo.registry
    >>> zoo.registry is __import__("zoo.core.registry").core.registry
    True
    >>> "zoo.core.registry" in str(caught[0].message)
    True
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.util
import sys
import warnings

__all__ = ["MOVED_MODULES", "RenamedAttribute", "install", "renamed_arguments", "warn_renamed"]

# old module path -> new module path
MOVED_MODULES = {
    "zoo.registry": "zoo.core.registry",
    "zoo.spaces": "zoo.core.spaces",
    "zoo.cards": "zoo.core.cards",
    "zoo.lazy": "zoo.core.lazy",
    "zoo.weights": "zoo.core.weights",
    "zoo.flops": "zoo.core.macs",
    "zoo.core.flops": "zoo.core.macs",
    "zoo.conventions": "zoo.core.conventions",
    "zoo.torch_weights": "zoo.core.torch_weights",
    "zoo.saving": "zoo.core.saving",
    "zoo.decoding": "zoo.models.transformer_decoding",
    "zoo.models._transformer_decoding": "zoo.models.transformer_decoding",
    "zoo.gan": "zoo.models.dcgan_sampling",
    "zoo.problems": "zoo.data.problems",
    "zoo.tasks.base": "zoo.roles.task",
    "zoo.tasks.serving": "zoo.roles.serving",
    "zoo.tasks.sequence": "zoo.roles.sequence",
    "zoo.tasks.gan": "zoo.roles.gan_training",
    "zoo.tasks.forecasting_data": "zoo.data.series",
    "zoo.tasks.graph_data": "zoo.data.graphs",
    "zoo.tasks.classification": "zoo.tasks.feature_classification",
}


def warn_renamed(old: str, new: str, stacklevel: int = 3) -> None:
    """The one wording of every rename's `DeprecationWarning`."""
    warnings.warn(f"`{old}` is deprecated and will be removed in the next release: use `{new}`.",
                  DeprecationWarning, stacklevel=stacklevel)


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old paths; loading one returns the module at its new path."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        new = MOVED_MODULES[spec.name]
        warn_renamed(spec.name, new, stacklevel=8)
        return importlib.import_module(new)

    def exec_module(self, module):
        pass


def install() -> None:
    """Put the finder on `sys.meta_path` (once)."""
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.append(_Alias())


def renamed_arguments(**renames):
    """Decorator: keyword arguments that were renamed (`old="new"`) keep working for one release,
    with a `DeprecationWarning` naming the new one; giving both is an error.

    Example:
        >>> @renamed_arguments(num_eval="num_test")
        ... def source(num_test=10):
        ...     return num_test
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     source(num_eval=3)
        3
    """

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{fn.__name__}() got `{old}` and `{new}`: `{old}` is the "
                                        f"deprecated name of `{new}`; give `{new}` only.")
                    warn_renamed(f"{fn.__name__}({old}=...)", f"{new}=", stacklevel=3)
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        wrapper.renamed_arguments = dict(renames)
        return wrapper

    return decorate


class RenamedAttribute:
    """A class attribute standing for a renamed attribute: reading or setting the old name reads
    or sets the new one, with a `DeprecationWarning`.

    Example:
        >>> class Source:
        ...     eval = RenamedAttribute("test")
        ...     def __init__(self):
        ...         self.test = 3
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     Source().eval
        3
    """

    def __init__(self, new: str):
        self.new = new
        self.old = None

    def __set_name__(self, owner, name):
        self.old = name

    def __get__(self, obj, owner):
        warn_renamed(f"{owner.__name__}.{self.old}", f"{owner.__name__}.{self.new}")
        return getattr(owner if obj is None else obj, self.new)

    def __set__(self, obj, value):
        warn_renamed(f"{type(obj).__name__}.{self.old}", f"{type(obj).__name__}.{self.new}")
        setattr(obj, self.new, value)
