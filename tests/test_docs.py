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
    for page in ("index.html", "api/core/registry/index.html", "api/models/resnet/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    # the API reference is rendered from the docstrings (static analysis, no import)
    with open(tmp_path / "site" / "api" / "core" / "registry" / "index.html") as f:
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


def test_package_docstrings_are_short_and_point_to_existing_pages():
    # one home per fact: a package's docstring says what it holds in a few lines and points to
    # the page of the manual that holds the facts
    import ast
    import glob
    import re

    inits = sorted(glob.glob(os.path.join(ROOT, "zoo", "*", "__init__.py")))
    assert len(inits) >= 10
    for path in inits:
        with open(path) as f:
            doc = ast.get_docstring(ast.parse(f.read()))
        name = os.path.relpath(path, ROOT)
        assert doc, f"{name} has no docstring"
        assert len(doc.splitlines()) <= 6, f"{name}: {len(doc.splitlines())} lines; the facts belong in docs/"
        pages = re.findall(r"docs/[\w/.]+", doc)
        assert pages, f"{name} points to no page of docs/"
        for page in pages:
            assert os.path.exists(os.path.join(ROOT, page.rstrip("."))), f"{name} points to {page}"


def test_architecture_page_shows_every_folder_at_its_rank():
    # docs/architecture.md's tree is the layering tests/test_architecture.py checks
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_architecture", os.path.join(ROOT, "tests", "test_architecture.py"))
    arch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(arch)
    with open(os.path.join(ROOT, "docs", "architecture.md")) as f:
        rows = {line.split()[1]: int(line.split()[0]) for line in f
                if line[:1].isdigit() and len(line.split()) > 1}
    for prefix, rank in arch.RANKS.items():
        path = prefix.replace(".", "/")
        if prefix == "zoo.__main__":
            continue  # `python -m zoo`, the command line again
        shown = path + ("/" if os.path.isdir(os.path.join(ROOT, path)) else ".py")
        assert rows.get(shown) == rank, (
            f"docs/architecture.md shows {shown} at rank {rows.get(shown)}; RANKS says {rank}")
    assert len(rows) == len(arch.RANKS) - ("zoo.__main__" in arch.RANKS)


def test_googlenet_page_states_the_builders_smallest_input_with_auxiliary_heads():
    """docs/googlenet_gated.md's `aux_logits=True` option names the smallest input the builder
    takes (it said 65x65 while the code refused anything under 79x79)."""
    import re

    import zoo

    with open(os.path.join(ROOT, "docs", "googlenet_gated.md")) as f:
        option = f.read().split("- `aux_logits=True`", 1)[1].split("\n- `", 1)[0]
    n = int(re.search(r"at least (\d+)x\1", option.replace("\n", " ")).group(1))
    with pytest.raises(ValueError, match=f"at least {n}x{n} for googlenet"):
        zoo.create_model("googlenet", aux_logits=True, input_shape=(n - 1, n - 1, 3))
