"""Graph convolution (Kipf & Welling 2017): the renormalised adjacency and the GCN layer.

One layer of a graph convolutional network computes (Kipf & Welling 2017, equation 2)

    H' = activation(Â H W + b),    Â = D^-1/2 (A + I) D^-1/2,    D_ii = sum_j (A + I)_ij

where `A` is the (weighted, undirected) adjacency matrix of the graph, `I` adds a self-loop to
every node (the paper's "renormalisation trick", section 2.2), `H` holds one feature row per node
and `W` is the layer's kernel. `normalize_adjacency` computes `Â` from a raw adjacency with
`keras.ops` (so a model, and its served signature, can take the raw graph);
`AdjacencyNormalization` is the same as a layer, and `GraphConvolution` the layer itself.

Shapes: node features `[batch, nodes, features]` and a dense adjacency `[batch, nodes, nodes]`;
each batch element is one whole graph (graphs of different sizes are padded with isolated nodes,
which change nothing for the others). Every op is a `keras.ops` op, so the layers run on every
Keras backend.

Reference:
    Kipf & Welling 2017, Semi-Supervised Classification with Graph Convolutional Networks, ICLR
    (arXiv:1609.02907), equations 2 and 9.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["normalize_adjacency", "AdjacencyNormalization", "GraphConvolution"]


def normalize_adjacency(adjacency, self_loops=True):
    """The renormalised adjacency `D^-1/2 (A + I) D^-1/2` of a dense adjacency matrix.

    Args:
        adjacency: `[..., N, N]` float tensor, the raw (weighted) adjacency `A`.
        self_loops: add the identity before normalising (the renormalisation trick); False
            normalises `A` itself (`D^-1/2 A D^-1/2`).

    Returns:
        `[..., N, N]` tensor. A node whose degree is not positive (an isolated node without
        self-loops, or negative weights) gets a zero row and column instead of an infinity.

    Example:
        >>> import numpy as np
        >>> a = np.array([[0.0, 1.0], [1.0, 0.0]], "float32")
        >>> np.asarray(normalize_adjacency(a)).round(2).tolist()
        [[0.5, 0.5], [0.5, 0.5]]
    """
    a = ops.convert_to_tensor(adjacency)
    if len(a.shape) < 2:
        raise ValueError(f"`adjacency` must have shape [..., N, N]. Received: shape={a.shape}")
    if self_loops:
        n = ops.shape(a)[-1]
        a = a + ops.eye(n, dtype=a.dtype)
    degree = ops.sum(a, axis=-1)
    positive = degree > 0
    # rsqrt of a safe value: no infinity in the forward pass nor NaN in the gradient
    inv_sqrt = ops.where(positive, ops.rsqrt(ops.where(positive, degree, ops.ones_like(degree))),
                         ops.zeros_like(degree))
    return a * ops.expand_dims(inv_sqrt, -1) * ops.expand_dims(inv_sqrt, -2)


@keras.saving.register_keras_serializable(package="zoo")
class AdjacencyNormalization(keras.layers.Layer):
    """`normalize_adjacency` as a layer: raw adjacency `[batch, N, N]` -> `Â` (no weights).

    Args:
        self_loops: add the identity first (Kipf & Welling's renormalisation trick).

    Example:
        >>> import numpy as np
        >>> layer = AdjacencyNormalization()
        >>> tuple(layer(np.zeros((1, 3, 3), "float32")).shape)
        (1, 3, 3)
    """

    def __init__(self, self_loops=True, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(self_loops, bool):
            raise ValueError(f"`self_loops` must be True or False. Received: self_loops={self_loops!r}")
        self.self_loops = self_loops

    def call(self, adjacency):
        return normalize_adjacency(adjacency, self_loops=self.self_loops)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "self_loops": self.self_loops}


@keras.saving.register_keras_serializable(package="zoo")
class GraphConvolution(keras.layers.Layer):
    """One graph convolution `H' = activation(Â H W + b)` (Kipf & Welling 2017, equation 2).

    Called on `[features, adjacency]`: node features `[batch, N, F]` and the *normalised*
    adjacency `Â` `[batch, N, N]` (from `AdjacencyNormalization`); returns `[batch, N, units]`.
    `H W` is computed first (the cheaper order when `units < F`).

    Args:
        units: output features per node.
        activation: Keras activation (None: linear).
        use_bias: add a bias per output feature (Kipf's reference code has none).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: as in
            `keras.layers.Dense` (Glorot uniform: the paper's initialisation).

    Example:
        >>> import numpy as np
        >>> layer = GraphConvolution(4)
        >>> x, a = np.ones((1, 3, 5), "float32"), np.eye(3, dtype="float32")[None]
        >>> tuple(layer([x, a]).shape)
        (1, 3, 4)
    """

    def __init__(self, units, activation=None, use_bias=False, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"`units` must be a positive integer. Received: units={units!r}")
        self.units = units
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError("`GraphConvolution` is called on [features, adjacency]. "
                             f"Received: input_shape={input_shape}")
        features = input_shape[0][-1]
        if features is None:
            raise ValueError("The last axis of the node features must be known. "
                             f"Received: input_shape={input_shape}")
        self.kernel = self.add_weight(name="kernel", shape=(int(features), self.units),
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer)
        self.bias = (self.add_weight(name="bias", shape=(self.units,),
                                     initializer=self.bias_initializer,
                                     regularizer=self.bias_regularizer)
                     if self.use_bias else None)

    def call(self, inputs):
        features, adjacency = inputs
        support = ops.matmul(features, ops.cast(self.kernel, features.dtype))
        out = ops.matmul(ops.cast(adjacency, support.dtype), support)
        if self.bias is not None:
            out = out + ops.cast(self.bias, out.dtype)
        return self.activation(out) if self.activation is not None else out

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:-1]) + (self.units,)

    def compute_macs(self, input_shapes, output_shapes):
        """`H W` (N F units) plus `Â (H W)` (N N units) multiply-adds per graph."""
        batch, nodes, features = input_shapes[0]
        return int(batch * nodes * self.units * (int(features) + nodes))

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
        }
