"""Transformer: sequence reversal offline, translation on TFDS with a subword tokenizer.

    zoo train transformer_base --dataset reversal --set num_layers=2 --set d_model=128   # embedded
    zoo train transformer_base --dataset ted_hrlr_translate/pt_to_en --target-vocab 8192 \\
        --epochs 20 --batch-size 256 --strategy mirrored --precision mixed_bfloat16

The model takes `[source_ids, decoder_input_ids]` and returns logits at every target position
(teacher forcing); the loss ignores padding. After training, greedy decoding on the held-out
split gives the exact-match rate (reversal) reported in the summary.
"""

import argparse
import sys

import numpy as np
import tensorflow as tf

from zoo import data, train


def build_parser():
    p = argparse.ArgumentParser(prog="zoo train MODEL", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a registered encoder-decoder (`zoo list --family transformer`)")
    p.add_argument("--dataset", default="reversal",
                   help="reversal (embedded) or a TFDS translation dataset "
                        "(ted_hrlr_translate/pt_to_en, wmt14_translate/de-en, ...)")
    p.add_argument("--max-length", type=int, default=20, help="tokens per sequence")
    p.add_argument("--vocab", type=int, default=20, help="reversal: symbols")
    p.add_argument("--num-train", type=int, default=20_000, help="reversal: examples")
    p.add_argument("--target-vocab", type=int, default=2**13, help="subword vocabulary size")
    p.add_argument("--label-smoothing", type=float, default=0.0,
                   help="cross-entropy label smoothing")
    p.add_argument("--data-dir", default=None, help="TFDS data_dir")
    p.add_argument("--decode-examples", type=int, default=1000,
                   help="held-out examples decoded greedily at the end")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="builder argument")
    return train.add_train_arguments(p, epochs=10, batch_size=64, learning_rate=1e-3,
                                     schedule="cosine", warmup_steps=200)


def subword_source(name, max_length, target_vocab, data_dir=None):
    """A TFDS translation dataset tokenised with subword encoders learned from its train split."""
    import tensorflow_datasets as tfds

    src = data.tfds_source(name, data_dir=data_dir)
    corpus = list(src.train(None).take(50_000).as_numpy_iterator())
    build = tfds.deprecated.text.SubwordTextEncoder.build_from_corpus
    enc_src = build((s for s, _ in corpus), target_vocab_size=target_vocab)
    enc_tgt = build((t for _, t in corpus), target_vocab_size=target_vocab)
    shift = data.EOS  # subword ids start at 1; ours at 3 (0 pad, 1 begin, 2 end)

    def encode(s, t):
        s_ids = [i + shift for i in enc_src.encode(s.numpy().decode())][:max_length]
        t_ids = [i + shift for i in enc_tgt.encode(t.numpy().decode())][:max_length]
        s_arr = np.zeros(max_length, "int32")
        s_arr[: len(s_ids)] = s_ids
        dec_in = np.zeros(max_length + 1, "int32")
        labels = np.zeros(max_length + 1, "int32")
        dec_in[0], dec_in[1 : len(t_ids) + 1] = data.BOS, t_ids
        labels[: len(t_ids)], labels[len(t_ids)] = t_ids, data.EOS
        return s_arr, dec_in, labels

    def preprocess(ex, training):
        s, d, l = tf.py_function(encode, ex, (tf.int32, tf.int32, tf.int32))
        s.set_shape([max_length]), d.set_shape([max_length + 1]), l.set_shape([max_length + 1])
        return (s, d), l

    src.preprocess = preprocess
    vocab = max(enc_src.vocab_size, enc_tgt.vocab_size) + shift
    src.info.update(vocab_size=vocab, max_len=max_length, target_len=max_length + 1,
                    encoders=(enc_src, enc_tgt))
    return src


def greedy_decode(model, source, target_len, batch_size=250):
    """Greedy decoding with any teacher-forcing model `model([source, decoder_input])`."""
    step = tf.function(lambda s, d: tf.argmax(model([s, d], training=False), -1,
                                              output_type=tf.int32))
    out = []
    for i in range(0, len(source), batch_size):
        src = tf.constant(source[i : i + batch_size])
        dec = np.zeros((len(src), target_len), "int32")
        dec[:, 0] = data.BOS
        pred = np.zeros((len(src), target_len), "int32")
        for t in range(target_len):
            pred[:, t] = step(src, tf.constant(dec)).numpy()[:, t]
            if t + 1 < target_len:
                dec[:, t + 1] = pred[:, t]
        out.append(pred)
    return np.concatenate(out)


def exact_match(pred, labels):
    """Share of sequences whose tokens up to and including EOS are all right."""
    mask = labels != data.PAD
    return float(np.mean(np.all((pred == labels) | ~mask, axis=1)))


def run(args, model_fn=None):
    if args.dataset == "reversal":
        src = data.reversal_source(args.max_length, args.vocab, num_train=args.num_train)
    else:
        src = subword_source(args.dataset, args.max_length, args.target_vocab, args.data_dir)
    info = src.info
    model_fn = model_fn or train.model_builder(
        args.model, args.set, vocab_size=info["vocab_size"],
        source_vocab_size=info["vocab_size"], target_vocab_size=info["vocab_size"],
        max_length=info["target_len"])
    task = train.Seq2SeqTask(label_smoothing=args.label_smoothing)
    # serve greedy and beam-search translation (zoo.decoding) of at most target_len - 1 tokens:
    # with BOS they fit the model's `max_length` positions (zoo.export's default is 32)
    task.export_options = {"translate_fn": "zoo.decoding:translate",
                           "max_length": info["target_len"] - 1}
    trainer = train.run_recipe(args, task, src, model_fn)
    if args.decode_examples and src.eval is not None:
        (source, _), labels = next(iter(src.eval().batch(args.decode_examples)))
        if src.preprocess is not None:  # translation: tokenise the raw pairs first
            ex = list(src.eval().take(args.decode_examples).map(
                lambda s, t: src.preprocess((s, t), False)).batch(args.decode_examples))[0]
            (source, _), labels = ex
        pred = greedy_decode(trainer.model, source.numpy(), info["target_len"])
        trainer.update_summary(greedy_exact_match=exact_match(pred, labels.numpy()))
    return trainer.summary


def main(argv=None):
    summary = run(build_parser().parse_args(argv))
    print(f"{summary['name']} on {summary['dataset']}: held-out {summary['final_eval']}, greedy "
          f"exact match {summary.get('greedy_exact_match')}, exported to "
          f"{summary.get('export_path')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
