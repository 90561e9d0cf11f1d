"""The trainer (zoo.train): distribution, resume after SIGKILL, non-finite loss, outputs.

The distributed runs happen in subprocesses (tests/_train_job.py) on CPU over loopback: one
replica, `mirrored` over two logical CPU devices, and `multi_worker` with two worker processes on
127.0.0.1. All train the same small network with the same global batch; the weights must agree.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import _spawn
from conftest import finish_process

# One xdist worker runs this whole module, so its module-scoped fixtures are built once.
pytestmark = pytest.mark.xdist_group("test_train")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOB = os.path.join(ROOT, "tests", "_train_job.py")
TIMEOUT = 240


def _env(**extra):
    env = dict(os.environ)
    env.pop("TF_CONFIG", None)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["CUDA_VISIBLE_DEVICES"] = ""
    env.update(extra)
    return env


def _job(run_dir, out, *args, env=None, wait=True):
    cmd = [sys.executable, JOB, "--run-dir", str(run_dir), "--out", str(out), *map(str, args)]
    proc = _spawn.Popen(cmd, env=env or _env(), stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, text=True)
    if not wait:
        return proc
    return _finish(proc)


def _finish(proc):
    return finish_process(proc, TIMEOUT, "training job")


def _weights(path):
    f = np.load(path)
    return [f[f"arr_{i}"] for i in range(len(f.files) - 1)], int(f["step"])


def _summary(path):
    with open(str(path) + ".json") as f:
        return json.load(f)


def _assert_same(a, b, atol=1e-5):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=atol, rtol=0)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One replica, 60 steps of global batch 32, uninterrupted."""
    d = tmp_path_factory.mktemp("reference")
    _job(d / "run", d / "w.npz", "--strategy", "one_device")
    weights, step = _weights(d / "w.npz")
    assert step == 60
    return weights


@pytest.mark.slow
def test_mirrored_two_cpu_replicas_equal_one_replica(reference, tmp_path):
    _job(tmp_path / "run", tmp_path / "w.npz", "--strategy", "mirrored", "--cpu-devices", 2)
    weights, step = _weights(tmp_path / "w.npz")
    summary = _summary(tmp_path / "w.npz")
    assert summary["replicas"] == 2 and summary["strategy"] == "MirroredStrategy"
    assert step == 60
    _assert_same(weights, reference)


@pytest.mark.slow
def test_multi_worker_two_processes_equal_one_replica(reference, tmp_path):
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for i in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
        procs.append(_job(tmp_path / "run", tmp_path / f"w{i}.npz", "--strategy", "multi_worker",
                          env=_env(TF_CONFIG=tf_config), wait=False))
    for p in procs:
        _finish(p)
    w0, s0 = _weights(tmp_path / "w0.npz")
    w1, s1 = _weights(tmp_path / "w1.npz")
    assert s0 == s1 == 60
    assert _summary(tmp_path / "w0.npz")["replicas"] == 2
    _assert_same(w0, w1, atol=0)  # both workers hold identical weights
    _assert_same(w0, reference)
    # the chief wrote the checkpoints; the other worker's scratch copy is gone
    ckpts = os.listdir(tmp_path / "run" / "checkpoints")
    assert "ckpt-60.index" in ckpts
    assert not os.path.exists(tmp_path / "run" / "worker_tmp")


def _latest_step(ckpt_dir):
    try:
        with open(os.path.join(ckpt_dir, "checkpoint")) as f:
            first = f.readline()
    except OSError:
        return 0
    return int(first.strip().rsplit("-", 1)[-1].rstrip('"')) if "ckpt-" in first else 0


@pytest.mark.slow
def test_sigkill_mid_epoch_then_rerun_resumes_and_finishes(reference, tmp_path):
    run = tmp_path / "run"
    # Slowed down (50 ms a step) so the kill lands in the middle of the second epoch.
    proc = _job(run, tmp_path / "w.npz", "--strategy", "one_device", "--sleep", 0.05,
                wait=False)
    deadline = time.time() + TIMEOUT
    while _latest_step(run / "checkpoints") < 25:
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        assert time.time() < deadline, "no checkpoint at step 25 in time"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    killed_at = _latest_step(run / "checkpoints")
    assert 25 <= killed_at < 60 and killed_at % 20 != 0  # mid-epoch
    assert not os.path.exists(tmp_path / "w.npz")

    export_dir = tmp_path / "saved_models"
    _job(run, tmp_path / "w.npz", "--strategy", "one_device", "--export-dir", export_dir)
    summary = _summary(tmp_path / "w.npz")
    weights, step = _weights(tmp_path / "w.npz")
    assert summary["resumed_from_step"] >= killed_at  # resumed, not restarted
    assert step == summary["steps"] == 60
    # the resumed run continues the same data stream and optimizer state
    _assert_same(weights, reference)
    # history spans the whole run, training curve and summary are written
    with open(run / "history.json") as f:
        hist = json.load(f)["history"]
    assert [h["epoch"] for h in hist if h["kind"] == "epoch"] == [1, 2, 3]
    assert os.path.getsize(run / "training_curve.png") > 1000
    assert summary["final_test"]["accuracy"] > 0.5
    assert summary["examples_per_second"] > 0
    # exported to saved_models/job/1 (a complete SavedModel, no temporary folder left)
    assert sorted(os.listdir(export_dir / "job")) == ["1"]
    import tensorflow as tf

    loaded = tf.saved_model.load(str(export_dir / "job" / "1"))
    # exported through zoo.export: a named serving_default signature
    fn = loaded.signatures["serving_default"]
    (key, spec), = fn.structured_input_signature[1].items()
    outputs = fn(**{key: tf.zeros((2, 8, 8, 1), spec.dtype)})
    assert any(tuple(v.shape) == (2, 10) for v in outputs.values()), {
        k: tuple(v.shape) for k, v in outputs.items()}


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    import keras
    import tensorflow as tf

    from zoo import data, train
    from zoo.tasks.sequence_regression import SequenceRegression

    x = np.ones((64, 4), "float32")
    y = np.ones((64, 1), "float32")
    src = data.array_source("ones", x, y)

    class Explode(keras.layers.Layer):
        """Identity until the 7th call in training, then NaN (a diverging run)."""

        def build(self, shape):
            self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False)

        def call(self, x, training=False):
            if training:
                self.calls.assign_add(1.0)
                return x + tf.where(self.calls >= 7.0, np.nan, 0.0)
            return x

    def build():
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(1), Explode()])

    cfg = train.TrainConfig(name="nan", epochs=1, steps_per_epoch=10, batch_size=16,
                            checkpoint_every=3, run_dir=str(tmp_path), export=False,
                            progress=False, strategy="one_device")
    trainer = train.Trainer(SequenceRegression(), src, build, cfg)
    with pytest.raises(train.NonFiniteLossError, match=r"loss became nan at step 7 .*ckpt-6"):
        trainer.fit()
    ckpt_dir = tmp_path / "checkpoints"
    assert tf.train.latest_checkpoint(str(ckpt_dir)).endswith("ckpt-6")
    reader = tf.train.load_checkpoint(str(ckpt_dir))
    for name in reader.get_variable_to_shape_map():
        value = reader.get_tensor(name)
        if np.issubdtype(np.asarray(value).dtype, np.floating):
            assert np.all(np.isfinite(value)), name


def test_xla_under_a_strategy_matches_eager_graph(tmp_path):
    """`jit_compile='on'` compiles the per-replica step under OneDeviceStrategy; same updates."""
    import keras

    from zoo import data, train
    from zoo.tasks.sequence_regression import SequenceRegression

    src = data.get_source("adding", steps=10, num_train=256, num_test=64)
    results = []
    for jit in ("off", "on"):
        keras.backend.clear_session(free_memory=False)
        cfg = train.TrainConfig(name=f"jit_{jit}", epochs=1, steps_per_epoch=8, batch_size=32,
                                run_dir=str(tmp_path / jit), export=False, progress=False,
                                strategy="one_device", jit_compile=jit)
        trainer = train.Trainer(
            SequenceRegression(), src,
            lambda: keras.Sequential([keras.Input((10, 2)), keras.layers.Flatten(),
                                      keras.layers.Dense(8, activation="tanh"),
                                      keras.layers.Dense(1)]), cfg)
        summary = trainer.fit()
        assert summary["jit_compile"] is (jit == "on")
        results.append([np.asarray(w) for w in trainer.model.get_weights()])
    _assert_same(results[0], results[1], atol=1e-5)


def test_config_errors_name_the_argument():
    from zoo import train

    with pytest.raises(ValueError, match=r"`strategy` must be one of .* Received: strategy='tpu'"):
        train.TrainConfig(strategy="tpu").validate()
    with pytest.raises(ValueError, match=r"Received: precision='fp8'"):
        train.TrainConfig(precision="fp8").validate()
    assert train.TrainConfig(learning_rate=0.1, batch_size=1024, base_batch_size=256,
                             lr_scaling="linear").scaled_learning_rate() == pytest.approx(0.4)
    assert train.TrainConfig(learning_rate=0.1, batch_size=1024, base_batch_size=256,
                             lr_scaling="sqrt").scaled_learning_rate() == pytest.approx(0.2)


def test_model_step_task_uses_the_models_own_train_step(tmp_path):
    """A model bringing its own Keras `train_step` trains in the loop (the DCGAN hook)."""
    import keras

    from zoo import data, train

    src = data.get_source("adding", steps=10, num_train=512, num_test=64)

    def compile_fn(model, make_optimizer):
        model.compile(optimizer=make_optimizer(), loss="mse")

    cfg = train.TrainConfig(name="own_step", epochs=2, steps_per_epoch=16, batch_size=32,
                            learning_rate=1e-2, run_dir=str(tmp_path), export=False,
                            progress=False, strategy="one_device")
    trainer = train.Trainer(
        train.ModelStepTask(compile_fn), src,
        lambda: keras.Sequential([keras.Input((10, 2)), keras.layers.Flatten(),
                                  keras.layers.Dense(1)]), cfg)
    summary = trainer.fit()
    assert int(trainer.step.numpy()) == 32
    assert int(trainer.model.optimizer.iterations.numpy()) == 32
    first = [h["loss"] for h in trainer.history if h["kind"] == "train"][0]
    assert summary["final_train"]["loss"] < first


# (point, step): each kill lands after checkpoints exist, at a later step than the last resume
KILLS = [("step", 7), ("save_start", 10), ("shards_written", 15), ("state_file", 20),
         ("sweep", 25), ("after_history", 30), ("history_replace", 35), ("evaluate", 40),
         ("step", 52), ("plot", 60), ("summary", 60)]


def _run_killed(run, out, spec):
    proc = _job(run, out, "--strategy", "one_device", "--kill-at", spec, wait=False)
    try:
        text, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"job with --kill-at {spec} hung")
    # killed at the point (not finished, not failed): the point was really reached
    assert proc.returncode == -signal.SIGKILL, (spec, proc.returncode, text[-3000:])
    assert not os.path.exists(out)
    return text


@pytest.mark.slow
def test_killed_at_ten_points_and_a_damaged_checkpoint_resumes_to_the_same_weights(
        reference, tmp_path):
    """SIGKILL at 10 distinct moments (between writing a checkpoint's data and its index, before
    the state file names it, while old ones are deleted, mid-JSON-replace, in evaluation, ...);
    once, the newest checkpoint is then cut short. Every rerun resumes, and the final weights
    equal those of the uninterrupted run."""
    run, out = tmp_path / "run", tmp_path / "w.npz"
    assert len({p for p, _ in KILLS}) >= 10
    for point, step in KILLS:
        text = _run_killed(run, out, f"{point}@{step}")
        if point == "plot":  # the run after the damage: it warned, and went back to step 45
            assert "checkpoint" in text and "ckpt-50 is damaged and was skipped" in text, text
            with open(run / "history.json") as f:  # rewritten from step 45 on, once each
                steps = [h["step"] for h in json.load(f)["history"] if h["kind"] == "train"]
            assert steps == sorted(set(steps)) and 50 in steps, steps
        if (point, step) == ("step", 52):
            # the newest checkpoint (step 50) is damaged: half of its data file is gone
            data = [f for f in os.listdir(run / "checkpoints") if f.startswith("ckpt-50.data")]
            assert len(data) == 1, os.listdir(run / "checkpoints")
            path = run / "checkpoints" / data[0]
            size = os.path.getsize(path)
            with open(path, "r+b") as f:
                f.truncate(size // 2)
    text = _job(run, out, "--strategy", "one_device")
    summary = _summary(out)
    weights, step = _weights(out)
    assert step == 60 and summary["resumed_from_step"] == 60
    _assert_same(weights, reference)
    with open(run / "history.json") as f:
        hist = json.load(f)["history"]
    assert [h["epoch"] for h in hist if h["kind"] == "epoch"] == [1, 2, 3]
    assert "Traceback" not in text


def test_unreadable_checkpoints_and_a_foreign_model_are_refused_by_name(tmp_path):
    import tensorflow as tf

    from zoo.train.trainer import checkpoint_candidates

    d = tmp_path / "checkpoints"
    d.mkdir()
    v = tf.Variable([1.0, 2.0])
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=v), str(d), max_to_keep=5)
    for n in (5, 10, 15):
        manager.save(checkpoint_number=n)
    # complete ckpt-20 written but the state file never updated (a kill between the two)
    tf.train.Checkpoint(v=v).write(str(d / "ckpt-20"))
    assert [os.path.basename(p) for p in checkpoint_candidates(str(d))] == [
        "ckpt-20", "ckpt-15", "ckpt-10", "ckpt-5"]
    (d / "checkpoint").write_text("garbage {{{")  # a damaged state file: the listing remains
    assert [os.path.basename(p) for p in checkpoint_candidates(str(d))] == [
        "ckpt-20", "ckpt-15", "ckpt-10", "ckpt-5"]
    assert checkpoint_candidates(str(tmp_path / "missing")) == []


@pytest.mark.slow
def test_killing_one_worker_stops_the_other_then_both_resume(reference, tmp_path):
    """Issue 15, point 6: SIGKILL of the second worker of a two-worker run makes the chief exit
    with a clear error in bounded time (no hang); re-running both resumes from the chief's last
    checkpoint to the planned step with the uninterrupted run's weights."""
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}

    def start(i, *extra):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
        return _job(tmp_path / "run", tmp_path / f"w{i}.npz", "--strategy", "multi_worker",
                    *extra, env=_env(TF_CONFIG=tf_config), wait=False)

    procs = [start(i, "--sleep", 0.05) for i in range(2)]
    deadline = time.time() + TIMEOUT
    while _latest_step(tmp_path / "run" / "checkpoints") < 25:
        assert all(p.poll() is None for p in procs), [p.communicate()[0][-2000:] for p in procs]
        assert time.time() < deadline, "no checkpoint at step 25 in time"
        time.sleep(0.05)
    os.kill(procs[1].pid, signal.SIGKILL)
    killed = time.time()
    try:
        out, _ = procs[0].communicate(timeout=150)
    except subprocess.TimeoutExpired:
        procs[0].kill()
        pytest.fail("the chief hung after its peer was killed")
    procs[1].communicate()
    waited = time.time() - killed
    assert procs[0].returncode != 0, out[-3000:]
    assert "worker" in out and "stopped" in out and "--run-dir" in out, out[-3000:]
    last = _latest_step(tmp_path / "run" / "checkpoints")
    assert 25 <= last < 60, last
    procs = [start(i) for i in range(2)]
    for p in procs:
        _finish(p)
    summaries = [_summary(tmp_path / f"w{i}.npz") for i in range(2)]
    assert all(s["resumed_from_step"] == last for s in summaries), summaries
    w0, s0 = _weights(tmp_path / "w0.npz")
    assert s0 == 60
    _assert_same(w0, reference)
    print(f"chief exited {waited:.1f} s after its peer was killed")


def test_epochs_are_judged_on_validation_and_the_target_reported_on_test(tmp_path, capsys):
    """With a validation split, the per-epoch figures (history, curve, console) are the
    validation split's and the summary's `final_test` is the test split's, beside
    `final_validation`; without one, the epochs fall back to the test split."""
    import keras

    from zoo import data, train
    from zoo.tasks.sequence_regression import SequenceRegression

    rng = np.random.default_rng(0)
    x, x_val, x_te = (rng.normal(size=(n, 4)).astype("float32") for n in (64, 24, 40))
    w = np.arange(1.0, 5.0, dtype="float32")[:, None]
    src = data.array_source("linear", x, x @ w, x_te, x_te @ w + 20.0,  # test: shifted targets
                            validation=(x_val, x_val @ w))

    def build():
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])

    cfg = train.TrainConfig(name="splits", epochs=2, steps_per_epoch=4, batch_size=16,
                            run_dir=str(tmp_path / "run"), export=False, strategy="one_device",
                            learning_rate=0.05)
    trainer = train.Trainer(SequenceRegression(), src, build, cfg)
    summary = trainer.fit()
    out = capsys.readouterr().out
    epochs = [h for h in trainer.history if h["kind"] == "epoch"]
    assert [h["split"] for h in epochs] == ["validation", "validation"]
    assert all("validation_mse" in h and "test_mse" not in h for h in epochs)
    val, test = trainer.evaluate("validation"), trainer.evaluate("test")
    assert summary["final_validation"] == pytest.approx(val)
    assert epochs[-1]["validation_mse"] == pytest.approx(val["mse"])
    assert summary["final_test"] == pytest.approx(test)
    assert summary["final_test"]["mse"] > summary["final_validation"]["mse"]  # another split
    assert "  validation: " in out and "done: test {" in out and ", validation {" in out
    # no validation split: the epochs are evaluated on the test split, as before
    plain = data.array_source("linear", x, x @ w, x_te, x_te @ w)
    cfg = train.TrainConfig(name="plain", epochs=1, steps_per_epoch=2, batch_size=16,
                            run_dir=str(tmp_path / "plain"), export=False, progress=False,
                            strategy="one_device")
    trainer = train.Trainer(SequenceRegression(), plain, build, cfg)
    summary = trainer.fit()
    assert summary["final_validation"] == {} and "mse" in summary["final_test"]
    assert [h["split"] for h in trainer.history if h["kind"] == "epoch"] == ["test"]
    assert "test_mse" in trainer.history[-1]




def _three_adam_updates(name, shared, grads, path):
    """Weights and optimizer variables after three updates in a tf.function under a strategy,
    and the names a checkpoint of them holds."""
    import tensorflow as tf

    from zoo.train.optimizers import make_optimizer, share_step_scalars

    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        variables = [tf.Variable(np.ones(g.shape, "float32") * 0.5) for g in grads[0]]
        opt = make_optimizer(name, 1e-2, weight_decay=0.01 if name == "adamw" else None)
        opt = share_step_scalars(opt) if shared else opt
        opt.build(variables)
    assert type(opt) is type(make_optimizer(name))

    @tf.function
    def step(g):
        strategy.run(lambda: opt.apply_gradients(zip(g, variables)))

    for g in grads:
        step([tf.constant(x) for x in g])
    state = [v.numpy() for v in variables] + [np.asarray(v) for v in opt.variables]
    saved = tf.train.Checkpoint(opt=opt, v=variables).write(str(path))
    return state, sorted(n for n, _ in tf.train.list_variables(saved))


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_with_shared_step_scalars_updates_and_checkpoints_as_keras(name, tmp_path):
    """`share_step_scalars` (the trainer's Adam, its step size computed once per update): the
    same weights and optimizer variables as Keras' own Adam, bit for bit, after three updates,
    and a checkpoint of the same variables."""
    rng = np.random.RandomState(0)
    grads = [[rng.randn(*s).astype("float32") for s in [(3, 5), (5,), (5, 2)]] for _ in range(3)]
    keras_state, keras_names = _three_adam_updates(name, False, grads, tmp_path / "keras")
    state, names = _three_adam_updates(name, True, grads, tmp_path / "shared")
    assert names == keras_names and len(state) == len(keras_state)
    for a, b in zip(state, keras_state):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(state[0], np.ones((3, 5), "float32") * 0.5)
