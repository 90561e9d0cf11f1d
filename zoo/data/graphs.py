"""Graphs for node classification: Zachary's karate club (embedded) and the Planetoid files.

A `Graph` holds one whole graph as dense NumPy arrays: node features `[N, F]`, the raw adjacency
`[N, N]` (symmetric, no self-loops: the model adds them), integer labels `[N]` and boolean masks
of the labelled (`train`), validation and test nodes. `graph_source` turns it into the
`zoo.data.DataSource` the trainer reads: one example, the whole graph, whose targets are the
labels and the mask of the nodes the loss (training) or the metrics (evaluation) look at.

* `karate_club()`: Zachary's karate club as networkx ships it (`networkx.karate_club_graph()`,
  34 members, 78 friendships, unweighted here), the two factions after the split by the `club`
  attribute ("Mr. Hi": 0, "Officer": 1), identity (one-hot) features, one labelled node per
  faction: the instructor (node 0) and the administrator (node 33); the other 32 are the test
  nodes. No download.
* `load_planetoid(directory, name)`: the `ind.<name>.{x,y,tx,ty,allx,ally,graph,test.index}`
  files of Kipf's repository (github.com/tkipf/gcn, data/; Cora, Citeseer, Pubmed from Yang et
  al. 2016), read as Kipf's `load_data` reads them: 20 labelled nodes per class (`y`), the next
  500 for validation, the 1000 of `test.index` for testing, features row-normalised. The files
  are Python pickles, read by an unpickler that builds only what Kipf's files hold (NumPy
  arrays, SciPy sparse matrices, `collections.defaultdict`, builtin containers): a pickle naming
  anything else (`os.system`, ...) is refused before it runs. `sparse=True` keeps the adjacency
  a `scipy.sparse.csr_matrix` (Pubmed's dense one is 1.6 GB).

Example:
    >>> from zoo.data.graphs import karate_club
    >>> g = karate_club()
    >>> g.features.shape, int(g.train_mask.sum()), int(g.test_mask.sum())
    ((34, 34), 2, 32)
"""

from __future__ import annotations

import dataclasses
import os
import pickle
from typing import Any, Dict, List, Optional

import numpy as np
import tensorflow as tf

from zoo.data.source import DataSource

__all__ = ["Graph", "karate_club", "load_planetoid", "PLANETOID_FILES", "PLANETOID_NAMES",
           "graph_source"]

PLANETOID_FILES = ("x", "y", "tx", "ty", "allx", "ally", "graph")
PLANETOID_NAMES = ("cora", "citeseer", "pubmed")


@dataclasses.dataclass
class Graph:
    """One graph with its node labels and splits (see the module docstring)."""

    name: str
    features: np.ndarray  # [N, F] float32
    adjacency: Any  # [N, N] float32, raw (no self-loops); dense, or scipy.sparse (sparse=True)
    labels: np.ndarray  # [N] int32
    train_mask: np.ndarray  # [N] bool
    val_mask: np.ndarray
    test_mask: np.ndarray
    class_names: List[str] = dataclasses.field(default_factory=list)

    @property
    def num_nodes(self) -> int:
        return int(self.features.shape[0])

    @property
    def num_features(self) -> int:
        return int(self.features.shape[1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names) or int(self.labels.max()) + 1

    def check(self) -> "Graph":
        """Shapes and masks agree (a ValueError naming the first disagreement)."""
        n = self.features.shape[0] if self.features.ndim == 2 else None
        problems = []
        if n is None:
            problems.append(f"features must be [N, F]; got shape {self.features.shape}")
        elif self.adjacency.shape != (n, n):
            problems.append(f"adjacency must be [{n}, {n}]; got shape {self.adjacency.shape}")
        for key in ("labels", "train_mask", "val_mask", "test_mask"):
            arr = getattr(self, key)
            if n is not None and arr.shape != (n,):
                problems.append(f"{key} must have shape [{n}]; got {arr.shape}")
        if not problems and not self.train_mask.any():
            problems.append("no labelled (train) node")
        if problems:
            raise ValueError(f"Graph {self.name!r}: " + "; ".join(problems))
        return self


def karate_club() -> Graph:
    """Zachary's karate club (networkx's copy): see the module docstring."""
    import networkx as nx

    g = nx.karate_club_graph()
    nodes = sorted(g.nodes)
    adjacency = nx.to_numpy_array(g, nodelist=nodes, weight=None, dtype=np.float32)
    np.fill_diagonal(adjacency, 0.0)
    class_names = ["Mr. Hi", "Officer"]
    labels = np.array([class_names.index(g.nodes[v]["club"]) for v in nodes], np.int32)
    n = len(nodes)
    train = np.zeros(n, bool)
    train[[0, 33]] = True  # the instructor and the administrator, one per faction
    return Graph("karate", np.eye(n, dtype=np.float32), adjacency, labels, train,
                 np.zeros(n, bool), ~train, class_names).check()


# ------------------------------------------------------------------------------------ Planetoid


# the globals Kipf's files name (Python 2 pickles: numpy arrays, scipy.sparse CSR matrices, a
# defaultdict of lists); every other global is refused, so a crafted file cannot run code
_PICKLE_ALLOWED = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("collections", "defaultdict"), ("collections", "OrderedDict"),
} | {(mod, kind) for mod in ("builtins", "__builtin__")
     for kind in ("list", "dict", "set", "frozenset", "tuple", "int", "float", "str", "bytes",
                  "long", "unicode")
     } | {(mod, f"{kind}_matrix") for kind in ("csr", "csc", "coo", "lil", "dok")
          for mod in ("scipy.sparse", f"scipy.sparse.{kind}", f"scipy.sparse._{kind}")}


class _PlanetoidUnpickler(pickle.Unpickler):
    """An unpickler that builds only the types of `_PICKLE_ALLOWED`."""

    def find_class(self, module, name):
        if (module, name) not in _PICKLE_ALLOWED:
            raise pickle.UnpicklingError(
                f"refused global {module}.{name} (a Planetoid file holds only NumPy arrays, "
                "SciPy sparse matrices, defaultdict and builtin containers)")
        if module.startswith("numpy.core."):  # NumPy 2 moved it; skip the deprecation warning
            module = "numpy._core." + module[len("numpy.core."):]
            if not hasattr(np, "_core"):
                module = "numpy.core." + module[len("numpy._core."):]
        if module.startswith("scipy.sparse"):
            module = "scipy.sparse"  # the private modules moved between SciPy versions
        return super().find_class(module, name)


def _read_pickle(path):
    with open(path, "rb") as f:
        try:
            return _PlanetoidUnpickler(f, encoding="latin1").load()  # written by Python 2
        except Exception as e:
            raise ValueError(f"{path} is not a readable Planetoid pickle: "
                             f"{type(e).__name__}: {e}") from e


def _dense(name, value, path) -> np.ndarray:
    if hasattr(value, "toarray"):  # scipy.sparse, as Kipf's files hold x, tx, allx
        value = value.toarray()
    arr = np.asarray(value)
    if arr.ndim != 2 or arr.dtype.kind not in "fiub":
        raise ValueError(f"{path}: `{name}` must be a 2-D numeric matrix. "
                         f"Received: shape={arr.shape}, dtype={arr.dtype}")
    return arr.astype(np.float32)


def load_planetoid(directory: str, name: str, normalize_features: bool = True,
                   num_val: int = 500, sparse: bool = False) -> Graph:
    """A Planetoid dataset (Cora, Citeseer, Pubmed) from Kipf's `ind.<name>.*` files.

    Args:
        directory: the folder holding `ind.<name>.x`, `.y`, `.tx`, `.ty`, `.allx`, `.ally`,
            `.graph` and `.test.index`.
        name: the files' name (`cora`, `citeseer`, `pubmed`, or any other in that format).
        normalize_features: divide each feature row by its sum (Kipf's `preprocess_features`).
        num_val: validation nodes after the labelled ones (500 in the paper; at most the rest
            of `allx`).
        sparse: keep the adjacency a `scipy.sparse.csr_matrix` (for large graphs: Pubmed's dense
            adjacency is 1.6 GB); the trainer's `graph_source` needs it dense.

    Returns:
        A `Graph`: labelled nodes `0..len(y)-1`, validation the next `num_val`, test the nodes of
        `test.index` (Citeseer's isolated test nodes, missing from `tx`, get zero features and
        no label, as in Kipf's `load_data`).

    Example:
        >>> g = load_planetoid("data/planetoid", "cora")   # doctest: +SKIP
        >>> g.features.shape, int(g.train_mask.sum())      # doctest: +SKIP
        ((2708, 1433), 140)
    """
    paths = _planetoid_paths(directory, name)
    raw = {k: _read_pickle(paths[k]) for k in PLANETOID_FILES}
    m = {k: _dense(k, raw[k], paths[k]) for k in ("x", "y", "tx", "ty", "allx", "ally")}
    if not isinstance(raw["graph"], dict):
        raise ValueError(f"{paths['graph']}: `graph` must be a dict of adjacency lists. "
                         f"Received: {type(raw['graph']).__name__}")
    test_index = _read_test_index(paths["test.index"])
    _check_planetoid(name, m, test_index)
    features, onehot = _planetoid_nodes(m, test_index)
    n = features.shape[0]
    adjacency = _adjacency(name, raw["graph"], n, sparse)
    if normalize_features:
        sums = features.sum(1, keepdims=True)
        features = np.where(sums > 0, features / np.where(sums > 0, sums, 1.0), 0.0)
    n_train, n_all = m["y"].shape[0], m["allx"].shape[0]
    num_val = max(min(int(num_val), n_all - n_train), 0)  # small graphs: the rest of allx
    train, val, test = (np.zeros(n, bool) for _ in range(3))
    train[:n_train] = True
    val[n_train:n_train + num_val] = True
    test[test_index] = True
    labels = onehot.argmax(1).astype(np.int32)
    if not onehot[train].any(1).all():
        raise ValueError(f"ind.{name}.y: every labelled node needs a one-hot label")
    names = [f"class_{i}" for i in range(m["y"].shape[1])]
    return Graph(name, features.astype(np.float32), adjacency, labels, train, val, test,
                 names).check()


def _planetoid_paths(directory, name):
    """`{file key: path}` of the `ind.<name>.*` files, or a ValueError naming what is missing."""
    if not isinstance(name, str) or not name or os.sep in name:
        raise ValueError(f"`dataset` must be the name of the Planetoid files (one of "
                         f"{PLANETOID_NAMES} or another). Received: dataset={name!r}")
    if not os.path.isdir(directory):
        raise ValueError(f"`planetoid` must be a folder holding the ind.{name}.* files. "
                         f"Received: planetoid={directory!r} (not a folder)")
    paths = {k: os.path.join(directory, f"ind.{name}.{k}") for k in PLANETOID_FILES}
    paths["test.index"] = os.path.join(directory, f"ind.{name}.test.index")
    missing = [os.path.basename(p) for p in paths.values() if not os.path.isfile(p)]
    if missing:
        raise ValueError(f"The Planetoid files {missing} are missing from {directory!r} "
                         f"(dataset={name!r}; need ind.{name}.{{{','.join(PLANETOID_FILES)},"
                         "test.index})")
    return paths


def _read_test_index(path):
    try:
        with open(path) as f:
            return np.array([int(line) for line in f if line.strip()], np.int64)
    except ValueError as e:
        raise ValueError(f"{path}: one node index per line expected ({e})") from e


def _check_planetoid(name, m, test_index):
    """A ValueError unless the matrices `m` and the test nodes agree with each other."""
    for a, b in (("x", "y"), ("tx", "ty"), ("allx", "ally")):
        if m[a].shape[0] != m[b].shape[0]:
            raise ValueError(f"ind.{name}.{a} has {m[a].shape[0]} rows but ind.{name}.{b} has "
                             f"{m[b].shape[0]}: they must match")
    widths = {k: m[k].shape[1] for k in ("x", "tx", "allx")}
    classes = {k: m[k].shape[1] for k in ("y", "ty", "ally")}
    if len(set(widths.values())) != 1 or len(set(classes.values())) != 1:
        raise ValueError(f"ind.{name}: feature widths {widths} and label widths {classes} must "
                         "each agree")
    if len(test_index) != m["tx"].shape[0]:
        raise ValueError(f"ind.{name}.test.index lists {len(test_index)} nodes but ind.{name}.tx "
                         f"has {m['tx'].shape[0]} rows: they must match")
    n_all = m["allx"].shape[0]
    test_sorted = np.sort(test_index)
    if len(test_index) and (test_sorted[0] != n_all or len(set(test_index)) != len(test_index)):
        raise ValueError(f"ind.{name}.test.index: test nodes must be distinct and start right "
                         f"after the {n_all} nodes of allx. Received: smallest "
                         f"{int(test_sorted[0])}")


def _planetoid_nodes(m, test_index):
    """`(features, one-hot labels)` of every node, the test rows in the order of `test_index`."""
    tx, ty = m["tx"], m["ty"]
    test_sorted = np.sort(test_index)
    if len(test_index):
        # Citeseer: some test nodes are isolated and missing from tx/ty; give them zero rows
        full = np.arange(test_sorted[0], test_sorted[-1] + 1)
        tx = np.zeros((len(full), m["x"].shape[1]), np.float32)
        ty = np.zeros((len(full), m["y"].shape[1]), np.float32)
        tx[test_sorted - test_sorted[0]] = m["tx"]
        ty[test_sorted - test_sorted[0]] = m["ty"]
    features = np.concatenate([m["allx"], tx], 0)
    onehot = np.concatenate([m["ally"], ty], 0)
    features[test_index] = features[test_sorted]  # the files list test rows in index order
    onehot[test_index] = onehot[test_sorted]
    return features, onehot


def _adjacency(name, graph, n, sparse=False):
    """The symmetric 0/1 adjacency `[n, n]` (no self-loops) of the adjacency lists `graph`
    (a `scipy.sparse.csr_matrix` with `sparse`)."""
    edges = [(int(src), int(dst)) for src, dsts in graph.items() for dst in dsts]
    for src, dst in edges:
        if not (0 <= src < n and 0 <= dst < n):
            raise ValueError(f"ind.{name}.graph: edge ({src}, {dst}) names a node outside "
                             f"0..{n - 1}")
    e = np.array([(s, d) for s, d in edges if s != d], np.int64).reshape(-1, 2)
    if sparse:
        import scipy.sparse as sp

        rows, cols = np.concatenate([e[:, 0], e[:, 1]]), np.concatenate([e[:, 1], e[:, 0]])
        adjacency = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, n))
        adjacency.data[:] = 1.0  # duplicates summed: back to 0/1
        return adjacency
    adjacency = np.zeros((n, n), np.float32)
    adjacency[e[:, 0], e[:, 1]] = adjacency[e[:, 1], e[:, 0]] = 1.0
    return adjacency


# ------------------------------------------------------------------------------- data source


def graph_source(graph: Graph, train_on: str = "train", evaluate_on: str = "test",
                 info: Optional[Dict[str, Any]] = None, validate_on: Optional[str] = "val"
                 ) -> DataSource:
    """The `DataSource` of a transductive run on `graph`: one example (the whole graph), whose
    inputs are `(features, adjacency)` and targets `(labels, mask)`; the training split's mask
    (`train_on`: the labelled nodes) for the loss, `evaluate_on`'s for the held-out metrics, and
    `validate_on`'s (when the graph has such nodes) for the trainer's per-epoch figures."""
    masks = {"train": graph.train_mask, "val": graph.val_mask, "test": graph.test_mask}
    for arg, split in (("train_on", train_on), ("evaluate_on", evaluate_on),
                       ("validate_on", validate_on or "val")):
        if split not in masks:
            raise ValueError(f"`{arg}` must be one of {tuple(masks)}. Received: {arg}={split!r}")
    if not masks[evaluate_on].any():
        raise ValueError(f"Graph {graph.name!r} has no {evaluate_on} nodes to evaluate on")
    adjacency = graph.adjacency.toarray() if hasattr(graph.adjacency, "toarray") else graph.adjacency
    inputs = (graph.features.astype(np.float32), np.asarray(adjacency, np.float32))

    def example(split):
        return tf.data.Dataset.from_tensors(
            (inputs, (graph.labels.astype(np.int32), masks[split].astype(np.float32))))

    meta = dict(num_classes=graph.num_classes, num_features=graph.num_features,
                num_nodes=graph.num_nodes, class_names=list(graph.class_names),
                input_shape=(graph.num_nodes, graph.num_features),
                labelled_nodes=int(masks[train_on].sum()),
                evaluated_nodes=int(masks[evaluate_on].sum()), evaluate_on=evaluate_on)
    meta.update(info or {})
    validate = validate_on is not None and validate_on != evaluate_on and masks[validate_on].any()
    return DataSource(name=graph.name, train=lambda ctx=None: example(train_on),
                      test=lambda: example(evaluate_on), num_train=1, num_test=1,
                      validation=(lambda: example(validate_on)) if validate else None,
                      num_validation=1 if validate else None, info=meta, cache=True)


def karate_source(**kwargs) -> DataSource:
    """`graph_source` of `karate_club()`; keyword arguments go to `graph_source`."""
    return graph_source(karate_club(), **kwargs)


def planetoid_source(name: str, directory: Optional[str] = None, normalize_features: bool = True,
                     **kwargs) -> DataSource:
    """`graph_source` of the Planetoid files of `name` (cora, citeseer, pubmed) in `directory`;
    other keyword arguments go to `graph_source`."""
    if directory is None:
        raise ValueError(f"The Planetoid dataset {name!r} needs the folder of its files "
                         f"(ind.{name}.x, ...). Received: directory=None")
    return graph_source(load_planetoid(directory, name, normalize_features), **kwargs)
