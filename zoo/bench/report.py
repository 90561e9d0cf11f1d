"""`zoo bench`'s results: the console table, and a CSV and a Markdown table per machine kind.

The files are `benchmarks/results/bench-<kind>.csv` and `.md` (`kind`: `cpu`, or the GPU's name
in lower case with dashes), one row per model, implementation and setting, like timm's results
CSVs. A new run replaces the rows of the same model, implementation and setting and keeps the
others, so running one model does not lose the rest; the Markdown table is rewritten from the
merged CSV.

Example:
    >>> from zoo.bench.report import KEY, COLUMNS
    >>> set(KEY) <= set(COLUMNS)
    True
"""

from __future__ import annotations

import csv
import os
import re

__all__ = ["COLUMNS", "KEY", "results_paths", "merge_rows", "write_results", "format_table",
           "markdown_table", "read_csv", "write_csv"]

COLUMNS = ("model", "implementation", "backend", "precision", "jit", "mode", "batch", "input",
           "throughput", "unit", "examples_per_s", "step_ms", "zoo_speedup", "ci_low", "ci_high",
           "rounds", "steps", "params", "date", "versions", "machine", "load", "note",
           # full size (`zoo bench --full-size`): spread, work, and the machine's limit
           "throughput_min", "throughput_max", "macs", "macs_source", "model_gflops",
           "peak_gflops", "peak_gflops_min", "peak_dtype", "peak_source", "peak_f32_gflops",
           "peak_bf16_gflops", "peak_fraction", "peak_fraction_min", "peak_fraction_max",
           "load_after")
KEY = ("model", "implementation", "backend", "precision", "jit", "mode", "batch", "input")
_FLOATS = {"throughput": 4, "examples_per_s": 4, "step_ms": 4, "zoo_speedup": 4, "ci_low": 4,
           "ci_high": 4, "throughput_min": 4, "throughput_max": 4, "model_gflops": 4,
           "peak_gflops": 4, "peak_gflops_min": 4, "peak_f32_gflops": 4, "peak_bf16_gflops": 4,
           "peak_fraction": 3, "peak_fraction_min": 3, "peak_fraction_max": 3}


def results_paths(out_dir, kind, full_size=False):
    """`(csv path, md path)` of machine kind `kind` (`cpu`, or a GPU's name) under `out_dir`;
    `bench-<kind>-full` for the full-size rows."""
    slug = re.sub(r"[^a-z0-9]+", "-", kind.lower()).strip("-") or "cpu"
    base = os.path.join(out_dir, f"bench-{slug}{'-full' if full_size else ''}")
    return base + ".csv", base + ".md"


def _cell(column, value):
    if value is None:
        return ""
    if column in _FLOATS and isinstance(value, float):
        return f"{value:.{_FLOATS[column]}g}"
    return str(value)


def read_csv(path):
    """The rows of a results CSV (dicts of strings); [] if there is no file."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def merge_rows(old, new):
    """`old` rows with those of the same `KEY` as a `new` row replaced by it; sorted by key."""
    new = [{c: _cell(c, r.get(c)) for c in COLUMNS} for r in new]
    keys = {tuple(r[k] for k in KEY) for r in new}
    kept = [{c: r.get(c, "") for c in COLUMNS} for r in old
            if tuple(r.get(k, "") for k in KEY) not in keys]
    order = {"zoo": 0, "zoo (A/A twin)": 2}
    return sorted(kept + new, key=lambda r: (r["model"], r["backend"], r["precision"], r["jit"],
                                             r["mode"], order.get(r["implementation"], 1),
                                             r["implementation"], r["batch"], r["input"]))


def _ratio(r):
    if not r.get("zoo_speedup"):
        return ""
    return f"{float(r['zoo_speedup']):.2f} [{float(r['ci_low']):.2f}, {float(r['ci_high']):.2f}]"


def _throughput(r):
    if not r.get("throughput"):
        return r.get("note", "")
    return f"{float(r['throughput']):,.0f} {r['unit']}" if float(r["throughput"]) >= 100 else \
        f"{float(r['throughput']):.3g} {r['unit']}"


_SHOWN = ("model", "implementation", "backend", "precision", "jit", "mode", "batch", "input",
          "throughput", "step ms", "zoo speedup [95% CI]", "params")
_SHOWN_FULL = ("GFLOP/s", "of peak [min, max]", "peak GFLOP/s")


def _fraction(r):
    if not r.get("peak_fraction"):
        return ""
    return (f"{100 * float(r['peak_fraction']):.0f}% [{100 * float(r['peak_fraction_min']):.0f}, "
            f"{100 * float(r['peak_fraction_max']):.0f}]")


def _shown(r, full=False):
    cells = (r["model"], r["implementation"], r["backend"], r["precision"], r["jit"], r["mode"],
             str(r["batch"]), r["input"], _throughput(r),
             f"{float(r['step_ms']):.3g}" if r.get("step_ms") else "", _ratio(r),
             f"{int(r['params']):,}" if r.get("params") else "")
    if full:
        cells += (f"{float(r['model_gflops']):.3g}" if r.get("model_gflops") else "", _fraction(r),
                  f"{float(r['peak_gflops']):.0f} {r['peak_dtype']}" if r.get("peak_gflops")
                  else "")
    return cells


def _columns(rows):
    full = any(r.get("model_gflops") for r in rows)
    return (_SHOWN + _SHOWN_FULL if full else _SHOWN), full


def format_table(rows):
    """The rows as an aligned plain-text table (the console's)."""
    rows = [{c: _cell(c, r.get(c)) for c in COLUMNS} for r in rows]
    shown, full = _columns(rows)
    cells = [shown] + [_shown(r, full) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(shown))]
    return "\n".join("  ".join(c[i].ljust(widths[i]) for i in range(len(shown))).rstrip()
                     for c in cells)


def markdown_table(rows):
    """The Markdown results page: the table, then where and when its rows were measured."""
    shown, full = _columns(rows)
    right = ("batch", "throughput", "step ms", "params", "GFLOP/s", "peak GFLOP/s")
    lines = ["| " + " | ".join(shown) + " |",
             "|" + "|".join("---:" if c in right else "---" for c in shown) + "|"]
    lines += ["| " + " | ".join(_shown(r, full)) + " |" for r in rows]
    dates = sorted(r["date"] for r in rows if r.get("date"))
    loads = [float(r["load"]) for r in rows if r.get("load")]
    machines = sorted({r["machine"] for r in rows if r.get("machine")})
    vers = sorted({r["versions"] for r in rows if r.get("versions")})
    lines += [
        "",
        f"Machine: {'; '.join(machines) or '-'}. Versions: {'; '.join(vers) or '-'}. "
        f"Measured {dates[0] if dates else '-'} to {dates[-1] if dates else '-'}"
        + (f"; 1-minute load average {min(loads):.1f} to {max(loads):.1f} at the start of "
           f"each model's runs." if loads else "."),
        "",
        "Throughput is the batch (times tokens per example for token inputs) over the median "
        "step time; *zoo speedup* is the median over rounds of the implementation's step time "
        "over the zoo model's, measured moments apart in the same round (above 1: the zoo model "
        "is faster), with a 95% bootstrap interval. The A/A twin is a second copy of the zoo "
        "model: its interval shows the noise of the machine.",
    ]
    if full:
        after = [float(r["load_after"]) for r in rows if r.get("load_after")]
        sources = sorted({r["peak_source"] for r in rows if r.get("peak_source")})
        lines += ["", "Full size: GFLOP/s counts 2 FLOPs per multiply-add of the card (3 forward "
                  "passes per training step); *of peak* is that over the peak of the row's "
                  f"precision ({'; '.join(sources) or '-'}: a measured one is a large matrix "
                  "multiply in the same process, precision and thread settings just before the "
                  "model), at the median step; in brackets at the slowest and fastest timing. "
                  "Load average "
                  f"after each model: {min(after, default=0):.1f} to {max(after, default=0):.1f}."]
    return "\n".join(lines) + "\n"


def write_csv(path, columns, rows, digits=4):
    """Write `rows` (dicts) to the CSV file `path` with the header `columns`, floats to `digits`
    significant digits (None: as they are), atomically (a temporary file renamed into place);
    creates the folder.

    Example:
        >>> write_csv("/tmp/zoo-example/rows.csv", ["model", "seconds"],
        ...           [{"model": "gcn", "seconds": 1.23456}])
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.{digits}g}" if isinstance(v, float) and digits else v)
                             for k, v in row.items()})
    os.replace(tmp, path)


def write_results(rows, out_dir, kind, full_size=False):
    """Merge `rows` into `out_dir`'s CSV for machine kind `kind` (`-full` for `full_size`) and
    rewrite its Markdown table; returns `(csv path, md path)`."""
    csv_path, md_path = results_paths(out_dir, kind, full_size)
    merged = merge_rows(read_csv(csv_path), rows)
    write_csv(csv_path, COLUMNS, merged, digits=None)
    with open(md_path, "w") as f:
        f.write(markdown_table(merged))
    return csv_path, md_path
