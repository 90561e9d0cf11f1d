"""When the trainer checkpoints and evaluates (zoo.train.schedule, issue 31 point 4): the schedule's
grammar and decisions on a fake clock, and runs of short epochs that checkpoint and evaluate on
it, always at the end, and resume at the step of their last checkpoint."""

import os

import numpy as np
import pytest

from zoo.train.schedule import EpochEndSchedule, Every, Schedule, parse_every


@pytest.mark.parametrize("value, expected", [
    (0, Every("epochs", 1)), (7, Every("steps", 7)), ("7", Every("steps", 7)),
    ("500steps", Every("steps", 500)), ("90s", Every("seconds", 90)),
    ("1.5min", Every("seconds", 90)), ("2h", Every("seconds", 7200)), ("epoch", Every("epochs", 1)),
    ("3epochs", Every("epochs", 3)), ("auto", Every("auto")), ("END", Every("end"))])
def test_parse_every(value, expected):
    assert parse_every(value, "checkpoint_every") == expected


@pytest.mark.parametrize("value", [-1, "-3", "soon", "0s", "2.5steps", "0epochs", "s", True])
def test_parse_every_refuses_by_name(value):
    with pytest.raises(ValueError, match=r"`eval_every` must be .* Received: eval_every="):
        parse_every(value, "eval_every")


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _due_steps(schedule, clock, steps, spe, seconds_per_step, work_s=0.0):
    out = []
    for step in range(1, steps + 1):
        clock.t += seconds_per_step
        if schedule.due(step, step % spe == 0, step == steps):
            started = clock()
            clock.t += work_s
            schedule.done(step, started)
            out.append(step)
    return out


def test_schedules_on_a_fake_clock():
    clock = Clock()
    kw = dict(share=0.02, floor_s=30.0, clock=clock)
    assert _due_steps(Schedule("4steps", 5, **kw), clock, 13, 5, 1) == [4, 8, 12, 13]
    assert _due_steps(Schedule("2epochs", 5, **kw), clock, 20, 5, 1) == [10, 20]
    assert _due_steps(Schedule("end", 5, **kw), clock, 20, 5, 1) == [20]
    assert _due_steps(Schedule("10s", 1, **kw), clock, 30, 1, 3) == [4, 8, 12, 16, 20, 24, 28, 30]
    # auto: every 30 s while a checkpoint is quick; 50x its duration when it is slow (2%)
    assert _due_steps(Schedule("auto", 1, **kw), clock, 100, 1, 1) == [30, 60, 90, 100]
    slow = _due_steps(Schedule("auto", 1, **kw), clock, 300, 1, 1, work_s=2.0)
    assert slow[:3] == [30, 130, 230] and slow[-1] == 300
    # several workers: the time-based schedules decide on steps and epoch ends instead
    lock = Schedule("auto", 50, share=0.02, floor_s=30.0, clock=clock, lockstep=True,
                    lockstep_steps=20)
    assert _due_steps(lock, clock, 100, 50, 100) == [20, 40, 50, 60, 80, 100]


def test_epoch_end_schedule_of_evaluations():
    clock = Clock()
    # auto: the first two epochs, then when 20x the last one's duration has passed (5%)
    auto = EpochEndSchedule("auto", 1, share=0.05, clock=clock)
    assert _due_steps(auto, clock, 100, 1, 1, work_s=1.0) == [1, 2, 22, 42, 62, 82, 100]
    # steps: the first epoch end at least N steps after the last evaluation
    assert _due_steps(EpochEndSchedule("7", 3, share=0.05, clock=clock), clock, 30, 3, 1) == [
        9, 18, 27, 30]
    assert _due_steps(EpochEndSchedule("epoch", 3, share=0.05, clock=clock), clock, 9, 3, 1) == [
        3, 6, 9]


def _regression(tmp_path, epochs, **kw):
    import keras

    from zoo import data, train
    from zoo.tasks.sequence_regression import SequenceRegression

    rng = np.random.default_rng(0)
    x, x_val = rng.normal(size=(32, 3)).astype("float32"), rng.normal(size=(8, 3)).astype("float32")
    src = data.array_source("lin", x, x.sum(1, keepdims=True), x_val, x_val.sum(1, keepdims=True))
    cfg = train.TrainConfig(name="sched", epochs=epochs, steps_per_epoch=1, batch_size=8,
                            run_dir=str(tmp_path / "run"), export=False, progress=False,
                            strategy="one_device", keep_checkpoints=10, log_every=1, **kw)
    return train.Trainer(SequenceRegression(), src,
                         lambda: keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)]), cfg)


def _checkpoints(tmp_path):
    return sorted(int(f[5:-6]) for f in os.listdir(tmp_path / "run" / "checkpoints")
                  if f.startswith("ckpt-") and f.endswith(".index"))


def _evaluated(trainer):
    return [h["epoch"] for h in trainer.history if h["kind"] == "epoch" and "test_mse" in h]


def test_short_epochs_follow_the_schedule_and_resume_at_the_last_checkpoint(tmp_path):
    class Killed(Exception):
        pass

    def kill_at_7(trainer, step, metrics):
        if step == 7:
            raise Killed

    trainer = _regression(tmp_path, 9, checkpoint_every="3steps", eval_every="2epochs")
    trainer.step_callbacks.append(kill_at_7)
    with pytest.raises(Killed):
        trainer.fit()
    assert _checkpoints(tmp_path) == [3, 6]
    assert _evaluated(trainer) == [2, 4, 6]
    trainer = _regression(tmp_path, 9, checkpoint_every="3steps", eval_every="2epochs")
    summary = trainer.fit()
    assert summary["resumed_from_step"] == 6 and int(trainer.step.numpy()) == 9
    assert _checkpoints(tmp_path) == [3, 6, 9]
    assert _evaluated(trainer) == [2, 4, 6, 8, 9]  # and the last epoch, always
    assert [h["epoch"] for h in trainer.history if h["kind"] == "epoch"] == list(range(1, 10))
    assert summary["final_test"]["mse"] == pytest.approx(trainer.history[-1]["test_mse"])


def test_auto_checkpoints_a_short_run_once_at_its_end(tmp_path, monkeypatch):
    from zoo.train import trainer as trainer_module

    monkeypatch.setattr(trainer_module, "AUTO_CHECKPOINT_SECONDS", 1e6)  # a slow machine
    trainer = _regression(tmp_path, 4)
    trainer.fit()
    assert _checkpoints(tmp_path) == [4]
    assert _evaluated(trainer)[:2] == [1, 2] and _evaluated(trainer)[-1] == 4


def _bench(name):
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks",
                        f"{name}.py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _csv(path):
    import csv

    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_epoch_overhead_benchmark_writes_its_columns(tmp_path):
    bench = _bench("epoch_overhead")
    bench.main(["--tiny", "--runs", "1", "--out", str(tmp_path / "eo.csv")])
    rows = _csv(tmp_path / "eo.csv")
    assert list(rows[0]) == bench.COLUMNS
    assert sorted(r["setting"] for r in rows) == ["auto", "every epoch"]
    for r in rows:
        wall, cpu, fit, work, once = (float(r[k]) for k in (
            "wall_s", "cpu_s", "fit_s", "epoch_work_s", "once_work_s"))
        assert float(r["wall_per_cpu"]) == pytest.approx(wall / cpu, rel=1e-3)
        assert 0 < work and 0 < once and work + once < fit < wall
        assert float(r["epoch_work_share"]) == pytest.approx(work / fit, rel=1e-3)
    every = next(r for r in rows if r["setting"] == "every epoch")
    auto = next(r for r in rows if r["setting"] == "auto")
    assert (every["checkpoints"], every["evaluations"]) == ("3", "3")
    assert auto["checkpoints"] == "1" and auto["evaluations"] == "3"  # 1, 2 and the last


@pytest.mark.slow
def test_pipeline_throughput_benchmark_writes_its_columns(tmp_path):
    bench = _bench("pipeline_throughput")
    bench.main(["--tasks", "node_classification", "--tiny", "--runs", "1", "--warmup", "1",
                "--batches", "3", "--steps", "2", "--out", str(tmp_path / "pt.csv")])
    (row,) = _csv(tmp_path / "pt.csv")
    assert list(row) == bench.COLUMNS
    assert (row["task"], row["model"], row["batch_size"]) == ("node_classification", "gcn", "1")
    ratio = float(row["pipeline_eps"]) / float(row["step_eps"])
    assert float(row["ratio"]) == pytest.approx(ratio, rel=1e-3)
    assert row["ok"] == str(ratio >= 2.0)


def test_evaluation_pipelines_are_built_once_per_split_and_source(tmp_path, monkeypatch):
    from zoo import data

    trainer = _regression(tmp_path, 1, checkpoint_every="end")
    trainer.fit()
    built = []
    original = data.evaluation_pipeline
    monkeypatch.setattr(data, "evaluation_pipeline", lambda *a, **k: built.append(a) or original(*a, **k))
    first = trainer.evaluate("test")
    assert trainer.evaluate("test") == first and built == []  # built during fit, kept
    x = np.ones((8, 3), "float32")
    trainer.source = data.array_source("ones", x, x.sum(1, keepdims=True), x, 0 * x[:, :1])
    assert trainer.evaluate("test") != first and len(built) == 1  # another source: rebuilt
