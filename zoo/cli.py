"""The `zoo` command.

    zoo list [PATTERN]        registered models: name, family, parameters, input shape, paper
    zoo info NAME             the model card (parameters, FLOPs, shapes, paper, defaults)
    zoo build NAME            build a model and print its summary

Other subcommands (train, export, verify, tune) are added by the modules in `_COMMAND_MODULES`,
each of which defines `add_cli(subparsers)`.

Example:
    $ zoo list "resnet*"
    $ zoo info googlenet
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

_COMMAND_MODULES: list = ["zoo.train.cli", "zoo.export.cli", "zoo.tuning.cli"]


def _cmd_list(args):
    import zoo
    from zoo.registry import get_spec

    names = zoo.list_models(args.pattern, family=args.family)
    if not names:
        print(f"No registered model matches {args.pattern!r}.", file=sys.stderr)
        return 1
    rows = [("name", "family", "params", "input shape", "paper")]
    for n in names:
        spec = get_spec(n)
        params = "-"
        if not args.no_params:
            import keras

            m = zoo.create_model(n)
            params = f"{m.count_params():,}"
            del m
            keras.backend.clear_session()
        rows.append((n, spec.family, params, str(spec.input_shape), spec.paper))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4])
    return 0


def _cmd_info(args):
    import zoo

    card = zoo.model_card(args.name)
    if args.json:
        print(json.dumps(card, indent=2, default=str))
        return 0
    for key, value in card.items():
        if key == "defaults":
            print("defaults:")
            for k, v in value.items():
                print(f"  {k}: {v!r}")
        elif key == "search_space" and isinstance(value, list):
            print("search_space:")
            for line in value:
                print(f"  {line}")
        elif isinstance(value, int) and not isinstance(value, bool):
            print(f"{key}: {value:,}")
        else:
            print(f"{key}: {value}")
    return 0


def _cmd_build(args):
    import zoo
    from zoo.registry import parse_overrides

    overrides = parse_overrides(args.set)
    model = zoo.create_model(args.name, **overrides)
    model.summary(line_length=110)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="zoo", description="Keras 3 model zoo.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list registered models")
    p.add_argument("pattern", nargs="?", default="*", help="wildcard, e.g. 'resnet*'")
    p.add_argument("--family", default=None, help="keep one family")
    p.add_argument("--no-params", action="store_true", help="do not build models to count parameters")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("info", help="print a model card")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("build", help="build a model and print its summary")
    p.add_argument("name")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="builder override (JSON value)")
    p.set_defaults(func=_cmd_build)

    for mod in _COMMAND_MODULES:
        importlib.import_module(mod).add_cli(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except ValueError as e:
        print(f"zoo: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
