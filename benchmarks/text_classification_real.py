"""Text classification from a user's file on a public corpus (the measurement of docs/text.md).

The SMS Spam Collection (Almeida, Gómez Hidalgo and Yamakami 2011; UCI; 5,574 SMS labelled
`ham` / `spam`, one per line: LABEL TAB TEXT, with or without a `Label<TAB>SMS` header) is read
from a folder the user names; nothing is downloaded and the repository does not ship it. For each
seed, the messages are split 80/20 (stratified, seeded) into a training and a test file, and:

* the zoo classifier is trained from the training CSV by `zoo train NAME --csv train.csv
  --test-csv test.csv ...` (in-process `zoo.cli.main`: the tokenizer learned from the training
  split, validation taken from it), its test accuracy read from the run's `summary.json`, and
  its export's `serving_default` asked the test texts as raw strings (the accuracy a client gets);
* the majority class, and a bag-of-words logistic regression (scikit-learn `CountVectorizer` +
  `LogisticRegression`, default settings) fitted on the same training file.

    python benchmarks/text_classification_real.py --data DIR --seeds 3 \\
        --out benchmarks/results/text_classification_real

Writes `<out>.json` (every run) and `<out>.md` (test accuracy: mean, standard deviation, runs).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time

import numpy as np

FILE = "SMSSpamCollection"
ZOO_FLAGS = ["--vocab-size", "4000", "--max-length", "64", "--epochs", "4", "--batch-size", "64",
             "--learning-rate", "1e-3", "--set", "num_layers=2", "--set", "d_model=64",
             "--set", "d_ff=128", "--set", "num_heads=4", "--quiet"]


def read_corpus(folder):
    """`(texts, labels)` of `folder/SMSSpamCollection` (LABEL TAB TEXT; a header line skipped)."""
    from zoo.data.text_files import read_table

    table = read_table(os.path.join(folder, FILE), [0, 1], "\t", header=False, argument="data")
    pairs = [(t, lab.strip()) for lab, t in zip(table[0], table[1])]
    if pairs and pairs[0][1].lower() == "label":
        pairs = pairs[1:]
    return [t for t, _ in pairs], [lab for _, lab in pairs]


def _write(path, texts, labels):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(zip(texts, labels))


def run_seed(texts, labels, seed, args, folder):
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    from zoo import cli
    from zoo.data.text import stratified_split

    train, test = stratified_split(labels, 0.2, seed)
    tr_x, tr_y = [texts[i] for i in train], [labels[i] for i in train]
    te_x, te_y = [texts[i] for i in test], [labels[i] for i in test]
    out = {"seed": seed, "train": len(tr_x), "test": len(te_x)}
    majority = max(set(tr_y), key=tr_y.count)
    out["majority"] = float(np.mean([y == majority for y in te_y]))
    vec = CountVectorizer()
    lr = LogisticRegression(max_iter=1000).fit(vec.fit_transform(tr_x), tr_y)
    out["bow_logreg"] = float(np.mean(lr.predict(vec.transform(te_x)) == np.array(te_y)))
    run = os.path.join(folder, f"seed{seed}")
    os.makedirs(run)
    _write(os.path.join(run, "train.csv"), tr_x, tr_y)
    _write(os.path.join(run, "test.csv"), te_x, te_y)
    t0 = time.time()
    rc = cli.main(["train", args.model, "--csv", os.path.join(run, "train.csv"),
                   "--test-csv", os.path.join(run, "test.csv"), "--seed", str(seed),
                   "--run-dir", os.path.join(run, "run"), "--export-dir", os.path.join(run, "sm"),
                   *ZOO_FLAGS])
    if rc != 0:
        raise SystemExit(f"zoo train failed (exit {rc})")
    out["zoo_train_s"] = time.time() - t0
    with open(os.path.join(run, "run", "summary.json")) as f:
        summary = json.load(f)
    out["zoo"] = float(summary["final_test"]["accuracy"])
    out["zoo_served"] = served_accuracy(summary["export_path"], te_x, te_y)
    return out


def served_accuracy(path, texts, labels):
    """Accuracy of the export's `serving_default` on raw strings (TensorFlow + TF Text only)."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    fn = tf.saved_model.load(path).signatures["serving_default"]
    got = []
    for i in range(0, len(texts), 256):
        got += [c.decode() for c in fn(text=tf.constant(texts[i:i + 256]))["classes"].numpy()]
    return float(np.mean([g == y for g, y in zip(got, labels)]))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help=f"the folder holding {FILE}")
    p.add_argument("--model", default="transformer_classifier")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--out", default=None, help="write <out>.json and <out>.md")
    args = p.parse_args(argv)
    texts, labels = read_corpus(args.data)
    runs = []
    with tempfile.TemporaryDirectory(prefix="zoo-textbench-") as folder:
        for seed in range(args.seeds):
            runs.append(run_seed(texts, labels, seed, args, folder))
            print(json.dumps(runs[-1]), flush=True)
    rows = [("zoo " + args.model + " (summary.json)", "zoo"),
            ("the same, served from raw strings", "zoo_served"),
            ("bag-of-words logistic regression", "bow_logreg"), ("majority class", "majority")]
    lines = [f"SMS Spam Collection, {len(texts)} messages, 80/20 stratified split per seed; "
             f"test accuracy over {len(runs)} seed(s)", "", "| method | mean | std | runs |",
             "|---|---|---|---|"]
    for title, key in rows:
        vals = [r[key] for r in runs]
        lines.append(f"| {title} | {np.mean(vals):.4f} | {np.std(vals):.4f} | "
                     f"{', '.join(f'{v:.4f}' for v in vals)} |")
    print("\n".join(lines))
    if args.out:
        with open(args.out + ".json", "w") as f:
            json.dump({"argv": sys.argv, "flags": ZOO_FLAGS, "runs": runs}, f, indent=2)
        with open(args.out + ".md", "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
