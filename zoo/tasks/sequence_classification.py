"""Sequence classification: the recurrent classifiers (sequences of features or tokens).

* Training: sparse categorical cross-entropy and accuracy (`zoo.roles.task.classification_forward`).
* Data: `zoo.roles.sequence` (default: the digits as 8 rows of 8 features), or a user's text file
  (`--csv FILE --text-column COL --label-column COL`, CSV or TSV by extension; `--validation-csv`,
  `--test-csv`): labels any strings, kept as sorted class names, and a SentencePiece tokenizer
  (`zoo.data.subword`) learned from the training split only, saved as `tokenizer.model` in the run
  folder (a resumed run reuses it) and carried by the export (docs/text.md).
* Serving: `zoo.roles.sequence` (`tokens`, `lengths`); a model trained on text serves raw strings:
  `serving_default(text)` -> `classes`, `class_ids`, `probabilities`, top-k, and the token-id
  signature as `serving_token_ids` (`zoo.roles.text_serving`).
* Search: trials train on `digits_rows`.

Example:
    >>> from zoo.tasks import task_for
    >>> task_for("peephole_lstm_classifier").monitor
    'accuracy'
"""

from __future__ import annotations

import os

import tensorflow as tf

from zoo.data.subword import TOKENIZER_FILE
from zoo.data.text import (
    load_text_settings,
    save_text_settings,
    set_tokenizer,
    text_file_source,
    text_source,
    tokenizer_of,
)
from zoo.roles.recipe import check_classes
from zoo.roles.sequence import SequenceTask
from zoo.roles.task import classification_forward, logits_flag
from zoo.roles.text_serving import string_input_endpoints, text_endpoints

_FILE_FLAGS = ("text_column", "label_column", "validation_csv", "test_csv")

__all__ = ["SequenceClassification", "TASK"]


class SequenceClassification(SequenceTask):
    """See the module docstring."""

    name = "sequence_classification"
    monitor = "accuracy"
    default_dataset = "digits_rows"

    def __init__(self, label_smoothing=0.0, from_logits=None):
        self.label_smoothing = float(label_smoothing)
        self.from_logits = from_logits

    def forward(self, model, batch, training):
        x, y = batch
        per, correct = classification_forward(model(x, training=training), y,
                                              logits_flag(model, self.from_logits),
                                              self.label_smoothing)
        loss_sum = tf.reduce_sum(per)
        return loss_sum, {"loss_sum": loss_sum, "accuracy_sum": tf.reduce_sum(correct),
                          "count": tf.cast(tf.shape(per)[0], tf.float32)}

    @classmethod
    def add_arguments(cls, parser):
        super().add_arguments(parser)
        g = parser.add_argument_group("text file data (docs/text.md)")
        g.add_argument("--csv", default=None,
                       help="a UTF-8 CSV (or .tsv) file with a header row: texts and labels")
        g.add_argument("--text-column", default=None, help="--csv: the column of texts (default: text)")
        g.add_argument("--label-column", default=None,
                       help="--csv: the column of labels, any strings (default: label)")
        g.add_argument("--validation-csv", default=None,
                       help="--csv: a validation file (default: 10%% of --csv, stratified, seeded)")
        g.add_argument("--test-csv", default=None,
                       help="--csv: a test file (default: 10%% of --csv, stratified, seeded)")

    @classmethod
    def from_args(cls, args):
        given = [f for f in _FILE_FLAGS if getattr(args, f, None) is not None]
        if getattr(args, "csv", None) is None and given:
            raise ValueError(f"`--{given[0].replace('_', '-')}` needs `--csv FILE`. "
                             f"Received: {given[0]}={getattr(args, given[0])!r}")
        if getattr(args, "csv", None) is not None and getattr(args, "dataset", None) is not None:
            raise ValueError("Give `--csv` or `--dataset`, not both. "
                             f"Received: csv={args.csv!r}, dataset={args.dataset!r}")
        for flag, least in (("vocab_size", 8), ("max_length", 2)):
            if getattr(args, flag, least) < least:
                raise ValueError(f"`--{flag.replace('_', '-')}` must be an integer >= {least}. "
                                 f"Received: {flag}={getattr(args, flag)}")
        return cls()

    def make_source(self, spec, args):
        name = args.dataset or self.default_dataset
        if getattr(args, "csv", None) is None and not self._is_tfds_text(name):
            src, fixed = super().make_source(spec, args)
        else:
            folder = getattr(args, "run_dir", None) or os.path.join("runs", args.model)
            saved = os.path.join(folder, TOKENIZER_FILE)
            tokenizer, _ = load_text_settings(folder)  # a resumed run's
            if getattr(args, "csv", None) is not None:
                src = text_file_source(
                    args.csv, args.text_column or "text", args.label_column or "label",
                    validation_path=args.validation_csv, test_path=args.test_csv,
                    vocab_size=args.vocab_size, max_length=args.max_length, seed=args.seed,
                    tokenizer=tokenizer)
            else:
                src = text_source(name, args.vocab_size, args.max_length, args.data_dir, tokenizer)
            save_text_settings(folder, src.info["tokenizer"], args.max_length)  # read back on resume
            if getattr(args, "progress", True):
                print(self._data_line(src, saved, tokenizer is not None), flush=True)
            fixed = self.fixed_by(spec, src.info)
        check_classes(src.info.get("num_classes"), args.dataset or self.default_dataset)
        return src, fixed

    @staticmethod
    def _is_tfds_text(name):
        from zoo import data as zdata

        return name not in ("adding", "digits_tokens") and name not in zdata.EMBEDDED

    @staticmethod
    def _data_line(src, saved, reused):
        info = src.info
        names = ", ".join(info["class_names"][:8]) + (", ..." if len(info["class_names"]) > 8 else "")
        skipped = info.get("skipped_empty")
        return (f"[zoo.train] data {src.name}: {len(info['class_names'])} classes ({names}); train "
                f"{src.num_train}, validation {src.num_validation or 0}, test {src.num_test or 0}"
                + (f"; {skipped} empty text(s) skipped" if skipped is not None else "")
                + f"; tokenizer {info['vocab_size']} pieces "
                + ("reused from" if reused else "learned from the training split, saved to")
                + f" {saved}")

    def model_fn(self, spec, args, source, fixed):
        """The builder's model with the tokenizer of its text recorded on it (its export serves
        raw strings)."""
        build = super().model_fn(spec, args, source, fixed)
        info = getattr(source, "info", None) or {}
        tokenizer = info.get("tokenizer")
        if tokenizer is None:
            return build

        def fn():
            return set_tokenizer(build(), tokenizer, (info.get("input_shape") or [None])[0])

        return fn

    def endpoints(self, model, **opts):
        if model.inputs and "string" in str(model.inputs[0].dtype):  # the model reads text itself
            return string_input_endpoints(model, opts)
        token_endpoints = super().endpoints(model, **opts)
        tokenizer, max_length = tokenizer_of(model)
        tokenizer = opts.get("tokenizer", tokenizer)
        if tokenizer is None:
            return token_endpoints
        if max_length is not None:
            opts = dict(opts, max_length=opts.get("max_length", max_length))
        return text_endpoints(model, token_endpoints[0], tokenizer, opts)

    def tuning_task(self, training):
        return type(self)(label_smoothing=float(training.get("label_smoothing", 0.0) or 0.0))


TASK = SequenceClassification
