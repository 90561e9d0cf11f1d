"""Latency of an exported signature against calling the Keras model directly (issue 16, point 3).

For each model: export it with `zoo.export`, load the SavedModel with TensorFlow, and time, at
batch 1 and batch 32, interleaved in a random order per round:

* A, the export: the `classify_float` signature on raw images in [0, 255] (what it serves:
  the input checks, the preprocessing, the model, probabilities and top-k);
* B, the model: the Keras model in a `tf.function` on images already preprocessed outside the
  timer (what a user calling the model directly pays);
* B', a second `tf.function` of the same model: the A/A control (the method's noise floor).

Each round times one call of each (the fastest of `--repeat`); the ratio A/B per round is
summarised by its median and a 95% bootstrap interval. The target: the signature costs at most
10% more than the model (ratio <= 1.10). Writes a Markdown table (`--out`, .md) with the machine
and versions.

    python benchmarks/serving_latency.py --out benchmarks/results/serving_latency.md
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import tempfile
import time

import numpy as np

from zoo.bench.measure import median_ci  # the paired-ratio summary of `zoo bench`

TARGET = 1.10


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="googlenet,resnet50", help="registered image classifiers")
    p.add_argument("--size", type=int, default=64, help="image side (default 64)")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--batches", default="1,32")
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--bootstrap", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the Markdown table here")
    args = p.parse_args(argv)
    for flag in ("size", "classes", "rounds", "repeat", "bootstrap"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag} must be at least 1. Received: {getattr(args, flag)}")
    return args


def _timed(fn, x, repeat):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(x)
        np.asarray(next(iter(out.values())) if isinstance(out, dict) else out)  # wait for it
        best = min(best, time.perf_counter() - t)
    return best


def measure(name, args, rng):
    import keras
    import tensorflow as tf

    import zoo
    from zoo.export import export_model
    from zoo.roles.serving import preprocess_fn

    keras.utils.set_random_seed(args.seed)
    model = zoo.create_model(name, input_shape=(args.size, args.size, 3), classes=args.classes)
    with tempfile.TemporaryDirectory() as d:
        path = export_model(model, name, export_dir=d, write_config=False)
        signature = tf.saved_model.load(path).signatures["classify_float"]
        mode = __import__("json").load(open(os.path.join(path, "assets.extra", "signatures.json")))[
            "options"]["preprocessing"]
        pre = preprocess_fn(mode)
        direct = tf.function(lambda x: model(x, training=False))
        direct2 = tf.function(lambda x: model(x, training=False))
        rows = []
        for batch in [int(b) for b in args.batches.split(",")]:
            raw = rng.uniform(0, 255, size=(batch, args.size, args.size, 3)).astype("float32")
            ready = tf.constant(np.asarray(pre(tf.constant(raw))))
            calls = {"export": (lambda x: signature(images=x), tf.constant(raw)),
                     "model": (direct, ready), "model2": (direct2, ready)}
            times = {k: [] for k in calls}
            for r in range(args.warmup + args.rounds):
                order = list(calls)
                random.Random(args.seed * 1000 + r).shuffle(order)
                for k in order:
                    fn, x = calls[k]
                    t = _timed(fn, x, args.repeat)
                    if r >= args.warmup:
                        times[k].append(t)
            for a, comparison in (("export", "export / model"), ("model2", "A/A: model / model")):
                ratios = np.asarray(times[a]) / np.asarray(times["model"])
                med, lo, hi = median_ci(ratios, args.bootstrap, rng)
                rows.append((name, batch, comparison, 1e3 * np.median(times[a]),
                             1e3 * np.median(times["model"]), med, lo, hi, mode))
        return rows


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    rows = []
    for name in args.models.split(","):
        rows += measure(name.strip(), args, rng)
    lines = [
        "| model | batch | comparison | median ms (A) | median ms (B) | ratio A/B: median [95% CI] "
        f"| target <= {TARGET:.2f} |",
        "|---|---:|---|---:|---:|---:|---|"]
    for name, batch, comparison, ta, tb, med, lo, hi, mode in rows:
        if comparison.startswith("A/A"):
            verdict = "1 inside CI" if lo <= 1 <= hi else "1 OUTSIDE CI"
        else:
            verdict = "met" if hi <= TARGET else ("not met" if lo > TARGET else "cannot tell")
        lines.append(f"| {name} ({mode}) | {batch} | {comparison} | {ta:.2f} | {tb:.2f} | "
                     f"{med:.3f} [{lo:.3f}, {hi:.3f}] | {verdict} |")
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    head = (f"#### Exported signature vs the Keras model: latency\n\n"
            f"Input {args.size}x{args.size}x3, {args.classes} classes; per batch size "
            f"{args.warmup} untimed rounds, then {args.rounds} rounds in which the export, the "
            f"model and its A/A twin each take one call in a random order (fastest of "
            f"{args.repeat}). Keras {keras.__version__}, TensorFlow {tf.__version__}, "
            f"{platform.machine()}, {os.cpu_count()} CPUs, load average {load} at the end, "
            f"{time.strftime('%Y-%m-%d')}, {time.time() - t0:.0f} s. Command: `python "
            f"benchmarks/serving_latency.py {' '.join(argv if argv is not None else sys.argv[1:])}`."
            f"\n\nA is the export's `classify_float` signature on raw images (input checks, "
            f"preprocessing, model, probabilities, top-k); B the Keras model in a `tf.function` on "
            f"images preprocessed beforehand. A ratio of 1.10 means the signature costs 10% more.\n")
    text = head + "\n" + "\n".join(lines) + "\n"
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
