"""CI runs exactly the test command README.md shows, after exactly its install command."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _setup_section():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    return text.split("\n## Set-up\n", 1)[1].split("\n## ", 1)[0]


def test_ci_runs_readme_test_command():
    blocks = re.findall(r"```bash\n(.*?)\n```", _setup_section(), re.S)
    assert len(blocks) == 2, blocks
    install, test_cmd = blocks
    assert "pip install -e \".[test]\"" in install and "zoo train" in install
    with open(os.path.join(ROOT, ".ci", "run")) as f:
        ci = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    assert ci[-1] == test_cmd.strip(), (ci[-1], test_cmd)
    assert 'pip install --quiet -e ".[test]"' in "\n".join(ci)
