"""README.md is what docs/ makes, and CI runs exactly the test command README shows."""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import build_readme  # noqa: E402


def _readme():
    with open(os.path.join(ROOT, "README.md")) as f:
        return f.read()


def test_readme_is_built_from_docs():
    assert build_readme.build(_readme()) == _readme(), (
        "README.md is out of date with docs/: run python tools/build_readme.py")


def test_code_comments_in_readme_are_not_demoted_into_headings():
    text = build_readme.build("# t\n\n## Contents\n")
    assert "\n## Contents\n" in text
    demoted = build_readme._demote("## A\n```bash\n# a comment\n```\n### B")
    assert demoted == ["### A", "```bash", "# a comment", "```", "#### B"]
    assert build_readme._title("```\n# not a title\n```\n## Title") == "Title"


def test_ci_runs_readme_test_command():
    blocks = re.findall(r"```bash\n(.*?)\n```", _readme().split("## Contents")[0], re.S)
    assert len(blocks) == 2, blocks
    install, test_cmd = blocks
    assert "pip install -e \".[test]\"" in install and "zoo train" in install
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        ci = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    assert ci[-1] == test_cmd.strip(), (ci[-1], test_cmd)
