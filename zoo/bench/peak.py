"""The machine's limit for `zoo bench --full-size`: a large matrix multiply's FLOP/s, and a
model's FLOP/s from its multiply-adds.

The peak is measured in the process that times the model, with the same framework, backend and
thread settings, in the same rounds (`matmul_call`, timed beside the model's steps in each
round's random order): on a shared machine the two see the same load moments apart, so a
model's fraction of the peak, the median over rounds of the paired ratio, means something even
where absolute figures do not.
A model's FLOP/s counts the forward multiply-adds of its card (`zoo.core.macs`) as 2 FLOPs
each, and a training step as 3 forward passes (forward, and the backward pass's two products
per layer: gradients of the inputs and of the weights).

Example:
    >>> from zoo.bench.peak import model_flops
    >>> model_flops(macs=10, batch=4, mode="train", step_s=2.0)   # 3 x 2 x 10 x 4 / 2
    120.0
    >>> model_flops(macs=10, batch=4, mode="infer", step_s=2.0)
    40.0
"""

from __future__ import annotations

import time

__all__ = ["FLOPS_PER_MAC", "PASSES", "model_flops", "matmul_call", "matmul_peak",
           "cpu_has_bfloat16", "precision_dtype"]

FLOPS_PER_MAC = 2
PASSES = {"train": 3, "infer": 1}  # forward passes' worth of multiply-adds per step


def model_flops(macs, batch, mode, step_s):
    """FLOP/s of a step of `batch` examples taking `step_s` seconds, for a model of `macs`
    forward multiply-adds per example; `mode` is `train` or `infer`."""
    if mode not in PASSES:
        raise ValueError(f"`mode` must be one of {sorted(PASSES)}. Received: mode={mode!r}")
    if step_s <= 0:
        raise ValueError(f"`step_s` must be positive. Received: step_s={step_s!r}")
    return float(PASSES[mode] * FLOPS_PER_MAC * macs * batch / step_s)


def cpu_has_bfloat16():
    """True where the CPU computes bfloat16 natively (the `avx512_bf16` or `amx_bf16` flags of
    /proc/cpuinfo); False where it does not or where there is no /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:  # pragma: no cover - not Linux
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def precision_dtype(policy):
    """The matmul dtype of a Keras dtype policy name: `mixed_bfloat16` and `bfloat16` compute in
    bfloat16, `mixed_float16`/`float16` in float16, anything else in float32."""
    for dtype in ("bfloat16", "float16"):
        if policy.endswith(dtype):
            return dtype
    return "float32"


def matmul_call(dtype="float32", n=4096):
    """`(call, flops)`: a function running one `n` x `n` by `n` x `n` matrix multiply
    (`keras.ops.matmul`, this process's backend and threads) in `dtype` and waiting for it, and
    the FLOPs it does (2 n^3)."""
    import keras
    import numpy as np

    if n < 1:
        raise ValueError(f"`n` must be at least 1. Received: n={n}")
    ops = keras.ops
    rng = np.random.default_rng(0)
    a = ops.cast(ops.convert_to_tensor(rng.uniform(-1, 1, (n, n)).astype("float32")), dtype)
    b = ops.cast(ops.convert_to_tensor(rng.uniform(-1, 1, (n, n)).astype("float32")), dtype)

    def call():
        c = ops.matmul(a, b)
        # one element back to the host: waits for the product on backends that dispatch ahead
        return float(ops.convert_to_numpy(ops.cast(c[0, 0], "float32")))

    return call, 2.0 * n ** 3


def matmul_peak(dtype="float32", n=4096, repeats=3):
    """FLOP/s of an `n` x `n` by `n` x `n` matrix multiply (`matmul_call`) in `dtype`:
    `(best, median, worst)` over `repeats` timings after one untimed call.
    Example: `matmul_peak("float32", n=64)[0] > 0`."""
    if n < 1 or repeats < 1:
        raise ValueError(f"`n` and `repeats` must be at least 1. Received: n={n}, "
                         f"repeats={repeats}")
    call, flops = matmul_call(dtype, n)
    call()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    found = sorted(flops / t for t in times)
    return found[-1], found[len(found) // 2], found[0]
