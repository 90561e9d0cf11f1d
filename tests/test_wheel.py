"""The wheel is complete on its own: built, installed (not editable) into a scratch folder and run from an
unrelated folder, `zoo train`, `zoo export` and `zoo verify` work without the source tree.

The build copies the project (no .git, runs or exports) to a scratch folder, so nothing is written into
the checkout. The children see the wheel's folder as PYTHONPATH and the test environment's
site-packages for TensorFlow and the rest; the editable install's finder comes after PYTHONPATH on
`sys.meta_path`, and each run checks that `zoo` is the installed copy.
"""
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("test_wheel")]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOT_COPIED = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__", ".venv",
                                    ".pytest_cache", ".whl", "runs", "saved_models")
NOT_SHIPPED = ("recipes", "tests", "benchmarks", "tools", "docs")
# the cheapest real training run: a 4-unit peephole LSTM on the generated adding problem (no download)
MODEL = "peephole_lstm_regressor"
BUILD = ["--set", "units=4"]
TRAIN = ["--dataset", "adding", "--steps", "10", "--num-train", "64", "--epochs", "1",
         "--steps-per-epoch", "2", "--batch-size", "16", "--quiet"]
NOISE = ("I0000 ", "WARNING: All log messages", "W0000 ", "E0000 ")


def _run(cmd, cwd, env, timeout=300):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    out = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines() if not line.startswith(NOISE))
    if proc.returncode:
        command = " ".join(map(str, cmd))
        pytest.fail(f"{command} exited {proc.returncode} in {cwd}:\n{out[-4000:]}", pytrace=False)
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """(path of the wheel, folder it is installed in)."""
    # built without isolation (offline, fast): the build backend must be in this environment
    missing = [m for m in ("setuptools", "wheel") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.fail(f"building the wheel needs {missing} here (pyproject.toml's build-system.requires)")
    scratch = tmp_path_factory.mktemp("wheel")
    src, dist, site = scratch / "src", scratch / "dist", scratch / "site"
    shutil.copytree(ROOT, src, ignore=NOT_COPIED)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
          str(src)], cwd=scratch, env=os.environ.copy())
    wheels = sorted(dist.glob("*.whl"))
    assert len(wheels) == 1, wheels
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(site),
          str(wheels[0])], cwd=scratch, env=os.environ.copy())
    return wheels[0], site


def test_wheel_holds_the_package_only(wheel):
    path, _ = wheel
    with zipfile.ZipFile(path) as z:
        tops = {name.split("/")[0] for name in z.namelist()}
        assert "zoo/__init__.py" in z.namelist() and "zoo/cli.py" in z.namelist()
        assert any(line.strip().startswith("zoo = zoo.cli:main") for info in z.namelist()
                   if info.endswith(".dist-info/entry_points.txt")
                   for line in z.read(info).decode().splitlines())
    assert not tops & set(NOT_SHIPPED), f"the wheel ships {sorted(tops & set(NOT_SHIPPED))}: {sorted(tops)}"


def test_installed_wheel_trains_exports_and_verifies(wheel, tmp_path):
    _, site = wheel
    env = dict(os.environ, PYTHONPATH=str(site), KERAS_BACKEND="tensorflow", CUDA_VISIBLE_DEVICES="",
               TF_CPP_MIN_LOG_LEVEL="3")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    where = _run([sys.executable, "-c", "import zoo; print(zoo.__file__)"], cwd, env)
    assert os.path.realpath(where.strip().splitlines()[-1]).startswith(os.path.realpath(site) + os.sep), where

    script = site / "bin" / "zoo"
    assert script.exists(), f"pip installed no `zoo` console script: {sorted(os.listdir(site))}"
    _run([str(script), "train", MODEL, *TRAIN, *BUILD, "--export-dir", "sm"], cwd, env)
    assert (cwd / "sm" / MODEL / "1" / "saved_model.pb").exists()

    _run([sys.executable, "-m", "zoo.cli", "export", MODEL, *BUILD, "--export-dir", "sm"], cwd, env)
    assert (cwd / "sm" / MODEL / "2" / "saved_model.pb").exists()

    out = _run([sys.executable, "-m", "zoo.cli", "verify", os.path.join("sm", MODEL)], cwd, env)
    for version in ("1", "2"):
        assert os.path.join("sm", MODEL, version) in out, out
    assert sorted(os.listdir(cwd)) == ["runs", "sm"]  # nothing else written into the folder
