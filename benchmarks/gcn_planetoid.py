"""The GCN on the Planetoid datasets in the paper's setting, beside Kipf & Welling 2017, Table 2.

Reads the authors' files (`ind.<name>.{x,y,tx,ty,allx,ally,graph,test.index}` of
github.com/tkipf/gcn, `gcn/data/`) from a folder the user names; nothing is downloaded. For each
dataset and seed it trains `zoo.gcn` (two graph convolutions, 16 hidden units, dropout 0.5, L2
5e-4 on the first layer) as Kipf's `train.py` does: Adam at 0.01, at most 200 full-graph epochs,
stopping when the loss on the 500 validation nodes exceeds the mean of its 10 previous values;
the 1000 test nodes are scored once, after training. The renormalised adjacency is a sparse
tensor here (Pubmed's dense one would be 1.6 GB); the layers are the model's own
(`graph_conv_1`, `graph_conv_2`, `dropout_1`, `dropout_2`). Also scores the two baselines of
`zoo.tasks.node_classification.node_baselines` (label propagation; logistic regression on the
features).

    python benchmarks/gcn_planetoid.py --data DIR --seeds 10 --out benchmarks/results/gcn_planetoid

Writes `<out>.json` (every run) and `<out>.md` (the table: mean and standard deviation over the
seeds beside the paper's).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

PAPER = {"citeseer": 70.3, "cora": 81.5, "pubmed": 79.0}  # Table 2, GCN (this paper)
PAPER_BASELINES = {"citeseer": {"label_propagation": 45.3}, "cora": {"label_propagation": 68.0},
                   "pubmed": {"label_propagation": 63.0}}  # Table 2, LP (Zhu et al. 2003)


def normalized_sparse(adjacency):
    """`D^-1/2 (A + I) D^-1/2` of a scipy.sparse adjacency as a `tf.SparseTensor`."""
    import scipy.sparse as sp
    import tensorflow as tf

    a = sp.csr_matrix(adjacency, dtype=np.float64) + sp.identity(adjacency.shape[0], format="csr")
    d = np.asarray(a.sum(1)).ravel() ** -0.5
    a = (sp.diags(d) @ a @ sp.diags(d)).tocoo()
    return tf.sparse.reorder(tf.SparseTensor(np.stack([a.row, a.col], 1).astype(np.int64),
                                             a.data.astype(np.float32), a.shape))


def train_one(graph, a_hat, seed, epochs=200, patience=10, lr=0.01, hidden=16, dropout=0.5,
              l2=5e-4):
    """One run of Kipf's `train.py` loop with `zoo.gcn`'s layers; returns its figures."""
    import keras
    import tensorflow as tf

    import zoo

    keras.utils.set_random_seed(seed)
    model = zoo.gcn(num_features=graph.num_features, classes=graph.num_classes,
                    hidden_units=hidden, dropout=dropout, l2=l2)
    layers = [(model.get_layer(f"dropout_{i}"), model.get_layer(f"graph_conv_{i}"))
              for i in (1, 2)]
    x = tf.constant(graph.features, tf.float32)
    y = tf.constant(np.eye(graph.num_classes, dtype=np.float32)[graph.labels])
    masks = {k: tf.constant(getattr(graph, f"{k}_mask"), tf.float32) for k in ("train", "val",
                                                                               "test")}
    opt = keras.optimizers.Adam(lr)

    def forward(training):
        h = x
        for drop, conv in layers:
            h = conv([drop(h, training=training), a_hat])
        return h  # softmax probabilities

    def masked(probs, mask):
        ce = -tf.reduce_sum(y * tf.math.log(tf.clip_by_value(probs, 1e-12, 1.0)), -1)
        right = tf.cast(tf.equal(tf.argmax(probs, -1), tf.argmax(y, -1)), tf.float32)
        n = tf.reduce_sum(mask)
        return tf.reduce_sum(ce * mask) / n, tf.reduce_sum(right * mask) / n

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            loss, _ = masked(forward(True), masks["train"])
            loss = loss + tf.add_n(model.losses)  # Kipf's 5e-4 * sum(W0^2) / 2
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function
    def evaluate(split):
        return masked(forward(False), masks[split])

    val_losses, ran = [], 0
    for epoch in range(epochs):
        train_step()
        ran = epoch + 1
        val_loss = float(evaluate("val")[0])
        val_losses.append(val_loss)
        if epoch > patience and val_loss > np.mean(val_losses[-(patience + 1):-1]):
            break
    _, val_acc = evaluate("val")
    _, test_acc = evaluate("test")  # once, after training
    return {"seed": seed, "epochs": ran, "val_accuracy": float(val_acc),
            "test_accuracy": float(test_acc)}


def table(results, machine):
    lines = ["| dataset | GCN test accuracy here (mean ± sd, n seeds) | Table 2 (GCN) | "
             "label propagation here | logistic regression on features here | Table 2 (LP) | "
             "epochs run | seconds a run |", "|---|---|---|---|---|---|---|---|"]
    for name, res in results.items():
        acc = 100 * np.array([r["test_accuracy"] for r in res["runs"]])
        ep = [r["epochs"] for r in res["runs"]]
        base = res["baselines"]
        lines.append(
            f"| {name} | **{acc.mean():.1f} ± {acc.std(ddof=1) if len(acc) > 1 else 0:.1f}** "
            f"({len(acc)}) | {PAPER.get(name, float('nan')):.1f} | "
            f"{100 * base['label_propagation']['test']:.1f} | "
            f"{100 * base['logistic_regression']['test']:.1f} | "
            f"{PAPER_BASELINES.get(name, {}).get('label_propagation', float('nan')):.1f} | "
            f"{min(ep)}-{max(ep)} | {res['seconds'] / len(acc):.1f} |")
    lines += ["", f"Machine: {machine}."]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="folder of the ind.<name>.* files")
    p.add_argument("--datasets", default="cora,citeseer,pubmed")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--patience", type=int, default=10)
    p.add_argument("--out", default="benchmarks/results/gcn_planetoid")
    p.add_argument("--machine", default="2-core AMD EPYC, shared with other agents' work")
    args = p.parse_args(argv)
    from zoo.data.graphs import load_planetoid
    from zoo.tasks.node_classification import node_baselines

    results = {}
    for name in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        try:
            graph = load_planetoid(args.data, name, sparse=True)
        except ValueError as e:
            print(f"{name}: skipped ({e})", file=sys.stderr, flush=True)
            continue
        a_hat = normalized_sparse(graph.adjacency)
        t0 = time.time()
        runs = []
        for seed in range(args.seeds):
            runs.append(train_one(graph, a_hat, seed, epochs=args.epochs, patience=args.patience))
            print(f"{name} seed {seed}: test {runs[-1]['test_accuracy']:.4f} "
                  f"(val {runs[-1]['val_accuracy']:.4f}, {runs[-1]['epochs']} epochs)", flush=True)
        results[name] = {"runs": runs, "seconds": time.time() - t0,
                         "baselines": node_baselines(graph)}
    md = table(results, args.machine)
    print(md)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out + ".json", "w") as fh:
        json.dump({"args": vars(args), "results": results}, fh, indent=1)
    with open(args.out + ".md", "w") as fh:
        fh.write(md + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
