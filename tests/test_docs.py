"""The documentation: the site builds without a broken link or reference, and README.md is a
front page whose model table is the registry's."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import build_readme  # noqa: E402


def _readme():
    with open(build_readme.README) as f:
        return f.read()


def test_site_builds_strict(tmp_path):
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         os.path.join(ROOT, "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-8000:]
    for page in ("index.html", "api/registry/index.html", "api/models/resnet/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    # the API reference is rendered from the docstrings (static analysis, no import)
    with open(tmp_path / "site" / "api" / "registry" / "index.html") as f:
        assert "register_model" in f.read()


def test_readme_is_a_front_page():
    lines = _readme().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; the manual belongs in docs/"
    assert lines.count(build_readme.START) == 1 and lines.count(build_readme.END) == 1


@pytest.fixture(scope="session")
def registry_table():
    return build_readme.model_table()


def test_readme_model_table_is_the_registry(registry_table):
    assert build_readme.with_table(_readme(), registry_table) == _readme(), (
        "README.md's model table is out of date: run python tools/build_readme.py")


def test_model_table_format():
    card = {"family": "resnet", "task": "image_classification", "params": 25636712,
            "macs": 3_860_000_000, "weights": {"imagenet": {}},
            "paper": "He et al. 2015, Deep Residual Learning, arXiv:1512.03385"}
    table = build_readme.model_table({"resnet50": card}, bench={})
    assert table.splitlines()[-1] == (
        "| `resnet50` | resnet | image_classification | 25,636,712 | 3.86 G | "
        "[He et al. 2015](https://arxiv.org/abs/1512.03385) | `imagenet` | - | - |")
    table = build_readme.model_table({"resnet50": card},
                                     bench={"resnet50": {"train": "9.7 ex/s", "infer": "42 ex/s"}})
    assert table.splitlines()[-1].endswith(" | `imagenet` | 9.7 ex/s | 42 ex/s |")
    text = f"head\n{build_readme.START}\nold\n{build_readme.END}\ntail\n"
    assert build_readme.with_table(text, "new") == (
        f"head\n{build_readme.START}\nnew\n{build_readme.END}\ntail\n")
    with pytest.raises(ValueError, match="markers"):
        build_readme.with_table("no markers", "new")
