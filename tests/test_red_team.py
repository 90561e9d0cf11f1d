"""Red team (issue 30, point 2): on every CI run, the probes of each family of bad requests to an
exported model and bad arguments to the CLI. Each bad argument is answered with exit status 2 and
one error line naming it, before any work, and creates nothing; each bad request with
InvalidArgument naming the input (or output), from the graph itself, so TF Serving answers the
same. Cheap: `zoo.cli.main` in-process, three tiny exports. (Bad files are
tests/test_bad_files.py's; the same request checks on every family's export are
tests/test_export_families.py's.)
"""

import os
import socket

import numpy as np
import pytest

from zoo import cli

FILE = "a_file"  # a plain file in the working folder, where a folder is expected
TRAIN = ["--epochs", "1", "--steps-per-epoch", "1", "--no-export"]
HYPERBAND = ["--tuner", "hyperband", "--max-epochs", "0"]


def _png(side=4):
    """A valid grey `side` x `side` PNG file's bytes (standard library only)."""
    import struct
    import zlib

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes([128] * side) for _ in range(side))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


ONE_CLASS = {f"images/cat/{i}.png": _png() for i in range(5)}


def _chief(port):
    return {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": port,
            "KERASTUNER_TUNER_ID": "chief"}


# family -> [(command line, what the error line must name, {file: text} made first, environment)]
PROBES = {
    "tune names": [
        (["tune", "nosuch_module:attr"], "`model` must be", {}, {}),
        (["tune", "zoo:nosuch"], "`model` must be", {}, {}),
        (["tune", "os:getcwd"], "it gives a str", {}, {}),
    ],
    "search settings": [
        (["tune", "highway_net", "--epochs", "0"], "epochs", {}, {}),
        (["tune", "highway_net", *HYPERBAND], "max_epochs", {}, {}),
        (["tune", "highway_net", "--set", "dpth=3"], "dpth", {}, {}),
        (["tune", "highway_net", "--set", "depth=[]"], "depth", {}, {}),
        (["tune", "highway_net", "--set", "depth=[]", "--show-space"], "depth", {}, {}),
        (["tune", "highway_net", "--export-dir", FILE], "export_dir", {}, {}),
        (["tune", "highway_net", "--directory", os.path.join(FILE, "t")], "directory", {}, {}),
        (["tune", "highway_net", "--time-limit", "-1"], "time_limit", {}, {}),
    ],
    "tuner transport": [
        (["tune", "highway_net"], "KERASTUNER_ORACLE_PORT", {}, _chief("abc")),
        (["tune", "highway_net"], "KERASTUNER_ORACLE_PORT", {}, _chief("70000")),
    ],
    "export arguments": [
        (["export", "highway_net", "--opt", "topk=3"], "topk", {}, {}),
        (["export", "highway_net", "--version", str(2 ** 63)], "--version", {}, {}),
        (["export", "highway_net", "--export-dir", "sm"], "export_dir/name",
         {"sm/highway_net": "x"}, {}),
    ],
    "train arguments": [
        (["train", "highway_net", "--lr-scaling", "linear", *TRAIN], "base_batch_size", {}, {}),
        (["train", "da_rnn", "--window", "0", *TRAIN], "--window", {}, {}),
        (["train", "transformer_base", "--decode-examples", "-1", *TRAIN], "--decode-examples",
         {}, {}),
        (["train", "highway_net", "--epochs", "1", "--export-dir", "sm"], "export_dir/name",
         {"sm/highway_net": "x"}, {}),
    ],
    "data agreement": [
        (["train", "highway_net", "--set", "classes=3", *TRAIN], "classes=10", {}, {}),
        (["train", "da_rnn", "--set", "window=5", *TRAIN], "window=10", {}, {}),
        (["train", "gru_classifier", "--dataset", "adding", *TRAIN], "real-valued targets", {}, {}),
        (["train", "resnet50", "--dataset", "images", *TRAIN], "at least 2 classes", ONE_CLASS, {}),
    ],
    "bench and build": [
        (["bench", "highway_net", "--out", os.path.join(FILE, "sub")], "--out", {}, {}),
        (["build", "highway_net", "--set", "depth=[]"], "depth", {}, {}),
    ],
}
def _run(argv):
    try:
        return cli.main(list(argv))
    except SystemExit as e:  # argparse's own errors
        return e.code


def _tree(root):
    return sorted(os.path.relpath(os.path.join(d, n), root)
                  for d, dirs, files in os.walk(root) for n in dirs + files)


def _refused(argv, name, capsys, root):
    before = _tree(root)
    assert _run(argv) == 2, argv
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("zoo: error: "), err
    assert name in lines[0], (name, lines[0])
    assert _tree(root) == before  # nothing created


@pytest.mark.parametrize("family", list(PROBES))
def test_bad_arguments_are_one_line_exit_2_and_create_nothing(family, tmp_path, monkeypatch,
                                                              capsys):
    """Every probe of the family, each in a fresh working folder (one test per family: the
    suite's per-test set-up would cost more than the probes)."""
    for k in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(k, raising=False)
    for i, (argv, name, files, env) in enumerate(PROBES[family]):
        root = tmp_path / f"probe{i}"
        root.mkdir()
        monkeypatch.chdir(root)
        (root / FILE).write_text("not a folder")
        for path, text in files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(text if isinstance(text, bytes) else text.encode())
        with monkeypatch.context() as m:
            for k, v in env.items():
                m.setenv(k, v)
            _refused(argv, name, capsys, root)


def test_a_busy_tuner_port_is_refused_before_the_search(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        for k, v in _chief(str(busy.getsockname()[1])).items():
            monkeypatch.setenv(k, v)
        _refused(["tune", "highway_net"], "KERASTUNER_ORACLE_PORT", capsys, tmp_path)


def test_a_tls_key_of_another_certificate_is_refused(tmp_path, monkeypatch, capsys):
    from test_tuner_security import _self_signed

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cert, _ = _self_signed(tmp_path / "a")
    _, other_key = _self_signed(tmp_path / "b")
    monkeypatch.chdir(tmp_path)
    for k, v in _chief("1").items():  # the port is checked after the key pair
        monkeypatch.setenv(k, v)
    _refused(["tune", "highway_net", "--tls-cert", cert, "--tls-key", other_key],
             "the key is not the certificate's", capsys, tmp_path)


def test_ctrl_c_is_one_line_exit_130_and_leaves_no_half_written_export(tmp_path, monkeypatch,
                                                                       capsys):
    from zoo.export import archive

    def interrupted(model, endpoints, path, **kwargs):
        os.makedirs(path)
        open(os.path.join(path, "saved_model.pb"), "w").close()  # half-written
        raise KeyboardInterrupt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(archive, "_write_archive", interrupted)
    assert _run(["export", "highway_net", "--set", "depth=2", "--set", "width=8",
                 "--export-dir", "sm"]) == 130
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "interrupted" in err[0] and "Ctrl-C" in err[0], err
    left = _tree(tmp_path)
    assert not [p for p in left if os.path.basename(p)[:1].isdigit() or "incomplete" in p], left
    assert "sm/models.config" not in left


def test_models_config_escapes_quotes_and_backslashes(tmp_path):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    from zoo.export.archive import write_model_config

    root = tmp_path / 'we"ird\\dir'
    (root / "m" / "1").mkdir(parents=True)
    path = write_model_config(str(root))
    config = text_format.Parse(open(path).read(), model_server_config_pb2.ModelServerConfig())
    (entry,) = config.model_config_list.config
    assert entry.name == "m" and entry.base_path == f"{os.path.abspath(root)}/m"


# ------------------------------------------------------------------------ bad requests (serving)
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Three tiny exports: a token classifier (tokens, lengths), a feature classifier whose
    logits overflow on a 3e38 feature, a GCN-like node classifier (node_features, adjacency)."""
    import keras
    import tensorflow as tf

    from zoo import export as ex

    keras.utils.set_random_seed(0)
    d = str(tmp_path_factory.mktemp("red_team_sm"))
    i = keras.Input((None,), dtype="int32")
    x = keras.layers.LSTM(4)(keras.layers.Embedding(10, 4, mask_zero=True)(i))
    tokens = keras.Model(i, keras.layers.Dense(3, activation="softmax")(x))
    i = keras.Input((4,))
    features = keras.Model(i, keras.layers.Dense(3, kernel_initializer="ones")(i))
    x, a = keras.Input((None, 3)), keras.Input((None, None))
    h = keras.layers.Dot(axes=(2, 1))([a, x])  # A X: each node sums its neighbours
    graph = keras.Model([x, a], keras.layers.Dense(2, activation="softmax")(h))
    paths = {"tokens": ex.export_model(tokens, "tokens", task="sequence_classification",
                                       export_dir=d),
             "features": ex.export_model(features, "features", task="feature_classification",
                                         export_dir=d),
             "graph": ex.export_model(graph, "graph", task="node_classification", export_dir=d)}
    return {k: tf.saved_model.load(p).signatures["serving_default"] for k, p in paths.items()}


_TOKENS = np.array([[3, 4, 5, 6], [3, 4, 5, 6]], "int32")
_ADJ = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], "float32")
_GOOD = {"tokens": {"tokens": _TOKENS, "lengths": np.array([4, 2], "int32")},
         "features": {"features": np.ones((2, 4), "float32")},
         "graph": {"node_features": np.ones((3, 3), "float32"), "adjacency": _ADJ}}
# (export, what, changed inputs, what the refusal must say)
REQUESTS = [
    ("tokens", "negative id", {"tokens": -_TOKENS}, "input 'tokens' must hold token ids 0 <= id < 10"),
    ("tokens", "id beyond the vocabulary", {"tokens": _TOKENS + 6}, "0 <= id < 10"),
    ("tokens", "length 0", {"lengths": np.array([4, 0], "int32")}, "input 'lengths' must hold"),
    ("tokens", "negative length", {"lengths": np.array([-1, 2], "int32")}, "input 'lengths'"),
    ("tokens", "length beyond the steps", {"lengths": np.array([5, 2], "int32")}, "input 'lengths'"),
    ("features", "3e38 feature", {"features": np.full((2, 4), 3e38, "float32")},
     "output 'probabilities' would hold NaN or infinite values"),
    ("graph", "negative adjacency", {"adjacency": -_ADJ}, "non-negative edge weights"),
    ("graph", "asymmetric adjacency", {"adjacency": np.triu(_ADJ)}, "must be symmetric"),
]


def test_good_requests_are_answered_and_bad_ones_refused_by_the_graph_naming_them(served):
    import tensorflow as tf

    for key, feed in _GOOD.items():
        out = served[key](**feed)
        assert all(np.isfinite(v.numpy()).all() for v in out.values() if v.dtype.is_floating)
    for key, what, change, message in REQUESTS:
        with pytest.raises(tf.errors.InvalidArgumentError) as e:
            served[key](**dict(_GOOD[key], **change))
        assert message in str(e.value).replace("\\'", "'"), (what, str(e.value)[-600:])
