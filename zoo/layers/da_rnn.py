"""The two attention stages of the dual-stage attention RNN (DA-RNN) of Qin et al. 2017.

* `InputAttentionEncoder` (section 3.1, eq. 8-11): an LSTM encoder of hidden size m whose input
  at step t is the driving series re-weighted by attention,
  `x~_t = (alpha_t^1 x_t^1, ..., alpha_t^n x_t^n)`, with
  `e_t^k = v_e^T tanh(W_e [h_{t-1}; s_{t-1}] + U_e x^k)` (x^k: the k-th driving series over the
  whole window of T steps) and `alpha_t = softmax_k(e_t)`.
* `TemporalAttentionDecoder` (section 3.2, eq. 12-16 and 22): an LSTM decoder of hidden size p
  attending over all encoder hidden states,
  `l_t^i = v_d^T tanh(W_d [d_{t-1}; s'_{t-1}] + U_d h_i)`, `beta_t = softmax_i(l_t)`,
  `c_t = sum_i beta_t^i h_i`; its input is the target's own history combined with the context,
  `y~_{t-1} = w~^T [y_{t-1}; c_{t-1}] + b~`; the forecast is
  `y^_T = v_y^T (W_y [d_T; c_T] + b_w) + b_v`.
* `Standardize`: `(x - mean) / std` with fixed per-series statistics (or its inverse), so that a
  model carries the standardisation fitted on its training data and serves raw values.

The LSTMs are the paper's eq. 3-7 (no peepholes), gates in Keras' order (i, f, c, o) with one
bias per gate. Both stages loop over the window in Python with `keras.ops` (the window T is fixed
and short: 10 in the paper), so they run on every backend.

Reference:
    Qin, Song, Chen, Cheng, Jiang, Cottrell 2017, A Dual-Stage Attention-Based Recurrent Neural
    Network for Time Series Prediction (IJCAI 2017, arXiv:1704.02971).
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["InputAttentionEncoder", "TemporalAttentionDecoder", "Standardize"]


def _check_units(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")


def _lstm_weights(layer, input_dim, units):
    """Kernel, recurrent kernel and bias of one LSTM (eq. 3-7), forget-gate bias at 1."""
    kernel = layer.add_weight(shape=(input_dim, 4 * units), initializer="glorot_uniform",
                              name="kernel")
    recurrent = layer.add_weight(shape=(units, 4 * units), initializer="orthogonal",
                                 name="recurrent_kernel")

    def bias_init(shape, dtype=None):
        return ops.concatenate([ops.zeros((units,), dtype), ops.ones((units,), dtype),
                                ops.zeros((2 * units,), dtype)])

    bias = layer.add_weight(shape=(4 * units,), initializer=bias_init, name="bias")
    return kernel, recurrent, bias


def _lstm_step(x, h, c, kernel, recurrent, bias):
    z = ops.matmul(x, kernel) + ops.matmul(h, recurrent) + bias
    i, f, g, o = ops.split(z, 4, axis=-1)
    c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
    h = ops.sigmoid(o) * ops.tanh(c)
    return h, c


@keras.saving.register_keras_serializable(package="zoo")
class InputAttentionEncoder(keras.layers.Layer):
    """The input attention encoder of DA-RNN (Qin et al. 2017, eq. 8-11).

    Args:
        units: hidden (and cell) state size m.
        input_attention: False drops the attention (the encoder reads `x_t` itself): the plain
            LSTM encoder of the paper's ablations.

    Call arguments:
        inputs: driving series `(batch, T, n)`, T known.

    Returns:
        `[hidden_states, alphas]`: the encoder states `(batch, T, m)` and the input attention
        weights `(batch, T, n)` (each row sums to 1; uniform `1/n` without attention).

    Example:
        >>> import numpy as np
        >>> from zoo.layers.da_rnn import InputAttentionEncoder
        >>> h, alpha = InputAttentionEncoder(8)(np.zeros((2, 10, 5), "float32"))
        >>> tuple(h.shape), tuple(alpha.shape)
        ((2, 10, 8), (2, 10, 5))
    """

    def __init__(self, units, input_attention=True, **kwargs):
        super().__init__(**kwargs)
        _check_units("units", units)
        self.units = units
        self.input_attention = bool(input_attention)

    def build(self, input_shape):
        steps, n = input_shape[1], input_shape[2]
        if steps is None or n is None:
            raise ValueError("InputAttentionEncoder needs a known window and number of driving "
                             f"series. Received: input_shape={input_shape}")
        m = self.units
        self.kernel, self.recurrent_kernel, self.bias = _lstm_weights(self, n, m)
        if self.input_attention:
            self.w_e = self.add_weight(shape=(2 * m, steps), initializer="glorot_uniform",
                                       name="w_e")
            self.u_e = self.add_weight(shape=(steps, steps), initializer="glorot_uniform",
                                       name="u_e")
            self.v_e = self.add_weight(shape=(steps,), initializer="glorot_uniform", name="v_e")

    def call(self, inputs):
        steps, n = inputs.shape[1], inputs.shape[2]
        batch = ops.shape(inputs)[0]
        h = ops.zeros((batch, self.units), inputs.dtype)
        c = ops.zeros((batch, self.units), inputs.dtype)
        if self.input_attention:
            # U_e x^k for every series k, once per window: (batch, n, T)
            ux = ops.matmul(ops.transpose(inputs, (0, 2, 1)), ops.transpose(self.u_e))
        states, alphas = [], []
        for t in range(steps):
            x_t = inputs[:, t, :]
            if self.input_attention:
                q = ops.matmul(ops.concatenate([h, c], axis=-1), self.w_e)  # (batch, T)
                e = ops.matmul(ops.tanh(ux + q[:, None, :]), self.v_e[:, None])[..., 0]
                alpha = ops.softmax(e, axis=-1)  # (batch, n), eq. 9
                x_t = alpha * x_t  # eq. 10
            else:
                alpha = ops.ones_like(x_t) / n
            h, c = _lstm_step(x_t, h, c, self.kernel, self.recurrent_kernel, self.bias)
            states.append(h)
            alphas.append(alpha)
        return [ops.stack(states, axis=1), ops.stack(alphas, axis=1)]

    def compute_output_shape(self, input_shape):
        return [(input_shape[0], input_shape[1], self.units), tuple(input_shape)]

    def compute_macs(self, input_shapes, output_shapes):
        """Multiply-adds per window: the LSTM's `4m(n + m)` per step; with attention `U_e x^k`
        once (`n T^2`) and per step `W_e [h; s]` (`2m T`) and `v_e` (`n T`)."""
        batch, steps, n = input_shapes[0]
        m = self.units
        macs = steps * 4 * m * (n + m)
        if self.input_attention:
            macs += n * steps * steps + steps * (2 * m * steps + n * steps)
        return batch * macs

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "input_attention": self.input_attention}


@keras.saving.register_keras_serializable(package="zoo")
class TemporalAttentionDecoder(keras.layers.Layer):
    """The temporal attention decoder and output of DA-RNN (Qin et al. 2017, eq. 12-16, 22).

    Args:
        units: decoder hidden (and cell) state size p.
        horizon: number of future values forecast (1 in the paper: `y^_T`).
        temporal_attention: False drops the attention: the context is then the last encoder
            state `h_T` at every step (a plain LSTM encoder-decoder).

    Call arguments:
        inputs: `[hidden_states, history]`: encoder states `(batch, T, m)` and the target's
            history `y_1..y_{T-1}` `(batch, T-1)`.

    Returns:
        `[forecast, betas]`: `(batch, horizon)` and the temporal attention weights of each
        decoder step `(batch, T, T)` (the last row is the attention of the forecast, eq. 22).

    Example:
        >>> import numpy as np
        >>> from zoo.layers.da_rnn import TemporalAttentionDecoder
        >>> y, beta = TemporalAttentionDecoder(8)([np.zeros((2, 10, 6), "float32"),
        ...                                        np.zeros((2, 9), "float32")])
        >>> tuple(y.shape), tuple(beta.shape)
        ((2, 1), (2, 10, 10))
    """

    def __init__(self, units, horizon=1, temporal_attention=True, **kwargs):
        super().__init__(**kwargs)
        _check_units("units", units)
        _check_units("horizon", horizon)
        self.units = units
        self.horizon = horizon
        self.temporal_attention = bool(temporal_attention)

    def build(self, input_shape):
        states_shape, history_shape = input_shape
        steps, m = states_shape[1], states_shape[2]
        if steps is None or m is None or history_shape[1] != steps - 1:
            raise ValueError("TemporalAttentionDecoder needs encoder states (batch, T, m) and a "
                             f"history (batch, T-1). Received: input_shape={input_shape}")
        p = self.units
        add = self.add_weight
        self.kernel, self.recurrent_kernel, self.bias = _lstm_weights(self, 1, p)
        if self.temporal_attention:
            self.w_d = add(shape=(2 * p, m), initializer="glorot_uniform", name="w_d")
            self.u_d = add(shape=(m, m), initializer="glorot_uniform", name="u_d")
            self.v_d = add(shape=(m,), initializer="glorot_uniform", name="v_d")
        self.w_tilde = add(shape=(m + 1, 1), initializer="glorot_uniform", name="w_tilde")
        self.b_tilde = add(shape=(1,), initializer="zeros", name="b_tilde")
        self.w_y = add(shape=(p + m, p), initializer="glorot_uniform", name="w_y")
        self.b_w = add(shape=(p,), initializer="zeros", name="b_w")
        self.v_y = add(shape=(p, self.horizon), initializer="glorot_uniform", name="v_y")
        self.b_v = add(shape=(self.horizon,), initializer="zeros", name="b_v")

    def _context(self, states, uh, d, s):
        steps = states.shape[1]
        if not self.temporal_attention:
            beta = ops.one_hot(ops.full((ops.shape(states)[0],), steps - 1, "int32"), steps,
                               dtype=states.dtype)
            return states[:, -1, :], beta
        q = ops.matmul(ops.concatenate([d, s], axis=-1), self.w_d)  # (batch, m)
        l_ = ops.matmul(ops.tanh(uh + q[:, None, :]), self.v_d[:, None])[..., 0]  # eq. 12
        beta = ops.softmax(l_, axis=-1)  # eq. 13
        return ops.sum(beta[..., None] * states, axis=1), beta  # eq. 14

    def call(self, inputs):
        states, history = inputs
        steps = states.shape[1]
        batch = ops.shape(states)[0]
        d = ops.zeros((batch, self.units), states.dtype)
        s = ops.zeros((batch, self.units), states.dtype)
        uh = ops.matmul(states, self.u_d) if self.temporal_attention else None
        betas = []
        for t in range(steps - 1):
            context, beta = self._context(states, uh, d, s)
            betas.append(beta)
            y_in = ops.concatenate([history[:, t:t + 1], context], axis=-1)
            y_tilde = ops.matmul(y_in, self.w_tilde) + self.b_tilde  # eq. 15
            d, s = _lstm_step(y_tilde, d, s, self.kernel, self.recurrent_kernel, self.bias)
        context, beta = self._context(states, uh, d, s)  # c_T, from d_{T-1}, s'_{T-1}
        betas.append(beta)
        hidden = ops.matmul(ops.concatenate([d, context], axis=-1), self.w_y) + self.b_w
        forecast = ops.matmul(hidden, self.v_y) + self.b_v  # eq. 22
        return [forecast, ops.stack(betas, axis=1)]

    def compute_macs(self, input_shapes, output_shapes):
        """Multiply-adds per window: `T - 1` LSTM steps (`4p(1 + p)`) and inputs `w~` (`m + 1`),
        the output (`p(p + m) + p h`); with attention `U_d h_i` once (`T m^2`) and, T times,
        `W_d [d; s']` (`2p m`), `v_d` (`T m`) and the context (`T m`)."""
        batch, steps, m = input_shapes[0]
        p, h = self.units, self.horizon
        macs = (steps - 1) * (4 * p * (1 + p) + m + 1) + p * (p + m) + p * h
        if self.temporal_attention:
            macs += steps * m * m + steps * (2 * p * m + 2 * steps * m)
        return batch * macs

    def compute_output_shape(self, input_shape):
        states_shape = input_shape[0]
        steps = states_shape[1]
        return [(states_shape[0], self.horizon), (states_shape[0], steps, steps)]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "horizon": self.horizon,
                "temporal_attention": self.temporal_attention}


@keras.saving.register_keras_serializable(package="zoo")
class Standardize(keras.layers.Layer):
    """`(x - mean) / std` over the last axis with fixed statistics (`invert=True`: `x * std +
    mean`), stored in the config: a model that carries the standardisation fitted on its
    training split takes and returns values in the data's own units.

    Args:
        mean: a float or a list of floats (one per entry of the last axis).
        std: the same, all positive.
        invert: undo the standardisation instead.

    Example:
        >>> import numpy as np
        >>> from zoo.layers.da_rnn import Standardize
        >>> Standardize(mean=10.0, std=2.0)(np.array([[14.0]], "float32")).numpy().tolist()
        [[2.0]]
    """

    def __init__(self, mean=0.0, std=1.0, invert=False, **kwargs):
        super().__init__(**kwargs)
        mean = [float(v) for v in mean] if isinstance(mean, (list, tuple)) else float(mean)
        std = [float(v) for v in std] if isinstance(std, (list, tuple)) else float(std)
        if min(std if isinstance(std, list) else [std]) <= 0:
            raise ValueError(f"`std` must be positive. Received: std={std!r}")
        self.mean, self.std, self.invert = mean, std, bool(invert)

    def call(self, inputs):
        mean = ops.convert_to_tensor(self.mean, inputs.dtype)
        std = ops.convert_to_tensor(self.std, inputs.dtype)
        return inputs * std + mean if self.invert else (inputs - mean) / std

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std,
                "invert": self.invert}
