"""Translation data from sentence pairs: a user's TSV file (`read_pairs`), split and tokenised by
one SentencePiece vocabulary learned from the training split (`pairs_source`); the TFDS translation
datasets go through the same tokenisation (`tokenized_pairs`, `zoo.data.text.subword_source`).

The file: UTF-8, one pair a line, `source<TAB>target`; further columns are ignored; a first line
reading `source<TAB>target` (any case) is a header and skipped. Rows whose source or target is
empty (blank lines too) are skipped and counted; a row without a tab or not UTF-8 is an error
naming it.

One vocabulary serves both languages (as the paper's shared BPE): the Transformer can then share
its embeddings, names, numbers and words the languages share get the same pieces, and one file
travels with the model. Token ids follow `zoo.data.problems`: 0 padding, 1 begin, 2 end, 3 unknown.

Example:
    >>> from zoo.data.pairs import pairs_source
    >>> pairs = [(f"w{i} w{i + 1}", f"{i} {i + 1}") for i in range(40)]
    >>> src = pairs_source("numbers", pairs, max_length=6, vocab_size=64)
    >>> src.num_train, src.num_validation, src.num_test
    (32, 4, 4)
"""

from __future__ import annotations

import os
import tempfile
from typing import List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from zoo.data.source import DataSource
from zoo.data.subword import TOKENIZER_FILE, SubwordTokenizer

__all__ = ["read_pairs", "split_pairs", "pairs_source", "tokenized_pairs", "attach_tokenizer",
           "track_tokenizer", "tokenizer_of", "tokenizer_file_of", "TOKENIZER_ATTR"]

# the attribute of a model that holds the SubwordTokenizer it was trained with (exports read it)
TOKENIZER_ATTR = "_zoo_tokenizer"
TOKENIZER_FILE_ATTR = "_zoo_tokenizer_file"

Pairs = List[Tuple[str, str]]


def read_pairs(path, argument="--pairs") -> Tuple[Pairs, int]:
    """`(pairs, skipped)`: the `(source, target)` rows of a TSV file and how many rows were
    skipped for an empty source or target. One-line ValueErrors (naming `argument`, and the row
    where one is at fault) for a missing or empty file, a row without a tab or not UTF-8, and a
    file whose every row is empty."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"`{argument}` must be a TSV file of source<TAB>target lines. "
                         f"Received: {argument}={path!r}")
    with open(path, "rb") as f:
        data = f.read()
    if not data.strip():
        raise ValueError(f"`{argument}` must hold source<TAB>target lines; {path} is empty. "
                         f"Received: {argument}={path!r}")
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
        data = data[3:]
    lines = data.split(b"\n")
    if lines[-1] == b"":  # the file's last newline
        lines.pop()
    pairs, skipped = [], 0
    for row, line in enumerate(lines, start=1):
        line = line[:-1] if line.endswith(b"\r") else line
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"`{argument}` must be UTF-8; row {row} of {path} is not (byte "
                             f"{e.start + 1}: {line[e.start:e.start + 1]!r}). "
                             f"Received: {argument}={path!r}") from None
        if not text.strip():
            skipped += 1
            continue
        if "\t" not in text:
            raise ValueError(f"`{argument}` rows must be source<TAB>target; row {row} of {path} "
                             f"has no tab: {text[:60]!r}. Received: {argument}={path!r}")
        source, target = (c.strip() for c in text.split("\t")[:2])
        if row == 1 and (source.lower(), target.lower()) == ("source", "target"):
            continue  # the header
        if not source or not target:
            skipped += 1
            continue
        pairs.append((source, target))
    if not pairs:
        raise ValueError(f"`{argument}` must hold at least one pair with a non-empty source and "
                         f"target; all {skipped} rows of {path} have an empty one. "
                         f"Received: {argument}={path!r}")
    return pairs, skipped


def split_pairs(pairs: Sequence, seed=0, validation_fraction=0.1, test_fraction=0.1):
    """`(train, validation, test)`: `pairs` shuffled with `seed` and cut; the validation and test
    splits get their fraction, at least one pair each (the rest trains, at least one)."""
    pairs = list(pairs)
    if len(pairs) < 3:
        raise ValueError("`pairs` must hold at least 3 pairs to split into training, validation "
                         f"and test pairs. Received: {len(pairs)} pairs")
    order = np.random.default_rng(seed).permutation(len(pairs))
    n_val = max(1, int(round(len(pairs) * validation_fraction)))
    n_test = max(1, int(round(len(pairs) * test_fraction)))
    shuffled = [pairs[i] for i in order]
    return shuffled[n_val + n_test:], shuffled[:n_val], shuffled[n_val:n_val + n_test]


def tokenized_pairs(tokenizer: SubwordTokenizer, max_length: int):
    """`fn((source, target), training) -> ((source ids, decoder input), labels)` for one raw
    string pair, in-graph: source `[max_length]`, decoder input `[BOS, target...]` and labels
    `[target..., EOS]` `[max_length + 1]`, padded with 0 (the layout of `zoo.data.problems`)."""
    max_length = int(max_length)

    def preprocess(ex, training):
        # the SentencePiece resource made in the pipeline's own function: one made eagerly is not
        # found by a distributed pipeline's iterator (NotFoundError: SentencepieceOp ... does not
        # exist)
        tok = tokenizer.in_graph()
        s, t = ex
        src = tok.encode(tf.reshape(s, [1]), max_length)[0]
        dec_in = tok.encode(tf.reshape(t, [1]), max_length + 1, add_bos=True)[0]
        labels = tok.encode(tf.reshape(t, [1]), max_length + 1, add_eos=True)[0]
        return (src, dec_in), labels

    return preprocess


def _strings(pairs, column):
    return np.array([p[column] for p in pairs], dtype=object)


def pairs_source(name, pairs: Pairs, max_length=20, vocab_size=8192, *, validation=None,
                 test=None, seed=0, tokenizer: Optional[SubwordTokenizer] = None) -> DataSource:
    """A translation `DataSource` of string pairs.

    Args:
        name: the dataset's name (the file's).
        pairs: `[(source, target), ...]`: the training pairs when `validation` and `test` are
            given, else all pairs, split by `split_pairs(pairs, seed)` (80 / 10 / 10).
        max_length: subword tokens per source and target (longer ones are cut).
        vocab_size: pieces of the one SentencePiece vocabulary of both languages, learned from
            the training pairs only.
        validation, test: pairs of those splits (both or neither).
        tokenizer: a `SubwordTokenizer` to use instead of learning one (a resumed run's).

    `info` holds `vocab_size` (the tokenizer's), `max_len`, `target_len`, `tokenizer` and
    `long_train_pairs` (training pairs with a side longer than `max_length` tokens, cut).
    """
    if (validation is None) != (test is None):
        raise ValueError("Give both validation and test pairs, or neither (then the pairs are "
                         "split). Received: "
                         f"validation={'given' if validation else None}, test={'given' if test else None}")
    train = list(pairs)
    if validation is None:
        train, validation, test = split_pairs(train, seed)
    if tokenizer is None:
        tokenizer = SubwordTokenizer.learn([s for s, _ in train] + [t for _, t in train],
                                           vocab_size)

    lengths = [tokenizer.tokenize([p[c] for p in train]).row_lengths().numpy() for c in (0, 1)]
    long = int(np.sum((lengths[0] > max_length) | (lengths[1] > max_length)))

    def over(split):
        return lambda *_: tf.data.Dataset.from_tensor_slices((_strings(split, 0), _strings(split, 1)))

    return DataSource(
        name=name, train=over(train), test=over(test), validation=over(validation),
        num_train=len(train), num_test=len(test), num_validation=len(validation),
        preprocess=tokenized_pairs(tokenizer, max_length), cache=True,
        info={"vocab_size": tokenizer.vocab_size, "max_len": int(max_length),
              "target_len": int(max_length) + 1, "tokenizer": tokenizer,
              "long_train_pairs": long})


def attach_tokenizer(model, tokenizer: Optional[SubwordTokenizer]):
    """Record on `model` the tokenizer it was trained with (None leaves what is recorded);
    returns `model`."""
    if tokenizer is not None:
        object.__setattr__(model, TOKENIZER_ATTR, tokenizer)
    return model


def track_tokenizer(model, tokenizer: SubwordTokenizer, path=None):
    """Make an export of `model` (`keras.export.ExportArchive.track(model)`) save `tokenizer`:
    its SentencePiece op resource (the graph holds the model's bytes) and, as a
    `tf.saved_model.Asset`, its file as `assets/tokenizer.model` for clients (`path`, or a copy
    written to a temporary folder); returns `model`."""
    if path is None or os.path.basename(os.fspath(path)) != TOKENIZER_FILE:
        path = tokenizer.save(tempfile.mkdtemp(prefix="zoo-tokenizer-"))
    sentencepiece = tokenizer.tf_text_tokenizer  # tensorflow_text.SentencepieceTokenizer, a tf.Module
    sentencepiece._model_resource._track_trackable(  # the resource the archive collects
        tf.saved_model.Asset(os.fspath(path)), name="tokenizer_model", overwrite=True)
    model._zoo_sentencepiece = sentencepiece  # tracked: the archive walks the model to it
    return model


def tokenizer_of(model) -> Optional[SubwordTokenizer]:
    """The tokenizer recorded on `model`, else the `tokenizer.model` beside the `.keras` file
    it was loaded from (`zoo.core.saving.load_model` records the file), else None."""
    tok = getattr(model, TOKENIZER_ATTR, None)
    if tok is not None:
        return tok
    from zoo.core.saving import source_file_of

    path = source_file_of(model)
    side = os.path.join(os.path.dirname(path), TOKENIZER_FILE) if path else None
    if side and os.path.isfile(side):
        object.__setattr__(model, TOKENIZER_FILE_ATTR, side)
        return getattr(attach_tokenizer(model, SubwordTokenizer.load(side)), TOKENIZER_ATTR)
    return None


def tokenizer_file_of(model) -> Optional[str]:
    """The file `tokenizer_of(model)` read the model's tokenizer from, or None."""
    return getattr(model, TOKENIZER_FILE_ATTR, None)

