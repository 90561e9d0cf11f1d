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
    """A TFDS translation dataset tokenised by one SentencePiece vocabulary of `target_vocab`
    pieces learned from (up to 50,000 pairs of) its train split: the tokenisation of a file of
    pairs (`zoo.data.pairs`), in-graph; `info["tokenizer"]` holds the `SubwordTokenizer`."""
    from zoo.data.pairs import tokenized_pairs
    from zoo.data.subword import SubwordTokenizer

    src = tfds_source(name, data_dir=data_dir)
    corpus = list(src.train(None).take(50_000).as_numpy_iterator())
    tokenizer = SubwordTokenizer.learn([s for s, _ in corpus] + [t for _, t in corpus],
                                       target_vocab)
    src.preprocess = tokenized_pairs(tokenizer, max_length)
    src.info.update(vocab_size=tokenizer.vocab_size, max_len=max_length,
                    target_len=max_length + 1, tokenizer=tokenizer)
    return src
