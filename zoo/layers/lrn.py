"""Local response normalization across channels (AlexNet, GoogLeNet), in keras.ops only.

Reference:
    Krizhevsky et al. 2012, ImageNet Classification with Deep Convolutional Neural Networks,
    section 3.3; Szegedy et al. 2014, Going Deeper with Convolutions (arXiv:1409.4842), Table 1.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["LocalResponseNormalization"]


@keras.saving.register_keras_serializable(package="zoo")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalization over the last (channel) axis.

    Computes, with the parameters and defaults of `tf.nn.local_response_normalization`:

        sqr_sum[..., d] = sum(x[..., d - depth_radius : d + depth_radius + 1] ** 2)
        y = x / (bias + alpha * sqr_sum) ** beta

    Caffe's LRN (`local_size=n, alpha=a, beta=b, k=k`), used by the GoogLeNet reference model,
    is `depth_radius=(n - 1) // 2, bias=k, alpha=a / n, beta=b` here: GoogLeNet's `n=5,
    a=1e-4, b=0.75` becomes `depth_radius=2, alpha=2e-5, beta=0.75`. The layer has no weights.

    Args:
        depth_radius: half-width of the channel window (a non-negative integer).
        bias: the additive constant (`k` in the AlexNet paper).
        alpha: scale of the sum of squares.
        beta: the exponent.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Reference:
        Krizhevsky et al. 2012, ImageNet Classification with Deep Convolutional Neural Networks.

    Example:
        >>> import numpy as np
        >>> from zoo.layers import LocalResponseNormalization
        >>> lrn = LocalResponseNormalization(depth_radius=2, alpha=2e-5, beta=0.75)
        >>> tuple(lrn(np.ones((1, 4, 4, 8), "float32")).shape)
        (1, 4, 4, 8)
    """

    def __init__(self, depth_radius=5, bias=1.0, alpha=1.0, beta=0.5, **kwargs):
        super().__init__(**kwargs)
        if isinstance(depth_radius, bool) or not isinstance(depth_radius, int) or depth_radius < 0:
            raise ValueError(
                "`depth_radius` must be a non-negative integer. "
                f"Received: depth_radius={depth_radius!r}"
            )
        for arg, value in (("bias", bias), ("alpha", alpha), ("beta", beta)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"`{arg}` must be a number. Received: {arg}={value!r}")
        if bias <= 0 and alpha <= 0:
            raise ValueError(
                "`bias` or `alpha` must be positive so that the denominator is. "
                f"Received: bias={bias!r}, alpha={alpha!r}"
            )
        self.depth_radius = depth_radius
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.supports_masking = True

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(
                "LocalResponseNormalization needs a known channel (last) dimension. "
                f"Received: input_shape={input_shape}"
            )
        self._channels = int(input_shape[-1])
        super().build(input_shape)

    def call(self, inputs):
        r = self.depth_radius
        squares = ops.square(inputs)
        if r:
            rank = len(inputs.shape)
            padded = ops.pad(squares, [[0, 0]] * (rank - 1) + [[r, r]])
            c = self._channels
            sqr_sum = padded[..., 0:c]
            for i in range(1, 2 * r + 1):
                sqr_sum = sqr_sum + padded[..., i : i + c]
        else:
            sqr_sum = squares
        return inputs / ops.power(self.bias + self.alpha * sqr_sum, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {"depth_radius": self.depth_radius, "bias": self.bias, "alpha": self.alpha,
             "beta": self.beta}
        )
        return config
