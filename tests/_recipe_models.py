"""Small stand-in models for the recipe quality tests until registered builders are used.

Each test takes a model name: a registered name goes through the recipe's `zoo.create_model`
path; one of the names here builds the stand-in instead.
"""

import keras
from keras import layers


def small_cnn(input_shape, classes):
    def build():
        return keras.Sequential([
            keras.Input(input_shape),
            layers.Conv2D(32, 3, padding="same"), layers.BatchNormalization(), layers.ReLU(),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, padding="same", activation="relu"), layers.MaxPooling2D(),
            layers.Flatten(), layers.Dropout(0.3),
            layers.Dense(classes, activation="softmax"),
        ], name="small_cnn")
    return build


def small_lstm(input_shape, units=64):
    def build():
        return keras.Sequential([keras.Input(input_shape), layers.LSTM(units), layers.Dense(1)],
                                name="small_lstm")
    return build


def tiny_transformer(vocab, src_len, tgt_len, d=64, heads=4, ff=128, num_layers=2):
    """Post-norm encoder-decoder with learned positions and a causal decoder."""

    def embed(ids, length, name):
        tok = layers.Embedding(vocab, d, name=f"{name}_tok")(ids)
        pos = layers.Embedding(length, d, name=f"{name}_pos")(keras.ops.arange(length))
        return tok + pos

    def build():
        src = keras.Input((src_len,), dtype="int32", name="source")
        dec = keras.Input((tgt_len,), dtype="int32", name="decoder_input")
        x = embed(src, src_len, "enc")
        for i in range(num_layers):
            x = layers.LayerNormalization()(x + layers.MultiHeadAttention(heads, d // heads)(x, x))
            x = layers.LayerNormalization()(x + layers.Dense(d)(layers.Dense(ff, "relu")(x)))
        y = embed(dec, tgt_len, "dec")
        for i in range(num_layers):
            y = layers.LayerNormalization()(
                y + layers.MultiHeadAttention(heads, d // heads)(y, y, use_causal_mask=True))
            y = layers.LayerNormalization()(y + layers.MultiHeadAttention(heads, d // heads)(y, x))
            y = layers.LayerNormalization()(y + layers.Dense(d)(layers.Dense(ff, "relu")(y)))
        return keras.Model([src, dec], layers.Dense(vocab)(y), name="tiny_transformer")
    return build


def tiny_gan(image_shape=(16, 16, 1), latent_dim=32, width=64):
    """A small DCGAN-style pair (transposed convolutions, batch norm, LeakyReLU discriminator)."""
    import sys
    import os

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from recipes.dcgan import GANPair

    init = keras.initializers.RandomNormal(0.0, 0.02)
    s = image_shape[0] // 4

    def build():
        g = keras.Sequential([
            keras.Input((latent_dim,)),
            layers.Dense(s * s * 2 * width, use_bias=False, kernel_initializer=init),
            layers.BatchNormalization(), layers.ReLU(), layers.Reshape((s, s, 2 * width)),
            layers.Conv2DTranspose(width, 4, 2, "same", use_bias=False, kernel_initializer=init),
            layers.BatchNormalization(), layers.ReLU(),
            layers.Conv2DTranspose(image_shape[-1], 4, 2, "same", activation="tanh",
                                   kernel_initializer=init),
        ], name="generator")
        d = keras.Sequential([
            keras.Input(image_shape),
            layers.Conv2D(width, 4, 2, "same", kernel_initializer=init), layers.LeakyReLU(0.2),
            layers.Conv2D(2 * width, 4, 2, "same", use_bias=False, kernel_initializer=init),
            layers.BatchNormalization(), layers.LeakyReLU(0.2),
            layers.Flatten(), layers.Dense(1, kernel_initializer=init),
        ], name="discriminator")
        return GANPair(g, d)
    return build
