"""Each task's default input pipeline alone against the training step of its smallest registered
model (issue 31, point 3): does the data keep up?

For each task kind, the registered model with the fewest parameters (its stored card) is set up
as `zoo train NAME` sets it up with the recipe's defaults (data, batch size, augmentation:
`zoo.train.recipe.build_parser`, the task's `make_source` and `model_fn`), and the trainer
(`zoo.train.Trainer`) builds its distributed training dataset. Then, in the same process:

* `pipeline_eps`: examples per second of that dataset alone, read as the trainer reads it (a
  compiled function taking the next batch of the distributed iterator, called once a step)
  without the model, after `--warmup` batches, over `--batches` batches;
* `step_eps`: examples per second of the trainer's compiled training step reading a fresh
  iterator of the same dataset, after `--warmup` steps, over `--steps` steps;
* `ratio`: `pipeline_eps / step_eps`; the goal is 2 or more (`ok`).

`--runs` repeats each task's measurement (one row each, `run`), the tasks taking turns.

    python benchmarks/pipeline_throughput.py
    python benchmarks/pipeline_throughput.py --tasks node_classification forecasting --tiny --runs 1

Writes `benchmarks/results/pipeline_throughput.csv` (`--out`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from zoo.bench.report import write_csv  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                       "pipeline_throughput.csv")
COLUMNS = ["task", "model", "params", "pipeline", "batch_size", "run", "pipeline_eps", "step_eps",
           "ratio", "ok", "load1"]
# what each task's default pipeline reads (the recipe's embedded data)
PIPELINES = {
    "image_classification": "digits upsampled to 32x32 RGB, random-crop augmentation",
    "feature_classification": "digits flattened to 64 features",
    "text_classification": "the digits as 64 grey-level tokens",
    "translation": "sequence reversal (token pairs)",
    "forecasting": "windows of the synthetic driving series",
    "sequence_classification": "the digits as 8 rows of 8 features",
    "sequence_regression": "the adding problem",
    "node_classification": "one whole graph (karate club)",
}
TINY_TASKS = ["node_classification", "sequence_regression"]


def smallest_models(tasks):
    """`{task: (model, params)}`: the registered model of each task with the fewest parameters."""
    from zoo.core.registry import get_spec, list_models, stored_card

    best = {}
    for name in list_models():
        task = get_spec(name).task
        if task not in tasks:
            continue
        params = stored_card(name)["params"]
        if task not in best or params < best[task][1]:
            best[task] = (name, params)
    return best


def measure(name, a, tmp):
    """`(pipeline_eps, step_eps, batch)` of `zoo train name`'s defaults."""
    import keras
    import tensorflow as tf

    from zoo.core.registry import get_spec
    from zoo.tasks import task_class
    from zoo.train.recipe import build_parser, config_from_args
    from zoo.train.trainer import Trainer

    keras.backend.clear_session()
    spec = get_spec(name)
    argv = ["--quiet", "--no-export", "--run-dir", tmp]
    if a.tiny:
        argv += ["--batch-size", "2"] if spec.task != "node_classification" else []
    args = build_parser(name).parse_args(argv)
    task = task_class(spec.task).from_args(args)
    source, fixed = task.make_source(spec, args)
    model_fn = task.model_fn(spec, args, source, fixed)
    cfg = config_from_args(args, name)
    cfg.steps_per_epoch = cfg.steps_per_epoch or 10 ** 6  # an endless stream
    trainer = Trainer(task, source, model_fn, cfg)
    trainer._setup()
    strategy = trainer.strategy

    @tf.function
    def next_batch(iterator):  # the trainer's step without the model
        first = tf.nest.flatten(next(iterator))[0]
        return tf.shape(strategy.experimental_local_results(first)[0])[0]

    try:
        batch = cfg.batch_size
        it = iter(trainer._dataset(0))
        for _ in range(a.warmup):
            int(next_batch(it))
        t = time.perf_counter()
        for _ in range(a.batches):
            int(next_batch(it))
        pipeline_eps = a.batches * batch / (time.perf_counter() - t)
        train_function = trainer._make_train_function()
        it = iter(trainer._dataset(0))
        for _ in range(a.warmup):
            {k: float(v) for k, v in train_function(it).items()}
        t = time.perf_counter()
        for _ in range(a.steps):
            {k: float(v) for k, v in train_function(it).items()}  # waits for the step
        step_eps = a.steps * batch / (time.perf_counter() - t)
    finally:
        if trainer._lock is not None:
            trainer._lock.release()
    return pipeline_eps, step_eps, batch


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", nargs="*", default=list(PIPELINES), choices=list(PIPELINES))
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batches", type=int, default=50)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--tiny", action="store_true",
                   help="batch 2, the test's setting (with --tasks: the given ones, else "
                        f"{' and '.join(TINY_TASKS)})")
    p.add_argument("--out", default=RESULTS)
    a = p.parse_args(argv)
    if a.warmup < 1 or a.batches < 1 or a.steps < 1 or a.runs < 1:
        p.error("--warmup, --batches, --steps and --runs must be at least 1")
    tasks = a.tasks if (a.tasks != list(PIPELINES) or not a.tiny) else TINY_TASKS
    rows = []
    models = sorted(smallest_models(tasks).items())
    for run in range(1, a.runs + 1):
        for task, (name, params) in models:
            with tempfile.TemporaryDirectory() as tmp:
                pipeline_eps, step_eps, batch = measure(name, a, os.path.join(tmp, "run"))
            ratio = pipeline_eps / step_eps
            rows.append({"task": task, "model": name, "params": params,
                         "pipeline": PIPELINES[task], "batch_size": batch, "run": run,
                         "pipeline_eps": pipeline_eps, "step_eps": step_eps, "ratio": ratio,
                         "ok": ratio >= 2.0, "load1": os.getloadavg()[0]})
            print(f"{task} ({name}, batch {batch}) run {run}: pipeline {pipeline_eps:.1f} "
                  f"examples/s, step {step_eps:.1f} examples/s, ratio {ratio:.1f}", flush=True)
    write_csv(a.out, COLUMNS, rows)
    print(f"wrote {a.out}")
    return rows


if __name__ == "__main__":
    main()
