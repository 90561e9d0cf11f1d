"""keras-hub peers of the registered Transformers, for `zoo bench` (where keras-hub is installed).

keras-hub has no "Attention Is All You Need" model, but its layers are the Transformer that Keras
users assemble: `TransformerEncoder` and `TransformerDecoder` (post-norm by default, ReLU
feed-forward, causal self-attention in the decoder), `ReversibleEmbedding` (one matrix for the
input embedding and the pre-softmax projection, the paper's section 3.4) and
`SinePositionEncoding`. The peers below assemble them into the same networks as
`zoo.models.transformer`'s builders, with the same arguments, so that the two have the same
weights, shapes and parameter counts (checked by `tests/test_bench.py`):

* `transformer`, `transformer_base`, `transformer_big`: embedding scaled by `sqrt(d_model)` plus
  sinusoidal positions, N encoder and N decoder layers with padding masks, tied output
  projection (or a Dense one with `tie_output_embedding=False`);
* `transformer_classifier`: the encoder, masked mean (or first-token) pooling, a Dense head.

keras-hub is not a dependency of the package (`pip install -e ".[bench]"` adds it); without it
`available()` is False and `zoo bench` times the Transformers against their A/A twin only.

Example:
    >>> from zoo.bench.keras_hub_peers import available, build_peer
    >>> if available():
    ...     peer = build_peer("transformer_classifier", {"vocabulary_size": 50, "classes": 3,
    ...                       "num_layers": 1, "d_model": 16, "d_ff": 32, "num_heads": 2})
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any, Dict

__all__ = ["TRANSFORMERS", "available", "build_peer", "label"]

# registered name -> the builder family the peer mirrors
TRANSFORMERS = {"transformer": "seq2seq", "transformer_base": "seq2seq",
                "transformer_big": "seq2seq", "transformer_classifier": "classifier"}

# the registered builders' defaults the peers need (kept equal to zoo.models.transformer's)
_DEFAULTS = {
    "seq2seq": dict(vocabulary_size=37000, target_vocabulary_size=None, num_layers=6, d_model=512,
                    d_ff=2048, num_heads=8, dropout=0.1, attention_dropout=0.0,
                    share_embeddings=True, tie_output_embedding=True, pre_norm=False, pad_id=0),
    "classifier": dict(vocabulary_size=20000, classes=2, num_layers=4, d_model=256, d_ff=1024,
                       num_heads=4, dropout=0.1, attention_dropout=0.0, pre_norm=False,
                       pad_id=0, pooling="avg", classifier_activation="softmax"),
}
_OVERRIDES = {"transformer_big": dict(d_model=1024, d_ff=4096, num_heads=16, dropout=0.3)}


def available() -> bool:
    """True where keras-hub can be imported."""
    return importlib.util.find_spec("keras_hub") is not None


def label(name: str) -> str:
    """The peer's name in bench tables."""
    layers = ("TransformerEncoder" if TRANSFORMERS[name] == "classifier"
              else "TransformerEncoder/Decoder")
    return f"keras_hub.layers.{layers}"


def _arguments(name, kwargs):
    family = TRANSFORMERS[name]
    a = {**_DEFAULTS[family], **_OVERRIDES.get(name, {}), **kwargs}
    unknown = sorted(set(a) - set(_DEFAULTS[family]) - {"max_length", "name"})
    if unknown:
        raise ValueError(f"The keras-hub peer of {name!r} does not take {unknown}; it takes "
                         f"{sorted(_DEFAULTS[family])}.")
    return a


def _scaled_embedding(keras, ids, embedding, d_model, dropout, prefix):
    import keras_hub

    x = embedding(ids)
    x = keras.layers.Rescaling(math.sqrt(d_model), name=f"{prefix}_scale")(x)
    x = keras.layers.Add(name=f"{prefix}_positions")(
        [x, keras_hub.layers.SinePositionEncoding(name=f"{prefix}_sine")(x)])
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{prefix}_dropout")(x)
    return x


def _layer_args(a):
    return dict(intermediate_dim=a["d_ff"], num_heads=a["num_heads"], dropout=a["dropout"],
                normalize_first=a["pre_norm"], layer_norm_epsilon=1e-6)


def _seq2seq(keras, a):
    import keras_hub

    vocab, d = a["vocabulary_size"], a["d_model"]
    target_vocab = a["target_vocabulary_size"] or vocab
    source_ids = keras.Input(shape=(None,), dtype="int32", name="source_ids")
    target_ids = keras.Input(shape=(None,), dtype="int32", name="target_ids")
    tie = a["tie_output_embedding"]
    if a["share_embeddings"]:
        source_embedding = target_embedding = keras_hub.layers.ReversibleEmbedding(
            vocab, d, tie_weights=True, name="shared_embedding")
    else:
        source_embedding = keras.layers.Embedding(vocab, d, name="source_embedding")
        target_embedding = keras_hub.layers.ReversibleEmbedding(
            target_vocab, d, tie_weights=True, name="target_embedding")
    source_mask = keras.ops.not_equal(source_ids, a["pad_id"])
    target_mask = keras.ops.not_equal(target_ids, a["pad_id"])
    x = _scaled_embedding(keras, source_ids, source_embedding, d, a["dropout"], "source")
    for i in range(a["num_layers"]):
        x = keras_hub.layers.TransformerEncoder(**_layer_args(a), name=f"encoder_layer_{i}")(
            x, padding_mask=source_mask)
    if a["pre_norm"]:
        x = keras.layers.LayerNormalization(epsilon=1e-6, name="encoder_norm")(x)
    y = _scaled_embedding(keras, target_ids, target_embedding, d, a["dropout"], "target")
    for i in range(a["num_layers"]):
        y = keras_hub.layers.TransformerDecoder(**_layer_args(a), name=f"decoder_layer_{i}")(
            y, x, decoder_padding_mask=target_mask, encoder_padding_mask=source_mask)
    if a["pre_norm"]:
        y = keras.layers.LayerNormalization(epsilon=1e-6, name="decoder_norm")(y)
    if tie:
        logits = target_embedding(y, reverse=True)
    else:
        logits = keras.layers.Dense(target_vocab, name="output_projection")(y)
    return keras.Model([source_ids, target_ids], logits, name="keras_hub_transformer")


def _classifier(keras, a):
    import keras_hub

    d = a["d_model"]
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    mask = keras.ops.not_equal(token_ids, a["pad_id"])
    x = _scaled_embedding(keras, token_ids, keras.layers.Embedding(a["vocabulary_size"], d,
                                                                   name="token_embedding"),
                          d, a["dropout"], "embedding")
    for i in range(a["num_layers"]):
        x = keras_hub.layers.TransformerEncoder(**_layer_args(a), name=f"encoder_layer_{i}")(
            x, padding_mask=mask)
    if a["pre_norm"]:
        x = keras.layers.LayerNormalization(epsilon=1e-6, name="encoder_norm")(x)
    if a["pooling"] == "avg":
        x = keras.layers.GlobalAveragePooling1D(name="avg_pool")(x, mask=mask)
    else:
        x = x[:, 0]
    if a["dropout"]:
        x = keras.layers.Dropout(a["dropout"], name="head_dropout")(x)
    out = keras.layers.Dense(a["classes"], activation=a["classifier_activation"],
                             name="predictions")(x)
    return keras.Model(token_ids, out, name="keras_hub_transformer_classifier")


def build_peer(name: str, kwargs: Dict[str, Any]):
    """The keras-hub network of registered Transformer `name` built with builder arguments
    `kwargs` (a `keras.Model` with the same inputs and outputs as the zoo model)."""
    import keras

    if name not in TRANSFORMERS:
        raise ValueError(f"`name` must be one of {sorted(TRANSFORMERS)}. Received: name={name!r}")
    a = _arguments(name, kwargs)
    return (_classifier if TRANSFORMERS[name] == "classifier" else _seq2seq)(keras, a)
