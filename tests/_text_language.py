"""A generated language whose class is known: sentences of filler words with one colour word;
the class is the colour's kind (warm / cold / neutral). `sentences(n, seed)` draws them."""

import numpy as np

KINDS = {"chaud": ("red", "orange", "yellow"), "froid": ("blue", "green", "purple"),
         "neutre": ("grey", "white", "black")}
FILLER = ("the", "a", "cat", "dog", "sees", "likes", "big", "small", "house", "car", "near",
          "under", "one", "two", "three", "runs")


def sentences(n, seed):
    """`n` distinct (sentence, kind) pairs: 3 to 7 filler words with one colour word inserted."""
    rng = np.random.default_rng(seed)
    kinds = sorted(KINDS)
    out, seen = [], set()
    while len(out) < n:
        kind = kinds[int(rng.integers(len(kinds)))]
        words = list(rng.choice(FILLER, size=int(rng.integers(3, 8))))
        words.insert(int(rng.integers(len(words) + 1)), str(rng.choice(KINDS[kind])))
        text = " ".join(words)
        if text not in seen:
            seen.add(text)
            out.append((text, kind))
    return out


def write_csv(path, rows, text="sentence", label="kind"):
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([text, label])
        w.writerows(rows)
    return path
