"""Peephole LSTM sequence models (Gers, Schraudolph & Schmidhuber 2002; Sak et al. 2014).

Two registered builders over `zoo.layers.PeepholeLSTM`:

- `peephole_lstm_classifier`: token ids (with an embedding) or feature vectors in, stacked and
  optionally bidirectional peephole LSTM layers, class probabilities out;
- `peephole_lstm_regressor`: feature vectors in, one or several future values out (a forecaster).

Layer names are fixed (`embedding`, `peephole_lstm_1`, `peephole_lstm_2`, ..., `predictions`)
so weights load by name and summaries read like the paper.

Example:
    >>> import numpy as np, zoo
    >>> model = zoo.peephole_lstm_classifier(vocabulary_size=1000, units=(32, 32), classes=2)
    >>> tuple(model(np.array([[5, 8, 13, 0, 0]])).shape)
    (1, 2)
"""

from __future__ import annotations

import keras

from zoo import weights as _weights
from zoo.layers.peephole_lstm import PeepholeLSTM
from zoo.registry import register_model

__all__ = ["peephole_lstm_classifier", "peephole_lstm_regressor"]

PAPER = (
    "Gers, Schraudolph & Schmidhuber 2002, Learning Precise Timing with LSTM Recurrent Networks; "
    "Sak et al. 2014"
)

# The cards count multiply-adds at 100 steps where the sequence length is left open.
FLOPS_STEPS = 100


def _is_int(v, low=1):
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def _check_units(units):
    if _is_int(units):
        return (units,)
    if isinstance(units, (list, tuple)) and units and all(_is_int(u) for u in units):
        return tuple(units)
    raise ValueError(
        "`units` must be a positive integer or a non-empty list of positive integers (one per "
        f"stacked layer). Received: units={units!r}"
    )


def _check_rate(name, value):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
        raise ValueError(f"`{name}` must be a float in [0, 1). Received: {name}={value!r}")


def _check_activation(name, value):
    if value is None:
        return
    try:
        keras.activations.get(value)
    except (ValueError, TypeError):
        raise ValueError(
            f"`{name}` must be None, a keras activation name or a callable. "
            f"Received: {name}={value!r}"
        ) from None


def _check_shape(input_shape, ndim, what):
    try:
        shape = tuple(None if d is None else int(d) for d in input_shape)
    except TypeError:
        raise ValueError(
            f"`input_shape` must be a tuple {what}. Received: input_shape={input_shape!r}"
        ) from None
    if len(shape) != ndim or any(d is not None and d < 1 for d in shape):
        raise ValueError(
            f"`input_shape` must be a tuple {what}. Received: input_shape={input_shape!r}"
        )
    if ndim == 2 and shape[1] is None:
        raise ValueError(
            "The number of features (last entry of `input_shape`) must be known. "
            f"Received: input_shape={input_shape!r}"
        )
    return shape


def _check_common(name, units, bidirectional, dropout, recurrent_dropout, fast_path, weights,
                  peepholes=True):
    units = _check_units(units)
    if not isinstance(peepholes, bool):
        raise ValueError(f"`peepholes` must be True or False. Received: peepholes={peepholes!r}")
    if not isinstance(bidirectional, bool):
        raise ValueError(
            f"`bidirectional` must be True or False. Received: bidirectional={bidirectional!r}"
        )
    _check_rate("dropout", dropout)
    _check_rate("recurrent_dropout", recurrent_dropout)
    if fast_path not in ("auto", "graph", "xla", "none"):
        raise ValueError(
            "`fast_path` must be one of 'auto', 'graph', 'xla', 'none'. "
            f"Received: fast_path={fast_path!r}"
        )
    _weights.validate_weights_arg(name, weights, include_top=True)
    return units


def _stack(x, units, bidirectional, dropout, recurrent_dropout, fast_path, last_sequences,
           peepholes=True):
    """Stacked peephole LSTM layers (plain `keras.layers.LSTM` ones, `lstm_1`, ..., without
    peepholes); every layer but the last returns sequences."""
    for k, u in enumerate(units):
        sequences = last_sequences or k < len(units) - 1
        if peepholes:
            layer = PeepholeLSTM(
                u,
                return_sequences=sequences,
                dropout=dropout,
                recurrent_dropout=recurrent_dropout,
                fast_path=fast_path,
                name=f"peephole_lstm_{k + 1}",
            )
        else:
            layer = keras.layers.LSTM(u, return_sequences=sequences, dropout=dropout,
                                      recurrent_dropout=recurrent_dropout, name=f"lstm_{k + 1}")
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bidirectional_{k + 1}")
        x = layer(x)
    return x


def _finish(model, name, weights):
    if weights is not None:
        _weights.load_weights(model, weights, model_name=name)
    return model


def lstm_search_space(bidirectional):
    """Search space of the peephole LSTM models (`zoo.spaces` convention): peepholes on or off
    (the ablation of Gers et al. 2002), one or two stacked layers with the second layer's units
    a conditional hyperparameter (active only with two layers), dropout, optionally
    bidirectional layers, Adam at 1e-3 or 3e-3 with gradient clipping at 1.0 (the recipe's)."""
    def space(hp):
        out = {"peepholes": hp.Boolean("peepholes", default=True)}
        layers = hp.Choice("num_layers", [1, 2])
        units = [hp.Choice("units_1", [128, 64, 256])]
        with hp.conditional_scope("num_layers", [2]):
            if layers == 2:
                units.append(hp.Choice("units_2", [128, 64]))
        out["units"] = tuple(units)
        out["dropout"] = hp.Choice("dropout", [0.0, 0.2, 0.5])
        if bidirectional:
            out["bidirectional"] = hp.Boolean("bidirectional", default=False)
        out.update(optimizer="adam", clipnorm=1.0,
                   learning_rate=hp.Choice("learning_rate", [1e-3, 3e-3]))
        return out

    return space


@register_model(
    family="peephole_lstm",
    task="sequence_classification",
    paper=PAPER,
    input_shape=(None,),
    flops_input_shapes=[(FLOPS_STEPS,)],
    test_overrides=dict(
        vocabulary_size=50, embedding_dim=8, units=(8, 6), bidirectional=True, classes=3
    ),
    description="Peephole LSTM sequence classifier (token ids or feature vectors in, classes out)",
    search_space=lstm_search_space(bidirectional=True),
)
def peephole_lstm_classifier(
    input_shape=None,
    vocabulary_size=20000,
    embedding_dim=128,
    mask_zero=True,
    units=(128,),
    bidirectional=False,
    dropout=0.0,
    recurrent_dropout=0.0,
    classes=2,
    classifier_activation="softmax",
    fast_path="auto",
    weights=None,
    name="peephole_lstm_classifier",
    peepholes=True,
):
    """Sequence classifier of stacked (optionally bidirectional) peephole LSTM layers.

    Token ids in (with `vocabulary_size`, an embedding first) or feature vectors in (with
    `vocabulary_size=None`), the last state of the top layer into a dense classifier.

    Args:
        input_shape: `(steps,)` for token ids, `(steps, features)` for feature vectors; `steps`
            may be None. Default `(None,)` with a vocabulary, else required.
        vocabulary_size: number of token ids (id 0 is padding when `mask_zero`), or None for
            feature-vector inputs.
        embedding_dim: size of the token embedding.
        mask_zero: with token ids, whether id 0 is padding (masked through every layer).
        units: state size of each stacked layer, an int for one layer.
        bidirectional: wrap each layer in `keras.layers.Bidirectional`.
        dropout, recurrent_dropout: dropout rates of every peephole layer.
        classes: number of classes.
        classifier_activation: activation of the output layer (`"softmax"`, None for logits).
        fast_path: TensorFlow loop of the peephole layers (see `zoo.layers.PeepholeLSTM`).
        weights: None or the path to a weights file.
        name: model name.
        peepholes: False builds plain `keras.layers.LSTM` layers (`lstm_1`, ...) instead, the
            ablation of Gers et al. 2002 (and a search-space choice).

    Returns:
        A `keras.Model` from `(batch, steps[, features])` to `(batch, classes)`.

    Reference:
        Gers, Schraudolph & Schmidhuber 2002, Learning Precise Timing with LSTM Recurrent
        Networks (JMLR 3); equations as in Sak, Senior & Beaufays 2014.

    Example:
        >>> import numpy as np, zoo
        >>> model = zoo.peephole_lstm_classifier(vocabulary_size=100, units=16, classes=4)
        >>> tuple(model(np.array([[3, 1, 4, 1, 5]])).shape)
        (1, 4)
    """
    units = _check_common(name, units, bidirectional, dropout, recurrent_dropout, fast_path,
                          weights, peepholes)
    if vocabulary_size is not None and not _is_int(vocabulary_size, 2):
        raise ValueError(
            "`vocabulary_size` must be None (feature-vector inputs) or an integer of at least 2. "
            f"Received: vocabulary_size={vocabulary_size!r}"
        )
    if not _is_int(embedding_dim):
        raise ValueError(
            f"`embedding_dim` must be a positive integer. Received: embedding_dim={embedding_dim!r}"
        )
    if not isinstance(mask_zero, bool):
        raise ValueError(f"`mask_zero` must be True or False. Received: mask_zero={mask_zero!r}")
    if not _is_int(classes):
        raise ValueError(f"`classes` must be an integer of at least 1. Received: classes={classes!r}")
    _check_activation("classifier_activation", classifier_activation)
    if vocabulary_size is not None:
        shape = _check_shape((None,) if input_shape is None else input_shape, 1, "(steps,)")
        inputs = keras.Input(shape, dtype="int32", name="token_ids")
        x = keras.layers.Embedding(vocabulary_size, embedding_dim, mask_zero=mask_zero,
                                   name="embedding")(inputs)
    else:
        if input_shape is None:
            raise ValueError(
                "With `vocabulary_size=None` (feature-vector inputs), `input_shape` must be given "
                "as (steps, features). Received: input_shape=None"
            )
        shape = _check_shape(input_shape, 2, "(steps, features)")
        inputs = keras.Input(shape, name="features")
        x = inputs
    x = _stack(x, units, bidirectional, dropout, recurrent_dropout, fast_path, False, peepholes)
    outputs = keras.layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    return _finish(keras.Model(inputs, outputs, name=name), name, weights)


@register_model(
    family="peephole_lstm",
    task="sequence_regression",
    paper=PAPER,
    input_shape=(100, 1),
    flops_input_shapes=[(FLOPS_STEPS, 1)],
    test_overrides=dict(input_shape=(12, 2), units=(8, 8), horizon=3),
    description="Peephole LSTM forecaster (feature vectors in, one or several future values out)",
    search_space=lstm_search_space(bidirectional=False),
)
def peephole_lstm_regressor(
    input_shape=(100, 1),
    units=(64,),
    bidirectional=False,
    dropout=0.0,
    recurrent_dropout=0.0,
    horizon=1,
    targets=1,
    output_activation=None,
    fast_path="auto",
    weights=None,
    name="peephole_lstm_regressor",
    peepholes=True,
):
    """Sequence regressor / forecaster of stacked peephole LSTM layers.

    Feature vectors in, the last state of the top layer into a linear layer giving the next
    `horizon` values of `targets` series.

    Args:
        input_shape: `(steps, features)`; `steps` may be None.
        units: state size of each stacked layer, an int for one layer.
        bidirectional: wrap each layer in `keras.layers.Bidirectional`.
        dropout, recurrent_dropout: dropout rates of every peephole layer.
        horizon: number of future steps predicted.
        targets: number of series predicted at each future step.
        output_activation: activation of the output layer (None: linear).
        fast_path: TensorFlow loop of the peephole layers (see `zoo.layers.PeepholeLSTM`).
        weights: None or the path to a weights file.
        name: model name.
        peepholes: False builds plain `keras.layers.LSTM` layers instead (see the classifier).

    Returns:
        A `keras.Model` from `(batch, steps, features)` to `(batch, horizon)` when `targets` is
        1, else `(batch, horizon, targets)`.

    Reference:
        Gers, Schraudolph & Schmidhuber 2002, Learning Precise Timing with LSTM Recurrent
        Networks (JMLR 3); equations as in Sak, Senior & Beaufays 2014.

    Example:
        >>> import numpy as np, zoo
        >>> model = zoo.peephole_lstm_regressor(input_shape=(50, 1), units=16, horizon=5)
        >>> tuple(model(np.zeros((2, 50, 1), "float32")).shape)
        (2, 5)
    """
    units = _check_common(name, units, bidirectional, dropout, recurrent_dropout, fast_path,
                          weights, peepholes)
    shape = _check_shape(input_shape, 2, "(steps, features)")
    if not _is_int(horizon):
        raise ValueError(f"`horizon` must be a positive integer. Received: horizon={horizon!r}")
    if not _is_int(targets):
        raise ValueError(f"`targets` must be a positive integer. Received: targets={targets!r}")
    _check_activation("output_activation", output_activation)
    inputs = keras.Input(shape, name="features")
    x = _stack(inputs, units, bidirectional, dropout, recurrent_dropout, fast_path, False, peepholes)
    x = keras.layers.Dense(horizon * targets, activation=output_activation, name="predictions")(x)
    if targets > 1:
        x = keras.layers.Reshape((horizon, targets), name="forecast")(x)
    return _finish(keras.Model(inputs, x, name=name), name, weights)
