"""The zoo trainer's training step against Keras `fit` running the same step, per family.

What a user asks: does training through `zoo train` (the distributed trainer, `zoo.train.Trainer`)
cost more per step than `model.fit`? Both run here on the same model (built alike), the same
data pipeline (`zoo.data.train_pipeline` over the task's embedded data, `recipe_data`) and the
same update: the task's own `train_step` (loss, auxiliary heads, label smoothing, a GAN's two
optimizers), which Keras `fit` runs through a thin `keras.Model` wrapper whose `train_step` calls
it. So the ratio measures the loops, not the mathematics: the trainer's tf.distribute dataset and
step, its per-step metrics, NaN check and callbacks, against Keras' `fit` loop.

Method: rounds alternate the two (in random order), each a fresh model trained for `--warmup`
steps then `--steps` timed steps, read from per-step timestamps (the trainer's `step_callbacks`,
Keras' `on_train_batch_end`), so tracing, evaluation and checkpoints are outside the timing.
A round's ratio is fit's median step time over the trainer's (above 1: the trainer is faster);
the table gives the median over rounds and a 95% bootstrap interval (`zoo.bench.measure`), and
an A/A row (fit against fit) as the control. XLA: each loop's own default (`--jit default`:
the trainer compiles with XLA on GPUs and TPUs only, Keras `fit`'s `jit_compile="auto"` leaves
it off on a CPU-only TensorFlow; the table's last column says what each ran), or both `off` /
both `on`.

    python benchmarks/trainer_vs_fit.py                          # one model per family
    python benchmarks/trainer_vs_fit.py googlenet_bn --jit off --rounds 5

Writes `benchmarks/results/trainer_vs_fit.md` (`--out`).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

# one registered model per family with a supervised task (the registry's small test configuration;
# DCGAN's recipe trains a generator-discriminator pair its task assembles, not one registered model)
DEFAULT_MODELS = ["googlenet_bn", "resnet50", "gated_resnet50", "peephole_lstm_classifier",
                  "gru_classifier", "transformer_classifier", "transformer_base", "da_rnn",
                  "gcn"]
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                       "trainer_vs_fit.md")


def build(name, image_size, seed):
    """`(spec, task, source, model_fn)` for registered model `name` on its task's embedded data."""
    import keras

    from zoo.bench.measure import builder_arguments
    from zoo.core.registry import create_model, get_spec
    from zoo.tasks import task_for
    from zoo.tuning.trial import recipe_data

    spec = get_spec(name)
    kwargs = builder_arguments(name, image_size)
    base = {"input_shape": kwargs["input_shape"]} if "input_shape" in kwargs else {}
    source, over = recipe_data(spec, base, eval_examples=64, num_train=512, seed=seed)
    args = {**kwargs, **over}

    def model_fn():
        keras.utils.set_random_seed(seed)
        return create_model(name, **args)

    return spec, task_for(spec), source, model_fn


def fit_model(task, inner, make_optimizer):
    """`inner` wrapped so that Keras `fit` runs `task.train_step` on it."""
    import keras

    optimizers = task.build_optimizers(inner, make_optimizer)

    class TaskStep(keras.Model):
        def __init__(self):
            super().__init__()
            self.inner = inner

        def call(self, x, training=False):
            return self.inner(x, training=training)

        def train_step(self, data):
            denominator = task.denominator(data)
            return task.train_step(self.inner, optimizers, data, denominator, 1)

    model = TaskStep()
    return model, optimizers


def time_fit(task, source, model_fn, batch, warmup, steps, jit, seed):
    import keras

    from zoo import data as zdata
    from zoo.train.optimizers import make_optimizer

    inner = model_fn()
    model, optimizers = fit_model(task, inner, lambda: make_optimizer("adam", 1e-4))
    model.compile(optimizer=next(iter(optimizers.values())),
                  jit_compile="auto" if jit == "default" else jit == "on")
    stamps = []

    class Stamp(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            stamps.append(time.perf_counter())

    ds = zdata.train_pipeline(source, batch, seed=seed)
    model.fit(ds, steps_per_epoch=warmup + steps, epochs=1, verbose=0, callbacks=[Stamp()])
    xla = bool(model.jit_compile)
    keras.backend.clear_session()
    return statistics.median(np.diff(stamps[warmup - 1:])), xla


def time_trainer(task, source, model_fn, batch, warmup, steps, jit, seed):
    import keras

    from zoo.train.config import TrainConfig
    from zoo.train.trainer import Trainer

    stamps = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(name="bench", epochs=1, steps_per_epoch=warmup + steps,
                          batch_size=batch, learning_rate=1e-4, optimizer="adam",
                          jit_compile="auto" if jit == "default" else jit, run_dir=tmp,
                          checkpoint_every=0, keep_checkpoints=1, progress=False, export=False,
                          eval_every_epoch=False, log_every=10 ** 6, seed=seed)
        trainer = Trainer(task, source, model_fn, cfg,
                          step_callbacks=[lambda *_: stamps.append(time.perf_counter())])
        trainer.fit()
        xla = bool(trainer.jit)
    keras.backend.clear_session()
    return statistics.median(np.diff(stamps[warmup - 1:])), xla


def bench(name, a):
    from zoo.bench.measure import median_ci

    _, task, source, model_fn = build(name, a.image_size, a.seed)
    runs = {"trainer": time_trainer, "fit": time_fit, "fit (A/A)": time_fit}
    times = {k: [] for k in runs}
    xla = {}
    rng = np.random.default_rng(a.seed)
    for r in range(a.rounds):
        for k in rng.permutation(list(runs)):
            t, xla[k] = runs[k](task, source, model_fn, a.batch, a.warmup, a.steps, a.jit, a.seed)
            times[k].append(t)
        print(f"  {name} round {r + 1}/{a.rounds}: " + ", ".join(
            f"{k} {times[k][-1] * 1e3:.1f} ms" for k in runs), flush=True)
    rows = []
    for k, ref in (("fit", "trainer"), ("fit (A/A)", "fit")):
        ratio, lo, hi = median_ci([f / t for f, t in zip(times[k], times[ref])])
        rows.append((name, k, ref, statistics.median(times[ref]) * 1e3,
                     statistics.median(times[k]) * 1e3, ratio, lo, hi, xla[ref], xla[k]))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="*", default=DEFAULT_MODELS)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--jit", choices=("default", "off", "on"), default="default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=RESULTS)
    a = p.parse_args(argv)
    if a.warmup < 1 or a.steps < 2 or a.rounds < 1 or a.batch < 1:
        p.error("--warmup must be at least 1, --steps at least 2, --rounds and --batch at "
                "least 1")
    import keras

    rows = []
    for name in a.models:
        rows += bench(name, a)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    lines = [
        "| model | timed | against | its step ms | timed step ms | speedup of the first "
        "[95% CI] | XLA (first, timed) |", "| --- | --- | --- | ---: | ---: | --- | --- |"]
    for name, k, ref, t_ref, t_k, ratio, lo, hi, x_ref, x_k in rows:
        lines.append(f"| {name} | {k} | {ref} | {t_ref:.1f} | {t_k:.1f} | {ratio:.2f} "
                     f"[{lo:.2f}, {hi:.2f}] | {'on' if x_ref else 'off'}, "
                     f"{'on' if x_k else 'off'} |")
    head = (f"`python benchmarks/trainer_vs_fit.py {' '.join(sys.argv[1:])}`\n\n"
            f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
            f"{platform.machine()}, {os.cpu_count()} CPU cores, load average {load}, keras "
            f"{keras.__version__} ({keras.backend.backend()}), batch {a.batch}, images "
            f"{a.image_size}x{a.image_size}, {a.warmup} warm-up and {a.steps} timed steps a "
            f"run, {a.rounds} rounds, XLA: {a.jit}. Speedup: the other loop's median step time "
            f"over the first's, per round (above 1: the first is faster).\n\n")
    text = head + "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
