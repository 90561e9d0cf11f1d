"""The Transformer (Vaswani et al. 2017): sizes against Table 3, masks, training pieces, decoding."""

import itertools
import math

import keras
import numpy as np
import pytest

import zoo
from harness import run_config_round_trip, run_keras_file_round_trip
from zoo.layers.transformer import (
    MultiHeadAttention,
    PositionalEncoding,
    TokenEmbedding,
    TransformerDecoderLayer,
    TransformerEncoderLayer,
    sinusoidal_table,
)
from zoo.models import transformer as T  # noqa: E402  # `zoo.models.transformer` is also the builder's name
from zoo.models import transformer_decoding as decoding

TINY = dict(vocabulary_size=50, num_layers=1, d_model=16, d_ff=32, num_heads=2, dropout=0.0)


# ---------------------------------------------------------------------------------------------
# Sizes: Table 3 of the paper.
# ---------------------------------------------------------------------------------------------


def _count_by_hand(vocab, n, d, d_ff):
    attention = 4 * d * d + 4 * d
    ffn = d * d_ff + d_ff + d_ff * d + d
    norm = 2 * d
    encoder_layer = attention + ffn + 2 * norm
    decoder_layer = 2 * attention + ffn + 3 * norm
    return vocab * d + n * (encoder_layer + decoder_layer)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, paper_millions", [("transformer_base", 65), ("transformer_big", 213)]
)
def test_parameter_counts_match_table_3(name, paper_millions):
    """37000 shared tokens, one embedding for source, target and pre-softmax: within 3% of Table 3,
    as README.md and docs/transformer.md say (base: 63.08M, -2.95%; big: 214.25M, +0.58%)."""
    model = zoo.create_model(name, vocabulary_size=37000)
    spec = zoo.get_spec(name)
    d, d_ff, n = spec.defaults["d_model"], spec.defaults["d_ff"], spec.defaults["num_layers"]
    params = model.count_params()
    assert params == _count_by_hand(37000, n, d, d_ff)
    assert abs(params / (paper_millions * 1e6) - 1) < 0.03, params
    # one embedding matrix only
    assert sum(1 for w in model.weights if "embeddings" in w.path) == 1


def test_separate_embeddings_count():
    shared = zoo.transformer_seq2seq(**TINY)
    separate = zoo.transformer_seq2seq(**TINY, share_embeddings=False, tie_output_embedding=False)
    # + a target embedding (50 x 16) + an output projection with bias (16 x 50 + 50)
    assert separate.count_params() - shared.count_params() == 50 * 16 + 16 * 50 + 50


def test_paper_configurations():
    base, big = zoo.get_spec("transformer_base"), zoo.get_spec("transformer_big")
    for spec, want in ((base, (6, 512, 2048, 8, 0.1)), (big, (6, 1024, 4096, 16, 0.3))):
        d = spec.defaults
        assert (d["num_layers"], d["d_model"], d["d_ff"], d["num_heads"], d["dropout"]) == want
        assert spec.family == "transformer" and spec.task == "translation"
        assert "1706.03762" in spec.paper
    assert zoo.get_spec("transformer_classifier").task == "text_classification"


# ---------------------------------------------------------------------------------------------
# Layers against NumPy.
# ---------------------------------------------------------------------------------------------


def test_positional_encoding_is_the_papers_sinusoid():
    d, length = 8, 6
    y = np.asarray(PositionalEncoding(max_length=10)(np.zeros((1, length, d), "float32")))[0]
    for pos in range(length):
        for i in range(d // 2):
            angle = pos / 10000 ** (2 * i / d)
            np.testing.assert_allclose(y[pos, 2 * i], math.sin(angle), atol=1e-6)
            np.testing.assert_allclose(y[pos, 2 * i + 1], math.cos(angle), atol=1e-6)
    assert sinusoidal_table(3, 4).shape == (3, 4)


def test_token_embedding_scaled_and_tied():
    emb = TokenEmbedding(vocab_size=7, d_model=4)
    ids = np.array([[1, 3]], "int32")
    x = np.asarray(emb(ids))
    table = np.asarray(emb.embeddings)
    np.testing.assert_allclose(x[0], table[[1, 3]] * 2.0, rtol=1e-6)  # sqrt(4)
    h = np.random.default_rng(0).standard_normal((2, 3, 4)).astype("float32")
    np.testing.assert_allclose(np.asarray(emb(h, reverse=True)), h @ table.T, rtol=1e-5, atol=1e-5)


def _np_attention(q_in, kv_in, w, b, wo, bo, heads, mask=None):
    d = q_in.shape[-1]
    q = q_in @ w[:, :d] + b[:d]
    k = kv_in @ w[:, d:2 * d] + b[d:2 * d]
    v = kv_in @ w[:, 2 * d:] + b[2 * d:]
    dh = d // heads
    outs = []
    for h in range(heads):
        sl = slice(h * dh, (h + 1) * dh)
        s = q[..., sl] @ np.swapaxes(k[..., sl], -1, -2) / math.sqrt(dh)
        if mask is not None:
            s = np.where(mask, s, -np.inf)
        p = np.exp(s - s.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        outs.append(p @ v[..., sl])
    return np.concatenate(outs, -1) @ wo + bo


def test_multi_head_attention_matches_numpy():
    rng = np.random.default_rng(1)
    mha = MultiHeadAttention(d_model=8, num_heads=2)
    q = rng.standard_normal((2, 3, 8)).astype("float32")
    kv = rng.standard_normal((2, 5, 8)).astype("float32")
    mask = rng.random((2, 3, 5)) > 0.3
    mask[..., 0] = True
    mha(q, kv)
    w = [np.asarray(v) for v in (mha.qkv_kernel, mha.qkv_bias, mha.output_kernel, mha.output_bias)]
    for b in range(2):
        want = _np_attention(q[b], kv[b], *w, heads=2, mask=mask[b])
        got = np.asarray(mha(q, kv, attention_mask=mask))[b]
        np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(
        np.asarray(mha(q))[0], _np_attention(q[0], q[0], *w, heads=2), atol=1e-5
    )


def test_pre_norm_and_post_norm_differ_and_run():
    x = np.random.default_rng(0).standard_normal((2, 4, 8)).astype("float32")
    post = TransformerEncoderLayer(8, 2, 16)
    pre = TransformerEncoderLayer(8, 2, 16, pre_norm=True)
    y_post, y_pre = np.asarray(post(x)), np.asarray(pre(x))
    # post-norm ends with a LayerNorm (gamma 1, beta 0): zero mean, unit variance per position
    np.testing.assert_allclose(y_post.mean(-1), 0, atol=1e-5)
    np.testing.assert_allclose(y_post.std(-1), 1, atol=1e-3)
    assert np.abs(y_pre.mean(-1)).max() > 1e-3
    dec = TransformerDecoderLayer(8, 2, 16, pre_norm=True)
    assert np.asarray(dec(x, x)).shape == (2, 4, 8)


# ---------------------------------------------------------------------------------------------
# Masks.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pre_norm", [False, True])
def test_decoder_is_causal(pre_norm):
    model = zoo.transformer_seq2seq(**TINY, pre_norm=pre_norm)
    rng = np.random.default_rng(0)
    src = rng.integers(3, 50, (2, 6)).astype("int32")
    tgt = rng.integers(3, 50, (2, 7)).astype("int32")
    base = np.asarray(model([src, tgt]))
    for t in range(6):
        changed = tgt.copy()
        changed[:, t + 1:] = rng.integers(3, 50, changed[:, t + 1:].shape)
        out = np.asarray(model([src, changed]))
        np.testing.assert_allclose(out[:, : t + 1], base[:, : t + 1], atol=1e-5)
        assert not np.allclose(out[:, t + 1:], base[:, t + 1:], atol=1e-3)


def test_padding_does_not_change_real_positions():
    model = zoo.transformer_seq2seq(**TINY)
    src = np.array([[5, 6, 7, 8, 2]], "int32")
    tgt = np.array([[1, 9, 10, 11]], "int32")
    base = np.asarray(model([src, tgt]))
    padded_src = np.concatenate([src, np.zeros((1, 4), "int32")], 1)
    padded_tgt = np.concatenate([tgt, np.zeros((1, 3), "int32")], 1)
    out = np.asarray(model([padded_src, padded_tgt]))
    np.testing.assert_allclose(out[:, :4], base, atol=1e-5)
    # a different token where the padding was does change the result
    other = padded_src.copy()
    other[0, 5] = 9
    assert not np.allclose(np.asarray(model([other, padded_tgt]))[:, :4], base, atol=1e-4)
    # a batch of different lengths gives each example its own unpadded result
    short_src, short_tgt = np.array([[12, 13, 2]], "int32"), np.array([[1, 14]], "int32")
    short = np.asarray(model([short_src, short_tgt]))
    batch_src = np.concatenate([padded_src[:, :5], np.pad(short_src, ((0, 0), (0, 2)))], 0)
    batch_tgt = np.concatenate([tgt, np.pad(short_tgt, ((0, 0), (0, 2)))], 0)
    out = np.asarray(model([batch_src, batch_tgt]))
    np.testing.assert_allclose(out[0], base[0], atol=1e-5)
    np.testing.assert_allclose(out[1, :2], short[0], atol=1e-5)


def test_classifier_ignores_padding():
    model = zoo.transformer_classifier(**TINY, classes=3)
    ids = np.array([[4, 5, 6, 7]], "int32")
    base = np.asarray(model(ids))
    padded = np.asarray(model(np.array([[4, 5, 6, 7, 0, 0, 0]], "int32")))
    np.testing.assert_allclose(padded, base, atol=1e-5)
    np.testing.assert_allclose(base.sum(-1), 1, atol=1e-5)
    first = zoo.transformer_classifier(**TINY, classes=3, pooling="first")
    assert first(ids).shape == (1, 3)


# ---------------------------------------------------------------------------------------------
# Training pieces.
# ---------------------------------------------------------------------------------------------


def test_label_smoothed_loss_matches_numpy():
    rng = np.random.default_rng(0)
    vocab, eps = 7, 0.1
    logits = rng.standard_normal((2, 4, vocab)).astype("float32")
    labels = np.array([[3, 5, 2, 0], [4, 0, 0, 0]])
    # by hand: q = (1 - eps) one_hot + eps / V, H(q, p) averaged over the 4 real tokens
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    total, count = 0.0, 0
    for b, t in itertools.product(range(2), range(4)):
        if labels[b, t] == 0:
            continue
        q = np.full(vocab, eps / vocab)
        q[labels[b, t]] += 1 - eps
        total += -(q * logp[b, t]).sum()
        count += 1
    want = total / count
    loss = T.LabelSmoothedCrossEntropy(epsilon=eps)
    np.testing.assert_allclose(float(loss(labels, logits)), want, rtol=1e-5)
    # keras' own label smoothing on the real tokens gives the same number
    real = labels != 0
    ref = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=eps)(
        np.eye(vocab)[labels[real]], logits[real]
    )
    np.testing.assert_allclose(float(loss(labels, logits)), float(ref), rtol=1e-5)
    # probabilities in, same value; config round trip
    probs = np.exp(logp)
    prob_loss = T.LabelSmoothedCrossEntropy(epsilon=eps, from_logits=False)
    np.testing.assert_allclose(float(prob_loss(labels, probs)), want, rtol=1e-4)
    clone = T.LabelSmoothedCrossEntropy.from_config(loss.get_config())
    assert (clone.epsilon, clone.pad_id) == (0.1, 0)


def test_learning_rate_schedule_values():
    s = T.TransformerSchedule(d_model=512, warmup_steps=4000)
    for step_num in (1, 100, 3999, 4000, 4001, 100000):
        want = 512**-0.5 * min(step_num**-0.5, step_num * 4000**-1.5)
        np.testing.assert_allclose(float(s(step_num - 1)), want, rtol=1e-5)
    np.testing.assert_allclose(float(s(3999)), 512**-0.5 * 4000**-0.5, rtol=1e-5)  # the peak
    assert float(s(3998)) < float(s(3999)) > float(s(4000))
    clone = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(s))
    assert isinstance(clone, T.TransformerSchedule) and float(clone(9)) == float(s(9))
    opt = T.transformer_optimizer(d_model=512)
    assert (opt.beta_1, opt.beta_2, opt.epsilon) == (0.9, 0.98, 1e-9)
    assert isinstance(opt._learning_rate, T.TransformerSchedule)


def test_a_few_training_steps_reduce_the_loss():
    model = zoo.transformer_seq2seq(**TINY)
    model.compile(optimizer=T.transformer_optimizer(d_model=16, warmup_steps=10, scale=2.0),
                  loss=T.LabelSmoothedCrossEntropy())
    rng = np.random.default_rng(0)
    src = rng.integers(3, 50, (16, 6)).astype("int32")
    tgt = np.concatenate([np.ones((16, 1), "int32"), src[:, :5]], 1)  # copy task
    first = model.train_on_batch([src, tgt], src)
    for _ in range(15):
        last = model.train_on_batch([src, tgt], src)
    assert last < first


# ---------------------------------------------------------------------------------------------
# Decoding.
# ---------------------------------------------------------------------------------------------

V = 5  # pad 0, start 1, end 2, tokens 3 and 4


def _toy_model(seed=3):
    keras.utils.set_random_seed(seed)
    return zoo.transformer_seq2seq(vocabulary_size=V, num_layers=1, d_model=16, d_ff=32, num_heads=2,
                           dropout=0.0, tie_output_embedding=False)


# A crafted first-order Markov model: P(next | previous token), over ids 1..4 (pad never).
MARKOV = {
    1: {1: 0.05, 2: 0.05, 3: 0.5, 4: 0.4},   # after start: "a" (3) beats "b" (4)
    3: {1: 0.2, 2: 0.4, 3: 0.2, 4: 0.2},     # after a: end with 0.4
    4: {1: 0.03, 2: 0.9, 3: 0.03, 4: 0.04},  # after b: end with 0.9
    2: {1: 0.25, 2: 0.25, 3: 0.25, 4: 0.25},
}


def _markov_model():
    """A transformer forced to the Markov chain above.

    All attention and feed-forward weights are zero, so every sub-layer adds nothing and the
    decoder output at position t is LayerNorm(embedding(token_t) + PE(t)). Embeddings are large
    multiples of orthogonal zero-mean +-1 rows (Hadamard), so that output is the row itself up to
    ~1e-4; the output projection maps row j to the log-probabilities of MARKOV[j].
    """
    model = zoo.transformer_seq2seq(vocabulary_size=V, num_layers=1, d_model=16, d_ff=32, num_heads=2,
                            dropout=0.0, tie_output_embedding=False)
    for layer in model.layers:
        if layer.name.startswith(("encoder_layer", "decoder_layer")):
            for w in layer.weights:
                if "norm" not in w.path:
                    w.assign(np.zeros(w.shape, "float32"))
    hadamard = np.array([[1.0]])
    while hadamard.shape[0] < 16:
        hadamard = np.block([[hadamard, hadamard], [hadamard, -hadamard]])
    rows = hadamard[1 : V + 1]  # zero mean, unit variance, orthogonal
    model.get_layer("shared_embedding").embeddings.assign((1000.0 * rows).astype("float32"))
    log_p = np.full((V, V), -30.0)
    for prev, dist in MARKOV.items():
        for tok, p in dist.items():
            log_p[prev, tok] = math.log(p)
    kernel = rows.T @ log_p / 16.0  # rows[j] @ kernel = log_p[j]
    model.get_layer("output_projection").kernel.assign(kernel.astype("float32"))
    model.get_layer("output_projection").bias.assign(np.zeros(V, "float32"))
    return model


def _log_probs(model, src, prefixes):
    """Teacher-forced log P(next token) for each prefix (all start with the start id)."""
    width = max(len(p) for p in prefixes)
    tgt = np.zeros((len(prefixes), width), "int32")
    for i, p in enumerate(prefixes):
        tgt[i, : len(p)] = p
    logits = np.asarray(model([np.repeat(src, len(prefixes), 0), tgt])).astype("float64")
    logits[..., 0] = -1e9  # padding is never generated
    logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) \
        - logits.max(-1, keepdims=True)
    return [logp[i, len(p) - 1] for i, p in enumerate(prefixes)]


def _reference_greedy(model, src, max_length):
    seq, score = [1], 0.0
    for _ in range(max_length):
        lp = _log_probs(model, src, [seq])[0]
        tok = int(np.argmax(lp))
        seq.append(tok)
        score += lp[tok]
        if tok == 2:
            break
    out = seq[1:] + [0] * (max_length + 1 - len(seq))
    return out, score


def _exhaustive_best(model, src, max_length, alpha):
    """Best finished hypothesis by log P / lp(length), enumerating every one."""
    best, best_score = None, -np.inf
    for n in range(1, max_length + 1):
        for body in itertools.product([1, 3, 4], repeat=n - 1):
            hyp = list(body) + [2]
            prefixes = [[1] + hyp[:j] for j in range(n)]
            lps = _log_probs(model, src, prefixes)
            score = sum(lp[t] for lp, t in zip(lps, hyp)) / ((5 + n) / 6) ** alpha
            if score > best_score:
                best, best_score = hyp + [0] * (max_length - n), score
    return best, best_score


def test_greedy_matches_step_by_step_reference():
    model = _toy_model()
    src = np.array([[3, 4, 4, 3, 2], [4, 3, 2, 0, 0]], "int32")
    out = decoding.greedy_decode(model, src, max_length=4)
    for b in range(2):
        want, score = _reference_greedy(model, src[b : b + 1], 4)
        assert np.asarray(out["target_ids"])[b].tolist() == want
        np.testing.assert_allclose(float(out["scores"][b]), score, rtol=1e-4, atol=1e-4)


def test_beam_size_one_with_alpha_zero_is_greedy_or_better():
    """Beam 1 follows the greedy path, but also keeps an end token met on the way (2k = 2
    candidates per step), so it returns greedy's output or a finished one of higher log P."""
    model = _markov_model()
    src = np.array([[3, 4, 2]], "int32")
    greedy = decoding.greedy_decode(model, src, max_length=4)
    beam = decoding.beam_search(model, src, max_length=4, beam_size=1, alpha=0.0)
    np.testing.assert_array_equal(np.asarray(beam["target_ids"]), np.asarray(greedy["target_ids"]))
    np.testing.assert_allclose(np.asarray(beam["scores"]), np.asarray(greedy["scores"]), atol=1e-5)

    model = _toy_model()
    src = np.array([[3, 4, 4, 3, 2], [4, 3, 2, 0, 0], [3, 3, 2, 0, 0]], "int32")
    greedy = decoding.greedy_decode(model, src, max_length=4)
    beam = decoding.beam_search(model, src, max_length=4, beam_size=1, alpha=0.0)
    for b in range(len(src)):
        g, out = np.asarray(greedy["target_ids"])[b], np.asarray(beam["target_ids"])[b]
        if 2 in out:  # a finished hypothesis: greedy's, or a better one left on the way
            n = out.tolist().index(2)
            assert g[:n].tolist() == out[:n].tolist()  # it branched off the greedy path
            if 2 in g:
                assert float(beam["scores"][b]) >= float(greedy["scores"][b]) - 1e-5
        else:
            np.testing.assert_array_equal(out, g)


def test_beam_search_finds_the_exhaustive_best():
    """A wide beam is exact here (3 tokens, 3 steps): it must return the best hypothesis."""
    model = _toy_model()
    rng = np.random.default_rng(0)
    src = rng.integers(3, V, (6, 4)).astype("int32")
    max_length, alpha = 3, 0.6
    wide = decoding.beam_search(model, src, max_length, beam_size=32, alpha=alpha)
    beam4 = decoding.beam_search(model, src, max_length, beam_size=4, alpha=alpha)
    for b in range(len(src)):
        best, best_score = _exhaustive_best(model, src[b : b + 1], max_length, alpha)
        assert np.asarray(wide["target_ids"])[b].tolist() == best
        np.testing.assert_allclose(float(wide["scores"][b]), best_score, rtol=1e-4, atol=1e-4)
        assert float(beam4["scores"][b]) <= best_score + 1e-4


def test_beam_beats_greedy_on_a_crafted_model():
    """Greedy takes "a" (0.5) then ends (0.4): P = 0.2; beam finds "b" (0.4) then end (0.9): 0.36."""
    model = _markov_model()
    src = np.array([[3, 4, 2], [4, 2, 0]], "int32")
    greedy = decoding.greedy_decode(model, src, max_length=4)
    np.testing.assert_array_equal(np.asarray(greedy["target_ids"]), [[3, 2, 0, 0]] * 2)
    np.testing.assert_allclose(np.asarray(greedy["scores"]), [math.log(0.2)] * 2, atol=1e-3)
    lp2 = ((5 + 2) / 6) ** 0.6
    for k in (2, 4):
        beam = decoding.beam_search(model, src, max_length=4, beam_size=k, alpha=0.6)
        np.testing.assert_array_equal(np.asarray(beam["target_ids"]), [[4, 2, 0, 0]] * 2)
        np.testing.assert_allclose(np.asarray(beam["scores"]), [math.log(0.36) / lp2] * 2,
                                   atol=1e-3)
    # the length penalty: with a large alpha a longer hypothesis wins over b-end
    # log P(b, b, end) = log(0.4 * 0.04 * 0.9) is lower, so alpha 0 keeps "b end"
    beam0 = decoding.beam_search(model, src, max_length=4, beam_size=4, alpha=0.0)
    np.testing.assert_array_equal(np.asarray(beam0["target_ids"]), [[4, 2, 0, 0]] * 2)


def test_translate_in_tf_function_matches_eager():
    import tensorflow as tf

    model = _toy_model()
    src = np.array([[3, 4, 4, 3, 2], [4, 3, 2, 0, 0]], "int32")
    serve = tf.function(
        lambda ids: decoding.translate(model, ids, max_length=5, beam_size=3, alpha=0.6),
        input_signature=[tf.TensorSpec([None, None], tf.int32)],
    )
    got = serve(tf.constant(src))
    want = decoding.translate(model, src, max_length=5, beam_size=3, alpha=0.6)
    np.testing.assert_array_equal(got["target_ids"].numpy(), np.asarray(want["target_ids"]))
    # another batch size and length through the same concrete function
    one = serve(tf.constant(src[1:, :3]))
    np.testing.assert_array_equal(one["target_ids"].numpy()[0], np.asarray(want["target_ids"])[1])
    greedy = tf.function(
        lambda ids: decoding.translate(model, ids, max_length=5, beam_size=1),
        input_signature=[tf.TensorSpec([None, None], tf.int32)],
    )
    np.testing.assert_array_equal(
        greedy(tf.constant(src))["target_ids"].numpy(),
        np.asarray(decoding.greedy_decode(model, src, 5)["target_ids"]),
    )


@pytest.mark.slow
def test_translate_exports_to_a_saved_model(tmp_path):
    """`translate` as a SavedModel endpoint (what TF Serving loads): reload and decode."""
    import tensorflow as tf

    model = _markov_model()
    archive = keras.export.ExportArchive()
    archive.track(model)
    net = model

    archive.add_endpoint(
        "translate",
        lambda ids: decoding.translate(net, ids, max_length=4, beam_size=4, alpha=0.6),
        input_signature=[tf.TensorSpec([None, None], tf.int32, name="source_ids")],
    )
    archive.write_out(str(tmp_path / "1"))
    del model, archive
    keras.backend.clear_session(free_memory=False)
    served = tf.saved_model.load(str(tmp_path / "1"))
    out = served.translate(tf.constant([[3, 4, 2], [4, 2, 0]], tf.int32))
    np.testing.assert_array_equal(out["target_ids"].numpy(), [[4, 2, 0, 0]] * 2)
    lp2 = ((5 + 2) / 6) ** 0.6
    np.testing.assert_allclose(out["scores"].numpy(), [math.log(0.36) / lp2] * 2, atol=1e-3)


JAX_DECODE = r"""
import math, os, sys
import numpy as np
import jax, keras
assert keras.backend.backend() == "jax"
from keras.src.utils import module_utils
# without TensorFlow (Keras looks for it only to seed it and to recognise its TensorShape when
# serializing): the decoders run on JAX alone, and the process saves the 4-5 s of CPU of loading it
module_utils.tensorflow._available = False
sys.path.insert(0, os.path.join(os.getcwd(), "tests"))
from test_transformer import _markov_model
from zoo.models import transformer_decoding as decoding
model = _markov_model()
src = np.array([[3, 4, 2], [4, 2, 0]], "int32")
greedy = decoding.greedy_decode(model, src, max_length=4)
beam = jax.jit(lambda s: decoding.translate(model, s, max_length=4, beam_size=4, alpha=0.6))(src)
assert np.asarray(greedy["target_ids"]).tolist() == [[3, 2, 0, 0]] * 2, greedy
assert np.asarray(beam["target_ids"]).tolist() == [[4, 2, 0, 0]] * 2, beam
assert "tensorflow" not in sys.modules
print("JAX DECODING OK")
"""


@pytest.mark.slow
def test_decoding_runs_on_jax():
    """The decoders are keras.ops only: greedy and beam search (under jax.jit) on JAX."""
    from conftest import jax_process

    assert "JAX DECODING OK" in jax_process(JAX_DECODE)


def test_decoding_argument_errors():
    model = zoo.transformer_seq2seq(**TINY)
    src = np.array([[3, 2]], "int32")
    with pytest.raises(ValueError, match="max_length"):
        decoding.translate(model, src, max_length=0)
    with pytest.raises(ValueError, match="beam_size"):
        decoding.translate(model, src, max_length=3, beam_size=0)
    with pytest.raises(ValueError, match="alpha"):
        decoding.translate(model, src, max_length=3, alpha=-1)


# ---------------------------------------------------------------------------------------------
# Serialization and arguments.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("options", [dict(), dict(pre_norm=True, share_embeddings=False,
                                                   tie_output_embedding=False)])
def test_keras_file_round_trip_keeps_tied_weights_and_decoding(options):
    model = zoo.transformer_seq2seq(**TINY, **options)
    src = np.array([[5, 6, 7, 2, 0]], "int32")
    tgt = np.array([[1, 8, 9]], "int32")
    loaded = run_keras_file_round_trip(model, [src, tgt])
    np.testing.assert_array_equal(
        np.asarray(decoding.translate(loaded, src, max_length=4, beam_size=2)["target_ids"]),
        np.asarray(decoding.translate(model, src, max_length=4, beam_size=2)["target_ids"]),
    )


def test_layer_configs_round_trip():
    for layer in (TokenEmbedding(10, 4), PositionalEncoding(12), MultiHeadAttention(8, 2, 0.1),
                  TransformerEncoderLayer(8, 2, 16, 0.1, pre_norm=True),
                  TransformerDecoderLayer(8, 2, 16, 0.1, activation="gelu")):
        run_config_round_trip(layer)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_heads=3), "divisible"),
        (dict(vocabulary_size=0), "vocabulary_size"),
        (dict(dropout=1.5), "dropout"),
        (dict(target_vocabulary_size=60), "share_embeddings"),
        (dict(pre_norm="yes"), "pre_norm"),
    ],
)
def test_builder_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        zoo.transformer_seq2seq(**{**TINY, **kwargs})


def test_macs_of_the_tied_projection_and_attention():
    from zoo.core.macs import count_macs

    model = zoo.transformer_seq2seq(**TINY)
    per_layer = dict()
    for name, macs in count_macs(model, input_shapes=[(6,), (5,)], per_layer=True):
        per_layer.setdefault(name, []).append(macs)
    assert per_layer["shared_embedding"] == [0, 0, 5 * 16 * 50]  # lookups, then 5 x d x V
    d = 16
    self_attn = 4 * 6 * d * d + 2 * 6 * 6 * d
    assert per_layer["self_attention"][0] == self_attn
    assert per_layer["cross_attention"] == [2 * 5 * d * d + 6 * 2 * d * d + 2 * 5 * 6 * d]
