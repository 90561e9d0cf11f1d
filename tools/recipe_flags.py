"""Flag tables of `zoo train NAME` for every task kind, and of `zoo tune`, from their parsers.

    python tools/recipe_flags.py            # print the tables (markdown)
    python tools/recipe_flags.py --write    # rewrite the generated blocks of docs/recipes.md
    python tools/recipe_flags.py --check    # exit 1 when docs/recipes.md is out of date

A model's recipe is its task's (`zoo.tasks.<task>`): `zoo.train.recipe.build_parser(NAME)` is
the task's flags, `--set` and the trainer's flags with the task's defaults. docs/recipes.md holds
one block per parser between `<!-- flags:NAME -->` and `<!-- /flags:NAME -->` (NAME: `trainer`
for the flags every recipe shares, a task kind of `zoo.core.registry.TASKS` for that task's own flags,
read from the parser of its first registered model, or `search` for `zoo tune`).
tests/test_recipes.py checks that each block lists every flag of its parser.
"""

import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "recipes.md")
TRAINING_GROUP = "training"


def task_models():
    """`{task kind: its first registered model}`, for every kind a model is registered with."""
    sys.path.insert(0, ROOT)  # this checkout's zoo, also when another one is installed
    import zoo

    out = {}
    for name in zoo.list_models():
        out.setdefault(zoo.get_spec(name).task, name)
    return out


def parsers():
    """`{block name: (parser, own actions)}`; `trainer` holds the shared training flags."""
    sys.path.insert(0, ROOT)
    from zoo import train, tuning
    from zoo.train.recipe import build_parser

    out = {}
    base = train.add_train_arguments(argparse.ArgumentParser(prog="zoo train NAME"))
    out["trainer"] = (base, _group_actions(base, TRAINING_GROUP))
    for kind, model in sorted(task_models().items()):
        parser = build_parser(model)
        out[kind] = (parser, _own_actions(parser, exclude=TRAINING_GROUP))
    sub = argparse.ArgumentParser(prog="zoo").add_subparsers()
    tuning.add_cli(sub)
    out["search"] = (sub.choices["tune"], _own_actions(sub.choices["tune"]))
    return out


def _group_actions(parser, title):
    for group in parser._action_groups:
        if group.title == title:
            return list(group._group_actions)
    return []


def _own_actions(parser, exclude=None):
    skip = {id(a) for a in _group_actions(parser, exclude)} if exclude else set()
    return [a for a in parser._actions
            if id(a) not in skip and not isinstance(a, argparse._HelpAction)]


def flags_of(actions):
    """Every option string (`--epochs`, `--lr`, ...) and positional name of `actions`."""
    return [s for a in actions for s in (a.option_strings or [a.dest])]


# Meanings for flags whose parser (owned elsewhere) gives no help text.
FALLBACK_HELP = {
    "--latent-dim": "latent vector size (U(-1, 1) samples)",
    "--data-dir": "TFDS data_dir",
    "--tuner": "keras-tuner algorithm",
    "--max-trials": "trials to run (random, bayesian)",
    "--objective": "metric the search minimises",
    "--directory": "where trials are kept (resume by re-running)",
    "--project-name": "default: <name>_<tuner>",
    "--no-export": "skip exporting the best model",
    "--export-dir": "export the best model to <export-dir>/<name>/<version>/",
}


def _value(a):
    if a.choices:
        return "|".join(str(c) for c in a.choices)
    if not a.option_strings:
        return ""
    if isinstance(a, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return ""
    return a.metavar if isinstance(a.metavar, str) else a.dest.upper()


def _default(a):
    if isinstance(a, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return "off"
    if a.default is None or a.default == argparse.SUPPRESS:
        return "-"
    return f"`{a.default}`"


def table(actions):
    rows = ["| flag | value | default | meaning |", "| --- | --- | --- | --- |"]
    for a in actions:
        flag = ", ".join(f"`{s}`" for s in a.option_strings) or f"`{a.dest.upper()}`"
        value = _value(a).replace("|", "\\|")
        key = (a.option_strings or [""])[0]
        help_ = " ".join((a.help or FALLBACK_HELP.get(key, "")).split()).replace("|", "\\|")
        rows.append(f"| {flag} | {f'`{value}`' if value else ''} | {_default(a)} | {help_} |")
    return "\n".join(rows)


def recipe_defaults(parser, trainer_parser):
    """The training flags whose defaults this task's recipe changes (`Task.flag_defaults`)."""
    base = {a.dest: a.default for a in trainer_parser._actions}
    changed = [a for a in _group_actions(parser, TRAINING_GROUP)
               if a.dest in base and a.default != base[a.dest]]
    if not changed:
        return ""
    return "Trainer defaults of this recipe: " + ", ".join(
        f"`{a.option_strings[0]} {a.default}`" for a in changed) + "."


def blocks():
    """`{name: generated markdown}` for every parser."""
    ps = parsers()
    models = task_models()
    out = {}
    for name, (parser, actions) in ps.items():
        text = table(actions)
        if name in models:
            extra = recipe_defaults(parser, ps["trainer"][0])
            text += ("\n\n" + extra if extra else "") + \
                "\n\nAnd every [trainer flag](#trainer-flags)."
        out[name] = text
    return out


def _pattern(name):
    name = re.escape(name)
    return re.compile(rf"(<!-- flags:{name} -->)(.*?)(<!-- /flags:{name} -->)", re.S)


def render(doc_text, generated):
    for name, text in generated.items():
        pat = _pattern(name)
        if not pat.search(doc_text):
            raise ValueError(f"docs/recipes.md has no block for {name!r}: add "
                             f"`<!-- flags:{name} -->` and `<!-- /flags:{name} -->`")
        doc_text = pat.sub(lambda m, text=text: m.group(1) + "\n" + text + "\n" + m.group(3),
                           doc_text)
    return doc_text


def documented_blocks(doc_text):
    """`{name: block text}` of docs/recipes.md."""
    return {m.group(1): m.group(2) for m in re.finditer(
        r"<!-- flags:(\w+) -->(.*?)<!-- /flags:\1 -->", doc_text, re.S)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help="rewrite docs/recipes.md's blocks")
    p.add_argument("--check", action="store_true", help="fail when docs/recipes.md is stale")
    args = p.parse_args(argv)
    generated = blocks()
    if not (args.write or args.check):
        for name, text in generated.items():
            print(f"### {name}\n\n{text}\n")
        return 0
    with open(DOC) as f:
        current = f.read()
    new = render(current, generated)
    if args.check:
        if new != current:
            print("docs/recipes.md is out of date: run python tools/recipe_flags.py --write")
            return 1
        return 0
    with open(DOC, "w") as f:
        f.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
