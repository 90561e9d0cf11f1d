"""`zoo bench`: the structure of its output on tiny settings, never its timings; bad arguments.

One run on two small models (one with a peer: the peephole LSTM regressor against Keras' LSTM)
with two rounds checks the console table, the CSV (columns, one row per model, implementation and
setting, the A/A and peer rows) and the Markdown table; the merge keeps the rows of other models.
"""

import csv
import math
import os

import pytest

from zoo import cli
from zoo.bench.report import COLUMNS, merge_rows, results_paths

MODELS = ["highway_net", "peephole_lstm_regressor"]
PEER = "keras.layers.LSTM (peephole_lstm_regressor with cell='lstm')"


def _run(argv):
    try:
        return cli.main(list(argv))
    except SystemExit as e:  # argparse's own errors
        return e.code


def test_rows_columns_and_files(tmp_path, capsys, monkeypatch):
    import zoo.bench

    children, run_child = [], zoo.bench._run_child

    def recording(backend, names, settings, progress):
        children.append((backend, list(names)))
        return run_child(backend, names, settings, progress)

    monkeypatch.setattr(zoo.bench, "_run_child", recording)
    out = tmp_path / "results"
    status = cli.main(["bench", *MODELS, "--rounds", "2", "--warmup", "1", "--quiet",
                       "--out", str(out)])
    printed = capsys.readouterr().out
    assert status == 0, printed
    # several models: each in a process of its own (no model's memory outlives it)
    assert children == [("tensorflow", [m]) for m in MODELS]
    csv_path, md_path = results_paths(str(out), "cpu")
    assert os.path.exists(csv_path) and os.path.exists(md_path)
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == COLUMNS
        rows = list(reader)
    got = {(r["model"], r["implementation"], r["mode"]) for r in rows}
    assert len(got) == len(rows)  # one row per model, implementation and setting
    expected = {(m, impl, mode) for mode in ("train", "infer")
                for m, impls in (("highway_net", ("zoo", "zoo (A/A twin)")),
                                 ("peephole_lstm_regressor", ("zoo", "zoo (A/A twin)", PEER)))
                for impl in impls}
    assert got == expected
    for r in rows:
        assert (r["backend"], r["precision"], r["jit"], r["batch"]) == ("tensorflow", "float32",
                                                                      "off", "2")
        assert float(r["throughput"]) > 0 and float(r["step_ms"]) > 0 and int(r["params"]) > 0
        assert r["unit"] == "examples/s" and r["rounds"] == "2" and not r["note"]
        assert r["date"] and r["versions"].startswith("keras ") and r["machine"]
        if r["implementation"] == "zoo":
            assert r["zoo_speedup"] == ""  # the reference of the ratios
        else:
            lo, mid, hi = (float(r[c]) for c in ("ci_low", "zoo_speedup", "ci_high"))
            assert lo <= mid <= hi and all(math.isfinite(v) for v in (lo, mid, hi))
    assert {r["input"] for r in rows} == {"784", "12x2"}
    # the console table and the markdown table show every row
    assert printed.splitlines()[0].split()[:2] == ["model", "implementation"]
    assert sum(line.startswith("peephole_lstm_regressor ") for line in printed.splitlines()) == 6
    with open(md_path) as f:
        md = f.read()
    assert md.startswith("| model | implementation |") and md.count("\n| highway_net |") == 4
    assert "Machine: CPU" in md


def test_a_new_run_replaces_its_rows_and_keeps_the_others():
    def row(model, mode, throughput):
        return {"model": model, "implementation": "zoo", "backend": "tensorflow",
                "precision": "float32", "jit": "off", "mode": mode, "batch": 2, "input": "784",
                "throughput": throughput}

    old = merge_rows([], [row("a", "train", 1.0), row("a", "infer", 2.0), row("b", "train", 3.0)])
    merged = merge_rows(old, [row("a", "infer", 5.0), row("c", "infer", 6.0)])
    assert [(r["model"], r["mode"], r["throughput"]) for r in merged] == [
        ("a", "infer", "5"), ("a", "train", "1"), ("b", "train", "3"), ("c", "infer", "6")]
    assert all(tuple(r) == COLUMNS for r in merged)


BAD = {  # what the one error line must name: the command line
    "--batch": ["bench", "highway_net", "--batch", "0"],
    "--batch=": ["bench", "highway_net", "--full-size", "--batch-size", "8", "0"],
    "--rounds=": ["bench", "highway_net", "--full-size", "--rounds", "2"],
    "--rounds": ["bench", "highway_net", "--rounds", "1"],
    "--steps": ["bench", "highway_net", "--steps", "0"],
    "--warmup": ["bench", "highway_net", "--warmup", "0"],
    "--size": ["bench", "resnet50", "--size", "2"],
    "--length": ["bench", "lstm_classifier", "--length", "0"],
    "--backend": ["bench", "highway_net", "--backend", "torch"],
    "--jit": ["bench", "highway_net", "--jit", "maybe"],
    "--precision": ["bench", "highway_net", "--precision", "fp8"],
    "--mode": ["bench", "highway_net", "--mode", "serve"],
    "--out": ["bench", "highway_net", "--out", "a_file"],
    "no_such_model": ["bench", "no_such_model*"],
}


@pytest.mark.parametrize("what", list(BAD))
def test_bad_arguments(what, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("")
    assert _run(BAD[what]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert what.rstrip("=") in err[-1] and "Traceback" not in "\n".join(err)
    assert sorted(os.listdir(tmp_path)) == ["a_file"]  # nothing written


def test_the_other_backend_runs_in_a_child_process(tmp_path, capsys):
    pytest.importorskip("jax")
    status = cli.main(["bench", "highway_net", "--backend", "jax", "--jit", "on", "--mode", "infer",
                       "--rounds", "2", "--warmup", "1", "--no-peers", "--quiet",
                       "--out", str(tmp_path)])
    assert status == 0, capsys.readouterr()
    with open(results_paths(str(tmp_path), "cpu")[0], newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["backend"], r["jit"], r["mode"], r["implementation"]) for r in rows] == [
        ("jax", "on", "infer", "zoo"), ("jax", "on", "infer", "zoo (A/A twin)")]


# keras-hub's layers under our names: zoo.bench.keras_hub_peers builds the peers from them
_HUB_NAMES = {"self_attention_layer_norm": "self_attention_norm",
              "cross_attention_layer_norm": "cross_attention_norm",
              "feedforward_layer_norm": "ffn_norm", "feedforward_intermediate_dense": "ffn_inner",
              "feedforward_output_dense": "ffn_output", "self_attention_layer": "self_attention"}


def _transfer_to_keras_hub(zoo_model, peer):
    """Copy the zoo model's weights into its keras-hub peer: our fused `qkv_kernel` (d, 3d) is
    keras' `query`, `key`, `value` kernels (d, heads, d / heads) side by side."""
    import keras

    ours = {w.path: keras.ops.convert_to_numpy(w) for w in zoo_model.weights}
    for w in peer.weights:
        parts = [_HUB_NAMES.get(p, p) for p in w.path.split("/")]
        if parts[-2] in ("query", "key", "value", "attention_output"):
            prefix, kind = "/".join(parts[:-2]), parts[-1]
            if parts[-2] == "attention_output":
                value = ours[f"{prefix}/output_{kind}"]
            else:
                d = ours[f"{prefix}/qkv_kernel"].shape[0]
                i = ("query", "key", "value").index(parts[-2])
                value = ours[f"{prefix}/qkv_{kind}"][..., i * d:(i + 1) * d]
            w.assign(value.reshape(w.shape))
        else:
            w.assign(ours["/".join(parts)])


_TINY_T = dict(vocabulary_size=50, num_layers=2, d_model=16, d_ff=32, num_heads=2, max_length=64,
               dropout=0.0)


@pytest.mark.parametrize("name,kwargs", [
    ("transformer_base", {}),
    ("transformer_big", dict(pre_norm=True, share_embeddings=False, tie_output_embedding=False,
                             target_vocabulary_size=40)),
    ("transformer_classifier", dict(classes=3)),
    ("transformer_classifier", dict(classes=3, pooling="first", pre_norm=True)),
])
def test_the_transformers_keras_hub_peers_are_the_same_networks(name, kwargs):
    """The peer `zoo bench` times the Transformers against is the same network: same parameter
    count, and with our weights copied in, the same outputs (padding in source and target)."""
    import numpy as np

    from zoo.bench.keras_hub_peers import available, build_peer
    from zoo.bench.peers import peer_for
    from zoo.core.registry import create_model

    assert available()  # keras-hub is in the test extra
    kwargs = {**_TINY_T, **kwargs}
    assert peer_for(name, kwargs)[0].startswith("keras_hub.layers.TransformerEncoder")
    ours, peer = create_model(name, **kwargs), build_peer(name, kwargs)
    assert peer.count_params() == ours.count_params()
    _transfer_to_keras_hub(ours, peer)
    rng = np.random.default_rng(0)
    source = rng.integers(1, 40, (3, 7)).astype("int32")
    source[0, 5:] = 0
    target = rng.integers(1, 40, (3, 6)).astype("int32")
    target[1, 4:] = 0
    x = source if name == "transformer_classifier" else [source, target]
    np.testing.assert_allclose(peer.predict(x, verbose=0), ours.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)


def test_keras_hub_peer_bad_arguments():
    from zoo.bench.keras_hub_peers import build_peer

    with pytest.raises(ValueError, match="`name` must be one of"):
        build_peer("resnet50", {})
    with pytest.raises(ValueError, match=r"does not take \['cell'\]"):
        build_peer("transformer_base", {"cell": "lstm"})


def test_trainer_vs_fit_script_writes_its_table(tmp_path):
    """benchmarks/trainer_vs_fit.py on one tiny model: the zoo trainer and Keras `fit` run the
    task's step; the table has the trainer-vs-fit row and the A/A row (structure, not timings)."""
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "trainer_vs_fit.py")
    spec = importlib.util.spec_from_file_location("trainer_vs_fit", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "tvf.md"
    script.main(["gru_classifier", "--rounds", "1", "--warmup", "1", "--steps", "2",
                 "--batch", "4", "--jit", "off", "--out", str(out)])
    rows = [line for line in out.read_text().splitlines() if line.startswith("| gru_classifier")]
    assert [r.split(" | ")[1:3] for r in rows] == [["fit", "trainer"], ["fit (A/A)", "fit"]]
    for r in rows:
        cells = r.split(" | ")
        assert float(cells[3]) > 0 and float(cells[4]) > 0
        assert cells[6].strip(" |") == "off, off"
