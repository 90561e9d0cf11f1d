"""Multi-head scaled dot-product attention (Vaswani et al. 2017, section 3.2), with a key/value
cache for decoding.

`MultiHeadAttention` keeps the query, key and value projections in one fused (d, 3d) kernel. For
autoregressive decoding it follows keras-hub's `CachedMultiHeadAttention`: called with `cache`
(batch, 2, length, heads, head_dim) and `cache_update_index`, it writes the keys and values of
the new positions into the cache (`keras.ops.slice_update`; for one position a masked select,
which converts to ONNX) and attends over it, returning
`(output, cache)`; with `cache` and no index it attends over fixed keys and values (the encoder
outputs', projected once by `key_value_cache`). `keras.ops` only.

Reference:
    Vaswani et al. 2017, Attention Is All You Need, arXiv:1706.03762.

Example:
    >>> import numpy as np
    >>> from zoo.layers.attention import MultiHeadAttention
    >>> mha = MultiHeadAttention(d_model=8, num_heads=2)
    >>> x = np.ones((2, 1, 8), "float32")
    >>> out, cache = mha(x, cache=np.zeros((2, 2, 5, 2, 4), "float32"), cache_update_index=0)
    >>> tuple(out.shape), tuple(cache.shape)
    ((2, 1, 8), (2, 2, 5, 2, 4))
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

__all__ = ["MultiHeadAttention"]


def positive_int(name, value):
    """`value` as an int, or a ValueError in Keras' wording unless it is an integer >= 1."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(value)


def rate(name, value):
    """`value` as a float, or a ValueError in Keras' wording unless it is in [0, 1)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
        raise ValueError(f"`{name}` must be a float in [0, 1). Received: {name}={value!r}")
    return float(value)


def _neg_inf(dtype):
    return -1e9 if keras.backend.standardize_dtype(dtype) in ("float32", "float64") else -3e4


def _write(cache, index, update):
    """`cache` (B, L, h, d/h) with `update` (B, T, h, d/h) written at positions index ... index+T-1.

    Several positions: `keras.ops.slice_update`, as keras-hub. One position (every decoding
    step): a select against a one-hot position mask instead, which every converter of the
    exported graph takes (TensorFlow's `slice_update` is XlaDynamicUpdateSlice, which tf2onnx
    cannot convert) and which measured no slower on TensorFlow CPU.
    """
    if update.shape[1] == 1:
        at = ops.arange(ops.shape(cache)[1])[None, :, None, None] == index
        return ops.where(at, update, cache)
    return ops.slice_update(cache, [0, index, 0, 0], update)


@keras.saving.register_keras_serializable(package="zoo")
class MultiHeadAttention(keras.layers.Layer):
    """Multi-head scaled dot-product attention (section 3.2), d_k = d_v = d_model / h.

    The query, key and value projections live in one (d_model, 3 d_model) kernel: self-attention
    (`value=None`) projects with one matrix product, cross-attention uses the query slice on the
    query and the key/value slice on the memory.

    Args:
        d_model: model width (input and output size), divisible by `num_heads`.
        num_heads: number of heads h.
        dropout: dropout rate on the attention weights (0 in the paper; tensor2tensor used 0.1).
        use_bias: add biases to the projections.
        kernel_initializer: initializer of the projections.
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        query: (batch, Tq, d_model).
        value: (batch, Tk, d_model) memory for cross-attention, or None for self-attention.
        attention_mask: boolean, broadcastable to (batch, Tq, Tk); True where attention is allowed.
        training: whether dropout is active.
        cache: for decoding (as keras-hub's `CachedMultiHeadAttention`), keys and values
            (batch, 2, Tk, h, d/h) to attend over; then the call returns `(output, cache)`.
        cache_update_index: with `cache`, the position where the keys and values of `value`
            (or `query`, self-attention) are written first; None keeps the cache as it is (the
            encoder's, made once by `key_value_cache`).

    Example:
        >>> import numpy as np
        >>> mha = MultiHeadAttention(d_model=8, num_heads=2)
        >>> tuple(mha(np.ones((2, 3, 8), "float32")).shape)
        (2, 3, 8)
    """

    def __init__(self, d_model, num_heads, dropout=0.0, use_bias=True,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.d_model = positive_int("d_model", d_model)
        self.num_heads = positive_int("num_heads", num_heads)
        if self.d_model % self.num_heads:
            raise ValueError(
                "`d_model` must be divisible by `num_heads`. "
                f"Received: d_model={d_model}, num_heads={num_heads}"
            )
        self.dropout = rate("dropout", dropout)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.head_dim = self.d_model // self.num_heads
        self.attention_dropout = keras.layers.Dropout(self.dropout) if self.dropout else None

    def build(self, query_shape, value_shape=None, attention_mask_shape=None):
        d = self.d_model
        if query_shape[-1] is not None and int(query_shape[-1]) != d:
            raise ValueError(
                f"MultiHeadAttention expects inputs of width d_model={d}. "
                f"Received: query_shape={query_shape}"
            )
        self.qkv_kernel = self.add_weight(
            name="qkv_kernel", shape=(d, 3 * d), initializer=self.kernel_initializer
        )
        self.output_kernel = self.add_weight(
            name="output_kernel", shape=(d, d), initializer=self.kernel_initializer
        )
        if self.use_bias:
            self.qkv_bias = self.add_weight(name="qkv_bias", shape=(3 * d,), initializer="zeros")
            self.output_bias = self.add_weight(name="output_bias", shape=(d,), initializer="zeros")
        self.built = True

    def _split_heads(self, x):
        # (B, T, d) -> (B, h, T, d/h)
        b, t = ops.shape(x)[0], ops.shape(x)[1]
        x = ops.reshape(x, (b, t, self.num_heads, self.head_dim))
        return ops.transpose(x, (0, 2, 1, 3))

    def _project(self, query, value):
        """(q, k, v), each (B, T, d): the fused projection (self) or its two slices (cross)."""
        d = self.d_model
        w = ops.cast(self.qkv_kernel, self.compute_dtype)
        if value is None:
            qkv = ops.matmul(query, w)
            if self.use_bias:
                qkv = qkv + ops.cast(self.qkv_bias, self.compute_dtype)
            # split (its gradient is one concatenation) rather than three slices (three
            # zero-padded gradients): measurably faster training steps
            q, k, v = ops.split(qkv, 3, axis=-1)
        else:
            q = ops.matmul(query, w[:, :d])
            kv = ops.matmul(value, w[:, d:])
            if self.use_bias:
                bias = ops.cast(self.qkv_bias, self.compute_dtype)
                q = q + bias[:d]
                kv = kv + bias[d:]
            k, v = ops.split(kv, 2, axis=-1)
        return q, k, v

    def _heads_last(self, x):
        # (B, T, d) -> (B, T, h, d/h), the cache's layout
        return ops.reshape(x, (ops.shape(x)[0], ops.shape(x)[1], self.num_heads, self.head_dim))

    def key_value_cache(self, value):
        """The fixed keys and values of `value` (B, S, d_model) as a cache (B, 2, S, h, d/h).

        For cross-attention in decoding: the encoder outputs are projected once per sequence,
        then `call(query, cache=...)` (no `cache_update_index`) attends over them every step.
        """
        w = ops.cast(self.qkv_kernel, self.compute_dtype)[:, self.d_model:]
        kv = ops.matmul(value, w)
        if self.use_bias:
            kv = kv + ops.cast(self.qkv_bias, self.compute_dtype)[self.d_model:]
        k, v = ops.split(kv, 2, axis=-1)
        return ops.stack([self._heads_last(k), self._heads_last(v)], axis=1)

    def _cached(self, query, value, cache, index):
        """q (B, T, d) and keys/values (B, h, S, d/h) read from `cache` (B, 2, S, h, d/h), after
        writing those of `value` (or `query`) at position `index` when it is given."""
        if index is None:  # fixed keys and values: only the query is projected
            d, w = self.d_model, ops.cast(self.qkv_kernel, self.compute_dtype)
            q = ops.matmul(query, w[:, :d])
            if self.use_bias:
                q = q + ops.cast(self.qkv_bias, self.compute_dtype)[:d]
            k, v = cache[:, 0], cache[:, 1]
        else:
            q, k_new, v_new = self._project(query, value)
            k = _write(cache[:, 0], index, self._heads_last(k_new))
            v = _write(cache[:, 1], index, self._heads_last(v_new))
            cache = ops.stack([k, v], axis=1)
        return q, ops.transpose(k, (0, 2, 1, 3)), ops.transpose(v, (0, 2, 1, 3)), cache

    def call(self, query, value=None, attention_mask=None, training=None, cache=None,
             cache_update_index=None):
        d = self.d_model
        self._cross = value is not None  # read by compute_macs
        if cache is None:
            q, k, v = self._project(query, value)
            k, v = self._split_heads(k), self._split_heads(v)
        else:
            q, k, v, cache = self._cached(query, value, cache, cache_update_index)
        q = self._split_heads(q * ops.cast(self.head_dim**-0.5, q.dtype))
        scores = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2)))  # (B, h, Tq, Tk)
        if attention_mask is not None:
            mask = ops.cast(attention_mask, "bool")
            while len(mask.shape) < 4:
                mask = ops.expand_dims(mask, -3)
            # an additive bias at the mask's (broadcast) shape: cheaper than a select over the
            # full (B, h, Tq, Tk) scores, forward and backward
            bias = ops.where(mask, ops.cast(0.0, scores.dtype),
                             ops.cast(_neg_inf(scores.dtype), scores.dtype))
            scores = scores + bias
        weights = ops.softmax(scores, axis=-1)
        if self.attention_dropout is not None:
            weights = self.attention_dropout(weights, training=training)
        out = ops.matmul(weights, v)  # (B, h, Tq, d/h)
        out = ops.transpose(out, (0, 2, 1, 3))
        b, t = ops.shape(out)[0], ops.shape(out)[1]
        out = ops.reshape(out, (b, t, d))
        out = ops.matmul(out, ops.cast(self.output_kernel, self.compute_dtype))
        if self.use_bias:
            out = out + ops.cast(self.output_bias, self.compute_dtype)
        return out if cache is None else (out, cache)

    def compute_output_shape(self, query_shape, value_shape=None, attention_mask_shape=None):
        return tuple(query_shape)

    def compute_macs(self, input_shapes, output_shapes):
        q = input_shapes[0]
        kv = input_shapes[1] if getattr(self, "_cross", False) else q
        tq, tk, d = int(np.prod(q[:-1])), int(np.prod(kv[:-1])), self.d_model
        projections = tq * d * d + tk * d * 2 * d + tq * d * d  # q, k/v, output
        attention = 2 * int(q[0]) * q[1] * kv[1] * d  # scores and weighted sum, all heads
        return projections + attention

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "d_model": self.d_model,
                "num_heads": self.num_heads,
                "dropout": self.dropout,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            }
        )
        return config
