"""A subword tokenizer that travels with the model: SentencePiece, learned from the training split.

Why SentencePiece (the `sentencepiece` library to learn, `tensorflow_text.SentencepieceTokenizer`
to run): it learns a vocabulary from raw sentences of any language without a pre-tokeniser, its
detokenisation is exact (translations come back as plain strings), learning is fast C++, and the
same model runs inside a SavedModel graph as a TF Text op, which the TF Serving model server links.
The learned model is one file of bytes: the run folder keeps it beside `model.keras`
(`tokenizer.model`) and every export carries it in `assets/`.

Token ids follow `zoo.data.problems`: 0 padding, 1 begin, 2 end; 3 is the unknown piece.

This module is TensorFlow-only (tf.data and SavedModel code); the builders never import it.

Example:
    >>> from zoo.data.subword import SubwordTokenizer
    >>> tok = SubwordTokenizer.learn(["one two three", "four five six"] * 20, vocab_size=30)
    >>> tok.detokenize(tok.encode(["two one"], max_length=8)).numpy().tolist()
    [b'two one']
"""

from __future__ import annotations

import io
import os

import tensorflow as tf

from zoo.data.problems import BOS, EOS, PAD

__all__ = ["SubwordTokenizer", "UNK", "TOKENIZER_FILE", "MIN_VOCAB_SIZE"]

UNK = 3
TOKENIZER_FILE = "tokenizer.model"
MIN_VOCAB_SIZE = 8


class SubwordTokenizer:
    """A SentencePiece model (bytes) with in-graph tokenisation and detokenisation.

    Args:
        model_proto: the serialized SentencePiece model (what `learn` makes, what `save` writes).
    """

    def __init__(self, model_proto):
        import tensorflow_text as tf_text  # registers the TF Text ops (SentencepieceOp, ...)

        self.model_proto = bytes(model_proto)
        self._tokenizer = tf_text.SentencepieceTokenizer(model=self.model_proto, out_type=tf.int32)
        self.vocab_size = int(self._tokenizer.vocab_size())

    # ------------------------------------------------------------------------- learning
    @classmethod
    def learn(cls, texts, vocab_size, model_type="unigram", character_coverage=1.0):
        """Learn a vocabulary of (at most) `vocab_size` pieces from an iterable of strings.

        Deterministic for the same texts in the same order (one thread). Raises a one-line
        `ValueError` when `vocab_size` cannot hold the texts' characters and the special pieces.
        """
        import sentencepiece as spm

        vocab_size = int(vocab_size)
        if vocab_size < MIN_VOCAB_SIZE:
            raise ValueError(f"vocab_size must be at least {MIN_VOCAB_SIZE} (4 special pieces and "
                             f"some text). Received: vocab_size={vocab_size}")
        if model_type not in ("unigram", "bpe", "char", "word"):
            raise ValueError("model_type must be one of 'unigram', 'bpe', 'char', 'word'. "
                             f"Received: model_type={model_type!r}")
        texts = [t.decode("utf-8") if isinstance(t, bytes) else str(t) for t in texts]
        texts = [t for t in texts if t.strip()]
        if not texts:
            raise ValueError("No non-empty text to learn a vocabulary from.")
        chars = {c for t in texts for c in t if not c.isspace()}
        needed = len(chars) + 4 + 1  # every character, the 4 special pieces, the word boundary
        if model_type != "word" and vocab_size < needed:
            raise ValueError(f"vocab_size={vocab_size} is too small: the training texts hold "
                             f"{len(chars)} distinct characters, so at least {needed} pieces are "
                             f"needed. Received: vocab_size={vocab_size}")
        out = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=out, vocab_size=vocab_size,
            model_type=model_type, character_coverage=float(character_coverage),
            pad_id=PAD, bos_id=BOS, eos_id=EOS, unk_id=UNK, hard_vocab_limit=False,
            num_threads=1, minloglevel=2, normalization_rule_name="nmt_nfkc",
            max_sentence_length=1 << 16)
        return cls(out.getvalue())

    @property
    def tf_text_tokenizer(self):
        """The `tensorflow_text.SentencepieceTokenizer` (a `tf.Module`): what an export tracks so
        that its model resource is saved with the graph."""
        return self._tokenizer

    def in_graph(self):
        """A copy whose TF Text op is made anew where this is called. Use it inside a function
        traced elsewhere (a `tf.data` map function under a distribution strategy), where the op
        made eagerly by `__init__` does not exist (`NotFoundError: SentencepieceOp ...`)."""
        import copy

        import tensorflow_text as tf_text

        tok = copy.copy(self)
        tok._tokenizer = tf_text.SentencepieceTokenizer(model=self.model_proto, out_type=tf.int32)
        return tok

    # ------------------------------------------------------------------------- running
    def tokenize(self, texts):
        """`texts` (string tensor, [batch]) -> ragged int32 ids, [batch, None]."""
        return self._tokenizer.tokenize(tf.convert_to_tensor(texts, tf.string))

    def encode(self, texts, max_length, add_bos=False, add_eos=False):
        """Dense int32 ids `[batch, max_length]`: truncated to fit (EOS kept last when asked),
        BOS first when asked, padded with 0."""
        ids = self.tokenize(texts)
        room = int(max_length) - int(add_bos) - int(add_eos)
        if room < 1:
            raise ValueError(f"max_length={max_length} leaves no room for tokens.")
        ids = ids[:, :room]
        parts = []
        rows = ids.nrows()
        if add_bos:
            parts.append(tf.fill(tf.stack([rows, 1]), BOS))
        parts.append(ids)
        if add_eos:
            parts.append(tf.fill(tf.stack([rows, 1]), EOS))
        ids = tf.concat(parts, axis=1) if len(parts) > 1 else ids
        return ids.to_tensor(default_value=PAD, shape=[None, int(max_length)])

    def detokenize(self, ids):
        """Int ids `[batch, n]` -> strings `[batch]`: everything up to the first EOS, with PAD
        and BOS dropped."""
        ids = tf.cast(tf.convert_to_tensor(ids), tf.int32)
        before_eos = tf.cumsum(tf.cast(tf.equal(ids, EOS), tf.int32), axis=1, exclusive=True) == 0
        keep = before_eos & (ids > EOS)
        return self._tokenizer.detokenize(tf.ragged.boolean_mask(ids, keep))

    # ------------------------------------------------------------------------- files
    def save(self, path):
        """Write the model's bytes to `path` (a file, or a folder that gets `tokenizer.model`),
        atomically (a temporary file renamed); returns the file's path."""
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, TOKENIZER_FILE)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(self.model_proto)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path):
        """Read a tokenizer written by `save` (a file, or a folder holding `tokenizer.model`)."""
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, TOKENIZER_FILE)
        with open(path, "rb") as f:
            data = f.read()
        try:
            import sentencepiece as spm

            spm.SentencePieceProcessor(model_proto=data)
        except Exception as e:  # a damaged or foreign file: one line naming it
            raise ValueError(f"{path} is not a SentencePiece tokenizer model ({e}).") from None
        return cls(data)

    def pieces(self):
        """The vocabulary's pieces, in id order (for docs and clients)."""
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_proto=self.model_proto)
        return [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
