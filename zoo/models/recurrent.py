"""The recurrent family: plain tanh RNN (Elman 1990), GRU (Cho et al. 2014) and LSTM (Hochreiter &
Schmidhuber 1997) sequence classifiers and regressors.

Two configurable builders take the cell (`cell="simple"`, `"gru"`, `"lstm"` or `"peephole"`, the
`zoo.layers.PeepholeLSTM` of `zoo.models.peephole_lstm`'s family):

- `recurrent_classifier`: token ids (with an embedding) or feature vectors in, stacked and
  optionally bidirectional recurrent layers, class probabilities out;
- `recurrent_regressor`: feature vectors in, one or several future values out (a forecaster).

The registered variants fix the cell: `simple_rnn_classifier`, `simple_rnn_regressor`,
`gru_classifier`, `gru_regressor`, `lstm_classifier`, `lstm_regressor`.

Layer names are fixed (`embedding`, `lstm_1`, `lstm_2`, ... or `simple_rnn_k`, `gru_k`,
`peephole_lstm_k`, then `predictions`) so weights load by name.

Example:
    >>> import numpy as np, zoo
    >>> model = zoo.gru_classifier(vocabulary_size=1000, units=(32, 32), classes=2)
    >>> tuple(model(np.array([[5, 8, 13, 0, 0]])).shape)
    (1, 2)
"""

from __future__ import annotations

import keras

from zoo.core import weights as _weights
from zoo.core.registry import register_model
from zoo.layers.peephole_lstm import PeepholeLSTM

__all__ = [
    "recurrent_classifier",
    "recurrent_regressor",
    "gru_classifier",
    "gru_regressor",
    "lstm_classifier",
    "lstm_regressor",
    "simple_rnn_classifier",
    "simple_rnn_regressor",
]

PAPERS = {
    "peephole": "Gers, Schraudolph & Schmidhuber 2002, Learning Precise Timing with LSTM Recurrent "
                "Networks; Sak et al. 2014",
    "lstm": "Hochreiter & Schmidhuber 1997, Long Short-Term Memory; forget gate: Gers et al. 2000",
    "gru": "Cho et al. 2014, Learning Phrase Representations using RNN Encoder-Decoder for "
           "Statistical Machine Translation, arXiv:1406.1078",
    "simple": "Elman 1990, Finding Structure in Time",
}

# The recurrent cells `cell=` takes, with the layer each builds and the prefix of its layer names.
CELLS = ("simple", "gru", "lstm", "peephole")
LAYER_PREFIX = {"simple": "simple_rnn", "gru": "gru", "lstm": "lstm", "peephole": "peephole_lstm"}

# The cards count multiply-adds at 100 steps where the sequence length is left open.
MACS_STEPS = 100


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


def _check_common(name, units, bidirectional, dropout, recurrent_dropout, fast_path, weights, cell):
    if not isinstance(cell, str) or cell not in CELLS:
        raise ValueError(
            f"`cell` must be one of {', '.join(repr(c) for c in CELLS)}. Received: cell={cell!r}"
        )
    units = _check_units(units)
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


def _stack(x, units, bidirectional, dropout, recurrent_dropout, fast_path, last_sequences, cell):
    """Stacked recurrent layers of one cell (`peephole_lstm_1`, ... or `simple_rnn_1`, `gru_1`,
    `lstm_1`, ...); every layer but the last returns sequences."""
    for k, u in enumerate(units):
        sequences = last_sequences or k < len(units) - 1
        kw = dict(return_sequences=sequences, dropout=dropout, recurrent_dropout=recurrent_dropout,
                  name=f"{LAYER_PREFIX[cell]}_{k + 1}")
        if cell == "peephole":
            layer = PeepholeLSTM(u, fast_path=fast_path, **kw)
        elif cell == "lstm":
            layer = keras.layers.LSTM(u, **kw)
        elif cell == "gru":
            layer = keras.layers.GRU(u, **kw)
        else:
            layer = keras.layers.SimpleRNN(u, **kw)
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bidirectional_{k + 1}")
        x = layer(x)
    return x


def _finish(model, name, weights):
    if weights is not None:
        _weights.load_weights(model, weights, model_name=name)
    return model


def lstm_search_space(bidirectional, cell="lstm"):
    """Search space of the recurrent models (`zoo.core.spaces` convention): the cell (the variant's
    own first, then the others: peephole / plain LSTM is the ablation of Gers et al. 2002, GRU
    and the plain tanh RNN the other cells), one or two stacked layers with the second layer's
    units a conditional hyperparameter (active only with two layers), dropout, optionally
    bidirectional layers, Adam at 1e-3 or 3e-3 with gradient clipping at 1.0 (the recipe's)."""
    cells = [cell] + [c for c in ("peephole", "lstm", "gru", "simple") if c != cell]

    def space(hp):
        out = {"cell": hp.Choice("cell", cells)}
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


def _token_or_feature_inputs(input_shape, vocabulary_size, embedding_dim, mask_zero):
    """The classifier's input and the tensor the recurrent stack reads: embedded token ids (with a
    vocabulary) or the feature vectors themselves (`vocabulary_size=None`)."""
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
    if vocabulary_size is not None:
        shape = _check_shape((None,) if input_shape is None else input_shape, 1, "(steps,)")
        inputs = keras.Input(shape, dtype="int32", name="token_ids")
        return inputs, keras.layers.Embedding(vocabulary_size, embedding_dim, mask_zero=mask_zero,
                                              name="embedding")(inputs)
    if input_shape is None:
        raise ValueError(
            "With `vocabulary_size=None` (feature-vector inputs), `input_shape` must be given "
            "as (steps, features). Received: input_shape=None"
        )
    inputs = keras.Input(_check_shape(input_shape, 2, "(steps, features)"), name="features")
    return inputs, inputs


def recurrent_classifier(input_shape=None, vocabulary_size=20000, embedding_dim=128, mask_zero=True,
                         units=(128,), bidirectional=False, dropout=0.0, recurrent_dropout=0.0,
                         classes=2, classifier_activation="softmax", fast_path="auto", weights=None,
                         name="recurrent_classifier", cell="lstm"):
    """Sequence classifier of stacked (optionally bidirectional) recurrent layers of one `cell`.

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
        dropout, recurrent_dropout: dropout rates of every recurrent layer.
        classes: number of classes.
        classifier_activation: activation of the output layer (`"softmax"`, None for logits).
        fast_path: TensorFlow loop of the peephole layers (see `zoo.layers.PeepholeLSTM`).
        weights: None or the path to a weights file.
        name: model name.
        cell: the recurrent cell of every layer: `"lstm"` (`keras.layers.LSTM`, `lstm_k`),
            `"gru"` (`keras.layers.GRU`, reset gate after the recurrent product, `gru_k`),
            `"simple"` (`keras.layers.SimpleRNN`, tanh, `simple_rnn_k`) or `"peephole"`
            (`zoo.layers.PeepholeLSTM`, `peephole_lstm_k`); a search-space choice.

    Returns:
        A `keras.Model` from `(batch, steps[, features])` to `(batch, classes)`.

    Example:
        >>> import numpy as np, zoo
        >>> model = zoo.recurrent_classifier(vocabulary_size=100, units=16, classes=4, cell="gru")
        >>> tuple(model(np.array([[3, 1, 4, 1, 5]])).shape)
        (1, 4)
    """
    units = _check_common(name, units, bidirectional, dropout, recurrent_dropout, fast_path,
                          weights, cell)
    if not _is_int(classes):
        raise ValueError(f"`classes` must be an integer of at least 1. Received: classes={classes!r}")
    _check_activation("classifier_activation", classifier_activation)
    inputs, x = _token_or_feature_inputs(input_shape, vocabulary_size, embedding_dim, mask_zero)
    x = _stack(x, units, bidirectional, dropout, recurrent_dropout, fast_path, False, cell)
    outputs = keras.layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    return _finish(keras.Model(inputs, outputs, name=name), name, weights)


def recurrent_regressor(input_shape=(100, 1), units=(64,), bidirectional=False, dropout=0.0,
                        recurrent_dropout=0.0, horizon=1, targets=1, output_activation=None,
                        fast_path="auto", weights=None, name="recurrent_regressor", cell="lstm"):
    """Sequence regressor / forecaster of stacked recurrent layers of one `cell`.

    Feature vectors in, the last state of the top layer into a linear layer giving the next
    `horizon` values of `targets` series.

    Args:
        input_shape: `(steps, features)`; `steps` may be None.
        units: state size of each stacked layer, an int for one layer.
        bidirectional: wrap each layer in `keras.layers.Bidirectional`.
        dropout, recurrent_dropout: dropout rates of every recurrent layer.
        horizon: number of future steps predicted.
        targets: number of series predicted at each future step.
        output_activation: activation of the output layer (None: linear).
        fast_path: TensorFlow loop of the peephole layers (see `zoo.layers.PeepholeLSTM`).
        weights: None or the path to a weights file.
        name: model name.
        cell: `"lstm"`, `"gru"`, `"simple"` or `"peephole"` (see `recurrent_classifier`).

    Returns:
        A `keras.Model` from `(batch, steps, features)` to `(batch, horizon)` when `targets` is
        1, else `(batch, horizon, targets)`.

    Example:
        >>> import numpy as np, zoo
        >>> model = zoo.recurrent_regressor(input_shape=(50, 1), units=16, horizon=5)
        >>> tuple(model(np.zeros((2, 50, 1), "float32")).shape)
        (2, 5)
    """
    units = _check_common(name, units, bidirectional, dropout, recurrent_dropout, fast_path,
                          weights, cell)
    shape = _check_shape(input_shape, 2, "(steps, features)")
    if not _is_int(horizon):
        raise ValueError(f"`horizon` must be a positive integer. Received: horizon={horizon!r}")
    if not _is_int(targets):
        raise ValueError(f"`targets` must be a positive integer. Received: targets={targets!r}")
    _check_activation("output_activation", output_activation)
    inputs = keras.Input(shape, name="features")
    x = _stack(inputs, units, bidirectional, dropout, recurrent_dropout, fast_path, False, cell)
    x = keras.layers.Dense(horizon * targets, activation=output_activation, name="predictions")(x)
    if targets > 1:
        x = keras.layers.Reshape((horizon, targets), name="forecast")(x)
    return _finish(keras.Model(inputs, x, name=name), name, weights)


# What the cards of every classifier / regressor of the recurrent cells share (the peephole
# family's too, `zoo.models.peephole_lstm`).
CLASSIFIER_CARD = dict(
    task="sequence_classification", input_shape=(None,), macs_input_shapes=[(MACS_STEPS,)],
    test_overrides=dict(vocabulary_size=50, embedding_dim=8, units=(8, 6), bidirectional=True,
                        classes=3),
)
REGRESSOR_CARD = dict(
    task="sequence_regression", input_shape=(100, 1), macs_input_shapes=[(MACS_STEPS, 1)],
    test_overrides=dict(input_shape=(12, 2), units=(8, 8), horizon=3),
)
_CLASSIFIES = "(token ids or feature vectors in, classes out)"
_FORECASTS = "(feature vectors in, one or several future values out)"


@register_model(**CLASSIFIER_CARD, family="recurrent", paper=PAPERS["simple"],
                description=f"Plain tanh RNN sequence classifier {_CLASSIFIES}",
                search_space=lstm_search_space(bidirectional=True, cell="simple"))
def simple_rnn_classifier(input_shape=None, vocabulary_size=20000, embedding_dim=128,
                          mask_zero=True, units=(128,), bidirectional=False, dropout=0.0,
                          recurrent_dropout=0.0, classes=2, classifier_activation="softmax",
                          fast_path="auto", weights=None, name="simple_rnn_classifier",
                          cell="simple"):
    """Plain tanh RNN classifier: `recurrent_classifier` with `cell="simple"`
    (`keras.layers.SimpleRNN` layers `simple_rnn_k`; see there for the arguments).

    h_t = tanh(W x_t + U h_{t-1} + b): units (inputs + units + 1) parameters per layer.

    Reference:
        Elman 1990, Finding Structure in Time (Cognitive Science 14).

    Example:
        >>> import zoo
        >>> zoo.simple_rnn_classifier(vocabulary_size=100, units=8).get_layer("simple_rnn_1").units
        8
    """
    return recurrent_classifier(**locals())


@register_model(**REGRESSOR_CARD, family="recurrent", paper=PAPERS["simple"],
                description=f"Plain tanh RNN sequence regressor {_FORECASTS}",
                search_space=lstm_search_space(bidirectional=False, cell="simple"))
def simple_rnn_regressor(input_shape=(100, 1), units=(64,), bidirectional=False, dropout=0.0,
                         recurrent_dropout=0.0, horizon=1, targets=1, output_activation=None,
                         fast_path="auto", weights=None, name="simple_rnn_regressor",
                         cell="simple"):
    """Plain tanh RNN regressor: `recurrent_regressor` with `cell="simple"` (see there).

    Reference:
        Elman 1990, Finding Structure in Time (Cognitive Science 14).

    Example:
        >>> import zoo
        >>> zoo.simple_rnn_regressor(input_shape=(50, 2), units=8).count_params()
        97
    """
    return recurrent_regressor(**locals())


@register_model(**CLASSIFIER_CARD, family="recurrent", paper=PAPERS["gru"],
                description=f"GRU sequence classifier {_CLASSIFIES}",
                search_space=lstm_search_space(bidirectional=True, cell="gru"))
def gru_classifier(input_shape=None, vocabulary_size=20000, embedding_dim=128, mask_zero=True,
                   units=(128,), bidirectional=False, dropout=0.0, recurrent_dropout=0.0,
                   classes=2, classifier_activation="softmax", fast_path="auto", weights=None,
                   name="gru_classifier", cell="gru"):
    """GRU classifier: `recurrent_classifier` with `cell="gru"` (`keras.layers.GRU` layers
    `gru_k`, Keras' default `reset_after=True`; see there for the arguments).

    Update and reset gates and the candidate state, each with input and recurrent biases
    (`reset_after`): 3 units (inputs + units + 2) parameters per layer.

    Reference:
        Cho et al. 2014, Learning Phrase Representations using RNN Encoder-Decoder for
        Statistical Machine Translation (EMNLP).

    Example:
        >>> import zoo
        >>> zoo.gru_classifier(vocabulary_size=100, units=8).get_layer("gru_1").units
        8
    """
    return recurrent_classifier(**locals())


@register_model(**REGRESSOR_CARD, family="recurrent", paper=PAPERS["gru"],
                description=f"GRU sequence regressor {_FORECASTS}",
                search_space=lstm_search_space(bidirectional=False, cell="gru"))
def gru_regressor(input_shape=(100, 1), units=(64,), bidirectional=False, dropout=0.0,
                  recurrent_dropout=0.0, horizon=1, targets=1, output_activation=None,
                  fast_path="auto", weights=None, name="gru_regressor", cell="gru"):
    """GRU regressor: `recurrent_regressor` with `cell="gru"` (see there).

    Reference:
        Cho et al. 2014, Learning Phrase Representations using RNN Encoder-Decoder for
        Statistical Machine Translation (EMNLP).

    Example:
        >>> import zoo
        >>> zoo.gru_regressor(input_shape=(50, 2), units=8).count_params()
        297
    """
    return recurrent_regressor(**locals())


@register_model(**CLASSIFIER_CARD, family="recurrent", paper=PAPERS["lstm"],
                description=f"LSTM (no peepholes) sequence classifier {_CLASSIFIES}",
                search_space=lstm_search_space(bidirectional=True, cell="lstm"))
def lstm_classifier(input_shape=None, vocabulary_size=20000, embedding_dim=128, mask_zero=True,
                    units=(128,), bidirectional=False, dropout=0.0, recurrent_dropout=0.0,
                    classes=2, classifier_activation="softmax", fast_path="auto", weights=None,
                    name="lstm_classifier", cell="lstm"):
    """LSTM classifier without peepholes: `recurrent_classifier` with `cell="lstm"`
    (`keras.layers.LSTM` layers `lstm_k`, forget-gate bias 1; see there for the arguments).

    Input, forget and output gates and the candidate: 4 units (inputs + units + 1) parameters
    per layer.

    Reference:
        Hochreiter & Schmidhuber 1997, Long Short-Term Memory (Neural Computation 9); the
        forget gate of Gers, Schmidhuber & Cummins 2000.

    Example:
        >>> import zoo
        >>> zoo.lstm_classifier(vocabulary_size=100, units=8).get_layer("lstm_1").units
        8
    """
    return recurrent_classifier(**locals())


@register_model(**REGRESSOR_CARD, family="recurrent", paper=PAPERS["lstm"],
                description=f"LSTM (no peepholes) sequence regressor {_FORECASTS}",
                search_space=lstm_search_space(bidirectional=False, cell="lstm"))
def lstm_regressor(input_shape=(100, 1), units=(64,), bidirectional=False, dropout=0.0,
                   recurrent_dropout=0.0, horizon=1, targets=1, output_activation=None,
                   fast_path="auto", weights=None, name="lstm_regressor", cell="lstm"):
    """LSTM regressor without peepholes: `recurrent_regressor` with `cell="lstm"` (see there).

    Reference:
        Hochreiter & Schmidhuber 1997, Long Short-Term Memory (Neural Computation 9).

    Example:
        >>> import zoo
        >>> zoo.lstm_regressor(input_shape=(50, 2), units=8).count_params()
        361
    """
    return recurrent_regressor(**locals())
