"""The peephole LSTM the way a user trains it: a small model through `fit`, through the zoo
trainer's step and through `predict`, and the layer alone, against the same model with
`keras.layers.LSTM`.

The model: `Input(100, 64) -> recurrent layer (256 units) -> Dense(10)`, batch 64, trained on
sparse categorical cross-entropy with Adam, compiled with Keras' defaults (`jit_compile="auto"`:
off on a CPU-only TensorFlow, on with JAX). Three implementations are built alike in one
process: the zoo model (`zoo.layers.PeepholeLSTM`, `fast_path="auto"`), the peer (the same model
with `keras.layers.LSTM`) and a second copy of the peer timed as if it were a contender (the A/A
control: its ratio shows how far from 1 noise alone moves a ratio on this machine).

Settings (`--modes`):

- `fit`: `model.fit` on an in-memory dataset of `--steps` batches (one epoch, `verbose=0`); time
  per step;
- `trainer`: the zoo trainer's step (`zoo.train.Trainer`: the task's `train_step`, here
  `zoo.tasks.sequence_classification`, in a `tf.function`, XLA only on an accelerator, as the
  trainer's `jit_compile="auto"` does); TensorFlow only, like the trainer;
- `predict`: `model.predict` of the same `--steps` batches; time per batch;
- `layer`: forward+backward of the layer alone (`sum(layer(x))`, gradients of its weights) in one
  `tf.function` / `jax.jit`;
- `layer_fwd`: the forward pass of the layer alone (inference, `training=False`).

Method (that of `zoo bench`, `zoo.bench.measure`): after `--warmup` untimed rounds, every round
times each implementation once per setting, in a fresh random order; the ratio of a round is the
peer's time over the implementation's (above 1: faster than the peer), measured moments apart so
that slow drifts of a shared machine's load cancel; the table gives its median over rounds with a
95% bootstrap interval (`median_ci`).

Run from the repository root:

    nice python benchmarks/peephole_lstm_training.py                       # TensorFlow
    KERAS_BACKEND=jax nice python benchmarks/peephole_lstm_training.py     # JAX
    python benchmarks/peephole_lstm_training.py --smoke --no-write          # seconds; structure

Writes `benchmarks/results/peephole_lstm_training.md` (one section per backend, replaced on each
run; `--out` another file).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from zoo.bench.measure import median_ci  # noqa: E402
from zoo.layers import PeepholeLSTM  # noqa: E402

ZOO = "PeepholeLSTM (zoo)"
PEER = "keras.layers.LSTM (peer)"
TWIN = "keras.layers.LSTM (A/A twin)"
MODES = ("fit", "trainer", "predict", "layer", "layer_fwd")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                       "peephole_lstm_training.md")
COLUMNS = ("setting", "implementation", "ms per step", "ratio (peer / this)", "95% CI")


def build_model(kind, steps, features, units, classes=10):
    """`Input(steps, features) -> PeepholeLSTM or LSTM (units) -> Dense(classes)`."""
    layer = PeepholeLSTM(units) if kind == ZOO else keras.layers.LSTM(units)
    inputs = keras.Input((steps, features))
    outputs = keras.layers.Dense(classes)(layer(inputs))
    return keras.Model(inputs, outputs)


def _layer_fns(model, x, forward_only):
    """Forward(+backward) of the model's recurrent layer alone, compiled by the backend."""
    layer = model.layers[1]
    if keras.backend.backend() == "jax":
        import jax

        def values():  # read at each call: `fit` donates (deletes) the previous buffers
            return ([v.value for v in layer.trainable_variables],
                    [v.value for v in layer.non_trainable_variables])

        if forward_only:
            f = jax.jit(lambda tv, ntv, x: layer.stateless_call(tv, ntv, x, training=False)[0])
            return lambda: np.asarray(f(*values(), x))

        def loss(tv, ntv, x):
            return layer.stateless_call(tv, ntv, x, training=True)[0].sum()

        g = jax.jit(jax.grad(loss))
        return lambda: [np.asarray(a) for a in g(*values(), x)]

    import tensorflow as tf

    weights = layer.trainable_variables
    if forward_only:
        f = tf.function(lambda x: layer(x, training=False))
        return lambda: f(x).numpy()

    @tf.function
    def g(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x, training=True))
        return tape.gradient(loss, weights)

    return lambda: [a.numpy() for a in g(x)]


def _trainer_fn(model, x, y):
    """The zoo trainer's step on `model`: the task's `train_step` in a `tf.function`, with XLA
    only on an accelerator (the trainer's `jit_compile="auto"`), on the default strategy."""
    import tensorflow as tf

    from zoo.tasks.sequence_classification import SequenceClassification
    from zoo.train.optimizers import make_optimizer

    task = SequenceClassification()
    opts = {"optimizer": make_optimizer("adam", 1e-3)}
    opts["optimizer"].build(model.trainable_variables)
    on_accelerator = bool(tf.config.list_logical_devices("GPU")
                          or tf.config.list_logical_devices("TPU"))
    step = tf.function(lambda batch, denom: task.train_step(model, opts, batch, denom, 1),
                       jit_compile=True if on_accelerator else None, reduce_retracing=True)
    batch = (tf.constant(x), tf.constant(y))
    denom = tf.constant(float(len(x)))

    def run():
        out = step(batch, denom)
        return float(out["loss_sum"])

    return run


def make_calls(impls, modes, data, batch):
    """`{(mode, name): fn}`: one timed unit of each setting (`fit`/`predict`: one call over all
    the batches of `data`; the others: one batch)."""
    xs, ys = data
    x, y = xs[:batch], ys[:batch]
    calls = {}
    for name, model in impls.items():
        for mode in modes:
            if mode == "fit":
                fn = (lambda m: lambda: m.fit(xs, ys, batch_size=batch, epochs=1, verbose=0,
                                              shuffle=False))(model)
            elif mode == "predict":
                fn = (lambda m: lambda: m.predict(xs, batch_size=batch, verbose=0))(model)
            elif mode == "trainer":
                fn = _trainer_fn(model, x, y)
            else:
                fn = _layer_fns(model, x, forward_only=mode == "layer_fwd")
            calls[(mode, name)] = fn
    return calls


def run(modes, batch=64, steps=100, features=64, units=256, n_batches=4, rounds=15, warmup=2,
        seed=0, progress=None):
    """Per-step times `{(mode, name): [seconds per step, one per round]}` and the resolved
    `jit_compile` of `fit`."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((n_batches * batch, steps, features)).astype("float32")
    ys = rng.integers(0, 10, size=(n_batches * batch,)).astype("int32")
    impls = {}
    for name in (ZOO, PEER, TWIN):
        model = build_model(name, steps, features, units)
        model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True))
        impls[name] = model
    jit = impls[ZOO].jit_compile
    calls = make_calls(impls, modes, (xs, ys), batch)
    per_call = {m: (n_batches if m in ("fit", "predict") else 1) for m in modes}
    names = list(impls)
    order_rng = np.random.default_rng(seed + 1)
    times = {key: [] for key in calls}
    for r in range(warmup + rounds):
        for mode in modes:
            for i in order_rng.permutation(len(names)):
                fn = calls[(mode, names[i])]
                t0 = time.perf_counter()
                fn()
                t = (time.perf_counter() - t0) / per_call[mode]
                if r >= warmup:
                    times[(mode, names[i])].append(t)
        if progress is not None:
            progress(f"round {r + 1}/{warmup + rounds}{' (warm-up)' if r < warmup else ''}")
    return times, jit


def rows(times, modes):
    """One row per setting and implementation: median ms per step, and the paired ratio of the
    peer's time to this implementation's with its 95% bootstrap interval."""
    out = []
    ci_rng = np.random.default_rng(0)
    for mode in modes:
        peer = np.asarray(times[(mode, PEER)])
        for name in (ZOO, TWIN, PEER):
            t = np.asarray(times[(mode, name)])
            row = {"setting": mode, "implementation": name,
                   "ms per step": 1e3 * float(np.median(t))}
            if name != PEER:
                row["ratio"], row["ci_low"], row["ci_high"] = median_ci(peer / t, rng=ci_rng)
            out.append(row)
    return out


def _load():
    try:
        return " / ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover
        return "n/a"


def section(table_rows, *, backend, jit, args, command, load_start, load_end):
    """The Markdown section of one backend."""
    import importlib

    versions = [f"keras {keras.__version__}"]
    versions.append({"tensorflow": "tensorflow", "jax": "jax"}.get(backend, backend) + " "
                    + getattr(importlib.import_module(backend), "__version__", "?"))
    lines = [
        f"## {backend} backend",
        "",
        f"`{command}`",
        "",
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, load average "
        f"{load_start} at the start, {load_end} at the end; {', '.join(versions)}. "
        f"Model `Input({args.length}, {args.features}) -> layer({args.units}) -> Dense(10)`, "
        f"batch {args.batch}; `fit`/`predict` over {args.batches} batches per call; "
        f"`compile()` defaults (`jit_compile=\"auto\"` resolved to {jit}); {args.rounds} rounds "
        f"after {args.warmup} warm-up rounds. Ratio = peer time / this implementation's time in "
        f"the same round (above 1: faster than keras.layers.LSTM), median over rounds, 95% "
        f"bootstrap interval.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for r in table_rows:
        if "ratio" in r:
            ratio, ci = f"{r['ratio']:.3f}", f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        else:
            ratio, ci = "1 (reference)", ""
        lines.append(f"| {r['setting']} | {r['implementation']} | {r['ms per step']:.2f} | "
                     f"{ratio} | {ci} |")
    return "\n".join(lines) + "\n"


def write(text, backend, path):
    """Replace this backend's section of `path`, keeping the other backend's."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    header = ("# PeepholeLSTM in a model vs keras.layers.LSTM: fit, trainer, predict, layer\n\n"
              "Written by `benchmarks/peephole_lstm_training.py`.\n\n")
    sections = {}
    if os.path.exists(path):
        for part in open(path).read().split("\n## ")[1:]:
            sections[part.split(" ", 1)[0]] = "## " + part.rstrip("\n") + "\n"
    sections[backend] = text
    with open(path, "w") as fh:
        fh.write(header + "\n".join(sections[k] for k in sorted(sections)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--modes", default=",".join(MODES),
                   help=f"comma-separated settings, of {', '.join(MODES)}")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--length", type=int, default=100, help="time steps")
    p.add_argument("--features", type=int, default=64)
    p.add_argument("--units", type=int, default=256)
    p.add_argument("--batches", type=int, default=4, help="batches per fit/predict call")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--smoke", action="store_true",
                   help="tiny settings (2 rounds, batch 2, 5 steps, 8 units): checks the script")
    p.add_argument("--out", default=RESULTS)
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.smoke:
        args.rounds, args.warmup, args.batch, args.length = 2, 1, 2, 5
        args.features, args.units, args.batches = 3, 8, 2
    modes = [m for m in args.modes.split(",") if m]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        p.error(f"unknown setting(s) {unknown}; choose from {', '.join(MODES)}")
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        p.error(f"supports the tensorflow and jax backends, not {backend}")
    if backend != "tensorflow" and "trainer" in modes:
        modes.remove("trainer")  # the zoo trainer is TensorFlow only (tf.distribute)
    command = "python benchmarks/peephole_lstm_training.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    if backend == "jax":
        command = "KERAS_BACKEND=jax " + command
    load_start = _load()
    progress = None if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    times, jit = run(modes, args.batch, args.length, args.features, args.units, args.batches,
                     args.rounds, args.warmup, progress=progress)
    text = section(rows(times, modes), backend=backend, jit=jit, args=args,
                   command=command.strip(), load_start=load_start, load_end=_load())
    print(text)
    if not args.no_write:
        write(text, backend, args.out)
    return text


if __name__ == "__main__":
    main()
