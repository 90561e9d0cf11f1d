"""The vanishing gradient of recurrent cells: at initialisation, and on the adding problem.

Two measurements over the four cells of the recurrent family (`cell="simple" | "gru" | "lstm" |
"peephole"`, the registered `simple_rnn_regressor`, `gru_regressor`, `lstm_regressor` and
`peephole_lstm_regressor` builders at the same size):

1. **Gradients at initialisation.** For each cell, the norm of the Jacobian of the last output of
   the recurrent layer, h_T, with respect to the input at step t, ||dh_T / dx_t|| (Frobenius,
   averaged over a batch of adding-problem inputs), for t = 1..T. Plotted on a log axis
   (`gradient_norms.png`); the table gives the ratio of the first step's norm to the last's.
2. **The adding problem** (Hochreiter & Schmidhuber 1997, `zoo.data.adding_problem`) at T = 100
   and 200: each cell trained with the same budget (same updates, batch, optimizer and learning
   rate, same data stream), the test mean squared error every `--eval-every` updates
   (`adding_curves.png`), and a table of the final test MSE against the constant guess 1 (MSE
   1/6 = 0.167).

Run from the repository root (TensorFlow backend; part 1 also runs on JAX):

    python benchmarks/vanishing_gradient.py                  # both parts
    python benchmarks/vanishing_gradient.py --skip-training  # part 1 only (about a minute)

Writes `benchmarks/results/vanishing_gradient.md` and the two PNGs beside it, and copies the PNGs
into `docs/` (`vanishing_gradient_norms.png`, `vanishing_gradient_adding.png`) for the manual's
recurrent page.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import zoo  # noqa: E402
from zoo.data import adding_problem  # noqa: E402
from zoo.models.recurrent import LAYER_PREFIX  # noqa: E402

CELLS = ("simple", "gru", "lstm", "peephole")
CONSTANT_GUESS_MSE = 1.0 / 6.0  # predicting 1: E[(a + b - 1)^2] for a, b ~ U(0, 1)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
DOCS_FIGURES = {"gradient_norms.png": "vanishing_gradient_norms.png",
                "adding_curves.png": "vanishing_gradient_adding.png"}


def recurrent_model(cell, steps, units, features=2, seed=0):
    """The regressor of `cell` at `units` (fixed seed) and the model from its input to the last
    output h_T of its recurrent layer."""
    keras.utils.set_random_seed(seed)
    model = zoo.peephole_lstm_regressor(input_shape=(steps, features), units=units, cell=cell)
    layer = model.get_layer(f"{LAYER_PREFIX[cell]}_1")
    return model, keras.Model(model.inputs, layer.output)


def step_gradient_norms(encoder, x):
    """||dh_T / dx_t|| for t = 1..T: the Frobenius norm of the Jacobian of the encoder's output
    (batch, units) with respect to each step of its input `x` (batch, T, features), one row per
    example; returns (batch, T).

    One backward pass (TensorFlow or JAX backend): the batch is repeated once per unit j, and the
    gradient of the sum over copies j of h_T[j] gives every row of the Jacobian at once."""
    backend = keras.backend.backend()
    x = np.asarray(x, "float32")
    batch = x.shape[0]
    units = int(encoder.outputs[0].shape[-1])
    tiled = np.tile(x, (units, 1, 1))  # copy j of the batch: rows j * batch ... (j + 1) * batch
    select = np.repeat(np.eye(units, dtype="float32"), batch, axis=0)  # (units * batch, units)
    if backend == "tensorflow":
        import tensorflow as tf

        xt = tf.constant(tiled)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            out = tf.reduce_sum(encoder(xt, training=False) * select)
        grads = tape.gradient(out, xt).numpy()
    elif backend == "jax":
        import jax

        tv = [v.value for v in encoder.trainable_variables]
        ntv = [v.value for v in encoder.non_trainable_variables]

        def out(xj):
            y, _ = encoder.stateless_call(tv, ntv, xj, training=False)
            return (y * select).sum()

        grads = np.asarray(jax.jit(jax.grad(out))(tiled))
    else:
        raise ValueError("step_gradient_norms runs on the TensorFlow or JAX backend. "
                         f"Received: backend={backend!r}")
    squares = np.square(grads).sum(axis=-1).reshape(units, batch, -1)
    return np.sqrt(squares.sum(axis=0))


def gradient_at_init(steps=100, units=32, examples=16, seed=0):
    """{cell: mean over examples of ||dh_T / dx_t||, t = 1..T} at initialisation (inputs: the
    adding problem, the same for every cell)."""
    x, _ = adding_problem(examples, steps, seed=seed + 1000)
    out = {}
    for cell in CELLS:
        _, encoder = recurrent_model(cell, steps, units, seed=seed)
        out[cell] = step_gradient_norms(encoder, x).mean(axis=0)
    return out


def train_adding(cell, steps, units, updates, batch_size, learning_rate, eval_every, test_size,
                 seed=0, log=print):
    """Trains the regressor of `cell` on the adding problem of length `steps` (a fresh batch per
    update, the same stream for every cell): returns [(update, test MSE)], starting at update 0,
    the seconds it took, and the first / last gradient ratio (`step_gradient_norms`) of the
    trained recurrent layer on 16 test inputs."""
    model, encoder = recurrent_model(cell, steps, units, seed=seed)
    model.compile(keras.optimizers.Adam(learning_rate, clipnorm=1.0), "mse")
    x_test, y_test = adding_problem(test_size, steps, seed=seed + 1)
    rng_seed = seed + 2

    def test_mse():
        pred = model.predict_on_batch(x_test)
        return float(np.mean((np.asarray(pred).reshape(-1) - y_test.reshape(-1)) ** 2))

    curve = [(0, test_mse())]
    start = time.perf_counter()
    x_all, y_all = adding_problem(updates * batch_size, steps, seed=rng_seed)
    for k in range(updates):
        sl = slice(k * batch_size, (k + 1) * batch_size)
        model.train_on_batch(x_all[sl], y_all[sl])
        if (k + 1) % eval_every == 0 or k + 1 == updates:
            curve.append((k + 1, test_mse()))
            log(f"  {cell:8s} T={steps} update {k + 1:5d}: test MSE {curve[-1][1]:.4f} "
                f"({time.perf_counter() - start:.0f} s)")
    seconds = time.perf_counter() - start
    n = step_gradient_norms(encoder, x_test[:16]).mean(axis=0)
    return curve, seconds, n[0] / n[-1]


def _machine():
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
            f"{platform.machine()}, {os.cpu_count()} CPU cores, load average {load} (1/5/15 min), "
            f"keras {keras.__version__}, backend {keras.backend.backend()}")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish_axes(ax, xlabel, ylabel, title):
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()


def _plot_gradients(norms, path):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for cell, n in norms.items():
        ax.semilogy(np.arange(1, len(n) + 1), n, label=cell)
    _finish_axes(ax, "input step t", "||dh_T / dx_t|| at initialisation",
                 f"Gradient of the last output w.r.t. each input step (T = {len(n)})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_curves(curves, path):
    plt = _pyplot()
    lengths = sorted({t for _, t in curves})
    fig, axes = plt.subplots(1, len(lengths), figsize=(6 * len(lengths), 4.2), squeeze=False)
    for ax, steps in zip(axes[0], lengths):
        for (cell, t), curve in curves.items():
            if t == steps:
                u, mse = zip(*curve)
                ax.semilogy(u, mse, label=cell)
        ax.axhline(CONSTANT_GUESS_MSE, color="k", ls="--", lw=1, label="constant guess (1/6)")
        _finish_axes(ax, "updates", "test MSE", f"Adding problem, T = {steps}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--units", type=int, default=32, help="state size of every cell")
    p.add_argument("--grad-steps", type=int, default=100, help="T of the gradient measurement")
    p.add_argument("--grad-examples", type=int, default=16)
    p.add_argument("--lengths", type=int, nargs="+", default=[100, 200],
                   help="adding-problem lengths T")
    p.add_argument("--updates", type=int, default=1200, help="training updates per cell and T")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=1e-2, help="Adam, clipnorm 1.0")
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--test-size", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-training", action="store_true")
    p.add_argument("--out", default=RESULTS, help="folder of the table and the figures")
    p.add_argument("--docs", default=os.path.join(ROOT, "docs"),
                   help="folder the figures are copied into ('' for none)")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    lines = ["# The vanishing gradient: plain RNN, GRU, LSTM, peephole LSTM", "",
             "Written by `python benchmarks/vanishing_gradient.py "
             + " ".join(argv if argv is not None else sys.argv[1:]) + "`.", ""]

    t0 = time.perf_counter()
    norms = gradient_at_init(args.grad_steps, args.units, args.grad_examples, args.seed)
    _plot_gradients(norms, os.path.join(args.out, "gradient_norms.png"))
    lines += [f"## Gradients at initialisation (T = {args.grad_steps}, {args.units} units)", "",
              _machine() + f"; {time.perf_counter() - t0:.0f} s.", "",
              "| cell | ‖dh_T/dx_1‖ | ‖dh_T/dx_T‖ | ratio first / last |",
              "| --- | ---: | ---: | ---: |"]
    for cell, n in norms.items():
        lines.append(f"| {cell} | {n[0]:.3g} | {n[-1]:.3g} | {n[0] / n[-1]:.3g} |")
        print(f"{cell:8s} first/last ratio {n[0] / n[-1]:.3g}  (first {n[0]:.3g}, last {n[-1]:.3g})",
              flush=True)
    lines += ["", "![gradient norms](gradient_norms.png)", ""]

    if not args.skip_training:
        curves, seconds, trained_ratio = {}, {}, {}
        t0 = time.perf_counter()
        for steps in args.lengths:
            for cell in CELLS:
                curves[cell, steps], seconds[cell, steps], trained_ratio[cell, steps] = train_adding(
                    cell, steps, args.units, args.updates, args.batch_size, args.learning_rate,
                    args.eval_every, args.test_size, args.seed, log=lambda s: print(s, flush=True))
        _plot_curves(curves, os.path.join(args.out, "adding_curves.png"))
        lines += [f"## The adding problem ({args.units} units, {args.updates} updates of "
                  f"{args.batch_size} fresh examples, Adam {args.learning_rate:g} with clipnorm "
                  f"1.0, test set of {args.test_size})", "",
                  _machine() + f"; {time.perf_counter() - t0:.0f} s in all.", "",
                  "| cell | T | test MSE at start | final test MSE | best test MSE | "
                  "final / constant guess (0.167) | gradient ratio first / last, trained | "
                  "seconds |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for (cell, steps), curve in curves.items():
            mse = [m for _, m in curve]
            lines.append(f"| {cell} | {steps} | {mse[0]:.4f} | {mse[-1]:.4f} | {min(mse):.4f} | "
                         f"{mse[-1] / CONSTANT_GUESS_MSE:.3f} | {trained_ratio[cell, steps]:.3g} | "
                         f"{seconds[cell, steps]:.0f} |")
        lines += ["", "![adding problem learning curves](adding_curves.png)", ""]
    for name, doc_name in DOCS_FIGURES.items():
        if args.docs and os.path.exists(os.path.join(args.out, name)):
            shutil.copy(os.path.join(args.out, name), os.path.join(args.docs, doc_name))
    path = os.path.join(args.out, "vanishing_gradient.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
