"""Text classifiers served on raw strings (TensorFlow only; docs/text.md, docs/serving.md).

`text_endpoints`: a classifier of token ids with the `zoo.data.subword.SubwordTokenizer` its ids
come from. `serving_default` takes `text` (string `[batch]`), tokenises it in the graph (TF Text's
`SentencepieceOp` / `SentencepieceTokenizeOp`, which the TF Serving model server links) and answers
`classes` (the best class's name), `class_ids`, `probabilities`, `top_k_values`, `top_k_indices`
and `top_k_classes`; the token-id signature stays as `serving_token_ids`. The tokenizer's model
file travels in the export's `assets/` (`tokenizer.model`) as well as in the graph.

`string_input_endpoints`: a classifier whose own input is a string (a `TextVectorization` inside),
served with the same outputs.

An empty (or all-space) text is answered, not refused: it is read as one unknown piece (id 3),
the same input training gives such a text, so a batch with one empty text still gets answers.

Example:
    >>> import tensorflow as tf
    >>> from zoo.roles.text_serving import class_outputs
    >>> fn, docs = class_outputs(["neg", "pos"], top_k=1)
    >>> out = fn(tf.constant([[0.2, 0.8]]))
    >>> out["classes"].numpy().tolist(), out["class_ids"].numpy().tolist()
    ([b'pos'], [1])
"""

from __future__ import annotations

import os

from zoo.roles.class_names import check_class_names
from zoo.roles.serving import Endpoint, TensorDoc, probabilities_fn, single_output, top_k

__all__ = ["text_endpoints", "string_input_endpoints", "class_outputs", "TEXT_INPUT",
           "TOKEN_SIGNATURE"]

TEXT_INPUT = "text"
TOKEN_SIGNATURE = "serving_token_ids"
SAMPLE_TEXTS = ["a short sample text", "", "another sample, a little longer than the first one"]


def _text_doc(texts=None):
    return TensorDoc(TEXT_INPUT, "string", [None],
                     "UTF-8 texts, one per example (an empty text is read as one unknown piece)",
                     {"shape": [3], "texts": list(texts or SAMPLE_TEXTS)})


def class_outputs(names, top_k=5):
    """`(fn, docs)`: `fn(probabilities [N, C])` gives `probabilities`, `class_ids` (the best
    class), `classes` (its name), `top_k_values`, `top_k_indices` and `top_k_classes`."""
    import tensorflow as tf

    names = list(names)
    k = max(1, min(int(top_k), len(names)))
    table = tf.constant(names, tf.string)

    def fn(probs):
        out = {"probabilities": probs}
        out.update(top_k_of(probs, k))
        out["class_ids"] = out["top_k_indices"][:, 0]
        out["classes"] = tf.gather(table, out["class_ids"])
        out["top_k_classes"] = tf.gather(table, out["top_k_indices"])
        return out

    shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    c = len(names)
    docs = [TensorDoc("classes", "string", [None], f"the most probable class's name ({shown})"),
            TensorDoc("class_ids", "int32", [None], f"its index (0 <= id < {c}, names sorted)"),
            TensorDoc("probabilities", "float32", [None, c], "class probabilities"),
            TensorDoc("top_k_values", "float32", [None, k], f"the {k} largest probabilities, sorted"),
            TensorDoc("top_k_indices", "int32", [None, k], "their class indices"),
            TensorDoc("top_k_classes", "string", [None, k], "their class names")]
    return fn, docs


def top_k_of(probs, k):
    return top_k(probs, k)[0]


def _names(opts, classes):
    names = check_class_names(opts.get("class_names"), classes)
    return names or [str(i) for i in range(classes)]


def _load(tokenizer):
    if isinstance(tokenizer, (str, os.PathLike)):
        from zoo.data.subword import SubwordTokenizer

        return SubwordTokenizer.load(tokenizer)
    return tokenizer


def text_endpoints(model, token_endpoint, tokenizer, opts):
    """`[serving_default (text), serving_token_ids]` of a classifier of token ids: the token
    endpoint (`tokens`, `lengths` -> `probabilities`, ...) renamed, and a text endpoint that
    tokenises with `tokenizer` (a `SubwordTokenizer` or its file) and calls it."""
    import tensorflow as tf

    from zoo.data.subword import TOKENIZER_FILE, UNK

    tokenizer = _load(tokenizer)
    steps = token_endpoint.inputs[0].shape[1] or int(opts.get("max_length") or 128)
    classes = int(token_endpoint.outputs[0].shape[-1])
    to_outputs, docs = class_outputs(_names(opts, classes), opts.get("top_k", 5))
    unknown = tf.constant([UNK] + [0] * (steps - 1), tf.int32)

    def fn(text):
        ids = tokenizer.encode(text, steps)
        empty = tf.logical_not(tf.reduce_any(ids > 0, axis=1, keepdims=True))
        ids = tf.where(empty, unknown[None, :], ids)
        lengths = tf.reduce_sum(tf.cast(ids > 0, tf.int32), axis=1)
        probs = token_endpoint.fn(**{token_endpoint.inputs[0].name: ids, "lengths": lengths})
        return to_outputs(probs["probabilities"])

    token_endpoint.name = TOKEN_SIGNATURE
    token_endpoint.doc += " (token ids of the tokenizer in assets/tokenizer.model)"
    text = Endpoint("serving_default", fn, [_text_doc()], docs,
                    f"Classify raw texts (SentencePiece tokenizer in the graph, {steps} pieces at most).",
                    resources=[tokenizer.tf_text_tokenizer],  # the TF Text op's model resource
                    assets={TOKENIZER_FILE: tokenizer.model_proto})
    return [text, token_endpoint]


def string_input_endpoints(model, opts):
    """`[serving_default]` of a classifier whose input is a string `[batch]` or `[batch, 1]`
    (its own `TextVectorization`, ...): `text` -> the outputs of `class_outputs`."""
    import tensorflow as tf

    if len(model.inputs) != 1:
        raise ValueError("A text classifier with string inputs must have one input. "
                         f"Received: {len(model.inputs)} inputs")
    rank = len(model.inputs[0].shape)
    out_shape = model.outputs[0].shape
    if len(out_shape) != 2 or out_shape[-1] is None:
        raise ValueError("A text classifier must answer one vector of class scores per text. "
                         f"Received: output shape {tuple(out_shape)}")
    to_probs = probabilities_fn(model, opts.get("output_activation", "auto"))
    classes = int(out_shape[-1])
    to_outputs, docs = class_outputs(_names(opts, classes), opts.get("top_k", 5))

    def fn(text):
        x = text if rank == 1 else tf.reshape(text, [-1] + [1] * (rank - 1))
        return to_outputs(to_probs(single_output(model(x, training=False))))

    return [Endpoint("serving_default", fn, [_text_doc()], docs,
                     "Classify raw texts (the model's own string preprocessing).")]
