"""Benchmark: zoo.resnet50 against keras.applications.ResNet50 in the same process.

Both models are built with the same arguments (random weights), compiled with the same settings
and fed the same batch. Each timed round runs one training step (`train_on_batch`) and one batch
inference (`predict_on_batch`) of each model, alternating which model goes first, after warm-up
rounds (tracing, compilation). The table reports the median of the timed steps and the ratio
peer_time / our_time (above 1: we are faster; target: at least 0.98).

Usage:
    python benchmarks/resnet.py --batch 8 --size 224 --steps 10 --warmup 2
    python benchmarks/resnet.py --batch 8 --size 160 --steps 24 --control   # with an A/A control
    python benchmarks/resnet.py --batch 32 --size 224 --steps 20 --jit-compile   # on a GPU

Writes benchmarks/results/resnet.md (or --out).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=8, help="batch size (default 8)")
    p.add_argument("--size", type=int, default=224, help="input side in pixels (default 224)")
    p.add_argument("--steps", type=int, default=10, help="timed rounds (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed rounds first (default 2)")
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--jit-compile", action="store_true", help="compile both with jit_compile=True")
    p.add_argument("--control", action="store_true",
                   help="also time a second keras.applications.ResNet50: its ratio to the first "
                        "shows the noise floor of the measurement (an A/A comparison)")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                 "results", "resnet.md"))
    args = p.parse_args(argv)
    for flag in ("batch", "size", "steps", "classes"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag} must be at least 1. Received: {getattr(args, flag)}")
    if args.size < 32:
        p.error(f"--size must be at least 32 (ResNet's minimum). Received: {args.size}")
    if args.warmup < 0:
        p.error(f"--warmup must be at least 0. Received: {args.warmup}")
    return args


def main(argv=None):
    args = parse_args(argv)
    import keras
    import numpy as np

    import zoo

    keras.utils.set_random_seed(0)
    shape = (args.size, args.size, 3)
    models = {
        "zoo.resnet50": zoo.resnet50(weights=None, input_shape=shape, classes=args.classes),
        "keras.applications.ResNet50": keras.applications.ResNet50(
            weights=None, input_shape=shape, classes=args.classes),
    }
    if args.control:
        models["keras.applications.ResNet50 (2nd)"] = keras.applications.ResNet50(
            weights=None, input_shape=shape, classes=args.classes)
    assert len({m.count_params() for m in models.values()}) == 1
    for m in models.values():
        m.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss="sparse_categorical_crossentropy",
                  jit_compile=bool(args.jit_compile))
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (args.batch,) + shape).astype("float32")
    y = rng.integers(0, args.classes, (args.batch,)).astype("int32")

    times = {(name, kind): [] for name in models for kind in ("train", "infer")}
    # Rounds pair the two models closely in time, so per-round ratios cancel slow drifts in the
    # machine's load (other processes); both the ratio of medians and the median of the
    # per-round ratios are reported.
    names = list(models)
    for r in range(args.warmup + args.steps):
        k = r % len(names)  # every model goes first equally often
        order = names[k:] + names[:k]
        for name in order:
            m = models[name]
            t = time.perf_counter()
            m.train_on_batch(x, y)
            t_train = time.perf_counter() - t
            t = time.perf_counter()
            out = m.predict_on_batch(x)
            np.asarray(out)
            t_infer = time.perf_counter() - t
            if r >= args.warmup:
                times[(name, "train")].append(t_train)
                times[(name, "infer")].append(t_infer)
        print(f"round {r + 1}/{args.warmup + args.steps}"
              f"{' (warm-up)' if r < args.warmup else ''}", flush=True)

    pairs = [(names[0], names[1], "")]
    if args.control:
        pairs.append((names[2], names[1], " (control: peer vs peer)"))
    rows = []
    for ours, peer, note in pairs:
        for kind, label in (("train", "training step"), ("infer", "batch inference")):
            a = statistics.median(times[(ours, kind)])
            b = statistics.median(times[(peer, kind)])
            paired = statistics.median(
                tb / ta for ta, tb in zip(times[(ours, kind)], times[(peer, kind)]))
            spread = max(times[(ours, kind)]) / min(times[(ours, kind)]) - 1
            rows.append((label + note, a * 1e3, b * 1e3, b / a, paired, spread))
    import tensorflow as tf

    device = "GPU" if tf.config.list_physical_devices("GPU") else (
        f"CPU ({os.cpu_count()} cores, {platform.processor() or platform.machine()})")
    lines = [
        "# zoo.resnet50 vs keras.applications.ResNet50",
        "",
        f"Batch {args.batch}, input {args.size}x{args.size}x3, {args.classes} classes, "
        f"SGD(momentum 0.9), sparse categorical cross-entropy, jit_compile={bool(args.jit_compile)}; "
        f"median of {args.steps} timed steps after {args.warmup} warm-up rounds, the models "
        f"taking turns to go first. Keras {keras.__version__}, backend {keras.backend.backend()}, "
        f"TensorFlow {tf.__version__}, {device}.",
        "",
        "| step | ours: zoo.resnet50 (ms) | peer: keras.applications.ResNet50 (ms) | ratio "
        "peer/ours (medians) | ratio peer/ours (median of per-round ratios) | ours max/min - 1 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, a, b, ratio, paired, spread in rows:
        lines.append(f"| {label} | {a:.1f} | {b:.1f} | {ratio:.3f} | {paired:.3f} | "
                     f"{spread:.0%} |")
    lines.append("")
    lines.append("Ratio above 1: zoo is faster; target at least 0.98. The last column is the "
                 "spread of the step times (noise).")
    if args.control:
        lines.append("In the control rows a second keras.applications.ResNet50 stands in for "
                     "ours: identical networks, so their ratio shows the noise of the measurement.")
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)
    return rows


if __name__ == "__main__":
    main()
