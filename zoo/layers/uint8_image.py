"""`ToUint8Image`: images in [-1, 1] (a tanh output) to uint8 pixels in 0..255.

Example:
    >>> import numpy as np
    >>> from zoo.layers import ToUint8Image
    >>> ToUint8Image()(np.array([[-1.0, 0.0, 1.0]], "float32")).numpy().tolist()
    [[0, 128, 255]]
"""

from __future__ import annotations

import keras

__all__ = ["ToUint8Image"]


@keras.saving.register_keras_serializable(package="zoo")
class ToUint8Image(keras.layers.Layer):
    """Map `[low, high]` floats to uint8 `round((x - low) / (high - low) * 255)`, clipped.

    The layer a served generator ends with: clients get PNG-ready pixels.

    Args:
        low: the value mapped to 0 (-1 for a tanh output).
        high: the value mapped to 255.
        **kwargs: `keras.layers.Layer` arguments (`name`, ...).

    Example:
        >>> import numpy as np
        >>> ToUint8Image(low=0.0, high=1.0)(np.array([0.5], "float32")).numpy().tolist()
        [128]
    """

    def __init__(self, low=-1.0, high=1.0, **kwargs):
        for arg, value in (("low", low), ("high", high)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"`{arg}` must be a number. Received: {arg}={value!r}")
        if not high > low:
            raise ValueError(
                f"`high` must be greater than `low`. Received: low={low!r}, high={high!r}"
            )
        super().__init__(**kwargs)
        self.low = float(low)
        self.high = float(high)

    def call(self, inputs):
        x = keras.ops.cast(inputs, "float32")
        scale = 255.0 / (self.high - self.low)
        # round half up (0.0 -> 127.5 -> 128), not half to even
        x = keras.ops.floor((x - self.low) * scale + 0.5)
        x = keras.ops.clip(x, 0.0, 255.0)
        return keras.ops.cast(x, "uint8")

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape, dtype="uint8")

    def get_config(self):
        config = super().get_config()
        config.update({"low": self.low, "high": self.high})
        return config
