"""The serving role of a task kind (`ServingRole`: signatures, the model exported, export options
and the preprocessing that travels with them), `ExportModule` (a model bound to its role, as
Model Garden's `export_base.ExportModule`), `GenericServing` (an unregistered model's own inputs
and outputs) and the pieces every task's `Endpoint`s are made of (TensorFlow only;
docs/serving.md).

Example:
    >>> import keras
    >>> from zoo.roles.serving import probabilities_fn
    >>> inp = keras.Input((4,))
    >>> model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(inp))
    >>> probabilities_fn(model, "auto")(keras.ops.ones((1, 3))).shape
    TensorShape([1, 3])
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable, Dict, List, Optional

from zoo.core.conventions import output_is_probability
from zoo.roles.class_names import check_class_names, class_name_outputs, class_names_of

__all__ = [
    "ServingRole",
    "GenericServing",
    "ExportModule",
    "PREPROCESSING_MODES",
    "EXPORT_OPTIONS",
    "check_export_options",
    "TensorDoc",
    "Endpoint",
    "resolve_callable",
    "callable_name",
    "preprocess_fn",
    "output_names",
    "input_names",
    "select_outputs",
    "single_output",
    "probabilities_fn",
    "top_k",
    "model_core",
    "named_function",
    "probability_outputs",
    "token_vocabulary",
    "checked_ids",
    "TEXT_OPTIONS",
    "checked_lengths",
    "checked_adjacency",
    "finite_outputs",
]

PREPROCESSING_MODES = ("none", "unit", "symmetric", "caffe", "torch", "tf")
# the options an export takes (`zoo export --opt KEY=VALUE`, `export_model(**opts)`); a task reads
# those that apply to it
EXPORT_OPTIONS = ("preprocessing", "image_size", "resize_method", "top_k", "output_activation",
                  "pad_value", "translate_fn", "max_length", "beam_size", "alpha", "output_range",
                  "sample_vocab", "allow_non_finite", "class_names", "target_name", "driver_names",
                  "tokenizer")
# `tokenizer`: a `zoo.data.subword.SubwordTokenizer` or its `tokenizer.model` file, for a text
# classifier whose token ids it makes (`zoo.roles.text_serving`; a trained run records its own)
TEXT_OPTIONS = ("tokenizer",)


def check_export_options(options):
    """`options`, or a ValueError naming the first one that is not in `EXPORT_OPTIONS` (a
    misspelt `topk=3` would otherwise be ignored)."""
    for key, value in options.items():
        if key not in EXPORT_OPTIONS:
            raise ValueError(f"`{key}` is not an export option; allowed: {', '.join(EXPORT_OPTIONS)}. "
                             f"Received: {key}={value!r}")
    return options


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
    `resources`: TensorFlow trackables `fn` uses besides the model (a tokenizer's op resource),
    tracked by the export; `assets`: `{file name: bytes}` the export carries in its `assets/`
    (`tf.saved_model.Asset`, e.g. `tokenizer.model`).
    """

    name: str
    fn: Callable[..., Dict[str, Any]]
    inputs: List[TensorDoc]
    outputs: List[TensorDoc]
    doc: str
    resources: List[Any] = dataclasses.field(default_factory=list)
    assets: Dict[str, bytes] = dataclasses.field(default_factory=dict)


def resolve_callable(value):
    """`"module:qualname"` -> the object; anything else unchanged."""
    if isinstance(value, str) and ":" in value:
        mod, _, qual = value.partition(":")
        obj = importlib.import_module(mod)
        for part in qual.split("."):
            obj = getattr(obj, part)
        return obj
    return value


def callable_name(fn):
    mod, qual = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    if mod and qual and "<" not in qual:
        try:
            if resolve_callable(f"{mod}:{qual}") is fn:
                return f"{mod}:{qual}"
        except Exception:
            pass
    return f"<unnamed callable {getattr(fn, '__name__', fn)!r}>"


def preprocess_fn(preprocessing):
    import tensorflow as tf

    preprocessing = resolve_callable(preprocessing)
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


def output_names(model):
    names = getattr(model, "output_names", None)
    if names and len(names) == len(model.outputs):
        return list(names)
    return [f"output_{i}" for i in range(len(model.outputs))]


def input_names(model):
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

    names = output_names(model)
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


def single_output(y):
    import tensorflow as tf

    if isinstance(y, dict):
        y = list(y.values())
    if isinstance(y, (list, tuple)):
        y = y[0]
    return tf.cast(tf.convert_to_tensor(y), "float32")


def probabilities_fn(model, output_activation):
    import tensorflow as tf

    if output_activation == "auto":
        if output_is_probability(model):
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


def top_k(probs, k):
    import tensorflow as tf

    k = min(int(k), int(probs.shape[-1]))
    values, indices = tf.math.top_k(probs, k=k)
    return {"top_k_values": values, "top_k_indices": tf.cast(indices, "int32")}, k


def model_core(model, opts, spec_shape):
    """`x -> model(x)`; when exporting (`_trace_once`), one `tf.function` with a fixed input
    signature, so that signatures sharing the model (uint8 and float images) trace it once."""
    import tensorflow as tf

    if opts.get("_trace_once") and all(d is not None for d in spec_shape[1:]):
        return tf.function(lambda x: model(x, training=False), autograph=False,
                           input_signature=[tf.TensorSpec(spec_shape, "float32")])
    return lambda x: model(x, training=False)


def named_function(fn, names):
    """A function whose positional parameters carry `names` (signature inputs take arg names)."""
    src = f"def f({', '.join(names)}):\n    return fn({', '.join(f'{n}={n}' for n in names)})\n"
    scope = {"fn": fn}
    exec(src, scope)  # noqa: S102 - parameter names only, built from fixed identifiers
    return scope["f"]


def probability_outputs(to_probs, classes, k, with_top_k, class_names=None):
    """`(fn, docs)`: `fn(y)` gives `probabilities` (+ `top_k_values`, `top_k_indices`, and with
    `class_names` `classes`: their names, `zoo.roles.class_names`) of a model output `y`; `docs`
    the matching output `TensorDoc`s."""
    names = check_class_names(class_names, classes) if with_top_k else None
    to_names, names_doc = class_name_outputs(names) if names else (None, "")

    def fn(y):
        probs = to_probs(single_output(y))
        out = {"probabilities": probs}
        if with_top_k:
            out.update(top_k(probs, k)[0])
        if to_names is not None:
            out.update(to_names(out["top_k_indices"]))
        return out

    docs = [TensorDoc("probabilities", "float32", [None, classes], "class probabilities")]
    if with_top_k:
        docs += [TensorDoc("top_k_values", "float32", [None, k],
                           f"the {k} largest probabilities, sorted"),
                 TensorDoc("top_k_indices", "int32", [None, k], "their class indices")]
    if names:
        docs.append(TensorDoc("classes", "string", [None, k], names_doc))
    return fn, docs


def token_vocabulary(model, index=0) -> Optional[int]:
    """The vocabulary size of the embeddings that read model input `index` (a Keras
    `Embedding`'s `input_dim`, zoo's `TokenEmbedding`'s `vocab_size`; the smallest if several),
    or None when no embedding reads it directly."""
    tensor = model.inputs[index]
    sizes = []
    for layer in model.layers:
        size = getattr(layer, "input_dim", None) or getattr(layer, "vocab_size", None)
        if isinstance(size, int) and any(
                any(x is tensor for x in node.input_tensors) for node in layer._inbound_nodes):
            sizes.append(size)
    return min(sizes) if sizes else None


def _after(x, checks):
    import tensorflow as tf

    with tf.control_dependencies(checks):
        return tf.identity(x)


def checked_ids(ids, name, vocabulary=None):
    """`ids` behind an in-graph check that every token id is in `[0, vocabulary)` (`[0, inf)`
    when None): an embedding would wrap a negative id round to the end of its table, and TF
    Serving answers `InvalidArgument` naming the input instead."""
    import tensorflow as tf

    ids = tf.convert_to_tensor(ids)
    ok = tf.reduce_all(ids >= 0)
    allowed = "0 <= id" if vocabulary is None else f"0 <= id < {vocabulary}"
    if vocabulary is not None:
        ok = tf.logical_and(ok, tf.reduce_all(ids < vocabulary))
    return _after(ids, [tf.debugging.Assert(ok, [
        f"input '{name}' must hold token ids {allowed}; received ids from",
        tf.reduce_min(ids), "to", tf.reduce_max(ids)])])


def checked_lengths(lengths, steps, name="lengths"):
    """`lengths` behind an in-graph check that each is in `[1, steps]` (`steps`: the request's
    sequence length): 0 or a negative length masks every step (NaN or uniform outputs)."""
    import tensorflow as tf

    lengths = tf.convert_to_tensor(lengths)
    ok = tf.logical_and(tf.reduce_all(lengths >= 1),
                        tf.reduce_all(lengths <= tf.cast(steps, lengths.dtype)))
    return _after(lengths, [tf.debugging.Assert(ok, [
        f"input '{name}' must hold lengths with 1 <= length <= the steps of the request, which "
        f"are", steps, "; received lengths from", tf.reduce_min(lengths), "to",
        tf.reduce_max(lengths)])])


def checked_adjacency(adjacency, name="adjacency"):
    """`adjacency` behind an in-graph check that it is a graph's: no negative weight, symmetric
    (to 1e-5 of its largest weight), as `D^-1/2 (A + I) D^-1/2` needs."""
    import tensorflow as tf

    a = tf.convert_to_tensor(adjacency)
    scale = tf.maximum(tf.reduce_max(tf.abs(a)), tf.ones([], a.dtype))
    asymmetry = tf.reduce_max(tf.abs(a - tf.linalg.matrix_transpose(a)))
    return _after(a, [
        tf.debugging.Assert(tf.reduce_all(a >= 0), [
            f"input '{name}' must hold non-negative edge weights; received a smallest weight of",
            tf.reduce_min(a)]),
        tf.debugging.Assert(asymmetry <= 1e-5 * scale, [
            f"input '{name}' must be symmetric (an undirected graph); received A - A^T up to",
            asymmetry])])


def finite_outputs(outputs, names=None):
    """The float tensors of `outputs` (a dict) behind an in-graph check that they hold no NaN
    or infinite value: a request of finite but extreme inputs (a feature of 3e38) is refused
    with `InvalidArgument` naming the output instead of answered with NaN probabilities."""
    import tensorflow as tf

    out = {}
    for key, value in outputs.items():
        value = tf.convert_to_tensor(value)
        if value.dtype.is_floating and (names is None or key in names):
            value = tf.debugging.check_numerics(
                value, f"output '{key}' would hold NaN or infinite values: the request's inputs "
                       f"are outside the range this model computes finitely")
        out[key] = value
    return out


class ServingRole:
    """What an export of a model of this task kind serves: its named signatures (`endpoints`),
    the model exported (`export_model`) and the options (`export_options`: the preprocessing the
    weights were trained with travels with them)."""

    # the image normalisation the task's data pipeline trains with (`export_options`)
    pipeline_preprocessing: Optional[str] = None

    def serves(self, spec) -> bool:
        """Whether registered model `spec` is of this role's task kind (its card's export
        options and preprocessing apply)."""
        return spec.task == getattr(self, "name", None)

    def trained_preprocessing(self, source=None) -> Optional[str]:
        """The input normalisation of a model this task trained on `source` (its
        `info["preprocessing"]`, else the task pipeline's): what the trainer and a search record
        on the model they trained, so that its exports normalise as it was trained."""
        info = getattr(source, "info", None) or {}
        return info.get("preprocessing", self.pipeline_preprocessing)

    def export_model(self, model):
        """The model that gets exported for serving."""
        return model

    def export_options(self, spec=None, model=None) -> Dict[str, Any]:
        """Export options of `model` (registered as `spec`, or None): the preprocessing its
        weights were trained with (`zoo.core.weights.preprocessing_of`: a zoo training run's
        pipeline, or the peer's for ported weights); for an untrained registered model the
        card's `preprocessing` (its peer's `preprocess_input`), else the task pipeline's."""
        from zoo.core.weights import preprocessing_of

        opts = dict((spec.export_options or {}) if spec is not None else {})
        pre = preprocessing_of(model) if model is not None else None
        if pre is None and spec is not None:  # untrained: the card's, else the pipeline's
            pre = spec.preprocessing if spec.preprocessing is not None else self.pipeline_preprocessing
        if pre is not None:
            opts["preprocessing"] = pre
        names = class_names_of(model) if model is not None else None
        if names:  # the names a run trained with: `classes` outputs, signatures.json
            opts["class_names"] = names
        return opts

    def endpoints(self, model, **opts) -> List[Any]:
        """The named signatures (`Endpoint`) of `model`."""
        raise NotImplementedError(f"{type(self).__name__} does not define `endpoints`.")


class GenericServing(ServingRole):
    """An unregistered model of no known task (`zoo export --task generic`): one
    `serving_default` signature of the model's inputs and outputs, named after its layers."""

    name = "generic"

    def export_options(self, spec=None, model=None) -> Dict[str, Any]:
        return {}

    def endpoints(self, model, **opts) -> List[Any]:
        import re

        import tensorflow as tf

        in_names = [re.sub(r"\W", "_", n) for n in input_names(model)]
        out_names = [re.sub(r"\W", "_", n) for n in output_names(model)]

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
            if dt == "string":  # raw text (a TextVectorization inside): sample texts
                sample["texts"] = ["a short sample text", "another one"]
            else:
                sample.update({"low": 1, "high": 10} if "int" in dt else {"normal": True})
            ins.append(TensorDoc(n, dt, shape, "model input", sample))
        outs = [TensorDoc(n, str(t.dtype), [None] + list(t.shape[1:]), "model output")
                for n, t in zip(out_names, model.outputs)]
        return [Endpoint("serving_default", named_function(fn, in_names), ins, outs,
                         "The model's forward pass.")]


class ExportModule:
    """A model bound to its serving role, ready to export (as Model Garden's `ExportModule`).

    Args:
        serving: the `ServingRole` (a task, or `GenericServing()`).
        model: the model to serve (already `serving.export_model(...)` where that applies).
        spec: its registered `ModelSpec`, or None.
        **options: explicit export options; they win over the role's `export_options`.

    Example:
        >>> import keras
        >>> from zoo.roles.serving import ExportModule, GenericServing
        >>> inp = keras.Input((3,), name="x")
        >>> module = ExportModule(GenericServing(), keras.Model(inp, keras.layers.Dense(2)(inp)))
        >>> [ep.name for ep in module.endpoints()]
        ['serving_default']
    """

    def __init__(self, serving: ServingRole, model, spec=None, **options):
        self.serving, self.model, self.spec = serving, model, spec
        self.options = dict(serving.export_options(spec, model), **check_export_options(options))

    def endpoints(self, **extra) -> List[Endpoint]:
        """The role's named signatures of the model, with the options (and `extra`)."""
        return self.serving.endpoints(self.model, **dict(self.options, **extra))
