"""DA-RNN: the dual-stage attention-based RNN of Qin et al. 2017 for time-series forecasting.

From a window of T steps of n driving series `x_1..x_T` and the target's own history
`y_1..y_{T-1}`, DA-RNN forecasts the next target value `y_T`:

1. an input attention encoder (`zoo.layers.InputAttentionEncoder`, hidden size m) re-weights the
   driving series at every step by attention over the series (eq. 8-11);
2. a temporal attention decoder (`zoo.layers.TemporalAttentionDecoder`, hidden size p) attends
   over all encoder states, reads the target's history (eq. 12-16) and ends in the linear
   output of eq. 22.

The models take raw values and return raw values: the standardisation fitted on the training
split (`driver_mean`, `driver_std`, `target_mean`, `target_std`; the forecasting task passes
them) is part of the model (`zoo.layers.Standardize`), so a saved or exported model carries it.
`attention_model(model)` gives the same model with the attention weights as extra outputs.

Two additions to the paper, off by default here and on in `zoo train da_rnn` (the forecasting
task; docs/da_rnn.md gives the measurement that decided them): `residual=True` forecasts the
change from the last observed target, `y_T = y_{T-1} + c * f(...)` (eq. 22's output is `f`; `c`
= `target_change_std`, the standard deviation of the target's one-step changes on the training
rows), and the decoder reads the target's history relative to `y_{T-1}` (`(y_t - y_{T-1}) / c`),
so a level outside the training range does not saturate it; `window_relative=True` gives the
encoder every driving series relative to its value at the window's last step, in units of its
own one-step changes (`driver_change_std`). Both attention stages (eq. 8-16) are unchanged.

Two registered variants: `da_rnn` (m = p = 64) and `da_rnn_128` (m = p = 128), at the paper's
window T = 10 and its NASDAQ 100 setting of 81 driving series.

Example:
    >>> import numpy as np, zoo
    >>> model = zoo.da_rnn(num_drivers=5, window=10, encoder_units=16, decoder_units=16)
    >>> y = model([np.zeros((2, 10, 5), "float32"), np.zeros((2, 9), "float32")])
    >>> tuple(y.shape)
    (2, 1)
"""

from __future__ import annotations

import keras

from zoo.core import weights as _weights
from zoo.core.registry import register_model
from zoo.layers.da_rnn import InputAttentionEncoder, Standardize, TemporalAttentionDecoder

__all__ = ["da_rnn", "da_rnn_128", "attention_model", "da_rnn_param_count", "RelativeToLast",
           "ResidualToLast"]

PAPER = ("Qin, Song, Chen, Cheng, Jiang, Cottrell 2017, A Dual-Stage Attention-Based Recurrent "
         "Neural Network for Time Series Prediction (IJCAI 2017, arXiv:1704.02971)")

# the paper's NASDAQ 100 setting: 81 driving stocks, window T = 10
PAPER_DRIVERS, PAPER_WINDOW = 81, 10


@keras.saving.register_keras_serializable(package="zoo")
class RelativeToLast(keras.layers.Layer):
    """`(x - x[:, -1]) / std` along the time axis (axis 1): each series relative to its value at
    the window's last step, scaled (a float or one per entry of the last axis).

    Example:
        >>> import numpy as np
        >>> RelativeToLast(2.0)(np.array([[1.0, 3.0, 5.0]], "float32")).numpy().tolist()
        [[-2.0, -1.0, 0.0]]
    """

    def __init__(self, std=1.0, **kwargs):
        super().__init__(**kwargs)
        self.std = [float(v) for v in std] if isinstance(std, (list, tuple)) else float(std)

    def call(self, inputs):
        std = keras.ops.convert_to_tensor(self.std, inputs.dtype)
        return (inputs - inputs[:, -1:]) / std

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "std": self.std}


@keras.saving.register_keras_serializable(package="zoo")
class ResidualToLast(keras.layers.Layer):
    """`[change, history] -> history[:, -1] + std * change`: a forecast relative to the last
    observed target (`std`: the target's training standard deviation, the loss's unit).

    Example:
        >>> import numpy as np
        >>> ResidualToLast(2.0)([np.array([[0.5]], "float32"),
        ...                      np.array([[7.0, 9.0]], "float32")]).numpy().tolist()
        [[10.0]]
    """

    def __init__(self, std=1.0, **kwargs):
        super().__init__(**kwargs)
        self.std = float(std[0] if isinstance(std, (list, tuple)) else std)

    def call(self, inputs):
        change, history = inputs
        return history[:, -1:] + keras.ops.convert_to_tensor(self.std, change.dtype) * change

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "std": self.std}


def _check_int(name, value, low):
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"`{name}` must be an integer of at least {low}. "
                         f"Received: {name}={value!r}")


def _check_stats(name, value, size, positive):
    vals = list(value) if isinstance(value, (list, tuple)) else [value]
    if isinstance(value, (list, tuple)) and len(vals) != size:
        raise ValueError(f"`{name}` must be a float or a list of {size} floats. "
                         f"Received: {name} of length {len(vals)}")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals) or (
            positive and min(vals) <= 0):
        raise ValueError(f"`{name}` must be a float or a list of {size} "
                         f"{'positive ' if positive else ''}floats. Received: {name}={value!r}")


def da_rnn_param_count(num_drivers, window, encoder_units, decoder_units, horizon=1,
                       input_attention=True, temporal_attention=True):
    """The number of weights of DA-RNN counted from the paper's equations.

    Encoder LSTM `4m(n + m + 1)` (eq. 3-7 with input n); input attention `W_e` (T x 2m),
    `U_e` (T x T), `v_e` (T) (eq. 8); decoder LSTM `4p(1 + p + 1)` (input: the scalar
    `y~`); temporal attention `W_d` (m x 2p), `U_d` (m x m), `v_d` (m) (eq. 12); `w~` (m + 1)
    and `b~` (eq. 15); output `W_y` (p x (p + m)), `b_w` (p), `v_y` (p per forecast value) and
    `b_v` (eq. 22).

    Example:
        >>> da_rnn_param_count(81, 10, 64, 64)
        76401
    """
    n, t, m, p, h = num_drivers, window, encoder_units, decoder_units, horizon
    enc = 4 * m * (n + m + 1) + (2 * m * t + t * t + t if input_attention else 0)
    dec = 4 * p * (1 + p + 1) + (2 * p * m + m * m + m if temporal_attention else 0)
    dec += (m + 1) + 1 + p * (p + m) + p + p * h + h
    return enc + dec


def search_space(hp):
    """DA-RNN's search space (`zoo.core.spaces` convention): the paper's grid (section 4.2: window
    T in {3, 5, 10, 15, 25}, m = p in {16, 32, 64, 128, 256}; its best: T = 10, m = p = 64 or
    128), and Adam's learning rate (0.001 in the paper)."""
    units = hp.Choice("units", [64, 128, 32, 16, 256])
    return {"window": hp.Choice("window", [10, 5, 15, 25, 3]), "encoder_units": units,
            "decoder_units": units, "optimizer": "adam",
            "learning_rate": hp.Choice("learning_rate", [1e-3, 3e-4])}


# what both variants register
_CARD = dict(family="da_rnn", task="forecasting", paper=PAPER, search_space=search_space,
             input_shape={"drivers": (PAPER_WINDOW, PAPER_DRIVERS), "history": (PAPER_WINDOW - 1,)})


# Long only by its docstring (every argument documented); the code is 32 lines.
@register_model(
    test_overrides=dict(num_drivers=4, window=5, encoder_units=6, decoder_units=5),
    description="Dual-stage attention RNN forecaster (driving series + target history in, next "
                "value out), m = p = 64",
    **_CARD,
)
def da_rnn(num_drivers=PAPER_DRIVERS, window=PAPER_WINDOW, encoder_units=64, decoder_units=64,
           horizon=1, input_attention=True, temporal_attention=True, driver_mean=0.0,
           driver_std=1.0, target_mean=0.0, target_std=1.0, residual=False,
           window_relative=False, driver_change_std=None, target_change_std=None, weights=None,
           name="da_rnn"):
    """DA-RNN forecaster: input attention encoder, temporal attention decoder, linear output.

    Args:
        num_drivers: number n of driving series.
        window: number T of steps in a window (the driving series at steps 1..T and the target
            at steps 1..T-1 forecast the target at T).
        encoder_units: encoder hidden size m.
        decoder_units: decoder hidden size p.
        horizon: number of values forecast (`y_T .. y_{T+horizon-1}`; 1 in the paper).
        input_attention, temporal_attention: False drops a stage (the paper's ablations; both
            False: a plain LSTM encoder-decoder of the same sizes).
        driver_mean, driver_std: the driving series' standardisation (a float or one per series),
            fitted on the training split; inputs are standardised inside the model.
        target_mean, target_std: the target's; the history is standardised and the forecast
            returned in the target's own units.
        residual: forecast the change from the last observed target `y_{T-1}` (in units of
            `target_change_std`) and add it back; the decoder reads the history relative to
            `y_{T-1}` (not in the paper; see the module docstring).
        window_relative: give the encoder the driving series relative to their values at the
            window's last step, in units of `driver_change_std` (not in the paper).
        driver_change_std, target_change_std: standard deviations of the one-step changes on
            the training rows (a float or one per series; default: `driver_std`, `target_std`).
        weights: None or the path to a weights file.
        name: model name.

    Returns:
        A `keras.Model` from `[drivers (batch, T, n), history (batch, T-1)]` to the forecast
        `(batch, horizon)`, with layers `input_attention_encoder` and
        `temporal_attention_decoder` (see `attention_model`).

    Reference:
        Qin et al. 2017, A Dual-Stage Attention-Based Recurrent Neural Network for Time Series
        Prediction (IJCAI 2017, arXiv:1704.02971), sections 3.1-3.3.

    Example:
        >>> import numpy as np, zoo
        >>> model = zoo.da_rnn(num_drivers=3, window=6, encoder_units=8, decoder_units=8)
        >>> tuple(model([np.ones((1, 6, 3), "float32"), np.ones((1, 5), "float32")]).shape)
        (1, 1)
    """
    _check_int("num_drivers", num_drivers, 1)
    _check_int("window", window, 2)
    _check_int("encoder_units", encoder_units, 1)
    _check_int("decoder_units", decoder_units, 1)
    _check_int("horizon", horizon, 1)
    for flag, value in (("input_attention", input_attention),
                        ("temporal_attention", temporal_attention), ("residual", residual),
                        ("window_relative", window_relative)):
        if not isinstance(value, bool):
            raise ValueError(f"`{flag}` must be True or False. Received: {flag}={value!r}")
    _check_stats("driver_mean", driver_mean, num_drivers, False)
    _check_stats("driver_std", driver_std, num_drivers, True)
    _check_stats("target_mean", target_mean, 1, False)
    _check_stats("target_std", target_std, 1, True)
    driver_change_std = driver_std if driver_change_std is None else driver_change_std
    target_change_std = target_std if target_change_std is None else target_change_std
    _check_stats("driver_change_std", driver_change_std, num_drivers, True)
    _check_stats("target_change_std", target_change_std, 1, True)
    _weights.validate_weights_arg(name, weights, include_top=True)

    drivers = keras.Input((window, num_drivers), name="drivers")
    history = keras.Input((window - 1,), name="history")
    if window_relative:
        x = RelativeToLast(driver_change_std, name="drivers_relative")(drivers)
    else:
        x = Standardize(driver_mean, driver_std, name="drivers_standardize")(drivers)
    if residual:
        y = RelativeToLast(target_change_std, name="history_relative")(history)
    else:
        y = Standardize(target_mean, target_std, name="history_standardize")(history)
    states, _alphas = InputAttentionEncoder(encoder_units, input_attention=input_attention,
                                            name="input_attention_encoder")(x)
    forecast, _betas = TemporalAttentionDecoder(decoder_units, horizon=horizon,
                                                temporal_attention=temporal_attention,
                                                name="temporal_attention_decoder")([states, y])
    if residual:
        forecast = ResidualToLast(target_change_std, name="forecast")([forecast, history])
    else:
        forecast = Standardize(target_mean, target_std, invert=True, name="forecast")(forecast)
    model = keras.Model([drivers, history], forecast, name=name)
    if weights is not None:
        _weights.load_weights(model, weights, model_name=name)
    return model


@register_model(
    test_overrides=dict(num_drivers=3, window=4, encoder_units=5, decoder_units=6),
    description="Dual-stage attention RNN forecaster, m = p = 128",
    **_CARD,
)
def da_rnn_128(num_drivers=PAPER_DRIVERS, window=PAPER_WINDOW, encoder_units=128,
               decoder_units=128, name="da_rnn_128", **kwargs):
    """DA-RNN with m = p = 128, the paper's other size (its Figure 5 grid); see `da_rnn`.

    Example:
        >>> import zoo
        >>> zoo.da_rnn_128(num_drivers=4).count_params()
        219761
    """
    return da_rnn(num_drivers=num_drivers, window=window, encoder_units=encoder_units,
                  decoder_units=decoder_units, name=name, **kwargs)


def attention_model(model):
    """`model` with its attention weights as outputs: `[forecast, input_attention (batch, T, n),
    temporal_attention (batch, T)]` (the temporal attention of the forecast's context `c_T`).

    Example:
        >>> import numpy as np, zoo
        >>> from zoo.models.da_rnn import attention_model
        >>> m = attention_model(zoo.da_rnn(num_drivers=3, window=6, encoder_units=8,
        ...                                decoder_units=8))
        >>> [tuple(t.shape) for t in m([np.ones((1, 6, 3), "float32"), np.ones((1, 5), "float32")])]
        [(1, 1), (1, 6, 3), (1, 6)]
    """
    alphas = model.get_layer("input_attention_encoder").output[1]
    betas = model.get_layer("temporal_attention_decoder").output[1]
    return keras.Model(model.inputs, [model.outputs[0], alphas, betas[:, -1, :]],
                       name=f"{model.name}_attention")
