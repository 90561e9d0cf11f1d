"""TensorFlow-only: SavedModel exports that TF Serving loads, and their verification.

`export_model` writes `<export_dir>/<name>/<version>/` (TF Serving's layout: an integer version
folder, the next free one by default) through `keras.export.ExportArchive`, with *named*
signatures per task (Keras 3's plain export names inputs `keras_tensor` and outputs `output_0`,
keras-team/keras#19458). The version is written into a hidden temporary folder beside it and
renamed into place only when complete, so a crash never leaves a partial version that a server
would load (TF Serving only looks at integer folder names).

Signatures per `task` (the registry's `ModelSpec.task`):

| task | signature | inputs | outputs |
|---|---|---|---|
| `image_classification` | `serving_default` | `images` uint8 `[N, H, W, C]`, any size | `probabilities`, `top_k_values`, `top_k_indices` |
|  | `classify_float` | `images` float32 `[N, H, W, C]` (pixel values 0..255), any size | same |
| `sequence_classification`, `text_classification` | `serving_default` | `tokens` int32 `[N, T]` or `features` float32 `[N, T, F]`, `lengths` int32 `[N]` | `probabilities` (+ `top_k_*` for several classes) |
| `sequence_regression` | `serving_default` | as above | `predictions` |
| `translation` | `serving_default` | `source_ids`, `target_ids` int32 `[N, T]` | `probabilities` `[N, T, V]` (teacher forcing) |
|  | `translate` / `translate_greedy` | `source_ids` int32 `[N, S]` | `token_ids` (+ `scores`) |
| `image_generation` | `serving_default` | `latents` float32 `[N, Z]` | `images` uint8 `[N, H, W, C]` |
| `image_discrimination` | `serving_default`, `classify_float` | `images` uint8 / float32, any size | `probabilities` `[N, 1]` (real) |
| `classification` | `serving_default` | `features` float32 `[N, F]` | `probabilities`, `top_k_values`, `top_k_indices` |
| anything else | `serving_default` | the model's inputs, named after its input layers | its outputs, named after its output layers |

Images are resized (`tf.image.resize`) to the model's input size and normalised inside the graph
(`preprocessing`: `"none"`, `"unit"` (x/255), `"symmetric"` (x/127.5-1), keras.applications'
`"caffe"`, `"torch"`, `"tf"` modes, or a callable on a float32 tensor); a registered model gets
its family's normalisation by default (`serving_options(name)`, `SERVING_DEFAULTS`). Auxiliary
heads are dropped (`outputs=` picks the outputs to keep; by default outputs whose layer name
contains "aux" go). Translation decodes with `zoo.decoding.translate` (beam search and greedy).

Each export carries `assets.extra/signatures.json` (every signature, input and output with its
documentation, dtype and shape, and the export options) and `assets.extra/README.md`.
`write_model_config` writes TF Serving's `models.config` (a `model_config_list`).

`verify` loads the SavedModel in a fresh Python process in which `zoo` cannot be imported, runs
every signature on sample inputs, compares with the Keras model (eager) to 1e-5, and checks that
`saved_model_cli show --all` lists the named signatures; optionally converts to TFLite and compares
the same way.

Example:
    >>> import keras, zoo.export
    >>> inp = keras.Input((32, 32, 3))
    >>> out = keras.layers.Dense(10, activation="softmax")(keras.layers.GlobalAveragePooling2D()(inp))
    >>> model = keras.Model(inp, out)
    >>> path = zoo.export.export_model(model, "tiny", task="image_classification",
    ...                                export_dir="/tmp/saved_models", preprocessing="unit", top_k=3)
    >>> report = zoo.export.verify(path, keras_model=model)
    >>> report["ok"]
    True
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

__all__ = [
    "TASKS",
    "PREPROCESSING_MODES",
    "export_model",
    "next_version",
    "list_versions",
    "write_model_config",
    "serving_options",
    "SERVING_DEFAULTS",
    "find_exports",
    "verify",
    "verify_many",
    "endpoints_for",
    "select_outputs",
    "add_cli",
]

TASKS = (
    "image_classification",
    "image_discrimination",
    "classification",
    "sequence_classification",
    "sequence_regression",
    "translation",
    "text_classification",
    "image_generation",
    "generic",
)
PREPROCESSING_MODES = ("none", "unit", "symmetric", "caffe", "torch", "tf")
_CLASSIFICATION = ("sequence_classification", "text_classification")
_TMP_PREFIX = ".incomplete-"


# ----------------------------------------------------------------------------------------------
# Signature definitions (shared by the export and by the reference run of `verify`)
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class TensorDoc:
    """One input or output of a signature: name, dtype, shape (None = any) and its meaning."""

    name: str
    dtype: str
    shape: List[Optional[int]]
    doc: str
    sample: Optional[Dict[str, Any]] = None  # how `verify` makes sample inputs

    def spec(self):
        import tensorflow as tf

        return tf.TensorSpec(self.shape, self.dtype, name=self.name)


@dataclasses.dataclass
class Endpoint:
    """A named signature: a Python function of named tensors returning a dict of named tensors.

    The same function is traced into the SavedModel and run eagerly as the reference in `verify`.
    """

    name: str
    fn: Callable[..., Dict[str, Any]]
    inputs: List[TensorDoc]
    outputs: List[TensorDoc]
    doc: str


def _resolve_callable(value):
    """`"module:qualname"` -> the object; anything else unchanged."""
    if isinstance(value, str) and ":" in value:
        mod, _, qual = value.partition(":")
        obj = importlib.import_module(mod)
        for part in qual.split("."):
            obj = getattr(obj, part)
        return obj
    return value


def _callable_name(fn):
    mod, qual = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    if mod and qual and "<" not in qual:
        try:
            if _resolve_callable(f"{mod}:{qual}") is fn:
                return f"{mod}:{qual}"
        except Exception:
            pass
    return f"<unnamed callable {getattr(fn, '__name__', fn)!r}>"


def _preprocess_fn(preprocessing):
    import tensorflow as tf

    preprocessing = _resolve_callable(preprocessing)
    if callable(preprocessing):
        return preprocessing
    if preprocessing in (None, "none"):
        return lambda x: x
    if preprocessing == "unit":
        return lambda x: x / 255.0
    if preprocessing == "symmetric":
        return lambda x: x / 127.5 - 1.0
    if preprocessing in ("caffe", "torch", "tf"):
        from keras.applications import imagenet_utils

        def fn(x, _mode=preprocessing):
            return tf.convert_to_tensor(
                imagenet_utils.preprocess_input(x, data_format="channels_last", mode=_mode)
            )

        return fn
    raise ValueError(
        f"`preprocessing` must be one of {PREPROCESSING_MODES}, a callable or 'module:function'. "
        f"Received: preprocessing={preprocessing!r}"
    )


def _output_names(model):
    names = getattr(model, "output_names", None)
    if names and len(names) == len(model.outputs):
        return list(names)
    return [f"output_{i}" for i in range(len(model.outputs))]


def _input_names(model):
    names = []
    for i, t in enumerate(model.inputs):
        hist = getattr(t, "_keras_history", None)
        names.append(getattr(getattr(hist, "operation", None), "name", None) or f"input_{i}")
    return names


def select_outputs(model, outputs=None):
    """The model restricted to the outputs to serve (auxiliary heads dropped).

    Args:
        model: a Functional `keras.Model`.
        outputs: `None` (drop outputs whose layer name contains "aux"), an index, an output name,
            or a list of those.
    """
    import keras

    names = _output_names(model)
    if outputs is None:
        keep = [i for i, n in enumerate(names) if "aux" not in n.lower()] or [0]
        if len(keep) == len(names):
            return model
    else:
        sel = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        keep = []
        for s in sel:
            if isinstance(s, int) and not isinstance(s, bool) and -len(names) <= s < len(names):
                keep.append(s % len(names))
            elif isinstance(s, str) and s in names:
                keep.append(names.index(s))
            else:
                raise ValueError(
                    f"`outputs` must be output indices or names among {names}. Received: outputs={outputs!r}"
                )
        if keep == list(range(len(names))):
            return model
    outs = [model.outputs[i] for i in keep]
    return keras.Model(model.inputs, outs[0] if len(outs) == 1 else outs, name=model.name)


def _single_output(y):
    import tensorflow as tf

    if isinstance(y, dict):
        y = list(y.values())
    if isinstance(y, (list, tuple)):
        y = y[0]
    return tf.cast(tf.convert_to_tensor(y), "float32")


def _ends_in_activation(model, names=("softmax", "sigmoid")):
    import keras

    try:
        layer = model.outputs[0]._keras_history.operation
    except Exception:
        return False
    act = getattr(layer, "activation", None)
    if act is None and isinstance(layer, (keras.layers.Softmax,)):
        return True
    for n in names:
        if act is keras.activations.get(n):
            return True
    return False


def _probabilities_fn(model, output_activation):
    import tensorflow as tf

    if output_activation == "auto":
        if _ends_in_activation(model):
            output_activation = "identity"
        elif model.outputs[0].shape[-1] == 1:
            output_activation = "sigmoid"  # one logit (a discriminator, a binary classifier)
        else:
            output_activation = "softmax"
    if output_activation == "identity":
        return lambda y: y
    if output_activation == "softmax":
        return lambda y: tf.nn.softmax(y, axis=-1)
    if output_activation == "sigmoid":
        return tf.nn.sigmoid
    raise ValueError(
        "`output_activation` must be 'auto', 'identity', 'softmax' or 'sigmoid'. "
        f"Received: output_activation={output_activation!r}"
    )


def _top_k(probs, k):
    import tensorflow as tf

    k = min(int(k), int(probs.shape[-1]))
    values, indices = tf.math.top_k(probs, k=k)
    return {"top_k_values": values, "top_k_indices": tf.cast(indices, "int32")}, k


def _model_core(model, opts, spec_shape):
    """`x -> model(x)`; when exporting (`_trace_once`), one `tf.function` with a fixed input
    signature, so that signatures sharing the model (uint8 and float images) trace it once."""
    import tensorflow as tf

    if opts.get("_trace_once") and all(d is not None for d in spec_shape[1:]):
        return tf.function(lambda x: model(x, training=False), autograph=False,
                           input_signature=[tf.TensorSpec(spec_shape, "float32")])
    return lambda x: model(x, training=False)


def _image_endpoints(model, opts, task="image_classification"):
    import tensorflow as tf

    shape = tuple(model.inputs[0].shape[1:])
    if len(model.inputs) != 1 or len(shape) != 3:
        raise ValueError(
            f"task={task!r} needs a model with one image input [N, H, W, C]. "
            f"Received: model inputs {[tuple(t.shape) for t in model.inputs]}"
        )
    h, w, c = shape
    size = opts.get("image_size") or ((h, w) if h is not None and w is not None else None)
    pre = _preprocess_fn(opts.get("preprocessing", "none"))
    to_probs = _probabilities_fn(model, opts.get("output_activation", "auto"))
    classes = int(model.outputs[0].shape[-1])
    k = min(int(opts.get("top_k", 5)), classes)
    with_top_k = task == "image_classification" and classes > 1
    method = opts.get("resize_method", "bilinear")
    core = _model_core(model, opts, [None] + (list(size) if size else [h, w]) + [c])

    def classify(images):
        x = tf.cast(images, "float32")
        if size is not None:
            x = tf.image.resize(x, size, method=method)
        x = pre(x)
        probs = to_probs(_single_output(core(x)))
        out = {"probabilities": probs}
        if with_top_k:
            out.update(_top_k(probs, k)[0])
        return out

    sample_size = [(size[0] + 5) if size else 37, (size[1] + 3) if size else 29]
    if with_top_k:
        outs = [
            TensorDoc("probabilities", "float32", [None, classes], "class probabilities"),
            TensorDoc("top_k_values", "float32", [None, k], f"the {k} largest probabilities, sorted"),
            TensorDoc("top_k_indices", "int32", [None, k], "their class indices"),
        ]
        verb = "Classify"
    else:
        what = "probability that each image is real" if task == "image_discrimination" else "probabilities"
        outs = [TensorDoc("probabilities", "float32", [None, classes], what)]
        verb = "Score" if task == "image_discrimination" else "Classify"
    resize_doc = f"resized to {size[0]}x{size[1]} ({method})" if size else "not resized"
    pre_doc = f"preprocessing={_callable_name(opts['preprocessing']) if callable(opts.get('preprocessing')) else opts.get('preprocessing', 'none')!r}"
    return [
        Endpoint(
            "serving_default",
            lambda images: classify(images),
            [TensorDoc("images", "uint8", [None, None, None, c],
                       f"images of any size with {c} channel(s), pixel values 0..255; {resize_doc}, "
                       f"then {pre_doc} inside the graph",
                       {"shape": [2] + sample_size + [c], "low": 0, "high": 256})],
            outs,
            f"{verb} uint8 images of any size.",
        ),
        Endpoint(
            "classify_float",
            lambda images: classify(images),
            [TensorDoc("images", "float32", [None, None, None, c],
                       f"images of any size as float32 pixel values 0..255; {resize_doc}, then "
                       f"{pre_doc}",
                       {"shape": [2] + sample_size + [c], "low": 0.0, "high": 255.0})],
            outs,
            f"{verb} float32 images of any size (same as serving_default, float pixels).",
        ),
    ]


def _vector_endpoints(model, opts):
    """task='classification': one feature vector per example (e.g. a flattened MNIST image)."""
    import tensorflow as tf

    shape = list(model.inputs[0].shape[1:])
    if len(model.inputs) != 1 or len(shape) != 1 or shape[0] is None:
        raise ValueError(
            "task='classification' needs a model with one feature-vector input [N, F]. "
            f"Received: model inputs {[tuple(t.shape) for t in model.inputs]}"
        )
    to_probs = _probabilities_fn(model, opts.get("output_activation", "auto"))
    classes = int(model.outputs[0].shape[-1])
    k = min(int(opts.get("top_k", 5)), classes)
    with_top_k = classes > 1
    pre = _preprocess_fn(opts.get("preprocessing", "none"))

    def classify(features):
        probs = to_probs(_single_output(model(pre(tf.cast(features, "float32")), training=False)))
        out = {"probabilities": probs}
        if with_top_k:
            out.update(_top_k(probs, k)[0])
        return out

    outs = [TensorDoc("probabilities", "float32", [None, classes], "class probabilities")]
    if with_top_k:
        outs += [TensorDoc("top_k_values", "float32", [None, k], "largest probabilities"),
                 TensorDoc("top_k_indices", "int32", [None, k], "their class indices")]
    return [Endpoint(
        "serving_default", classify,
        [TensorDoc("features", "float32", [None, shape[0]],
                   f"feature vectors; preprocessing={opts.get('preprocessing', 'none')!r} inside the graph",
                   {"shape": [2, shape[0]], "low": 0.0, "high": 1.0})],
        outs, "Classify feature vectors.")]


def _sequence_endpoints(model, task, opts):
    import tensorflow as tf

    first = model.inputs[0]
    dtype = str(first.dtype)
    is_tokens = "int" in dtype or len(first.shape) == 2
    seq_len = first.shape[1]
    pad = opts.get("pad_value", 0)
    extra = model.inputs[1] if len(model.inputs) > 1 else None
    if len(model.inputs) > 2:
        raise ValueError(
            f"task={task!r} takes models with one sequence input and optionally a mask or lengths "
            f"input. Received: {len(model.inputs)} inputs"
        )
    if is_tokens:
        seq_doc = TensorDoc("tokens", "int32", [None, seq_len], "token ids, padded with "
                            f"{pad} after `lengths`",
                            {"shape": [2, seq_len or 7], "low": 1, "high": int(opts.get("sample_vocab", 10))})
    else:
        feat = first.shape[-1]
        seq_doc = TensorDoc("features", "float32", [None, seq_len, feat],
                            "feature sequences, padded after `lengths`",
                            {"shape": [2, seq_len or 7, feat], "normal": True})
    len_doc = TensorDoc("lengths", "int32", [None], "number of valid steps of each sequence",
                        {"lengths": True})
    to_probs = _probabilities_fn(model, opts.get("output_activation", "auto"))
    out_shape = list(model.outputs[0].shape[1:])
    classes = int(out_shape[-1]) if out_shape and out_shape[-1] is not None else None

    def run(seq, lengths):
        x = tf.cast(seq, first.dtype)
        t = tf.shape(x)[1]
        valid = tf.sequence_mask(lengths, t)
        if extra is not None:
            if len(extra.shape) == 1:
                m = tf.cast(lengths, extra.dtype)
            else:
                m = tf.cast(valid, extra.dtype)
            y = model([x, m], training=False)
        else:
            v = valid if is_tokens else valid[..., None]
            x = tf.where(v, x, tf.cast(pad, x.dtype))
            y = model(x, training=False)
        return _single_output(y)

    if task == "sequence_regression":
        def fn(**kw):
            return {"predictions": run(kw[seq_doc.name], kw["lengths"])}

        outs = [TensorDoc("predictions", "float32", [None] + out_shape, "predicted values")]
        doc = "Regression over variable-length sequences."
    else:
        k = min(int(opts.get("top_k", 5)), classes or 1)
        with_top_k = bool(classes and classes > 1 and len(out_shape) == 1)

        def fn(**kw):
            probs = to_probs(run(kw[seq_doc.name], kw["lengths"]))
            out = {"probabilities": probs}
            if with_top_k:
                out.update(_top_k(probs, k)[0])
            return out

        outs = [TensorDoc("probabilities", "float32", [None] + out_shape, "class probabilities")]
        if with_top_k:
            outs += [TensorDoc("top_k_values", "float32", [None, k], "largest probabilities"),
                     TensorDoc("top_k_indices", "int32", [None, k], "their class indices")]
        doc = "Classify variable-length sequences."
    return [Endpoint("serving_default", _named(fn, [seq_doc.name, "lengths"]), [seq_doc, len_doc], outs, doc)]


def _named(fn, names):
    """A function whose positional parameters carry `names` (signature inputs take arg names)."""
    src = f"def f({', '.join(names)}):\n    return fn({', '.join(f'{n}={n}' for n in names)})\n"
    scope = {"fn": fn}
    exec(src, scope)  # noqa: S102 - parameter names only, built from fixed identifiers
    return scope["f"]


def _translation_endpoints(model, opts):
    import tensorflow as tf

    if len(model.inputs) != 2:
        raise ValueError(
            "task='translation' needs a model with inputs (source_ids, target_ids). "
            f"Received: {len(model.inputs)} inputs"
        )
    to_probs = _probabilities_fn(model, opts.get("output_activation", "auto"))
    vocab = model.outputs[0].shape[-1]
    sample_vocab = int(opts.get("sample_vocab", 10))
    translate_fn = opts.get("translate_fn") or "zoo.decoding:translate"
    try:
        translate_fn = _resolve_callable(translate_fn)
    except (ImportError, AttributeError) as e:
        raise ValueError(
            "task='translation' needs `translate_fn(model, source_ids, max_length, beam_size, alpha)`"
            f" (default zoo.decoding:translate). Received: translate_fn={translate_fn!r} ({e})"
        ) from None
    max_length = int(opts.get("max_length", 32))
    beam_size = int(opts.get("beam_size", 4))
    alpha = float(opts.get("alpha", 0.6))

    def forward(source_ids, target_ids):
        y = model([tf.cast(source_ids, model.inputs[0].dtype), tf.cast(target_ids, model.inputs[1].dtype)],
                  training=False)
        return {"probabilities": to_probs(_single_output(y))}

    def make_translate(beam):
        def translate(source_ids):
            res = translate_fn(model, tf.cast(source_ids, "int32"), max_length, beam, alpha)
            if isinstance(res, dict):  # zoo.decoding returns target_ids and scores
                return {("token_ids" if k == "target_ids" else k): tf.convert_to_tensor(v)
                        for k, v in res.items()}
            if isinstance(res, (tuple, list)):
                out = {"token_ids": tf.cast(res[0], "int32")}
                if len(res) > 1:
                    out["scores"] = tf.cast(res[1], "float32")
                return out
            return {"token_ids": tf.cast(res, "int32")}

        return translate

    ids = lambda name, doc: TensorDoc(name, "int32", [None, None], doc,  # noqa: E731
                                      {"shape": [2, 6], "low": 1, "high": sample_vocab})
    outs_tr = [TensorDoc("token_ids", "int32", [None, None], "decoded target token ids"),
               TensorDoc("scores", "float32", [None], "log-probability score of each decoding "
                         "(when the decoder returns one)")]
    eps = [
        Endpoint("serving_default", forward,
                 [ids("source_ids", "source token ids"), ids("target_ids", "target token ids so far "
                                                         "(teacher forcing)")],
                 [TensorDoc("probabilities", "float32", [None, None, vocab], "next-token probabilities")],
                 "Next-token probabilities for every target position (teacher forcing)."),
        Endpoint("translate", make_translate(beam_size), [ids("source_ids", "source token ids")], outs_tr,
                 f"Decode a translation (beam_size={beam_size}, alpha={alpha}, max_length={max_length})."),
    ]
    if beam_size > 1:
        eps.append(Endpoint("translate_greedy", make_translate(1), [ids("source_ids", "source token ids")],
                            outs_tr, f"Greedy decoding (max_length={max_length})."))
    return eps


def _generation_endpoints(model, opts):
    import tensorflow as tf

    z = model.inputs[0].shape[1:]
    lo, hi = opts.get("output_range", (-1.0, 1.0)) or (0.0, 255.0)
    out_shape = list(model.outputs[0].shape[1:])

    def generate(latents):
        y = model(tf.cast(latents, model.inputs[0].dtype), training=False)
        if isinstance(y, (list, tuple)):
            y = y[0]
        y = tf.convert_to_tensor(y)
        if y.dtype.is_integer:
            return {"images": tf.cast(tf.clip_by_value(y, 0, 255), "uint8")}
        y = tf.cast(y, "float32")
        y = tf.round((y - lo) * (255.0 / (hi - lo)))
        return {"images": tf.cast(tf.clip_by_value(y, 0.0, 255.0), "uint8")}

    return [Endpoint(
        "serving_default", generate,
        [TensorDoc("latents", "float32", [None] + list(z),
                   "latent vectors z (zoo's DCGAN draws them from U(-1, 1))",
                   {"shape": [2] + list(z), "low": -1.0, "high": 1.0})],
        [TensorDoc("images", "uint8", [None] + out_shape,
                   f"generated images, model outputs in [{lo}, {hi}] mapped to 0..255")],
        "Generate uint8 images from latent vectors.",
    )]


def _generic_endpoints(model, opts):
    import tensorflow as tf

    in_names = [re.sub(r"\W", "_", n) for n in _input_names(model)]
    out_names = [re.sub(r"\W", "_", n) for n in _output_names(model)]

    def fn(**kw):
        xs = [tf.convert_to_tensor(kw[n]) for n in in_names]
        y = model(xs[0] if len(xs) == 1 else xs, training=False)
        ys = y if isinstance(y, (list, tuple)) else [y]
        return {n: tf.convert_to_tensor(t) for n, t in zip(out_names, ys)}

    ins = []
    for n, t in zip(in_names, model.inputs):
        shape = [None] + list(t.shape[1:])
        dt = str(t.dtype)
        sample = {"shape": [2] + [7 if d is None else d for d in shape[1:]]}
        sample.update({"low": 1, "high": 10} if "int" in dt else {"normal": True})
        ins.append(TensorDoc(n, dt, shape, "model input", sample))
    outs = [TensorDoc(n, str(t.dtype), [None] + list(t.shape[1:]), "model output")
            for n, t in zip(out_names, model.outputs)]
    return [Endpoint("serving_default", _named(fn, in_names), ins, outs, "The model's forward pass.")]


def endpoints_for(model, task, **opts) -> List[Endpoint]:
    """The named signatures of `model` for `task` (see the module docstring for the options)."""
    if task not in TASKS:
        raise ValueError(f"`task` must be one of {TASKS}. Received: task={task!r}")
    if task in ("image_classification", "image_discrimination"):
        return _image_endpoints(model, opts, task)
    if task == "classification":
        return _vector_endpoints(model, opts)
    if task in _CLASSIFICATION or task == "sequence_regression":
        return _sequence_endpoints(model, task, opts)
    if task == "translation":
        return _translation_endpoints(model, opts)
    if task == "image_generation":
        return _generation_endpoints(model, opts)
    return _generic_endpoints(model, opts)


# ----------------------------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------------------------


def list_versions(model_dir) -> List[int]:
    """Integer version folders under `model_dir` (what TF Serving would load), sorted."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(d) for d in os.listdir(model_dir)
                  if d.isdigit() and os.path.isdir(os.path.join(model_dir, d)))


def next_version(model_dir) -> int:
    """The next free integer version under `model_dir` (1 for a new model)."""
    versions = list_versions(model_dir)
    return versions[-1] + 1 if versions else 1


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale_tmp(model_dir):
    """Remove temporary folders left by exports whose process died (a crash mid-write)."""
    if not os.path.isdir(model_dir):
        return
    for d in os.listdir(model_dir):
        if d.startswith(_TMP_PREFIX):
            try:
                pid = int(d[len(_TMP_PREFIX):].split("-")[0])
            except ValueError:
                continue
            if not _pid_alive(pid):
                shutil.rmtree(os.path.join(model_dir, d), ignore_errors=True)


# Export options of the registered models (a card's `extra["export_options"]` overrides these):
# the normalisation each family's builders expect, put inside the graph. ResNet v1 follows its
# `preprocess_input` (keras.applications' caffe mode, as its ImageNet weights); ResNet v2 and
# Inception v3 their `preprocess_input` (tf mode, [-1, 1]); the families without ported weights
# take zoo.data.image_preprocessor's default range [-1, 1], what the recipes train them on.
SERVING_DEFAULTS = (
    ("resnet*v2", {"preprocessing": "tf"}),
    ("resnet*", {"preprocessing": "caffe"}),
    ("inception_v3*", {"preprocessing": "tf"}),
    ("googlenet*", {"preprocessing": "symmetric"}),
    ("gated_resnet*", {"preprocessing": "symmetric"}),
    ("dcgan_discriminator*", {"preprocessing": "symmetric"}),
    ("dcgan_generator*", {"output_range": [-1.0, 1.0]}),
)


def serving_options(name) -> Dict[str, Any]:
    """Default export options of the registered model `name` (`{}` for other names).

    Example:
        >>> serving_options("resnet50")
        {'preprocessing': 'caffe'}
    """
    import fnmatch

    try:
        from zoo.registry import get_spec

        spec = get_spec(name)
    except Exception:
        return {}
    out = {}
    for pattern, options in SERVING_DEFAULTS:
        if fnmatch.fnmatch(name, pattern):
            out = dict(options)
            break
    out.update(spec.extra.get("export_options", {}))
    return out


def _infer_task(model, name):
    try:
        from zoo.registry import get_spec

        task = get_spec(name).task
        return task if task in TASKS else "generic"
    except Exception:
        pass
    if len(model.inputs) == 1 and len(model.inputs[0].shape) == 4 and len(model.outputs[0].shape) == 2:
        return "image_classification"
    return "generic"


def _jsonable_opts(opts):
    out = {}
    for k, v in opts.items():
        if callable(v):
            out[k] = _callable_name(v)
        elif isinstance(v, tuple):
            out[k] = list(v)
        else:
            try:
                json.dumps(v)
                out[k] = v
            except TypeError:
                out[k] = repr(v)
    return out


def _fsync_tree(root):
    for dirpath, _, files in os.walk(root):
        for f in files:
            try:
                fd = os.open(os.path.join(dirpath, f), os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
            except OSError:
                pass


def export_model(model, name, task=None, export_dir="saved_models", version=None, *,
                 outputs=None, inference_model=None, write_config=True, verbose=False,
                 **opts) -> str:
    """Export `model` as `<export_dir>/<name>/<version>/`, a SavedModel TF Serving loads.

    Args:
        model: a `keras.Model` (TensorFlow backend).
        name: the served model's name (the folder under `export_dir`), e.g. `"resnet50"`. For a
            registered name, `serving_options(name)` gives the default `**opts` (the family's
            normalisation) when the task is the registry's.
        task: one of `TASKS`; `None` takes the registry's task for `name`, else guesses
            (image classifier or `"generic"`).
        export_dir: the folder holding all served models (and `models.config`).
        version: integer version; `None` takes the next free one. An existing version is an error.
        outputs: which outputs to serve (index, name or list); `None` drops outputs whose layer
            name contains "aux" (GoogLeNet's auxiliary classifiers).
        inference_model: serve this model instead of `model` (e.g. a GAN's generator); its
            weights are `model`'s when it shares layers.
        write_config: also (re)write `<export_dir>/models.config`.
        verbose: print the endpoints as Keras does.
        **opts: task options: `preprocessing` (image tasks: one of `PREPROCESSING_MODES`, a
            callable or `"module:function"`), `image_size` ((h, w) for models without a fixed
            size), `resize_method`, `top_k` (default 5), `output_activation` (`"auto"`,
            `"identity"`, `"softmax"`, `"sigmoid"`), `pad_value` (sequences), `translate_fn`,
            `max_length`, `beam_size`, `alpha` (translation), `output_range` (generation, default
            (-1, 1)), `sample_vocab` (largest token id + 1 in `verify`'s samples).

    Returns:
        The path of the version folder.

    Example:
        >>> path = export_model(model, "tiny", task="image_classification", export_dir="/tmp/sm")
    """
    import keras

    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise ValueError(f"`name` must be a folder name of letters, digits, '_', '-' or '.'. Received: name={name!r}")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 0):
        raise ValueError(f"`version` must be None or a non-negative integer. Received: version={version!r}")
    if task is not None and task not in TASKS:
        raise ValueError(f"`task` must be None or one of {TASKS}. Received: task={task!r}")
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "zoo.export writes TensorFlow SavedModels and needs KERAS_BACKEND=tensorflow. "
            f"Received: backend={keras.backend.backend()!r}"
        )
    served = inference_model if inference_model is not None else model
    served = select_outputs(served, outputs)
    task = task or _infer_task(served, name)
    if _infer_task(served, name) == task:  # a registered model: its normalisation by default
        opts = dict(serving_options(name), **opts)
    endpoints = endpoints_for(served, task, _trace_once=True, **opts)

    model_dir = os.path.join(export_dir, name)
    os.makedirs(model_dir, exist_ok=True)
    _clean_stale_tmp(model_dir)
    version = next_version(model_dir) if version is None else version
    final = os.path.join(model_dir, str(version))
    if os.path.exists(final):
        raise ValueError(f"Version {version} of {name!r} already exists at {final}. Received: version={version}")

    tmp = os.path.join(model_dir, f"{_TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        _write_archive(served, endpoints, tmp, verbose=verbose)
        _write_docs(tmp, name, task, version, endpoints, opts, outputs)
        _fsync_tree(tmp)
        if os.path.exists(final):
            raise FileExistsError(f"{final} appeared while exporting")
        os.rename(tmp, final)  # atomic on one file system: a server sees all or nothing
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if write_config:
        write_model_config(export_dir)
    return final


def _write_archive(model, endpoints, path, verbose=False):
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    for ep in endpoints:
        fn = _named(ep.fn, [t.name for t in ep.inputs])
        tfn = tf.function(fn, input_signature=[t.spec() for t in ep.inputs], autograph=True)
        tfn.get_concrete_function()
        archive.add_endpoint(ep.name, tfn)
    archive.write_out(path, verbose=verbose)


def _write_docs(path, name, task, version, endpoints, opts, outputs):
    import keras
    import tensorflow as tf

    extra = os.path.join(path, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    doc = {
        "name": name,
        "version": version,
        "task": task,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "options": _jsonable_opts(dict(opts, outputs=outputs)),
        "signatures": {
            ep.name: {
                "doc": ep.doc,
                "inputs": [dataclasses.asdict(t) for t in ep.inputs],
                "outputs": [{k: v for k, v in dataclasses.asdict(t).items() if k != "sample"} for t in ep.outputs],
            }
            for ep in endpoints
        },
    }
    with open(os.path.join(extra, "signatures.json"), "w") as f:
        json.dump(doc, f, indent=2)
    lines = [f"# {name}, version {version} ({task})", "",
             "SavedModel for TF Serving, written by `zoo.export`.", ""]
    for ep in endpoints:
        lines.append(f"## `{ep.name}`: {ep.doc}")
        for kind, ts in (("input", ep.inputs), ("output", ep.outputs)):
            for t in ts:
                lines.append(f"- {kind} `{t.name}` {t.dtype} {t.shape}: {t.doc}")
        lines.append("")
    with open(os.path.join(extra, "README.md"), "w") as f:
        f.write("\n".join(lines))


def write_model_config(export_dir="saved_models", base_path=None, filename="models.config") -> str:
    """Write TF Serving's `model_config_list` for every model with a version under `export_dir`.

    Args:
        export_dir: the folder of exported models.
        base_path: the folder as the server sees it (e.g. `"/models"` in the tensorflow/serving
            container); `None` uses the absolute path of `export_dir`.

    Returns:
        The path of the file (serve with `--model_config_file=<it>`).
    """
    root = os.path.abspath(export_dir)
    base = base_path.rstrip("/") if base_path else root
    names = sorted(d for d in os.listdir(root) if list_versions(os.path.join(root, d)))
    body = ["model_config_list {"]
    for n in names:
        body += ["  config {", f'    name: "{n}"', f'    base_path: "{base}/{n}"',
                 '    model_platform: "tensorflow"', "  }"]
    body.append("}")
    path = os.path.join(root, filename)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(body) + "\n")
    os.replace(tmp, path)
    return path


# ----------------------------------------------------------------------------------------------
# Verification
# ----------------------------------------------------------------------------------------------

_CHILD = r"""
import contextlib, importlib.abc, io, json, os, sys
class _BlockZoo(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "zoo" or name.startswith("zoo."):
            raise ModuleNotFoundError("`zoo` is blocked in the verification process", name=name)
        return None
sys.meta_path.insert(0, _BlockZoo())
jobs_file, repo_root = sys.argv[1], sys.argv[2]
sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != os.path.abspath(repo_root)]
try:
    import zoo
    zoo_blocked = False
except ImportError:
    zoo_blocked = True
assert zoo_blocked, "zoo importable in the verification process"
import numpy as np
import tensorflow as tf
from tensorflow.python.tools import saved_model_cli
with open(jobs_file) as f:
    jobs = json.load(f)
for job in jobs:
    path = job["path"]
    inputs = dict(np.load(job["inputs"]))
    buf = io.StringIO()
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
            outputs[key + "::" + n] = v.numpy()
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
                    report["tflite"][key] = ("converted" if builtins_error is None else
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
                        report["tflite"][key] = ("failed: builtins only: " + builtins_error + "; converts "
                                                 "with SELECT_TF_OPS, but the Flex delegate is not linked "
                                                 "into Python's tf.lite.Interpreter, so not run here")
                    else:
                        report["tflite"][key] = ("failed: builtins only: " + builtins_error +
                                                 "; with SELECT_TF_OPS: " + msg)
    if job["onnx"]:
        import subprocess
        report["onnx"] = {}
        for key in sorted(loaded.signatures):
            target = job["outputs"] + "." + key + ".onnx"
            r = subprocess.run([sys.executable, "-I", "-m", "tf2onnx.convert", "--saved-model", path,
                                "--signature_def", key, "--output", target],
                               capture_output=True, text=True, cwd=os.path.dirname(target))
            if r.returncode != 0:
                errs = [l for l in r.stderr.splitlines() if "Error" in l] or r.stderr.splitlines()[-1:]
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
"""


def _sample_inputs(sigdoc, seed=0):
    rng = np.random.default_rng(seed)
    feeds = {}
    for key, sig in sigdoc["signatures"].items():
        batch = None
        steps = None
        for t in sig["inputs"]:
            s = t.get("sample") or {}
            if s.get("lengths"):
                continue
            shape = s.get("shape") or [2] + [7 if d is None else d for d in t["shape"][1:]]
            batch = shape[0]
            if len(shape) > 1:
                steps = shape[1]
            if s.get("normal") or ("float" in t["dtype"] and "low" not in s):
                arr = rng.standard_normal(shape)
            elif "float" in t["dtype"]:
                arr = rng.uniform(s.get("low", 0.0), s.get("high", 1.0), size=shape)
            else:
                arr = rng.integers(s.get("low", 1), s.get("high", 10), size=shape)
            feeds[f"{key}::{t['name']}"] = arr.astype(t["dtype"])
        for t in sig["inputs"]:
            if (t.get("sample") or {}).get("lengths"):
                n, steps_ = batch or 2, steps or 7
                feeds[f"{key}::{t['name']}"] = np.linspace(steps_, max(1, steps_ // 2), n).astype("int32")
    return feeds


def _compare(name, got, want, atol, rtol):
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return {"ok": False, "error": f"shape {got.shape} != {want.shape}"}
    if got.dtype == np.uint8:
        d = np.abs(got.astype(np.int32) - want.astype(np.int32))
        # rounding of x*127.5 may flip by one grey level between graph and eager
        return {"ok": bool(d.max(initial=0) <= 1), "max_abs_diff": float(d.max(initial=0))}
    if got.dtype.kind in "iub":
        same = np.array_equal(got, want)
        diff = 0.0 if same else float(np.abs(got.astype(float) - want.astype(float)).max())
        return {"ok": bool(same), "max_abs_diff": diff}
    d = np.abs(got.astype(np.float64) - want.astype(np.float64))
    ok = bool(np.all(d <= atol + rtol * np.abs(want)))
    return {"ok": ok, "max_abs_diff": float(d.max(initial=0.0))}


def find_exports(path) -> List[str]:
    """The version folders written by `export_model` under `path`, sorted.

    `path` may be a version folder (`saved_models/resnet50/3`), a model folder (all its versions)
    or an export folder (every model's versions, as listed in `models.config`).
    """
    path = os.fspath(path)
    if os.path.exists(os.path.join(path, "saved_model.pb")):
        return [path]
    if not os.path.isdir(path):
        raise ValueError(f"`path` must be a version, model or export folder. Received: path={path!r}")
    found = [os.path.join(path, str(v)) for v in list_versions(path)]
    found = [p for p in found if os.path.exists(os.path.join(p, "saved_model.pb"))]
    if found:
        return found
    for d in sorted(os.listdir(path)):
        sub = os.path.join(path, d)
        if not d.startswith(".") and os.path.isdir(sub):
            found += [os.path.join(sub, str(v)) for v in list_versions(sub)
                      if os.path.exists(os.path.join(sub, str(v), "saved_model.pb"))]
    return found


def _load_sigdoc(path):
    sig_file = os.path.join(path, "assets.extra", "signatures.json")
    if not os.path.exists(os.path.join(path, "saved_model.pb")) or not os.path.exists(sig_file):
        raise ValueError(f"`path` must be a version folder written by zoo.export. Received: path={path!r}")
    with open(sig_file) as f:
        return json.load(f)


def verify(path, keras_model=None, *, atol=1e-5, rtol=1e-5, tflite=False, onnx=False,
           timeout=300, seed=0, **opts) -> Dict[str, Any]:
    """Check an export in a fresh process where `zoo` cannot be imported.

    Runs every signature on sample inputs (from `assets.extra/signatures.json`), compares the
    outputs with `keras_model` run eagerly through the same pre/post-processing (when given),
    and checks that `saved_model_cli show --all` lists the named signatures and their inputs.

    Args:
        path: a version folder written by `export_model`.
        keras_model: the exported Keras model (before `outputs` selection), or `None` to check only
            signatures, shapes, finiteness and consistency between outputs.
        atol, rtol: float tolerances (1e-5 in float32). uint8 images may differ by one level.
        tflite: also convert each signature to TFLite and compare the same way (reported per
            signature in `report["tflite"]`; a failed conversion does not fail the verification).
        onnx: the same with tf2onnx + onnxruntime (`pip install zoo[onnx]`), in `report["onnx"]`.
        timeout: seconds for the subprocess.
        **opts: export options overriding those recorded (e.g. a `preprocessing` or
            `translate_fn` callable that could not be recorded by name).

    Returns:
        A report dict; `report["ok"]` is the verdict and `report["problems"]` lists what failed.

    Example:
        >>> report = verify("saved_models/resnet50/1", keras_model=model)
        >>> assert report["ok"], report["problems"]
    """
    return verify_many([(path, keras_model, opts)], atol=atol, rtol=rtol, tflite=tflite,
                       onnx=onnx, timeout=timeout, seed=seed)[0]


def verify_many(items, *, atol=1e-5, rtol=1e-5, tflite=False, onnx=False, timeout=600, seed=0):
    """`verify` for several exports in one fresh process (one TensorFlow start-up).

    Args:
        items: a list of `path`, `(path, keras_model)` or `(path, keras_model, opts)`; a bare
            `path` may be a model or export folder (every version under it, see `find_exports`).
    """
    expanded = []
    for item in items:  # a bare folder: every export under it
        if isinstance(item, (str, os.PathLike)):
            expanded += [(p, None, {}) for p in find_exports(item)] or [(item, None, {})]
        else:
            expanded.append(item)
    items = expanded
    jobs, metas = [], []
    tmp = tempfile.mkdtemp(prefix="zoo-verify-")
    try:
        for i, item in enumerate(items):
            if isinstance(item, (str, os.PathLike)):
                item = (item, None, {})
            path, model, opts = (tuple(item) + (None, {}))[:3]
            path = os.path.abspath(path)
            sigdoc = _load_sigdoc(path)
            feeds = _sample_inputs(sigdoc, seed=seed)
            np.savez(os.path.join(tmp, f"in{i}.npz"), **feeds)
            jobs.append({"path": path, "inputs": os.path.join(tmp, f"in{i}.npz"),
                         "outputs": os.path.join(tmp, f"out{i}.npz"),
                         "report": os.path.join(tmp, f"report{i}.json"), "tflite": bool(tflite),
                         "onnx": bool(onnx)})
            metas.append((path, model, opts or {}, sigdoc, feeds))
        with open(os.path.join(tmp, "jobs.json"), "w") as f:
            json.dump(jobs, f)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["TF_CPP_MIN_LOG_LEVEL"] = "3"
        repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        child = subprocess.run([sys.executable, "-I", "-c", _CHILD, os.path.join(tmp, "jobs.json"), repo_root],
                               cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout)
        if child.returncode != 0:
            raise RuntimeError(f"verification process failed:\n{child.stderr[-3000:]}")
        reports = []
        for job, meta in zip(jobs, metas):
            with open(job["report"]) as f:
                child_report = json.load(f)
            served = dict(np.load(job["outputs"]))
            reports.append(_check(meta, child_report, served, atol, rtol))
        return reports
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check(meta, child_report, served, atol, rtol):
    path, keras_model, opts, sigdoc, feeds = meta
    problems: List[str] = []
    report: Dict[str, Any] = {"path": path, "task": sigdoc["task"], "problems": problems, "outputs": {},
                              "zoo_blocked": child_report["zoo_blocked"],
                              "signatures": child_report["signatures"], "tflite": child_report["tflite"],
                              "onnx": child_report.get("onnx", {})}
    cli_out = child_report["cli"]
    listed = set(re.findall(r"signature_def\['([^']+)'\]", cli_out))
    report["saved_model_cli"] = sorted(listed)
    for key, sig in sigdoc["signatures"].items():
        if key not in listed:
            problems.append(f"saved_model_cli does not list signature {key!r}")
        got = child_report["signatures"].get(key)
        if got is None:
            problems.append(f"signature {key!r} missing from the SavedModel")
            continue
        for t in sig["inputs"]:
            if t["name"] not in got["inputs"]:
                problems.append(f"{key}: input {t['name']!r} missing (has {sorted(got['inputs'])})")
            elif f"['{t['name']}'] tensor_info" not in cli_out:
                problems.append(f"saved_model_cli does not show input {t['name']!r}")
        for t in sig["outputs"]:
            if t["name"] not in got["outputs"] and t["name"] != "scores":
                problems.append(f"{key}: output {t['name']!r} missing (has {sorted(got['outputs'])})")
    for k, v in served.items():
        if not k.startswith(("tflite::", "onnx::")) and v.dtype.kind == "f" and not np.all(np.isfinite(v)):
            problems.append(f"{k}: non-finite values")
    for key in sigdoc["signatures"]:
        p, tv = served.get(f"{key}::probabilities"), served.get(f"{key}::top_k_values")
        if p is not None and tv is not None:
            top = -np.sort(-p, axis=-1)[..., : tv.shape[-1]]
            if not np.allclose(top, tv, atol=atol):
                problems.append(f"{key}: top_k_values are not the largest probabilities")

    if keras_model is not None:
        import tensorflow as tf

        merged = dict(sigdoc["options"])
        merged.update(opts)
        outputs = merged.pop("outputs", None)
        model = select_outputs(keras_model, outputs)
        endpoints = {ep.name: ep for ep in endpoints_for(model, sigdoc["task"], **merged)}
        for key, sig in sigdoc["signatures"].items():
            ep = endpoints.get(key)
            if ep is None:
                problems.append(f"signature {key!r} not produced by the Keras model's task functions")
                continue
            kwargs = {t["name"]: tf.constant(feeds[f"{key}::{t['name']}"]) for t in sig["inputs"]}
            want = {n: np.asarray(v) for n, v in ep.fn(**kwargs).items()}
            for n, w in want.items():
                for prefix in ("", "tflite::", "onnx::"):
                    g = served.get(f"{prefix}{key}::{n}")
                    if g is None:
                        if not prefix:
                            problems.append(f"{key}: output {n!r} not served")
                        continue
                    res = _compare(n, g, w, atol, rtol)
                    report["outputs"][f"{prefix}{key}::{n}"] = res
                    if not res["ok"]:
                        if prefix:
                            report[prefix[:-2]][key] = f"mismatch on {n}: {res}"
                        else:
                            problems.append(f"{key}::{n} differs from the Keras model: {res}")
    if not report["zoo_blocked"]:
        problems.append("zoo was importable in the verification process")
    report["ok"] = not problems
    return report


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------


def _parse_sets(items):
    from zoo.registry import parse_overrides  # `--set KEY=VALUE`, JSON values, as the recipes'

    return parse_overrides(items)


def _cmd_export(args):
    import keras

    if args.keras_file:
        model = keras.saving.load_model(args.keras_file)
    else:
        import zoo

        model = zoo.create_model(args.name, **_parse_sets(args.set))
    opts = _parse_sets(args.opt)
    path = export_model(model, args.name, task=args.task, export_dir=args.export_dir,
                        version=args.version, **opts)
    print(path)
    if args.verify:
        report = verify(path, keras_model=model, tflite=args.tflite, onnx=args.onnx)
        _print_report(report)
        return 0 if report["ok"] else 1
    return 0


def _print_report(report):
    print(f"verify {report['path']} ({report['task']}): {'OK' if report['ok'] else 'FAILED'}")
    print(f"  zoo importable in the serving process: {not report['zoo_blocked']}")
    print(f"  saved_model_cli lists: {', '.join(report['saved_model_cli'])}")
    for key, sig in report["signatures"].items():
        ins = ", ".join(f"{n} {d}{s}" for n, (d, s) in sig["inputs"].items())
        outs = ", ".join(f"{n} {d}{s}" for n, (d, s) in sig["outputs"].items())
        print(f"  {key}({ins}) -> {outs}")
    for k, r in report["outputs"].items():
        print(f"  {k}: {'ok' if r['ok'] else 'MISMATCH'} {r}")
    if not report["outputs"]:
        print("  outputs not compared with a Keras model (give --keras-file); ran every signature")
    for conv in ("tflite", "onnx"):
        for k, v in report.get(conv, {}).items():
            print(f"  {conv} {k}: {v}")
    for p in report["problems"]:
        print(f"  problem: {p}")


def _cmd_verify(args):
    import keras

    paths = [p for path in args.path for p in find_exports(path)]
    if not paths:
        raise ValueError(f"no export found under {args.path}. Received: path={args.path!r}")
    keras_files = args.keras_file or []
    if keras_files and len(keras_files) != len(paths):
        raise ValueError(
            f"`--keras-file` must be given once per export ({len(paths)}: {paths}). "
            f"Received: --keras-file={keras_files!r}"
        )
    items = [(p, keras.saving.load_model(k) if keras_files else None, {})
             for p, k in zip(paths, keras_files or [None] * len(paths))]
    reports = verify_many(items, tflite=args.tflite, onnx=args.onnx)
    if args.json:
        print(json.dumps(reports[0] if len(reports) == 1 else reports, indent=2, default=str))
    else:
        for report in reports:
            _print_report(report)
    return 0 if all(r["ok"] for r in reports) else 1


def add_cli(subparsers):
    """Add `zoo export` and `zoo verify` to the `zoo` command."""
    p = subparsers.add_parser("export", help="export a model as a SavedModel for TF Serving")
    p.add_argument("name", help="registered model name (also the served name)")
    p.add_argument("--keras-file", help="export this .keras file instead of building NAME")
    p.add_argument("--task", choices=TASKS, default=None)
    p.add_argument("--export-dir", default="saved_models")
    p.add_argument("--version", type=int, default=None)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="builder override (JSON value)")
    p.add_argument("--opt", action="append", metavar="KEY=VALUE",
                   help="export option, e.g. preprocessing=torch, top_k=3, beam_size=4")
    p.add_argument("--verify", action="store_true", help="verify the export afterwards")
    p.add_argument("--tflite", action="store_true", help="with --verify: compare a TFLite conversion")
    p.add_argument("--onnx", action="store_true", help="with --verify: compare a tf2onnx conversion")
    p.set_defaults(func=_cmd_export)

    p = subparsers.add_parser("verify", help="check a SavedModel export in a process without zoo")
    p.add_argument("path", nargs="+",
                   help="saved_models/<name>/<version>, a model folder (all its versions) or an "
                        "export folder (every model's versions); all verified in one process")
    p.add_argument("--keras-file", action="append",
                   help="compare with this .keras model (once per export, in order)")
    p.add_argument("--tflite", action="store_true", help="also compare a TFLite conversion")
    p.add_argument("--onnx", action="store_true", help="also compare a tf2onnx conversion (onnxruntime)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_verify)
