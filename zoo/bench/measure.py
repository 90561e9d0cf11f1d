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
           "full_size_batch", "full_size_shapes", "prepared_model", "ZOO", "TWIN"]

ZOO, TWIN, PEAK = "zoo", "zoo (A/A twin)", "matmul peak"
BOOTSTRAP = 2000
MIN_TIMING = 0.02  # seconds: a timing repeats a fast step until it lasts about this long
FULL_SIZE_WORK = 32e9  # multiply-adds of a full-size batch's forward pass, at most (see below)


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


def builder_arguments(name, size=None, full_size=False):
    """The builder arguments of a benchmarked model: the registry's `test_overrides` (small, so
    every model runs on a CPU in seconds), or none with `full_size` (the registered
    configuration), with an image model's side set to `size` if given."""
    spec = get_spec(name)
    kwargs = {} if full_size else dict(spec.test_overrides)
    shape = kwargs.get("input_shape", spec.input_shape)
    if size is not None and isinstance(shape, tuple) and len(shape) == 3:
        kwargs["input_shape"] = (size, size, shape[-1])
    return kwargs


def full_size_batch(macs, work=FULL_SIZE_WORK, low=4, high=256):
    """The default batch of a full-size model of `macs` multiply-adds per example: the largest
    power of two whose forward pass is at most `work` multiply-adds, within [`low`, `high`]
    (8 for ResNet-50 at 224, 256 for an LSTM classifier).

    Example:
        >>> full_size_batch(3.86e9), full_size_batch(13e6), full_size_batch(21.6e9)
        (8, 256, 4)
    """
    batch = low
    while batch * 2 <= high and batch * 2 * macs <= work:
        batch *= 2
    return batch


def full_size_shapes(name, model, length=None):
    """`(input shapes without batch, multiply-adds per example, source)` of a full-size model:
    its own input shapes, with unknown lengths from the card's `macs_input_shapes` (64 tokens for
    the Transformers, the karate club's 34 nodes for the GCN) or `length` if given; the
    multiply-adds are the stored card's where the shapes are the card's (`source` "card"), else
    counted at these shapes by `zoo.core.macs.count_macs` ("counted")."""
    from zoo.core.card_contents import macs_input_shapes
    from zoo.core.macs import count_macs
    from zoo.core.registry import stored_card

    own = [tuple(t.shape[1:]) for t in model.inputs]
    if length is None:
        shapes = macs_input_shapes(get_spec(name), model) or own
    else:
        shapes = [tuple(length if d is None else d for d in s) for s in own]
    shapes = [tuple(int(d) for d in s) for s in shapes]
    card = stored_card(name)
    if card and card.get("macs") and [tuple(s) for s in card["macs_input_shapes"]] == shapes and (
            [tuple(o)[1:] for o in card["inputs"]] == own):
        return shapes, int(card["macs"]), "card"
    return shapes, int(count_macs(model, input_shapes=shapes)), "counted"


def synthetic_batch(model, batch, length=16, seed=0, shapes=None):
    """`(x, description, tokens per example)`: random inputs fitting `model.inputs`.

    Integer inputs get token ids in [1, 10), float inputs values in [0, 1) (non-negative, so a
    graph's adjacency has positive degrees); dimensions of unknown length get `length`. The
    description is the first input's per-example shape (`32x32x3`); tokens per example is the
    length of the first integer input with an unknown length (0 if none: then the natural unit is
    the example). `shapes` (one per input, without batch) replaces the inputs' shapes.
    """
    import keras

    rng = np.random.default_rng(seed)
    arrays, tokens = [], 0
    for i, t in enumerate(model.inputs):
        dims = tuple(t.shape[1:])
        shape = (batch,) + (tuple(shapes[i]) if shapes is not None else
                            tuple(length if d is None else d for d in dims))
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


def _build_all(name, kwargs, peers, seed, twin=True):
    import keras

    keras.utils.set_random_seed(seed)
    impls = {ZOO: create_model(name, **kwargs)}
    if twin:
        impls[TWIN] = create_model(name, **kwargs)
    if peers:
        found = peer_for(name, kwargs)
        if found is not None:
            label, build = found
            impls[label] = build()
    return impls


def prepared_model(name, batch, *, full_size=True, jit=False, seed=0):
    """`(model, x, y)`: registered model `name` built (at full size, or its test size) and compiled
    as `bench_model` compiles it, with a synthetic batch of `batch` and its targets (under the
    dtype policy in force)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = create_model(name, **builder_arguments(name, None, full_size))
    shapes = full_size_shapes(name, model)[0] if full_size else None
    x, _, _ = synthetic_batch(model, batch, seed=seed, shapes=shapes)
    y = _zeros_like_outputs(model, x)
    _compile(model, jit, y)
    return model, x, y


def _timed_steps(fn, steps):
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps


# Long: one timing loop over the models it builds (zoo, twin, peer and the paired matmul), whose
# closures must share those models, inside one try/finally that restores the dtype policy.
def bench_model(name, *, batch=2, size=None, length=16, steps=1, rounds=10, warmup=2,
                precision="float32", jit=False, modes=("train", "infer"), peers=True, seed=0,
                progress=None, full_size=False, twin=None, peak=None, peak_n=4096):
    """Rows (dicts) for one registered model at one precision and `jit_compile` setting: one per
    implementation (zoo, its A/A twin, the peer) and mode. `precision` is `float32` or a Keras
    mixed policy name. Timings are seconds per step; see the module docstring for the method.

    `full_size`: the registered configuration at its default input size (`full_size_shapes`;
    `length` None: the card's lengths), `batch` None for `full_size_batch`, no A/A twin unless
    `twin`; its rows add the multiply-adds, the model's FLOP/s (`zoo.bench.peak.model_flops`) and,
    given `peak` (`zoo.bench.machine_peak`'s dict), its fraction of the peak: where the peak is
    measured, a `peak_n` matrix multiply (`zoo.bench.peak.matmul_call`) is timed in every round
    beside the steps, and the fraction is the median over rounds of the paired ratio."""
    import keras

    kwargs = builder_arguments(name, size, full_size)
    twin = not full_size if twin is None else twin
    previous = keras.config.dtype_policy().name
    keras.config.set_dtype_policy(precision)
    try:
        impls = _build_all(name, kwargs, peers, seed, twin)
        shapes, macs, macs_source = (full_size_shapes(name, impls[ZOO], length) if full_size
                                     else (None, None, None))
        if batch is None:
            batch = full_size_batch(macs) if full_size else 2
        x, described, tokens = synthetic_batch(impls[ZOO], batch, length, seed, shapes)
        y = _zeros_like_outputs(impls[ZOO], x)
        for model in impls.values():
            _compile(model, jit, y)
        fns = {
            "train": lambda m: (lambda: m.train_on_batch(x, y)),
            "infer": lambda m: (lambda: np.asarray(keras.tree.flatten(m.predict_on_batch(x))[0])),
        }
        names = list(impls)
        calls = {(n, mode): fns[mode](impls[n]) for n in names for mode in modes}
        peak_flops = None
        if full_size and peak and peak.get("peak_source") != "data sheet":
            from zoo.bench.peak import matmul_call

            matmul, peak_flops = matmul_call(peak["peak_dtype"], peak_n)
            calls.update({(PEAK, mode): matmul for mode in modes})
            names.append(PEAK)
        times = {key: [] for key in calls}
        rng = np.random.default_rng(seed)
        repeats = {mode: steps for mode in modes}
        for r in range(warmup + rounds):
            for mode in modes:
                for i in rng.permutation(len(names)):
                    t = _timed_steps(calls[(names[i], mode)],
                                     1 if names[i] == PEAK else repeats[mode])
                    if r >= warmup:
                        times[(names[i], mode)].append(t)
                    elif r == warmup - 1 and names[i] == ZOO:  # fast steps: more per timing
                        repeats[mode] = max(steps, int(np.ceil(MIN_TIMING / max(t, 1e-9))))
            if progress is not None:
                progress(f"{name} {precision} jit {'on' if jit else 'off'} batch {batch}: round "
                         f"{r + 1}/{warmup + rounds}{' (warm-up)' if r < warmup else ''}")
        params = {n: int(m.count_params()) for n, m in impls.items()}
        names = [n for n in names if n != PEAK]
    finally:
        keras.config.set_dtype_policy(previous)
        impls = calls = fns = None  # the models and the closures over them, before collecting
        keras.backend.clear_session()
        gc.collect()

    rows = _rows(name, times, names, modes, params, repeats, batch=batch, described=described,
                 tokens=tokens, rounds=rounds, seed=seed)
    if full_size:
        for row in rows:
            _add_flops(row, times[(row["implementation"], row["mode"])], macs, macs_source, peak,
                       times.get((PEAK, row["mode"])), peak_flops)
    return rows


def _add_flops(row, times, macs, macs_source, peak, peak_times=None, peak_flops=None):
    """A full-size row's spread (the throughput of the slowest and fastest timing), multiply-adds
    and FLOP/s, and its fraction of `peak`: with `peak_times` (the matmul's, a round each) the
    median over rounds of the paired ratio, in [min, max] over rounds; else over `peak`'s figure
    (a data sheet's), at the median, slowest and fastest timing."""
    from zoo.bench.peak import model_flops

    batch, mode, units = row["batch"], row["mode"], row["throughput"] * row["step_ms"] / 1e3
    row.update(throughput_min=units / max(times), throughput_max=units / min(times),
               macs=macs, macs_source=macs_source,
               model_gflops=model_flops(macs, batch, mode, row["step_ms"] / 1e3) / 1e9)
    if not peak:
        return
    row.update({k: v for k, v in peak.items() if k.startswith("peak")})
    if peak_times:
        gflops = [peak_flops / t / 1e9 for t in peak_times]
        fractions = [model_flops(macs, batch, mode, t) / 1e9 / g for t, g in zip(times, gflops)]
        row.update(peak_gflops=statistics.median(gflops), peak_gflops_min=min(gflops),
                   peak_fraction=statistics.median(fractions), peak_fraction_min=min(fractions),
                   peak_fraction_max=max(fractions),
                   peak_source=peak["peak_source"].replace("one before the model",
                                                           "in every round"))
        return
    best = peak["peak_gflops"]
    row["peak_fraction"] = row["model_gflops"] / best
    row["peak_fraction_min"] = model_flops(macs, batch, mode, max(times)) / 1e9 / best
    row["peak_fraction_max"] = model_flops(macs, batch, mode, min(times)) / 1e9 / best


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
