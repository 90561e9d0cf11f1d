"""Verifying exports in a process where `zoo` cannot be imported (`verify`, `verify_many`).

Every signature runs on sample inputs (from `assets.extra/signatures.json`) in a fresh process
that runs `zoo/export/verify_child.py` (TensorFlow alone; `zoo` blocked); its outputs are compared
with the Keras model run eagerly through the same task endpoints (when given), and
`saved_model_cli show --all` must list the named signatures. Optionally each signature is
converted to TFLite / ONNX and compared the same way.

Example:
    >>> import keras
    >>> from zoo.export import export_model, verify
    >>> inp = keras.Input((32, 32, 3))
    >>> out = keras.layers.Dense(10, activation="softmax")(keras.layers.GlobalAveragePooling2D()(inp))
    >>> model = keras.Model(inp, out)
    >>> path = export_model(model, "tiny", task="image_classification",
    ...                     export_dir="/tmp/saved_models", preprocessing="unit", top_k=3)
    >>> verify(path, keras_model=model)["ok"]
    True
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Dict, List

import numpy as np

from zoo.export.archive import endpoints_for, list_versions
from zoo.export.warmup import WARMUP_FILE, sample_inputs
from zoo.roles.serving import select_outputs

__all__ = ["verify", "verify_many", "find_exports"]


def _compare(name, got, want, atol, rtol):
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return {"ok": False, "error": f"shape {got.shape} != {want.shape}"}
    if got.dtype.kind in "OSU":  # strings (class names): equal
        return {"ok": bool(np.array_equal(got.astype(str), want.astype(str))), "max_abs_diff": 0.0}
    if got.dtype == np.uint8:
        d = np.abs(got.astype(np.int32) - want.astype(np.int32))
        # rounding of x*127.5 may flip by one grey level between graph and eager
        return {"ok": bool(d.max(initial=0) <= 1), "max_abs_diff": float(d.max(initial=0))}
    if got.dtype.kind in "iub":
        same = np.array_equal(got, want)
        diff = 0.0 if same else float(np.abs(got.astype(float) - want.astype(float)).max())
        return {"ok": bool(same), "max_abs_diff": diff}
    d = np.abs(got.astype(np.float64) - want.astype(np.float64))
    ok = bool(np.all(d <= atol + rtol * np.abs(want)))
    return {"ok": ok, "max_abs_diff": float(d.max(initial=0.0))}


def find_exports(path) -> List[str]:
    """The version folders written by `export_model` under `path`, sorted.

    `path` may be a version folder (`saved_models/resnet50/3`), a model folder (all its versions)
    or an export folder (every model's versions, as listed in `models.config`).
    """
    path = os.fspath(path)
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return [path]
    if not os.path.isdir(path):
        raise ValueError(f"`path` must be a version, model or export folder. Received: path={path!r}")
    found = [os.path.join(path, str(v)) for v in list_versions(path)]
    found = [p for p in found if os.path.exists(os.path.join(p, "saved_model.pb"))]
    if found:
        return found
    for d in sorted(os.listdir(path)):
        sub = os.path.join(path, d)
        if not d.startswith(".") and os.path.isdir(sub):
            found += [os.path.join(sub, str(v)) for v in list_versions(sub)
                      if os.path.exists(os.path.join(sub, str(v), "saved_model.pb"))]
    return found


def _load_sigdoc(path):
    sig_file = os.path.join(path, "assets.extra", "signatures.json")
    if not os.path.exists(os.path.join(path, "saved_model.pb")) or not os.path.exists(sig_file):
        raise ValueError(f"`path` must be a version folder written by zoo.export. Received: path={path!r}")
    with open(sig_file) as f:
        return json.load(f)


def verify(path, keras_model=None, *, atol=1e-5, rtol=1e-5, tflite=False, onnx=False,
           timeout=300, seed=0, **opts) -> Dict[str, Any]:
    """Check an export in a fresh process where `zoo` cannot be imported.

    Runs every signature on sample inputs (from `assets.extra/signatures.json`), compares the
    outputs with `keras_model` run eagerly through the same pre/post-processing (when given),
    and checks that `saved_model_cli show --all` lists the named signatures and their inputs.

    Args:
        path: a version folder written by `export_model`.
        keras_model: the exported Keras model (before `outputs` selection), or `None` to check only
            signatures, shapes, finiteness and consistency between outputs.
        atol, rtol: float tolerances (1e-5 in float32). uint8 images may differ by one level.
        tflite: also convert each signature to TFLite and compare the same way (reported per
            signature in `report["tflite"]`; a failed conversion does not fail the verification).
        onnx: the same with tf2onnx + onnxruntime (`pip install zoo[onnx]`), in `report["onnx"]`.
        timeout: seconds for the subprocess.
        **opts: export options overriding those recorded (e.g. a `preprocessing` or
            `translate_fn` callable that could not be recorded by name).

    Returns:
        A report dict; `report["ok"]` is the verdict and `report["problems"]` lists what failed.

    Example:
        >>> report = verify("saved_models/resnet50/1", keras_model=model)
        >>> assert report["ok"], report["problems"]
    """
    return verify_many([(path, keras_model, opts)], atol=atol, rtol=rtol, tflite=tflite,
                       onnx=onnx, timeout=timeout, seed=seed)[0]


def verify_many(items, *, atol=1e-5, rtol=1e-5, tflite=False, onnx=False, timeout=600, seed=0):
    """`verify` for several exports in one fresh process (one TensorFlow start-up).

    Args:
        items: a list of `path`, `(path, keras_model)` or `(path, keras_model, opts)`; a bare
            `path` may be a model or export folder (every version under it, see `find_exports`).
    """
    expanded = []
    for item in items:  # a bare folder: every export under it
        if isinstance(item, (str, os.PathLike)):
            expanded += [(p, None, {}) for p in find_exports(item)] or [(item, None, {})]
        else:
            expanded.append(item)
    items = expanded
    jobs, metas = [], []
    tmp = tempfile.mkdtemp(prefix="zoo-verify-")
    try:
        for i, item in enumerate(items):
            if isinstance(item, (str, os.PathLike)):
                item = (item, None, {})
            path, model, opts = (tuple(item) + (None, {}))[:3]
            path = os.path.abspath(path)
            sigdoc = _load_sigdoc(path)
            feeds = sample_inputs(sigdoc, seed=seed)
            np.savez(os.path.join(tmp, f"in{i}.npz"), **feeds)
            jobs.append({"path": path, "inputs": os.path.join(tmp, f"in{i}.npz"),
                         "outputs": os.path.join(tmp, f"out{i}.npz"),
                         "report": os.path.join(tmp, f"report{i}.json"), "tflite": bool(tflite),
                         "onnx": bool(onnx)})
            metas.append((path, model, opts or {}, sigdoc, feeds))
        with open(os.path.join(tmp, "jobs.json"), "w") as f:
            json.dump(jobs, f)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["TF_CPP_MIN_LOG_LEVEL"] = "3"
        repo_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        program = os.path.join(os.path.dirname(os.path.abspath(__file__)), "verify_child.py")
        child = subprocess.run([sys.executable, "-I", program, os.path.join(tmp, "jobs.json"), repo_root],
                               cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout)
        if child.returncode != 0:
            raise RuntimeError(f"verification process failed:\n{child.stderr[-3000:]}")
        reports = []
        for job, meta in zip(jobs, metas):
            with open(job["report"]) as f:
                child_report = json.load(f)
            if "load_error" in child_report:
                raise ValueError(
                    f"The SavedModel in {job['path']} cannot be loaded; saved_model.pb or its "
                    f"variables/ are damaged or incomplete ({child_report['load_error']}). "
                    f"Export it again.")
            if "error" in (child_report.get("warmup") or {}):
                raise ValueError(
                    f"The TF Serving warm-up file {os.path.join(job['path'], WARMUP_FILE)} is "
                    f"damaged ({child_report['warmup']['error']}). Export it again.")
            served = dict(np.load(job["outputs"]))
            reports.append(_check(meta, child_report, served, atol, rtol))
        return reports
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check(meta, child_report, served, atol, rtol):
    path, keras_model, opts, sigdoc, feeds = meta
    problems: List[str] = []
    report: Dict[str, Any] = {"path": path, "task": sigdoc["task"], "problems": problems, "outputs": {},
                              "zoo_blocked": child_report["zoo_blocked"],
                              "signatures": child_report["signatures"], "tflite": child_report["tflite"],
                              "onnx": child_report.get("onnx", {})}
    report["saved_model_cli"] = _check_listing(sigdoc, child_report, problems)
    _check_values(sigdoc, served, atol, problems)
    if keras_model is not None:
        _compare_with_keras(report, keras_model, opts, sigdoc, feeds, served, atol, rtol)
    warm = child_report.get("warmup")
    report["warmup"] = warm
    if warm is None:
        problems.append(f"no TF Serving warm-up requests ({WARMUP_FILE})")
    else:
        if sorted(warm["signatures"]) != sorted(sigdoc["signatures"]):
            problems.append(f"warm-up requests cover {sorted(warm['signatures'])}, not every "
                            f"signature {sorted(sigdoc['signatures'])}")
        problems += [f"warm-up request failed: {e}" for e in warm["failed"]]
    if not report["zoo_blocked"]:
        problems.append("zoo was importable in the verification process")
    report["ok"] = not problems
    return report


def _check_listing(sigdoc, child_report, problems):
    """Every documented signature, input and output is in the SavedModel and in
    `saved_model_cli`'s listing; returns the signatures it lists."""
    cli_out = child_report["cli"]
    listed = set(re.findall(r"signature_def\['([^']+)'\]", cli_out))
    for key, sig in sigdoc["signatures"].items():
        if key not in listed:
            problems.append(f"saved_model_cli does not list signature {key!r}")
        got = child_report["signatures"].get(key)
        if got is None:
            problems.append(f"signature {key!r} missing from the SavedModel")
            continue
        for t in sig["inputs"]:
            if t["name"] not in got["inputs"]:
                problems.append(f"{key}: input {t['name']!r} missing (has {sorted(got['inputs'])})")
            elif f"['{t['name']}'] tensor_info" not in cli_out:
                problems.append(f"saved_model_cli does not show input {t['name']!r}")
        for t in sig["outputs"]:
            if t["name"] not in got["outputs"] and t["name"] != "scores":
                problems.append(f"{key}: output {t['name']!r} missing (has {sorted(got['outputs'])})")
    return sorted(listed)


def _check_values(sigdoc, served, atol, problems):
    """Served values are finite; top-k values are the largest probabilities."""
    for k, v in served.items():
        if not k.startswith(("tflite::", "onnx::")) and v.dtype.kind == "f" and not np.all(np.isfinite(v)):
            problems.append(f"{k}: non-finite values")
    for key in sigdoc["signatures"]:
        p, tv = served.get(f"{key}::probabilities"), served.get(f"{key}::top_k_values")
        if p is not None and tv is not None:
            top = -np.sort(-p, axis=-1)[..., : tv.shape[-1]]
            if not np.allclose(top, tv, atol=atol):
                problems.append(f"{key}: top_k_values are not the largest probabilities")


def _compare_with_keras(report, keras_model, opts, sigdoc, feeds, served, atol, rtol):
    """Every served output (and its TFLite / ONNX conversion) against the task's functions run
    eagerly on the Keras model, with the same feeds."""
    import tensorflow as tf

    problems = report["problems"]
    merged = dict(sigdoc["options"])
    merged.update(opts)
    outputs = merged.pop("outputs", None)
    merged.pop("allow_non_finite", None)  # the export's input checks, not a task option
    model = select_outputs(keras_model, outputs)
    endpoints = {ep.name: ep for ep in endpoints_for(model, sigdoc["task"], **merged)}
    for key, sig in sigdoc["signatures"].items():
        ep = endpoints.get(key)
        if ep is None:
            problems.append(f"signature {key!r} not produced by the Keras model's task functions")
            continue
        kwargs = {t["name"]: tf.constant(feeds[f"{key}::{t['name']}"]) for t in sig["inputs"]}
        want = {n: np.asarray(v) for n, v in ep.fn(**kwargs).items()}
        for n, w in want.items():
            for prefix in ("", "tflite::", "onnx::"):
                g = served.get(f"{prefix}{key}::{n}")
                if g is None:
                    if not prefix:
                        problems.append(f"{key}: output {n!r} not served")
                    continue
                res = _compare(n, g, w, atol, rtol)
                report["outputs"][f"{prefix}{key}::{n}"] = res
                if not res["ok"]:
                    if prefix:
                        report[prefix[:-2]][key] = f"mismatch on {n}: {res}"
                    else:
                        problems.append(f"{key}::{n} differs from the Keras model: {res}")
