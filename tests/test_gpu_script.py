"""benchmarks/gpu_jax.py (issue 16, point 5) works: run on the CPU at tiny sizes (`--smoke`)
under Keras' JAX backend with TensorFlow blocked; the output's structure, never its timings."""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("jax")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_gpu_script_runs_without_tensorflow_and_writes_its_table(tmp_path):
    out = tmp_path / "gpu"
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "gpu_jax.py"),
                          "--smoke", "--only", "transformer,lstm", "--peak-tflops", "100",
                          "--out", str(out)], capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    data = json.load(open(str(out) + ".json"))
    models = [r["model"] for r in data["rows"]]
    assert models == ["transformer_base", "peephole_lstm (zoo)", "keras.layers.LSTM (cuDNN)"]
    for r in data["rows"]:
        assert r["rate"] > 0 and r["rate_min"] <= r["rate"] <= r["rate_max"]
        assert 0 < r["mfu"] < 1 and r["tflops"] > 0
    assert data["rows"][0]["unit"] == "tokens/s"
    ratio = data["rows"][1]["ratio_vs_peer"]
    assert ratio == pytest.approx(data["rows"][1]["rate"] / data["rows"][2]["rate"])
    assert data["meta"]["smoke"] and data["meta"]["device"]
    table = open(str(out) + ".md").read()
    assert table.count("\n| ") == 4 and "x keras LSTM" in table  # header + 3 rows


def test_gpu_script_refuses_bad_flags():
    res = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "gpu_jax.py"),
                          "--only", "vgg"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "--only" in res.stderr.splitlines()[-1]


def test_gpu_script_full_size_rows_against_the_data_sheet(tmp_path):
    """`--full-size` (issue 31): zoo bench --full-size's rows on the JAX backend, TensorFlow
    blocked, with MFU against the given peak: columns and arithmetic, never timings."""
    import csv

    from zoo.bench.report import COLUMNS

    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "gpu_jax.py"),
                          "--full-size", "--models", "highway_net", "--batch-size", "4",
                          "--precisions", "float32", "--peak-tflops", "1.48",
                          "--results", str(tmp_path)], capture_output=True, text=True, env=env,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    with open(tmp_path / "bench-cpu-full.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == COLUMNS
        rows = list(reader)
    assert [(r["model"], r["backend"], r["jit"], r["mode"]) for r in rows] == [
        ("highway_net", "jax", "on", "infer"), ("highway_net", "jax", "on", "train")]
    for r in rows:
        assert (r["peak_source"], r["peak_dtype"], float(r["peak_gflops"])) == (
            "data sheet", "float32", pytest.approx(100.0))  # 1.48 TFLOP/s bf16 / 14.8
        passes = 3 if r["mode"] == "train" else 1
        gflops = passes * 2 * int(r["macs"]) * 4 / float(r["step_ms"]) * 1e3 / 1e9
        assert float(r["model_gflops"]) == pytest.approx(gflops, rel=1e-3)
        assert float(r["peak_fraction"]) == pytest.approx(gflops / 100.0, rel=1e-2)
    assert (tmp_path / "bench-cpu-full.md").exists() and "of peak" in res.stdout
