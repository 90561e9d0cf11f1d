"""Benchmark: zoo.resnet50 against keras.applications.ResNet50, paired and interleaved.

Usage:
    python benchmarks/resnet.py --batch 8 --size 224 --rounds 30 --repeat 2 --jit both   # the full run
    python benchmarks/resnet.py --batch 2 --size 64 --rounds 10 --jit off   # a quick check (2-3 min)

Flags: --batch, --size (input side), --rounds (timed rounds), --repeat (interleaved steps per
round, fastest kept), --warmup, --jit off|on|both, --threads, --classes, --bootstrap, --seed, --out.

What is measured. Three models are built with the same arguments in one process: ours
(`zoo.resnet50`), the peer (`keras.applications.ResNet50`) and a second peer (the A/A control).
The peer's initial weights are copied into the other two, so all three compute exactly the same
numbers on the same batch. For each compile setting (`jit_compile=False` and/or `True`) all three
are compiled alike (SGD with momentum, sparse categorical cross-entropy), run untimed warm-up
rounds (tracing, XLA compilation), then `--rounds` timed rounds. In every round each model does one
training step (`train_on_batch`) and then, in a second pass, one batch inference
(`predict_on_batch`); the order of the three models is drawn at random for every pass, so no
model is favoured by going first or last. With `--repeat k` every pass is made k times (each in
a fresh random order) and each model's fastest step of the round is kept: noise only ever adds
time, so the minimum is the least disturbed estimate. Each step is timed with wall time (`perf_counter`) and
with the process's CPU time (`process_time`, all threads; insensitive to time lost to other
processes, though not to cache and frequency effects).

How it is summarised. Per round, the paired ratio peer_time / ours_time (above 1: ours faster)
compares two steps taken moments apart, so slow drifts in the machine's load cancel; the table
reports the median of the per-round ratios with a 95% bootstrap confidence interval (resampling
rounds, seeded). The A/A row does the same with the second peer in ours' place: identical
networks, so its interval shows how far from 1 the method strays on this machine by noise alone.
The target (ratio >= 0.98) is *shown* when the interval's lower end is at least 0.98, *refuted*
when its upper end is below 0.98, and otherwise the run cannot tell (too noisy: more rounds or a
quieter machine). The script also checks that the two models' graphs are identical (layer types
and configurations in order, connections, weight shapes, parameter counts): the structural reason
the ratio must be 1.

Writes benchmarks/results/resnet.md (or --out) and prints it.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from zoo.bench.measure import median_ci  # noqa: E402  (the method of `zoo bench`)

OURS, PEER, PEER2 = "zoo.resnet50", "keras.applications.ResNet50", "keras.applications.ResNet50 (2nd)"
TARGET = 0.98


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=8, help="batch size (default 8)")
    p.add_argument("--size", type=int, default=224, help="input side in pixels (default 224)")
    p.add_argument("--rounds", type=int, default=30, help="timed rounds per compile setting (default 30)")
    p.add_argument("--warmup", type=int, default=3,
                   help="untimed rounds first, per compile setting (default 3)")
    p.add_argument("--classes", type=int, default=1000, help="classes (default 1000)")
    p.add_argument("--jit", choices=("off", "on", "both"), default="both",
                   help="jit_compile setting(s) to measure, the same for all models (default both)")
    p.add_argument("--repeat", type=int, default=1,
                   help="steps per model per round, interleaved; the round keeps each model's "
                        "fastest (noise only adds time; default 1)")
    p.add_argument("--threads", type=int, default=0,
                   help="TensorFlow intra- and inter-op threads (default 0: TensorFlow's choice)")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, data, orders, bootstrap")
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                 "results", "resnet.md"))
    args = p.parse_args(argv)
    for flag in ("batch", "size", "rounds", "classes", "bootstrap", "repeat"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag} must be at least 1. Received: {getattr(args, flag)}")
    if args.rounds < 5:
        p.error(f"--rounds must be at least 5 for a confidence interval. Received: {args.rounds}")
    if args.size < 32:
        p.error(f"--size must be at least 32 (ResNet's minimum). Received: {args.size}")
    if args.warmup < 1:
        p.error(f"--warmup must be at least 1 (the first step traces). Received: {args.warmup}")
    if args.threads < 0:
        p.error(f"--threads must be at least 0. Received: {args.threads}")
    return args


# ------------------------------------------------------------------------------------------------
# Structure: are the two graphs the same network?
# ------------------------------------------------------------------------------------------------


def _layer_signature(layer, index):
    """Type, name, configuration, inbound layers (by position) and weight shapes of a layer."""
    config = dict(layer.get_config())
    auto_named = type(layer).__name__ == "InputLayer"  # keras numbers these input_layer_N
    name = None if auto_named else layer.name
    config.pop("name", None)
    inbound = []
    for node in getattr(layer, "_inbound_nodes", []):
        inbound.append(tuple(
            index.get(t._keras_history.operation.name) for t in node.input_tensors
            if hasattr(t, "_keras_history")
        ))
    return (type(layer).__name__, name, repr(sorted(config.items())), tuple(inbound),
            tuple(tuple(w.shape) for w in layer.weights))


def compare_graphs(a, b):
    """(identical, description) for two functional models, layer by layer in order."""
    la, lb = a.layers, b.layers
    params = (a.count_params(), b.count_params())
    trainable = tuple(sum(int(w.numpy().size) for w in m.trainable_weights) for m in (a, b))
    if len(la) != len(lb):
        return False, f"different layer counts: {len(la)} vs {len(lb)}"
    ia = {layer.name: i for i, layer in enumerate(la)}
    ib = {layer.name: i for i, layer in enumerate(lb)}
    for i, (x, y) in enumerate(zip(la, lb)):
        sx, sy = _layer_signature(x, ia), _layer_signature(y, ib)
        if sx != sy:
            what = ("type", "name", "configuration", "connections", "weight shapes")
            diff = [w for w, p, q in zip(what, sx, sy) if p != q]
            return False, f"layer {i} ({x.name} / {y.name}) differs in {', '.join(diff)}"
    if params[0] != params[1] or trainable[0] != trainable[1]:
        return False, f"parameter counts differ: {params} (trainable {trainable})"
    return True, (f"identical: {len(la)} layers with the same types, names (the auto-numbered "
                  f"input layer aside), configurations, connections and weight shapes in the "
                  f"same order; {params[0]:,} parameters "
                  f"({trainable[0]:,} trainable) in both")


# ------------------------------------------------------------------------------------------------
# Statistics
# ------------------------------------------------------------------------------------------------


def verdict(lo, hi, target=TARGET):
    if lo >= target:
        return "shown (CI >= 0.98)"
    if hi < target:
        return "not met (CI < 0.98)"
    return "cannot tell (CI spans 0.98)"


# ------------------------------------------------------------------------------------------------
# Timing
# ------------------------------------------------------------------------------------------------


def _timed(fn, *args):
    w, c = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - w, time.process_time() - c


def measure(args, jit, x, y, rng):
    """Per-model lists of (wall, cpu) seconds for each kind, and the structure check."""
    import keras
    import numpy as np

    import zoo

    shape = (args.size, args.size, 3)
    keras.utils.set_random_seed(args.seed)
    peer = keras.applications.ResNet50(weights=None, input_shape=shape, classes=args.classes)
    ours = zoo.resnet50(weights=None, input_shape=shape, classes=args.classes)
    peer2 = keras.applications.ResNet50(weights=None, input_shape=shape, classes=args.classes)
    structure = compare_graphs(ours, peer)
    ours.set_weights(peer.get_weights())
    peer2.set_weights(peer.get_weights())
    models = {OURS: ours, PEER: peer, PEER2: peer2}
    for m in models.values():
        m.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss="sparse_categorical_crossentropy", jit_compile=jit)

    steps = {
        "train": lambda m: m.train_on_batch(x, y),
        "infer": lambda m: np.asarray(m.predict_on_batch(x)),
    }
    times = {(n, k): [] for n in models for k in steps}
    names = list(models)
    total = args.warmup + args.rounds
    for r in range(total):
        for kind, step in steps.items():
            best = {}
            for _ in range(args.repeat):
                for i in rng.permutation(len(names)):
                    name = names[i]
                    wall, cpu = _timed(step, models[name])
                    w0, c0 = best.get(name, (wall, cpu))
                    best[name] = (min(wall, w0), min(cpu, c0))
            if r >= args.warmup:
                for name in names:
                    times[(name, kind)].append(best[name])
        print(f"jit_compile={jit}: round {r + 1}/{total}"
              f"{' (warm-up)' if r < args.warmup else ''}", flush=True)
    # the three models took the same training steps from the same weights: same numbers
    out = [np.asarray(models[n].predict_on_batch(x)) for n in names]
    same_outputs = max(float(np.max(np.abs(o - out[1]))) for o in out)
    del models, ours, peer, peer2
    gc.collect()
    return times, structure, same_outputs


def summarise(times, args, rng):
    rows = []
    for kind, label in (("train", "training step"), ("infer", "batch inference")):
        for a, b, comparison in ((OURS, PEER, "zoo vs peer"), (PEER2, PEER, "A/A: peer vs peer")):
            row = {"step": label, "comparison": comparison}
            for clock, j in (("wall", 0), ("cpu", 1)):
                ta = [t[j] for t in times[(a, kind)]]
                tb = [t[j] for t in times[(b, kind)]]
                ratios = [q / p for p, q in zip(ta, tb) if p > 0 and q > 0]
                row[clock] = (statistics.median(ta) * 1e3, statistics.median(tb) * 1e3,
                              median_ci(ratios, args.bootstrap, rng))
            rows.append(row)
    return rows


def main(argv=None):
    args = parse_args(argv)
    import keras
    import numpy as np
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    shape = (args.size, args.size, 3)
    x = rng.uniform(-1, 1, (args.batch,) + shape).astype("float32")
    y = rng.integers(0, args.classes, (args.batch,)).astype("int32")
    settings = {"off": [False], "on": [True], "both": [False, True]}[args.jit]
    results = []
    for jit in settings:
        t0 = time.perf_counter()
        times, structure, same = measure(args, jit, x, y, rng)
        results.append((jit, summarise(times, args, rng), structure, same,
                        time.perf_counter() - t0))

    device = "GPU" if tf.config.list_physical_devices("GPU") else (
        f"CPU ({os.cpu_count()} cores, {platform.processor() or platform.machine()})")
    try:
        load = ", load average %.1f %.1f %.1f at the end" % os.getloadavg()
    except OSError:  # pragma: no cover - not on every platform
        load = ""
    lines = [
        "# zoo.resnet50 vs keras.applications.ResNet50",
        "",
        f"Batch {args.batch}, input {args.size}x{args.size}x3, {args.classes} classes; SGD(0.01, "
        f"momentum 0.9), sparse categorical cross-entropy, the same compile settings for all "
        f"models. Per compile setting: {args.warmup} untimed warm-up rounds, then {args.rounds} "
        f"rounds in which the three models take one step each in a random order"
        f"{f' ({args.repeat} times, keeping the fastest)' if args.repeat > 1 else ''}. Keras "
        f"{keras.__version__}, backend {keras.backend.backend()}, TensorFlow {tf.__version__}, "
        f"{device}{', ' + str(args.threads) + ' threads' if args.threads else ''}{load}. "
        f"Command: `python benchmarks/resnet.py {' '.join(argv if argv is not None else sys.argv[1:])}`.",
        "",
        f"Structure (zoo.resnet50 against keras.applications.ResNet50): {results[0][2][1]}.",
        "",
        "| jit_compile | step | comparison | median ms (A) | median ms (B) | ratio B/A, wall: "
        "median [95% CI] | ratio B/A, CPU time: median [95% CI] | target ratio >= 0.98 |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for jit, rows, _, _, _ in results:
        for row in rows:
            wa, wb, (wm, wl, wh) = row["wall"]
            _, _, (cm, cl, ch) = row["cpu"]
            if row["comparison"] == "zoo vs peer":
                ok = f"wall: {verdict(wl, wh)}; CPU: {verdict(cl, ch)}"
            else:
                ok = "; ".join(f"{c}: 1 {'inside' if lo <= 1 <= hi else 'OUTSIDE'} CI"
                               for c, lo, hi in (("wall", wl, wh), ("CPU", cl, ch)))
            lines.append(
                f"| {'on' if jit else 'off'} | {row['step']} | {row['comparison']} | {wa:.1f} | "
                f"{wb:.1f} | {wm:.3f} [{wl:.3f}, {wh:.3f}] | {cm:.3f} [{cl:.3f}, {ch:.3f}] | {ok} |")
    lines += [
        "",
        "A is zoo.resnet50 (A/A rows: a second keras.applications.ResNet50), B is "
        "keras.applications.ResNet50; a ratio above 1 means A is faster. Ratios are per round "
        "(two steps moments apart), summarised by their median and a 95% bootstrap interval "
        f"({args.bootstrap} resamples of the rounds). The A/A rows show the method's noise floor: "
        "their interval should contain 1 and its width is how precisely this run can compare.",
        "",
        "Checks: all models start from the same weights and took the same steps; largest output "
        "difference at the end: " + ", ".join(
            f"{s:.1e} (jit {'on' if j else 'off'})" for j, _, _, s, _ in results)
        + "; run time " + ", ".join(
            f"{d:.0f} s (jit {'on' if j else 'off'})" for j, _, _, _, d in results) + ".",
    ]
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)
    return results


if __name__ == "__main__":
    main()
