"""Text classification from a user's CSV (issue 27): bad files refused in one line before any
training, and end to end on a generated language (`tests/_text_language.py`): `zoo train --csv`,
export, and the exported `serving_default` answering held-out raw strings with class names in a
process without zoo."""

import json
import os
import subprocess
import sys

import pytest

from _text_language import sentences, write_csv
from zoo import cli

HERE = os.path.dirname(os.path.abspath(__file__))


def _train(cwd, capsys, *argv):
    here = os.getcwd()
    os.chdir(cwd)
    try:
        capsys.readouterr()
        rc = cli.main(["train", *[str(a) for a in argv]])
    finally:
        os.chdir(here)
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip() and "Warning" not in line]
    return rc, lines, captured.out


@pytest.mark.parametrize("content, flags, words", [
    (b"", [], ["empty file"]),
    (b"sentence,kind\nred cat,chaud\nblue dog,froid\n", ["--text-column", "body"],
     ["no column 'body'", "'sentence', 'kind'"]),
    (b"sentence,kind\nred cat,chaud\nbl\xffe dog,froid\n", [], ["UTF-8", "line 3"]),
    (b"sentence,kind\nred cat,chaud\nred dog,chaud\n", [], ["one class only", "'chaud'"]),
    (b"sentence,kind\n,chaud\n  ,froid\n", [], ["no non-empty text"]),
    (b"sentence,kind\n" + b"red cat,chaud\nblue dog,froid\n" * 4, ["--vocab-size", "9"],
     ["vocab_size=9 is too small"]),
    (b"sentence,kind\nred cat,chaud\n", ["--dataset", "imdb_reviews"], ["not both"]),
    (b"sentence,kind\nred cat,chaud\nblue dog, \n", [], ["data row 2", "empty label"]),
], ids=["empty", "missing-column", "not-utf8", "one-class", "all-empty", "vocab-too-small",
        "csv-and-dataset", "empty-label"])
def test_bad_text_files_are_refused_in_one_line_before_training(tmp_path, capsys, content, flags,
                                                                 words):
    (tmp_path / "t.csv").write_bytes(content)
    argv = ["transformer_classifier", "--csv", "t.csv", "--text-column", "sentence",
            "--label-column", "kind", *flags]
    if "--text-column" in flags:
        argv = ["transformer_classifier", "--csv", "t.csv", "--label-column", "kind", *flags]
    rc, lines, _ = _train(tmp_path, capsys, *argv)
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("zoo: error: "), (rc, lines)
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert sorted(os.listdir(tmp_path)) == ["t.csv"]  # no run folder: refused before training
    rc, lines, _ = _train(tmp_path, capsys, "lstm_classifier", "--text-column", "x")
    assert rc == 2 and "needs `--csv FILE`" in lines[0]


def test_empty_texts_are_skipped_and_counted_and_splits_are_stratified(tmp_path):
    from zoo.core.registry import get_spec
    from zoo.tasks import task_class
    from zoo.train.recipe import build_parser

    rows = sentences(60, 1) + [("", "chaud"), ("   ", "froid")]
    write_csv(tmp_path / "t.csv", rows)
    args = build_parser("gru_classifier").parse_args(
        ["--csv", str(tmp_path / "t.csv"), "--text-column", "sentence", "--label-column", "kind",
         "--vocab-size", "40", "--max-length", "12", "--run-dir", str(tmp_path / "run")])
    task = task_class("sequence_classification").from_args(args)
    src, fixed = task.make_source(get_spec("gru_classifier"), args)
    assert src.info["skipped_empty"] == 2 and src.info["class_names"] == ["chaud", "froid", "neutre"]
    assert (src.num_train, src.num_validation, src.num_test) == (48, 6, 6)
    assert fixed["vocabulary_size"] == src.info["tokenizer"].vocab_size <= 40
    assert sorted(os.listdir(tmp_path / "run")) == ["tokenizer.json", "tokenizer.model"]
    # a resumed run reads the saved tokenizer back instead of learning one
    again, _ = task.make_source(get_spec("gru_classifier"), args)
    assert again.info["tokenizer"].model_proto == src.info["tokenizer"].model_proto


CHILD = r"""
import importlib.abc, json, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "zoo" or name.startswith("zoo."):
            raise ModuleNotFoundError("zoo blocked")
sys.meta_path.insert(0, Block())
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the TF Text ops TF Serving links)
path, texts = sys.argv[1], json.load(open(sys.argv[2]))
out = tf.saved_model.load(path).signatures["serving_default"](text=tf.constant(texts))
print(json.dumps({k: v.numpy().tolist() for k, v in out.items()
                  if k in ("classes", "class_ids")}, default=lambda b: b.decode()))
"""


@pytest.mark.slow
def test_csv_to_export_answers_held_out_raw_strings_with_class_names(tmp_path, capsys):
    rows = sentences(700, 0)
    train, held = rows[:600], rows[600:]
    assert not {t for t, _ in held} & {t for t, _ in train}
    write_csv(tmp_path / "train.csv", train)
    rc, lines, out = _train(
        tmp_path, capsys, "transformer_classifier", "--csv", "train.csv", "--text-column", "sentence",
        "--label-column", "kind", "--vocab-size", "48", "--max-length", "16", "--epochs", "2",
        "--steps-per-epoch", "25", "--batch-size", "32", "--learning-rate", "3e-3",
        "--export-dir", "sm", "--set", "num_layers=1", "--set", "d_model=32", "--set", "d_ff=64",
        "--set", "num_heads=2")
    assert rc == 0, lines
    assert "3 classes (chaud, froid, neutre)" in out and "tokenizer" in out
    version = tmp_path / "sm" / "transformer_classifier" / "1"
    assert (version / "assets" / "tokenizer.model").read_bytes() == \
        (tmp_path / "runs" / "transformer_classifier" / "tokenizer.model").read_bytes()
    doc = json.loads((version / "assets.extra" / "signatures.json").read_text())
    assert [t["name"] for t in doc["signatures"]["serving_default"]["inputs"]] == ["text"]
    assert "serving_token_ids" in doc["signatures"]
    (tmp_path / "texts.json").write_text(json.dumps([t for t, _ in held] + ["", "bleu"]))
    (tmp_path / "child.py").write_text(CHILD)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    r = subprocess.run([sys.executable, "-I", str(tmp_path / "child.py"), str(version),
                        str(tmp_path / "texts.json")], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    accuracy = sum(g == k for g, (_, k) in zip(got["classes"], held)) / len(held)
    print("held-out accuracy of the served model", accuracy)
    assert accuracy >= 0.9, accuracy  # chance: 1/3
    assert got["classes"][-2] in ("chaud", "froid", "neutre")  # an empty text is answered
    names = ["chaud", "froid", "neutre"]
    assert [names[i] for i in got["class_ids"]] == got["classes"]


@pytest.mark.slow
def test_every_recurrent_classifier_trains_from_a_csv_and_its_run_exports_text(tmp_path, capsys):
    write_csv(tmp_path / "t.csv", sentences(60, 2))
    for name in ("simple_rnn_classifier", "gru_classifier", "lstm_classifier",
                 "peephole_lstm_classifier"):
        rc, lines, _ = _train(
            tmp_path, capsys, name, "--csv", "t.csv", "--text-column", "sentence", "--label-column",
            "kind", "--vocab-size", "40", "--max-length", "10", "--epochs", "1", "--steps-per-epoch",
            "1", "--batch-size", "8", "--quiet", "--set", "embedding_dim=8", "--set", "units=[8]",
            *([] if name == "gru_classifier" else ["--no-export"]))  # gru: saves model.keras
        assert rc == 0, (name, lines)
        assert (tmp_path / "runs" / name / "tokenizer.model").is_file(), name
    # a reloaded run: `zoo export --keras-file` finds the tokenizer and class names beside it
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert cli.main(["export", "gru_classifier", "--keras-file", "runs/gru_classifier/model.keras",
                         "--export-dir", "other"]) == 0
    finally:
        os.chdir(here)
    version = tmp_path / "other" / "gru_classifier" / "1"
    doc = json.loads((version / "assets.extra" / "signatures.json").read_text())
    assert doc["signatures"]["serving_default"]["inputs"][0]["dtype"] == "string"
    assert doc["options"]["class_names"] == ["chaud", "froid", "neutre"]
    assert (version / "assets" / "tokenizer.model").is_file()


@pytest.mark.slow
def test_a_users_string_input_model_exports_and_verifies(tmp_path):
    import keras

    from zoo.export import export_model, verify_many

    inp = keras.Input(shape=(), dtype="string", name="review")
    vectorize = keras.layers.TextVectorization(max_tokens=20, output_sequence_length=5)
    vectorize.adapt(["good film", "bad film", "very good"])
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(20, 4)(vectorize(inp)))
    model = keras.Model(inp, keras.layers.Dense(2, activation="softmax")(x))
    paths = [export_model(model, "mine", task=task, export_dir=str(tmp_path / "sm"))
             for task in ("text_classification", "generic")]
    reports = verify_many([(p, model) for p in paths])  # one process without zoo for both
    for report in reports:
        assert report["ok"], (report["task"], report["problems"])
        inputs = report["signatures"]["serving_default"]["inputs"]
        assert [d for d, _ in inputs.values()] == ["string"], inputs
    outputs = reports[0]["signatures"]["serving_default"]["outputs"]
    assert {"classes", "class_ids", "probabilities"} <= set(outputs)


def test_tfds_text_goes_through_the_same_tokenizer(monkeypatch):
    import numpy as np
    import tensorflow as tf

    from zoo.data import text as ztext
    from zoo.data.source import array_source

    rows = sentences(40, 3) + [("", "chaud")]
    texts = np.array([t for t, _ in rows])
    labels = np.array([sorted({k for _, k in rows}).index(k) for _, k in rows], "int64")
    monkeypatch.setattr(ztext, "tfds_source", lambda name, data_dir=None: array_source(
        name, texts, labels, info={"num_classes": 3}))
    src = ztext.text_source("fake_reviews", 40, 8)
    tokenizer = src.info["tokenizer"]
    assert src.info["vocab_size"] == tokenizer.vocab_size <= 40 and src.info["input_shape"] == (8,)
    ids, label = src.preprocess((tf.constant(rows[0][0]), tf.constant(labels[0])), False)
    assert ids.shape == (8,) and ids.dtype == tf.int32 and int(label) == labels[0]
    assert ids.numpy().tolist() == tokenizer.encode([rows[0][0]], 8).numpy()[0].tolist()
    empty, _ = src.preprocess((tf.constant(""), tf.constant(labels[-1])), False)
    assert empty.numpy().tolist() == [3] + [0] * 7  # one unknown piece, as the exports read it
