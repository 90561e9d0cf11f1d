"""Rebuild README.md from its hand-written head and the family sections in docs/.

README.md = everything above its "## Contents" line (title, the two set-up commands, usage), then a
table of contents and each docs/<section>.md with its headings moved down so that its top
level (usually "## Title") becomes "### Title", so each doc stays readable on its own and README stays one page.
Lines inside fenced code blocks are copied unchanged (their "# comments" are not headings).

    python tools/build_readme.py          # rewrite README.md
    python tools/build_readme.py --check  # exit 1 if README.md is not what the docs make
"""

import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTIONS = ["image", "googlenet_gated", "peephole_lstm", "transformer", "dcgan", "recipes",
            "serving", "tuning"]
MARK = "## Contents"


def _headings(text):
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line):
            yield line


def _demote(text, levels=None):
    if levels is None:
        top = min((len(h.split(" ", 1)[0]) for h in _headings(text)), default=3)
        levels = max(3 - top, 0)
    out, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line):
            line = "#" * levels + line
        out.append(line)
    return out


def _title(text):
    for line in _headings(text):
        return line.split(" ", 1)[1].strip()
    raise ValueError("a docs section needs a title heading")


def build(readme_text):
    head = readme_text.split(MARK, 1)[0].rstrip("\n")
    docs = {}
    for name in SECTIONS:
        with open(os.path.join(ROOT, "docs", f"{name}.md")) as f:
            docs[name] = f.read()
    lines = [head, "", MARK, ""]
    lines += [f"- [{_title(docs[n])}](#docs-{n})" for n in SECTIONS]
    for name in SECTIONS:
        lines += ["", f'<a id="docs-{name}"></a>', ""] + _demote(docs[name].strip("\n"))
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true")
    args = p.parse_args(argv)
    path = os.path.join(ROOT, "README.md")
    with open(path) as f:
        current = f.read()
    new = build(current)
    if args.check:
        if new != current:
            print("README.md is out of date: run python tools/build_readme.py", file=sys.stderr)
            return 1
        return 0
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(new)
    os.replace(tmp, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
