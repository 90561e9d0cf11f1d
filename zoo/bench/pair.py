"""Settings against each other at full size, in the same rounds: float32 against `mixed_bfloat16`
and XLA off against on, for docs/bench.md's question "is XLA or bfloat16 faster at full size?".

    python -m zoo.bench.pair resnet50 --mode infer --batch 8 --rounds 4

Builds the model once per setting (`zoo.bench.measure.prepared_model`: the registered
configuration at its default input size, compiled as `zoo bench` compiles it), then in every
round times one step of each setting in a fresh random order, and prints each setting's median
step and its speed-up over float32 without XLA: the median over rounds of the paired ratio, with
the lowest and highest round (moments apart, so the machine's load cancels as in `zoo bench`).
"""

from __future__ import annotations

import argparse
import sys
import time

__all__ = ["paired_settings", "SETTINGS"]

SETTINGS = (("float32", False), ("float32", True), ("mixed_bfloat16", False),
            ("mixed_bfloat16", True))


def paired_settings(name, mode="infer", batch=8, rounds=4, settings=SETTINGS, seed=0):
    """`{(policy, jit): step seconds per round}` of registered model `name` at full size, every
    setting timed once per round in a random order after one untimed step."""
    import keras
    import numpy as np

    from zoo.bench.measure import prepared_model

    if mode not in ("train", "infer"):
        raise ValueError(f"`mode` must be 'train' or 'infer'. Received: mode={mode!r}")
    previous = keras.config.dtype_policy().name
    steps = {}
    try:
        for policy, jit in settings:
            keras.config.set_dtype_policy(policy)
            model, x, y = prepared_model(name, batch, jit=jit, seed=seed)
            steps[(policy, jit)] = ((lambda m=model, x=x, y=y: m.train_on_batch(x, y))
                                    if mode == "train" else
                                    (lambda m=model, x=x: np.asarray(
                                        keras.tree.flatten(m.predict_on_batch(x))[0])))
    finally:
        keras.config.set_dtype_policy(previous)
    for step in steps.values():
        step()
    times = {key: [] for key in steps}
    rng = np.random.default_rng(seed)
    keys = list(steps)
    for _ in range(rounds):
        for i in rng.permutation(len(keys)):
            t = time.perf_counter()
            steps[keys[i]]()
            times[keys[i]].append(time.perf_counter() - t)
    return times


def main(argv=None):
    import statistics

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("name")
    p.add_argument("--mode", choices=("train", "infer"), default="infer")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--no-jit", action="store_true", help="float32 and mixed_bfloat16, XLA off")
    args = p.parse_args(argv)
    settings = tuple(s for s in SETTINGS if not (args.no_jit and s[1]))
    times = paired_settings(args.name, args.mode, args.batch, args.rounds, settings)
    base = times[SETTINGS[0]]
    print(f"{args.name} {args.mode} batch {args.batch}, {args.rounds} rounds:")
    for (policy, jit), t in times.items():
        ratios = [b / s for b, s in zip(base, t)]
        print(f"  {policy:15s} XLA {'on ' if jit else 'off'}  step {statistics.median(t) * 1e3:8.1f} ms"
              f"  speed-up {statistics.median(ratios):.2f} [{min(ratios):.2f}, {max(ratios):.2f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
