"""Every generated file is current, and one command (tools/generate.py) runs every generator.

The fast check leaves out the cards (building every model at full size takes about 2 minutes):
tests/test_cards.py checks each stored card against its built model."""

import glob
import os
import re
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import generate  # noqa: E402

# files with generated blocks that hold measurements, rewritten by their benchmark scripts
MEASURED = {"docs/optimizers.md"}  # benchmarks/optimizers.py --write-docs


def test_every_generated_file_is_current(capsys):
    status = generate.main(["--check", "--skip", "cards"])
    out = capsys.readouterr().out
    assert status == 0, f"{out}(run python tools/generate.py)"
    assert "up to date: readme, bench, tuning_spaces, recipe_flags" in out


def test_check_names_the_stale_file_and_writing_fixes_it(tmp_path, monkeypatch, capsys):
    target = tmp_path / "table.md"
    target.write_text("old\n")
    monkeypatch.setitem(generate.GENERATORS, "fake", lambda: {str(target): "new\n"})
    assert generate.main(["--check", "--only", "fake"]) == 1
    assert f"{os.path.relpath(target, ROOT)} is out of date" in capsys.readouterr().out
    assert target.read_text() == "old\n"  # --check writes nothing
    assert generate.main(["--only", "fake"]) == 0
    assert target.read_text() == "new\n"
    assert generate.main(["--check", "--only", "fake"]) == 0


def test_the_command_covers_every_generated_block():
    # a file with generated blocks (markers such as `<!-- models:start -->`) is written by a
    # generator of tools/generate.py, or is a benchmark's results page
    marked = set()
    for path in glob.glob(os.path.join(ROOT, "docs", "*.md")) + [os.path.join(ROOT, "README.md")]:
        with open(path, encoding="utf-8") as f:
            if re.search(r"<!-- [\w .:/-]*(begin|start|flags:\w+) -->", f.read()):
                marked.add(os.path.relpath(path, ROOT))
    outputs = {"README.md", "docs/tuning.md", "docs/recipes.md"}
    assert outputs <= marked
    assert marked - MEASURED == outputs, sorted(marked - MEASURED - outputs)
    assert list(generate.GENERATORS) == ["cards", "readme", "bench", "tuning_spaces", "recipe_flags"]
    assert generate.SLOW == ("cards",)


@pytest.mark.parametrize("name", ["readme", "bench", "tuning_spaces", "recipe_flags"])
def test_each_fast_generator_writes_its_files(name):
    written = generate.GENERATORS[name]()
    assert written and all(os.path.isfile(p) for p in written), written
    expected = {"readme": ["README.md"], "bench": ["benchmarks/results/bench-cpu-full.md",
                                                           "benchmarks/results/bench-cpu.md"],
                "tuning_spaces": ["docs/tuning.md"], "recipe_flags": ["docs/recipes.md"]}[name]
    assert sorted(os.path.relpath(p, ROOT) for p in written) == expected
