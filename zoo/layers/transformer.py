"""Transformer building blocks of "Attention Is All You Need" (Vaswani et al. 2017).

Serializable Keras 3 layers written with `keras.ops` only (TensorFlow, JAX and torch backends):

- `TokenEmbedding`: token ids to vectors scaled by sqrt(d_model) (section 3.4); called with
  `reverse=True` it multiplies by the transposed embedding matrix, the tied pre-softmax projection.
- `PositionalEncoding`: adds the sinusoids PE(pos, 2i) = sin(pos / 10000^(2i/d)),
  PE(pos, 2i+1) = cos(pos / 10000^(2i/d)) (section 3.5).
- `PaddingMask`: `ids != pad_id`, the boolean mask the attention layers take.
- `MultiHeadAttention`: scaled dot-product attention over h heads with one fused (d, 3d)
  query/key/value kernel (section 3.2).
- `TransformerEncoderLayer` / `TransformerDecoderLayer`: self-attention (masked in the decoder),
  encoder-decoder attention, position-wise feed-forward network, dropout on each sub-layer output,
  residual connections and layer normalisation after each sub-layer (the paper, "post-norm") or
  before it (`pre_norm=True`).

Masks are boolean, True where attention is allowed. Padding masks have shape (batch, length);
the decoder adds its causal mask itself.

Reference:
    Vaswani et al. 2017, Attention Is All You Need, arXiv:1706.03762.

Example:
    >>> import numpy as np
    >>> from zoo.layers.transformer import (TokenEmbedding, PositionalEncoding, PaddingMask,
    ...                                     TransformerEncoderLayer)
    >>> ids = np.array([[5, 7, 9, 0]], "int32")
    >>> x = PositionalEncoding(max_length=16)(TokenEmbedding(50, 16)(ids))
    >>> y = TransformerEncoderLayer(16, 2, 32)(x, padding_mask=PaddingMask()(ids))
    >>> tuple(y.shape)
    (1, 4, 16)
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

__all__ = [
    "TokenEmbedding",
    "PositionalEncoding",
    "PaddingMask",
    "MultiHeadAttention",
    "TransformerEncoderLayer",
    "TransformerDecoderLayer",
    "causal_mask",
    "check_block_args",
    "sinusoidal_table",
]


def _positive_int(name, value):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(value)


def _rate(name, value):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
        raise ValueError(f"`{name}` must be a float in [0, 1). Received: {name}={value!r}")
    return float(value)


def sinusoidal_table(length, d_model):
    """The (length, d_model) float32 table of section 3.5 (sines at even, cosines at odd columns)."""
    pos = np.arange(length, dtype=np.float64)[:, None]
    i = np.arange(0, d_model, 2, dtype=np.float64)[None, :]
    angles = pos / np.power(10000.0, i / d_model)
    table = np.zeros((length, d_model), dtype=np.float64)
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles[:, : d_model // 2])
    return table.astype("float32")


def causal_mask(length):
    """A (length, length) boolean mask, True where query position i may see key position j <= i."""
    idx = ops.arange(length)
    return ops.greater_equal(idx[:, None], idx[None, :])


def _neg_inf(dtype):
    return -1e9 if keras.backend.standardize_dtype(dtype) in ("float32", "float64") else -3e4


@keras.saving.register_keras_serializable(package="zoo")
class TokenEmbedding(keras.layers.Layer):
    """Token embedding scaled by sqrt(d_model), usable as the tied pre-softmax projection.

    `layer(ids)` returns `embeddings[ids] * sqrt(d_model)` (section 3.4 multiplies the embedding
    weights by sqrt(d_model)); `layer(x, reverse=True)` returns the logits `x @ embeddings^T`, so
    one matrix serves as source embedding, target embedding and pre-softmax projection.

    Args:
        vocab_size: number of tokens.
        d_model: embedding size.
        scale: multiply looked-up vectors by sqrt(d_model).
        embeddings_initializer: initializer; the default draws N(0, d_model^-0.5), so scaled
            embeddings start at unit variance, as in tensor2tensor.
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:
        >>> import numpy as np
        >>> emb = TokenEmbedding(vocab_size=10, d_model=4)
        >>> x = emb(np.array([[1, 2]], "int32"))
        >>> tuple(emb(x, reverse=True).shape)
        (1, 2, 10)
    """

    def __init__(self, vocab_size, d_model, scale=True, embeddings_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = _positive_int("vocab_size", vocab_size)
        self.d_model = _positive_int("d_model", d_model)
        self.scale = bool(scale)
        if embeddings_initializer is None:
            embeddings_initializer = keras.initializers.RandomNormal(stddev=self.d_model**-0.5)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.vocab_size, self.d_model),
            initializer=self.embeddings_initializer,
        )
        self.built = True

    def call(self, inputs, reverse=False):
        if reverse:
            kernel = ops.cast(self.embeddings, self.compute_dtype)
            return ops.matmul(inputs, ops.transpose(kernel))
        if keras.backend.standardize_dtype(inputs.dtype) not in ("int32", "int64"):
            inputs = ops.cast(inputs, "int32")
        x = ops.take(self.embeddings, inputs, axis=0)
        x = ops.cast(x, self.compute_dtype)
        if self.scale:
            x = x * ops.cast(math.sqrt(self.d_model), self.compute_dtype)
        return x

    def compute_macs(self, input_shapes, output_shapes):
        # The lookup is free; the reverse (pre-softmax) call is a matrix product.
        ins, outs = input_shapes[0], output_shapes[0]
        if len(outs) == len(ins) and outs[-1] == self.vocab_size and ins[-1] == self.d_model:
            return int(np.prod(ins)) * self.vocab_size
        return 0

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocab_size": self.vocab_size,
                "d_model": self.d_model,
                "scale": self.scale,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="zoo")
class PositionalEncoding(keras.layers.Layer):
    """Adds the sinusoidal positional encoding of section 3.5 to a (batch, length, d) input.

    Args:
        max_length: the longest sequence the table covers.
        **kwargs: `keras.layers.Layer` arguments.

    Example:
        >>> import numpy as np
        >>> pe = PositionalEncoding(max_length=8)
        >>> y = pe(np.zeros((1, 3, 4), "float32"))
        >>> [round(float(v), 3) for v in np.asarray(y)[0, 1]]   # sin 1, cos 1, sin .01, cos .01
        [0.841, 0.54, 0.01, 1.0]
    """

    def __init__(self, max_length=2048, **kwargs):
        super().__init__(**kwargs)
        self.max_length = _positive_int("max_length", max_length)
        self._table = None

    def build(self, input_shape):
        d = input_shape[-1]
        if d is None:
            raise ValueError(
                f"The last dimension of the input to PositionalEncoding must be known. "
                f"Received: input_shape={input_shape}"
            )
        self._table = sinusoidal_table(self.max_length, int(d))
        self.built = True

    def call(self, inputs):
        length = ops.shape(inputs)[1]
        table = ops.convert_to_tensor(self._table, dtype=self.compute_dtype)
        return inputs + ops.cast(table[:length], inputs.dtype)[None]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"max_length": self.max_length})
        return config


@keras.saving.register_keras_serializable(package="zoo")
class PaddingMask(keras.layers.Layer):
    """`ids != pad_id`: True at real tokens, False at padding.

    Example:
        >>> import numpy as np
        >>> np.asarray(PaddingMask()(np.array([[4, 5, 0]], "int32"))).tolist()
        [[True, True, False]]
    """

    def __init__(self, pad_id=0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(pad_id, (int, np.integer)) or isinstance(pad_id, bool):
            raise ValueError(f"`pad_id` must be an integer. Received: pad_id={pad_id!r}")
        self.pad_id = int(pad_id)
        self.built = True

    def call(self, inputs):
        return ops.not_equal(inputs, ops.cast(self.pad_id, inputs.dtype))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape, dtype="bool")

    def get_config(self):
        config = super().get_config()
        config.update({"pad_id": self.pad_id})
        return config


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

    Example:
        >>> import numpy as np
        >>> mha = MultiHeadAttention(d_model=8, num_heads=2)
        >>> tuple(mha(np.ones((2, 3, 8), "float32")).shape)
        (2, 3, 8)
    """

    def __init__(self, d_model, num_heads, dropout=0.0, use_bias=True,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.d_model = _positive_int("d_model", d_model)
        self.num_heads = _positive_int("num_heads", num_heads)
        if self.d_model % self.num_heads:
            raise ValueError(
                "`d_model` must be divisible by `num_heads`. "
                f"Received: d_model={d_model}, num_heads={num_heads}"
            )
        self.dropout = _rate("dropout", dropout)
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

    def call(self, query, value=None, attention_mask=None, training=None):
        d = self.d_model
        self._cross = value is not None  # read by compute_macs
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
        q = self._split_heads(q * ops.cast(self.head_dim**-0.5, q.dtype))
        k = self._split_heads(k)
        v = self._split_heads(v)
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
        return out

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


def check_block_args(d_model, num_heads, d_ff, dropout, attention_dropout):
    """Validate the arguments shared by the encoder and decoder layers (and the builders)."""
    _positive_int("d_model", d_model)
    _positive_int("num_heads", num_heads)
    _positive_int("d_ff", d_ff)
    _rate("dropout", dropout)
    _rate("attention_dropout", attention_dropout)
    if d_model % num_heads:
        raise ValueError(
            "`d_model` must be divisible by `num_heads`. "
            f"Received: d_model={d_model}, num_heads={num_heads}"
        )


class _TransformerBlock(keras.layers.Layer):
    """What encoder and decoder layers share: arguments, self-attention, feed-forward network,
    and the residual/dropout/normalisation wrapper of each sub-layer."""

    def __init__(self, d_model, num_heads, d_ff, dropout=0.0, attention_dropout=0.0,
                 pre_norm=False, activation="relu", layer_norm_epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        check_block_args(d_model, num_heads, d_ff, dropout, attention_dropout)
        self.d_model, self.num_heads, self.d_ff = int(d_model), int(num_heads), int(d_ff)
        self.dropout, self.attention_dropout = float(dropout), float(attention_dropout)
        self.pre_norm = bool(pre_norm)
        self.activation = keras.activations.serialize(keras.activations.get(activation))
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.self_attention = self._attention("self_attention")
        self.self_attention_norm = self._norm("self_attention_norm")
        self.ffn_inner = keras.layers.Dense(self.d_ff, activation=activation, name="ffn_inner")
        self.ffn_output = keras.layers.Dense(self.d_model, name="ffn_output")
        self.ffn_norm = self._norm("ffn_norm")
        self.residual_dropout = keras.layers.Dropout(self.dropout)

    def _attention(self, name):
        return MultiHeadAttention(self.d_model, self.num_heads, self.attention_dropout, name=name)

    def _norm(self, name):
        return keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name=name)

    def _build_common(self, shape):
        self.self_attention.build(shape)
        self.self_attention_norm.build(shape)
        self.ffn_inner.build(shape)
        self.ffn_output.build(shape[:-1] + (self.d_ff,))
        self.ffn_norm.build(shape)

    def _wrap(self, x, norm, fn, training):
        if self.pre_norm:
            return x + self.residual_dropout(fn(norm(x)), training=training)
        return norm(x + self.residual_dropout(fn(x), training=training))

    def _feed_forward(self, x):
        return self.ffn_output(self.ffn_inner(x))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "d_model": self.d_model,
                "num_heads": self.num_heads,
                "d_ff": self.d_ff,
                "dropout": self.dropout,
                "attention_dropout": self.attention_dropout,
                "pre_norm": self.pre_norm,
                "activation": self.activation,
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="zoo")
class TransformerEncoderLayer(_TransformerBlock):
    """One encoder layer: self-attention and a position-wise feed-forward network (section 3.1).

    Each sub-layer is `LayerNorm(x + Dropout(Sublayer(x)))` as in the paper, or
    `x + Dropout(Sublayer(LayerNorm(x)))` with `pre_norm=True` (then put one more LayerNorm after
    the last layer). The feed-forward network is `max(0, x W1 + b1) W2 + b2` (equation 2).

    Args:
        d_model: model width.
        num_heads: attention heads h.
        d_ff: inner width of the feed-forward network.
        dropout: dropout rate on each sub-layer output (P_drop).
        attention_dropout: dropout rate on the attention weights (0 in the paper).
        pre_norm: normalise before each sub-layer instead of after the residual sum.
        activation: activation of the feed-forward network (the paper: relu).
        layer_norm_epsilon: epsilon of the layer normalisations.
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        inputs: (batch, length, d_model).
        padding_mask: optional boolean (batch, length), True at real tokens.
        training: whether dropout is active.

    Example:
        >>> import numpy as np
        >>> layer = TransformerEncoderLayer(d_model=8, num_heads=2, d_ff=16)
        >>> tuple(layer(np.ones((2, 5, 8), "float32")).shape)
        (2, 5, 8)
    """

    def build(self, inputs_shape, padding_mask_shape=None):
        self._build_common(tuple(inputs_shape))
        self.built = True

    def call(self, inputs, padding_mask=None, training=None):
        mask = None if padding_mask is None else ops.expand_dims(padding_mask, 1)  # (B, 1, S)
        x = self._wrap(
            inputs, self.self_attention_norm,
            lambda h: self.self_attention(h, attention_mask=mask, training=training), training,
        )
        return self._wrap(x, self.ffn_norm, self._feed_forward, training)


@keras.saving.register_keras_serializable(package="zoo")
class TransformerDecoderLayer(_TransformerBlock):
    """One decoder layer: masked self-attention, encoder-decoder attention, feed-forward (3.1).

    The self-attention is causal (position t sees positions <= t only), so the output at t does
    not depend on later target tokens. Same arguments and normalisation options as
    `TransformerEncoderLayer`.

    Call arguments:
        inputs: (batch, T, d_model) target representations.
        encoder_outputs: (batch, S, d_model).
        decoder_padding_mask: optional boolean (batch, T), True at real target tokens.
        encoder_padding_mask: optional boolean (batch, S), True at real source tokens.
        training: whether dropout is active.

    Example:
        >>> import numpy as np
        >>> layer = TransformerDecoderLayer(d_model=8, num_heads=2, d_ff=16)
        >>> y = layer(np.ones((2, 4, 8), "float32"), np.ones((2, 6, 8), "float32"))
        >>> tuple(y.shape)
        (2, 4, 8)
    """

    def __init__(self, d_model, num_heads, d_ff, dropout=0.0, attention_dropout=0.0,
                 pre_norm=False, activation="relu", layer_norm_epsilon=1e-6, **kwargs):
        super().__init__(d_model, num_heads, d_ff, dropout, attention_dropout, pre_norm,
                         activation, layer_norm_epsilon, **kwargs)
        self.cross_attention = self._attention("cross_attention")
        self.cross_attention_norm = self._norm("cross_attention_norm")

    def build(self, inputs_shape, encoder_outputs_shape=None, decoder_padding_mask_shape=None,
              encoder_padding_mask_shape=None):
        shape = tuple(inputs_shape)
        self._build_common(shape)
        self.cross_attention.build(shape, encoder_outputs_shape)
        self.cross_attention_norm.build(shape)
        self.built = True

    def call(self, inputs, encoder_outputs, decoder_padding_mask=None, encoder_padding_mask=None,
             training=None):
        self_mask = causal_mask(ops.shape(inputs)[1])[None]  # (1, T, T)
        if decoder_padding_mask is not None:
            self_mask = ops.logical_and(self_mask, ops.expand_dims(decoder_padding_mask, 1))
        cross_mask = None
        if encoder_padding_mask is not None:
            cross_mask = ops.expand_dims(encoder_padding_mask, 1)  # (B, 1, S)
        x = self._wrap(
            inputs, self.self_attention_norm,
            lambda h: self.self_attention(h, attention_mask=self_mask, training=training), training,
        )
        x = self._wrap(
            x, self.cross_attention_norm,
            lambda h: self.cross_attention(
                h, encoder_outputs, attention_mask=cross_mask, training=training
            ),
            training,
        )
        return self._wrap(x, self.ffn_norm, self._feed_forward, training)
