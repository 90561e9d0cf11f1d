"""Graph convolutional network (Kipf & Welling 2017) for semi-supervised node classification.

The model of the paper (section 3.1, equation 9) is two graph convolutions over the renormalised
adjacency `Â = D^-1/2 (A + I) D^-1/2`:

    Z = softmax(Â ReLU(Â X W0) W1)

with dropout on the input of each layer, an L2 penalty on the first layer's weights only, and no
bias (Kipf's reference code). The paper's defaults (section 5.2; Table 2 for Citeseer, Cora and
Pubmed): 16 hidden units, dropout 0.5, L2 5e-4, Adam at 0.01 for 200 epochs (full-batch: one
epoch is one step over the whole graph). The model takes the *raw* adjacency and normalises it
inside (`zoo.layers.AdjacencyNormalization`), so the served signature takes the graph as it is.

Inputs and the batch axis: `node_features` `[batch, N, F]` and `adjacency` `[batch, N, N]`
(dense, symmetric, weighted or 0/1, without self-loops); each batch element is a *whole graph*
(graphs of different sizes are padded with isolated nodes, which change nothing for the others),
so the transductive setting of the paper is a batch of one graph. The output is `[batch, N,
classes]`: class probabilities per node. `N` is left unknown by default (`num_nodes=None`): one
model serves graphs of any size with the same feature count `F` (`num_features`). The defaults
fit Zachary's karate club with one-hot node features (34 nodes, 34 features, 2 factions), the
embedded data of the node-classification task (`zoo.tasks.node_classification`).

Reference:
    Kipf & Welling 2017, Semi-Supervised Classification with Graph Convolutional Networks, ICLR
    (arXiv:1609.02907).
"""

from __future__ import annotations

import keras

from zoo.core.registry import register_model
from zoo.core.spaces import optimizer_space
from zoo.layers.graph_conv import AdjacencyNormalization, GraphConvolution

__all__ = ["gcn"]

PAPER = ("Kipf & Welling 2017, Semi-Supervised Classification with Graph Convolutional Networks, "
         "arXiv:1609.02907")
KARATE = (34, 34, 2)  # nodes, one-hot features, factions: the embedded default


def _check_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}")


def gcn_search_space(hp):
    """Search space of the GCN (`zoo.core.spaces` convention): hidden units, dropout, the first
    layer's L2 and Adam's learning rate around the paper's (16, 0.5, 5e-4, 0.01; Kipf & Welling
    2017 section 5.2 chose them on Citeseer's validation set); full-batch Adam, 200 epochs of one
    step over the whole graph (`batch_size` 1: one graph)."""
    out = optimizer_space(hp, adam={"learning_rate": [0.01, 0.005, 0.02]})
    out.update(
        hidden_units=hp.Choice("hidden_units", [16, 32, 64]),
        dropout=hp.Choice("dropout", [0.5, 0.3, 0.0]),
        l2=hp.Choice("l2", [5e-4, 1e-3, 0.0]),
        batch_size=hp.Fixed("batch_size", 1),
        epochs=hp.Fixed("epochs", 200),
    )
    return out


@register_model(
    family="gcn", task="node_classification", paper=PAPER,
    input_shape={"node_features": (None, KARATE[1]), "adjacency": (None, None)},
    macs_input_shapes=[(KARATE[0], KARATE[1]), (KARATE[0], KARATE[0])],
    test_overrides=dict(num_features=6, classes=3, hidden_units=4),
    search_space=gcn_search_space,
    description="Two-layer graph convolutional network for semi-supervised node classification",
)
def gcn(num_features=KARATE[1], classes=KARATE[2], num_nodes=None, hidden_units=16, num_layers=2,
        dropout=0.5, l2=5e-4, use_bias=False, classifier_activation="softmax", name="gcn"):
    """A graph convolutional network (Kipf & Welling 2017, equation 9).

    `num_layers - 1` hidden graph convolutions (`graph_conv_1`, ... with ReLU) and an output graph
    convolution (`graph_conv_<num_layers>`, with `classifier_activation`) over the adjacency
    normalised inside the model (`adjacency_normalization`: `D^-1/2 (A + I) D^-1/2`); dropout
    (`dropout_<i>`) before each layer. Parameters: `F h + h c` for two layers without bias (34 x
    16 + 16 x 2 = 576 on the karate club; 1433 x 16 + 16 x 7 = 23,040 on Cora).

    Args:
        num_features: features per node `F` (34: the karate club's one-hot features).
        classes: classes per node.
        num_nodes: nodes per graph `N`, or None for graphs of any size.
        hidden_units: width of each hidden layer (16 in the paper).
        num_layers: graph convolutions (2 in the paper; Appendix B tries up to 10).
        dropout: rate before each layer (0.5).
        l2: L2 factor of the first layer's kernel, as Kipf's code adds it to the loss: `l2 *
            sum(W0^2) / 2` (`tf.nn.l2_loss`), 5e-4 in the paper.
        use_bias: add a bias to each layer (Kipf's code: none).
        classifier_activation: `"softmax"` (probabilities, the paper's) or None (logits).
        name: model name.

    Returns:
        A `keras.Model` on `[node_features [batch, N, F], adjacency [batch, N, N]]` returning
        `[batch, N, classes]`.

    Example:
        >>> import numpy as np, zoo
        >>> model = zoo.gcn(num_features=34, classes=2)
        >>> x, a = np.eye(34, dtype="float32")[None], np.zeros((1, 34, 34), "float32")
        >>> tuple(model([x, a]).shape)
        (1, 34, 2)
    """
    _check_int("num_features", num_features)
    _check_int("classes", classes)
    if num_nodes is not None:
        _check_int("num_nodes", num_nodes)
    _check_int("hidden_units", hidden_units)
    _check_int("num_layers", num_layers)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(f"`dropout` must be a number in [0, 1). Received: dropout={dropout!r}")
    if isinstance(l2, bool) or not isinstance(l2, (int, float)) or l2 < 0:
        raise ValueError(f"`l2` must be a number >= 0. Received: l2={l2!r}")
    if classifier_activation not in ("softmax", None):
        raise ValueError("`classifier_activation` must be 'softmax' or None. "
                         f"Received: classifier_activation={classifier_activation!r}")
    features = keras.Input((num_nodes, num_features), name="node_features")
    adjacency = keras.Input((num_nodes, num_nodes), name="adjacency")
    a_hat = AdjacencyNormalization(name="adjacency_normalization")(adjacency)
    x = features
    for i in range(1, num_layers + 1):
        last = i == num_layers
        x = keras.layers.Dropout(float(dropout), name=f"dropout_{i}")(x)
        x = GraphConvolution(
            classes if last else hidden_units,
            activation=classifier_activation if last else "relu", use_bias=use_bias,
            kernel_regularizer=keras.regularizers.L2(float(l2) / 2.0) if i == 1 and l2 else None,
            name=f"graph_conv_{i}")([x, a_hat])
    return keras.Model([features, adjacency], x, name=name)
