"""TF Serving warm-up records and a suggested batching configuration (TensorFlow only).

TF Serving runs the requests of `assets.extra/tf_serving_warmup_requests` (a TFRecord file of
`tensorflow.serving.PredictionLog` protos) when it loads a version, before the version takes
traffic, so that the first user request does not pay for graph optimisation and kernel
initialisation (https://www.tensorflow.org/tfx/serving/saved_model_warmup). `zoo.export` writes
one request per signature, built from the signature's documented sample inputs (`sample_inputs`,
the same inputs `zoo verify` uses), and a suggested `batching_parameters.txt` beside it for
`tensorflow_model_server --enable_batching --batching_parameters_file=...`. `zoo verify` reads the
warm-up file back and runs every request it holds.

Example:
    >>> from zoo.export.warmup import read_warmup_requests
    >>> [(sig, sorted(inputs)) for sig, inputs in read_warmup_requests("saved_models/tiny/1")]
    [('classify_float', ['images']), ('serving_default', ['images'])]
"""

from __future__ import annotations

import os
from typing import Dict, List, Tuple

import numpy as np

from zoo.roles.image_bytes import encoded_samples

__all__ = ["WARMUP_FILE", "BATCHING_FILE", "BATCHING_PARAMETERS", "sample_inputs",
           "write_warmup_requests", "read_warmup_requests", "write_batching_parameters"]

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
BATCHING_FILE = os.path.join("assets.extra", "batching_parameters.txt")
# the sample of a string input without documented texts (`sample["texts"]`): a short text and an
# empty one (the text signatures answer an empty text, docs/text.md)
SAMPLE_TEXTS = ("a short sample text", "")

# TF Serving's batching guide's starting point for CPU serving: batches of up to 32 requests,
# waiting at most 2 ms for a batch to fill, one batching thread per core
BATCHING_PARAMETERS = {"max_batch_size": 32, "batch_timeout_micros": 2000,
                       "max_enqueued_batches": 100, "num_batch_threads": 4,
                       "pad_variable_length_inputs": "true"}


def sample_inputs(sigdoc, seed=0) -> Dict[str, np.ndarray]:
    """Sample inputs of every signature of an export's `signatures.json`, keyed
    `"<signature>::<input>"`: each input's documented `sample` (range, shape, lengths, texts), else a
    batch of 2 with 7 for every free size; a string input gets its `sample["texts"]` (else
    `SAMPLE_TEXTS`) repeated to its shape, as a NumPy unicode array."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for key, sig in sigdoc["signatures"].items():
        batch = None
        steps = None
        for t in sig["inputs"]:
            s = t.get("sample") or {}
            if s.get("lengths"):
                continue
            shape = s.get("shape")
            if shape is None:
                shape = [2] + [7 if d is None else d for d in t["shape"][1:]]
            if shape:  # scalars (a seed, a count) have no batch axis
                batch = shape[0]
            if len(shape) > 1:
                steps = shape[1]
            if s.get("texts"):  # strings (translation's `text`): UTF-8 bytes
                feeds[f"{key}::{t['name']}"] = np.array([x.encode() for x in s["texts"]], dtype=bytes)
                batch = len(s["texts"])
                continue
            if s.get("encoded"):  # encoded images (zoo.roles.image_bytes): PNG strings
                feeds[f"{key}::{t['name']}"] = encoded_samples(s["sizes"], s.get("channels", 3), seed)
                batch = len(s["sizes"])
                continue
            if t["dtype"] == "string":  # raw text (zoo.roles.text_serving): the documented texts
                texts = list(s.get("texts") or SAMPLE_TEXTS)
                feeds[f"{key}::{t['name']}"] = np.resize(np.array(texts, dtype=str), shape)
                continue
            if s.get("normal") or ("float" in t["dtype"] and "low" not in s):
                arr = rng.standard_normal(shape)
            elif "float" in t["dtype"]:
                arr = rng.uniform(s.get("low", 0.0), s.get("high", 1.0), size=shape)
            else:
                arr = rng.integers(s.get("low", 1), s.get("high", 10), size=shape)
            if s.get("symmetric"):  # a graph's adjacency: the graph refuses an asymmetric one
                arr = (arr + np.swapaxes(arr, -1, -2)) / 2
            feeds[f"{key}::{t['name']}"] = np.asarray(arr).astype(t["dtype"])
        for t in sig["inputs"]:
            if (t.get("sample") or {}).get("lengths"):
                n, steps_ = batch or 2, steps or 7
                feeds[f"{key}::{t['name']}"] = np.linspace(steps_, max(1, steps_ // 2), n).astype("int32")
    return feeds


def write_warmup_requests(path, name, sigdoc, seed=0) -> str:
    """Write `<path>/assets.extra/tf_serving_warmup_requests`: one `PredictionLog` (a
    `PredictRequest` for model `name`) per signature of `sigdoc`; returns the file's path."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    feeds = sample_inputs(sigdoc, seed=seed)
    target = os.path.join(path, WARMUP_FILE)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with tf.io.TFRecordWriter(target) as writer:
        for signature, sig in sorted(sigdoc["signatures"].items()):
            request = predict_pb2.PredictRequest()
            request.model_spec.name = name
            request.model_spec.signature_name = signature
            for t in sig["inputs"]:
                request.inputs[t["name"]].CopyFrom(
                    tf.make_tensor_proto(feeds[f"{signature}::{t['name']}"]))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return target


def read_warmup_requests(path) -> List[Tuple[str, Dict[str, np.ndarray]]]:
    """The warm-up requests of the export at `path`: `(signature, {input: array})` each; a
    ValueError naming the file when it is missing or damaged."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    out, target = [], os.path.join(path, WARMUP_FILE)
    try:
        for record in tf.data.TFRecordDataset(target):
            log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            request = log.predict_log.request
            out.append((request.model_spec.signature_name,
                        {k: tf.make_ndarray(v) for k, v in request.inputs.items()}))
    except Exception as e:  # DataLossError, DecodeError, NotFoundError, TypeError, ...
        text = [l.strip() for l in str(e).strip().splitlines() if l.strip()]
        raise ValueError(f"The TF Serving warm-up file {target} is damaged or missing "
                         f"({type(e).__name__}: {(text or [''])[0][:200]}). Received: "
                         f"path={path!r}") from None
    return out


def write_batching_parameters(path, **overrides) -> str:
    """Write a suggested `<path>/assets.extra/batching_parameters.txt` (text proto)."""
    params = dict(BATCHING_PARAMETERS, **overrides)
    target = os.path.join(path, BATCHING_FILE)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w") as f:
        f.write("# suggested: tensorflow_model_server --enable_batching "
                "--batching_parameters_file=<this file>\n")
        for k, v in params.items():
            f.write(f"{k} {{ value: {v} }}\n")
    return target
