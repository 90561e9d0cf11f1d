"""What the sequence task kinds share (`zoo.tasks.sequence_classification`,
`sequence_regression`, `text_classification`): the recipe's flags and data, and the serving
signature over variable-length sequences.

* Data (`zoo train NAME`): the embedded adding problem (regression), the digits as 8 rows of 8
  features (`digits_rows`), the digits as 64 grey-level tokens (`digits_tokens`), or a TFDS text
  dataset (`imdb_reviews`, ...) tokenised with a SentencePiece tokenizer learned from its
  training split (`zoo.data.text.text_source`; classifiers also read a user's CSV file).
* Serving: `serving_default` takes `tokens` int32 `[N, T]` (or `features` float32 `[N, T, F]`) and
  `lengths` int32 `[N]`; steps after `lengths` are masked (or padded with `pad_value`).

Example:
    >>> from zoo.data.text import digits_tokens_source
    >>> digits_tokens_source().info["vocab_size"]
    18
"""

from __future__ import annotations

import inspect

import tensorflow as tf

from zoo import data as zdata
from zoo.core.registry import parse_overrides
from zoo.data.text import digits_tokens_source, text_source
from zoo.roles.recipe import check_agrees_with_data
from zoo.roles.serving import (
    Endpoint,
    TensorDoc,
    checked_ids,
    checked_lengths,
    named_function,
    probabilities_fn,
    probability_outputs,
    single_output,
    token_vocabulary,
)
from zoo.roles.task import Task, builder_fn
from zoo.tasks.image_classification import limit_eval

__all__ = ["SequenceTask", "sequence_endpoints", "digits_tokens_source", "text_source"]


class SequenceTask(Task):
    """The sequence kinds' recipe flags, data and serving (see the module docstring)."""

    default_dataset = "digits_rows"
    flag_defaults = dict(epochs=20, batch_size=64, learning_rate=1e-3, clipnorm=1.0)

    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--dataset", default=None,
                            help="adding | digits_rows | digits_tokens (embedded; default: "
                                 f"{cls.default_dataset}) | a TFDS text dataset (imdb_reviews)")
        parser.add_argument("--steps", type=int, default=100, help="adding problem: length")
        parser.add_argument("--num-train", type=int, default=20_000,
                            help="adding problem: examples")
        parser.add_argument("--vocab-size", type=int, default=20_000, help="text: vocabulary")
        parser.add_argument("--max-length", type=int, default=256, help="text: tokens per example")
        parser.add_argument("--data-dir", default=None, help="TFDS data_dir")

    def make_source(self, spec, args):
        name = args.dataset or self.default_dataset
        if name == "adding":
            src = zdata.adding_source(steps=args.steps, num_train=args.num_train)
        elif name == "digits_tokens":
            src = digits_tokens_source()
        elif name in zdata.EMBEDDED:
            src = zdata.get_source(name)
        else:
            src = text_source(name, args.vocab_size, args.max_length, args.data_dir)
        return src, self.fixed_by(spec, src.info)

    def fixed_by(self, spec, info):
        """The builder arguments that data with `info` fixes."""
        params = inspect.signature(spec.builder).parameters
        fixed = dict(input_shape=info.get("input_shape"), vocab_size=info.get("vocab_size"),
                     classes=info.get("num_classes"), num_classes=info.get("num_classes"))
        if "vocabulary_size" in params:  # None: feature vectors (digits_rows)
            fixed["vocabulary_size"] = info.get("vocab_size")
        return fixed

    def model_fn(self, spec, args, source, fixed):
        fixed = dict(fixed)
        explicit = {}
        if "vocabulary_size" in fixed:  # None is meaningful here: feature vectors, no embedding
            explicit["vocabulary_size"] = fixed.pop("vocabulary_size")
        explicit.update(check_agrees_with_data(parse_overrides(getattr(args, "set", None)), explicit))
        return builder_fn(spec.name, explicit, **fixed)

    def endpoints(self, model, **opts):
        return sequence_endpoints(model, opts, regression=False)

    def default_space(self, hp):
        return {"learning_rate": hp.Choice("learning_rate", [3e-3, 1e-3]),
                "weight_decay": hp.Choice("weight_decay", [0.0, 1e-4])}

    def search_data(self, spec, base, *, eval_examples=256, num_train=2048, seed=0):
        src = zdata.digits_rows_source(seed=seed)
        over = dict(vocabulary_size=None, input_shape=(8, 8), classes=10)
        return limit_eval(src, eval_examples), over


def sequence_endpoints(model, opts, *, regression):
    """The `serving_default` signature of a sequence model (tokens or features, and lengths)."""
    first = model.inputs[0]
    is_tokens = "int" in str(first.dtype) or len(first.shape) == 2
    seq_len = first.shape[1]
    pad = opts.get("pad_value", 0)
    extra = model.inputs[1] if len(model.inputs) > 1 else None
    if len(model.inputs) > 2:
        raise ValueError("A sequence task takes models with one sequence input and optionally a "
                         f"mask or lengths input. Received: {len(model.inputs)} inputs")
    vocabulary = token_vocabulary(model) if is_tokens else None
    if is_tokens:
        seq_doc = TensorDoc("tokens", "int32", [None, seq_len],
                            f"token ids, padded with {pad} after `lengths`"
                            + (f" (0 <= id < {vocabulary})" if vocabulary else ""),
                            {"shape": [2, seq_len or 7], "low": 1,
                             "high": min(int(opts.get("sample_vocab", 10)), vocabulary or 10**9)})
    else:
        feat = first.shape[-1]
        seq_doc = TensorDoc("features", "float32", [None, seq_len, feat],
                            "feature sequences, padded after `lengths`",
                            {"shape": [2, seq_len or 7, feat], "normal": True})
    len_doc = TensorDoc("lengths", "int32", [None], "number of valid steps of each sequence",
                        {"lengths": True})
    out_shape = list(model.outputs[0].shape[1:])

    def run(seq, lengths):
        if is_tokens:
            seq = checked_ids(seq, "tokens", vocabulary)
        lengths = checked_lengths(lengths, tf.shape(seq)[1])
        x = tf.cast(seq, first.dtype)
        valid = tf.sequence_mask(lengths, tf.shape(x)[1])
        if extra is not None:
            m = tf.cast(lengths if len(extra.shape) == 1 else valid, extra.dtype)
            return single_output(model([x, m], training=False))
        v = valid if is_tokens else valid[..., None]
        return single_output(model(tf.where(v, x, tf.cast(pad, x.dtype)), training=False))

    if regression:
        def fn(**kw):
            return {"predictions": run(kw[seq_doc.name], kw["lengths"])}

        outs = [TensorDoc("predictions", "float32", [None] + out_shape, "predicted values")]
        doc = "Regression over variable-length sequences."
    else:
        classes = int(out_shape[-1]) if out_shape and out_shape[-1] is not None else None
        k = min(int(opts.get("top_k", 5)), classes or 1)
        with_top_k = bool(classes and classes > 1 and len(out_shape) == 1)
        outputs, outs = probability_outputs(
            probabilities_fn(model, opts.get("output_activation", "auto")), classes, k, with_top_k,
            opts.get("class_names"))
        outs[0].shape = [None] + out_shape

        def fn(**kw):
            return outputs(run(kw[seq_doc.name], kw["lengths"]))

        doc = "Classify variable-length sequences."
    return [Endpoint("serving_default", named_function(fn, [seq_doc.name, "lengths"]),
                     [seq_doc, len_doc], outs, doc)]
