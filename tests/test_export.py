"""zoo.export: TF Serving layout, crash-safe versions, named signatures per task, verification.

Stand-in models (built here) for every task; the families add their own exports on top.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import _spawn

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from zoo import export as ex  # noqa: E402
from zoo.export import archive  # noqa: E402


def _image_classifier(aux=True, size=16, classes=7):
    i = keras.Input((size, size, 3), name="image")
    x = keras.layers.Conv2D(4, 3, name="conv")(i)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    if not aux:
        return keras.Model(i, out)
    a = keras.layers.Dense(3, activation="softmax", name="aux1")(x)
    return keras.Model(i, [out, a])


def greedy_translate(model, source_ids, max_length, beam_size, alpha):
    """A stand-in decoder with the Transformer's `translate` signature (greedy only)."""
    out = tf.ones([tf.shape(source_ids)[0], 1], tf.int32)
    score = tf.zeros([tf.shape(source_ids)[0]])
    for _ in range(max_length):
        logp = tf.nn.log_softmax(model([source_ids, out])[:, -1], -1)
        nxt = tf.cast(tf.argmax(logp, -1), tf.int32)
        score += tf.reduce_max(logp, -1)
        out = tf.concat([out, nxt[:, None]], 1)
    return out[:, 1:], score


def _stand_ins():
    i = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(10, 8, mask_zero=True)(i)
    x = keras.layers.LSTM(8)(x)
    seq = keras.Model(i, keras.layers.Dense(3, activation="softmax")(x))

    i = keras.Input((None, 4))
    x = keras.layers.Masking(0.0)(i)
    reg = keras.Model(i, keras.layers.Dense(1)(keras.layers.GRU(5)(x)))

    i = keras.Input((6,))
    x = keras.layers.Dense(4 * 4 * 2, activation="tanh")(i)
    gen = keras.Model(i, keras.layers.Reshape((4, 4, 2))(x))

    s = keras.Input((None,), dtype="int32", name="source")
    t = keras.Input((None,), dtype="int32", name="target")
    emb = keras.layers.Embedding(10, 8)
    ctx = keras.layers.GlobalAveragePooling1D()(emb(s))
    h = keras.layers.Add()([emb(t), keras.layers.Reshape((1, 8))(ctx)])
    tr = keras.Model([s, t], keras.layers.Dense(10, name="logits")(h))
    return seq, reg, gen, tr


def test_image_export_layout_signatures_and_preprocessing(tmp_path):
    model = _image_classifier()
    d = tmp_path / "sm"
    p1 = ex.export_model(model, "tiny", task="image_classification", export_dir=str(d),
                         preprocessing="caffe", top_k=3)
    p2 = ex.export_model(model, "tiny", export_dir=str(d), task="image_classification",
                         preprocessing="caffe", top_k=3)
    assert p1 == str(d / "tiny" / "1") and p2 == str(d / "tiny" / "2")
    assert ex.list_versions(d / "tiny") == [1, 2]
    assert sorted(os.listdir(d / "tiny")) == ["1", "2"]
    assert (d / "tiny" / "1" / "saved_model.pb").exists() and (d / "tiny" / "1" / "variables").is_dir()
    doc = json.loads((d / "tiny" / "1" / "assets.extra" / "signatures.json").read_text())
    assert set(doc["signatures"]) == {"serving_default", "classify_float", "image_bytes"}
    assert doc["signatures"]["serving_default"]["inputs"][0]["dtype"] == "uint8"
    assert "resized to 16x16" in doc["signatures"]["serving_default"]["inputs"][0]["doc"]
    config = (d / "models.config").read_text()
    assert re.findall(r'name: "(\w+)"', config) == ["tiny"]
    assert f'base_path: "{d / "tiny"}"' in config and config.startswith("model_config_list {")

    loaded = tf.saved_model.load(p1)
    fn = loaded.signatures["serving_default"]
    assert set(fn.structured_input_signature[1]) == {"images"}
    assert set(fn.structured_outputs) == {"probabilities", "top_k_values", "top_k_indices"}
    rng = np.random.default_rng(0)
    # at the model's size: keras.applications' caffe preprocessing, the aux head dropped
    x = rng.integers(0, 256, size=(3, 16, 16, 3)).astype("uint8")
    want = model.predict(keras.applications.imagenet_utils.preprocess_input(
        x.astype("float32"), mode="caffe"), verbose=0)[0]
    got = fn(images=tf.constant(x))
    np.testing.assert_allclose(got["probabilities"].numpy(), want, atol=1e-5)
    np.testing.assert_array_equal(got["top_k_indices"].numpy(), np.argsort(-want, -1)[:, :3])
    # any size, float input: resized inside the graph
    xf = rng.uniform(0, 255, size=(2, 23, 31, 3)).astype("float32")
    want = model(keras.applications.imagenet_utils.preprocess_input(
        tf.image.resize(xf, (16, 16)).numpy(), mode="caffe"))[0]
    got = loaded.signatures["classify_float"](images=tf.constant(xf))["probabilities"]
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)


def test_failure_mid_write_leaves_no_version(tmp_path, monkeypatch):
    model = _image_classifier(aux=False)
    d = tmp_path / "sm"
    real = archive._write_docs

    def crash(path, *a, **k):
        assert os.path.exists(os.path.join(path, "saved_model.pb"))  # the archive is half written
        real(path, *a, **k)
        raise OSError("disk full (injected)")

    monkeypatch.setattr(archive, "_write_docs", crash)
    with pytest.raises(OSError, match="injected"):
        ex.export_model(model, "tiny", task="image_classification", export_dir=str(d))
    assert os.listdir(d / "tiny") == []  # no version folder, no temporary left behind
    assert ex.list_versions(d / "tiny") == []
    assert not (d / "models.config").exists()
    monkeypatch.setattr(archive, "_write_docs", real)
    # a process killed mid-write leaves a hidden temporary: ignored, then cleaned up
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = d / "tiny" / f"{ex.TMP_PREFIX}{dead.pid}-deadbeef"
    (stale / "variables").mkdir(parents=True)
    assert ex.next_version(d / "tiny") == 1
    path = ex.export_model(model, "tiny", task="image_classification", export_dir=str(d))
    assert path.endswith(os.sep + "1") and sorted(os.listdir(d / "tiny")) == ["1"]


def test_every_task_verified_without_zoo(tmp_path):
    seq, reg, gen, tr = _stand_ins()
    img = _image_classifier()
    d = str(tmp_path / "sm")
    paths = [
        ex.export_model(img, "img", task="image_classification", export_dir=d, preprocessing="torch"),
        ex.export_model(seq, "seq", task="sequence_classification", export_dir=d, top_k=2),
        ex.export_model(reg, "reg", task="sequence_regression", export_dir=d),
        ex.export_model(gen, "gen", task="image_generation", export_dir=d),
        ex.export_model(tr, "tr", task="translation", export_dir=d, translate_fn=greedy_translate,
                        max_length=4, beam_size=1),
        ex.export_model(tr, "generic", export_dir=d),
    ]
    other = _image_classifier()  # different weights: the comparison must catch it
    items = [(paths[0], img), (paths[1], seq), (paths[2], reg), (paths[3], gen),
             (paths[4], tr, {"translate_fn": greedy_translate}), (paths[5], tr), (paths[0], other)]
    reports = ex.verify_many(items, tflite=True)
    for r in reports[:-1]:
        assert r["ok"], (r["path"], r["problems"])
        assert r["zoo_blocked"]
        assert set(r["saved_model_cli"]) >= set(r["signatures"]) - {"__saved_model_init_op"}
        assert r["outputs"] and all(v["ok"] for k, v in r["outputs"].items() if not k.startswith("tflite"))
    assert not reports[-1]["ok"]
    assert any("differs from the Keras model" in p for p in reports[-1]["problems"])
    img_r, seq_r, reg_r, gen_r, tr_r, gen_generic = reports[:6]
    assert set(img_r["signatures"]) == {"serving_default", "classify_float", "image_bytes"}
    assert img_r["signatures"]["serving_default"]["outputs"]["probabilities"] == ["float32", [None, 7]]
    assert set(seq_r["signatures"]["serving_default"]["inputs"]) == {"tokens", "lengths"}
    assert set(reg_r["signatures"]["serving_default"]["inputs"]) == {"features", "lengths"}
    assert gen_r["signatures"]["serving_default"]["outputs"]["images"][0] == "uint8"
    assert set(gen_r["signatures"]) == {"serving_default", "generate_from_seed"}
    assert gen_r["signatures"]["generate_from_seed"]["inputs"] == {"seed": ["int64", []],
                                                                   "count": ["int32", []]}
    assert set(tr_r["signatures"]) == {"serving_default", "translate"}
    assert set(tr_r["signatures"]["translate"]["outputs"]) == {"token_ids", "scores"}
    assert set(gen_generic["signatures"]["serving_default"]["inputs"]) == {"source", "target"}
    assert set(gen_generic["signatures"]["serving_default"]["outputs"]) == {"logits"}
    # TFLite (extra): the image classifier and the generator convert and agree; the generator's
    # `generate_from_seed` draws its latents with a stateless random op, which TFLite's builtins
    # lack: it converts only with SELECT_TF_OPS (reported, not a failure of the verification)
    tflite = dict(img_r["tflite"])
    # TFLite's builtins cannot decode images (tf.io.decode_image): image_bytes is for TF Serving
    assert tflite.pop("image_bytes").startswith("failed: builtins only")
    assert set(tflite.values()) == {"converted"}, img_r["tflite"]
    assert gen_r["tflite"]["serving_default"] == "converted", gen_r["tflite"]
    assert "SELECT_TF_OPS" in gen_r["tflite"]["generate_from_seed"], gen_r["tflite"]
    for r in (img_r, gen_r):
        assert any(k.startswith("tflite::") for k in r["outputs"])
    assert {k.split("::")[1] for k in gen_r["outputs"] if k.startswith("tflite::")} == {"serving_default"}
    # lengths matter: padding beyond `lengths` is masked like the Keras model masks zeros
    loaded = tf.saved_model.load(paths[1]).signatures["serving_default"]
    toks = np.array([[3, 4, 5, 6], [3, 4, 5, 6]], "int32")
    got = loaded(tokens=toks, lengths=np.array([4, 2], "int32"))["probabilities"].numpy()
    np.testing.assert_allclose(got[1], seq(np.array([[3, 4, 0, 0]]))[0], atol=1e-5)
    np.testing.assert_allclose(got[0], seq(toks[:1])[0], atol=1e-5)


def test_cli_export_verify_and_saved_model_cli(tmp_path, capsys):
    from zoo import cli

    model = _image_classifier(aux=False)
    f = str(tmp_path / "tiny.keras")
    model.save(f)
    d = str(tmp_path / "sm")
    rc = cli.main(["export", "tiny", "--keras-file", f, "--task", "image_classification",
                   "--export-dir", d, "--opt", "preprocessing=unit", "--opt", "top_k=2"])
    assert rc == 0 and capsys.readouterr().out.strip() == os.path.join(d, "tiny", "1")
    # `zoo verify` on the export folder: every version of every model under it
    rc = cli.main(["verify", d, "--keras-file", f, "--onnx"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.startswith(f"verify {os.path.join(d, 'tiny', '1')} (image_classification): OK")
    assert "OK" in out and "zoo importable in the serving process: False" in out
    # extra: tf2onnx + onnxruntime agree with the Keras model too
    assert "onnx serving_default: converted" in out and "onnx classify_float: converted" in out
    assert "onnx::serving_default::probabilities: ok" in out
    path = os.path.join(d, "tiny", "1")
    res = subprocess.run([os.path.join(os.path.dirname(sys.executable), "saved_model_cli"), "show",
                          "--dir", path, "--all"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert set(re.findall(r"signature_def\['(\w+)'\]", res.stdout)) >= {"serving_default", "classify_float"}
    assert "inputs['images'] tensor_info" in res.stdout and "outputs['top_k_indices']" in res.stdout


def test_arguments_are_checked(tmp_path):
    model = _image_classifier()
    d = str(tmp_path)
    with pytest.raises(ValueError, match="task"):
        ex.export_model(model, "m", task="segmentation", export_dir=d)
    with pytest.raises(ValueError, match="preprocessing"):
        ex.export_model(model, "m", task="image_classification", export_dir=d, preprocessing="bgr")
    with pytest.raises(ValueError, match="outputs"):
        ex.export_model(model, "m", task="image_classification", export_dir=d, outputs="nope")
    with pytest.raises(ValueError, match="name"):
        ex.export_model(model, "a/b", export_dir=d)
    for version in (-1, 2 ** 63, True, "1"):  # TF Serving reads an int64 version
        with pytest.raises(ValueError, match="version"):
            ex.export_model(model, "m", task="image_classification", export_dir=d, version=version)
    assert not os.path.exists(os.path.join(d, "m"))
    ex.export_model(model, "m", task="image_classification", export_dir=d, version=3)
    with pytest.raises(ValueError, match="already exists"):
        ex.export_model(model, "m", task="image_classification", export_dir=d, version=3)
    assert ex.next_version(os.path.join(d, "m")) == 4
    with pytest.raises(ValueError, match="path"):
        ex.verify(d)
    kept = ex.select_outputs(model, "aux1")
    assert kept.output_names == ["aux1"]
    assert ex.select_outputs(model).output_names == ["predictions"]


@pytest.mark.parametrize("damage", ["pb_overwritten", "variables_truncated"])
def test_zoo_verify_on_a_damaged_export_is_one_line_naming_it(tmp_path, damage):
    model = _image_classifier(aux=False)
    path = ex.export_model(model, "tiny", task="image_classification",
                           export_dir=str(tmp_path / "sm"))
    if damage.startswith("pb"):
        target = os.path.join(path, "saved_model.pb")
    else:
        target = os.path.join(path, "variables", next(
            f for f in os.listdir(os.path.join(path, "variables")) if ".data-" in f))
    size = os.path.getsize(target)
    with open(target, "r+b") as f:
        if damage.endswith("truncated"):
            f.truncate(size // 2)
        else:
            f.seek(size // 3)
            f.write(bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8)))
    res = _spawn.run([sys.executable, "-c", "import sys; from zoo.cli import main; "
                          "sys.exit(main(sys.argv[1:]))", "verify", str(path)], capture_output=True,
                     text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert res.returncode == 2, res.stderr[-3000:]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr[-3000:]
    assert lines[0].startswith("zoo: error: The SavedModel in " + str(path)), lines
    assert "damaged or incomplete" in lines[0]


def test_export_writes_warm_up_requests_and_batching_parameters_that_verify_runs(tmp_path):
    from zoo.export.warmup import BATCHING_FILE, read_warmup_requests

    model = _image_classifier(aux=False)
    path = ex.export_model(model, "tiny", task="image_classification",
                           export_dir=str(tmp_path / "sm"), preprocessing="unit")
    requests = read_warmup_requests(path)
    assert sorted(sig for sig, _ in requests) == ["classify_float", "image_bytes", "serving_default"]
    doc = json.load(open(os.path.join(path, "assets.extra", "signatures.json")))
    for sig, inputs in requests:  # each request carries every input of its signature
        assert sorted(inputs) == sorted(t["name"] for t in doc["signatures"][sig]["inputs"])
        if sig == "image_bytes":  # PNG files of two sizes
            assert [bytes(b)[:4] for b in inputs["image_bytes"]] == [b"\x89PNG"] * 2
            continue
        assert inputs["images"].dtype == (np.uint8 if sig == "serving_default" else np.float32)
    text = open(os.path.join(path, BATCHING_FILE)).read()
    assert "max_batch_size { value: 32 }" in text
    # a copy of the export without its warm-up file, checked in the same verification process:
    # a warm-up file that no longer matches the signatures is a problem verify reports
    damaged = os.path.join(os.path.dirname(path), "2")
    shutil.copytree(path, damaged)
    os.remove(os.path.join(damaged, "assets.extra", "tf_serving_warmup_requests"))
    report, without = ex.verify_many([(path, model), (damaged, model)])
    assert report["ok"], report["problems"]
    assert sorted(report["warmup"]["signatures"]) == ["classify_float", "image_bytes",
                                                      "serving_default"]
    assert report["warmup"]["failed"] == []
    assert not without["ok"] and any("warm-up" in p for p in without["problems"]), without
    assert without["path"] == damaged and report["path"] == path


def test_an_export_pauses_the_collector_and_restores_it():
    """`export_model` turns Python's cyclic collector off while it traces and saves
    (zoo/export/archive.py `_collector_paused`) and leaves it as it found it: on after nested
    exports and after one that fails, still off where the caller had turned it off."""
    import gc

    from zoo.export import archive

    assert gc.isenabled()
    with archive._collector_paused():
        assert not gc.isenabled()
        with archive._collector_paused():  # a second export (another thread) at the same time
            assert not gc.isenabled()
        assert not gc.isenabled()  # the first one still runs
    assert gc.isenabled()
    with pytest.raises(RuntimeError, match="failed"):
        with archive._collector_paused():
            raise RuntimeError("the export failed")
    assert gc.isenabled()
    gc.disable()
    try:
        with archive._collector_paused():
            pass
        assert not gc.isenabled()  # the caller's choice stands
    finally:
        gc.enable()
