"""Forward+backward time of `zoo.layers.PeepholeLSTM` against `keras.layers.LSTM`.

Same sizes for both (batch 64, 100 steps, 64 input features, 256 units), same backend, same
process. After a warm-up, every round times each implementation once, in a rotating order so that
drifting load on a shared machine falls on all of them alike; the table gives the median time of
each and its ratio to the plain LSTM (ours / peer: below 1.0 means faster than the plain LSTM).

Implementations timed on TensorFlow:

- `keras.layers.LSTM` (the peer; on CPU it runs keras' generic `tf.while_loop`, cuDNN needs a GPU);
- `PeepholeLSTM(fast_path="auto")` = `"graph"`: fused loops with a hand-written backward pass;
- `PeepholeLSTM(fast_path="xla")`: the same loops compiled with XLA;
- `PeepholeLSTM(fast_path="none")`: the generic `keras.ops.scan` loop over hoisted projections
  (what JAX and torch run);
- `RNN(PeepholeLSTMCell)`: the naive cell under `keras.layers.RNN` (projection at every step);
- `tf.raw_ops.BlockLSTMV2`: TensorFlow's fused peephole LSTM kernel with the same weights.

On JAX the script times the plain LSTM, `PeepholeLSTM` (its fused loops with a hand-written
`jax.custom_vjp` backward pass, and the generic `keras.ops.scan` loop) and the naive cell, each
in one `jax.jit`.

Run from the repository root:

    python benchmarks/peephole_lstm.py                      # TensorFlow, writes the table
    KERAS_BACKEND=jax python benchmarks/peephole_lstm.py    # JAX

Writes `benchmarks/results/peephole_lstm.md` (one section per backend, rewritten on each run).
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

from zoo.layers import PeepholeLSTM, PeepholeLSTMCell  # noqa: E402

BATCH, STEPS, FEATURES, UNITS = 64, 100, 64, 256
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "peephole_lstm.md")


def _tf_candidates(x, which):
    import tensorflow as tf

    def grad_fn(layer):
        layer.build((BATCH, STEPS, FEATURES))
        weights = layer.trainable_variables

        @tf.function
        def f(x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(layer(x, training=True))
            return tape.gradient(loss, weights)

        return f

    def block_lstm():
        cell = PeepholeLSTMCell(UNITS)
        cell.build((BATCH, FEATURES))
        weights = cell.trainable_variables

        @tf.function
        def f(x):
            with tf.GradientTape() as tape:
                zeros = tf.zeros((BATCH, UNITS))
                out = tf.raw_ops.BlockLSTMV2(
                    seq_len_max=tf.cast(tf.shape(x)[1], tf.int64),
                    x=tf.transpose(x, (1, 0, 2)),
                    cs_prev=zeros,
                    h_prev=zeros,
                    # BlockLSTMV2 uses the gate order i, f, c, o too (checked against NumPy).
                    w=tf.concat([cell.kernel, cell.recurrent_kernel], axis=0),
                    wci=cell.input_gate_peephole_weights,
                    wcf=cell.forget_gate_peephole_weights,
                    wco=cell.output_gate_peephole_weights,
                    b=cell.bias,
                    cell_clip=0.0,
                    use_peephole=True,
                )
                loss = tf.reduce_sum(out[6][-1])
            return tape.gradient(loss, weights)

        return f

    makers = {
        "keras.layers.LSTM (peer)": lambda: grad_fn(keras.layers.LSTM(UNITS)),
        'PeepholeLSTM fast_path="auto" (= "graph")': lambda: grad_fn(PeepholeLSTM(UNITS)),
        'PeepholeLSTM fast_path="xla"': lambda: grad_fn(PeepholeLSTM(UNITS, fast_path="xla")),
        'PeepholeLSTM fast_path="none" (keras.ops.scan)': lambda: grad_fn(
            PeepholeLSTM(UNITS, fast_path="none")
        ),
        "RNN(PeepholeLSTMCell), naive": lambda: grad_fn(
            keras.layers.RNN(PeepholeLSTMCell(UNITS))
        ),
        "tf.raw_ops.BlockLSTMV2 (peepholes)": block_lstm,
    }
    out = {}
    for i, (name, make) in enumerate(makers.items()):
        if which is None or i in which:
            f = make()
            out[name] = lambda f=f: [g.numpy() for g in f(x)]
    return out


def _jax_candidates(x, which):
    import jax

    def grad_fn(layer):
        layer.build((BATCH, STEPS, FEATURES))
        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss(tv, x):
            y, _ = layer.stateless_call(tv, non_trainable, x, training=True)
            return y.sum()

        g = jax.jit(jax.grad(loss))
        return lambda: [np.asarray(a) for a in g(trainable, x)]

    makers = {
        "keras.layers.LSTM (peer)": lambda: grad_fn(keras.layers.LSTM(UNITS)),
        'PeepholeLSTM fast_path="auto" (fused, jax.custom_vjp)': lambda: grad_fn(
            PeepholeLSTM(UNITS)
        ),
        'PeepholeLSTM fast_path="none" (keras.ops.scan)': lambda: grad_fn(
            PeepholeLSTM(UNITS, fast_path="none")
        ),
        "RNN(PeepholeLSTMCell), naive": lambda: grad_fn(
            keras.layers.RNN(PeepholeLSTMCell(UNITS))
        ),
    }
    return {
        name: make()
        for i, (name, make) in enumerate(makers.items())
        if which is None or i in which
    }


def run(rounds=15, warmup=3, which=None):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).standard_normal((BATCH, STEPS, FEATURES)).astype("float32")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        cands = _tf_candidates(x, which)
    elif backend == "jax":
        cands = _jax_candidates(x, which)
    else:
        raise SystemExit(f"benchmarks/peephole_lstm.py supports tensorflow and jax, not {backend}")
    names = list(cands)
    for name in names:
        for _ in range(warmup):
            cands[name]()
    times = {n: [] for n in names}
    cpu = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            c0, t0 = time.process_time(), time.perf_counter()
            cands[name]()
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return backend, times, cpu


def table(backend, times, cpu, rounds):
    peer = next(n for n in times if "(peer)" in n)
    med_peer = float(np.median(times[peer]))
    try:
        load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover
        load = "n/a"
    lines = [
        f"## {backend} backend",
        "",
        f"Forward+backward of one batch ({BATCH} x {STEPS} steps x {FEATURES} features, "
        f"{UNITS} units), median of {rounds} rounds after warm-up, rotating order, same process. "
        f"Ratio = time / time of keras.layers.LSTM (at most 1.0: no slower than the plain LSTM). "
        f"Paired ratio = median over rounds of (time / peer time in the same round). "
        f"CPU = process CPU time (all threads), less sensitive to other processes on a shared "
        f"machine.",
        "",
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
        f"load average {load}, keras {keras.__version__}.",
        "",
        "| implementation | median ms | ratio | paired ratio | CPU ms | CPU ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    cpu_peer = float(np.median(cpu[peer]))
    for name, ts in times.items():
        med = float(np.median(ts))
        paired = float(np.median(np.asarray(ts) / np.asarray(times[peer])))
        c = float(np.median(cpu[name]))
        lines.append(
            f"| {name} | {1e3 * med:.1f} | {med / med_peer:.3f} | {paired:.3f} "
            f"| {1e3 * c:.1f} | {c / cpu_peer:.3f} |"
        )
    return "\n".join(lines) + "\n"


def write(section, backend):
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    header = (
        "# PeepholeLSTM vs keras.layers.LSTM\n\n"
        "Written by `benchmarks/peephole_lstm.py`.\n\n"
    )
    sections = {}
    if os.path.exists(RESULTS):
        text = open(RESULTS).read()
        for part in text.split("\n## ")[1:]:
            name = part.split(" ", 1)[0]
            sections[name] = "## " + part.rstrip("\n") + "\n"
    sections[backend] = section
    with open(RESULTS, "w") as fh:
        fh.write(header + "\n".join(sections[k] for k in sorted(sections)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--only", type=str, default=None,
                   help="comma-separated indices of the implementations to time (0 = peer)")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    which = None
    if args.only:
        which = {0} | {int(i) for i in args.only.split(",")}
    backend, times, cpu = run(args.rounds, args.warmup, which)
    section = table(backend, times, cpu, args.rounds)
    print(section)
    if not args.no_write:
        write(section, backend)


if __name__ == "__main__":
    main()
