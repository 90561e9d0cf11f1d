"""zoo.data.subword: a SentencePiece tokenizer learned from texts, run in-graph, saved as a file."""

import numpy as np
import pytest
import tensorflow as tf

from zoo.data.subword import SubwordTokenizer

pytestmark = pytest.mark.fast

TEXTS = ["one two three", "four five six", "seven eight nine", "twenty one", "thirty two"] * 10


def test_learn_encode_detokenize_round_trip_and_special_ids():
    tok = SubwordTokenizer.learn(TEXTS, vocab_size=40)
    assert 8 <= tok.vocab_size <= 40
    ids = tok.encode(["seven two", "one"], max_length=12, add_bos=True, add_eos=True).numpy()
    assert ids.shape == (2, 12) and ids[0, 0] == 1 and ids.dtype == np.int32
    n = int(np.sum(ids[1] > 0))
    assert ids[1, n - 1] == 2 and np.all(ids[1, n:] == 0)
    assert tok.detokenize(ids).numpy().tolist() == [b"seven two", b"one"]
    # everything after the first end token is dropped
    cut = np.concatenate([ids[:, :3], [[2], [2]], ids[:, 3:]], axis=1)
    assert tok.detokenize(cut).numpy()[0] == tok.detokenize(ids[:, :3]).numpy()[0]


def test_truncation_keeps_end_token_and_learning_is_deterministic(tmp_path):
    tok = SubwordTokenizer.learn(TEXTS, vocab_size=40)
    ids = tok.encode(["one two three four five six seven"], max_length=5, add_eos=True).numpy()
    assert ids[0, -1] == 2 and np.all(ids[0, :-1] > 2)
    again = SubwordTokenizer.learn(TEXTS, vocab_size=40)
    assert again.model_proto == tok.model_proto
    path = tok.save(tmp_path)
    assert path.endswith("tokenizer.model") and not list(tmp_path.glob("*.tmp-*"))
    loaded = SubwordTokenizer.load(tmp_path)
    assert loaded.pieces() == tok.pieces()
    assert np.array_equal(loaded.encode(["six"], 4).numpy(), tok.encode(["six"], 4).numpy())


def test_bad_vocabulary_sizes_and_files_are_refused_in_one_line(tmp_path):
    with pytest.raises(ValueError, match="at least 8"):
        SubwordTokenizer.learn(TEXTS, vocab_size=4)
    with pytest.raises(ValueError, match=r"too small: .* distinct characters"):
        SubwordTokenizer.learn(TEXTS, vocab_size=10)
    with pytest.raises(ValueError, match="No non-empty text"):
        SubwordTokenizer.learn(["", "  "], vocab_size=40)
    bad = tmp_path / "tokenizer.model"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a SentencePiece tokenizer model"):
        SubwordTokenizer.load(bad)


def test_tokenizer_runs_inside_a_saved_model(tmp_path):
    tok = SubwordTokenizer.learn(TEXTS, vocab_size=40)

    class Module(tf.Module):
        def __init__(self):
            super().__init__()
            self.tok = tok._tokenizer

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def round_trip(self, text):
            return self.tok.detokenize(self.tok.tokenize(text))

    tf.saved_model.save(Module(), str(tmp_path / "m"))
    loaded = tf.saved_model.load(str(tmp_path / "m"))
    assert loaded.round_trip(tf.constant(["thirty one"])).numpy().tolist() == [b"thirty one"]


def test_in_graph_copy_tokenizes_inside_a_dataset_map_as_the_eager_one():
    tok = SubwordTokenizer.learn(TEXTS, vocab_size=40)
    texts = ["seven two", "thirty one"]
    ds = tf.data.Dataset.from_tensor_slices(texts).map(
        lambda t: tok.in_graph().encode(tf.reshape(t, [1]), 6)[0]).batch(2)
    (ids,) = list(ds)
    assert np.array_equal(ids.numpy(), tok.encode(texts, 6).numpy())
    assert tok.in_graph().tf_text_tokenizer is not tok.tf_text_tokenizer
