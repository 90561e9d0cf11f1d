"""Throughput of registered models against their peers: interleaved rounds, paired ratios.

The method of `benchmarks/resnet.py`, for any registered model and on any Keras backend (this
module uses `keras` only, so the same code times the TensorFlow and the JAX backend):

* per model and setting (precision policy, `jit_compile`), the zoo model, a second copy of it
  (the A/A control) and the peer where one exists (`zoo.bench.peers`) are built with the same
  arguments and compiled alike (SGD with momentum 0.9, mean squared error against zeros of each
  output: the same work for every implementation, whatever the model's task);
* a synthetic batch fits the model's inputs (integer token ids in [1, 10), floats in [0, 1);
  dimensions without a fixed length get `length`);
* after `warmup` untimed rounds (tracing, XLA compilation), each of `rounds` timed rounds runs,
  for each mode (`train`: `train_on_batch`, the step of Keras `fit`; `infer`:
  `predict_on_batch`), consecutive steps of every implementation in a fresh random order: at
  least `steps`, and as many as the zoo model's last warm-up step says make a timing last about
  `MIN_TIMING` (20 ms), so that fast models are not timed at the clock's resolution;
* per round, the paired ratio of an implementation's step time to the zoo model's compares two
  measurements moments apart, so slow drifts of the machine's load cancel; rows report its
  median with a 95% bootstrap interval (resampled rounds, seeded). The A/A row's interval shows
  how far from 1 noise alone moves the ratio on this machine.
"""

from __future__ import annotations

import gc
import statistics
import time

import numpy as np

from zoo.bench.peers import peer_for
from zoo.core.registry import create_model, get_spec

__all__ = ["median_ci", "synthetic_batch", "builder_arguments", "bench_model", "mixed_policy",
           "ZOO", "TWIN"]

ZOO, TWIN = "zoo", "zoo (A/A twin)"
BOOTSTRAP = 2000
MIN_TIMING = 0.02  # seconds: a timing repeats a fast step until it lasts about this long


def median_ci(values, resamples=BOOTSTRAP, rng=None, level=0.95):
    """Median of `values` and a percentile bootstrap interval for it.

    Example:
        >>> m, lo, hi = median_ci([1.0, 1.1, 0.9, 1.0], rng=np.random.default_rng(0))
        >>> m, lo <= m <= hi
        (1.0, True)
    """
    rng = np.random.default_rng(0) if rng is None else rng
    v = np.asarray(values, dtype="float64")
    idx = rng.integers(0, len(v), size=(resamples, len(v)))
    meds = np.median(v[idx], axis=1)
    lo, hi = np.quantile(meds, [(1 - level) / 2, (1 + level) / 2])
    return float(np.median(v)), float(lo), float(hi)


def mixed_policy():
    """The mixed-precision policy of this machine: `mixed_float16` on a GPU, `mixed_bfloat16`
    on a CPU (which has no fast float16)."""
    from zoo.bench.machine import accelerator

    return "mixed_float16" if accelerator()[0] == "gpu" else "mixed_bfloat16"


def builder_arguments(name, size=None):
    """The builder arguments of a benchmarked model: the registry's `test_overrides` (small, so
    every model runs on a CPU in seconds), with an image model's side set to `size` if given."""
    spec = get_spec(name)
    kwargs = dict(spec.test_overrides)
    shape = kwargs.get("input_shape", spec.input_shape)
    if size is not None and isinstance(shape, tuple) and len(shape) == 3:
        kwargs["input_shape"] = (size, size, shape[-1])
    return kwargs


def synthetic_batch(model, batch, length=16, seed=0):
    """`(x, description, tokens per example)`: random inputs fitting `model.inputs`.

    Integer inputs get token ids in [1, 10), float inputs values in [0, 1) (non-negative, so a
    graph's adjacency has positive degrees); dimensions of unknown length get `length`. The
    description is the first input's per-example shape (`32x32x3`); tokens per example is the
    length of the first integer input with an unknown length (0 if none: then the natural unit is
    the example).
    """
    import keras

    rng = np.random.default_rng(seed)
    arrays, tokens = [], 0
    for t in model.inputs:
        dims = tuple(t.shape[1:])
        shape = (batch,) + tuple(length if d is None else d for d in dims)
        dtype = keras.backend.standardize_dtype(t.dtype)
        if "int" in dtype:
            arrays.append(rng.integers(1, 10, size=shape).astype(dtype))
            if not tokens and None in dims:
                tokens = int(np.prod(shape[1:]))
        else:
            arrays.append(rng.uniform(0.0, 1.0, size=shape).astype(dtype))
    described = "x".join(str(d) for d in arrays[0].shape[1:]) or "scalar"
    return (arrays[0] if len(arrays) == 1 else arrays), described, tokens


def _zeros_like_outputs(model, x):
    import keras

    out = model.predict_on_batch(x)
    return keras.tree.map_structure(lambda t: np.zeros(np.shape(t), "float32"), out)


def _compile(model, jit, y):
    import keras

    loss = keras.tree.map_structure(lambda _: "mse", y)
    if isinstance(loss, tuple):
        loss = list(loss)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss=loss,
                  jit_compile=jit)


def _build_all(name, kwargs, peers, seed):
    import keras

    keras.utils.set_random_seed(seed)
    impls = {ZOO: create_model(name, **kwargs), TWIN: create_model(name, **kwargs)}
    if peers:
        found = peer_for(name, kwargs)
        if found is not None:
            label, build = found
            impls[label] = build()
    return impls


def _timed_steps(fn, steps):
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps


def bench_model(name, *, batch=2, size=None, length=16, steps=1, rounds=10, warmup=2,
                precision="float32", jit=False, modes=("train", "infer"), peers=True, seed=0,
                progress=None):
    """Rows (dicts) for one registered model at one precision and `jit_compile` setting: one per
    implementation (zoo, its A/A twin, the peer) and mode. `precision` is `float32` or a Keras
    mixed policy name. Timings are seconds per step; see the module docstring for the method."""
    import keras

    kwargs = builder_arguments(name, size)
    previous = keras.config.dtype_policy().name
    keras.config.set_dtype_policy(precision)
    try:
        impls = _build_all(name, kwargs, peers, seed)
        x, described, tokens = synthetic_batch(impls[ZOO], batch, length, seed)
        y = _zeros_like_outputs(impls[ZOO], x)
        for model in impls.values():
            _compile(model, jit, y)
        fns = {
            "train": lambda m: (lambda: m.train_on_batch(x, y)),
            "infer": lambda m: (lambda: np.asarray(keras.tree.flatten(m.predict_on_batch(x))[0])),
        }
        names = list(impls)
        calls = {(n, mode): fns[mode](impls[n]) for n in names for mode in modes}
        times = {key: [] for key in calls}
        rng = np.random.default_rng(seed)
        repeats = {mode: steps for mode in modes}
        for r in range(warmup + rounds):
            for mode in modes:
                for i in rng.permutation(len(names)):
                    t = _timed_steps(calls[(names[i], mode)], repeats[mode])
                    if r >= warmup:
                        times[(names[i], mode)].append(t)
                    elif r == warmup - 1 and names[i] == ZOO:  # fast steps: more per timing
                        repeats[mode] = max(steps, int(np.ceil(MIN_TIMING / max(t, 1e-9))))
            if progress is not None:
                progress(f"{name} {precision} jit {'on' if jit else 'off'}: round {r + 1}/"
                         f"{warmup + rounds}{' (warm-up)' if r < warmup else ''}")
        params = {n: int(m.count_params()) for n, m in impls.items()}
    finally:
        keras.config.set_dtype_policy(previous)
        impls = calls = fns = None  # the models and the closures over them, before collecting
        keras.backend.clear_session()
        gc.collect()

    return _rows(name, times, names, modes, params, repeats, batch=batch, described=described,
                 tokens=tokens, rounds=rounds, seed=seed)


def _rows(name, times, names, modes, params, repeats, *, batch, described, tokens, rounds, seed):
    """One row per implementation and mode: the median step, the throughput and, beside the zoo
    model, the speed-up over it with its confidence interval."""
    rows = []
    ci_rng = np.random.default_rng(seed)
    for mode in modes:
        base = times[(ZOO, mode)]
        for n in names:
            t = times[(n, mode)]
            step = statistics.median(t)
            row = {"model": name, "implementation": n, "mode": mode, "batch": batch,
                   "input": described, "step_ms": step * 1e3, "examples_per_s": batch / step,
                   "unit": "tokens/s" if tokens else "examples/s",
                   "throughput": batch * (tokens or 1) / step, "params": params[n],
                   "rounds": rounds, "steps": repeats[mode]}
            if n != ZOO:
                row["zoo_speedup"], row["ci_low"], row["ci_high"] = median_ci(
                    [a / b for a, b in zip(t, base)], rng=ci_rng)
            rows.append(row)
    return rows
