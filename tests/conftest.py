import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_and_clear():
    import keras

    keras.utils.set_random_seed(0)
    yield
    keras.backend.clear_session()


def example_inputs(model, batch=2, seed=0, unknown=8):
    """Random inputs that fit `model.inputs` (ints in [1, 10) for integer inputs)."""
    import keras

    rng = np.random.default_rng(seed)
    arrays = []
    for t in model.inputs:
        shape = (batch,) + tuple(unknown if d is None else d for d in t.shape[1:])
        dtype = keras.backend.standardize_dtype(t.dtype)
        if "int" in dtype:
            arrays.append(rng.integers(1, 10, size=shape).astype(dtype))
        else:
            arrays.append(rng.standard_normal(shape).astype(dtype))
    return arrays[0] if len(arrays) == 1 else arrays


def jax_env():
    """The environment of a test's JAX process: the JAX backend on the CPU, and XLA without LLVM's
    optimisations. JAX compiles a program per weight shape for the random initializers (58 for
    GoogLeNet-BN), and at level 0 those compilations take half the time; the programs are tiny,
    so their speed does not matter here."""
    flags = os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0"
    return dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", XLA_FLAGS=flags.strip())


def jax_process(script, *args, timeout=600):
    """Run `script` (Python source) with `args` in a fresh JAX process (`jax_env`) from the
    repository root; asserts that it succeeded and returns its standard output."""
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", script, *args], cwd=root, env=jax_env(),
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def run_on_jax(script, timeout=600):
    """Run `script` in a fresh JAX process (`jax_process`); returns the JSON object it prints
    after `RESULT `."""
    import json

    out = jax_process(script, timeout=timeout)
    return json.loads([l for l in out.splitlines() if l.startswith("RESULT ")][-1][7:])
