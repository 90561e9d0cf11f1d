"""ruff (pycodestyle, pyflakes, import order, bugbear) is clean on every Python folder of the project.

The rules live in pyproject.toml ([tool.ruff]); ruff is in the `test` extra. `ruff check --fix` fixes
import order and unused imports; the rest is by hand.
"""
import importlib.util
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDERS = ["zoo", "recipes", "tests", "benchmarks", "tools"]


def test_ruff_clean():
    if importlib.util.find_spec("ruff") is None:
        pytest.fail("ruff is not installed: `pip install -e .[test]` (the test extra has it)")
    folders = [f for f in FOLDERS if os.path.isdir(os.path.join(ROOT, f))]
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", *folders], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (
        "ruff finds problems (`ruff check --fix` fixes import order and unused imports):\n"
        + proc.stdout + proc.stderr)
