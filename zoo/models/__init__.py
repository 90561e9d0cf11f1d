"""One module per family (its builders and registered variants), with its card's numbers beside it as
plain data in `<family>_card.py` (written by `python -m zoo.core.cards --write`). Importing this
package imports no family: `zoo.models.resnet` and `zoo.models.resnet50` load on first use.
Families: docs/index.md; reference: docs/api/models/.
"""

import importlib
import importlib.util

from zoo.core import registry as _registry


def _public():
    return {n: m for n, m in _registry.exported_names().items()
            if importlib.util.find_spec(f"{__name__}.{n}") is None}


def __getattr__(name):
    if name == "__all__":
        return sorted(_public())
    if name.startswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    module = _registry.exported_names().get(name)
    if module is not None:
        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_public()))
