"""Write the table of registered models into README.md, from the registry.

The table sits between `<!-- models:start -->` and `<!-- models:end -->`; everything else in
README.md is written by hand. One row per `zoo.list_models()`, from `zoo.model_card(name)`: family,
task, parameters, multiply-adds, paper and registered weights; and the throughput `zoo bench
--full-size` measured (benchmarks/results/bench-cpu-full.csv: the zoo model's training step and
batch inference, TensorFlow, float32, jit off, at its registered configuration and default input
size) with its fraction of the machine's matmul peak, "-" where it has no row.

    python tools/build_readme.py          # rewrite the table in README.md
    python tools/build_readme.py --check  # exit 1 if README.md's table is not the registry's
"""

import argparse
import csv
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
START, END = "<!-- models:start -->", "<!-- models:end -->"
BENCH_CSV = os.path.join(ROOT, "benchmarks", "results", "bench-cpu-full.csv")
BENCH_SETTING = {"implementation": "zoo", "backend": "tensorflow", "precision": "float32",
                 "jit": "off"}


def _count(n):
    return "-" if n is None else f"{n:,}"


def _macs(n):
    if n is None:
        return "-"
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return str(n)


def _paper(text):
    """Authors and year, linked to the first arXiv id: "[He et al. 2015](https://arxiv.org/...)"."""
    m = re.match(r"(.*?\b(?:19|20)\d\d)\b", text)
    short = m.group(1) if m else text.split(",")[0]
    m = re.search(r"arXiv:(\d{4}\.\d{4,5})", text)
    return f"[{short}](https://arxiv.org/abs/{m.group(1)})" if m else short


def _weights(registered):
    return ", ".join(f"`{w}`" for w in sorted(registered)) or "-"


def bench_throughput(path=BENCH_CSV):
    """{model: {mode: "5.1 ex/s (59%)"}} of the rows of `zoo bench`'s CSV at `BENCH_SETTING`
    (the percentage: the row's fraction of the machine's peak, where it has one)."""
    if not os.path.exists(path):
        return {}
    found = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if all(row.get(k) == v for k, v in BENCH_SETTING.items()) and row.get("throughput"):
                unit = {"tokens/s": "tok/s", "examples/s": "ex/s"}.get(row["unit"], row["unit"])
                value = float(row["throughput"])
                text = f"{value:,.0f} {unit}" if value >= 100 else f"{value:.3g} {unit}"
                if row.get("peak_fraction"):
                    text += f" ({100 * float(row['peak_fraction']):.0f}%)"
                found.setdefault(row["model"], {})[row["mode"]] = text
    return found


def model_table(cards=None, bench=None):
    """The markdown table of every registered model (`cards`: name -> card, default: computed;
    `bench`: `bench_throughput()`'s dict, default: read from the results CSV)."""
    if cards is None:
        sys.path.insert(0, ROOT)
        import zoo

        cards = {name: zoo.model_card(name) for name in zoo.list_models()}
    bench = bench_throughput() if bench is None else bench
    lines = [
        "| model | family | task | parameters | multiply-adds | paper | weights | "
        "train, CPU (of peak) | infer, CPU (of peak) |",
        "|---|---|---|---:|---:|---|---|---:|---:|",
    ]
    for name in sorted(cards):
        c = cards[name]
        b = bench.get(name, {})
        lines.append(
            f"| `{name}` | {c['family']} | {c['task']} | {_count(c['params'])} | "
            f"{_macs(c['macs'])} | {_paper(c['paper'])} | {_weights(c.get('weights') or {})} | "
            f"{b.get('train', '-')} | {b.get('infer', '-')} |")
    return "\n".join(lines)


def with_table(text, table):
    """`text` with the part between the markers replaced by `table`."""
    if START not in text or END not in text:
        raise ValueError(f"README.md needs the markers {START} and {END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if the table is out of date")
    args = p.parse_args(argv)
    with open(README) as f:
        current = f.read()
    new = with_table(current, model_table())
    if args.check:
        if new != current:
            print("README.md's model table is out of date: run python tools/build_readme.py",
                  file=sys.stderr)
            return 1
        return 0
    tmp = README + ".tmp"
    with open(tmp, "w") as f:
        f.write(new)
    os.replace(tmp, README)
    return 0


if __name__ == "__main__":
    sys.exit(main())
