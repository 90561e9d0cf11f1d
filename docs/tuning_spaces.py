"""Write the table of every registered model's declared search space into docs/tuning.md.

    python docs/tuning_spaces.py            # rewrites the table between the markers in place
    python docs/tuning_spaces.py --print    # prints it
    python docs/tuning_spaces.py --check    # exit 1 when docs/tuning.md is out of date

The table is generated from the registry (`zoo.tuning.describe_space` over each card's
`search_space`); tests/test_tuning_families.py checks that docs/tuning.md holds the current one.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

BEGIN, END = "<!-- search-spaces:begin -->", "<!-- search-spaces:end -->"
DOC = os.path.join(ROOT, "docs", "tuning.md")


def _fmt(v):
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _cell(d):
    if "values" in d:
        what = ", ".join(_fmt(v) for v in d["values"])
    else:
        what = f"{_fmt(d['range'][0])} .. {_fmt(d['range'][1])} ({d.get('sampling', 'linear')})"
    text = f"`{d['name']}` {what}"
    if d["when"]:
        text += f" *(when {d['when'].replace(' in ', ' ∈ ')})*"
    return text


def table():
    from zoo import tuning
    from zoo.core.registry import get_spec, list_models

    groups = {}
    for name in list_models():
        spec = get_spec(name)
        described = tuning.describe_space(tuning.space_of(spec))
        points = tuning.grid_trials(tuning.space_of(spec))
        values = [tuning.space_values(tuning.space_of(spec), p) for p in points]
        names = {d["name"] for d in described}
        fixed = [f"`{k}` {_fmt(v)}" for k, v in values[0].items()
                 if k not in names and all(x.get(k) == v for x in values)]
        cells = tuple(_cell(d) for d in described) + ((f"fixed: {', '.join(fixed)}",) if fixed else ())
        key = (spec.task, cells, len(points))
        groups.setdefault(key, []).append(name)
    lines = ["| models | task | grid points | hyperparameters (choices; conditional ones say when) |",
             "|---|---|---|---|"]
    for (task, cells, size), names in sorted(groups.items(), key=lambda kv: kv[1][0]):
        lines.append(f"| {', '.join(f'`{n}`' for n in names)} | {task} | {size} | {'<br>'.join(cells)} |")
    return "\n".join(lines)


def render(doc):
    """`doc` (docs/tuning.md's text) with the current table between the markers."""
    start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
    return doc[:start] + "\n" + table() + "\n" + doc[end:]


def main(argv):
    if "--print" in argv:
        print(table())
        return 0
    with open(DOC) as f:
        doc = f.read()
    new = render(doc)
    if "--check" in argv:
        if new != doc:
            print("docs/tuning.md's table of search spaces is out of date: run python docs/tuning_spaces.py")
            return 1
        return 0
    with open(DOC, "w") as f:
        f.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
