"""The verification process of `zoo.export.verify` (a program, run as a script).

    python -I verify_child.py JOBS_JSON REPO_ROOT

It blocks `zoo` (an import of it fails), drops REPO_ROOT from the path, then for every job loads
the SavedModel with TensorFlow alone, lists its signatures as `saved_model_cli show --all` does,
runs every signature on the job's sample inputs and, when asked, converts each signature to
TFLite and ONNX and runs those too. It writes each job's outputs (`.npz`) and report (`.json`);
the parent (`zoo.export.verify`) compares them with the Keras model. It imports nothing of zoo,
so it shows that an export runs where zoo is not installed.
"""
# ruff: noqa: E401, E402, E741

import contextlib
import importlib
import importlib.abc
import importlib.util
import io
import json
import os
import sys


class _BlockZoo(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "zoo" or name.startswith("zoo."):
            raise ModuleNotFoundError("`zoo` is blocked in the verification process", name=name)
        return None
sys.meta_path.insert(0, _BlockZoo())


class _SkipOptional(importlib.abc.MetaPathFinder):
    """Imports that TensorFlow and Keras make while loading, for features this process never
    uses, refused to those modules only (they go on without them, as where the package is not
    installed): TFLite's JAX converter and Keras' Orbax callback import `jax`, Keras' scikit-learn
    wrappers `sklearn` and its plotting helpers `matplotlib`."""

    SKIPPED = {"jax": ("tensorflow.lite.", "keras.src.callbacks.orbax_checkpoint"),
               "sklearn": ("keras.src.wrappers.",), "matplotlib": ("keras.src.visualization.",)}

    def find_spec(self, name, path=None, target=None):
        importers = self.SKIPPED.get(name)
        frame = sys._getframe(1) if importers else None
        while frame is not None:  # refused only when one of those modules imports it
            if frame.f_globals.get("__name__", "").startswith(importers):
                raise ModuleNotFoundError(f"{name} is not loaded for {importers}", name=name)
            frame = frame.f_back
        return None
sys.meta_path.insert(0, _SkipOptional())
jobs_file, repo_root = sys.argv[1], sys.argv[2]
sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != os.path.abspath(repo_root)]
try:  # a probe: the import must fail
    importlib.import_module("zoo")
    zoo_blocked = False
except ImportError:
    zoo_blocked = True
assert zoo_blocked, "zoo importable in the verification process"
# Keras is not loaded here, as in TF Serving: a SavedModel loads and runs with TensorFlow alone.
# TensorFlow's own start-up imports Keras for `tf.keras` when it can (some 1,300 modules, 2.6 to
# 2.9 s CPU of a 9 s start on the shared 2-core machine); an entry of None in sys.modules makes
# it absent (TensorFlow then leaves `tf.keras` unset; only using it would fail)
sys.modules["keras"] = sys.modules["tf_keras"] = None
import numpy as np
import tensorflow as tf
from tensorflow.python.tools import saved_model_cli


def _load_text_ops():
    """Register TF Text's ops (SentencepieceOp, ...), which text exports use and TF Serving links:
    the op libraries that `import tensorflow_text` loads, loaded without the package's Python
    side (its Keras layers need Keras). Not installed: an export using those ops fails to load,
    and says so."""
    spec = importlib.util.find_spec("tensorflow_text")  # found, not imported
    folder = os.path.join(spec.submodule_search_locations[0], "python", "ops") if spec else ""
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        if name.startswith("_") and name.endswith(".so"):
            tf.load_op_library(os.path.join(folder, name))
_load_text_ops()


def _to_onnx(path, keys, targets):
    """[(exit status, stderr)] of converting each signature `keys[i]` to `targets[i]` with
    tf2onnx, all in one more process (TensorFlow starts once, not once per signature); a
    signature the process did not reach gets the process's own."""
    import subprocess
    result_file = targets[0] + ".json" if targets else os.devnull
    program = os.path.join(os.path.dirname(os.path.abspath(__file__)), "onnx_child.py")
    r = subprocess.run([sys.executable, "-I", program, json.dumps(
        [["--saved-model", path, "--signature_def", k, "--output", t] for k, t in zip(keys, targets)]),
        result_file], capture_output=True, text=True, cwd=os.path.dirname(os.path.abspath(result_file)))
    try:
        with open(result_file) as f:
            done = json.load(f)
    except (OSError, ValueError):
        done = []
    return done + [[r.returncode or 1, r.stderr]] * (len(keys) - len(done))


# Long by design: the program's whole job loop (listing, running, warm-up requests, TFLite, ONNX),
# one step after another as a reader checks them against `zoo.export.verify`'s report
def _run(jobs_file):
    """Every job of `jobs_file`: its SavedModel loaded, listed and run, its outputs and report
    written."""
    with open(jobs_file) as f:
        jobs = json.load(f)
    for job in jobs:
        path = job["path"]
        inputs = dict(np.load(job["inputs"]))
        buf = io.StringIO()
        try:  # a damaged file (cut short, overwritten) is reported by name, not as a traceback
            with contextlib.redirect_stdout(buf):
                # what `saved_model_cli show --dir PATH --all` prints, less its op list and "Concrete
                # Functions" (which load the whole model a second time)
                from tensorflow.python.tools import saved_model_utils
                for mgd in saved_model_utils.read_saved_model(path).meta_graphs:
                    print("\nMetaGraphDef with tag-set: '%s' contains the following SignatureDefs:"
                          % ", ".join(mgd.meta_info_def.tags))
                    for key in sorted(mgd.signature_def):
                        print("\nsignature_def['" + key + "']:")
                        saved_model_cli._show_inputs_outputs_mgd(mgd, key, indent=1)
            loaded = tf.saved_model.load(path)
        except Exception as e:
            text = [l.strip() for l in str(e).strip().splitlines() if l.strip()]
            with open(job["report"], "w") as f:
                json.dump({"zoo_blocked": zoo_blocked, "load_error":
                           type(e).__name__ + (": " + text[0][:300] if text else "")}, f)
            np.savez(job["outputs"])
            continue
        report = {"zoo_blocked": zoo_blocked, "signatures": {}, "tflite": {}, "cli": buf.getvalue()}
        outputs = {}
        for key in sorted(loaded.signatures):
            fn = loaded.signatures[key]
            spec = fn.structured_input_signature[1]
            names = sorted(spec)
            report["signatures"][key] = {
                "inputs": {n: [spec[n].dtype.name, spec[n].shape.as_list()] for n in names},
                "outputs": {n: [s.dtype.name, s.shape.as_list()] for n, s in fn.structured_outputs.items()},
            }
            feed = {n: tf.constant(inputs[key + "::" + n]) for n in names if key + "::" + n in inputs}
            if len(feed) != len(names):
                continue
            for n, v in fn(**feed).items():
                v = v.numpy()  # strings (class names) as unicode: np.load refuses object arrays
                outputs[key + "::" + n] = v.astype(str) if v.dtype.kind in "OS" else v
        # TF Serving's warm-up requests (assets.extra/tf_serving_warmup_requests): each one run
        warm_file = os.path.join(path, "assets.extra", "tf_serving_warmup_requests")
        if os.path.exists(warm_file):
            from tensorflow_serving.apis import prediction_log_pb2
            warm = report["warmup"] = {"signatures": [], "failed": []}
            try:
                requests = [prediction_log_pb2.PredictionLog.FromString(r.numpy()).predict_log.request
                            for r in tf.data.TFRecordDataset(warm_file)]
            except Exception as e:  # a damaged file: the parent names it in one line
                text = [l.strip() for l in str(e).strip().splitlines() if l.strip()]
                warm["error"] = type(e).__name__ + (": " + text[0][:300] if text else "")
                requests = []
            for request in requests:
                key = request.model_spec.signature_name
                warm["signatures"].append(key)
                try:
                    loaded.signatures[key](**{k: tf.constant(tf.make_ndarray(v))
                                              for k, v in request.inputs.items()})
                except Exception as e:
                    warm["failed"].append(key + ": " + type(e).__name__ + ": " + str(e).strip()[:300])
        if job["tflite"]:
            for key in sorted(loaded.signatures):
                # builtin ops first; when they cannot express the graph, builtins + TF ops (Flex)
                builtins_error = None
                for ops in ([tf.lite.OpsSet.TFLITE_BUILTINS],
                            [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]):
                    stage = "conversion"
                    try:
                        conv = tf.lite.TFLiteConverter.from_saved_model(path, signature_keys=[key])
                        conv.target_spec.supported_ops = ops
                        if len(ops) > 1:
                            conv._experimental_lower_tensor_list_ops = False
                        flat = conv.convert()
                        stage = "run"
                        runner = tf.lite.Interpreter(model_content=flat).get_signature_runner(key)
                        res = runner(**{n: inputs[key + "::" + n] for n in runner.get_input_details()})
                        for n, v in res.items():
                            outputs["tflite::" + key + "::" + n] = np.asarray(v)
                        report["tflite"][key] = (
                            "converted" if builtins_error is None else
                            "converted with SELECT_TF_OPS (Flex delegate); builtins only "
                            "failed: " + builtins_error)
                        break
                    except Exception as e:
                        lines = [l.strip() for l in str(e).strip().splitlines() if l.strip()]
                        errors = [l.split("error: ", 1)[-1] for l in lines if "error: " in l]
                        msg = (errors or lines[-1:] or [""])[-1].split(". ")[0][:200]
                        msg = type(e).__name__ + ": " + msg
                        if builtins_error is None:
                            builtins_error = msg
                            continue
                        if stage == "run":
                            report["tflite"][key] = (
                                "failed: builtins only: " + builtins_error + "; converts "
                                "with SELECT_TF_OPS, but the Flex delegate is not linked "
                                "into Python's tf.lite.Interpreter, so not run here")
                        else:
                            report["tflite"][key] = ("failed: builtins only: " + builtins_error +
                                                     "; with SELECT_TF_OPS: " + msg)
        if job["onnx"]:
            report["onnx"] = {}
            keys = sorted(loaded.signatures)
            targets = [job["outputs"] + "." + key + ".onnx" for key in keys]
            for key, target, (returncode, stderr) in zip(keys, targets, _to_onnx(path, keys, targets)):
                if returncode != 0:
                    errs = [l for l in stderr.splitlines() if "Error" in l] or stderr.splitlines()[-1:]
                    report["onnx"][key] = "failed: " + (errs[-1][:300] if errs else "")
                    continue
                try:
                    import onnxruntime as ort
                    sess = ort.InferenceSession(target)
                    res = sess.run(None, {i.name: inputs[key + "::" + i.name] for i in sess.get_inputs()})
                    for o, v in zip(sess.get_outputs(), res):
                        outputs["onnx::" + key + "::" + o.name] = np.asarray(v)
                    report["onnx"][key] = "converted"
                except Exception as e:
                    report["onnx"][key] = "failed: " + type(e).__name__ + ": " + str(e)[:300]
        np.savez(job["outputs"], **outputs)
        with open(job["report"], "w") as f:
            json.dump(report, f)


# Run as a program, it verifies the jobs. Run under another name, only the lines above run:
# TensorFlow imported as this program imports it, zoo blocked (the test suite's zygote,
# tests/_spawn.py, forks its verification processes from such a process)
if __name__ == "__main__":
    _run(jobs_file)
