"""Run every generator of files derived from the registry and the results, or check they are current.

    python tools/generate.py                  # rewrite every generated file
    python tools/generate.py --check          # exit 1 and name each stale file; write nothing
    python tools/generate.py --check --skip cards   # the fast check (no model is built)
    python tools/generate.py --only readme    # one generator

The generators, in order (a later one may read what an earlier one wrote):

* `cards`: `zoo/models/<family>_card.py`, each family's card numbers (`python -m zoo.core.cards`);
  builds every registered model at its full size, so it is the slow one (2 minutes on 2 busy cores);
* `readme`: README.md's model table, from the cards and the bench CSV (`tools/build_readme.py`);
* `bench`: `benchmarks/results/bench-<kind>.md`, the table of each bench CSV (`zoo bench` writes
  both; this rewrites the table from the CSV);
* `tuning_spaces`: docs/tuning.md's table of search spaces (`docs/tuning_spaces.py`);
* `recipe_flags`: docs/recipes.md's flag tables of `zoo train` and `zoo tune` (`tools/recipe_flags.py`).

Measurements (benchmarks/results/*.json, the figures of docs/optimizers.md, ...) are written by
their benchmark scripts, not here: they are results, not derived text. tests/test_generated.py
runs the fast check; tests/test_cards.py checks the cards against the built models.
"""

import argparse
import glob
import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tool(relpath):
    """A generator script (tools/*.py, docs/*.py) loaded as a module."""
    name = os.path.splitext(os.path.basename(relpath))[0]
    spec = importlib.util.spec_from_file_location(f"_generate_{name}", os.path.join(ROOT, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def cards():
    from zoo.core import cards as card_files

    return {card_files.card_path(m): card_files.render(card_files.compute(m))
            for m in card_files.family_modules()}


def readme():
    tool = _tool("tools/build_readme.py")
    return {tool.README: tool.with_table(_read(tool.README), tool.model_table())}


def bench():
    from zoo.bench import report

    out = {}
    for csv_path in sorted(glob.glob(os.path.join(ROOT, "benchmarks", "results", "bench-*.csv"))):
        out[csv_path[: -len(".csv")] + ".md"] = report.markdown_table(report.read_csv(csv_path))
    return out


def tuning_spaces():
    tool = _tool("docs/tuning_spaces.py")
    return {tool.DOC: tool.render(_read(tool.DOC))}


def recipe_flags():
    tool = _tool("tools/recipe_flags.py")
    return {tool.DOC: tool.render(_read(tool.DOC), tool.blocks())}


# name -> fn() returning {path: the text that file should hold}
GENERATORS = {
    "cards": cards,
    "readme": readme,
    "bench": bench,
    "tuning_spaces": tuning_spaces,
    "recipe_flags": recipe_flags,
}
SLOW = ("cards",)


def run(names, check):
    """Run the generators `names` in order; returns the files that were (`check`: would be)
    rewritten, relative to the repository root."""
    changed = []
    for name in names:
        for path, text in GENERATORS[name]().items():
            current = _read(path) if os.path.exists(path) else None
            if current == text:
                continue
            changed.append(os.path.relpath(path, ROOT))
            if not check:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
    return changed


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 naming every file that is out of date")
    p.add_argument("--only", action="append", choices=sorted(GENERATORS), metavar="NAME",
                   help=f"run only this generator (repeatable): {', '.join(GENERATORS)}")
    p.add_argument("--skip", action="append", choices=sorted(GENERATORS), metavar="NAME", default=[],
                   help=f"leave this generator out (repeatable); `--skip {' --skip '.join(SLOW)}` "
                        "builds no model")
    args = p.parse_args(argv)
    sys.path.insert(0, ROOT)  # this checkout's zoo, also when another one is installed
    names = [n for n in GENERATORS if (not args.only or n in args.only) and n not in args.skip]
    changed = run(names, args.check)
    for path in changed:
        print(f"{path} is out of date: run python tools/generate.py" if args.check else f"wrote {path}")
    if not changed:
        print(f"up to date: {', '.join(names)}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
