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
