"""GPU training throughput of zoo's builders under Keras' JAX backend, with model FLOPs utilisation.

One command on a machine with an NVIDIA GPU, JAX (CUDA) and Keras; TensorFlow is not needed
(the script blocks it, so the measurement shows that the builders run without it):

    python benchmarks/gpu_jax.py --out benchmarks/results/gpu_jax

measures, each as training steps (`train_on_batch`, XLA-compiled by JAX) on random data that
stays on the device:

* ResNet-50 (`zoo.resnet50`, 224x224, 1000 classes) images/s at batch 256 in float32 and in
  mixed bfloat16;
* Transformer-base (`transformer_base`, Vaswani et al. 2017: 6+6 layers, d_model 512) target
  tokens/s at batch 64 x 128 tokens, mixed bfloat16;
* the peephole LSTM (`zoo.layers.PeepholeLSTM`) against `keras.layers.LSTM` (cuDNN on a GPU) in
  the same small model (T=100, 64 features -> 256 units -> Dense), examples/s and the ratio;

and each one's model FLOPs utilisation (MFU): training FLOPs per second (3 x 2 x the forward
multiply-adds counted by `zoo.core.macs.count_macs`) over the GPU's peak for the precision (known
GPUs below, or `--peak-tflops`). MLPerf's reference for ResNet-50: 7,010 img/s per H100, about
17.5% of its bf16 peak. Writes `<out>.md` and `<out>.json` (device, versions, date).

`--smoke` runs every measurement at tiny sizes (32x32, batch 2, 2 steps): the CPU check that the
script works (tests/test_gpu_script.py), not a measurement.

`--full-size` instead runs `zoo bench --full-size`'s rows on the JAX backend (XLA, every model in a
process of its own, TensorFlow blocked there too): every registered model (or `--models`) at its
registered configuration and default input size, training and inference, against its peer, in
float32 and mixed bfloat16, with the same columns as benchmarks/results/bench-cpu-full.csv, the
peak being the card's data sheet (MFU = `peak_fraction`); the batch is the largest power of two
in [32, 256] whose forward pass is at most 2 T multiply-adds (ResNet-50: 256), or `--batch-size`:

    python benchmarks/gpu_jax.py --full-size                      # bench-<gpu>-full.csv and .md
    python benchmarks/gpu_jax.py --full-size --models 'resnet*' transformer_base --batch-size 64
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

# dense peak TFLOPS per precision ("bf16": tensor cores; "fp32": without TF32), from the vendors'
# data sheets (SXM parts)
PEAKS = {
    "H200": {"bf16": 989.4, "fp32": 66.9},
    "H100": {"bf16": 989.4, "fp32": 66.9},
    "A100": {"bf16": 312.0, "fp32": 19.5},
    "L4": {"bf16": 121.0, "fp32": 30.3},
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps (compilation) first")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats; median and spread")
    p.add_argument("--resnet-batch", type=int, default=256)
    p.add_argument("--transformer-batch", type=int, default=64)
    p.add_argument("--transformer-length", type=int, default=128)
    p.add_argument("--lstm-batch", type=int, default=256)
    p.add_argument("--peak-tflops", type=float, default=None,
                   help="the device's dense bf16 peak (default: known GPUs' data sheets)")
    p.add_argument("--only", default="resnet50,transformer,lstm")
    p.add_argument("--smoke", action="store_true", help="tiny sizes: a CPU check of the script")
    p.add_argument("--out", default=None, help="write <out>.md and <out>.json")
    p.add_argument("--full-size", action="store_true",
                   help="zoo bench --full-size's rows for every registered model (see above)")
    p.add_argument("--models", nargs="+", default=["*"], metavar="NAME|PATTERN",
                   help="with --full-size: registered names or wildcards (default every model)")
    p.add_argument("--batch-size", type=int, nargs="+", default=None, metavar="N",
                   help="with --full-size: batch size(s) (default: per model, see above)")
    p.add_argument("--precisions", default="float32,mixed_bfloat16",
                   help="with --full-size: Keras dtype policies, comma-separated")
    p.add_argument("--rounds", type=int, default=3, help="with --full-size: timed rounds (>= 3)")
    p.add_argument("--results", default=os.path.join("benchmarks", "results"),
                   help="with --full-size: the folder of bench-<gpu>-full.csv and .md")
    p.add_argument("--no-peers", dest="peers", action="store_false",
                   help="with --full-size: the zoo models only")
    args = p.parse_args(argv)
    if args.rounds < 3:
        p.error(f"--rounds must be at least 3. Received: {args.rounds}")
    if any(b < 1 for b in args.batch_size or ()):
        p.error(f"--batch-size must be at least 1. Received: {args.batch_size}")
    bad = set(args.precisions.split(",")) - {"float32", "mixed_bfloat16", "bfloat16",
                                             "mixed_float16"}
    if bad:
        p.error(f"--precisions takes float32, mixed_bfloat16, bfloat16, mixed_float16. "
                f"Received: {sorted(bad)}")
    for flag in ("steps", "warmup", "repeats", "resnet_batch", "transformer_batch",
                 "transformer_length", "lstm_batch"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag.replace('_', '-')} must be at least 1. Received: {getattr(args, flag)}")
    unknown = set(args.only.split(",")) - {"resnet50", "transformer", "lstm"}
    if unknown:
        p.error(f"--only takes resnet50, transformer, lstm. Received: {sorted(unknown)}")
    if args.smoke:
        args.steps, args.warmup, args.repeats = 2, 1, 1
        args.resnet_batch = args.transformer_batch = args.lstm_batch = 2
        args.transformer_length = 8
    return args


def device_info():
    import jax

    d = jax.devices()[0]
    kind = getattr(d, "device_kind", str(d))
    peak = next((v for k, v in PEAKS.items() if k in kind.upper()), None)
    return d.platform, kind, peak


def timed_steps(model, x, y, args):
    """Median and spread of seconds per training step (after warm-up/compilation)."""
    import numpy as np

    for _ in range(args.warmup):
        model.train_on_batch(x, y)
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        for _ in range(args.steps):
            loss = model.train_on_batch(x, y)
        float(np.asarray(loss if not isinstance(loss, (list, tuple)) else loss[0]))  # wait
        times.append((time.perf_counter() - t) / args.steps)
    return float(np.median(times)), float(min(times)), float(max(times))


def _row(name, precision, batch, per_step, unit, items, macs, peak):
    median, lo, hi = per_step
    rate = items / median
    flops = 3 * 2 * macs * batch / median  # training ~ 3 forward passes; a multiply-add = 2 FLOPs
    mfu = flops / (peak * 1e12) if peak else None
    return {"model": name, "precision": precision, "batch": batch, "unit": unit,
            "rate": rate, "rate_min": items / hi, "rate_max": items / lo,
            "step_ms": 1e3 * median, "tflops": flops / 1e12, "mfu": mfu}


def bench_resnet(args, peaks):
    import keras
    import numpy as np

    import zoo
    from zoo.core.macs import count_macs

    size, classes = (32, 10) if args.smoke else (224, 1000)
    rows = []
    for precision in ("float32", "mixed_bfloat16"):
        keras.config.set_dtype_policy(precision)
        keras.utils.set_random_seed(0)
        model = zoo.resnet50(weights=None, input_shape=(size, size, 3), classes=classes,
                             classifier_activation=None)
        model.compile(keras.optimizers.SGD(0.01, momentum=0.9),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=True)
        macs = count_macs(model)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((args.resnet_batch, size, size, 3)).astype("float32")
        y = rng.integers(0, classes, args.resnet_batch)
        per_step = timed_steps(model, x, y, args)
        peak = peaks["bf16" if precision != "float32" else "fp32"] if peaks else None
        rows.append(_row("resnet50", precision, args.resnet_batch, per_step, "img/s",
                         args.resnet_batch, macs, peak))
    keras.config.set_dtype_policy("float32")
    return rows


def bench_transformer(args, peaks):
    import keras
    import numpy as np

    from zoo.core.macs import count_macs
    from zoo.core.registry import get_spec

    spec = get_spec("transformer_base")
    keras.config.set_dtype_policy("mixed_bfloat16")
    keras.utils.set_random_seed(0)
    model = spec.build(**(spec.test_overrides if args.smoke else {}))
    vocab = model.outputs[0].shape[-1]
    model.compile(keras.optimizers.Adam(1e-4),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=True)
    n, t = args.transformer_batch, args.transformer_length
    rng = np.random.default_rng(0)
    src = rng.integers(3, vocab, (n, t)).astype("int32")
    tgt = rng.integers(3, vocab, (n, t)).astype("int32")
    macs = count_macs(model, input_shapes=[(t,), (t,)])
    per_step = timed_steps(model, [src, tgt], tgt, args)
    keras.config.set_dtype_policy("float32")
    peak = peaks["bf16"] if peaks else None
    return [_row("transformer_base", "mixed_bfloat16", n, per_step, "tokens/s", n * t, macs, peak)]


def bench_lstm(args, peaks):
    import keras
    import numpy as np

    from zoo.core.macs import count_macs
    from zoo.layers import PeepholeLSTM

    steps_, features, units = (10, 8, 16) if args.smoke else (100, 64, 256)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.lstm_batch, steps_, features)).astype("float32")
    y = rng.standard_normal((args.lstm_batch, 1)).astype("float32")
    rows = []
    for name, layer in (("peephole_lstm (zoo)", lambda: PeepholeLSTM(units)),
                        ("keras.layers.LSTM (cuDNN)", lambda: keras.layers.LSTM(units))):
        keras.utils.set_random_seed(0)
        inp = keras.Input((steps_, features))
        model = keras.Model(inp, keras.layers.Dense(1)(layer()(inp)))
        model.compile(keras.optimizers.Adam(1e-3), "mse", jit_compile=True)
        macs = count_macs(model)
        per_step = timed_steps(model, x, y, args)
        rows.append(_row(name, "float32", args.lstm_batch, per_step, "examples/s",
                         args.lstm_batch, macs, peaks["fp32"] if peaks else None))
    rows[0]["ratio_vs_peer"] = rows[0]["rate"] / rows[1]["rate"]
    return rows


GPU_WORK, GPU_BATCH = 2e12, (32, 256)  # a full-size batch's forward multiply-adds, its range


def full_size_rows(args, kind, peaks):
    """`zoo bench --full-size`'s rows of `args.models` on this (JAX) backend against the data
    sheet's `peaks` (TFLOP/s by "bf16"/"fp32"); written to `args.results`."""
    from zoo.bench import bench
    from zoo.bench.cli import names_matching
    from zoo.bench.measure import full_size_batch
    from zoo.bench.report import write_results
    from zoo.core.registry import stored_card

    try:
        names = names_matching(args.models, "--models")
    except ValueError as e:
        raise SystemExit(f"gpu_jax.py: {e}") from None
    gflops = ({"float32": peaks["fp32"] * 1e3, "bfloat16": peaks["bf16"] * 1e3,
               "float16": peaks["bf16"] * 1e3} if peaks else None)
    rows = []
    for name in names:
        batch = args.batch_size
        if batch is None:  # the card's multiply-adds at the default shapes decide
            batch = [full_size_batch((stored_card(name) or {}).get("macs") or 1, GPU_WORK,
                                     *GPU_BATCH)]
        found, _ = bench([name], isolate=len(names) > 1, full_size=True,
                         batch=tuple(batch) if len(batch) > 1 else batch[0],
                         precisions=tuple(args.precisions.split(",")), jits=(True,),
                         rounds=args.rounds, warmup=2, peers=args.peers, peaks=gflops,
                         progress=lambda line: print(f"[gpu_jax] {line}", flush=True))
        rows += found
        write_results(found, args.results, kind, full_size=True)  # model by model: nothing lost
    return rows


def table(rows, meta):
    lines = ["| model | precision | batch | throughput (min-max of repeats) | step ms | TFLOPS | MFU |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a (peak unknown)"
        extra = f"; {r['ratio_vs_peer']:.2f}x keras LSTM" if "ratio_vs_peer" in r else ""
        lines.append(f"| {r['model']} | {r['precision']} | {r['batch']} | {r['rate']:,.0f} "
                     f"{r['unit']} ({r['rate_min']:,.0f}-{r['rate_max']:,.0f}){extra} | "
                     f"{r['step_ms']:.1f} | {r['tflops']:.1f} | {mfu} |")
    head = (f"Device: {meta['device']} ({meta['platform']}); peak dense TFLOPS bf16/fp32: "
            f"{meta['peaks']}; JAX {meta['jax']}, Keras {meta['keras']}, Python "
            f"{meta['python']}; {meta['date']}; command: `{meta['command']}`. Median of "
            f"{meta['repeats']} repeats of {meta['steps']} steps after {meta['warmup']} warm-up "
            f"steps; MFU = 3 x 2 x forward multiply-adds x examples/s / peak.")
    return head + "\n\n" + "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    os.environ["KERAS_BACKEND"] = "jax"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, root)  # zoo, here and in the bench's child processes
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    from zoo.bench.child import block_tensorflow

    block_tensorflow()
    import jax
    import keras

    if keras.backend.backend() != "jax":
        raise SystemExit("gpu_jax.py needs Keras' JAX backend (KERAS_BACKEND=jax).")
    platform_, kind, peaks = device_info()
    if args.peak_tflops:
        peaks = {"bf16": args.peak_tflops, "fp32": args.peak_tflops / 14.8}
    if args.full_size:
        from zoo.bench.report import markdown_table, results_paths

        rows = full_size_rows(args, kind, peaks)
        path = results_paths(args.results, kind, full_size=True)[1]
        print(markdown_table(rows) + f"\nwritten: {path} and its .csv", flush=True)
        return rows
    rows = []
    for what, fn in (("resnet50", bench_resnet), ("transformer", bench_transformer),
                     ("lstm", bench_lstm)):
        if what in args.only.split(","):
            new = fn(args, peaks)
            rows += new
            print(f"[gpu_jax] {what}: " + ", ".join(f"{r['model']} {r['precision']} "
                                                    f"{r['rate']:,.0f} {r['unit']}" for r in new),
                  flush=True)
    meta = {"device": kind, "platform": platform_, "peaks": peaks, "jax": jax.__version__,
            "keras": keras.__version__, "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "command": "python benchmarks/gpu_jax.py " + " ".join(argv if argv is not None
                                                                  else sys.argv[1:]),
            "steps": args.steps, "warmup": args.warmup, "repeats": args.repeats,
            "smoke": args.smoke}
    text = table(rows, meta)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)) or ".", exist_ok=True)
        with open(args.out + ".md", "w") as f:
            f.write(text)
        with open(args.out + ".json", "w") as f:
            json.dump({"meta": meta, "rows": rows}, f, indent=2)
    return rows


if __name__ == "__main__":
    main()
