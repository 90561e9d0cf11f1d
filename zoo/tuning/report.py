"""The report of a search: `trials.csv`, `trials.md` and `trials.png` (`write_report`)."""

from __future__ import annotations

import csv
import json
import os
from typing import Any, Dict, List

import numpy as np

__all__ = ["INTERNAL", "trials_table", "hyperparameter_importance", "write_report"]

# hyperparameters of the tuners themselves, not of the model
INTERNAL = ("tuner/", "grid/")


def _trial_times(project_dir):
    times = {}
    path = os.path.join(project_dir, "runs.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if rec["event"] in ("end", "failed"):
                    times[rec["trial_id"]] = rec.get("seconds")
    return times


def trials_table(tuner) -> List[Dict[str, Any]]:
    """One row per trial: id, status, score, seconds, message, then the hyperparameters."""
    oracle = tuner.oracle
    times = _trial_times(tuner.project_dir)
    rows = []
    for tid in sorted(oracle.trials):
        t = oracle.trials[tid]
        hps = {k: v for k, v in t.hyperparameters.values.items() if not k.startswith(INTERNAL)}
        plan = getattr(oracle, "plan", None) or getattr(tuner, "zoo_plan", None)
        index = t.hyperparameters.values.get("grid/index")
        if plan and index is not None and index < len(plan):
            hps = dict(plan[index])  # only the active hyperparameters of this grid point
        if "tuner/epochs" in t.hyperparameters.values:
            hps["epochs"] = t.hyperparameters.values["tuner/epochs"]
        score = t.score if t.score is not None and np.isfinite(t.score) else None
        rows.append({"trial": tid, "status": t.status, "score": score,
                     "seconds": None if times.get(tid) is None else round(times[tid], 2),
                     "message": (t.message or "").strip().splitlines()[-1][:120] if t.message else "",
                     **hps})
    return rows


def hyperparameter_importance(rows) -> Dict[str, float]:
    """Share of the score's variance explained by each hyperparameter (correlation ratio eta²).

    Numbers with more than 5 distinct values are binned into 5 quantile bins.
    """
    fixed = {"trial", "status", "score", "seconds", "message"}
    done = [r for r in rows if r["score"] is not None]
    if len(done) < 2:
        return {}
    y = np.array([r["score"] for r in done], float)
    total = ((y - y.mean()) ** 2).sum()
    out = {}
    keys = sorted({k for r in done for k in r if k not in fixed})
    for k in keys:
        vals = [r.get(k) for r in done]
        if len(set(map(str, vals))) < 2 or total == 0:
            out[k] = 0.0
            continue
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals) and len(set(vals)) > 5:
            edges = np.quantile(vals, [0.2, 0.4, 0.6, 0.8])
            groups = np.digitize(vals, edges).astype(str)
        else:
            groups = np.array([str(v) for v in vals])
        between = sum(((y[groups == g].mean() - y.mean()) ** 2) * (groups == g).sum() for g in set(groups))
        out[k] = float(between / total)
    return out


def write_report(tuner, out_dir=None) -> Dict[str, str]:
    """Write `trials.csv`, `trials.md` and `trials.png` for `tuner` (chief or local)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = out_dir or tuner.project_dir
    os.makedirs(out_dir, exist_ok=True)
    rows = trials_table(tuner)
    hp_keys = sorted({k for r in rows for k in r} - {"trial", "status", "score", "seconds", "message"})
    cols = ["trial"] + hp_keys + ["score", "status", "seconds", "message"]
    paths = {"table_csv": os.path.join(out_dir, "trials.csv"),
             "table_md": os.path.join(out_dir, "trials.md"),
             "plot": os.path.join(out_dir, "trials.png")}
    with open(paths["table_csv"], "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in cols})
    fmt = lambda v: "" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))  # noqa: E731
    obj = tuner.oracle.objective
    lines = [f"Objective: `{getattr(obj, 'name', obj)}` ({getattr(obj, 'direction', 'min')}).", "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(c)).replace("|", "/") for c in cols) + " |")
    importance = hyperparameter_importance(rows)
    if importance:
        lines += ["", "Hyperparameter importance (share of score variance): " +
                  ", ".join(f"`{k}` {v:.2f}" for k, v in sorted(importance.items(), key=lambda kv: -kv[1]))]
    with open(paths["table_md"], "w") as f:
        f.write("\n".join(lines) + "\n")

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    done = [r for r in rows if r["score"] is not None]
    failed = [r for r in rows if r["score"] is None]
    axes[0].plot([int(r["trial"]) for r in done], [r["score"] for r in done], "o-", label="completed")
    if failed:
        lo = min([r["score"] for r in done], default=0.0)
        axes[0].plot([int(r["trial"]) for r in failed], [lo] * len(failed), "rx", label="failed")
    axes[0].set_xlabel("trial")
    axes[0].set_ylabel(getattr(obj, "name", "score"))
    axes[0].legend()
    top = max(importance, key=importance.get) if importance else None
    if top:
        xs = [r.get(top) for r in done]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs)
        axes[1].plot(xs if numeric else [str(v) for v in xs], [r["score"] for r in done], "o")
        if numeric and all(v > 0 for v in xs) and max(xs) / min(xs) > 20:
            axes[1].set_xscale("log")
        axes[1].set_xlabel(f"{top} (most important)")
    axes[1].set_ylabel(getattr(obj, "name", "score"))
    fig.suptitle(f"{tuner.zoo_spec.name}: {type(tuner).__name__}")
    fig.tight_layout()
    fig.savefig(paths["plot"], dpi=80)
    plt.close(fig)
    return paths


# ----------------------------------------------------------------------------------------------
# The whole search
# ----------------------------------------------------------------------------------------------
