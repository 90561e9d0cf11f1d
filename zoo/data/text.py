"""Token sources: the embedded digits as 64 grey-level tokens; text classification from a user's
CSV / TSV file (`text_file_source`) or a TFDS dataset (`text_source`), both tokenised by a
`zoo.data.subword.SubwordTokenizer` learned from the training split only; TFDS translation datasets
tokenised by subword encoders (token ids: 0 padding, 1 begin, 2 end, as `zoo.data.problems`).

Example:
    >>> from zoo.data.text import digits_tokens_source
    >>> digits_tokens_source().info["vocab_size"]
    18
"""

from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf

from zoo.data.images import digits_split
from zoo.data.source import array_source
from zoo.data.subword import TOKENIZER_FILE, UNK, SubwordTokenizer
from zoo.data.text_files import read_table
from zoo.data.tfds import tfds_source

__all__ = ["digits_tokens_source", "text_source", "subword_source", "text_file_source",
           "stratified_split", "set_tokenizer", "tokenizer_of", "save_text_settings",
           "load_text_settings"]

# the attributes of a model that hold the `SubwordTokenizer` its token ids come from and the
# number of pieces it was trained on (its exports take raw text); recorded by the text recipes,
# read by the export
TOKENIZER_ATTR = "_zoo_tokenizer"
MAX_LENGTH_ATTR = "_zoo_text_max_length"
TEXT_SETTINGS_FILE = "tokenizer.json"


def set_tokenizer(model, tokenizer, max_length=None):
    """Record `tokenizer` (a `SubwordTokenizer`; None leaves what is recorded) and the pieces per
    text `max_length` on `model`; returns `model`."""
    if tokenizer is not None:
        setattr(model, TOKENIZER_ATTR, tokenizer)
    if max_length is not None:
        setattr(model, MAX_LENGTH_ATTR, int(max_length))
    return model


def tokenizer_of(model):
    """`(tokenizer, max_length)` recorded on `model` (each None when not)."""
    return getattr(model, TOKENIZER_ATTR, None), getattr(model, MAX_LENGTH_ATTR, None)


def save_text_settings(folder, tokenizer, max_length):
    """Write `tokenizer.model` and `tokenizer.json` (`{"max_length": ...}`) into `folder`
    (a run folder, beside `model.keras`), each atomically; returns the tokenizer's path."""
    os.makedirs(folder, exist_ok=True)
    path = tokenizer.save(os.path.join(folder, TOKENIZER_FILE))
    target = os.path.join(folder, TEXT_SETTINGS_FILE)
    with open(f"{target}.tmp-{os.getpid()}", "w") as f:
        json.dump({"max_length": int(max_length), "vocab_size": tokenizer.vocab_size}, f)
    os.replace(f"{target}.tmp-{os.getpid()}", target)
    return path


def load_text_settings(folder):
    """`(tokenizer, max_length)` saved by `save_text_settings` in `folder`, or `(None, None)`
    when it holds no `tokenizer.model`."""
    path = os.path.join(folder, TOKENIZER_FILE)
    if not os.path.isfile(path):
        return None, None
    settings = os.path.join(folder, TEXT_SETTINGS_FILE)
    max_length = None
    if os.path.isfile(settings):
        with open(settings) as f:
            max_length = json.load(f).get("max_length")
    return SubwordTokenizer.load(path), max_length


def digits_tokens_source(seed=0):
    """The embedded digits as 64 tokens each (17 grey levels + 1; 0 is padding), 10 classes;
    the train / validation / test splits of `zoo.data.digits_source`."""
    x_tr, x_va, x_te, y_tr, y_va, y_te = digits_split(seed, validation_fraction=0.15)

    def tok(x):
        return (np.round(x.reshape(len(x), -1) / 255.0 * 16) + 1).astype("int32")

    return array_source("digits_tokens", tok(x_tr), y_tr, tok(x_te), y_te,
                        validation=(tok(x_va), y_va),
                        info={"num_classes": 10, "vocab_size": 18, "input_shape": (64,),
                              "class_names": [str(i) for i in range(10)]})


def text_source(name, vocab_size, max_length, data_dir=None, tokenizer=None):
    """A TFDS text classification dataset tokenised in the pipeline by a `SubwordTokenizer`
    learned from (up to 20,000 texts of) its training split, or by `tokenizer` (a resumed run's)."""
    src = tfds_source(name, data_dir=data_dir)
    if tokenizer is None:
        texts = src.train(None).take(20_000).map(lambda text, label: text)
        tokenizer = SubwordTokenizer.learn(texts.as_numpy_iterator(), vocab_size)

    def preprocess(ex, training):
        ids = tokenizer.in_graph().encode(tf.reshape(ex[0], [1]), max_length)[0]
        return tf.where(tf.reduce_any(ids > 0), ids, _unknown(max_length)), tf.cast(ex[1], tf.int32)

    src.preprocess = preprocess
    src.info.update(input_shape=(max_length,), vocab_size=tokenizer.vocab_size, tokenizer=tokenizer)
    return src


def _unknown(max_length):
    """The ids of an empty text: one unknown piece, then padding (what the exports answer)."""
    return tf.constant([UNK] + [0] * (int(max_length) - 1), tf.int32)


def stratified_split(labels, fraction, seed):
    """`(kept, taken)` index arrays: `fraction` of the examples of each label taken (at least
    one of each label with 2 or more examples, when `fraction` > 0), the rest kept; seeded."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    kept, taken = [], []
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        rng.shuffle(idx)
        n = int(round(fraction * len(idx)))
        if fraction > 0 and len(idx) >= 2:
            n = min(max(n, 1), len(idx) - 1)
        taken.append(idx[:n])
        kept.append(idx[n:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(taken))


def _read_split(path, text_column, label_column, argument):
    """`(texts, labels, skipped)`: the non-empty texts of a file and their labels."""
    table = read_table(path, [text_column, label_column], argument=argument)
    texts, labels = table[text_column], [lab.strip() for lab in table[label_column]]
    keep = [i for i, t in enumerate(texts) if t.strip()]
    unlabelled = [i for i in keep if not labels[i]]
    if unlabelled:
        raise ValueError(f"`{argument}` data row {unlabelled[0] + 1} has a text but an empty label in "
                         f"column {label_column!r}. Received: {argument}={str(path)!r}")
    if not keep:
        raise ValueError(f"`{argument}` holds no non-empty text in column {text_column!r}. "
                         f"Received: {argument}={str(path)!r}")
    return [texts[i] for i in keep], [labels[i] for i in keep], len(texts) - len(keep)


def _splits(texts, labels, classes, skipped, seed, text_column, label_column, **given):
    """`({split: (texts, labels)}, skipped)`: the test and validation splits read from their
    files (`given[split] = (fraction, path)`), else taken from the training file stratified."""
    splits = {}
    rest = np.arange(len(texts))
    for key in ("test", "validation"):
        fraction, path = given[key]
        if path is not None:
            t, lab, n = _read_split(path, text_column, label_column, f"{key}_csv")
            skipped += n
            unknown = sorted(set(lab) - set(classes))
            if unknown:
                raise ValueError(f"`{key}_csv` holds labels the training file lacks: "
                                 f"{', '.join(repr(u) for u in unknown[:5])}. Received: "
                                 f"{key}_csv={str(path)!r}")
            splits[key] = (t, lab)
        else:
            kept, taken = stratified_split([labels[i] for i in rest], fraction, seed)
            splits[key] = ([texts[i] for i in rest[taken]], [labels[i] for i in rest[taken]])
            rest = rest[kept]
    splits["train"] = ([texts[i] for i in rest], [labels[i] for i in rest])
    return splits, skipped


def text_file_source(path, text_column="text", label_column="label", *, validation_path=None,
                     test_path=None, vocab_size=8000, max_length=128, validation_fraction=0.1,
                     test_fraction=0.1, seed=0, tokenizer=None):
    """Text classification from a user's UTF-8 CSV or TSV file with a header row.

    Labels are any strings; the class names are the training split's labels, sorted. Without
    `validation_path` / `test_path`, those splits are taken from the file, stratified by label
    and seeded. Empty texts are skipped (counted in `info["skipped_empty"]`). The tokenizer is
    learned from the training split only (or `tokenizer`, a resumed run's, is used).

    Raises a one-line ValueError (before any training) for an empty file, a missing column, a
    line that is not UTF-8, one class only, only empty texts, a label of a validation or test
    file that the training split lacks, or a vocabulary size too small for the texts.

    Example:
        >>> import pathlib, tempfile
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> rows = [f"{w} {w},{'a' if w < 'm' else 'z'}" for w in "ab cd mn xy ef uv gh st".split()]
        >>> _ = f.write_text("text,label\\n" + "\\n".join(rows * 5))
        >>> src = text_file_source(f, vocab_size=30, max_length=8)
        >>> src.info["class_names"], src.num_train + src.num_validation + src.num_test
        (['a', 'z'], 40)
    """
    texts, labels, skipped = _read_split(path, text_column, label_column, "csv")
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ValueError(f"`csv` holds one class only ({classes[0]!r} in column {label_column!r}); a "
                         f"classifier needs at least 2. Received: csv={str(path)!r}")
    splits, skipped = _splits(texts, labels, classes, skipped, seed, text_column, label_column,
                              test=(test_fraction, test_path),
                              validation=(validation_fraction, validation_path))
    if len(set(splits["train"][1])) < 2:
        raise ValueError("The training split holds one class only; give more rows of each class. "
                         f"Received: csv={str(path)!r}")
    if tokenizer is None:
        tokenizer = SubwordTokenizer.learn(splits["train"][0], vocab_size)
    index = {c: i for i, c in enumerate(classes)}

    def arrays(key):
        t, lab = splits[key]
        if not t:
            return np.zeros((0, max_length), "int32"), np.zeros((0,), "int32")
        ids = tokenizer.encode(t, max_length).numpy()
        ids[~ids.any(axis=1)] = _unknown(max_length).numpy()
        return ids, np.array([index[x] for x in lab], "int32")

    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = arrays("train"), arrays("validation"), arrays("test")
    info = {"num_classes": len(classes), "class_names": classes, "vocab_size": tokenizer.vocab_size,
            "input_shape": (max_length,), "tokenizer": tokenizer, "skipped_empty": skipped}
    return array_source(os.fspath(path), x_tr, y_tr, x_te if len(x_te) else None,
                        y_te if len(x_te) else None,
                        validation=(x_va, y_va) if len(x_va) else None, info=info)


def subword_source(name, max_length, target_vocab, data_dir=None):
    """A TFDS translation dataset tokenised by one SentencePiece vocabulary of `target_vocab`
    pieces learned from (up to 50,000 pairs of) its train split: the tokenisation of a file of
    pairs (`zoo.data.pairs`), in-graph; `info["tokenizer"]` holds the `SubwordTokenizer`."""
    from zoo.data.pairs import tokenized_pairs
    from zoo.data.subword import SubwordTokenizer

    src = tfds_source(name, data_dir=data_dir)
    corpus = list(src.train(None).take(50_000).as_numpy_iterator())
    tokenizer = SubwordTokenizer.learn([s for s, _ in corpus] + [t for _, t in corpus],
                                       target_vocab)
    src.preprocess = tokenized_pairs(tokenizer, max_length)
    src.info.update(vocab_size=tokenizer.vocab_size, max_len=max_length,
                    target_len=max_length + 1, tokenizer=tokenizer)
    return src
