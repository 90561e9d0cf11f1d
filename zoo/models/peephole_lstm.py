"""The peephole LSTM family (Gers, Schraudolph & Schmidhuber 2002; Sak et al. 2014): sequence
classifier and regressor of `zoo.layers.PeepholeLSTM` layers.

- `peephole_lstm_classifier`: token ids (with an embedding) or feature vectors in, stacked and
  optionally bidirectional peephole LSTM layers, class probabilities out;
- `peephole_lstm_regressor`: feature vectors in, one or several future values out (a forecaster).

Both are `zoo.models.recurrent`'s builders at `cell="peephole"` (`cell=` still names another
cell, a search-space choice: the plain LSTM is the ablation of Gers et al. 2002). The other cells'
models (`gru_classifier`, `lstm_regressor`, ...) are the recurrent family's, in
`zoo.models.recurrent` (importing them from here still works for one release, with a
DeprecationWarning).

Layer names are fixed (`embedding`, `peephole_lstm_1`, `peephole_lstm_2`, ..., `predictions`) so
weights load by name and summaries read like the paper.

Example:
    >>> import numpy as np, zoo
    >>> model = zoo.peephole_lstm_classifier(vocabulary_size=1000, units=(32, 32), classes=2)
    >>> tuple(model(np.array([[5, 8, 13, 0, 0]])).shape)
    (1, 2)
"""

from __future__ import annotations

from zoo.core.lazy import lazy_attributes
from zoo.core.moved import warn_renamed
from zoo.core.registry import register_model
from zoo.models.recurrent import (
    CLASSIFIER_CARD,
    PAPERS,
    REGRESSOR_CARD,
    lstm_search_space,
    recurrent_classifier,
    recurrent_regressor,
)

__all__ = ["peephole_lstm_classifier", "peephole_lstm_regressor"]

PAPER = PAPERS["peephole"]

# names that moved to `zoo.models.recurrent` with the recurrent family (one release of warnings)
_MOVED = ("gru_classifier", "gru_regressor", "lstm_classifier", "lstm_regressor",
          "simple_rnn_classifier", "simple_rnn_regressor", "CELLS", "LAYER_PREFIX", "PAPERS",
          "MACS_STEPS")


__getattr__ = lazy_attributes(__name__, {}, deprecated={n: f"zoo.models.recurrent:{n}" for n in _MOVED})


def _cell(cell, peepholes, builder):
    """`cell`, with the deprecated `peepholes=False` saying `cell="lstm"`."""
    if peepholes is None:
        return cell
    if not isinstance(peepholes, bool):
        raise ValueError(f"`peepholes` must be True or False. Received: peepholes={peepholes!r}")
    warn_renamed(f"{builder}(peepholes=False)", f'{builder}(cell="lstm")', stacklevel=4)
    return "lstm" if cell == "peephole" and not peepholes else cell


@register_model(**CLASSIFIER_CARD, family="peephole_lstm", paper=PAPER,
                description="Peephole LSTM sequence classifier (token ids or feature vectors in, "
                            "classes out)",
                search_space=lstm_search_space(bidirectional=True, cell="peephole"),
                bench_peer="keras.layers.LSTM")
def peephole_lstm_classifier(input_shape=None, vocabulary_size=20000, embedding_dim=128,
                             mask_zero=True, units=(128,), bidirectional=False, dropout=0.0,
                             recurrent_dropout=0.0, classes=2, classifier_activation="softmax",
                             fast_path="auto", weights=None, name="peephole_lstm_classifier",
                             peepholes=None, cell="peephole"):
    """Peephole LSTM sequence classifier: `zoo.models.recurrent.recurrent_classifier` with
    `cell="peephole"` (see there for the arguments); `peepholes=False` is the deprecated way to
    say `cell="lstm"`.

    Reference:
        Gers, Schraudolph & Schmidhuber 2002, Learning Precise Timing with LSTM Recurrent
        Networks (JMLR 3); equations as in Sak, Senior & Beaufays 2014.

    Example:
        >>> import numpy as np, zoo
        >>> model = zoo.peephole_lstm_classifier(vocabulary_size=100, units=16, classes=4)
        >>> tuple(model(np.array([[3, 1, 4, 1, 5]])).shape)
        (1, 4)
    """
    return recurrent_classifier(
        input_shape=input_shape, vocabulary_size=vocabulary_size, embedding_dim=embedding_dim,
        mask_zero=mask_zero, units=units, bidirectional=bidirectional, dropout=dropout,
        recurrent_dropout=recurrent_dropout, classes=classes,
        classifier_activation=classifier_activation, fast_path=fast_path, weights=weights,
        name=name, cell=_cell(cell, peepholes, "peephole_lstm_classifier"))


@register_model(**REGRESSOR_CARD, family="peephole_lstm", paper=PAPER,
                description="Peephole LSTM forecaster (feature vectors in, one or several future "
                            "values out)",
                search_space=lstm_search_space(bidirectional=False, cell="peephole"),
                bench_peer="keras.layers.LSTM")
def peephole_lstm_regressor(input_shape=(100, 1), units=(64,), bidirectional=False, dropout=0.0,
                            recurrent_dropout=0.0, horizon=1, targets=1, output_activation=None,
                            fast_path="auto", weights=None, name="peephole_lstm_regressor",
                            peepholes=None, cell="peephole"):
    """Peephole LSTM sequence regressor / forecaster: `zoo.models.recurrent.recurrent_regressor`
    with `cell="peephole"` (see there for the arguments); `peepholes=False` is the deprecated way
    to say `cell="lstm"`.

    Reference:
        Gers, Schraudolph & Schmidhuber 2002, Learning Precise Timing with LSTM Recurrent
        Networks (JMLR 3); equations as in Sak, Senior & Beaufays 2014.

    Example:
        >>> import numpy as np, zoo
        >>> model = zoo.peephole_lstm_regressor(input_shape=(50, 1), units=16, horizon=5)
        >>> tuple(model(np.zeros((2, 50, 1), "float32")).shape)
        (2, 5)
    """
    return recurrent_regressor(
        input_shape=input_shape, units=units, bidirectional=bidirectional, dropout=dropout,
        recurrent_dropout=recurrent_dropout, horizon=horizon, targets=targets,
        output_activation=output_activation, fast_path=fast_path, weights=weights, name=name,
        cell=_cell(cell, peepholes, "peephole_lstm_regressor"))
