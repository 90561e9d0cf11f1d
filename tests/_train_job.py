"""A small training job for tests/test_train.py, run in a subprocess (one per worker).

    python tests/_train_job.py --strategy one_device --run-dir DIR --out weights.npz [--sleep S]

Trains a small convolutional network (no batch normalisation, no dropout, so every replica
count computes the same update) on the 8x8 digits for 3 epochs of 20 steps and saves the final
weights and the summary.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from zoo import data, train  # noqa: E402


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
        jit_compile=a.jit_compile, export=bool(a.export_dir), export_dir=a.export_dir or "",
        progress=False, seed=1)
    sleep = [lambda t, s, m: time.sleep(a.sleep)] if a.sleep else []
    trainer = train.Trainer(train.ClassificationTask(), src, build, cfg, strategy=strategy,
                            step_callbacks=sleep)
    summary = trainer.fit()
    import numpy as np

    np.savez(a.out, *[np.asarray(w) for w in trainer.model.get_weights()],
             step=int(trainer.step.numpy()))
    with open(a.out + ".json", "w") as f:
        json.dump(summary, f, default=str)


if __name__ == "__main__":
    main()
