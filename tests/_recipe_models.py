"""Small models for tests that exercise a recipe's code path, not its quality.

`small_cnn` stands in where the model does not matter (the TFDS mock path, a temporary registered
model in the CLI test, a quick digits judge); the quality tests train registered models.
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
