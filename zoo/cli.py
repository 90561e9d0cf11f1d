"""The `zoo` command.

    zoo list [PATTERN]        registered models: name, family, parameters, input shape, paper
    zoo info NAME             the model card (module, parameters, multiply-adds, shapes, paper, defaults)
    zoo build NAME            build a model and print its summary

Other subcommands (train, export, verify, tune, bench) are added by the modules in `_COMMAND_MODULES`,
each of which defines `add_cli(subparsers)`; `list`, `info` and `build` do not load them, and
`list` and `info` read the cards stored beside the family modules, so they answer without
importing Keras or TensorFlow.

TensorFlow's C++ start-up lines (`oneDNN custom operations are on`, `failed call to cuInit` on a
machine without a GPU, ...) and the Python warnings of TensorFlow and absl are not shown;
`zoo --verbose ...` shows them (a `TF_CPP_MIN_LOG_LEVEL` set by the user is kept either way).

Example:
    $ zoo list "resnet*"
    $ zoo info googlenet
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.abc
import importlib.util
import json
import logging
import os
import sys
import tempfile
import warnings

_COMMAND_MODULES: list = ["zoo.train.cli", "zoo.export.cli", "zoo.tuning.cli", "zoo.bench.cli",
                         "zoo.launch.cli"]
_CORE_COMMANDS = ("list", "info", "build")


def _cmd_list(args):
    import zoo
    from zoo.core import registry

    names = zoo.list_models(args.pattern, family=args.family)
    if not names:
        print(f"No registered model matches {args.pattern!r}.", file=sys.stderr)
        return 1
    rows = [("name", "family", "params", "input shape", "paper")]
    for n in names:
        card = registry.stored_card(n)
        if card is None:  # registered at run time, not stored: build it for its numbers
            card = vars(registry.get_spec(n)) if args.no_params else zoo.model_card(n)
        params = "-" if args.no_params else f"{card['params']:,}"
        rows.append((n, card["family"], params, str(card["input_shape"]), card["paper"]))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4])
    return 0


def _cmd_info(args):
    import zoo
    from zoo.core.registry import module_of

    card = zoo.model_card(args.name)
    card = {"name": card.pop("name"), "module": module_of(args.name), **card}
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
    from zoo.core.registry import parse_overrides

    overrides = parse_overrides(args.set)
    model = zoo.create_model(args.name, **overrides)
    model.summary(line_length=110)
    return 0


def _add_verbose(parser, default=False):
    # read before parsing (`_command_and_verbose`): TensorFlow may load while the parser is built
    parser.add_argument("--verbose", action="store_true", default=default,
                        help="show TensorFlow's start-up lines and warnings")


def build_parser(command=None):
    """The `zoo` parser; for `command` in `list`, `info`, `build` without the other modules'
    subcommands (which would load them)."""
    parser = argparse.ArgumentParser(prog="zoo", description="Keras 3 model zoo.")
    _add_verbose(parser)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list registered models")
    p.add_argument("pattern", nargs="?", default="*", help="wildcard, e.g. 'resnet*'")
    p.add_argument("--family", default=None, help="keep one family")
    p.add_argument("--no-params", action="store_true", help="leave out the parameter counts")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("info", help="print a model card")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("build", help="build a model and print its summary")
    p.add_argument("name")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="builder override (JSON value)")
    p.set_defaults(func=_cmd_build)

    for p in sub.choices.values():
        _add_verbose(p, default=argparse.SUPPRESS)
    if command not in _CORE_COMMANDS:
        for mod in _COMMAND_MODULES:
            importlib.import_module(mod).add_cli(sub)
    return parser


def _command_and_verbose(argv):
    """The subcommand (the first word that is not an option) and whether `--verbose` is given:
    before it, or anywhere for `list`, `info` and `build` (the others pass their words on)."""
    for i, word in enumerate(argv):
        if word == "--":
            return None, "--verbose" in argv[:i]
        if not word.startswith("-"):
            later = word in _CORE_COMMANDS and "--verbose" in argv[i + 1:]
            return word, "--verbose" in argv[:i] or later
    return None, "--verbose" in argv


@contextlib.contextmanager
def _stderr_hidden():
    """Hides what is written to the process's standard error (file descriptor 2, where C++
    libraries write) inside the block; shown after all if the block fails."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no standard error to hide
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if failed:
                sink.seek(0)
                sys.stderr.write(sink.read().decode("utf-8", "replace"))


class _QuietImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports `name` (TensorFlow) with its C++ start-up lines hidden: TensorFlow 2.21 logs some
    (oneDNN, CUDA drivers) while loading, before `TF_CPP_MIN_LOG_LEVEL` applies."""

    def __init__(self, name):
        self.name, self._loader = name, None

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # once, and the real finders find it
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        self._loader, spec.loader = spec.loader, self
        return spec

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self._loader
        with _stderr_hidden():
            self._loader.exec_module(module)


def _quiet_start_up():
    """TensorFlow and absl as quiet as they can be made, before anything imports TensorFlow."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", module=r"(tensorflow|absl)(\.|$)")
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if "tensorflow" not in sys.modules and not any(
            isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport("tensorflow"))


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    command, verbose = _command_and_verbose(argv)
    from zoo.core.lazy import skip_optional_imports

    skip_optional_imports()
    if not verbose:
        _quiet_start_up()
    parser = build_parser(command)
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except ValueError as e:
        print(f"zoo: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: one line; exports and checkpoints are written whole or not at all
        print(f"zoo: interrupted: `zoo {args.command}` stopped by Ctrl-C (SIGINT); what it had "
              "finished is kept, nothing half-written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
