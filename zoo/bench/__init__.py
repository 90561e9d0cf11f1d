"""`zoo bench`: training and inference throughput of registered models against their peers
(keras.applications, keras-hub), in interleaved rounds with paired ratios; other backends run in a
child process. Method, columns and results: docs/bench.md; modules: docs/api/bench.md.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile

from zoo.bench.machine import accelerator, load_average, versions
from zoo.bench.measure import bench_model, mixed_policy

__all__ = ["bench", "run_here", "machine_peak", "SETTINGS"]

# the keyword arguments of `bench` that travel to a child process
SETTINGS = ("batch", "size", "length", "steps", "rounds", "warmup", "precisions", "jits",
            "modes", "peers", "seed", "full_size", "twin", "peaks", "peak_n")
CHILD_MARK = "ZOO_BENCH_ROWS "


def _failed_rows(name, modes, batch, note, **extra):
    """The rows of a model that failed a setting: one per mode, the reason in `note`."""
    return [{"model": name, "implementation": "zoo", "mode": mode, "batch": batch, "input": "",
             "note": note, **extra} for mode in modes]


def machine_peak(precision, peaks=None, n=4096):
    """The peak of `precision` (a Keras dtype policy name) for `zoo bench --full-size`'s rows:
    `{"peak_gflops", "peak_gflops_min", "peak_dtype", "peak_source", "peak_f32_gflops",
    "peak_bf16_gflops"}`; measured here (`zoo.bench.peak.matmul_peak`, one timing in float32
    and, where the CPU has it, bfloat16) unless `peaks` gives GFLOP/s by dtype (a data
    sheet's)."""
    from zoo.bench.peak import cpu_has_bfloat16, matmul_peak, precision_dtype

    dtype = precision_dtype(precision)
    if peaks:
        if dtype not in peaks:
            raise ValueError(f"`peaks` has no {dtype} peak. Received: peaks={peaks!r}")
        return {"peak_gflops": float(peaks[dtype]), "peak_gflops_min": float(peaks[dtype]),
                "peak_dtype": dtype, "peak_source": "data sheet",
                "peak_f32_gflops": peaks.get("float32"), "peak_bf16_gflops": peaks.get("bfloat16")}
    # one timing each (after an untimed one): the rows' fractions use the matmul timed in every
    # round beside the model (`bench_model`); these two only say what each precision reaches
    found = {"float32": matmul_peak("float32", n, repeats=1)}
    if dtype != "float32" or cpu_has_bfloat16():
        found[dtype if dtype != "float32" else "bfloat16"] = matmul_peak(
            dtype if dtype != "float32" else "bfloat16", n, repeats=1)
    best, _, worst = found[dtype]
    return {"peak_gflops": best / 1e9, "peak_gflops_min": worst / 1e9, "peak_dtype": dtype,
            "peak_source": f"matmul {n}x{n}, one before the model",
            "peak_f32_gflops": found["float32"][0] / 1e9,
            "peak_bf16_gflops": found["bfloat16"][0] / 1e9 if "bfloat16" in found else None}


def run_here(names, *, batch=2, size=None, length=16, steps=1, rounds=10, warmup=2,
             precisions=("float32",), jits=(False,), modes=("train", "infer"), peers=True,
             seed=0, progress=None, full_size=False, twin=None, peaks=None, peak_n=4096):
    """The rows of `names` on this process's Keras backend (see `bench`)."""
    import keras

    kind, machine = accelerator()
    common = {"backend": keras.backend.backend(), "versions": versions(), "machine": machine}
    batches = batch if isinstance(batch, (tuple, list)) else (batch,)
    rows = []
    for name in names:
        for precision in precisions:
            policy = mixed_policy() if precision == "mixed" else precision
            for jit in jits:
                for b in batches:
                    setting = {**common, "precision": policy, "jit": "on" if jit else "off"}
                    rows += _one_setting(name, setting, dict(
                        batch=b, size=size, length=length, steps=steps, rounds=rounds,
                        warmup=warmup, precision=policy, jit=jit, modes=modes, peers=peers,
                        seed=seed, progress=progress, full_size=full_size, twin=twin),
                        peaks, peak_n)
    return rows, kind


def _one_setting(name, setting, kwargs, peaks, peak_n):
    progress = kwargs["progress"]
    setting = {**setting, "load": load_average(),
               "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")}
    try:
        peak = None
        if kwargs["full_size"]:
            peak = machine_peak(kwargs["precision"], peaks, peak_n)
            if progress is not None:
                progress(f"{name}: peak {peak['peak_gflops']:.0f} GFLOP/s {peak['peak_dtype']}"
                         f" ({peak['peak_source']})")
        found = bench_model(name, peak=peak, peak_n=peak_n, **kwargs)
    except Exception as e:  # one model failing a setting is a row, not the end
        note = f"failed: {type(e).__name__}: {str(e).strip().splitlines()[0][:200]}"
        if progress is not None:
            progress(f"{name} {setting['precision']} jit {setting['jit']}: {note}")
        found = _failed_rows(name, kwargs["modes"], kwargs["batch"], note)
    setting["load_after"] = load_average()
    return [{**setting, **r} for r in found]


def _run_child(backend, names, settings, progress):
    env = dict(os.environ, KERAS_BACKEND=backend)
    cmd = [sys.executable, "-m", "zoo.bench.child", json.dumps({"names": list(names), **settings})]
    tail = []
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.PIPE, text=True)
        for line in proc.stderr:  # progress as it comes
            line = line.rstrip("\n")
            if line.startswith("zoo bench: ") and progress is not None:
                progress(f"[{backend}] " + line[len("zoo bench: "):])
            tail = (tail + [line])[-5:]
        proc.wait()
        out.seek(0)
        marked = [line for line in out.read().splitlines() if line.startswith(CHILD_MARK)]
    if proc.returncode != 0 or not marked:
        raise RuntimeError(f"the {backend} backend's process failed (status "
                           f"{proc.returncode}):\n" + "\n".join(tail))
    found = json.loads(marked[-1][len(CHILD_MARK):])
    return found["rows"], found["kind"]


def _run_isolated(backend, names, settings, progress):
    """Each model of `names` in a process of its own: the memory a model leaves behind (XLA
    executables, traced graphs: 20 GB after 25 models with `jit_compile` in one process) goes
    with its process; a model whose process fails gets rows that say so, and the others run."""
    rows, kind = [], None
    for name in names:
        try:
            found, k = _run_child(backend, [name], settings, progress)
        except RuntimeError as e:
            note = f"failed: {str(e).strip().splitlines()[0][:200]}"
            if progress is not None:
                progress(f"{name}: {note}")
            batch = settings.get("batch", 2)
            found, k = _failed_rows(name, settings.get("modes", ("train", "infer")),
                                    batch if isinstance(batch, int) else "", note,
                                    backend=backend), None
        rows += found
        kind = kind or k
    return rows, kind


def bench(names, backends=None, progress=None, isolate=None, **settings):
    """Rows for every model of `names` on every backend of `backends` (default: this process's).

    Settings: `batch`, `size` (an image model's side; default the registry's test size),
    `length` (the length of inputs without a fixed one, 16), `steps` (consecutive steps per
    timing), `rounds`, `warmup`, `precisions` (`float32`, `mixed`: `mixed_float16` on a GPU,
    `mixed_bfloat16` on a CPU), `jits` (`jit_compile` values), `modes` (`train`, `infer`),
    `peers`, `seed`; `full_size` (the registered configurations at their default input sizes,
    `batch` None: `zoo.bench.measure.full_size_batch`, `length` None: the cards' lengths; rows
    with FLOP/s and the fraction of the machine's peak, measured before each model unless
    `peaks` gives it by dtype), `twin` (the A/A twin; default: not at full size), `peak_n` (the
    peak's matrix side). `batch` may be a tuple: each in turn.
    `isolate` (default: when `names` has more than one model) runs each model
    in a child process of its own. Returns `(rows, machine kind)` (`cpu`, or the GPU's name)."""
    import keras

    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise ValueError(f"Unknown bench settings: {sorted(unknown)}")
    if isolate is None:
        isolate = len(names) > 1
    here = keras.backend.backend()
    rows, kind = [], None
    for backend in backends or (here,):
        if isolate:
            found, k = _run_isolated(backend, names, settings, progress)
        elif backend == here:
            found, k = run_here(names, progress=progress, **settings)
        else:
            found, k = _run_child(backend, names, settings, progress)
        rows += found
        kind = kind or k
    return rows, kind or accelerator()[0]
