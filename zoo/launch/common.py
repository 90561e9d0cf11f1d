"""What the launchers share: the command every task runs, checked against `zoo train`'s (or
`zoo tune`'s) own parser before anything is written."""

from __future__ import annotations

import argparse
import shlex

__all__ = ["task_command", "run_dir_of", "shell_join"]

VERBS = ("train", "tune")


def _parser(verb, name):
    if verb == "train":
        from zoo.train.recipe import build_parser

        return build_parser(name)
    from zoo.tuning.cli import add_cli

    sub = argparse.ArgumentParser(prog="zoo").add_subparsers()
    add_cli(sub)
    return sub.choices["tune"]


class _Refused(Exception):
    pass


def _checked(parser, argv):
    """`argv` parsed by `parser`, its errors raised as ValueError instead of exiting."""
    def error(message):
        raise _Refused(message)

    parser.error = error
    try:
        return parser.parse_args(argv)
    except _Refused as e:
        raise ValueError(f"the flags for `zoo {parser.prog.split()[1]}` are refused ({e}). "
                         f"Received: flags={argv!r}") from None


def task_command(verb, name, argv, cluster, port=None, command="zoo"):
    """The argument list every task runs: `command verb name argv --cluster cluster` (with
    `--cluster-port`), after `argv` is parsed by the verb's own parser."""
    if verb not in VERBS:
        raise ValueError(f"`verb` must be one of {VERBS}. Received: verb={verb!r}")
    argv = [str(a) for a in argv]
    if any(a == "--cluster" or a.startswith("--cluster=") or a.startswith("--cluster-port")
           for a in argv):
        raise ValueError("`zoo launch` sets --cluster and --cluster-port itself. Received: "
                         f"flags={argv!r}")
    extra = ["--cluster", cluster] + (["--cluster-port", str(port)] if port else [])
    args = _checked(_parser(verb, name), [name, *argv, *extra] if verb == "tune" else [*argv, *extra])
    if verb == "train":  # the values `zoo train` itself checks before any work (--epochs -1, ...)
        from zoo.train.recipe import config_from_args

        config_from_args(args, name).validate()
    return [*shlex.split(command), verb, name, *argv, *extra]


def run_dir_of(verb, argv):
    """The run folder the flags name (`--run-dir`, or `--directory` of a search), or None."""
    flag = "--run-dir" if verb == "train" else "--directory"
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def shell_join(words):
    return " ".join(shlex.quote(w) for w in words)
