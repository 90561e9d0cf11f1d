"""Decoding for `zoo.transformer_seq2seq` models, in `keras.ops`: greedy and beam search, and the
encoder and cached decoder sub-models they run (`encoder_decoder`, `cached_decoder`, re-exported by
`zoo.models.transformer`).

Written for static shapes: the target buffer has a fixed length (`max_length` + 1 for the start
token) and the loop is `keras.ops.while_loop`, so the functions trace inside a `tf.function` with
a `(None, None)` int32 input signature (the batch and source length unknown) and export to a
SavedModel for TF Serving; on JAX they trace under `jax.jit`. By default (`cache=True`) each step
runs the decoder on the newest token only, reusing the keys and values of the earlier target
positions from caches of fixed size (batch, 2, max_length + 1, heads, head_dim), one per layer,
as keras-hub's cached decoding does; the encoder outputs' keys and values are projected once. With
`cache=False` each step runs the decoder over the whole buffer (the causal mask makes the
positions after the current one irrelevant) and reads the hidden state at the current position:
the reference the cached decoder is tested against (same tokens, scores equal to rounding).
Either way only that row goes through the pre-softmax projection.

Beam search follows tensor2tensor / GNMT: every step extends each of the `beam_size` live
hypotheses, keeps the 2k best extensions, moves those ending in `end_id` into a finished set
scored by log P / lp(length) with lp = ((5 + length) / 6)^alpha (Wu et al. 2016), and keeps the
k best unfinished ones alive; it stops when no live hypothesis can beat the best finished one,
or at `max_length`. The paper used beam size 4 and alpha 0.6 (section 6.1).

Reference:
    Vaswani et al. 2017, Attention Is All You Need, arXiv:1706.03762 (section 6.1);
    Wu et al. 2016, Google's Neural Machine Translation System, arXiv:1609.08144 (eq. 14).

Example:
    >>> import numpy as np, zoo
    >>> from zoo.models.transformer_decoding import translate
    >>> model = zoo.transformer_seq2seq(vocabulary_size=20, num_layers=1, d_model=16, d_ff=32,
    ...                                 num_heads=2)
    >>> out = translate(model, np.array([[5, 6, 7, 2]], "int32"), max_length=6, beam_size=2)
    >>> tuple(out["target_ids"].shape), tuple(out["scores"].shape)
    ((1, 6), (1,))
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["greedy_decode", "beam_search", "translate", "length_penalty", "encoder_decoder",
           "cached_decoder", "CachedDecoder"]

_NEG = -1e9


def _check(max_length, beam_size=1, alpha=0.0, cache=True):
    if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1:
        raise ValueError(
            f"`max_length` must be a positive Python integer (a static buffer size). "
            f"Received: max_length={max_length!r}"
        )
    if not isinstance(beam_size, int) or isinstance(beam_size, bool) or beam_size < 1:
        raise ValueError(f"`beam_size` must be a positive integer. Received: beam_size={beam_size!r}")
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or alpha < 0:
        raise ValueError(f"`alpha` must be a number >= 0. Received: alpha={alpha!r}")
    if not isinstance(cache, bool):
        raise ValueError(f"`cache` must be True or False. Received: cache={cache!r}")


def length_penalty(length, alpha):
    """GNMT's length penalty lp(Y) = ((5 + |Y|) / 6)^alpha."""
    return ops.power((5.0 + ops.cast(length, "float32")) / 6.0, float(alpha))


def _log_probs(project, hidden, pad_id):
    """Log-probabilities (n, V) of the next token from the hidden states (n, d)."""
    logits = ops.cast(project(hidden), "float32")  # (n, V)
    vocab = ops.shape(logits)[-1]
    # never emit padding
    logits = ops.where(ops.arange(vocab)[None, :] == pad_id, _NEG, logits)
    return ops.log_softmax(logits, axis=-1)


class _Steps:
    """The next-token log-probabilities of every step, with the decoder's cache or without.

    With `cache=True` (`zoo.models.transformer.cached_decoder`) a step runs the decoder on the
    token at position `i` only: each layer writes its keys and values into its cache (n, 2,
    length, heads, head_dim) in the state, and attends over the positions decoded so far; the
    encoder-decoder keys and values are projected once, here. With `cache=False` (the reference)
    a step runs the decoder over the whole buffer (the causal mask makes the positions after `i`
    irrelevant) and reads the hidden state at `i`; the state is a placeholder scalar.

    `repeat` > 1 (beam search) repeats each example's source that many times, example-major.
    """

    def __init__(self, model, source_ids, length, cache, repeat=1):
        encoder, self.decoder, self.project = encoder_decoder(model)
        memory = encoder(source_ids, training=False)  # (B, S, d)
        if repeat > 1:
            source_ids, memory = ops.repeat(source_ids, repeat, 0), ops.repeat(memory, repeat, 0)
        self.source_ids, self.memory = source_ids, memory
        self.cached = cached_decoder(model) if cache else None
        if self.cached is None:
            self.state = ops.zeros((), "float32")
        else:
            self.state, self.cross = self.cached.start(memory, length)

    def __call__(self, seqs, i, state, pad_id):
        """`(log_probs (n, V), state)` for the token after position `i` of `seqs` (n, L)."""
        if self.cached is not None:
            hidden, state = self.cached.step(seqs, i, state, self.cross, self.source_ids)
        else:
            hidden = self.decoder([seqs, self.memory, self.source_ids], training=False)
            hidden = ops.take(hidden, i, axis=1)  # (n, d)
        return _log_probs(self.project, hidden, pad_id), state


def _write(seqs, position, tokens):
    """seqs[..., position] = tokens (static-shape scatter by a one-hot position mask)."""
    length = ops.shape(seqs)[-1]
    at = ops.arange(length) == position
    return ops.where(at, ops.expand_dims(ops.cast(tokens, seqs.dtype), -1), seqs)


def greedy_decode(model, source_ids, max_length=64, start_id=1, end_id=2, pad_id=0, cache=True):
    """Greedy decoding: the most probable token at every step until `end_id` or `max_length`.

    Args:
        model: a `zoo.transformer` model (or one of its registered variants).
        source_ids: int32 (batch, source length), padded with `pad_id`.
        max_length: number of tokens generated at most (a Python int: the static buffer size).
        start_id: the start-of-sequence id fed first to the decoder.
        end_id: the end-of-sequence id.
        pad_id: padding id, written after `end_id` and never generated.
        cache: decode with the key/value caches (each step runs the decoder on one position);
            False runs the decoder over the whole prefix at every step (the reference: same
            tokens, scores equal to rounding).

    Returns:
        A dict: `target_ids` int32 (batch, max_length), the generated tokens (end id included,
        padding after it); `scores` float32 (batch,), their summed log-probabilities.

    Example:
        >>> import numpy as np, zoo
        >>> model = zoo.transformer_seq2seq(vocabulary_size=20, num_layers=1, d_model=16, d_ff=32,
        ...                                 num_heads=2)
        >>> out = greedy_decode(model, np.array([[5, 6, 2]], "int32"), max_length=4)
        >>> tuple(out["target_ids"].shape)
        (1, 4)
    """
    _check(max_length, cache=cache)
    source_ids = ops.cast(source_ids, "int32")
    steps = _Steps(model, source_ids, max_length + 1, cache)
    batch = ops.shape(source_ids)[0]
    seqs = ops.concatenate(
        [ops.full((batch, 1), start_id, "int32"), ops.full((batch, max_length), pad_id, "int32")],
        axis=1,
    )
    scores = ops.zeros((batch,), "float32")
    finished = ops.zeros((batch,), "bool")

    def cond(i, seqs, scores, finished, state):
        return ops.logical_and(i < max_length, ops.logical_not(ops.all(finished)))

    def body(i, seqs, scores, finished, state):
        log_probs, state = steps(seqs, i, state, pad_id)
        # top_k rather than argmax + max: Keras' TF argmax adds a sign-bit test (bitcast,
        # BitwiseAnd) that TFLite builtins and tf2onnx's Loop cannot convert; same first-index ties
        best, token = ops.top_k(log_probs, 1)
        best, token = best[:, 0], ops.cast(token[:, 0], "int32")
        token = ops.where(finished, pad_id, token)
        scores = scores + ops.where(finished, 0.0, best)
        seqs = _write(seqs, i + 1, token)
        finished = ops.logical_or(finished, token == end_id)
        return i + 1, seqs, scores, finished, state

    _, seqs, scores, _, _ = ops.while_loop(
        cond, body, (ops.convert_to_tensor(0, "int32"), seqs, scores, finished, steps.state),
        maximum_iterations=max_length,
    )
    return {"target_ids": seqs[:, 1:], "scores": scores}


def _gather_beams(x, beam_index, batch, beams):
    """x (batch * beams_in, ...) gathered by beam_index (batch, beams) -> (batch, beams, ...)."""
    beams_in = ops.shape(x)[0] // batch
    offsets = ops.arange(batch)[:, None] * beams_in
    flat = ops.reshape(beam_index + offsets, (-1,))
    out = ops.take(x, flat, axis=0)
    return ops.reshape(out, (batch, beams) + tuple(x.shape[1:]))


# Long by design: one while_loop whose `cond` and `body` close over the beam state; pulling them
# out would pass ten tensors around. The body follows Wu et al. 2016 (section 7) step by step.
def beam_search(model, source_ids, max_length=64, beam_size=4, alpha=0.6, start_id=1, end_id=2,
                pad_id=0, cache=True):
    """Beam search with GNMT length penalty (section 6.1 of the paper: beam 4, alpha 0.6).

    Args:
        model: a `zoo.transformer` model.
        source_ids: int32 (batch, source length), padded with `pad_id`.
        max_length: number of tokens generated at most (a Python int).
        beam_size: live hypotheses per example (k).
        alpha: length-penalty exponent; 0 ranks by plain log-probability.
        start_id, end_id, pad_id: special token ids.
        cache: decode with the key/value caches, reordered with the beams at every step; False
            runs the decoder over the whole prefix of every hypothesis at every step.

    Returns:
        A dict: `target_ids` int32 (batch, max_length), the best hypothesis (end id included,
        padding after it); `scores` float32 (batch,), its log-probability divided by
        lp(length). Hypotheses that never produced `end_id` compete with their full length.

    Example:
        >>> import numpy as np, zoo
        >>> model = zoo.transformer_seq2seq(vocabulary_size=20, num_layers=1, d_model=16, d_ff=32,
        ...                                 num_heads=2)
        >>> out = beam_search(model, np.array([[5, 6, 2]], "int32"), max_length=4, beam_size=3)
        >>> tuple(out["target_ids"].shape)
        (1, 4)
    """
    _check(max_length, beam_size, alpha, cache)
    k = beam_size
    source_ids = ops.cast(source_ids, "int32")
    batch = ops.shape(source_ids)[0]
    length = max_length + 1
    # the source tiled k times: (B * k, ...), example-major
    steps = _Steps(model, source_ids, length, cache, repeat=k)

    alive_seq = ops.concatenate(
        [ops.full((batch * k, 1), start_id, "int32"),
         ops.full((batch * k, max_length), pad_id, "int32")], axis=1,
    )  # (B*k, L)
    first = ops.concatenate([ops.zeros((1,), "float32"), ops.full((k - 1,), _NEG, "float32")], 0)
    alive_lp = ops.zeros((batch, k), "float32") + first[None, :]
    fin_seq = ops.full((batch * k, length), pad_id, "int32")
    fin_score = ops.full((batch, k), _NEG, "float32")
    max_lp = length_penalty(max_length, alpha)

    def cond(i, alive_seq, alive_lp, fin_seq, fin_score, state):
        # stop when, for every example, the best finished score beats the best any live
        # hypothesis could still reach (its log-prob can only fall; lp is largest at max_length)
        best_alive = alive_lp[:, 0] / max_lp
        done = ops.all(fin_score[:, 0] > best_alive)
        return ops.logical_and(i < max_length, ops.logical_not(done))

    def body(i, alive_seq, alive_lp, fin_seq, fin_score, state):
        log_probs, state = steps(alive_seq, i, state, pad_id)
        vocab = ops.shape(log_probs)[-1]
        cand = ops.reshape(alive_lp, (-1, 1)) + log_probs  # (B*k, V)
        cand = ops.reshape(cand, (batch, -1))  # (B, k*V)
        top_lp, top_idx = ops.top_k(cand, 2 * k)  # (B, 2k)
        beam = top_idx // vocab
        token = ops.cast(top_idx % vocab, "int32")
        seqs = _gather_beams(alive_seq, beam, batch, 2 * k)  # (B, 2k, L)
        seqs = _write(seqs, i + 1, token)
        is_end = token == end_id

        # live: the k best extensions that did not end
        live_lp = ops.where(is_end, _NEG, top_lp)
        live_lp, live_idx = ops.top_k(live_lp, k)
        new_alive = _gather_beams(ops.reshape(seqs, (-1, length)), live_idx, batch, k)
        if steps.cached is not None:  # each live hypothesis takes its parent beam's cache
            parent = ops.take_along_axis(beam, live_idx, axis=1)  # (B, k)
            rows = ops.reshape(parent + ops.arange(batch)[:, None] * k, (-1,))
            state = tuple(ops.take(c, rows, axis=0) for c in state)

        # finished: merge the ended extensions, scored with the length penalty
        # (extensions of the -inf placeholder beams of the first step stay at -inf)
        real_end = ops.logical_and(is_end, top_lp > _NEG / 2)
        ended = ops.where(real_end, top_lp / length_penalty(i + 1, alpha), _NEG)
        all_scores = ops.concatenate([fin_score, ended], axis=1)  # (B, 3k)
        all_seqs = ops.concatenate(
            [ops.reshape(fin_seq, (batch, k, length)), seqs], axis=1
        )  # (B, 3k, L)
        fin_score, fin_idx = ops.top_k(all_scores, k)
        new_fin = _gather_beams(ops.reshape(all_seqs, (-1, length)), fin_idx, batch, k)
        return (
            i + 1,
            ops.reshape(new_alive, (-1, length)),
            live_lp,
            ops.reshape(new_fin, (-1, length)),
            fin_score,
            state,
        )

    _, alive_seq, alive_lp, fin_seq, fin_score, _ = ops.while_loop(
        cond, body,
        (ops.convert_to_tensor(0, "int32"), alive_seq, alive_lp, fin_seq, fin_score, steps.state),
        maximum_iterations=max_length,
    )
    # examples with no finished hypothesis fall back to their best live one (full length)
    has_finished = fin_score[:, 0] > _NEG / 2
    best_fin = ops.reshape(fin_seq, (batch, k, length))[:, 0]
    best_alive = ops.reshape(alive_seq, (batch, k, length))[:, 0]
    seqs = ops.where(has_finished[:, None], best_fin, best_alive)
    scores = ops.where(has_finished, fin_score[:, 0], alive_lp[:, 0] / max_lp)
    return {"target_ids": seqs[:, 1:], "scores": scores}


def translate(model, source_ids, max_length=64, beam_size=4, alpha=0.6, start_id=1, end_id=2,
              pad_id=0, cache=True):
    """Translate a batch of source ids: beam search (`beam_size` > 1) or greedy (`beam_size=1`).

    The function for serving: it traces in a `tf.function` with
    `input_signature=[tf.TensorSpec([None, None], tf.int32)]` (batch and length unknown);
    `max_length`, `beam_size` and `alpha` are fixed at trace time.

    Args:
        model: a `zoo.transformer` model.
        source_ids: int32 (batch, source length), padded with `pad_id`.
        max_length: tokens generated at most (Python int).
        beam_size: 1 for greedy decoding, otherwise the beam width (the paper: 4).
        alpha: length penalty of beam search (the paper: 0.6); unused by greedy decoding.
        start_id, end_id, pad_id: special token ids.
        cache: decode with key/value caches (the default; what the exported signatures run);
            False recomputes the whole prefix at every step (the reference).

    Returns:
        A dict with `target_ids` int32 (batch, max_length) and `scores` float32 (batch,).

    Example:
        >>> import numpy as np, tensorflow as tf, zoo
        >>> model = zoo.transformer_seq2seq(vocabulary_size=20, num_layers=1, d_model=16, d_ff=32,
        ...                                 num_heads=2)
        >>> serve = tf.function(lambda ids: translate(model, ids, max_length=5),
        ...                     input_signature=[tf.TensorSpec([None, None], tf.int32)])
        >>> tuple(serve(tf.constant([[4, 5, 2, 0]]))["target_ids"].shape)
        (1, 5)
    """
    _check(max_length, beam_size, alpha, cache)
    if beam_size == 1:
        return greedy_decode(model, source_ids, max_length, start_id, end_id, pad_id, cache)
    return beam_search(model, source_ids, max_length, beam_size, alpha, start_id, end_id, pad_id,
                       cache)


# ------------------------------------------------------------------------------------------------
# The encoder and the (cached) decoder of a model, as sub-models sharing its weights
# ------------------------------------------------------------------------------------------------
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
