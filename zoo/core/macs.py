"""Multiply-adds (the papers' "FLOPs") counted from a built Keras graph.

Papers of this era (He et al. 2015, Szegedy et al. 2014) count multiply-adds of the convolutions
and fully connected layers; normalisation, activations and pooling are left out. `count_macs`
does the same: it runs the model once symbolically at batch size 1 and records, for every call of
every layer (shared layers count once per call), the multiply-adds given by the layer's type.

A custom layer can state its own count by defining `compute_macs(self, input_shapes,
output_shapes) -> int` (shapes include the batch axis of 1); layers called inside it are then not
counted again.

Example:
    >>> import zoo
    >>> from zoo.core.macs import count_macs
    >>> model = zoo.resnet50(weights=None)
    >>> round(count_macs(model) / 1e9, 2)   # He et al. 2015, Table 1: 3.8 x 10^9
    3.86
"""

from __future__ import annotations

import contextlib
import math
import threading

import keras
import numpy as np

__all__ = ["count_macs"]

_state = threading.local()


def _shapes(x):
    out = []
    for t in keras.tree.flatten(x):
        shape = getattr(t, "shape", None)
        if shape is not None:
            out.append(tuple(int(d) if d is not None else 1 for d in shape))
    return out


def _prod(xs):
    return int(math.prod(int(v) for v in xs))


def _conv_macs(layer, ins, outs):
    kernel = layer.kernel.shape  # (*k, in/groups, out)
    k = _prod(kernel[:-2])
    cin_per_group = int(kernel[-2])
    if isinstance(layer, keras.layers.Conv2DTranspose) or isinstance(
        layer, (keras.layers.Conv1DTranspose, keras.layers.Conv3DTranspose)
    ):
        # Every input element is multiplied into a k-window of every output channel.
        # Transposed kernels are stored as (*k, out, in).
        return _prod(ins[0]) * k * int(kernel[-2])
    out_elems = _prod(outs[0])
    return out_elems * k * cin_per_group


def _depthwise_macs(layer, ins, outs):
    k = _prod(layer.kernel.shape[:-2])
    return _prod(outs[0]) * k


def _separable_macs(layer, ins, outs):
    dk = layer.depthwise_kernel.shape  # (*k, in, depth_multiplier)
    in_spatial = _prod(outs[0][1:-1])
    depthwise = in_spatial * _prod(dk[:-2]) * int(dk[-2]) * int(dk[-1])
    pointwise = _prod(outs[0]) * int(layer.pointwise_kernel.shape[-2])
    return depthwise + pointwise


def _dense_macs(layer, ins, outs):
    return _prod(ins[0][:-1]) * _prod(layer.kernel.shape)


def _einsum_dense_macs(layer, ins, outs):
    equation = layer.equation.replace(" ", "")
    lhs, out_spec = equation.split("->")
    _, kernel_spec = lhs.split(",")
    kernel_shape = layer.kernel.shape
    kernel_out = _prod(
        d for c, d in zip(kernel_spec, kernel_shape) if c in out_spec
    )
    return _prod(layer.kernel.shape) * (_prod(outs[0]) // max(1, kernel_out))


def _mha_macs(layer, ins, outs):
    # inputs: query, value[, key]
    q = ins[0]
    v = ins[1] if len(ins) > 1 else ins[0]
    k = ins[2] if len(ins) > 2 and len(ins[2]) == len(v) and ins[2][-1] == v[-1] else v
    heads = layer.num_heads
    dk = layer.key_dim
    dv = layer.value_dim or dk
    tq = _prod(q[1:-1])
    tk = _prod(k[1:-1])
    out_dim = outs[0][-1]
    macs = tq * q[-1] * heads * dk  # query projection
    macs += tk * k[-1] * heads * dk  # key projection
    macs += tk * v[-1] * heads * dv  # value projection
    macs += tq * tk * heads * dk  # scores
    macs += tq * tk * heads * dv  # weighted sum
    macs += tq * heads * dv * out_dim  # output projection
    return macs


def _rnn_macs(layer, ins, outs):
    cell = layer.cell
    seq = ins[0]
    steps, features = seq[1], seq[-1]
    units = cell.units
    gates = {"LSTMCell": 4, "GRUCell": 3, "SimpleRNNCell": 1}.get(type(cell).__name__, 4)
    return steps * gates * units * (features + units)


def _rule(layer):
    if hasattr(layer, "compute_macs"):
        return lambda lyr, ins, outs: int(lyr.compute_macs(ins, outs))
    L = keras.layers
    if isinstance(layer, L.SeparableConv2D) or isinstance(layer, L.SeparableConv1D):
        return _separable_macs
    if isinstance(layer, (L.DepthwiseConv2D, L.DepthwiseConv1D)):
        return _depthwise_macs
    if isinstance(layer, (L.Conv1D, L.Conv2D, L.Conv3D, L.Conv1DTranspose,
                          L.Conv2DTranspose, L.Conv3DTranspose)):
        return _conv_macs
    if isinstance(layer, L.Dense):
        return _dense_macs
    if isinstance(layer, L.EinsumDense):
        return _einsum_dense_macs
    if isinstance(layer, L.MultiHeadAttention):
        return _mha_macs
    if isinstance(layer, (L.LSTM, L.GRU, L.SimpleRNN)):
        return _rnn_macs
    return None


@contextlib.contextmanager
def _recording():
    original = keras.layers.Layer.__call__
    records = []

    def patched(self, *args, **kwargs):
        depth = getattr(_state, "depth", 0)
        rule = _rule(self) if depth == 0 else None
        if rule is not None:
            _state.depth = depth + 1
        try:
            out = original(self, *args, **kwargs)
        finally:
            if rule is not None:
                _state.depth = depth
        if rule is not None:
            ins = _shapes((args, {k: v for k, v in kwargs.items() if k not in ("training", "mask")}))
            records.append((self.name, rule(self, ins, _shapes(out))))
        return out

    keras.layers.Layer.__call__ = patched
    try:
        yield records
    finally:
        keras.layers.Layer.__call__ = original
        _state.depth = 0


def count_macs(model, input_shapes=None, per_layer=False):
    """Multiply-adds of one forward pass of `model` for one example.

    Args:
        model: a built `keras.Model`.
        input_shapes: optional list of shapes (without batch) replacing the model's input shapes;
            needed when an input has an unknown dimension (a sequence length, say).
        per_layer: if True, return a list of `(layer_name, macs)` instead of the total.

    Returns:
        An int (or the per-layer list).
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model. Received: model={model!r}")
    if input_shapes is None:
        input_shapes = [tuple(t.shape[1:]) for t in model.inputs]
    if len(input_shapes) != len(model.inputs):
        raise ValueError(
            f"`input_shapes` must have one shape per model input ({len(model.inputs)}). "
            f"Received: input_shapes={input_shapes}"
        )
    for s in input_shapes:
        if any(d is None for d in s):
            raise ValueError(
                "Every input dimension must be known to count multiply-adds; pass `input_shapes`. "
                f"Received: input_shapes={input_shapes}"
            )
    arrays = [
        np.zeros((1,) + tuple(s), dtype=keras.backend.standardize_dtype(t.dtype))
        for s, t in zip(input_shapes, model.inputs)
    ]
    inputs = arrays[0] if len(arrays) == 1 else arrays
    if isinstance(model.input, dict):
        inputs = dict(zip(model.input.keys(), arrays))
    with _recording() as records:
        model(inputs, training=False)
    # the outer model call itself records nothing (no rule); nested models are walked.
    if per_layer:
        return list(records)
    return int(sum(m for _, m in records))
