"""Node classification: semi-supervised, transductive (the GCN of Kipf & Welling 2017).

* Training: the whole graph is one example (batch size 1, one step per epoch: the paper's
  full-batch training). The model sees every node and edge; the cross-entropy is summed over the
  *labelled* nodes only (the training mask) and divided by their number, plus the model's
  regularisation (the first layer's L2). Metrics: loss and accuracy over the nodes of the mask.
* Data (`zoo train NAME`): by default the embedded Zachary's karate club (networkx, no download:
  two factions, one labelled node per faction, identity features); the held-out metrics are those
  of the other 32 nodes. `--planetoid DIR --dataset cora` (or `citeseer`, `pubmed`) reads Kipf's
  Planetoid files (`zoo.data.graphs.load_planetoid`): trained on the 20 labelled nodes per
  class; the per-epoch figures are those of the 500 validation nodes, and the 1000 test nodes
  are scored once, at the end (the karate club has no validation nodes: its per-epoch figures
  are the test nodes').
* Baselines: every run also scores, on the same splits, label propagation over the graph
  (features unused) and a logistic regression on the node features (graph unused), fitted on
  the labelled nodes only (`node_baselines`); `summary.json` keeps them under `baselines` and
  the final line shows them.
* Serving: `serving_default` takes one graph, `node_features` float32 `[N, F]` and its raw
  `adjacency` float32 `[N, N]` (symmetric, without self-loops; normalised inside the graph), and
  returns `probabilities` `[N, classes]`. (The Keras model takes a batch of graphs, `[batch, N,
  F]` and `[batch, N, N]`; the signature serves one graph per request.)
* Search: trials train on the karate club, scored on its 32 unlabelled nodes (the graph has no
  separate validation nodes: a search there shows the workflow, not a held-out estimate).

Example:
    >>> from zoo.tasks import task_for
    >>> task_for("gcn").flag_defaults["epochs"]
    200
"""

from __future__ import annotations

from typing import Dict

import numpy as np
import tensorflow as tf

from zoo.data.graphs import PLANETOID_NAMES, Graph, graph_source, karate_club, load_planetoid
from zoo.roles.class_names import check_class_names, class_name_outputs
from zoo.roles.recipe import check_classes
from zoo.roles.serving import Endpoint, TensorDoc, checked_adjacency, probabilities_fn
from zoo.roles.task import Task, classification_forward, export_note, f32, logits_flag

__all__ = ["NodeClassification", "masked_accuracy", "node_baselines", "TASK"]

DATASETS = ("karate",) + PLANETOID_NAMES


def masked_accuracy(model, graph: Graph) -> Dict[str, float]:
    """Accuracy of `model` (inference mode) on the train, validation and test nodes of `graph`
    (splits without nodes are left out)."""
    a = graph.adjacency.toarray() if hasattr(graph.adjacency, "toarray") else graph.adjacency
    out = model([graph.features[None], np.asarray(a, np.float32)[None]], training=False)
    return _split_accuracy(np.asarray(out)[0].argmax(-1), graph)


def _split_accuracy(pred, graph: Graph) -> Dict[str, float]:
    right = np.asarray(pred) == graph.labels
    return {split: float(right[mask].mean())
            for split, mask in (("train", graph.train_mask), ("val", graph.val_mask),
                                ("test", graph.test_mask)) if mask.any()}


def node_baselines(graph: Graph, alpha: float = 0.99, iterations: int = 100
                   ) -> Dict[str, Dict[str, float]]:
    """Accuracy per split of two baselines fitted on the labelled nodes only: label propagation
    (Zhou et al. 2004: `F <- alpha Â F + (1 - alpha) Y`, `Â` the renormalised adjacency, the
    graph alone) and a multinomial logistic regression on the node features (the features alone).

    Example:
        >>> from zoo.data.graphs import karate_club
        >>> sorted(node_baselines(karate_club()))
        ['label_propagation', 'logistic_regression']
    """
    from sklearn.linear_model import LogisticRegression

    a = graph.adjacency
    n, classes = graph.num_nodes, graph.num_classes
    if hasattr(a, "toarray"):  # scipy.sparse
        import scipy.sparse as sp

        a = sp.csr_matrix(a, dtype=np.float64) + sp.identity(n, format="csr")
        d = np.asarray(a.sum(1)).ravel() ** -0.5
        norm = sp.diags(d) @ a @ sp.diags(d)
    else:
        a = np.asarray(a, np.float64) + np.eye(n)
        d = a.sum(1) ** -0.5
        norm = a * d[:, None] * d[None, :]
    y0 = np.zeros((n, classes))
    y0[graph.train_mask, graph.labels[graph.train_mask]] = 1.0
    f = y0.copy()
    for _ in range(iterations):
        f = alpha * (norm @ f) + (1 - alpha) * y0
    out = {"label_propagation": _split_accuracy(f.argmax(1), graph)}
    train_labels = graph.labels[graph.train_mask]
    if len(np.unique(train_labels)) > 1:
        lr = LogisticRegression(max_iter=500).fit(graph.features[graph.train_mask], train_labels)
        out["logistic_regression"] = _split_accuracy(lr.predict(graph.features), graph)
    else:  # one class labelled: the regression predicts it everywhere
        out["logistic_regression"] = _split_accuracy(np.full(n, train_labels[0]), graph)
    return out


class NodeClassification(Task):
    """See the module docstring.

    Args:
        from_logits: None: from the model (`zoo.core.conventions.output_is_probability`).
    """

    name = "node_classification"
    monitor = "accuracy"
    # Kipf & Welling 2017 section 5.2: Adam at 0.01, 200 epochs of one full-graph step; one
    # graph is one example, so one replica (the GPU if there is one)
    flag_defaults = dict(epochs=200, batch_size=1, learning_rate=0.01, optimizer="adam",
                          schedule="constant", warmup_steps=0, log_every=10,
                          strategy="one_device")

    def __init__(self, from_logits=None, dataset="karate", planetoid=None):
        if planetoid is None and dataset != "karate":
            raise ValueError(
                f"`--dataset {dataset}` needs `--planetoid DIR`, the folder of its "
                f"ind.{dataset}.* files; without it the dataset must be 'karate' (embedded). "
                f"Received: dataset={dataset!r}")
        if planetoid is not None and dataset == "karate":
            raise ValueError("`--planetoid DIR` needs `--dataset NAME`, the name of its files "
                             f"(one of {PLANETOID_NAMES} or another). Received: dataset='karate'")
        self.from_logits = from_logits
        self.dataset = dataset
        self.planetoid = planetoid
        self.graph = None

    # -------------------------------------------------------------------------- training
    def denominator(self, batch):
        return tf.reduce_sum(f32(batch[1][1]))  # the nodes of the mask

    def forward(self, model, batch, training):
        (features, adjacency), (labels, mask) = batch
        out = f32(model([features, adjacency], training=training))
        classes = tf.shape(out)[-1]
        per, correct = classification_forward(
            tf.reshape(out, [-1, classes]), tf.reshape(labels, [-1]),
            logits_flag(model, self.from_logits))
        mask = tf.reshape(f32(mask), [-1])
        loss_sum = tf.reduce_sum(per * mask)
        return loss_sum, {"loss_sum": loss_sum, "accuracy_sum": tf.reduce_sum(correct * mask),
                          "count": tf.reduce_sum(mask)}

    # ---------------------------------------------------------------------------- recipe
    @classmethod
    def add_arguments(cls, parser):
        parser.add_argument("--dataset", default="karate",
                            help=f"'karate' (embedded) or, with --planetoid, the name of the "
                                 f"Planetoid files ({', '.join(PLANETOID_NAMES)})")
        parser.add_argument("--planetoid", default=None, metavar="DIR",
                            help="folder of Kipf's Planetoid files ind.DATASET.x, .y, .tx, .ty, "
                                 ".allx, .ally, .graph and .test.index")

    @classmethod
    def from_args(cls, args):
        return cls(dataset=args.dataset, planetoid=args.planetoid)

    def load_graph(self) -> Graph:
        if self.graph is None:
            self.graph = (karate_club() if self.planetoid is None
                          else load_planetoid(self.planetoid, self.dataset))
        return self.graph

    def make_source(self, spec, args):
        graph = self.load_graph()
        check_classes(graph.num_classes, self.dataset)
        return graph_source(graph), dict(num_features=graph.num_features,
                                         classes=graph.num_classes)

    def after_training(self, trainer, args, source):
        graph = self.load_graph()
        trainer.update_summary(node_accuracy=masked_accuracy(trainer.model, graph),
                               labelled_nodes=int(graph.train_mask.sum()),
                               test_nodes=int(graph.test_mask.sum()),
                               baselines=node_baselines(graph))

    def report(self, summary):
        acc = summary.get("node_accuracy") or {}
        test = acc.get("test", summary["final_test"].get("accuracy", float("nan")))
        val = f", validation accuracy {acc['val']:.4f}" if "val" in acc else ""
        base = summary.get("baselines") or {}
        names = {"label_propagation": "label propagation",
                 "logistic_regression": "feature-only logistic regression"}
        beside = "; ".join(f"{names.get(k, k)} {v['test']:.4f}" for k, v in base.items()
                           if "test" in v)
        beside = f" (baselines, test accuracy: {beside})" if beside else ""
        return (f"{summary['name']} on {summary['dataset']}: test accuracy {test:.4f} on the "
                f"{summary.get('test_nodes')} test nodes (trained on "
                f"{summary.get('labelled_nodes')} labelled nodes){val}{beside}"
                f"{export_note(summary)}")

    # --------------------------------------------------------------------------- serving
    def endpoints(self, model, **opts):
        shapes = [tuple(t.shape[1:]) for t in model.inputs]
        if len(shapes) != 2 or len(shapes[0]) != 2 or len(shapes[1]) != 2 or shapes[0][1] is None:
            raise ValueError(
                "task='node_classification' needs a model on [node_features [batch, N, F], "
                f"adjacency [batch, N, N]]. Received: model inputs {shapes}")
        nodes, features = shapes[0]
        to_probs = probabilities_fn(model, opts.get("output_activation", "auto"))
        classes = int(model.outputs[0].shape[-1])
        sample_nodes = nodes or 5

        names = check_class_names(opts.get("class_names"), classes)
        to_names, names_doc = class_name_outputs(names) if names else (None, "")

        def classify(node_features, adjacency):
            x = tf.cast(node_features, "float32")[None]
            a = tf.cast(checked_adjacency(adjacency), "float32")[None]
            out = {"probabilities": to_probs(f32(model([x, a], training=False)))[0]}
            if to_names is not None:  # each node's most probable class, by name
                out.update(to_names(tf.argmax(out["probabilities"], -1, output_type=tf.int32)))
            return out

        return [Endpoint(
            "serving_default", classify,
            [TensorDoc("node_features", "float32", [nodes, features],
                       "one graph's node features, a row per node",
                       {"shape": [sample_nodes, features], "low": 0.0, "high": 1.0}),
             TensorDoc("adjacency", "float32", [nodes, nodes],
                       "its raw adjacency (symmetric, non-negative weights or 0/1, no self-loops; "
                       "others refused); "
                       "D^-1/2 (A + I) D^-1/2 inside the graph",
                       {"shape": [sample_nodes, sample_nodes], "low": 0.0, "high": 1.0,
                        "symmetric": True})],
            [TensorDoc("probabilities", "float32", [nodes, classes],
                       "class probabilities per node")]
            + ([TensorDoc("classes", "string", [nodes], names_doc.replace(
                "top_k_indices, best first", "each node's most probable class"))] if names else []),
            "Classify every node of one graph.")]

    # ---------------------------------------------------------------------------- search
    def default_space(self, hp):
        return {"learning_rate": hp.Choice("learning_rate", [0.01, 0.005]),
                "batch_size": hp.Fixed("batch_size", 1), "epochs": hp.Fixed("epochs", 200)}

    def search_data(self, spec, base, *, eval_examples=256, num_train=2048, seed=0):
        graph = karate_club()
        return graph_source(graph), dict(num_features=graph.num_features,
                                         classes=graph.num_classes)

    def trial_defaults(self):
        return {"learning_rate": 0.01, "optimizer": "adam", "beta_1": 0.9}

    def tuning_task(self, training):
        return type(self)()


TASK = NodeClassification
