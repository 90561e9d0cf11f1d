"""Gated skip connections: highway layers and the gated shortcuts of He et al. 2016.

Three ways of gating a skip connection, with a learned gate `T(x) = sigmoid(x W + b)` (a linear
map over the channel axis: a dense layer on vectors, a 1x1 convolution on feature maps):

    ============== ===================================== ============================== =========
    variant        output                                from                           gate bias
    ============== ===================================== ============================== =========
    highway        T(x) * F(x) + (1 - T(x)) * x          Srivastava et al. 2015         -1 .. -3
    exclusive      T(x) * F(x) + (1 - T(x)) * x          He et al. 2016, Table 1        -6
    shortcut_only  F(x) + (1 - T(x)) * x                 He et al. 2016, Table 1        -6
    ============== ===================================== ============================== =========

Highway and exclusive gating compute the same formula; they are two names because the papers
differ in where they use it (Srivastava et al.: fully connected highway layers; He et al.: the
shortcut of a residual block, with a 1x1 convolution as gate) and in the gate bias they start from.
A negative bias starts the gate nearly closed, so that at initialisation every block mostly
carries its input through and gradients reach the first layers. Srivastava et al. suggest -1, -2
and -3 for depths of about 10, 20 and 30 (`default_gate_bias("highway", depth)`); He et al. report
that exclusive gating only trained with a bias of -6 and that shortcut-only gating was best at -6.

References:
    Srivastava, Greff, Schmidhuber 2015, Training Very Deep Networks (arXiv:1507.06228) and
    Highway Networks (arXiv:1505.00387).
    He, Zhang, Ren, Sun 2016, Identity Mappings in Deep Residual Networks (arXiv:1603.05027),
    section 3.1 and Table 1.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["GATING_VARIANTS", "default_gate_bias", "GatedSkip", "HighwayDense"]

GATING_VARIANTS = ("highway", "exclusive", "shortcut_only")


def _check_variant(variant):
    if variant not in GATING_VARIANTS:
        raise ValueError(
            f"`variant` must be one of {GATING_VARIANTS}. Received: variant={variant!r}"
        )


def default_gate_bias(variant, depth=None):
    """The initial gate bias each paper uses for a gating variant.

    Args:
        variant: one of `GATING_VARIANTS`.
        depth: number of gated layers/blocks of the network (highway only). Srivastava et al.
            2015 use -1, -2, -3 for depths around 10, 20, 30; deeper networks get -3. Without a
            depth, highway gets -1.

    Returns:
        A float: -1, -2 or -3 for highway, -6 for exclusive and shortcut-only gating (He et al.
        2016, Table 1).

    Example:
        >>> from zoo.layers.gated_skip import default_gate_bias
        >>> default_gate_bias("highway", depth=20), default_gate_bias("exclusive")
        (-2.0, -6.0)
    """
    _check_variant(variant)
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise ValueError(f"`depth` must be a positive integer or None. Received: depth={depth!r}")
    if variant == "highway":
        if depth is None:
            return -1.0
        return -float(min(3, max(1, round(depth / 10))))
    return -6.0


def check_gating(variant, gate_bias):
    """ValueError unless `variant` is one of `GATING_VARIANTS` and `gate_bias` a number or None."""
    _check_variant(variant)
    if gate_bias is not None and (isinstance(gate_bias, bool) or not isinstance(gate_bias, (int, float))):
        raise ValueError(
            f"`gate_bias` must be a number or None (the variant's default). Received: gate_bias={gate_bias!r}"
        )


def _combine(variant, gate, transformed, carried):
    if variant == "shortcut_only":
        return transformed + (1.0 - gate) * carried
    # highway and exclusive: T * F + (1 - T) * x, written as x + T * (F - x) (one product less).
    return carried + gate * (transformed - carried)


class _GatedLayer(keras.layers.Layer):
    """Shared arguments of the gated layers: variant, gate bias, gate kernel initializer/regularizer."""

    def __init__(self, variant="highway", gate_bias=None, kernel_initializer="glorot_uniform",
                 kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        check_gating(variant, gate_bias)
        self.variant = variant
        self.gate_bias = gate_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    @property
    def initial_gate_bias(self):
        """The gate bias the layer starts from (`gate_bias`, or the variant's default)."""
        return float(default_gate_bias(self.variant) if self.gate_bias is None else self.gate_bias)

    def _gate_bias_initializer(self):
        return keras.initializers.Constant(self.initial_gate_bias)

    @staticmethod
    def _positions(shape):
        positions = 1
        for d in shape[:-1]:
            positions *= int(d)
        return positions

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "variant": self.variant,
                "gate_bias": self.gate_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="zoo")
class GatedSkip(_GatedLayer):
    """A gated skip connection: combines a shortcut `x` with a residual branch `F(x)`.

    Called on `[x, fx]` (same shapes, channels last); the gate `T = sigmoid(x W + b)` is computed
    from `x` with a linear map over the last axis (a 1x1 convolution on feature maps), `W` of
    shape `(channels, channels)` and `b` initialised to `gate_bias`. Returns
    `T * fx + (1 - T) * x` (`"highway"`, `"exclusive"`) or `fx + (1 - T) * x`
    (`"shortcut_only"`).

    Args:
        variant: `"highway"`, `"exclusive"` or `"shortcut_only"`.
        gate_bias: initial gate bias; None takes the variant's default (`default_gate_bias`):
            -1 for highway (pass -2 or -3 for depths of about 20 or 30), -6 for the others.
        kernel_initializer: initializer of the gate's kernel.
        kernel_regularizer: optional regularizer of the gate's kernel.
        **kwargs: base `keras.layers.Layer` arguments.

    Reference:
        He et al. 2016, Identity Mappings in Deep Residual Networks, Table 1 and Fig. 2;
        Srivastava et al. 2015, Training Very Deep Networks.

    Example:
        >>> import numpy as np
        >>> from zoo.layers import GatedSkip
        >>> x = np.ones((2, 8, 8, 16), "float32")
        >>> tuple(GatedSkip("shortcut_only")([x, 2 * x]).shape)
        (2, 8, 8, 16)
    """

    def __init__(self, variant="highway", gate_bias=None, kernel_initializer="glorot_uniform",
                 kernel_regularizer=None, **kwargs):
        super().__init__(variant, gate_bias, kernel_initializer, kernel_regularizer, **kwargs)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2 or not isinstance(
            input_shape[0], (list, tuple)
        ):
            raise ValueError(
                f"GatedSkip is called on [x, fx]. Received: input_shape={input_shape}"
            )
        x_shape, f_shape = (tuple(s) for s in input_shape)
        if len(x_shape) != len(f_shape) or any(
            a is not None and b is not None and a != b for a, b in zip(x_shape[1:], f_shape[1:])
        ):
            raise ValueError(
                "GatedSkip needs the shortcut and the residual branch to have the same shape. "
                f"Received: x.shape={x_shape}, fx.shape={f_shape}"
            )
        channels = x_shape[-1]
        if channels is None:
            raise ValueError(f"GatedSkip needs a known last dimension. Received: x.shape={x_shape}")
        self.kernel = self.add_weight(
            name="kernel", shape=(channels, channels), initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.bias = self.add_weight(name="bias", shape=(channels,),
                                    initializer=self._gate_bias_initializer())
        super().build(input_shape)

    def gate(self, x):
        """The gate `T(x) = sigmoid(x W + b)`."""
        return ops.sigmoid(ops.add(ops.matmul(x, self.kernel), self.bias))

    def call(self, inputs):
        x, fx = inputs
        return _combine(self.variant, self.gate(x), fx, x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def compute_macs(self, input_shapes, output_shapes):
        """Multiply-adds of the gate (the linear map over channels), for `zoo.core.macs`."""
        x = input_shapes[0]
        return self._positions(x) * int(x[-1]) * int(x[-1])


@keras.saving.register_keras_serializable(package="zoo")
class HighwayDense(_GatedLayer):
    """A fully connected highway layer: `y = H(x) * T(x) + x * (1 - T(x))`.

    `H(x) = activation(x W_H + b_H)` and `T(x) = sigmoid(x W_T + b_T)`, `b_T` initialised to
    `gate_bias`. The input's last dimension must equal `units` (use a plain `Dense` first to change
    the width, as Srivastava et al. do). `variant="shortcut_only"` gives `H(x) + (1 - T(x)) * x`.

    Args:
        units: width of the layer (= its input width).
        activation: activation of `H` (Srivastava et al. use ReLU or tanh).
        variant: one of `GATING_VARIANTS` (`"exclusive"` computes the same as `"highway"`).
        gate_bias: initial `b_T`; None takes `default_gate_bias(variant)` (-1 for highway; a
            network builder passes the depth-dependent value).
        kernel_initializer: initializer of `W_H` and `W_T`.
        kernel_regularizer: optional regularizer of `W_H` and `W_T`.
        **kwargs: base `keras.layers.Layer` arguments.

    Reference:
        Srivastava, Greff, Schmidhuber 2015, Training Very Deep Networks, equation (3).

    Example:
        >>> import numpy as np
        >>> from zoo.layers import HighwayDense
        >>> tuple(HighwayDense(50, gate_bias=-2.0)(np.ones((4, 50), "float32")).shape)
        (4, 50)
    """

    def __init__(self, units, activation="relu", variant="highway", gate_bias=None,
                 kernel_initializer="glorot_uniform", kernel_regularizer=None, **kwargs):
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"`units` must be a positive integer. Received: units={units!r}")
        super().__init__(variant, gate_bias, kernel_initializer, kernel_regularizer, **kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        if input_shape[-1] != self.units:
            raise ValueError(
                "HighwayDense needs an input as wide as `units` (carry needs equal shapes). "
                f"Received: units={self.units}, input_shape={tuple(input_shape)}"
            )
        n = self.units
        self.kernel = self.add_weight(name="kernel", shape=(n, n), initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.bias = self.add_weight(name="bias", shape=(n,), initializer="zeros")
        self.gate_kernel = self.add_weight(name="gate_kernel", shape=(n, n),
                                           initializer=self.kernel_initializer,
                                           regularizer=self.kernel_regularizer)
        self.gate_bias_weight = self.add_weight(name="gate_bias", shape=(n,),
                                                initializer=self._gate_bias_initializer())
        super().build(input_shape)

    def call(self, inputs):
        h = self.activation(ops.add(ops.matmul(inputs, self.kernel), self.bias))
        t = ops.sigmoid(ops.add(ops.matmul(inputs, self.gate_kernel), self.gate_bias_weight))
        return _combine(self.variant, t, h, inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_macs(self, input_shapes, output_shapes):
        """Multiply-adds of `H` and `T`, for `zoo.core.macs`."""
        return 2 * self._positions(input_shapes[0]) * self.units * self.units

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units,
                       "activation": keras.activations.serialize(self.activation)})
        return config
