"""A small training job for tests/test_train.py, run in a subprocess (one per worker).

    python tests/_train_job.py --strategy one_device --run-dir DIR --out weights.npz [--sleep S]

Trains a small convolutional network (no batch normalisation, no dropout, so every replica
count computes the same update) on the 8x8 digits for 3 epochs of 20 steps and saves the final
weights and the summary.

`--kill-at POINT@STEP` sends the process SIGKILL at a chosen moment of step STEP (see `KILL_POINTS`),
for the kill-and-resume tests: nothing is cleaned up, as when a machine is preempted.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from zoo.core.lazy import skip_optional_imports  # noqa: E402

skip_optional_imports()  # as the `zoo` command does
from zoo import data, train  # noqa: E402
from zoo.tasks.image_classification import ImageClassification  # noqa: E402

# where --kill-at can stop the run (each is reached at a given step)
KILL_POINTS = {
    "step": "after the step's update (a step callback)",
    "save_start": "as the trainer starts to save a checkpoint",
    "shards_written": "after a checkpoint's data shards are written, before their index is merged",
    "state_file": "after a checkpoint's files are complete, before the `checkpoint` state file "
                  "names it",
    "sweep": "while old checkpoints are deleted (one file of a checkpoint gone, the other not)",
    "after_history": "after history.json is written, before the checkpoint's data",
    "history_replace": "after history.json.tmp is written, before it replaces history.json",
    "evaluate": "during the end-of-epoch evaluation, before the epoch's checkpoint",
    "plot": "after the last step, checkpoint and evaluation, before the curve is drawn",
    "summary": "as summary.json is about to be written at the very end",
}


def install_kill(spec, get_step):
    """Patch the trainer and TensorFlow's checkpoint writer so that the process kills itself at
    `spec` = 'POINT@STEP'."""
    import signal

    from tensorflow.python.checkpoint import checkpoint_management as cm
    from tensorflow.python.ops import gen_io_ops

    from zoo.train import trainer as tr

    point, at = spec.split("@")
    at = int(at)
    if point not in KILL_POINTS:
        raise SystemExit(f"--kill-at: unknown point {point!r}; known: {sorted(KILL_POINTS)}")

    def die_if(name, cond=True):
        if name == point and cond and get_step() == at:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    def wrap(owner, attr, before=None, after=None):
        original = getattr(owner, attr)

        def patched(*args, **kwargs):
            if before:
                before(*args, **kwargs)
            out = original(*args, **kwargs)
            if after:
                after(*args, **kwargs)
            return out

        setattr(owner, attr, patched)

    wrap(tr.Trainer, "_save", before=lambda self: die_if("save_start"))
    wrap(gen_io_ops, "merge_v2_checkpoints", before=lambda *a, **k: die_if("shards_written"))
    wrap(cm, "update_checkpoint_state_internal", before=lambda *a, **k: die_if("state_file"))
    wrap(cm, "_delete_file_if_exists", after=lambda *a, **k: die_if("sweep"))
    wrap(tr.Trainer, "_write_json",
         before=lambda self, name, obj: die_if("summary", name == "summary.json"),
         after=lambda self, name, obj: die_if("after_history", name == "history.json"))
    wrap(tr.os, "replace", before=lambda src, dst: die_if(
        "history_replace", str(dst).endswith("history.json")))
    wrap(tr.Trainer, "evaluate", after=lambda self, *a, **k: die_if("evaluate"))
    wrap(tr.Trainer, "_plot", before=lambda self: die_if("plot"))
    return [lambda trainer, step, metrics: die_if("step")]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--strategy", default="one_device")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--cpu-devices", type=int, default=0)
    p.add_argument("--jit-compile", default="off")
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--checkpoint-every", type=int, default=5)
    p.add_argument("--export-dir", default=None)
    p.add_argument("--kill-at", default=None, help="POINT@STEP, see KILL_POINTS")
    a = p.parse_args()
    # strategy first: MultiWorkerMirroredStrategy must exist before other TF work
    strategy = train.make_strategy(a.strategy, cpu_devices=a.cpu_devices)
    import keras

    src = data.get_source("digits", image_size=8, channels=1, augment="none")

    def build():
        return keras.Sequential([
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ])

    cfg = train.TrainConfig(
        name="job", epochs=3, steps_per_epoch=20, batch_size=32, learning_rate=3e-3,
        run_dir=a.run_dir, checkpoint_every=a.checkpoint_every, log_every=5,
        eval_every="epoch",  # every epoch end, so that --kill-at evaluate@40 finds one
        jit_compile=a.jit_compile, export=bool(a.export_dir), export_dir=a.export_dir or "",
        progress=False, seed=1)
    callbacks = [lambda t, s, m: time.sleep(a.sleep)] if a.sleep else []
    holder = []
    if a.kill_at:
        callbacks += install_kill(a.kill_at, lambda: int(holder[0].step.numpy()))
    trainer = train.Trainer(ImageClassification(), src, build, cfg, strategy=strategy,
                            step_callbacks=callbacks)
    holder.append(trainer)
    summary = trainer.fit()
    import numpy as np

    np.savez(a.out, *[np.asarray(w) for w in trainer.model.get_weights()],
             step=int(trainer.step.numpy()))
    with open(a.out + ".json", "w") as f:
        json.dump(summary, f, default=str)


if __name__ == "__main__":
    main()
