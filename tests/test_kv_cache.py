"""Decoding with a key/value cache: the cached decoder gives the uncached decoder's outputs.

The uncached decoder (`cache=False`: the whole prefix through the decoder at every step) is the
reference. The cached one must return the same token ids (scores equal to rounding) for greedy
decoding and beam search, on small random Transformers (post-norm with tied embeddings, pre-norm
with separate ones), batches with padded sources, hypotheses that end early with EOS (padding
after it) and ones that run to `max_length`: eagerly, inside a `tf.function` with a
`[None, None]` signature, and under `jax.jit` on the JAX backend. Speed is measured by
`benchmarks/kv_cache_decoding.py`, not here.
"""

import keras
import numpy as np
import pytest

import zoo
from conftest import run_on_jax
from zoo.layers.attention import MultiHeadAttention
from zoo.layers.transformer import TransformerDecoderLayer
from zoo.models import transformer_decoding as decoding
from zoo.models.transformer import cached_decoder

V, END, MAX_LENGTH, BEAM = 12, 2, 10, 3
VARIANTS = {"post_norm_tied": dict(pre_norm=False, share_embeddings=True),
            "pre_norm_separate": dict(pre_norm=True, share_embeddings=False)}
SEEDS = (0, 2, 3)


def _model(seed, pre_norm=False, share_embeddings=True):
    """A random 2-layer Transformer whose decodings differ in length: the output projection is
    sharpened and the end token favoured, so that some hypotheses end early and some do not."""
    keras.utils.set_random_seed(seed)
    model = zoo.transformer_seq2seq(vocabulary_size=V, num_layers=2, d_model=16, d_ff=32, num_heads=2,
                            dropout=0.0, pre_norm=pre_norm, share_embeddings=share_embeddings,
                            tie_output_embedding=False, max_length=32)
    projection = model.get_layer("output_projection")
    w, b = projection.get_weights()
    b[END] += 1.5
    projection.set_weights([3 * w, b])
    return model


def _sources(seed):
    src = np.random.default_rng(seed).integers(3, V, (4, 7)).astype("int32")
    src[1, 4:] = 0  # padded sources
    src[3, 2:] = 0
    return src


def _assert_same(cached, reference):
    np.testing.assert_array_equal(np.asarray(cached["target_ids"]),
                                  np.asarray(reference["target_ids"]))
    np.testing.assert_allclose(np.asarray(cached["scores"]), np.asarray(reference["scores"]),
                               rtol=1e-5, atol=1e-5)


def _lengths(target_ids):
    """Tokens up to and including the end id (max_length where there is none)."""
    ids = np.asarray(target_ids)
    ends = ids == END
    return np.where(ends.any(1), ends.argmax(1) + 1, ids.shape[1])


def _served(model, beam, cache):
    """`translate` as the export serves it: a tf.function with a [None, None] int32 signature."""
    import tensorflow as tf

    return tf.function(
        lambda ids: decoding.translate(model, ids, max_length=MAX_LENGTH, beam_size=beam,
                                       alpha=0.6, cache=cache),
        input_signature=[tf.TensorSpec([None, None], tf.int32)])


def _seeded_weights(variant):
    """The weights of `_model(seed)` for each of SEEDS: one model per variant then takes each
    seed's weights, so each decoding function is traced (or compiled) once, not once per seed."""
    return [_model(seed, **VARIANTS[variant]).get_weights() for seed in SEEDS]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_cached_decoding_equals_uncached_in_tf_function(variant):
    import tensorflow as tf

    lengths = []
    model = _model(SEEDS[0], **VARIANTS[variant])
    run = {(beam, cache): _served(model, beam, cache) for beam in (1, BEAM) for cache in (True, False)}
    for seed, weights in zip(SEEDS, _seeded_weights(variant)):
        model.set_weights(weights)  # the traced functions read the model's variables
        src = _sources(seed)
        for beam in (1, BEAM):
            cached, reference = run[beam, True](tf.constant(src)), run[beam, False](tf.constant(src))
            _assert_same(cached, reference)
            if beam == 1:  # the traced function decodes with this seed's weights, as eagerly
                _assert_same(cached, decoding.translate(model, src, max_length=MAX_LENGTH,
                                                        beam_size=1, alpha=0.6))
            # the same concrete function at another batch size and source length
            _assert_same(run[beam, True](tf.constant(src[1:3, :5])),
                         run[beam, False](tf.constant(src[1:3, :5])))
            lengths.extend(_lengths(cached["target_ids"]).tolist())
            ids = np.asarray(cached["target_ids"])
            for row, n in zip(ids, _lengths(ids)):
                assert (row[n:] == 0).all()  # padding after the end id
    for fn in run.values():  # one trace each, shared by every seed and shape
        assert len(fn._list_all_concrete_functions()) == 1
    # the cases the test is about: hypotheses that end early and ones that never end
    assert min(lengths) < MAX_LENGTH // 2 and max(lengths) == MAX_LENGTH, lengths


def test_cached_decoding_equals_uncached_eagerly():
    model, src = _model(0), _sources(0)
    with pytest.raises(ValueError, match="cache"):
        decoding.translate(model, src, max_length=3, cache="yes")
    _assert_same(decoding.greedy_decode(model, src, MAX_LENGTH),
                 decoding.greedy_decode(model, src, MAX_LENGTH, cache=False))
    _assert_same(decoding.beam_search(model, src, MAX_LENGTH, beam_size=4, alpha=0.0),
                 decoding.beam_search(model, src, MAX_LENGTH, beam_size=4, alpha=0.0, cache=False))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_cached_steps_equal_the_decoder_over_each_prefix(variant):
    """Hidden states of the cached decoder, one position at a time, against the decoder run over
    the prefix (a padding token inside the target is masked in both)."""
    model, src = _model(1, **VARIANTS[variant]), _sources(1)
    dec = cached_decoder(model)
    tgt = np.array([[1, 5, 6, 7, 8], [1, 9, 2, 0, 0], [1, 3, 0, 4, 5], [1, 4, 4, 4, 4]], "int32")
    cache, cross = dec.start(dec.encoder(src), length=tgt.shape[1])
    for i in range(tgt.shape[1]):
        hidden, cache = dec.step(tgt, i, cache, cross, src)
        logits = np.asarray(model([src, tgt[:, : i + 1]]))[:, i]
        np.testing.assert_allclose(np.asarray(dec.project(hidden)), logits, atol=1e-5)
    assert [tuple(c.shape) for c in cache] == [(4, 2, tgt.shape[1], 2, 8)] * 2  # one per layer


def test_attention_cache_paths_equal_full_attention():
    """Self-attention written into the cache step by step equals causal attention over the whole
    sequence; cross-attention over `key_value_cache(memory)` equals attention over the memory."""
    mha = MultiHeadAttention(d_model=8, num_heads=2)
    rng = np.random.default_rng(0)
    x, memory = rng.standard_normal((2, 5, 8), "float32"), rng.standard_normal((2, 3, 8), "float32")
    causal = np.tril(np.ones((5, 5), bool))[None]
    full = np.asarray(mha(x, attention_mask=causal))
    cache = np.zeros((2, 2, 5, 2, 4), "float32")
    for i in range(5):
        out, cache = mha(x[:, i : i + 1], attention_mask=causal[:, i : i + 1], cache=cache,
                         cache_update_index=i)
        np.testing.assert_allclose(np.asarray(out)[:, 0], full[:, i], atol=1e-5)
    cross = MultiHeadAttention(d_model=8, num_heads=2)
    want = np.asarray(cross(x, memory))
    out, kept = cross(x, cache=cross.key_value_cache(memory))
    np.testing.assert_allclose(np.asarray(out), want, atol=1e-5)
    assert tuple(kept.shape) == (2, 2, 3, 2, 4)


def test_decoder_layer_cache_keeps_config_and_old_module_path():
    """The cache is a call argument only: configs are unchanged, and a config written when
    MultiHeadAttention lived in zoo.layers.transformer still deserializes."""
    layer = TransformerDecoderLayer(8, 2, 16)
    assert TransformerDecoderLayer.from_config(layer.get_config()).get_config() == layer.get_config()
    config = keras.saving.serialize_keras_object(MultiHeadAttention(8, 2))
    config["module"] = "zoo.layers.transformer"
    assert isinstance(keras.saving.deserialize_keras_object(config), MultiHeadAttention)


JAX_SCRIPT = r"""
import json, os, sys
import numpy as np
import jax, keras
assert keras.backend.backend() == "jax"
sys.path.insert(0, os.path.join(os.getcwd(), "tests"))
from test_kv_cache import (BEAM, MAX_LENGTH, SEEDS, VARIANTS, _lengths, _model, _seeded_weights,
                           _sources)
from zoo.models import transformer_decoding as decoding
same, lengths = [], []
for variant in sorted(VARIANTS):
    model = _model(SEEDS[0], **VARIANTS[variant])

    def decode(values, s, beam, cache):
        # the weights as arguments (Keras' StatelessScope), so that one compiled program serves
        # every seed's weights; a closure over the model would compile them in as constants
        with keras.StatelessScope(state_mapping=list(zip(model.variables, values))):
            return decoding.translate(model, s, max_length=MAX_LENGTH, beam_size=beam, alpha=0.6,
                                      cache=cache)

    jitted = jax.jit(decode, static_argnums=(2, 3))
    for seed, weights in list(zip(SEEDS, _seeded_weights(variant)))[:2]:
        model.set_weights(weights)
        values = [v.value for v in model.variables]
        src = _sources(seed)
        for beam in (1, BEAM):
            out = {cache: jitted(values, src, beam, cache) for cache in (True, False)}
            a, b = out[True], out[False]
            same.append(bool((np.asarray(a["target_ids"]) == np.asarray(b["target_ids"])).all()))
            same.append(bool(np.allclose(np.asarray(a["scores"]), np.asarray(b["scores"]),
                                         rtol=1e-5, atol=1e-5)))
            lengths.extend(_lengths(a["target_ids"]).tolist())
    assert jitted._cache_size() == 4, jitted._cache_size()  # (beam, cache), not per seed
print("RESULT " + json.dumps({"same": same, "lengths": lengths}))
"""


@pytest.mark.slow
def test_cached_decoding_equals_uncached_under_jax_jit():
    result = run_on_jax(JAX_SCRIPT)
    assert result["same"] and all(result["same"]), result["same"]
    assert min(result["lengths"]) < MAX_LENGTH // 2 and max(result["lengths"]) == MAX_LENGTH
