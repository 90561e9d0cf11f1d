"""The generated problems of the embedded datasets: the adding problem and sequence reversal
(NumPy arrays), and their `DataSource`s with disjoint train / validation / test splits.

Example:
    >>> from zoo.data.problems import adding_problem
    >>> x, y = adding_problem(4, steps=10)
    >>> x.shape, y.shape
    ((4, 10, 2), (4, 1))
"""

from __future__ import annotations

import numpy as np

from zoo.core.moved import renamed_arguments
from zoo.data.source import array_source

__all__ = ["adding_problem", "reversal_problem", "unseen_examples", "adding_source",
           "reversal_source", "PAD", "BOS", "EOS"]

# Token conventions of the sequence-to-sequence sources.
PAD, BOS, EOS = 0, 1, 2


def adding_problem(n, steps=100, seed=0):
    """The adding problem (Hochreiter & Schmidhuber 1997, as in Le et al. 2015).

    Each input is `steps` pairs (value ~ U(0, 1), marker); exactly two markers are 1, one in each
    half of the sequence; the target is the sum of the two marked values. Predicting the constant
    1 gives a mean squared error of 1/6 (about 0.167).

    Returns:
        `x` of shape (n, steps, 2) float32 and `y` of shape (n, 1) float32.
    """
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.0, 1.0, size=(n, steps)).astype("float32")
    half = steps // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, steps, size=n)
    markers = np.zeros((n, steps), "float32")
    markers[np.arange(n), first] = 1.0
    markers[np.arange(n), second] = 1.0
    x = np.stack([values, markers], axis=-1)
    y = (values[np.arange(n), first] + values[np.arange(n), second])[:, None].astype("float32")
    return x, y


def reversal_problem(n, max_len=20, vocab=20, min_len=1, seed=0):
    """Sequence reversal: source a random sequence of `vocab` symbols, target the same reversed.

    Symbols are the token ids 3 .. vocab + 2 (0 is padding, 1 begin, 2 end). Sequences have a
    length drawn uniformly in [min_len, max_len] and are padded to `max_len` (sources) and
    `max_len + 1` (targets, which get BOS in the decoder input and EOS in the labels).

    Returns:
        `((source, decoder_input), labels)`, int32 arrays of shapes (n, max_len),
        (n, max_len + 1), (n, max_len + 1).
    """
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_len, max_len + 1, size=n)
    src = np.zeros((n, max_len), "int32")
    dec_in = np.zeros((n, max_len + 1), "int32")
    labels = np.zeros((n, max_len + 1), "int32")
    for i, length in enumerate(lengths):
        seq = rng.integers(3, vocab + 3, size=length)
        rev = seq[::-1]
        src[i, :length] = seq
        dec_in[i, 0] = BOS
        dec_in[i, 1 : length + 1] = rev
        labels[i, :length] = rev
        labels[i, length] = EOS
    return (src, dec_in), labels


def unseen_examples(candidates, labels, seen, n):
    """The first `n` of the candidate examples whose source sequence is not in `seen` (and not
    repeated among them)."""
    src, dec_in = candidates
    keep, taken = [], set(seen)
    for i, row in enumerate(src):
        key = row.tobytes()
        if key not in taken:
            taken.add(key)
            keep.append(i)
        if len(keep) == n:
            break
    if len(keep) < n:
        raise ValueError(f"Only {len(keep)} reversal sequences not in another split; asked for "
                         f"{n}. Use a larger `vocab` or `max_len`, or fewer held-out examples.")
    keep = np.asarray(keep)
    return (src[keep], dec_in[keep]), labels[keep]


@renamed_arguments(num_eval="num_test")
def adding_source(steps=100, num_train=20_000, num_test=2_000, seed=0, num_validation=2_000):
    """The adding problem as a `DataSource`: train, test (`num_test`) and validation
    (`num_validation`, 0 for none) drawn with the seeds `seed`, `seed + 1` and `seed + 2`."""
    x_tr, y_tr = adding_problem(num_train, steps, seed)
    x_te, y_te = adding_problem(num_test, steps, seed + 1)
    val = adding_problem(num_validation, steps, seed + 2) if num_validation else None
    return array_source("adding", x_tr, y_tr, x_te, y_te, validation=val,
                        info={"input_shape": (steps, 2), "steps": steps})


@renamed_arguments(num_eval="num_test")
def reversal_source(max_len=20, vocab=20, num_train=20_000, num_test=1_000, seed=0,
                    num_validation=1_000):
    """Sequence reversal as a `DataSource`; `info['vocab_size']` counts PAD, BOS and EOS too.

    The test sequences (`num_test`) are drawn with the seed `seed + 1` and none of them is a
    training sequence (short sequences are few: of 1,000 drawn independently, about 80 are also
    among 10,000 training ones), so the held-out score measures reversal, not memory; the
    validation sequences (`num_validation`, 0 for none; seed `seed + 2`) are in neither.
    """
    tr, y_tr = reversal_problem(num_train, max_len, vocab, seed=seed)
    seen = {row.tobytes() for row in tr[0]}
    drawn, y_drawn = reversal_problem(4 * num_test + 100, max_len, vocab, seed=seed + 1)
    te, y_te = unseen_examples(drawn, y_drawn, seen, num_test)
    val = None
    if num_validation:
        drawn, y_drawn = reversal_problem(4 * num_validation + 100, max_len, vocab, seed=seed + 2)
        val = unseen_examples(drawn, y_drawn, seen | {row.tobytes() for row in te[0]}, num_validation)
    return array_source(
        "reversal", tr, y_tr, te, y_te, validation=val,
        info={"vocab_size": vocab + 3, "max_len": max_len, "target_len": max_len + 1},
    )
