"""The quality recipes' settings, chosen on the validation split; the test split only reports.

For each recipe of the quality tests (tests/test_recipes.py) it trains a small grid of candidates
of the setting that was picked by hand (the learning rate; everything else is the recipe as the
test runs it) with `zoo train NAME ARGV` in-process (`zoo.train.recipe.train_task`), scores each
on the VALIDATION split only, and picks the best (on a tie, the value picked by hand before).
The test split's figure is written for the picked candidate alone, as the report it is:

* `googlenet_bn` on the digits (32x32x3): validation accuracy (216 images, a stratified 15% of the
  training part; the 360 test images are the split the README's figures were always measured on);
* `peephole_lstm_regressor` on the adding problem (T = 100): validation mean squared error (2,000
  sequences drawn with their own seed);
* `transformer_base` (2+2 layers, d_model 64) on sequence reversal: greedy exact match on 1,000
  validation sequences that are neither training nor test sequences.

Every finished candidate is saved at once in `benchmarks/results/recipe_settings.json` and a
rerun skips it, so the grid can be run a piece at a time (`--only`); the markdown table
`benchmarks/results/recipe_settings.md` (command, machine load, date) is rewritten from the JSON
after each candidate and is included in docs/recipe_settings.md.

Run from the repository root (CPU; about 3 minutes a candidate for the GoogLeNet and peephole
recipes and 1.5 for the Transformer on 2 free cores, more on a shared machine):

    nice -n 5 python benchmarks/recipe_settings.py
    nice -n 5 python benchmarks/recipe_settings.py --only transformer_base peephole_lstm_regressor
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

RESULTS = os.path.join(ROOT, "benchmarks", "results")
JSON = os.path.join(RESULTS, "recipe_settings.json")
TABLE = os.path.join(RESULTS, "recipe_settings.md")

# name: the quality test's arguments without the chosen setting, the setting's flag, its
# candidates (first the value picked by hand before this script, which wins a tie), the
# validation metric and which way is better, and the test metric reported for the picked one
RECIPES = {
    "transformer_base": {
        "argv": ["--set", "num_layers=2", "--set", "d_model=64", "--set", "d_ff=128",
                 "--set", "num_heads=4", "--set", "dropout=0", "--num-train", "10000",
                 "--epochs", "6", "--warmup-steps", "100", "--decode-examples", "1000"],
        "flag": "--lr", "candidates": [3e-3, 1e-3, 1e-2],
        "metric": ("validation_greedy_exact_match", "max"), "test": "greedy_exact_match",
        "label": "greedy exact match", "data": "sequence reversal, 20 symbols, length 1-20",
    },
    "peephole_lstm_regressor": {
        "argv": ["--dataset", "adding", "--steps", "100", "--num-train", "10000",
                 "--epochs", "20"],
        "flag": "--lr", "candidates": [3e-3, 1e-3, 1e-2],
        "metric": ("mse", "min"), "test": "mse", "label": "MSE",
        "data": "the adding problem, T = 100",
    },
    "googlenet_bn": {
        "argv": ["--epochs", "12"],
        "flag": "--lr", "candidates": [3e-3, 1e-3, 1e-2],
        "metric": ("accuracy", "max"), "test": "accuracy", "label": "accuracy",
        "data": "digits, 32x32x3",
    },
}


def score(summary, metric):
    """The candidate's validation figure: the summary's `final_validation[metric]`, or the
    summary's own `metric` entry (the Transformer's validation greedy exact match)."""
    return (summary.get("final_validation") or {}).get(metric, summary.get(metric))


def test_figure(summary, metric):
    return (summary.get("final_test") or {}).get(metric, summary.get(metric))


def run_candidate(name, value):
    from zoo.train import recipe

    spec = RECIPES[name]
    with tempfile.TemporaryDirectory() as tmp:
        argv = [*spec["argv"], spec["flag"], str(value), "--run-dir", os.path.join(tmp, "run"),
                "--no-export", "--quiet"]
        start = time.time()
        trainer = recipe.train_task(name, recipe.build_parser(name).parse_args(argv))
        wall = time.time() - start
    s = trainer.summary
    metric = spec["metric"][0]
    return {"name": name, "flag": spec["flag"], "value": value, "wall_s": round(wall, 1),
            "validation": score(s, metric), "validation_split": s.get("final_validation"),
            "test": test_figure(s, spec["test"]), "num_validation": trainer.source.num_validation,
            "num_test": trainer.source.num_test, "uptime": uptime(),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def uptime():
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


def load():
    if os.path.exists(JSON):
        with open(JSON) as f:
            return json.load(f)
    return {"runs": []}


def save(results):
    os.makedirs(RESULTS, exist_ok=True)
    tmp = JSON + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=2)
    os.replace(tmp, JSON)


def pick(name, runs):
    """The best candidate on validation (a tie keeps the hand-picked value, listed first)."""
    spec = RECIPES[name]
    metric, mode = spec["metric"]
    done = {r["value"]: r for r in runs if r["name"] == name and r["validation"] is not None}
    measured = [done[v] for v in spec["candidates"] if v in done]
    if not measured:
        return None
    sign = 1.0 if mode == "max" else -1.0
    return max(measured, key=lambda r: (sign * r["validation"], -spec["candidates"].index(
        r["value"])))


def table(results, command):
    lines = [
        "| recipe | data | setting | candidates: validation figure | picked on validation | "
        "test figure (picked only) | time per candidate |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, spec in RECIPES.items():
        runs = [r for r in results["runs"] if r["name"] == name]
        best = pick(name, runs)
        metric, mode = spec["metric"]
        cells = []
        for v in spec["candidates"]:
            r = next((r for r in runs if r["value"] == v), None)
            mark = " (hand-picked before)" if v == spec["candidates"][0] else ""
            cells.append(f"{v:g}{mark}: " + (f"{r['validation']:.4g}" if r else "not run"))
        head = f"| `{name}` | {spec['data']} | `{spec['flag']}` | {'<br>'.join(cells)} | "
        if best is None:
            lines.append(head + "not measured | - | - |")
            continue
        partial = "" if len(runs) == len(spec["candidates"]) else ", of those run"
        walls = ", ".join(f"{r['wall_s']:.0f} s" for r in runs)
        lines.append(
            head + f"**{best['value']:g}** ({'highest' if mode == 'max' else 'lowest'} "
            f"validation {spec['label']}{partial}) | {spec['label']} **{best['test']:.4g}** "
            f"({best['num_test']:,} test examples) | {walls} |")
    loads = [r["uptime"].split("load average:")[-1].strip() for r in results["runs"]]
    dates = sorted({r["date"] for r in results["runs"]})
    return "\n".join([
        f"Measured with `{command}` (CPU only, {platform.machine()}, "
        f"{os.cpu_count()} cores shared with other work; seed 0; "
        f"{dates[0] if dates else '-'} to {dates[-1] if dates else '-'}; load averages "
        f"(1, 5, 15 min) at the end of each candidate: {'; '.join(loads) or '-'}).",
        "",
        *lines,
        "",
        "Each candidate is the quality test's command with the setting changed; the validation "
        "figure chose, the test figure of the picked candidate only reports (the other "
        "candidates' test figures are not shown; benchmarks/results/recipe_settings.json keeps "
        "every run's figures).",
        "",
    ])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", nargs="+", choices=sorted(RECIPES), default=None,
                   help="recipes to run (default: all)")
    p.add_argument("--rerun", action="store_true", help="train candidates already measured")
    p.add_argument("--table-only", action="store_true",
                   help="rewrite the markdown table from the JSON, train nothing")
    a = p.parse_args(argv)
    command = "nice -n 5 python benchmarks/recipe_settings.py" + (
        f" --only {' '.join(a.only)}" if a.only else "")
    results = load()
    for name in [] if a.table_only else (a.only or list(RECIPES)):
        for value in RECIPES[name]["candidates"]:
            have = [r for r in results["runs"] if r["name"] == name and r["value"] == value]
            if have and not a.rerun:
                continue
            print(f"[recipe_settings] {name} {RECIPES[name]['flag']} {value:g}", flush=True)
            run = run_candidate(name, value)
            results["runs"] = [r for r in results["runs"] if r not in have] + [run]
            results.setdefault("commands", [])
            if command not in results["commands"]:
                results["commands"].append(command)
            save(results)
            print(f"[recipe_settings]   validation {run['validation']:.4f} "
                  f"({run['wall_s']:.0f} s)", flush=True)
            with open(TABLE, "w") as f:
                f.write(table(results, "; ".join(results["commands"])))
    with open(TABLE, "w") as f:
        f.write(table(results, "; ".join(results.get("commands", [command]))))
    for name in RECIPES:
        best = pick(name, results["runs"])
        if best is not None:
            print(f"{name}: picked {best['flag']} {best['value']:g} on validation "
                  f"({best['validation']:.4f}); test {best['test']:.4f}")


if __name__ == "__main__":
    main()
