"""zoo.tuning: conditional grids, failed trials, SIGKILL resume, distributed chief + workers."""

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

import _spawn

sys.path.insert(0, os.path.dirname(__file__))

import _tuning_standins as S  # noqa: E402
from zoo import tuning  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _runs(project_dir):
    with open(os.path.join(project_dir, "runs.jsonl")) as f:
        return [json.loads(line) for line in f]


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "tests")]),
               TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    for k in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "ZOO_TUNE_SIGKILL_AT"):
        env.pop(k, None)
    env.update(extra)
    return env


def _search_cmd(spec, tmp, *args):
    # `zoo tune` (recipes/search.py takes the same flags and calls the same function; its run end
    # to end is tests/test_recipes.py's): the zoo command starts without TensorFlow's optional
    # imports, about 2 s of CPU less in each of these tests' seven search processes
    return [sys.executable, "-m", "zoo.cli", "tune", spec, "--directory",
            str(tmp / "tune"), "--export-dir", str(tmp / "sm"), "--steps-per-epoch", "3",
            "--eval-examples", "64", *args]


def test_conditional_grid_is_enumerated_exactly():
    def space(hp):
        out = {"learning_rate": hp.Choice("learning_rate", [1e-2, 1e-3])}
        if hp.Choice("cell", ["lstm", "gru"]) == "lstm":
            out["peepholes"] = hp.Boolean("peepholes")
            out["units"] = hp.Int("units", 4, 8, step=4)
        with hp.conditional_scope("cell", ["gru"]):
            if out.get("peepholes") is None:
                out["dropout"] = hp.Float("dropout", 0.1, 0.3, step=0.1)
        return out

    grid = tuning.grid_trials(space)
    # lstm: 2 (peepholes) x 2 (units); gru: 3 dropouts (keras-tuner's own Float grid drops 0.3)
    assert len(grid) == 2 * (2 * 2 + 3)
    assert len({json.dumps(g, sort_keys=True) for g in grid}) == len(grid)
    assert {round(g["dropout"], 6) for g in grid if g["cell"] == "gru"} == {0.1, 0.2, 0.3}
    assert all("dropout" not in g for g in grid if g["cell"] == "lstm")
    b, t = tuning.split_overrides({"learning_rate": 1e-3, "units": 8, "warmup_steps": 10})
    assert b == {"units": 8} and t == {"learning_rate": 1e-3, "warmup_steps": 10}
    with pytest.raises(ValueError, match="step"):
        tuning.grid_trials(lambda hp: {"x": hp.Float("x", 0.0, 1.0)})
    with pytest.raises(ValueError, match="tuner"):
        tuning.make_tuner(S.small_spec(), tuning.SearchSettings(tuner="annealing"))


@pytest.mark.parametrize("tuner_name", ["grid", "random", "bayesian", "hyperband"])
def test_the_space_is_discovered_without_building_a_model(tmp_path, tuner_name):
    """keras-tuner builds the hypermodel once per conditional branch to find the space; zoo's
    tuners run the space function alone: the same hyperparameters and conditions, no model."""
    import dataclasses
    import functools

    import keras_tuner as kt

    built = []

    @functools.wraps(S.tiny_mlp)
    def counted(**kwargs):
        built.append(kwargs)
        return S.tiny_mlp(**kwargs)

    def space_fn(hp):  # a branch of each value of `cell`, each found by keras-tuner's loop
        out = {"learning_rate": hp.Choice("learning_rate", [1e-2, 1e-3])}
        cell = hp.Choice("cell", ["lstm", "gru"])
        with hp.conditional_scope("cell", ["lstm"]):
            if cell == "lstm":
                out["peepholes"] = hp.Boolean("peepholes")
        with hp.conditional_scope("cell", ["gru"]):
            if cell == "gru":
                out["units"] = hp.Choice("units", [4, 8])
        return out

    spec = dataclasses.replace(S.conditional_spec(), builder=counted, search_space=space_fn)
    t = tuning.make_tuner(spec, tuning.SearchSettings(tuner=tuner_name, directory=str(tmp_path),
                                                      max_trials=2, log=lambda *_: None))
    assert built == []

    def keras_tuners_own(hp):  # a plain build function: keras-tuner's discovery builds it
        space_fn(hp)
        return S.tiny_mlp()

    ref = kt.RandomSearch(keras_tuners_own, objective="val_loss", max_trials=2,
                          directory=str(tmp_path), project_name="reference")
    space, expected = t.oracle.get_space(), ref.oracle.get_space()
    assert space.get_config() == expected.get_config()
    assert [(h.name, [c.values for c in h.conditions]) for h in space.space] == [
        ("learning_rate", []), ("cell", []), ("peepholes", [["lstm"]]), ("units", [["gru"]])]
    t.hypermodel.build(t.oracle.get_space())  # a trial's build still builds the model
    assert len(built) == 1


def test_grid_runs_each_point_once_failures_recorded_report_and_export(tmp_path):
    spec = S.failing_spec()  # learning_rate x bad x explode: 2 fine, 2 NaN, 4 bad combinations
    logs = []
    res = tuning.run_search(spec, tuning.SearchSettings(
        tuner="grid", directory=str(tmp_path / "tune"), export_dir=str(tmp_path / "sm"),
        log=logs.append, steps_per_epoch=3, eval_examples=64))
    assert res["num_trials"] == 8 and logs[0].startswith("grid search over 8 trials")
    rows = res["rows"]
    assert len(rows) == 8
    status = {(r["learning_rate"], r["bad"], r["explode"]): r["status"] for r in rows}
    assert len(status) == 8
    for (lr, bad, explode), st in status.items():
        assert st == ("COMPLETED" if not bad and not explode else "FAILED"), (lr, bad, explode, st)
    assert any("non-finite loss" in r["message"] for r in rows)
    assert any("`bad` must be False" in r["message"] for r in rows)
    starts = [r["trial_id"] for r in _runs(res["tuner"].project_dir) if r["event"] == "start"]
    assert sorted(starts) == sorted(set(starts)) and len(starts) == 8
    md = open(res["table_md"]).read()
    assert md.count("| COMPLETED |") == 2 and md.count("| FAILED |") == 6
    header = open(res["table_csv"]).readline().strip().split(",")
    assert header[:4] == ["trial", "bad", "explode", "learning_rate"]
    with open(res["plot"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert res["best_hyperparameters"]["bad"] is False
    assert res["export_path"].endswith(os.path.join("tiny_fail", "1"))
    assert os.path.exists(os.path.join(res["export_path"], "saved_model.pb"))


@pytest.mark.slow
@pytest.mark.parametrize("tuner_name,args", [("grid", []), ("hyperband", ["--max-epochs", "3"])])
def test_sigkill_resume_does_not_rerun_finished_trials(tmp_path, tuner_name, args):
    stand_in = "small_spec" if tuner_name == "hyperband" else "conditional_spec"
    cmd = _search_cmd(f"_tuning_standins:{stand_in}", tmp_path, "--tuner", tuner_name, "--no-export", *args)
    first = _spawn.run(cmd, env=_env(ZOO_TUNE_SIGKILL_AT="3"), capture_output=True, text=True,
                       timeout=240)
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    project = tmp_path / "tune" / f"tiny_{'small' if tuner_name == 'hyperband' else 'cond'}_{tuner_name}"
    before = _runs(project)
    finished = {r["trial_id"] for r in before if r["event"] == "end"}
    assert len(finished) == 2 and len([r for r in before if r["event"] == "start"]) == 3
    second = _spawn.run(cmd, env=_env(), capture_output=True, text=True, timeout=240)
    assert second.returncode == 0, second.stderr[-3000:]
    after = _runs(project)[len(before):]
    rerun = {r["trial_id"] for r in after if r["event"] == "start"}
    assert not rerun & finished, (rerun, finished)
    ended = [r["trial_id"] for r in _runs(project) if r["event"] == "end"]
    assert len(ended) == len(set(ended))  # no trial finished twice
    md = (project / "trials.md").read_text()
    assert "RUNNING" not in md and md.count("| COMPLETED |") == len(ended)
    if tuner_name == "grid":
        assert len(ended) == 6


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_distributed_chief_and_two_workers(tmp_path):
    port = str(_free_port())
    cmd = _search_cmd("_tuning_standins:conditional_spec", tmp_path, "--tuner", "grid", "--time-limit", "200")
    procs = {}
    for tid in ("chief", "tuner0", "tuner1"):
        env = _env(KERASTUNER_TUNER_ID=tid, KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=port)
        procs[tid] = _spawn.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
    outs = {}
    try:
        for tid, p in procs.items():
            outs[tid] = p.communicate(timeout=240)[0]
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    for tid, p in procs.items():
        assert p.returncode == 0, (tid, outs[tid][-3000:])
    runs = _runs(tmp_path / "tune" / "tiny_cond_grid")
    ended = [r for r in runs if r["event"] == "end"]
    assert len(ended) == 6 and len({r["trial_id"] for r in ended}) == 6  # every grid point once
    assert {r["tuner_id"] for r in ended} <= {"tuner0", "tuner1"}
    assert len({r["pid"] for r in ended}) == 2  # both workers ran trials
    md = (tmp_path / "tune" / "tiny_cond_grid" / "trials.md").read_text()
    assert md.count("| COMPLETED |") == 6
    assert "best model exported" in outs["chief"]
    assert os.path.exists(tmp_path / "sm" / "tiny_cond" / "1" / "saved_model.pb")


def test_run_search_old_keyword_call_warns_and_still_works(tmp_path):
    """`run_search(model, tuner, **keywords)` (before `SearchSettings`) for one release."""
    spec = S.failing_spec()
    with pytest.deprecated_call(match="SearchSettings"):
        res = tuning.run_search(spec, "grid", directory=str(tmp_path / "tune"), export=False,
                                log=lambda *_: None, steps_per_epoch=1, eval_examples=16,
                                restrict={"learning_rate": 1e-2, "bad": False, "explode": False})
    assert res["num_trials"] == 1 and [r["status"] for r in res["rows"]] == ["COMPLETED"]
    with pytest.raises(TypeError, match="not both"):
        tuning.run_search(spec, tuning.SearchSettings(), tuner="grid")
    with pytest.raises(TypeError, match="unexpected keyword"):
        tuning.run_search(spec, "grid", tuners="grid")


def test_zoo_tune_flags_build_search_settings():
    import argparse

    from zoo.tuning.cli import add_cli, settings_of

    parser = argparse.ArgumentParser()
    add_cli(parser.add_subparsers())
    args = parser.parse_args(["tune", "highway_net", "--tuner", "grid", "--steps-per-epoch", "4",
                              "--set", "depth=5", "--no-export"])
    st = settings_of(args)
    assert isinstance(st, tuning.SearchSettings)
    assert (st.tuner, st.steps_per_epoch, st.restrict, st.export) == ("grid", 4, {"depth": 5}, False)


def test_bayesian_search_runs_its_trials_and_reports_the_best(tmp_path):
    """A tiny Bayesian search (keras-tuner's Gaussian-process oracle): 2 random initial points,
    then one point it proposes; every trial runs once, and the best is the best completed row."""
    import dataclasses
    import functools
    import gc
    import weakref

    import keras_tuner as kt

    models, alive = [], []

    @functools.wraps(S.tiny_mlp)
    def builder(**kwargs):  # each trial's build finds the earlier trials' models collected
        alive.append(sum(m() is not None for m in models))
        models.append(weakref.ref(S.tiny_mlp(**kwargs)))
        return models[-1]()

    frozen = gc.get_freeze_count()
    res = tuning.run_search(dataclasses.replace(S.small_spec(), builder=builder),
                            tuning.SearchSettings(
        tuner="bayesian", max_trials=3, seed=0, directory=str(tmp_path / "tune"), export=False,
        log=lambda *_: None, steps_per_epoch=2, eval_examples=32))
    # the collector as it was (a frozen object that dies leaves the count: never more, never 0)
    assert alive == [0, 0, 0] and (0 < gc.get_freeze_count() <= frozen or frozen == 0
                                   == gc.get_freeze_count())
    oracle = res["tuner"].oracle
    assert isinstance(oracle, kt.oracles.BayesianOptimizationOracle)
    assert oracle.num_initial_points == 2
    rows = res["rows"]
    assert len(rows) == 3 and [r["status"] for r in rows] == ["COMPLETED"] * 3, rows
    points = {(r["units"], round(r["learning_rate"], 12)) for r in rows}
    assert len(points) == 3  # no point tried twice
    assert all(1e-3 <= r["learning_rate"] <= 1e-1 and r["units"] in (4, 8, 16) for r in rows)
    best = min(rows, key=lambda r: r["score"])  # the objective is val_loss (min) here
    assert res["best_hyperparameters"] == {"learning_rate": best["learning_rate"],
                                           "units": best["units"]}
    starts = [r["trial_id"] for r in _runs(res["tuner"].project_dir) if r["event"] == "start"]
    assert len(starts) == len(set(starts)) == 3


def test_a_search_freezes_the_heap_unless_the_process_froze_it_itself():
    """`heap_frozen` freezes the heap for a search and unfreezes it after (nested searches: after
    the last); a process that froze objects itself (a forking server, this suite after its
    imports) keeps its freeze as it was."""
    import gc

    from zoo.tuning.search import heap_frozen

    suite = gc.get_freeze_count()
    gc.unfreeze()
    try:
        with heap_frozen():
            assert gc.get_freeze_count() > 0
            with heap_frozen():
                pass
            assert gc.get_freeze_count() > 0
        assert gc.get_freeze_count() == 0
        gc.freeze()
        mine = gc.get_freeze_count()
        with heap_frozen():  # neither more frozen nor unfrozen (a frozen object that dies leaves it)
            assert 0 < gc.get_freeze_count() <= mine
        assert 0 < gc.get_freeze_count() <= mine
    finally:
        gc.unfreeze()
        if suite:
            gc.freeze()
