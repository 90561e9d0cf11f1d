"""Translation: the Transformer of Vaswani et al. 2017 (teacher forcing, greedy and beam decoding).

* Training: the model takes `[source_ids, decoder_input_ids]` and returns logits at every target
  position; cross-entropy (optionally label-smoothed) and token accuracy over the non-padding
  target tokens, normalised by the global number of target tokens.
* Data (`zoo train NAME`): sequence reversal (embedded, no download, token ids), a file of
  sentence pairs (`--pairs FILE`: TSV, source TAB target; `zoo.data.pairs`) or a TFDS translation
  dataset (`ted_hrlr_translate/pt_to_en`, `wmt14_translate/de-en`, ...); text is tokenised by one
  SentencePiece vocabulary (`--vocab-size`) learned from the training split, saved in the run
  folder as `tokenizer.model` (a resumed run reads it back). After training, greedy decoding of
  held-out examples gives the exact-match rate.
* Serving: `serving_default` (teacher-forced next-token `probabilities`); with a tokenizer,
  `translate` (beam search, `zoo.models.transformer_decoding.translate`) and `translate_greedy`
  take `text` (strings) and return `translation` (strings), `token_ids` and `scores`, and
  `translate_token_ids` / `translate_greedy_token_ids` take `source_ids`; the tokenizer travels
  in the export's graph and `assets/tokenizer.model`. Without one (reversal), `translate` and
  `translate_greedy` take `source_ids` and return `token_ids` and `scores`.
* Search: trials train on reversal of 8 tokens over 10 symbols.

Example:
    >>> from zoo.tasks import task_for
    >>> task_for("transformer_base").monitor
    'token_accuracy'
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from zoo import data as zdata
from zoo.data.pairs import (
    attach_tokenizer,
    pairs_source,
    read_pairs,
    tokenizer_file_of,
    tokenizer_of,
    track_tokenizer,
)
from zoo.data.subword import TOKENIZER_FILE, SubwordTokenizer
from zoo.data.text import subword_source
from zoo.roles.serving import (
    Endpoint,
    TensorDoc,
    checked_ids,
    probabilities_fn,
    resolve_callable,
    single_output,
    token_vocabulary,
)
from zoo.roles.task import Task, export_note, f32, smoothed_cross_entropy
from zoo.tasks.image_classification import limit_eval

__all__ = ["Translation", "subword_source", "greedy_decode", "exact_match", "TASK"]


def greedy_decode(model, source, target_len, batch_size=250):
    """Greedy decoding with any teacher-forcing model `model([source, decoder_input])`."""
    step = tf.function(lambda s, d: tf.argmax(model([s, d], training=False), -1,
                                              output_type=tf.int32))
    out = []
    for i in range(0, len(source), batch_size):
        src = tf.constant(source[i: i + batch_size])
        dec = np.zeros((len(src), target_len), "int32")
        dec[:, 0] = zdata.BOS
        pred = np.zeros((len(src), target_len), "int32")
        for t in range(target_len):
            pred[:, t] = step(src, tf.constant(dec)).numpy()[:, t]
            if t + 1 < target_len:
                dec[:, t + 1] = pred[:, t]
        out.append(pred)
    return np.concatenate(out)


def exact_match(pred, labels):
    """Share of sequences whose tokens up to and including EOS are all right."""
    mask = labels != zdata.PAD
    return float(np.mean(np.all((pred == labels) | ~mask, axis=1)))


def translate_function(model, translate_fn, max_length, beam, alpha, vocabulary=None):
    """The `translate` signature's function: `source_ids -> token_ids (, scores)` by
    `translate_fn(model, source_ids, max_length, beam, alpha)`; source ids outside
    `[0, vocabulary)` refused (`checked_ids`)."""

    def translate(source_ids):
        source_ids = checked_ids(source_ids, "source_ids", vocabulary)
        res = translate_fn(model, tf.cast(source_ids, "int32"), max_length, beam, alpha)
        if isinstance(res, dict):  # zoo.models.transformer_decoding returns target_ids and scores
            return {("token_ids" if k == "target_ids" else k): tf.convert_to_tensor(v)
                    for k, v in res.items()}
        if isinstance(res, (tuple, list)):
            out = {"token_ids": tf.cast(res[0], "int32")}
            if len(res) > 1:
                out["scores"] = tf.cast(res[1], "float32")
            return out
        return {"token_ids": tf.cast(res, "int32")}

    return translate


def text_function(tokenizer, translate_ids, source_length):
    """`text -> translation, token_ids, scores`: `translate_ids(source_ids)` between the
    tokenizer's encoding (at most `source_length` pieces) and its detokenisation (up to EOS)."""

    def translate(text):
        out = translate_ids(tokenizer.encode(text, source_length))
        out["translation"] = tokenizer.detokenize(out["token_ids"])
        return out

    return translate


def _text_endpoint(name, doc, tokenizer, outs_tr, max_length, translate_ids):
    """The signature `name`: `text` (strings) in, `translation` (strings) and `outs_tr` out."""
    text = TensorDoc("text", "string", [None], "source sentences (UTF-8)",
                     {"texts": _sample_texts(tokenizer)})
    outs = [TensorDoc("translation", "string", [None], "the translations (UTF-8)")] + outs_tr
    return Endpoint(name, text_function(tokenizer, translate_ids, max_length), [text], outs,
                    doc + " Strings in and out (SentencePiece tokenizer, assets/tokenizer.model).")


def _tokenizer(value):
    """`(tokenizer, its file or None)` of the `tokenizer` export option (a `SubwordTokenizer`,
    or the path of its file), or `(None, None)`."""
    if value is None or isinstance(value, SubwordTokenizer):
        return value, None
    if isinstance(value, (str, os.PathLike)):
        return SubwordTokenizer.load(value), value
    raise ValueError("`tokenizer` must be a SubwordTokenizer or the path of its tokenizer.model. "
                     f"Received: tokenizer={value!r}")


def _attach(model, tokenizer, path, vocabularies):
    """Check that the model reads every id of `tokenizer`, and make its SentencePiece resource
    and model file part of what an export of `model` saves (the op in the graph, the file in
    `assets/`)."""
    if vocabularies[0] is not None and tokenizer.vocab_size > vocabularies[0]:
        raise ValueError(f"The tokenizer has {tokenizer.vocab_size} pieces, more than the "
                         f"model's {vocabularies[0]} source ids: it belongs to another model. "
                         f"Received: tokenizer vocabulary {tokenizer.vocab_size}")
    track_tokenizer(attach_tokenizer(model, tokenizer), tokenizer, path)


def _sample_texts(tokenizer):
    """Two sentences of the tokenizer's own pieces (samples for warm-up and `zoo verify`)."""
    words = [p.lstrip("\u2581") for p in tokenizer.pieces()[4:]]
    words = [w for w in words if w] or ["a"]
    return [" ".join(words[:3]), " ".join(words[3:5] or words[:1])]


class Translation(Task):
    """See the module docstring.

    Args:
        pad_id: the padding token (ignored by the loss and the metrics).
        label_smoothing: cross-entropy label smoothing (0.1 in the paper).
        max_length: the longest decoding the export serves (`target_len - 1` of the training
            data, so that with BOS it fits the model's positions).
    """

    name = "translation"
    monitor = "token_accuracy"
    flag_defaults = dict(epochs=10, batch_size=64, learning_rate=1e-3, schedule="cosine",
                          warmup_steps=200)

    def __init__(self, pad_id=zdata.PAD, label_smoothing=0.0, max_length=None):
        self.pad_id = pad_id
        self.label_smoothing = float(label_smoothing)
        self.max_length = max_length
        self.tokenizer_path = None  # the run's tokenizer.model (`make_source` of text data)

    # -------------------------------------------------------------------------- training
    def denominator(self, batch):
        return tf.reduce_sum(f32(tf.not_equal(batch[1], self.pad_id)))

    def forward(self, model, batch, training):
        (src, dec_in), labels = batch
        logits = f32(model([src, dec_in], training=training))
        labels = tf.cast(labels, tf.int32)
        mask = f32(tf.not_equal(labels, self.pad_id))
        if self.label_smoothing:
            per = smoothed_cross_entropy(tf.one_hot(labels, tf.shape(logits)[-1]), logits, True,
                                         self.label_smoothing)
        else:
            per = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        correct = f32(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), labels)) * mask
        loss_sum = tf.reduce_sum(per * mask)
        exact = tf.reduce_sum(f32(tf.equal(tf.reduce_sum(correct, -1), tf.reduce_sum(mask, -1))))
        return loss_sum, {"loss_sum": loss_sum, "token_accuracy_sum": tf.reduce_sum(correct),
                          "tokens": tf.reduce_sum(mask), "exact_sum": exact,
                          "count": f32(tf.shape(labels)[0])}

    def summarize(self, sums):
        tokens = max(float(sums.get("tokens", 1.0)), 1e-12)
        count = max(float(sums.get("count", 1.0)), 1e-12)
        return {"loss": float(sums["loss_sum"]) / tokens,
                "token_accuracy": float(sums["token_accuracy_sum"]) / tokens,
                "teacher_forced_exact": float(sums["exact_sum"]) / count}

    # ---------------------------------------------------------------------------- recipe
    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--dataset", default="reversal",
                            help="reversal (embedded) or a TFDS translation dataset "
                                 "(ted_hrlr_translate/pt_to_en, wmt14_translate/de-en, ...)")
        parser.add_argument("--pairs", default=None, metavar="FILE",
                            help="train on your sentence pairs: a UTF-8 TSV file, source TAB "
                                 "target a line (further columns ignored; a first line "
                                 "'source TAB target' is a header), split 80/10/10 by --seed")
        parser.add_argument("--validation-pairs", default=None, metavar="FILE",
                            help="--pairs: the validation pairs (with --test-pairs; then "
                                 "--pairs is all training data)")
        parser.add_argument("--test-pairs", default=None, metavar="FILE",
                            help="--pairs: the test pairs (with --validation-pairs)")
        parser.add_argument("--max-length", type=int, default=20, help="tokens per sequence")
        parser.add_argument("--vocab", type=int, default=20, help="reversal: symbols")
        parser.add_argument("--num-train", type=int, default=20_000, help="reversal: examples")
        parser.add_argument("--vocab-size", "--target-vocab", dest="vocab_size", type=int,
                            default=2**13, help="text: SentencePiece pieces of the one "
                                                "vocabulary of both languages (--target-vocab: "
                                                "its old name)")
        parser.add_argument("--label-smoothing", type=float, default=0.0,
                            help="cross-entropy label smoothing")
        parser.add_argument("--data-dir", default=None, help="TFDS data_dir")
        parser.add_argument("--decode-examples", type=int, default=1000,
                            help="held-out examples decoded greedily at the end")

    @classmethod
    def from_args(cls, args):
        for flag, least in (("decode_examples", 0), ("max_length", 1), ("vocab", 1),
                            ("num_train", 1), ("vocab_size", 1)):
            value = getattr(args, flag, None)
            if value is not None and value < least:
                raise ValueError(f"`--{flag.replace('_', '-')}` must be an integer >= {least}. "
                                 f"Received: --{flag.replace('_', '-')}={value}")
        pairs = getattr(args, "pairs", None)
        if pairs is not None and args.dataset != "reversal":
            raise ValueError("Give `--pairs` or `--dataset`, not both. "
                             f"Received: --pairs={pairs!r}, --dataset={args.dataset!r}")
        split_files = (getattr(args, "validation_pairs", None), getattr(args, "test_pairs", None))
        if any(split_files) and (pairs is None or not all(split_files)):
            raise ValueError("`--validation-pairs` and `--test-pairs` go together, with "
                             f"`--pairs`. Received: --pairs={pairs!r}, --validation-pairs="
                             f"{split_files[0]!r}, --test-pairs={split_files[1]!r}")
        return cls(label_smoothing=args.label_smoothing, max_length=args.max_length)

    def make_source(self, spec, args):
        if getattr(args, "pairs", None) is not None:
            src = self._pairs_source(args)
        elif args.dataset == "reversal":
            src = zdata.reversal_source(args.max_length, args.vocab, num_train=args.num_train)
        else:
            src = subword_source(args.dataset, args.max_length, args.vocab_size, args.data_dir)
        info = src.info
        if info.get("tokenizer") is not None:  # the run keeps it beside model.keras
            run_dir = getattr(args, "run_dir", None) or os.path.join("runs", args.model)
            os.makedirs(run_dir, exist_ok=True)
            self.tokenizer_path = os.path.abspath(info["tokenizer"].save(run_dir))
        self.max_length = info["target_len"] - 1
        v = info["vocab_size"]
        return src, dict(vocabulary_size=v, target_vocabulary_size=v,
                         max_length=info["target_len"])

    def _pairs_source(self, args):
        """The pairs of `--pairs` (and `--validation-pairs`, `--test-pairs`), read and checked
        before any training; a resumed run (checkpoints in its folder) keeps its tokenizer."""
        pairs, skipped = read_pairs(args.pairs, "--pairs")
        val = test = None
        if args.validation_pairs is not None:
            val, s_val = read_pairs(args.validation_pairs, "--validation-pairs")
            test, s_test = read_pairs(args.test_pairs, "--test-pairs")
            skipped += s_val + s_test
        if skipped:
            print(f"[zoo.train] skipped {skipped} rows with an empty source or target.",
                  flush=True)
        run_dir = getattr(args, "run_dir", None) or os.path.join("runs", args.model)
        saved, ckpts = os.path.join(run_dir, TOKENIZER_FILE), os.path.join(run_dir, "checkpoints")
        resumed = os.path.isfile(saved) and os.path.isdir(ckpts) and bool(os.listdir(ckpts))
        tokenizer = SubwordTokenizer.load(saved) if resumed else None
        name = os.path.splitext(os.path.basename(args.pairs))[0]
        src = pairs_source(name, pairs, args.max_length, args.vocab_size, validation=val,
                           test=test, seed=args.seed, tokenizer=tokenizer)
        long = src.info["long_train_pairs"]
        if long:  # cut sequences cannot be translated whole: say so, with the flag to raise
            print(f"[zoo.train] {long} of {src.num_train} training pairs have a side longer than "
                  f"--max-length={args.max_length} tokens and are cut.", flush=True)
        return src

    def after_training(self, trainer, args, source):
        """Greedy exact match on `--decode-examples` test examples (`greedy_exact_match`, the
        reported figure) and validation examples (`validation_greedy_exact_match`, the one
        settings are chosen on)."""
        scores = {}
        for key, split in (("greedy_exact_match", source.test),
                           ("validation_greedy_exact_match", source.validation)):
            if not args.decode_examples or split is None:
                continue
            ds = split().take(args.decode_examples)
            if source.preprocess is not None:  # translation: tokenise the raw pairs first
                ds = ds.map(lambda s, t: source.preprocess((s, t), False))
            (src, _), labels = next(iter(ds.batch(args.decode_examples)))
            pred = greedy_decode(trainer.model, src.numpy(), source.info["target_len"])
            scores[key] = exact_match(pred, labels.numpy())
        if scores:
            trainer.update_summary(**scores)

    def report(self, summary):
        return (f"{summary['name']} on {summary['dataset']}: test {summary['final_test']}, "
                f"greedy exact match {summary.get('greedy_exact_match')} (validation "
                f"{summary.get('validation_greedy_exact_match')})"
                f"{export_note(summary)}")

    # --------------------------------------------------------------------------- serving
    def export_options(self, spec=None, model=None):
        """The decoding length, and the tokenizer the model was trained with: this task's run
        file (`tokenizer`, its path, recorded in signatures.json), else the one recorded on the
        model or beside the `.keras` file it was loaded from (`zoo.data.pairs.tokenizer_of`)."""
        opts = super().export_options(spec, model)
        if self.max_length:
            opts["max_length"] = int(self.max_length)
        if self.tokenizer_path is not None:
            opts["tokenizer"] = self.tokenizer_path
        elif model is not None and tokenizer_of(model) is not None:
            opts["tokenizer"] = tokenizer_file_of(model) or tokenizer_of(model)
        return opts

    def endpoints(self, model, **opts):
        if len(model.inputs) != 2:
            raise ValueError("task='translation' needs a model with inputs (source_ids, "
                             f"target_ids). Received: {len(model.inputs)} inputs")
        to_probs = probabilities_fn(model, opts.get("output_activation", "auto"))
        vocab = model.outputs[0].shape[-1]
        sample_vocab = int(opts.get("sample_vocab", 10))
        translate_fn = opts.get("translate_fn") or "zoo.models.transformer_decoding:translate"
        try:
            translate_fn = resolve_callable(translate_fn)
        except (ImportError, AttributeError) as e:
            raise ValueError(
                "task='translation' needs `translate_fn(model, source_ids, max_length, beam_size, "
                "alpha)` (default zoo.models.transformer_decoding:translate). "
                f"Received: translate_fn={translate_fn!r} "
                f"({e})") from None
        max_length = int(opts.get("max_length", 32))
        beam_size = int(opts.get("beam_size", 4))
        alpha = float(opts.get("alpha", 0.6))

        vocabularies = [token_vocabulary(model, i) for i in (0, 1)]

        def forward(source_ids, target_ids):
            source_ids = checked_ids(source_ids, "source_ids", vocabularies[0])
            target_ids = checked_ids(target_ids, "target_ids", vocabularies[1])
            y = model([tf.cast(source_ids, model.inputs[0].dtype),
                       tf.cast(target_ids, model.inputs[1].dtype)], training=False)
            return {"probabilities": to_probs(single_output(y))}

        def ids(name, doc):
            return TensorDoc(name, "int32", [None, None], doc,
                             {"shape": [2, 6], "low": 1, "high": sample_vocab})

        outs_tr = [TensorDoc("token_ids", "int32", [None, None], "decoded target token ids"),
                   TensorDoc("scores", "float32", [None], "log-probability score of each "
                             "decoding (when the decoder returns one)")]
        forward_ep = Endpoint(
            "serving_default", forward,
            [ids("source_ids", "source token ids"),
             ids("target_ids", "target token ids so far (teacher forcing)")],
            [TensorDoc("probabilities", "float32", [None, None, vocab], "next-token probabilities")],
            "Next-token probabilities for every target position (teacher forcing).")
        decoders = [("translate", beam_size, f"Decode a translation (beam_size={beam_size}, "
                                             f"alpha={alpha}, max_length={max_length}).")]
        if beam_size > 1:
            decoders.append(("translate_greedy", 1, f"Greedy decoding (max_length={max_length})."))
        tokenizer, tokenizer_file = _tokenizer(opts.get("tokenizer"))
        suffix = "" if tokenizer is None else "_token_ids"
        eps = [forward_ep]
        for name, beam, doc in decoders:
            fn = translate_function(model, translate_fn, max_length, beam, alpha, vocabularies[0])
            eps.append(Endpoint(name + suffix, fn, [ids("source_ids", "source token ids")],
                                outs_tr, doc))
        if tokenizer is not None:  # strings in, strings out, beside the token-id signatures
            _attach(model, tokenizer, tokenizer_file, vocabularies)
            eps += [_text_endpoint(name, doc, tokenizer, outs_tr, max_length, translate_function(
                model, translate_fn, max_length, beam, alpha)) for name, beam, doc in decoders]
        return eps

    # ---------------------------------------------------------------------------- search
    def default_space(self, hp):
        return {"learning_rate": hp.Choice("learning_rate", [1e-3, 3e-4]),
                "warmup_steps": hp.Choice("warmup_steps", [0, 100]),
                "label_smoothing": hp.Choice("label_smoothing", [0.0, 0.1])}

    def search_data(self, spec, base, *, eval_examples=256, num_train=2048, seed=0):
        src = zdata.reversal_source(max_len=8, vocab=10, num_train=num_train,
                                    num_test=eval_examples, seed=seed,
                                    num_validation=eval_examples)
        v = src.info["vocab_size"]
        return limit_eval(src, eval_examples), dict(vocabulary_size=v,
                                                    target_vocabulary_size=v)

    def quick_examples(self, model, rng, n):
        """Sequence reversal: `[source, target shifted right]` -> target."""
        src = rng.integers(2, 10, size=(n, 6)).astype("int32")
        tgt = np.concatenate([np.ones((n, 1), "int32"), src[:, ::-1]], 1)  # reverse the source
        return [src, tgt[:, :-1]], tgt[:, 1:]

    def tuning_task(self, training):
        return type(self)(label_smoothing=float(training.get("label_smoothing", 0.0) or 0.0))


TASK = Translation
