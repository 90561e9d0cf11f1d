"""Where a full-size model's step spends its time: the TensorFlow profiler's op kernels, summed by
op type (docs/bench.md's explanation of the rows furthest from the machine's peak).

    python -m zoo.bench.profile resnet152 --mode train --batch 8 [--precision mixed_bfloat16]

Runs `zoo bench --full-size`'s step (the registered configuration at its default input size,
`train_on_batch` or `predict_on_batch`), traces `--steps` steps after two untimed ones with
`tf.profiler.experimental`, and prints each op type's share of the kernels' time on the CPU's
threads (summed over threads: with 2 threads the shares, not the seconds, compare to the step),
the kernels' total against the steps' wall time, and the step's wall time.
TensorFlow backend only.
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import sys
import tempfile
import time

__all__ = ["op_times", "kernel_times"]


def kernel_times(logdir):
    """`{op type: seconds}` summed over the TensorFlow op kernels of the traces under `logdir`
    (events named `name:Type` on the executor's `tf_Compute` threads)."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    totals = collections.Counter()
    for path in glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True):
        with open(path, "rb") as f:
            space = xplane_pb2.XSpace.FromString(f.read())
        for plane in space.planes:
            if not plane.name.startswith("/host:CPU"):
                continue
            for line in plane.lines:
                if not line.name.startswith("tf_Compute"):  # the executor's threads: op kernels
                    continue
                for event in line.events:
                    name = plane.event_metadata[event.metadata_id].name
                    if ":" in name and "::" not in name:
                        totals[name.rsplit(":", 1)[1]] += event.duration_ps / 1e12
    return dict(totals)


def op_times(name, mode="train", batch=8, steps=2, precision="float32", jit=False, seed=0):
    """`(kernel seconds by op type, wall seconds per step)` of `steps` traced steps of registered
    model `name` at full size (see the module docstring)."""
    import keras
    import numpy as np
    import tensorflow as tf

    from zoo.bench.measure import prepared_model

    if mode not in ("train", "infer"):
        raise ValueError(f"`mode` must be 'train' or 'infer'. Received: mode={mode!r}")
    previous = keras.config.dtype_policy().name
    keras.config.set_dtype_policy(precision)
    try:
        model, x, y = prepared_model(name, batch, jit=jit, seed=seed)
        step = ((lambda: model.train_on_batch(x, y)) if mode == "train" else
                (lambda: np.asarray(keras.tree.flatten(model.predict_on_batch(x))[0])))
        step(), step()
        with tempfile.TemporaryDirectory() as logdir:
            tf.profiler.experimental.start(logdir)
            t = time.perf_counter()
            for _ in range(steps):
                step()
            wall = (time.perf_counter() - t) / steps
            tf.profiler.experimental.stop()
            totals = kernel_times(logdir)
    finally:
        keras.config.set_dtype_policy(previous)
    return {k: v / steps for k, v in totals.items()}, wall


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("name")
    p.add_argument("--mode", choices=("train", "infer"), default="train")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--precision", default="float32")
    p.add_argument("--jit", action="store_true")
    p.add_argument("--top", type=int, default=12)
    args = p.parse_args(argv)
    times, wall = op_times(args.name, args.mode, args.batch, args.steps, args.precision, args.jit)
    total = sum(times.values()) or 1.0
    print(f"{args.name} {args.mode} batch {args.batch} {args.precision}"
          f"{' XLA' if args.jit else ''}: {wall * 1e3:.0f} ms per step (wall), kernels "
          f"{total * 1e3:.0f} ms summed over threads")
    for kind, seconds in sorted(times.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"  {kind:40s} {100 * seconds / total:5.1f}%  {seconds * 1e3:8.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
