"""Names that become folders (export names, tuning projects, runs) cannot leave their folder: every
verb refuses '.', '..', names of dots, path separators and absolute paths, with one line and exit
status 2, before anything is loaded, built or written."""

import os

import pytest

from zoo import cli
from zoo.core.registry import check_folder_name

BAD = ["..", ".", "...", "../evil", "a/b", "/tmp/abs", "a\\b", "", "x y"]


@pytest.mark.parametrize("name", BAD)
def test_check_folder_name_refuses(name):
    with pytest.raises(ValueError, match=r"`name` must be one folder name.*Received: name="):
        check_folder_name(name)


@pytest.mark.parametrize("name", ["resnet50", "model.v2", "a-b_c", ".hidden"])
def test_check_folder_name_keeps_plain_names(name):
    assert check_folder_name(name) == name


def _invocations():
    out = []
    for name in ("..", ".", "../evil", "/tmp/zoo_abs_evil", "a/b"):
        # the case: a model from a .keras file exported under the name '..'
        out.append(["export", name, "--keras-file", "missing.keras", "--export-dir", "sm"])
        out.append(["export", name, "--export-dir", "sm"])
        out.append(["tune", "highway_net", "--project-name", name, "--directory", "tune",
                    "--max-trials", "1"])
    out.append(["train", "../resnet50", "--run-dir", "run"])
    out.append(["info", "../resnet50"])
    return out


def _run(argv):
    """`zoo ARGV` in-process: its exit status (argparse's errors exit, zoo's return 2)."""
    try:
        return cli.main(argv)
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize("argv", _invocations(), ids=lambda a: " ".join(a[:3]))
def test_every_verb_refuses_traversal_names_and_writes_nothing(argv, tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert _run(argv) == 2, argv
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err and "error" in err[-1] and "Traceback" not in "".join(err), err
    assert sorted(os.listdir(tmp_path)) == ["work"] and os.listdir(work) == []
    assert not os.path.exists("/tmp/zoo_abs_evil")
