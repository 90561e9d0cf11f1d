"""Mixed-precision training through the trainer (`zoo train --precision`), once per task kind.

One fresh process (the trainer sets Keras' global dtype policy) trains a registered model of each
task kind for six steps under `mixed_float16` (float16 compute, float32 weights, dynamic loss
scaling: the trainer wraps the optimisers in `keras.optimizers.LossScaleOptimizer`, which skips
the steps whose float16 gradients overflow and halves its scale; from 2**15, gated_resnet50's
first three steps overflow, so two steps would not move its weights at all). The flags keep each
case small where the checks do not depend on size: most of a case's CPU is tracing its training
step, so gated_resnet50 trains with plain SGD (Adam's update of its 246 weights, traced inside
LossScaleOptimizer's cond, was half the case's CPU; the other kinds train with Adam), the
forecaster reads windows of 5 steps (its attention loops unrolled over the window) and the GRU
adding problems of 10.
"""

import json
import os
import sys

import pytest

import _spawn
from zoo.core.task_kinds import TASKS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# task kind: (registered model, its tiny `zoo train` flags)
CASES = {
    "image_classification": ("gated_resnet50", ["--set", "base_filters=4", "--optimizer", "sgd"]),
    "image_discrimination": ("dcgan_discriminator_28", ["--set", "base_filters=4"]),
    "feature_classification": ("highway_net", ["--set", "depth=2", "--set", "width=8"]),
    "sequence_classification": ("peephole_lstm_classifier", ["--set", "units=8"]),
    "sequence_regression": ("gru_regressor", ["--set", "units=4", "--num-train", "64", "--steps",
                                              "10"]),
    "text_classification": ("transformer_classifier", [
        "--set", "num_layers=1", "--set", "d_model=16", "--set", "d_ff=32", "--set",
        "num_heads=2"]),
    "translation": ("transformer_base", [
        "--set", "num_layers=1", "--set", "d_model=16", "--set", "d_ff=32", "--set",
        "num_heads=2", "--max-length", "6", "--num-train", "64", "--decode-examples", "4"]),
    "image_generation": ("dcgan_generator_28", [
        "--latent-dim", "8", "--set", "base_filters=4", "--discriminator-set", "base_filters=4"]),
    "node_classification": ("gcn", []),
    "forecasting": ("da_rnn", ["--window", "5"]),
}

SCRIPT = r"""
import json, os, sys
import numpy as np
import keras
from zoo.core.registry import get_spec
from zoo.tasks import task_class
from zoo.train import recipe

cases, base = json.loads(sys.argv[1]), sys.argv[2]
initial = {}


def recording(build):  # the weights the model starts from, to see that the steps moved them
    def wrapped(*args, **kwargs):
        model = build(*args, **kwargs)
        if "weights" not in initial:  # the trained model (built first), not an export's copy
            initial["weights"] = [np.array(w) for w in model.trainable_weights]
        return model
    return wrapped


results = {}
for kind, (name, flags) in cases.items():
    cls = task_class(get_spec(name).task)
    initial.clear()
    original = cls.model_fn
    cls.model_fn = lambda self, *a, _o=original: recording(_o(self, *a))
    argv = [*flags, "--precision", "mixed_float16", "--epochs", "1", "--steps-per-epoch", "6",
            "--batch-size", "8", "--quiet", "--no-export", "--strategy", "one_device",
            "--run-dir", os.path.join(base, kind)]
    trainer = recipe.train_task(name, recipe.build_parser(name).parse_args(argv))
    cls.model_fn = original
    model, summary = trainer.model, trainer.summary
    moved = [float(np.abs(np.array(w) - w0).max())
             for w, w0 in zip(model.trainable_weights, initial["weights"])]
    results[kind] = {
        "task": summary["task"], "precision": summary["precision"], "steps": summary["steps"],
        "policies": sorted({l.dtype_policy.name for l in model._flatten_layers()
                            if l.weights}),
        "weight_dtypes": sorted({str(w.dtype) for w in model.trainable_weights}),
        "optimizers": sorted({type(o).__name__ for o in trainer.optimizers.values()}),
        "train": {k: float(v) for k, v in summary["final_train"].items()},
        "moved": sum(m > 0 for m in moved) / len(moved),
    }
    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session()
print("RESULT " + json.dumps(results))
"""


@pytest.mark.slow
def test_mixed_float16_training_step_of_every_task_kind(tmp_path):
    assert sorted(CASES) == sorted(TASKS)
    env = dict(os.environ, PYTHONPATH=ROOT, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3",
               KERAS_BACKEND="tensorflow")
    proc = _spawn.run([sys.executable, "-c", SCRIPT, json.dumps(CASES), str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    results = json.loads(line[len("RESULT "):])
    assert sorted(results) == sorted(TASKS)
    for kind, r in results.items():
        assert (r["task"], r["precision"], r["steps"]) == (kind, "mixed_float16", 6), r
        assert r["policies"] == ["mixed_float16"], (kind, r)  # every layer with weights
        assert r["weight_dtypes"] == ["float32"], (kind, r)
        assert r["optimizers"] == ["LossScaleOptimizer"], (kind, r)
        assert r["train"] and all(v == v and abs(v) < 1e6 for v in r["train"].values()), (kind, r)
        assert r["moved"] > 0.5, (kind, r)  # the applied steps updated (most of) the weights
