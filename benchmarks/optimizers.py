"""The optimizers of the notes compared: SGD, SGD with momentum, SGD with Nesterov momentum,
AdaGrad, RMSProp and Adam (and Nadam), on the same models, data and steps.

Two problems, each trained by the zoo's trainer (`zoo.train.Trainer`, the recipes' loop) with the
optimizer made by `zoo.train.optimizers.make_optimizer` (what `zoo train --optimizer` uses):

* **digits**: the embedded digits of the image recipe (scikit-learn's 1,797 8x8 digits, resized to
  16x16x1, no augmentation) with a small CNN (two 3x3 convolutions of 16 and 32 filters, each
  followed by 2x2 max pooling, then a softmax layer); the held-out 20% of the recipe (360 images)
  is the test set and 20% of its training images (288) are the validation set;
* **adding**: the adding problem (`zoo.data.adding_problem`, T = `--steps`) with the registered
  `peephole_lstm_regressor` (one peephole layer of `--units` units), gradient norm clipped at 1
  (the recipe's default) for every optimizer; separate validation and test sets.

Each optimizer is trained at each learning rate of its small grid (`GRIDS`: three values a decade
apart, where its usual default lies) for the same steps and batch; the learning rate is picked on
the validation set (accuracy for digits, mean squared error for adding, at the end of training),
and the table gives that run's test metric. The curves (validation metric per epoch) of the
picked runs go into one PNG.

Run from the repository root (about 10-15 minutes on 2 shared CPU cores):

    nice python benchmarks/optimizers.py --write-docs

Writes `benchmarks/results/optimizers.json`, `docs/optimizers.png` and, with `--write-docs`, the
results section of `docs/optimizers.md`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import zoo.models  # noqa: E402,F401  (registers the models)
from zoo import data as zdata  # noqa: E402
from zoo.core.registry import create_model  # noqa: E402
from zoo.tasks.image_classification import ImageClassification  # noqa: E402
from zoo.tasks.sequence_regression import SequenceRegression  # noqa: E402
from zoo.train.config import TrainConfig  # noqa: E402
from zoo.tuning.trial import TuningTrainer  # noqa: E402

# label -> (optimizer, extra settings); the notes' six, then Nadam
OPTIMIZERS = {
    "sgd": ("sgd", {}),
    "momentum": ("sgd", {"momentum": 0.9}),
    "nesterov": ("sgd", {"momentum": 0.9, "nesterov": True}),
    "adagrad": ("adagrad", {}),
    "rmsprop": ("rmsprop", {}),
    "adam": ("adam", {}),
    "nadam": ("nadam", {}),
}
# learning rates tried per optimizer (picked on the validation set)
GRIDS = {
    "sgd": (1.0, 0.3, 0.1),
    "momentum": (0.3, 0.1, 0.03),
    "nesterov": (0.3, 0.1, 0.03),
    "adagrad": (0.3, 0.1, 0.03),
    "rmsprop": (3e-2, 1e-2, 3e-3),
    "adam": (3e-2, 1e-2, 3e-3),
    "nadam": (3e-2, 1e-2, 3e-3),
}
DOCS_BEGIN = "<!-- optimizers.py results: begin -->"
DOCS_END = "<!-- optimizers.py results: end -->"


def digits_problem(seed=0):
    from sklearn.model_selection import train_test_split

    x_tr, x_te, y_tr, y_te = zdata.digits_split(seed)  # the image recipe's split
    x_tr, x_va, y_tr, y_va = train_test_split(x_tr, y_tr, test_size=0.2, random_state=seed,
                                              stratify=y_tr)
    pre = zdata.image_preprocessor(16, 1, "none")
    info = {"num_classes": 10, "input_shape": (16, 16, 1)}
    val = zdata.array_source("digits", x_tr[..., None], y_tr, x_va[..., None], y_va,
                             preprocess=pre, info=info)
    test = zdata.array_source("digits", x_tr[..., None], y_tr, x_te[..., None], y_te,
                              preprocess=pre, info=info)

    def model_fn():
        return keras.Sequential([
            keras.Input((16, 16, 1)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ], name="digits_cnn")

    return {"task": ImageClassification(), "val": val, "test": test, "model_fn": model_fn,
            "metric": "accuracy", "higher": True, "clipnorm": None}


def adding_problem(steps, units, num_train, seed=0):
    x_tr, y_tr = zdata.adding_problem(num_train, steps, seed)
    x_va, y_va = zdata.adding_problem(500, steps, seed + 1)
    x_te, y_te = zdata.adding_problem(1000, steps, seed + 2)
    info = {"input_shape": (steps, 2), "steps": steps}
    val = zdata.array_source("adding", x_tr, y_tr, x_va, y_va, info=info)
    test = zdata.array_source("adding", x_tr, y_tr, x_te, y_te, info=info)

    def model_fn():
        return create_model("peephole_lstm_regressor", input_shape=(steps, 2), units=(units,))

    return {"task": SequenceRegression(), "val": val, "test": test, "model_fn": model_fn,
            "metric": "mse", "higher": False, "clipnorm": 1.0}


def train_one(problem, label, lr, *, epochs, steps_per_epoch, batch_size, seed, run_dir):
    name, extra = OPTIMIZERS[label]
    cfg = TrainConfig(name=f"{label}_{lr:g}", epochs=epochs, steps_per_epoch=steps_per_epoch,
                      batch_size=batch_size, learning_rate=lr, optimizer=name,
                      clipnorm=problem["clipnorm"], seed=seed, run_dir=run_dir,
                      checkpoint_every=0, log_every=steps_per_epoch, progress=False,
                      export=False, jit_compile="off", **extra)
    t0 = time.time()
    trainer = TuningTrainer(problem["task"], problem["val"], problem["model_fn"], cfg)
    metric = problem["metric"]
    try:
        trainer.fit()
        curve = [(h["step"], h.get(f"eval_{metric}")) for h in trainer.history
                 if h["kind"] == "epoch"]
        val = curve[-1][1]
        trainer.source = problem["test"]  # the same weights on the test set
        test = trainer.evaluate()[metric]
    except Exception as e:  # a diverged run (non-finite loss) counts as the worst
        print(f"  {label} lr={lr:g}: {type(e).__name__}: {str(e)[:120]}", flush=True)
        curve, val, test = [], None, None
    return {"label": label, "optimizer": name, "settings": extra, "learning_rate": lr,
            "val": val, "test": test, "curve": curve, "seconds": time.time() - t0}


def pick(runs, higher):
    ok = [r for r in runs if r["val"] is not None and np.isfinite(r["val"])]
    if not ok:
        return runs[0]
    return max(ok, key=lambda r: r["val"]) if higher else min(ok, key=lambda r: r["val"])


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.2))
    axes = np.atleast_1d(axes)
    for ax, (pname, res) in zip(axes, results.items()):
        for label, chosen in res["chosen"].items():
            if chosen["curve"]:
                steps, vals = zip(*chosen["curve"])
                ax.plot(steps, vals, marker=".", label=f"{label} (lr {chosen['learning_rate']:g})")
        ax.set_title(f"{pname}: validation {res['metric']}")
        ax.set_xlabel("step")
        ax.set_ylabel(res["metric"])
        if res["metric"] == "mse":
            ax.set_yscale("log")
            ax.axhline(1 / 6, color="grey", ls="--", lw=1, label="constant guess (1/6)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def table(results):
    lines = []
    for pname, res in results.items():
        m = res["metric"]
        lines += [f"**{pname}** ({res['description']}):", "",
                  f"| optimizer | learning rates tried: validation {m} | picked | test {m} |",
                  "| --- | --- | --- | --- |"]
        for label, chosen in res["chosen"].items():
            tried = ", ".join(
                f"{r['learning_rate']:g}: " + ("diverged" if r["val"] is None else f"{r['val']:.4g}")
                for r in res["runs"] if r["label"] == label)
            test = "diverged" if chosen["test"] is None else f"**{chosen['test']:.4g}**"
            name = label + (f" ({', '.join(f'{k}={v}' for k, v in chosen['settings'].items())})"
                            if chosen["settings"] else "")
            grid = [r["learning_rate"] for r in res["runs"] if r["label"] == label]
            edge = " (edge)" if chosen["learning_rate"] in (min(grid), max(grid)) else ""
            lines.append(f"| {name} | {tried} | {chosen['learning_rate']:g}{edge} | {test} |")
        lines.append("")
    lines.append("(edge): the picked learning rate is the largest or smallest of its grid, so a "
                 "learning rate outside it may do better; ties go to the first (largest) tried.\n")
    return "\n".join(lines)


def write_docs(text, path):
    doc = open(path).read()
    if DOCS_BEGIN not in doc or DOCS_END not in doc:
        raise ValueError(f"{path} lacks the markers {DOCS_BEGIN!r} ... {DOCS_END!r}")
    head, rest = doc.split(DOCS_BEGIN, 1)
    _, tail = rest.split(DOCS_END, 1)
    with open(path, "w") as f:
        f.write(head + DOCS_BEGIN + "\n" + text + "\n" + DOCS_END + tail)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--problems", default="digits,adding")
    p.add_argument("--optimizers", default=",".join(OPTIMIZERS))
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--digits-epochs", type=int, default=5)
    p.add_argument("--digits-steps-per-epoch", type=int, default=36, help="36 x 32 = 1 epoch")
    p.add_argument("--adding-epochs", type=int, default=6)
    p.add_argument("--adding-steps-per-epoch", type=int, default=100)
    p.add_argument("--steps", type=int, default=25, help="adding problem: sequence length T")
    p.add_argument("--units", type=int, default=16)
    p.add_argument("--num-train", type=int, default=3200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "optimizers.json"))
    p.add_argument("--png", default=os.path.join(ROOT, "docs", "optimizers.png"))
    p.add_argument("--write-docs", action="store_true", help="rewrite docs/optimizers.md's results")
    a = p.parse_args(argv)
    labels = [x for x in a.optimizers.split(",") if x]
    for x in labels:
        if x not in OPTIMIZERS:
            p.error(f"argument --optimizers: {x!r} is not one of {', '.join(OPTIMIZERS)}")
    problems = {}
    for pname in a.problems.split(","):
        if pname == "digits":
            problems[pname] = (digits_problem(a.seed), a.digits_epochs, a.digits_steps_per_epoch,
                               f"a 16x16x1 digits CNN of "
                               f"{digits_problem(a.seed)['model_fn']().count_params():,} parameters; "
                               f"{a.digits_epochs * a.digits_steps_per_epoch} steps of "
                               f"{a.batch_size}; test: the recipe's 360 held-out images")
        elif pname == "adding":
            problems[pname] = (adding_problem(a.steps, a.units, a.num_train, a.seed), a.adding_epochs,
                               a.adding_steps_per_epoch,
                               f"peephole LSTM of {a.units} units, T = {a.steps}, {a.num_train:,} "
                               "training sequences; "
                               f"{a.adding_epochs * a.adding_steps_per_epoch} steps of "
                               f"{a.batch_size}, clipnorm 1; test: 1,000 sequences, a constant "
                               "guess scores 0.167")
        else:
            p.error(f"argument --problems: {pname!r} is not one of digits, adding")
    t_start = time.time()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for pname, (problem, epochs, spe, description) in problems.items():
            runs = []
            for label in labels:
                for lr in GRIDS[label]:
                    r = train_one(problem, label, lr, epochs=epochs, steps_per_epoch=spe,
                                  batch_size=a.batch_size, seed=a.seed,
                                  run_dir=os.path.join(tmp, pname, f"{label}_{lr:g}"))
                    runs.append(r)
                    print(f"{pname} {label:9s} lr={lr:<7g} val={r['val']} test={r['test']} "
                          f"({r['seconds']:.0f} s, {time.time() - t_start:.0f} s so far)", flush=True)
            chosen = {label: pick([r for r in runs if r["label"] == label], problem["higher"])
                      for label in labels}
            results[pname] = {"metric": problem["metric"], "description": description,
                              "runs": runs, "chosen": chosen}
    wall = time.time() - t_start
    load = os.getloadavg()
    cmd = "python benchmarks/optimizers.py " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = {"command": cmd.strip(), "wall_s": round(wall), "load_average": [round(x, 1) for x in load],
            "cpus": os.cpu_count(), "machine": platform.machine(), "keras": keras.__version__,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1, default=float)
    plot(results, a.png)
    text = table(results) + (
        f"\nCommand: `{meta['command']}` (seed {a.seed}); {meta['wall_s']} s of wall time on "
        f"{meta['cpus']} CPU cores ({meta['machine']}) shared with other jobs, load average "
        f"{' '.join(str(x) for x in meta['load_average'])} at the end; Keras {meta['keras']}, "
        f"{meta['date']}.\n")
    print(text)
    if a.write_docs:
        write_docs(text, os.path.join(ROOT, "docs", "optimizers.md"))
    return results


if __name__ == "__main__":
    main()
