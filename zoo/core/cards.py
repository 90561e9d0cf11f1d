"""The model cards stored beside the family modules, as plain data: written and checked here.

`zoo/models/<family>_card.py` holds, for the family module `zoo.models.<family>`:

* `MODULE`: the family module's name;
* `EXPORTS`: its public builders (its `__all__`), reachable as `zoo.<name>` before it is imported;
* `CARDS`: name -> the card `zoo.core.registry.build_card(name)` computes from the model built at its
  defaults (parameters, multiply-adds, shapes, paper, defaults, weights, search space, ...).

`zoo.core.registry` reads these files (no Keras), so `zoo list`, `zoo info` and `zoo.model_card(name)`
answer without building anything; tests/test_cards.py builds every model and checks them.
After changing a family (a new model, another default, another search space), write them again:

    python -m zoo.core.cards --write      # build every model of zoo.models, write the card files
    python -m zoo.core.cards --check      # build them and list what differs (exit status 1)
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import os
import pkgutil
import sys
from typing import Any

from zoo.core import registry

__all__ = ["card_path", "compute", "differences", "family_modules", "main", "read", "render"]


def family_modules() -> list[str]:
    """The family modules of `zoo.models`: every module there that is neither private, nor card
    data, nor a helper of a family (`<family>_<what>.py` beside `<family>.py`, with no card of its
    own: `dcgan_sampling`, `transformer_decoding`)."""
    spec = importlib.util.find_spec("zoo.models")
    names = {m.name for m in pkgutil.iter_modules(spec.submodule_search_locations)}
    cards = {n[: -len(registry.CARD_SUFFIX)] for n in names if n.endswith(registry.CARD_SUFFIX)}

    def helper(n):
        return n not in cards and any(n.startswith(f + "_") for f in names)

    return [f"zoo.models.{n}" for n in sorted(names)
            if not n.startswith("_") and not n.endswith(registry.CARD_SUFFIX) and not helper(n)]


def card_path(module_name: str) -> str:
    """Where the card data of a family module lives: `<family>_card.py` beside it."""
    spec = importlib.util.find_spec(module_name)
    where = spec.origin
    if os.path.basename(where) == "__init__.py":  # a family that is a folder
        where = os.path.dirname(where)
    return os.path.join(os.path.dirname(where),
                        module_name.rsplit(".", 1)[1] + registry.CARD_SUFFIX + ".py")


def compute(module_name: str) -> dict[str, Any]:
    """`{"MODULE", "EXPORTS", "CARDS"}` of a family module, from its models built at their
    defaults (imports Keras and builds every model the module registers)."""
    import keras

    module = importlib.import_module(module_name)
    names = sorted(n for n, s in registry.registered().items()
                   if s.builder.__module__ == module_name)
    cards = {}
    for name in names:
        cards[name] = registry.build_card(name)
        keras.backend.clear_session()
    return {"MODULE": module_name, "EXPORTS": list(getattr(module, "__all__", ())),
            "CARDS": cards}


def _literal(value, indent: int = 0) -> str:
    """`value` as a Python literal, a dict or list over several lines when one is too long."""
    if isinstance(value, (dict, list)) and value and indent + len(repr(value)) > 90:
        pad = " " * indent
        if isinstance(value, dict):
            items = [f"{k!r}: {_literal(v, indent + 4)}" for k, v in value.items()]
        else:
            items = [_literal(v, indent + 4) for v in value]
        opening, closing = ("{", "}") if isinstance(value, dict) else ("[", "]")
        return opening + "".join(f"\n{pad}    {item}," for item in items) + f"\n{pad}{closing}"
    return repr(value)


def render(data: dict[str, Any]) -> str:
    """The text of a card file (Python literals only; checked to read back equal)."""
    text = (
        f'"""Cards of the models `{data["MODULE"]}` registers, as plain data.\n\n'
        "Read by `zoo list` and `zoo info` without building anything; written by `python -m "
        "zoo.core.cards\n--write` and checked against the built models by tests/test_cards.py. Do not "
        'edit by hand.\n"""\n\n'
        f'MODULE = {data["MODULE"]!r}\n\n'
        f'EXPORTS = {_literal(data["EXPORTS"])}\n\n'
        f'CARDS = {_literal(data["CARDS"])}\n'
    )
    if _read(text) != data:
        raise ValueError(f"The cards of {data['MODULE']} do not read back as written (a value "
                         "that is not a plain literal?).")
    return text


def _read(text: str) -> dict[str, Any]:
    tree = ast.parse(text)
    return {node.targets[0].id: ast.literal_eval(node.value)
            for node in tree.body if isinstance(node, ast.Assign)}


def read(module_name: str) -> dict[str, Any] | None:
    """The stored `{"MODULE", "EXPORTS", "CARDS"}` of a family module (None if it has none)."""
    path = card_path(module_name)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return _read(f.read())


def differences(module_name: str, computed=None) -> list[str]:
    """What differs between the stored cards of a family module and the computed ones, one line
    each (empty when they agree)."""
    computed = computed or compute(module_name)
    stored = read(module_name)
    if stored is None:
        return [f"{card_path(module_name)} is missing"]
    out = []
    for key in ("MODULE", "EXPORTS"):
        if stored.get(key) != computed[key]:
            out.append(f"{module_name}: {key} stored {stored.get(key)!r}, is {computed[key]!r}")
    cards = stored.get("CARDS", {})
    for name in sorted(set(cards) | set(computed["CARDS"])):
        if name not in computed["CARDS"]:
            out.append(f"{name}: stored, but {module_name} does not register it")
        elif name not in cards:
            out.append(f"{name}: registered by {module_name}, no stored card")
        else:
            a, b = cards[name], computed["CARDS"][name]
            for k in sorted(set(a) | set(b)):
                if a.get(k) != b.get(k):
                    out.append(f"{name}: {k} stored {a.get(k)!r}, is {b.get(k)!r}")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zoo.core.cards", description=__doc__.split("\n")[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--write", action="store_true", help="write the card files")
    what.add_argument("--check", action="store_true", help="list what differs (exit status 1)")
    parser.add_argument("modules", nargs="*", help="family modules (default: all of zoo.models)")
    args = parser.parse_args(argv)
    status = 0
    for module_name in args.modules or family_modules():
        computed = compute(module_name)
        if args.write:
            path = card_path(module_name)
            with open(path, "w", encoding="utf-8") as f:
                f.write(render(computed))
            print(f"wrote {path} ({len(computed['CARDS'])} cards)")
        else:
            diff = differences(module_name, computed)
            for line in diff:
                print(line)
            status = status or int(bool(diff))
    return status


if __name__ == "__main__":
    sys.exit(main())
