"""Bad command lines: every verb refuses them before any work, with exit status 2, one error line
naming what is wrong and no traceback, and creates nothing (issue 15, point 1; traversal names are
tests/test_names.py's)."""

import os

import pytest

from zoo import cli

FILE = "a_file"  # a plain file in the working folder, where a folder is expected

TRAIN = ["train", "highway_net", "--epochs", "1", "--steps-per-epoch", "1"]
BAD = {  # what the error must name: the command line
    "log_every": [*TRAIN, "--log-every", "0"],
    "epochs": [*TRAIN[:2], "--epochs", "0"],
    "batch_size": [*TRAIN, "--batch-size", "0"],
    "steps_per_epoch": [*TRAIN[:2], "--steps-per-epoch", "0"],
    "checkpoint_every": [*TRAIN, "--checkpoint-every", "-1"],
    "warmup_steps": [*TRAIN, "--warmup-steps", "-5"],
    "seed": [*TRAIN, "--seed", "-1"],
    "cpu_devices": [*TRAIN, "--cpu-devices", "-2"],
    "run_dir": [*TRAIN, "--run-dir", FILE],
    "run_dir ": [*TRAIN, "--run-dir", os.path.join(FILE, "below")],
    "export_dir": [*TRAIN, "--export-dir", FILE],
    "learning": [*TRAIN, "--lr", "-1"],
    "optimizer": [*TRAIN, "--optimizer", "nosuch"],
    "momentum": [*TRAIN, "--optimizer", "sgd", "--momentum", "1.5"],
    "nesterov": [*TRAIN, "--optimizer", "sgd", "--nesterov"],
    "--strategy": [*TRAIN, "--strategy", "bogus"],
    "--precision": [*TRAIN, "--precision", "fp8"],
    "--epochs": [*TRAIN[:2], "--epochs", "abc"],
    "no_such_model": ["train", "no_such_model"],
    "export_dir  ": ["export", "highway_net", "--export-dir", FILE],
    "no_such_model ": ["export", "no_such_model"],
    "--tuner": ["tune", "highway_net", "--tuner", "nosuch"],
    "no_such_model  ": ["tune", "no_such_model"],
    "tls_cert": ["tune", "highway_net", "--tls-cert", "nowhere.pem"],
    "token_file": ["tune", "highway_net", "--token-file", FILE + "_missing"],
    "distributed search": ["tune", "highway_net", "--oracle-address", "0.0.0.0"],  # not distributed
    "no_such_model   ": ["info", "no_such_model"],
    "nowhere": ["verify", "nowhere"],
    "--set": [*TRAIN, "--set", "depth"],
    "classes": ["export", "highway_net", "--set", "classes=-1", "--export-dir", "sm"],
    "Datasets name": ["train", "resnet50", "--dataset", "cifar100x", "--epochs", "1"],
}


def _run(argv):
    try:
        return cli.main(list(argv))
    except SystemExit as e:  # argparse's own errors
        return e.code


def test_the_matrix_is_large_enough():
    assert len(BAD) >= 28 and len({a[0] for a in BAD.values()}) == 5  # train export tune info verify


@pytest.mark.parametrize("what", list(BAD), ids=lambda w: w.strip() + f"-{len(w)}")
def test_bad_invocation_exits_2_with_one_line_and_writes_nothing(what, tmp_path, monkeypatch,
                                                                 capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KERASTUNER_ORACLE_IP", raising=False)  # `zoo tune` not distributed
    (tmp_path / FILE).write_text("not a folder")
    assert _run(BAD[what]) == 2, BAD[what]
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert what.strip() in lines[0], (what, lines[0])
    assert sorted(os.listdir(tmp_path)) == [FILE]  # nothing created
