"""Token sources: the embedded digits as 64 grey-level tokens, TFDS text classification datasets
tokenised by a learned `TextVectorization` vocabulary, and TFDS translation datasets tokenised by
subword encoders (token ids: 0 padding, 1 begin, 2 end, as `zoo.data.problems`).

Example:
    >>> from zoo.data.text import digits_tokens_source
    >>> digits_tokens_source().info["vocab_size"]
    18
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from zoo.data.images import digits_split
from zoo.data.problems import BOS, EOS
from zoo.data.source import array_source
from zoo.data.tfds import tfds_source

__all__ = ["digits_tokens_source", "text_source", "subword_source"]


def digits_tokens_source(seed=0):
    """The embedded digits as 64 tokens each (17 grey levels + 1; 0 is padding), 10 classes;
    the train / validation / test splits of `zoo.data.digits_source`."""
    x_tr, x_va, x_te, y_tr, y_va, y_te = digits_split(seed, validation_fraction=0.15)

    def tok(x):
        return (np.round(x.reshape(len(x), -1) / 255.0 * 16) + 1).astype("int32")

    return array_source("digits_tokens", tok(x_tr), y_tr, tok(x_te), y_te,
                        validation=(tok(x_va), y_va),
                        info={"num_classes": 10, "vocab_size": 18, "input_shape": (64,),
                              "class_names": [str(i) for i in range(10)]})


def text_source(name, vocab_size, max_length, data_dir=None):
    """A TFDS text classification dataset tokenised by a `TextVectorization` vocabulary learned
    from (up to 20,000 examples of) its training split."""
    src = tfds_source(name, data_dir=data_dir)
    texts = src.train(None).take(20_000).map(lambda text, label: text)
    vectorize = tf.keras.layers.TextVectorization(vocab_size, output_sequence_length=max_length)
    vectorize.adapt(texts.batch(512))
    src.preprocess = lambda ex, training: (vectorize(ex[0]), tf.cast(ex[1], tf.int32))
    src.info.update(input_shape=(max_length,), vocab_size=vocab_size)
    return src


def subword_source(name, max_length, target_vocab, data_dir=None):
    """A TFDS translation dataset tokenised with subword encoders learned from its train split."""
    import tensorflow_datasets as tfds

    src = tfds_source(name, data_dir=data_dir)
    corpus = list(src.train(None).take(50_000).as_numpy_iterator())
    build = tfds.deprecated.text.SubwordTextEncoder.build_from_corpus
    enc_src = build((s for s, _ in corpus), target_vocab_size=target_vocab)
    enc_tgt = build((t for _, t in corpus), target_vocab_size=target_vocab)
    src.preprocess = _subword_preprocessor(enc_src, enc_tgt, max_length)
    vocab = max(enc_src.vocab_size, enc_tgt.vocab_size) + EOS
    src.info.update(vocab_size=vocab, max_len=max_length, target_len=max_length + 1,
                    encoders=(enc_src, enc_tgt))
    return src


def _subword_preprocessor(enc_src, enc_tgt, max_length):
    """`fn((source text, target text), training) -> ((source, decoder input), labels)`."""
    shift = EOS  # subword ids start at 1; ours at 3 (0 pad, 1 begin, 2 end)

    def encode(s, t):
        s_ids = [i + shift for i in enc_src.encode(s.numpy().decode())][:max_length]
        t_ids = [i + shift for i in enc_tgt.encode(t.numpy().decode())][:max_length]
        s_arr = np.zeros(max_length, "int32")
        s_arr[: len(s_ids)] = s_ids
        dec_in = np.zeros(max_length + 1, "int32")
        labels = np.zeros(max_length + 1, "int32")
        dec_in[0], dec_in[1: len(t_ids) + 1] = BOS, t_ids
        labels[: len(t_ids)], labels[len(t_ids)] = t_ids, EOS
        return s_arr, dec_in, labels

    def preprocess(ex, training):
        s, d, lab = tf.py_function(encode, ex, (tf.int32, tf.int32, tf.int32))
        s.set_shape([max_length])
        d.set_shape([max_length + 1])
        lab.set_shape([max_length + 1])
        return (s, d), lab

    return preprocess
