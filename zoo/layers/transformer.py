"""Transformer building blocks of "Attention Is All You Need" (Vaswani et al. 2017).

Serializable Keras 3 layers written with `keras.ops` only (TensorFlow, JAX and torch backends):

- `TokenEmbedding`: token ids to vectors scaled by sqrt(d_model) (section 3.4); called with
  `reverse=True` it multiplies by the transposed embedding matrix, the tied pre-softmax projection.
- `PositionalEncoding`: adds the sinusoids PE(pos, 2i) = sin(pos / 10000^(2i/d)),
  PE(pos, 2i+1) = cos(pos / 10000^(2i/d)) (section 3.5).
- `PaddingMask`: `ids != pad_id`, the boolean mask the attention layers take.
- `MultiHeadAttention` (from `zoo.layers.attention`, with its key/value cache for decoding):
  scaled dot-product attention over h heads with one fused (d, 3d) query/key/value kernel (3.2).
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

from zoo.layers.attention import MultiHeadAttention
from zoo.layers.attention import positive_int as _positive_int
from zoo.layers.attention import rate as _rate

__all__ = [
    "TokenEmbedding",
    "PositionalEncoding",
    "PaddingMask",
    "TransformerEncoderLayer",
    "TransformerDecoderLayer",
    "causal_mask",
    "check_block_args",
    "sinusoidal_table",
]


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

    Call arguments:
        inputs: (batch, length, d).
        start_index: the position of the first row (default 0), for decoding one step at a time.

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

    def call(self, inputs, start_index=None):
        length = ops.shape(inputs)[1]
        table = ops.convert_to_tensor(self._table, dtype=self.compute_dtype)
        if start_index is None:
            return inputs + ops.cast(table[:length], inputs.dtype)[None]
        # positions start_index, start_index + 1, ... (one decoding step at a time)
        rows = ops.slice(table, [start_index, 0], [length, ops.shape(table)[1]])
        return inputs + ops.cast(rows, inputs.dtype)[None]

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
        encoder_outputs: (batch, S, d_model); may be None with `cross_attention_cache`.
        decoder_padding_mask: optional boolean (batch, T), True at real target tokens; with a
            self-attention cache, (batch, cache length) over the cached positions.
        encoder_padding_mask: optional boolean (batch, S), True at real source tokens.
        training: whether dropout is active.
        self_attention_cache: for decoding (keras-hub's `TransformerDecoder` design), the keys and
            values of earlier target positions (batch, 2, cache length, h, d/h); `inputs` are
            then the positions from `self_attention_cache_update_index` on, their keys and values
            are written there, they attend to the cached positions up to their own, and the call
            returns `(outputs, updated cache)`.
        self_attention_cache_update_index: the position of `inputs[:, 0]` (an int or scalar).
        cross_attention_cache: the encoder outputs' keys and values (batch, 2, S, h, d/h), from
            `cross_attention.key_value_cache(encoder_outputs)`, computed once per sequence.

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

    def call(self, inputs, encoder_outputs=None, decoder_padding_mask=None,
             encoder_padding_mask=None, training=None, self_attention_cache=None,
             self_attention_cache_update_index=None, cross_attention_cache=None):
        cache, index = self_attention_cache, self_attention_cache_update_index
        if cache is None:
            self_mask = causal_mask(ops.shape(inputs)[1])[None]  # (1, T, T)
        else:  # query t (at position index + t) sees the cached keys at positions <= index + t
            queries = ops.arange(ops.shape(inputs)[1]) + ops.cast(index, "int32")
            self_mask = (ops.arange(ops.shape(cache)[2])[None, :] <= queries[:, None])[None]
        if decoder_padding_mask is not None:
            self_mask = ops.logical_and(self_mask, ops.expand_dims(decoder_padding_mask, 1))
        cross_mask = None
        if encoder_padding_mask is not None:
            cross_mask = ops.expand_dims(encoder_padding_mask, 1)  # (B, 1, S)
        updated = []

        def self_attend(h):
            if cache is None:
                return self.self_attention(h, attention_mask=self_mask, training=training)
            out, new_cache = self.self_attention(h, attention_mask=self_mask, training=training,
                                                 cache=cache, cache_update_index=index)
            updated.append(new_cache)
            return out

        def cross_attend(h):
            if cross_attention_cache is None:
                return self.cross_attention(h, encoder_outputs, attention_mask=cross_mask,
                                            training=training)
            return self.cross_attention(h, attention_mask=cross_mask, training=training,
                                        cache=cross_attention_cache)[0]

        x = self._wrap(inputs, self.self_attention_norm, self_attend, training)
        x = self._wrap(x, self.cross_attention_norm, cross_attend, training)
        x = self._wrap(x, self.ffn_norm, self._feed_forward, training)
        return x if cache is None else (x, updated[0])
