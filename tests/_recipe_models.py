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
