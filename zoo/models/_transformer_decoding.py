"""Encoder and decoder of a `zoo.transformer` model for decoding: sub-models without a cache, and
a decoder that runs one target position at a time with key/value caches.

`encoder_decoder(model)` gives functional sub-models sharing the model's weights (the decoder runs
over a whole target prefix). `cached_decoder(model)` follows keras-hub's cached decoding: every
decoder layer keeps the keys and values of the target positions decoded so far in a cache
(batch, 2, length, heads, head_dim), a tuple of one per layer (5-D tensors: TFLite's slices take
no more); a step embeds the token at position `index`, writes its keys and values there and
attends over the cache, so the prefix is never recomputed. The encoder-decoder attention's keys
and values of the encoder outputs are projected once per sequence (`start`). Both are `keras.ops`
only; `zoo.models.transformer_decoding` uses them, and `zoo.models.transformer` re-exports them.

Example:
    >>> import numpy as np, zoo
    >>> from zoo.models.transformer import cached_decoder
    >>> model = zoo.transformer_seq2seq(vocabulary_size=50, num_layers=1, d_model=16, d_ff=32,
    ...                                 num_heads=2)
    >>> src, tgt = np.array([[5, 6, 2]], "int32"), np.array([[1, 7, 0]], "int32")
    >>> dec = cached_decoder(model)
    >>> cache, cross = dec.start(dec.encoder(src), length=3)
    >>> hidden, cache = dec.step(tgt, 0, cache, cross, src)
    >>> hidden, cache = dec.step(tgt, 1, cache, cross, src)
    >>> logits = np.asarray(dec.project(hidden))
    >>> bool(np.allclose(logits, np.asarray(model([src, tgt[:, :2]]))[:, 1], atol=1e-5))
    True
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["encoder_decoder", "cached_decoder", "CachedDecoder"]


def _stack(model, prefix):
    layers = {layer.name: layer for layer in model.layers}
    n = 0
    while f"{prefix}_layer_{n}" in layers:
        n += 1
    if n == 0:
        raise ValueError(
            f"`model` must be built by zoo.transformer (no layer named '{prefix}_layer_0'). "
            f"Received: model={model.name!r}"
        )
    return layers, [layers[f"{prefix}_layer_{i}"] for i in range(n)]


# Long only by its docstring (every argument documented); the code is 49 lines.
def encoder_decoder(model):
    """The encoder and decoder of a `zoo.transformer` model as functional models sharing weights.

    Returns:
        `(encoder, decoder, project)`: `encoder(source_ids) -> encoder_outputs` (batch, S, d);
        `decoder([target_ids, encoder_outputs, source_ids]) -> hidden states` (batch, T, d) (before
        the pre-softmax projection; source ids give the padding mask); `project(hidden) -> logits`
        applies the (tied or separate) pre-softmax projection to any (..., d) tensor.

    Example:
        >>> import numpy as np, zoo
        >>> from zoo.models.transformer import encoder_decoder
        >>> model = zoo.transformer_seq2seq(vocabulary_size=50, num_layers=1, d_model=16, d_ff=32,
    ...                                 num_heads=2)
        >>> encoder, decoder, project = encoder_decoder(model)
        >>> src, tgt = np.array([[5, 6, 2]], "int32"), np.array([[1, 7]], "int32")
        >>> memory = np.asarray(encoder(src))
        >>> logits = project(decoder([tgt, memory, src]))
        >>> bool(np.allclose(logits, model([src, tgt]), atol=1e-5))
        True
    """
    cached = getattr(model, "_zoo_encoder_decoder", None)
    if cached is not None:
        return cached
    layers, encoder_layers = _stack(model, "encoder")
    _, decoder_layers = _stack(model, "decoder")
    if "shared_embedding" in layers:
        source_embedding = target_embedding = layers["shared_embedding"]
    else:
        source_embedding, target_embedding = layers["source_embedding"], layers["target_embedding"]
    positional, padding = layers["positional_encoding"], layers["padding_mask"]
    d_model = source_embedding.d_model

    def embed(ids, embedding, prefix):
        x = positional(embedding(ids))
        if f"{prefix}_dropout" in layers:
            x = layers[f"{prefix}_dropout"](x)
        return x

    source_ids = keras.Input(shape=(None,), dtype="int32", name="source_ids")
    x = embed(source_ids, source_embedding, "source")
    source_mask = padding(source_ids)
    for layer in encoder_layers:
        x = layer(x, padding_mask=source_mask)
    if "encoder_norm" in layers:
        x = layers["encoder_norm"](x)
    encoder = keras.Model(source_ids, x, name=f"{model.name}_encoder")

    target_ids = keras.Input(shape=(None,), dtype="int32", name="target_ids")
    memory = keras.Input(shape=(None, d_model), name="encoder_outputs")
    src_ids = keras.Input(shape=(None,), dtype="int32", name="source_ids")
    src_mask = padding(src_ids)
    y = embed(target_ids, target_embedding, "target")
    target_mask = padding(target_ids)
    for layer in decoder_layers:
        y = layer(y, memory, decoder_padding_mask=target_mask, encoder_padding_mask=src_mask)
    if "decoder_norm" in layers:
        y = layers["decoder_norm"](y)
    decoder = keras.Model([target_ids, memory, src_ids], y, name=f"{model.name}_decoder")

    if "output_projection" in layers:
        project = layers["output_projection"]
    else:
        def project(hidden):
            return target_embedding(hidden, reverse=True)

    result = (encoder, decoder, project)
    model._zoo_encoder_decoder = result
    return result


class CachedDecoder:
    """The decoder of a `zoo.transformer` model, one target position per call, with caches.

    Built by `cached_decoder(model)`; shares the model's layers and weights (no new weights).

    Attributes:
        encoder: `encoder(source_ids) -> encoder_outputs`, as in `encoder_decoder`.
        project: the pre-softmax projection of any (..., d_model) tensor.
        num_layers, num_heads, head_dim: the sizes of the caches.
    """

    def __init__(self, model):
        encoder, _, project = encoder_decoder(model)
        layers, self.layers = _stack(model, "decoder")
        self.encoder, self.project = encoder, project
        self.embedding = layers["shared_embedding" if "shared_embedding" in layers
                                else "target_embedding"]
        self.positional, self.padding = layers["positional_encoding"], layers["padding_mask"]
        self.norm = layers.get("decoder_norm")
        attention = self.layers[0].self_attention
        self.num_layers = len(self.layers)
        self.num_heads, self.head_dim = attention.num_heads, attention.head_dim
        self.dtype = attention.compute_dtype

    def start(self, encoder_outputs, length):
        """`(cache, cross_cache)` for `length` target positions, tuples with one tensor per layer:
        zeros (batch, 2, length, heads, head_dim), and the encoder outputs' keys and values of
        the layer's encoder-decoder attention (batch, 2, source length, heads, head_dim)."""
        cross = tuple(layer.cross_attention.key_value_cache(encoder_outputs)
                      for layer in self.layers)
        shape = (ops.shape(encoder_outputs)[0], 2, length, self.num_heads, self.head_dim)
        return tuple(ops.zeros(shape, self.dtype) for _ in self.layers), cross

    def step(self, target_ids, index, cache, cross_cache, source_ids):
        """The hidden state (batch, d_model) at position `index` of `target_ids`, and the cache.

        Args:
            target_ids: int32 (batch, length): the buffer being decoded (positions up to
                `index` hold the tokens so far; its padding ids are masked like the uncached
                decoder's).
            index: the position to decode (int or scalar tensor).
            cache, cross_cache: from `start` (the cache: or from the previous step).
            source_ids: int32 (batch, source length), for the source padding mask.
        """
        token = ops.expand_dims(ops.take(target_ids, index, axis=1), 1)  # (B, 1)
        x = self.positional(self.embedding(token), start_index=index)
        target_mask, source_mask = self.padding(target_ids), self.padding(source_ids)
        updated = []
        for layer, layer_cache, layer_cross in zip(self.layers, cache, cross_cache):
            x, layer_cache = layer(
                x, None, decoder_padding_mask=target_mask, encoder_padding_mask=source_mask,
                training=False, self_attention_cache=layer_cache,
                self_attention_cache_update_index=index, cross_attention_cache=layer_cross,
            )
            updated.append(layer_cache)
        if self.norm is not None:
            x = self.norm(x)
        return x[:, 0], tuple(updated)


def cached_decoder(model):
    """The `CachedDecoder` of a `zoo.transformer` model (made once per model)."""
    made = getattr(model, "_zoo_cached_decoder", None)
    if made is None:
        made = model._zoo_cached_decoder = CachedDecoder(model)
    return made
