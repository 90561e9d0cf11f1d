import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow runs each op on one thread in the tests and the processes they start: the suite runs
# two workers on two cores, and one intra-op thread each does the same work with less contention
# (tests/test_tuning_families.py, test_da_rnn.py and test_kv_cache.py, -n 2, this 2-core AMD EPYC
# idle: 154 s -> 129 s). The quality tests' figures under it (`python tests/quality_spread.py JOB
# one_thread 0`, and `JOB suite 0` with oneDNN on as below) are within their asserted spreads:
# docs/recipes.md lists them.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
# oneDNN's kernels on every x86 CPU: TensorFlow turns them on by itself only on CPUs with AVX-512
# VNNI, bfloat16 or AMX, and elsewhere runs its Eigen kernels, whose convolutions build im2col
# buffers of up to 128 MB per op (on a 2-core AMD EPYC without AVX-512: 4x slower DCGAN steps,
# 300 -> 74 ms, and 40% of the CPU in the kernel's page faults). The same kernels on every CI
# machine, and the quality figures are those of tests/quality_spread.py's `avx2` variant there.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def _preload_allocator(environ):
    """gperftools' tcmalloc for the workers and every process they start, where the machine has it
    (Debian's libtcmalloc-minimal4, which .ci/run installs) and no other library is preloaded:
    TensorFlow's tensors come and go through malloc, and glibc's returns their pages to the
    kernel to fault them in again. On the 2-core AMD EPYC, A/B interleaved, CPU seconds (user +
    system): `zoo train peephole_lstm_regressor --dataset adding ... --epochs 1` 28.8 and 27.6
    -> 21.9 and 23.4 (system 5.3 -> 1.3); building, exporting and round-tripping resnet152,
    googlenet_bn and transformer_base 58.5 and 60.9 -> 55.1 and 58.2. Returns the library or None."""
    if sys.platform != "linux" or environ.get("LD_PRELOAD"):
        return None
    import ctypes.util

    lib = ctypes.util.find_library("tcmalloc_minimal")
    if lib:
        environ["LD_PRELOAD"] = lib
        # its report of a single allocation over 1 GiB would be a line on stderr that tests count
        environ.setdefault("TCMALLOC_LARGE_ALLOC_REPORT_THRESHOLD", str(1 << 40))
    return lib


PRELOADED_AT_START = os.environ.get("LD_PRELOAD", "")  # this process's own (xdist's workers: ours)
_preload_allocator(os.environ)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

_TESTS_SINCE_GC = [0]


@pytest.fixture(autouse=True)
def _seed_and_clear():
    import gc

    import keras

    keras.utils.set_random_seed(0)
    yield
    # Keras' global state is reset after every test; Python's full garbage collection (0.2-0.6 s a
    # call in a testing process that has built many models) only every 25 tests: it was ~0.6 s of
    # every test's teardown, about 9 minutes of the suite's test-seconds (tests/durations.txt)
    keras.backend.clear_session(free_memory=False)
    _TESTS_SINCE_GC[0] += 1
    if _TESTS_SINCE_GC[0] >= 25:
        _TESTS_SINCE_GC[0] = 0
        gc.collect()


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


def finish_process(proc, timeout, what="process"):
    """The standard output of `proc` (a `subprocess.Popen` with text output) once it ends, after
    asserting that it succeeded; killed and failed with its last output after `timeout` seconds."""
    import subprocess

    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"{what} timed out:\n{out[-3000:]}")
    assert proc.returncode == 0, out[-3000:]
    return out


# ----------------------------------------------------------------------------- the fast loop
# `pytest -m fast` is a developer's loop of a few minutes: every test that is not marked `slow`
# and took at most FAST_SECONDS (setup, call and teardown) in the run recorded in
# tests/durations.txt; a test not recorded there yet counts as fast until a run records it.
# `pytest -q --durations-file tests/durations.txt` (a full run, as CI's) rewrites that record, as
# does ZOO_DURATIONS_FILE=PATH (for `bash .ci/run`, whose pytest command is the README's);
# README.md quotes its first line (tests/test_readme.py checks the quote).
DURATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "durations.txt")
FAST_SECONDS = 1.0


def pytest_addoption(parser):
    parser.addoption("--durations-file", default=None, metavar="PATH",
                     help="write every test's seconds (setup + call + teardown) to PATH, "
                          "slowest first (tests/durations.txt: the record `-m fast` reads)")


def _node_id(nodeid):
    """The node id without xdist's `@group` suffix (`--dist loadgroup`)."""
    return nodeid.split("@", 1)[0]


def durations_row(line):
    """(node id, wall seconds, CPU seconds) of a tests/durations.txt row: `WALL CPU NODEID`."""
    wall, cpu, nodeid = line.split(None, 2)
    return nodeid.strip(), float(wall), float(cpu)


def recorded_durations(path=DURATIONS):
    """{node id: seconds} of the run recorded in `path` (tests/durations.txt)."""
    if not os.path.exists(path):
        return {}
    out = {}
    with open(path) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                nodeid, seconds, _ = durations_row(line)
                out[nodeid] = seconds
    return out


def pytest_collection_finish(session):
    """The objects of the imports (TensorFlow, Keras, zoo, the test modules: ~440,000) out of
    Python's full garbage collections, which went over them every time (`gc.freeze`): the
    collections a test triggers go over its own objects. tests/test_resnet.py and
    test_gated_skip.py in one process: 11.0 s CPU in 29 full collections, 4.2 s in 32 frozen."""
    import gc

    gc.collect()
    gc.freeze()


def pytest_collection_modifyitems(config, items):
    recorded = recorded_durations()
    for item in items:
        if item.get_closest_marker("slow") is None and \
                recorded.get(_node_id(item.nodeid), 0.0) <= FAST_SECONDS:
            item.add_marker(pytest.mark.fast)


_SECONDS, _CPU = {}, {}
_START = []
_CPU_MARK = [0.0]


def _cpu_seconds():
    """User + system CPU seconds of this process and of the children it has waited for (the
    `zoo` commands, workers and JAX processes a test starts), with those forked from
    tests/_spawn.py's zygotes (and the zygotes' imports)."""
    import resource

    spawn = sys.modules.get("_spawn")
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN))
               ) + (spawn.FORKED_CPU[0] if spawn is not None else 0.0)


def pytest_runtest_logstart(nodeid, location):
    _CPU_MARK[0] = _cpu_seconds()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # each phase's CPU seconds travel in its report (to xdist's controller, which writes them)
    report = (yield).get_result()
    now = _cpu_seconds()
    report.user_properties = [*report.user_properties, ("cpu_seconds", now - _CPU_MARK[0])]
    _CPU_MARK[0] = now


def pytest_sessionstart(session):
    import time

    _START.append(time.time())
    if hasattr(session.config, "workerinput") or not session.config.getoption("numprocesses", None):
        import keras  # noqa: F401  (once per testing process, not in its first test's seconds)

        import _spawn

        _spawn.route_verification()  # zoo.export.verify's processes forked (tests/_spawn.py)


def pytest_runtest_logreport(report):
    nodeid = _node_id(report.nodeid)
    _SECONDS[nodeid] = _SECONDS.get(nodeid, 0.0) + report.duration
    _CPU[nodeid] = _CPU.get(nodeid, 0.0) + sum(
        v for k, v in getattr(report, "user_properties", ()) if k == "cpu_seconds")


def pytest_sessionfinish(session, exitstatus):
    import datetime
    import platform
    import time

    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller writes
        return
    # ZOO_DURATIONS_FILE: the same record from a run whose command is fixed (CI's `bash .ci/run`)
    path = session.config.getoption("--durations-file") or os.environ.get("ZOO_DURATIONS_FILE")
    if path is None or not _SECONDS:
        return
    workers = session.config.getoption("numprocesses", None) or 0
    rows = sorted(_SECONDS.items(), key=lambda kv: (-kv[1], kv[0]))
    with open(path, "w") as f:
        args = " ".join(a for a in session.config.invocation_params.args
                        if not a.startswith("--durations-file") and a != path)
        f.write(f"# {len(rows)} tests, {time.time() - _START[0]:.0f} s wall, -n {workers}, "
                f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
                f"{platform.machine()} {os.cpu_count()} cores, exit status {int(exitstatus)}: "
                f"pytest {args}\n")
        f.write("# seconds per test (setup + call + teardown), slowest first: wall, then CPU (its "
                "process and the processes it started and waited for; "
                f"{sum(_CPU.values()):.0f} s in all)\n")
        f.write("# written by `pytest --durations-file PATH` (tests/conftest.py); `pytest -m fast` "
                f"selects the tests not marked slow that took at most {FAST_SECONDS:g} s here\n")
        for nodeid, seconds in rows:
            f.write(f"{seconds:8.2f} {_CPU.get(nodeid, 0.0):8.2f} {nodeid}\n")
