"""Run and export folders (issue 30): resume from relative, symlinked and moved-from run folders,
a re-run of another model refused, one writer per folder (`zoo.core.locks`), the backend check.

The trainings are in-process on a 4-feature linear problem (a few steps each); the lock tests
hold the lock from a second process (no TensorFlow in it) or a second thread.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import _spawn
from zoo.core.locks import LOCK_NAME, FolderBusyError, FolderLock, real_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 2  # per epoch


def _source(features=4):
    from zoo import data

    rng = np.random.default_rng(0)
    x, x_te = (rng.normal(size=(n, features)).astype("float32") for n in (32, 16))
    w = np.arange(1.0, features + 1.0, dtype="float32")[:, None]
    return data.array_source("linear", x, x @ w, x_te, x_te @ w)


def _dense(features=4, hidden=0):
    import keras

    layers = [keras.Input((features,))] + ([keras.layers.Dense(hidden)] if hidden else [])
    return keras.Sequential(layers + [keras.layers.Dense(1)])


def _trainer(run_dir, epochs, features=4, hidden=0, name="lin", step_callbacks=()):
    from zoo import train
    from zoo.tasks.sequence_regression import SequenceRegression

    cfg = train.TrainConfig(name=name, epochs=epochs, steps_per_epoch=STEPS, batch_size=16,
                            run_dir=None if run_dir is None else str(run_dir), export=False,
                            progress=False, strategy="one_device", checkpoint_every=0)
    return train.Trainer(SequenceRegression(), _source(features),
                         lambda: _dense(features, hidden), cfg, step_callbacks=step_callbacks)


def _fit(run_dir, epochs, **kw):
    return _trainer(run_dir, epochs, **kw).fit()


def test_checkpoints_of_a_relative_folder_are_found(tmp_path, monkeypatch):
    """The root cause of issue 30: TensorFlow joins a relative folder onto the paths of its state
    file, and the lookup joined it again, so a relative folder had no checkpoints."""
    import tensorflow as tf

    from zoo.train.trainer import checkpoint_candidates

    monkeypatch.chdir(tmp_path)
    v = tf.Variable([1.0])
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=v), "runs/x/checkpoints", 3)
    manager.save(checkpoint_number=4)
    found = checkpoint_candidates("runs/x/checkpoints")
    assert found == [str(tmp_path / "runs" / "x" / "checkpoints" / "ckpt-4")]


def test_relative_default_symlinked_and_moved_run_folders_resume(tmp_path, monkeypatch):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(work)
    assert _fit(None, 1)["resumed_from_step"] == 0  # the default folder, runs/lin
    summary = _fit(None, 2)  # re-run in the default relative folder: resumes
    assert summary["resumed_from_step"] == STEPS and summary["steps"] == 2 * STEPS
    assert summary["run_dir"] == str(work / "runs" / "lin")
    os.symlink(work / "runs", tmp_path / "link")
    assert _fit(tmp_path / "link" / "lin", 3)["resumed_from_step"] == 2 * STEPS  # a symlink
    monkeypatch.chdir(elsewhere)  # another working folder, the run named relative to it
    assert _fit("../work/runs/lin", 4)["resumed_from_step"] == 3 * STEPS

    # a chdir while training changes nothing: the folder was resolved once, at the start
    moved = []

    def chdir_once(trainer, step, metrics):
        if not moved:
            moved.append(step)
            os.chdir(tmp_path)

    summary = _trainer("fresh", 1, step_callbacks=[chdir_once]).fit()
    assert moved and os.getcwd() == str(tmp_path)
    assert summary["run_dir"] == str(elsewhere / "fresh")
    assert "ckpt-2.index" in os.listdir(elsewhere / "fresh" / "checkpoints")
    assert (elsewhere / "fresh" / "summary.json").exists() and not (tmp_path / "fresh").exists()


def test_a_rerun_of_another_model_or_shape_is_refused_and_the_run_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _fit("runs/lin", 1)
    run = tmp_path / "runs" / "lin"
    before = {p: (run / p).read_bytes() for p in ("history.json", "summary.json", "run.json")}
    ckpts = sorted(os.listdir(run / "checkpoints"))
    for kw, what in ((dict(hidden=3), "params 5 there, 19 now"),  # another model
                     (dict(features=5), "inputs [[None, 4]] there, [[None, 5]] now"),  # shape
                     (dict(name="other"), "name 'lin' there, 'other' now")):
        with pytest.raises(ValueError, match="holds another run") as e:
            _fit("runs/lin", 2, **kw)
        assert what in str(e.value) and "\n" not in str(e.value)
        assert sorted(os.listdir(run / "checkpoints")) == ckpts
        assert {p: (run / p).read_bytes() for p in before} == before
    assert _fit("runs/lin", 2)["resumed_from_step"] == STEPS  # the same settings still resume


def test_a_second_training_of_a_run_folder_is_refused(tmp_path):
    """Two trainings of one run folder at once (a second thread of this process starts one
    while the first runs): the second is refused by name and writes nothing."""
    refused = []

    def second(trainer, step, metrics):
        if step == 1:
            with pytest.raises(FolderBusyError, match=f"process {os.getpid()}") as e:
                _fit(tmp_path / "run", 3)
            refused.append(str(e.value))

    summary = _trainer(tmp_path / "run", 1, step_callbacks=[second]).fit()
    assert refused and "The run folder" in refused[0] and "run_dir=" in refused[0]
    assert summary["steps"] == STEPS and len(summary["final_test"]) > 0
    with open(tmp_path / "run" / "history.json") as f:  # only the first run's steps
        assert max(h["step"] for h in json.load(f)["history"]) == STEPS
    assert _fit(tmp_path / "run", 2)["resumed_from_step"] == STEPS  # released at the end


_HOLD = ("import sys, time; sys.path.insert(0, {root!r}); from zoo.core.locks import FolderLock;"
         "lock = FolderLock({folder!r}).acquire(); print('held', flush=True); "
         "time.sleep(float(sys.argv[1])); lock.release()")


def _holder(folder, seconds):
    proc = subprocess.Popen([sys.executable, "-c", _HOLD.format(root=ROOT, folder=str(folder)),
                             str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_the_lock_refuses_waits_and_is_never_stale(tmp_path):
    folder = tmp_path / "a" / "b"
    proc = _holder(folder, 60)  # another process writes the folder
    try:
        with pytest.raises(FolderBusyError, match=rf"process {proc.pid}: .*Received: run_dir="):
            FolderLock(folder, "run folder", "run_dir").acquire()
        os.kill(proc.pid, signal.SIGKILL)  # dies holding it: the kernel drops the lock
        proc.wait(10)
    finally:
        proc.kill()
    assert (folder / LOCK_NAME).exists()
    with FolderLock(folder) as lock:  # not stale: taken at once
        assert lock.held
        second = []  # a second writer in another thread of this process
        t = threading.Thread(target=lambda: second.append(_try_lock(folder)))
        t.start()
        t.join()
        assert isinstance(second[0], FolderBusyError), second
    assert not lock.held
    proc = _holder(folder, 1.0)  # another writer for about a second: a waiting lock gets it
    t0 = time.monotonic()
    with FolderLock(folder, wait=30):
        waited = time.monotonic() - t0
    proc.wait(10)
    assert 0.3 < waited < 20
    assert real_folder(tmp_path / "a" / ".." / "a" / "b") == str(folder)


def _try_lock(folder):
    try:
        FolderLock(folder).acquire()
    except FolderBusyError as e:
        return e
    return AssertionError("a second lock of one folder was granted")


def test_two_exports_into_one_folder_at_once_both_finish(tmp_path, monkeypatch):
    """The second export waits for the first (slowed down here) and takes the next version;
    before, it died with FileExistsError and its export was lost."""
    from zoo.export import archive, export_model, list_versions

    models = [_dense(), _dense()]
    real_docs = archive._write_docs
    started = threading.Event()

    def slow_docs(path, *a, **k):
        started.set()
        time.sleep(1.0)
        return real_docs(path, *a, **k)

    monkeypatch.setattr(archive, "_write_docs", slow_docs)
    paths, errors = [], []

    def export(model):
        try:
            paths.append(export_model(model, "lin", task="generic", export_dir=str(tmp_path)))
        except Exception as e:  # noqa: BLE001 -- reported below
            errors.append(e)

    first = threading.Thread(target=export, args=(models[0],))
    first.start()
    assert started.wait(120)
    export(models[1])
    first.join()
    assert not errors, errors
    assert sorted(os.path.basename(p) for p in paths) == ["1", "2"]
    assert list_versions(tmp_path / "lin") == [1, 2]
    assert sorted(os.listdir(tmp_path / "lin")) == ["1", "2"]  # nothing half-written left
    with open(tmp_path / "models.config") as f:
        assert 'name: "lin"' in f.read()


def test_zoo_train_of_a_busy_run_folder_is_one_line_before_the_data(tmp_path, monkeypatch,
                                                                    capsys):
    """A second `zoo train` of a run folder another process writes: exit 2, one line naming the
    folder and the writer, before any data is read; the folder is left as it was."""
    from zoo import cli
    from zoo.tasks.feature_classification import FeatureClassification

    def no_data(*a, **k):
        raise AssertionError("the data was read")

    monkeypatch.setattr(FeatureClassification, "make_source", no_data)
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "runs" / "highway_net"
    proc = _holder(run, 120)
    try:
        code = cli.main(["train", "highway_net", "--epochs", "1"])
    finally:
        proc.kill()
        proc.wait(10)
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1, err
    assert f"The run folder {run} is being written by another process (process {proc.pid}" in err[0]
    assert os.listdir(run) == [LOCK_NAME] and os.listdir(tmp_path) == ["runs"]


def _zoo(args, cwd, **env):
    full = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
                **env)
    return _spawn.run([sys.executable, "-m", "zoo.cli", *args], cwd=cwd, env=full,
                      capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_train_under_another_backend_is_one_line_before_any_work(backend, tmp_path):
    """`zoo train` under KERAS_BACKEND=jax (installed or not) or torch (whose package may be
    missing, so that `import keras` itself fails): one line naming it, exit 2, nothing made."""
    r = _zoo(["train", "highway_net", "--epochs", "1"], tmp_path, KERAS_BACKEND=backend)
    err = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2, r.stderr[-2000:]
    assert len(err) == 1 and f"KERAS_BACKEND='{backend}'" in err[0], err
    assert "KERAS_BACKEND=tensorflow" in err[0] and "Traceback" not in r.stderr
    assert os.listdir(tmp_path) == []


def test_the_trainer_refuses_another_backend_in_process(monkeypatch, tmp_path):
    import keras

    from zoo.train import backend

    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(ValueError, match=r"supports only the Keras backend 'tensorflow'.*"
                                         r"Received: KERAS_BACKEND='jax'"):
        _trainer(tmp_path / "run", 1)
    assert not (tmp_path / "run").exists()
    # before keras is imported, the backend is read as keras reads it: variable, file, default
    monkeypatch.setitem(sys.modules, "keras", None)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert backend.configured_backend() == "tensorflow"
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "torch"}))
    assert backend.configured_backend() == "torch"
    monkeypatch.setenv("KERAS_BACKEND", "numpy")
    assert backend.configured_backend() == "numpy"


def test_a_search_in_relative_folders_keeps_them_after_a_chdir(tmp_path, monkeypatch):
    """`zoo tune`'s project, trial run folders and export: relative folders are resolved once,
    at the start, so a chdir during a trial changes nothing."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import _tuning_standins as S
    from zoo import tuning
    from zoo.tuning import hypermodel

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    real_train = hypermodel.train_with_recipe_trainer

    def train_then_chdir(*a, **k):
        out = real_train(*a, **k)
        os.chdir(tmp_path)
        return out

    monkeypatch.setattr(hypermodel, "train_with_recipe_trainer", train_then_chdir)
    res = tuning.run_search(S.failing_spec(), tuning.SearchSettings(
        tuner="grid", directory="tune", export_dir="sm", log=lambda *_: None, steps_per_epoch=1,
        eval_examples=16, restrict={"learning_rate": 1e-2, "bad": False, "explode": False}))
    assert os.getcwd() == str(tmp_path)
    assert res["tuner"].project_dir == str(work / "tune" / "tiny_fail_grid")
    trials = [d for d in os.listdir(work / "tune" / "tiny_fail_grid") if d.startswith("trial_")]
    assert len(trials) == 1 and (work / "tune" / "tiny_fail_grid" / trials[0] / "train" /
                                 "summary.json").is_file()  # the trial's trainer wrote there
    assert res["export_path"] == str(work / "sm" / "tiny_fail" / "1")
    assert sorted(os.listdir(tmp_path)) == ["work"]
