"""Wall and CPU time of training runs with short and long epochs, and the share of the per-epoch
work (checkpoints, evaluations, log records) in them (issue 31, point 4).

Each case trains a registered model with `zoo train`'s recipe (`zoo.train.recipe.train_task`),
in this process, once with every epoch checkpointed and evaluated (`--checkpoint-every epoch
--eval-every epoch`: what the trainer did before the schedules) and once with the defaults
(`auto`), `--runs` times each, alternating. Cases: the GCN on the embedded karate club as 200
one-step epochs and as 2 epochs of 100 steps (the same 200 steps), two small image classifiers
on the recipes' embedded digits (`highway_net` on the flattened 8x8 images, batch 32: 40 one-step
epochs and 2 of 20 steps; `googlenet_torchvision`, the smallest registered convolutional
classifier, at 32x32, batch 16: 20 one-step epochs and 2 of 10 steps), and, with
`--planetoid DIR`, the GCN on Citeseer (`--dataset`) as `zoo train gcn --planetoid DIR --dataset
citeseer` runs it (200 one-step epochs).

Columns: `wall_s` and `cpu_s` of the whole run (data, model, training, final evaluation; CPU time
of every thread of this process, `time.process_time`), `wall_per_cpu`, `fit_s` (the trainer's
`fit`), `epoch_work_s` (time in checkpoints, epoch-end work with its evaluations, and log
records) and `epoch_work_share` (of `fit_s`), the work that recurs; `once_work_s`, the work
every run does once: the first evaluation (which traces the evaluation function) and, at the
last step, the final checkpoint and evaluations; the number of checkpoints and evaluations,
and the 1-minute load average at the end of the run (the machine is shared: see the load).

    python benchmarks/epoch_overhead.py --runs 3
    python benchmarks/epoch_overhead.py --runs 3 --planetoid /tmp/planetoid
    python benchmarks/epoch_overhead.py --runs 3 --models gcn highway_net
    python benchmarks/epoch_overhead.py --tiny --out /tmp/eo.csv     # the test's setting

Writes `benchmarks/results/epoch_overhead.csv` (`--out`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from zoo.bench.report import write_csv  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "epoch_overhead.csv")
COLUMNS = ["case", "model", "epochs", "steps_per_epoch", "setting", "run", "wall_s", "cpu_s",
           "wall_per_cpu", "fit_s", "epoch_work_s", "epoch_work_share", "once_work_s",
           "checkpoints", "evaluations", "load1"]
MODELS = ("gcn", "highway_net", "googlenet_torchvision")
SETTINGS = {"every epoch": ["--checkpoint-every", "epoch", "--eval-every", "epoch"],
            "auto": ["--checkpoint-every", "auto", "--eval-every", "auto"]}


def cases(a):
    """`(case, model, epochs, steps_per_epoch, extra flags)` of the run."""
    if a.tiny:
        return [("gcn karate, short epochs", "gcn", 3, 1, [])]
    out = [("gcn karate, short epochs", "gcn", 200, 1, []),
           ("gcn karate, long epochs", "gcn", 2, 100, ["--steps-per-epoch", "100"]),
           ("highway_net digits, short epochs", "highway_net", 40, 1,
            ["--steps-per-epoch", "1", "--batch-size", "32"]),
           ("highway_net digits, long epochs", "highway_net", 2, 20,
            ["--steps-per-epoch", "20", "--batch-size", "32"]),
           ("googlenet_torchvision digits 32x32, short epochs", "googlenet_torchvision", 20, 1,
            ["--steps-per-epoch", "1", "--batch-size", "16"]),
           ("googlenet_torchvision digits 32x32, long epochs", "googlenet_torchvision", 2, 10,
            ["--steps-per-epoch", "10", "--batch-size", "16"])]
    out = [c for c in out if c[1] in a.models]
    if a.planetoid:
        out.append((f"gcn {a.dataset}, short epochs", "gcn", 200, 1,
                    ["--planetoid", a.planetoid, "--dataset", a.dataset]))
    return out


@contextlib.contextmanager
def timed_methods(owner, names, totals):
    """Add the seconds spent in `owner.<name>` (outermost calls only) to `totals["work"]`, or
    to `totals["once"]` when the trainer (the first argument) is at its last step or the call
    is the first `evaluate` (its tracing)."""
    originals = {n: getattr(owner, n) for n in names}
    state = {"depth": 0, "evaluated": False, "moved": 0.0}

    def wrap(name, fn):
        def timed(*args, **kwargs):
            first = name == "evaluate" and not state["evaluated"]
            state["evaluated"] |= name == "evaluate"
            state["depth"] += 1
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                took = time.perf_counter() - t
                state["depth"] -= 1
                trainer = args[0]
                end = int(trainer.step.numpy()) >= trainer.total_steps
                if first and state["depth"] and not end:  # inside an epoch end: moved to once
                    totals["once"] += took
                    state["moved"] += took
                elif state["depth"] == 0:
                    if end or first:
                        totals["once"] += took
                    else:
                        totals["work"] += took - state["moved"]
                    state["moved"] = 0.0
        return timed

    for n, fn in originals.items():
        setattr(owner, n, wrap(n, fn))
    try:
        yield
    finally:
        for n, fn in originals.items():
            setattr(owner, n, fn)


def one_run(model, epochs, flags, setting, tmp):
    """Train once; returns the row's measured columns."""
    import keras

    from zoo.train.recipe import build_parser, train_task
    from zoo.train.trainer import Trainer

    argv = ["--epochs", str(epochs), "--quiet", "--no-export", "--run-dir", tmp, *flags,
            *SETTINGS[setting]]
    totals = {"work": 0.0, "once": 0.0, "fit": 0.0}
    fit = Trainer.fit

    def timed_fit(self):
        t = time.perf_counter()
        try:
            return fit(self)
        finally:
            totals["fit"] += time.perf_counter() - t

    keras.backend.clear_session()
    w0, c0 = time.perf_counter(), time.process_time()
    Trainer.fit = timed_fit
    try:
        with timed_methods(Trainer, ("_save", "_end_epoch", "_log_window", "evaluate"), totals):
            trainer = train_task(model, build_parser(model).parse_args(argv))
    finally:
        Trainer.fit = fit
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {"wall_s": wall, "cpu_s": cpu, "wall_per_cpu": wall / cpu, "fit_s": totals["fit"],
            "epoch_work_s": totals["work"], "epoch_work_share": totals["work"] / totals["fit"],
            "once_work_s": totals["once"],
            "checkpoints": trainer._checkpoints.count, "evaluations": trainer._evaluations.count,
            "load1": os.getloadavg()[0]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS),
                   help="the cases of these models (default: all)")
    p.add_argument("--planetoid", default=None, metavar="DIR",
                   help="folder of Kipf's Planetoid files: adds the GCN on --dataset")
    p.add_argument("--dataset", default="citeseer")
    p.add_argument("--tiny", action="store_true", help="3 one-step epochs of the GCN (the test's setting)")
    p.add_argument("--out", default=RESULTS)
    a = p.parse_args(argv)
    if a.runs < 1:
        p.error(f"--runs must be at least 1. Received: --runs {a.runs}")
    rows = []
    for case, model, epochs, spe, flags in cases(a):
        for run in range(1, a.runs + 1):
            order = list(SETTINGS) if run % 2 else list(SETTINGS)[::-1]
            for setting in order:
                with tempfile.TemporaryDirectory() as tmp:
                    row = {"case": case, "model": model, "epochs": epochs,
                           "steps_per_epoch": spe, "setting": setting, "run": run,
                           **one_run(model, epochs, flags, setting, os.path.join(tmp, "run"))}
                rows.append(row)
                print(f"{case} [{setting}] run {run}: wall {row['wall_s']:.1f} s, CPU "
                      f"{row['cpu_s']:.1f} s, per-epoch work {100 * row['epoch_work_share']:.1f}% "
                      f"of fit, {row['once_work_s']:.2f} s once ({row['checkpoints']} "
                      f"checkpoints, {row['evaluations']} evaluations), load {row['load1']:.1f}",
                      flush=True)
    write_csv(a.out, COLUMNS, rows)
    print(f"wrote {a.out}")
    return rows


if __name__ == "__main__":
    main()
