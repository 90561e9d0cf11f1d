"""The Transformer of "Attention Is All You Need" (Vaswani et al. 2017), and its training pieces.

Builders (registered, re-exported as `zoo.<name>`):

- `transformer_seq2seq(...)`: the configurable encoder-decoder (`transformer(...)` is its
  deprecated name: `zoo.models.transformer` is this module); inputs `[source_ids, target_ids]`
  (int32, padding id 0), output the logits (batch, target length, target vocabulary) of the next
  token at every target position (targets shifted right: `target_ids` starts with the start id).
- `transformer_base`, `transformer_big`: the paper's configurations (Table 3).
- `transformer_classifier(...)`: an encoder-only text classifier (token ids in, classes out).

Training pieces of section 5 (keras only, not builders, import them from this module):
`LabelSmoothedCrossEntropy` (eps_ls = 0.1, padding ignored), `TransformerSchedule`
(d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)), `transformer_optimizer` (Adam with
beta_1 0.9, beta_2 0.98, epsilon 1e-9 on that schedule). Decoding (greedy, beam search, `translate`)
is in `zoo.models.transformer_decoding`; `encoder_decoder(model)` gives the encoder and decoder
sub-models it uses
without a cache, `cached_decoder(model)` the one-position-at-a-time decoder with key/value caches
(both defined in `zoo.models.transformer_decoding`, imported here).

Reference:
    Vaswani et al. 2017, Attention Is All You Need, arXiv:1706.03762.

Example:
    >>> import numpy as np, zoo
    >>> model = zoo.transformer_seq2seq(vocabulary_size=50, num_layers=1, d_model=16, d_ff=32, num_heads=2)
    >>> src = np.array([[5, 6, 7, 2, 0]], "int32")
    >>> tgt = np.array([[1, 8, 9]], "int32")
    >>> tuple(model([src, tgt]).shape)
    (1, 3, 50)
"""

from __future__ import annotations

import keras
import numpy as np

from zoo.core.moved import renamed_arguments, warn_renamed
from zoo.core.registry import register_model
from zoo.layers.transformer import (
    PaddingMask,
    PositionalEncoding,
    TokenEmbedding,
    TransformerDecoderLayer,
    TransformerEncoderLayer,
    check_block_args,
)
from zoo.layers.transformer_training import (  # noqa: F401 (their home until 0.2)
    FirstToken,
    LabelSmoothedCrossEntropy,
    TransformerSchedule,
)
from zoo.models.transformer_decoding import cached_decoder, encoder_decoder  # noqa: F401

__all__ = ["transformer_seq2seq", "transformer_base", "transformer_big", "transformer_classifier",
           "transformer"]

PAPER = "Vaswani et al. 2017, Attention Is All You Need, arXiv:1706.03762"

# The card counts multiply-adds at 64 source and 64 target tokens (the inputs take any length).
MACS_LENGTH = 64

_TINY = dict(vocabulary_size=50, num_layers=1, d_model=16, d_ff=32, num_heads=2, max_length=64)


def _check_int(name, value, minimum=1):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(
            f"`{name}` must be an integer of at least {minimum}. Received: {name}={value!r}"
        )


def _check_rate(name, value):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
        raise ValueError(f"`{name}` must be a float in [0, 1). Received: {name}={value!r}")


def _check_stack_args(num_layers, d_model, d_ff, num_heads, dropout, attention_dropout,
                      max_length, pad_id):
    _check_int("num_layers", num_layers)
    check_block_args(d_model, num_heads, d_ff, dropout, attention_dropout)
    if d_model % 2:
        raise ValueError(f"`d_model` must be even (sines and cosines). Received: d_model={d_model}")
    _check_int("max_length", max_length)
    _check_int("pad_id", pad_id, minimum=0)


def _embed(ids, embedding, positional, dropout_rate, prefix):
    x = embedding(ids)
    x = positional(x)
    if dropout_rate:
        x = keras.layers.Dropout(dropout_rate, name=f"{prefix}_dropout")(x)
    return x


def _layer_kwargs(d_model, num_heads, d_ff, dropout, attention_dropout, pre_norm):
    return dict(d_model=d_model, num_heads=num_heads, d_ff=d_ff, dropout=dropout,
                attention_dropout=attention_dropout, pre_norm=pre_norm)


def _check_vocabularies(vocabulary_size, target_vocabulary_size, share_embeddings):
    """The target vocabulary size (None: the source's), both checked; one with shared embeddings."""
    _check_int("vocabulary_size", vocabulary_size)
    if target_vocabulary_size is None:
        target_vocabulary_size = vocabulary_size
    _check_int("target_vocabulary_size", target_vocabulary_size)
    if share_embeddings and target_vocabulary_size != vocabulary_size:
        raise ValueError(
            "`share_embeddings=True` needs one vocabulary: `target_vocabulary_size` must be None or "
            f"equal to `vocabulary_size`. Received: vocabulary_size={vocabulary_size}, "
            f"target_vocabulary_size={target_vocabulary_size}"
        )
    return target_vocabulary_size


def _embeddings(vocabulary_size, target_vocabulary_size, d_model, share_embeddings):
    """The source and target token embeddings (one `shared_embedding` with `share_embeddings`)."""
    if share_embeddings:
        shared = TokenEmbedding(vocabulary_size, d_model, name="shared_embedding")
        return shared, shared
    return (TokenEmbedding(vocabulary_size, d_model, name="source_embedding"),
            TokenEmbedding(target_vocabulary_size, d_model, name="target_embedding"))


# The vocabulary arguments are named as keras-hub names them (and the recurrent builders).
_RENAMED = dict(vocab_size="vocabulary_size", target_vocab_size="target_vocabulary_size")


# Long only by its docstring (every argument documented); the code is 57 lines.
@renamed_arguments(**_RENAMED)
def transformer_seq2seq(
    vocabulary_size=37000,
    target_vocabulary_size=None,
    num_layers=6,
    d_model=512,
    d_ff=2048,
    num_heads=8,
    dropout=0.1,
    attention_dropout=0.0,
    share_embeddings=True,
    tie_output_embedding=True,
    max_length=1024,
    pre_norm=False,
    pad_id=0,
    name="transformer",
):
    """The Transformer encoder-decoder (section 3, Figure 1).

    Source and target token ids are embedded (scaled by sqrt(d_model)), summed with the sinusoidal
    positional encoding and dropped out; N encoder layers (self-attention, feed-forward) and N
    decoder layers (causal self-attention, encoder-decoder attention, feed-forward) follow, each
    sub-layer wrapped as LayerNorm(x + Dropout(Sublayer(x))) (or pre-norm); a linear projection
    gives the next-token logits. Padding (`pad_id`) is masked in every attention.

    Args:
        vocabulary_size: source vocabulary size (the shared vocabulary with `share_embeddings`);
            `vocab_size` is its deprecated name.
        target_vocabulary_size: target vocabulary size; None means `vocabulary_size`
            (`target_vocab_size` is its deprecated name).
        num_layers: N, layers in the encoder and in the decoder.
        d_model: model width.
        d_ff: inner width of the feed-forward networks.
        num_heads: attention heads h.
        dropout: P_drop, on embeddings+positions and on every sub-layer output.
        attention_dropout: dropout on attention weights (0 in the paper).
        share_embeddings: one embedding matrix for source and target (needs equal vocabularies).
        tie_output_embedding: the pre-softmax projection is the transposed target embedding
            (section 3.4); otherwise a separate Dense layer with bias.
        max_length: longest source or target sequence (size of the positional table).
        pre_norm: layer normalisation before each sub-layer (and after each stack) instead of after
            the residual sum.
        pad_id: the padding token id, masked out.
        name: model name.

    Returns:
        A `keras.Model` with inputs `[source_ids, target_ids]` (int32, (batch, length)) and output
        the logits (batch, target length, target vocabulary).

    Reference:
        Vaswani et al. 2017, Attention Is All You Need, arXiv:1706.03762.

    Example:
        >>> import zoo
        >>> model = zoo.transformer_seq2seq(vocabulary_size=100, num_layers=2, d_model=32,
        ...                                 d_ff=64, num_heads=4)
        >>> [tuple(t.shape) for t in model.inputs]
        [(None, None), (None, None)]
    """
    target_vocabulary_size = _check_vocabularies(vocabulary_size, target_vocabulary_size,
                                                 share_embeddings)
    _check_stack_args(num_layers, d_model, d_ff, num_heads, dropout, attention_dropout,
                      max_length, pad_id)
    for flag, value in (("share_embeddings", share_embeddings),
                        ("tie_output_embedding", tie_output_embedding), ("pre_norm", pre_norm)):
        if not isinstance(value, bool):
            raise ValueError(f"`{flag}` must be True or False. Received: {flag}={value!r}")

    source_ids = keras.Input(shape=(None,), dtype="int32", name="source_ids")
    target_ids = keras.Input(shape=(None,), dtype="int32", name="target_ids")

    source_embedding, target_embedding = _embeddings(vocabulary_size, target_vocabulary_size,
                                                     d_model, share_embeddings)
    positional = PositionalEncoding(max_length, name="positional_encoding")
    padding = PaddingMask(pad_id, name="padding_mask")
    kwargs = _layer_kwargs(d_model, num_heads, d_ff, dropout, attention_dropout, pre_norm)

    source_mask = padding(source_ids)
    x = _embed(source_ids, source_embedding, positional, dropout, "source")
    for i in range(num_layers):
        x = TransformerEncoderLayer(**kwargs, name=f"encoder_layer_{i}")(
            x, padding_mask=source_mask
        )
    if pre_norm:
        x = keras.layers.LayerNormalization(epsilon=1e-6, name="encoder_norm")(x)
    encoder_outputs = x

    target_mask = padding(target_ids)
    y = _embed(target_ids, target_embedding, positional, dropout, "target")
    for i in range(num_layers):
        y = TransformerDecoderLayer(**kwargs, name=f"decoder_layer_{i}")(
            y, encoder_outputs, decoder_padding_mask=target_mask, encoder_padding_mask=source_mask
        )
    if pre_norm:
        y = keras.layers.LayerNormalization(epsilon=1e-6, name="decoder_norm")(y)
    if tie_output_embedding:
        logits = target_embedding(y, reverse=True)
    else:
        logits = keras.layers.Dense(target_vocabulary_size, name="output_projection")(y)
    return keras.Model([source_ids, target_ids], logits, name=name)


def transformer_search_space(d_models=(512, 256, 1024), dropouts=(0.1, 0.2), layers=(6, 4, 2),
                             heads=(8, 16, 4), learning_rates=(7e-4, 3.5e-4),
                             warmups=(4000, 8000)):
    """Search space of a Transformer (`zoo.core.spaces` convention), after Vaswani et al. 2017 Table 3:
    `num_layers` N, `d_model` (with `d_ff` = 4 d_model), `num_heads` h (every choice divides every
    d_model), dropout, label smoothing 0.1 or none; Adam (beta_1 0.9) at the peak learning rate
    of the paper's schedule (d_model^-0.5 warmup^-0.5 = 7e-4 for 512 and 4000) or half; and the
    norm placement with the warm-up conditional on it: post-norm (the paper) needs a warm-up of
    4000 or 8000 steps, pre-norm trains with less or none (Xiong et al. 2020)."""
    def space(hp):
        d_model = hp.Choice("d_model", list(d_models))
        out = {"d_model": d_model, "d_ff": 4 * d_model,
               "num_layers": hp.Choice("num_layers", list(layers)),
               "num_heads": hp.Choice("num_heads", list(heads)),
               "dropout": hp.Choice("dropout", list(dropouts)),
               "label_smoothing": hp.Choice("label_smoothing", [0.1, 0.0]),
               "optimizer": "adam", "beta_1": 0.9,
               "learning_rate": hp.Choice("learning_rate", list(learning_rates))}
        pre_norm = out["pre_norm"] = hp.Boolean("pre_norm", default=False)
        with hp.conditional_scope("pre_norm", [False]):
            if not pre_norm:
                out["warmup_steps"] = hp.Choice("warmup_steps", list(warmups))
        with hp.conditional_scope("pre_norm", [True]):
            if pre_norm:
                out["warmup_steps"] = hp.Choice("pre_norm_warmup_steps", [0, min(warmups)])
        return out

    return space


def transformer(*args, **kwargs):
    """Deprecated name of `transformer_seq2seq` (`zoo.models.transformer` is this module)."""
    warn_renamed("zoo.transformer", "zoo.transformer_seq2seq")
    return transformer_seq2seq(*args, **kwargs)


# What the two translation models of Table 3 share on their cards.
_SEQ2SEQ = dict(
    family="transformer",
    task="translation",
    paper=PAPER,
    input_shape={"source_ids": (None,), "target_ids": (None,)},
    macs_input_shapes={"source_ids": (MACS_LENGTH,), "target_ids": (MACS_LENGTH,)},
    test_overrides=dict(_TINY),
    bench_peer="keras_hub",  # the same network from keras-hub's layers (zoo.bench.keras_hub_peers)
)


@register_model(**_SEQ2SEQ, search_space=transformer_search_space(),
                description="Transformer base (Table 3): N=6, d_model 512, d_ff 2048, h 8, ~63M params")
@renamed_arguments(**_RENAMED)
def transformer_base(vocabulary_size=37000, target_vocabulary_size=None, num_layers=6, d_model=512,
                     d_ff=2048, num_heads=8, dropout=0.1, attention_dropout=0.0,
                     share_embeddings=True, tie_output_embedding=True, max_length=1024,
                     pre_norm=False, pad_id=0, name="transformer_base"):
    """Transformer base (Table 3): N=6, d_model=512, d_ff=2048, h=8, P_drop=0.1.

    With a shared vocabulary of 37000 tokens and one embedding matrix for source, target and
    pre-softmax projection it has 63.1M parameters (the paper's Table 3 says 65M).

    Reference:
        Vaswani et al. 2017, Attention Is All You Need, arXiv:1706.03762.

    Example:
        >>> import zoo
        >>> model = zoo.transformer_base(vocabulary_size=1000, num_layers=1)
        >>> model.count_params()
        7868416
    """
    return transformer_seq2seq(**locals())


@register_model(**_SEQ2SEQ,
                description="Transformer big (Table 3): N=6, d_model 1024, d_ff 4096, h 16, ~214M params",
                search_space=transformer_search_space(d_models=(1024, 512), dropouts=(0.3, 0.1),
                                                      heads=(16, 8), learning_rates=(5e-4, 2.5e-4)))
@renamed_arguments(**_RENAMED)
def transformer_big(vocabulary_size=37000, target_vocabulary_size=None, num_layers=6, d_model=1024,
                    d_ff=4096, num_heads=16, dropout=0.3, attention_dropout=0.0,
                    share_embeddings=True, tie_output_embedding=True, max_length=1024,
                    pre_norm=False, pad_id=0, name="transformer_big"):
    """Transformer big (Table 3): N=6, d_model=1024, d_ff=4096, h=16, P_drop=0.3.

    With a shared vocabulary of 37000 tokens and one embedding matrix it has 214.2M parameters
    (Table 3: 213M).

    Reference:
        Vaswani et al. 2017, Attention Is All You Need, arXiv:1706.03762.

    Example:
        >>> import zoo
        >>> model = zoo.transformer_big(vocabulary_size=1000, num_layers=1)
        >>> model.count_params()
        30416896
    """
    return transformer_seq2seq(**locals())


# Long only by its docstring (every argument documented); the code is 38 lines.
@register_model(
    family="transformer",
    task="text_classification",
    paper=PAPER,
    input_shape=(None,),
    macs_input_shapes=[(MACS_LENGTH,)],
    test_overrides=dict(_TINY, classes=3),
    description="Encoder-only Transformer text classifier (token ids in, classes out)",
    search_space=transformer_search_space(d_models=(256, 128, 512), layers=(4, 2, 6), heads=(4, 8),
                                          learning_rates=(3e-4, 1e-4), warmups=(1000, 4000)),
    bench_peer="keras_hub",
)
@renamed_arguments(vocab_size="vocabulary_size")
def transformer_classifier(vocabulary_size=20000, classes=2, num_layers=4, d_model=256, d_ff=1024,
                           num_heads=4, dropout=0.1, attention_dropout=0.0, max_length=512,
                           pre_norm=False, pad_id=0, pooling="avg",
                           classifier_activation="softmax", name="transformer_classifier"):
    """An encoder-only Transformer classifier: the paper's encoder, pooled, then a Dense layer.

    Token ids (padding `pad_id` masked) are embedded, summed with positions and passed through
    `num_layers` encoder layers; the real positions are averaged (`pooling="avg"`) or the first
    position is taken (`pooling="first"`, for inputs that start with a classification token).

    Args:
        vocabulary_size: vocabulary size (`vocab_size` is its deprecated name).
        classes: number of classes.
        num_layers, d_model, d_ff, num_heads, dropout, attention_dropout, max_length, pre_norm,
            pad_id: as in `transformer`.
        pooling: "avg" (mean over real tokens) or "first".
        classifier_activation: activation of the output layer (None for logits).
        name: model name.

    Returns:
        A `keras.Model` from int32 token ids (batch, length) to (batch, classes).

    Reference:
        Vaswani et al. 2017, Attention Is All You Need, arXiv:1706.03762.

    Example:
        >>> import numpy as np, zoo
        >>> model = zoo.transformer_classifier(vocabulary_size=100, classes=3, num_layers=1,
        ...                                    d_model=16, d_ff=32, num_heads=2)
        >>> tuple(model(np.array([[4, 5, 6, 0]], "int32")).shape)
        (1, 3)
    """
    _check_int("vocabulary_size", vocabulary_size)
    _check_int("classes", classes)
    _check_stack_args(num_layers, d_model, d_ff, num_heads, dropout, attention_dropout,
                      max_length, pad_id)
    if pooling not in ("avg", "first"):
        raise ValueError(f"`pooling` must be 'avg' or 'first'. Received: pooling={pooling!r}")
    if not isinstance(pre_norm, bool):
        raise ValueError(f"`pre_norm` must be True or False. Received: pre_norm={pre_norm!r}")
    if classifier_activation is not None:
        try:
            keras.activations.get(classifier_activation)
        except (ValueError, TypeError):
            raise ValueError(
                "`classifier_activation` must be None, a keras activation name or a callable. "
                f"Received: classifier_activation={classifier_activation!r}"
            ) from None

    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    mask = PaddingMask(pad_id, name="padding_mask")(token_ids)
    x = _embed(token_ids, TokenEmbedding(vocabulary_size, d_model, name="token_embedding"),
               PositionalEncoding(max_length, name="positional_encoding"), dropout, "embedding")
    kwargs = _layer_kwargs(d_model, num_heads, d_ff, dropout, attention_dropout, pre_norm)
    for i in range(num_layers):
        x = TransformerEncoderLayer(**kwargs, name=f"encoder_layer_{i}")(x, padding_mask=mask)
    if pre_norm:
        x = keras.layers.LayerNormalization(epsilon=1e-6, name="encoder_norm")(x)
    if pooling == "avg":
        x = keras.layers.GlobalAveragePooling1D(name="avg_pool")(x, mask=mask)
    else:
        x = FirstToken(name="first_token")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(token_ids, outputs, name=name)


# --------------------------------------------------------------------------------------------
# Training pieces (section 5.3 and 5.4).
# --------------------------------------------------------------------------------------------


def transformer_optimizer(d_model=512, warmup_steps=4000, scale=1.0, **kwargs):
    """Adam with beta_1 = 0.9, beta_2 = 0.98, epsilon = 1e-9 on `TransformerSchedule` (5.3).

    Args:
        d_model, warmup_steps, scale: the schedule's arguments.
        **kwargs: other `keras.optimizers.Adam` arguments (e.g. `clipnorm`).

    Example:
        >>> opt = transformer_optimizer(d_model=512)
        >>> opt.beta_2, opt.epsilon
        (0.98, 1e-09)
    """
    return keras.optimizers.Adam(
        learning_rate=TransformerSchedule(d_model, warmup_steps, scale),
        beta_1=0.9, beta_2=0.98, epsilon=1e-9, **kwargs,
    )
