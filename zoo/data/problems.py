"""The generated problems of the embedded datasets (NumPy only): the adding problem and sequence
reversal; `zoo.data` makes them into `DataSource`s with disjoint train / validation / test splits.

Example:
    >>> from zoo.data.problems import adding_problem
    >>> x, y = adding_problem(4, steps=10)
    >>> x.shape, y.shape
    ((4, 10, 2), (4, 1))
"""

from __future__ import annotations

import numpy as np

__all__ = ["adding_problem", "reversal_problem", "unseen_examples", "PAD", "BOS", "EOS"]

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
