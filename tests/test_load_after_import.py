"""`keras.saving.load_model` reads a zoo `.keras` file after a plain `import zoo`, whichever of zoo
and Keras is imported first (zoo/__init__.py registers zoo.layers once Keras is loaded), while
`import zoo` alone still loads no Keras (tests/test_cards.py checks that)."""
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def saved_lrn_model(tmp_path_factory):
    import keras

    from zoo.layers import LocalResponseNormalization

    inp = keras.Input((4, 4, 8))
    model = keras.Model(inp, LocalResponseNormalization(name="lrn")(inp))
    path = str(tmp_path_factory.mktemp("lrn") / "lrn.keras")
    model.save(path)
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 8)).astype("float32")
    np.save(path + ".x.npy", x)
    np.save(path + ".y.npy", keras.ops.convert_to_numpy(model(x)))
    return path


def _load_in_fresh_process(path, imports):
    code = (
        f"{imports}\n"
        "import sys, numpy as np\n"
        f"model = keras.saving.load_model({path!r})\n"
        f"y = keras.ops.convert_to_numpy(model(np.load({path + '.x.npy'!r})))\n"
        f"np.testing.assert_allclose(y, np.load({path + '.y.npy'!r}), rtol=1e-5, atol=1e-6)\n"
        "print(type(model.get_layer('lrn')).__module__)\n"
    )
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=300, check=False)


@pytest.mark.parametrize("imports", ["import zoo\nimport keras", "import keras\nimport zoo"],
                         ids=["zoo_then_keras", "keras_then_zoo"])
def test_a_zoo_keras_file_loads_after_import_zoo(saved_lrn_model, imports):
    out = _load_in_fresh_process(saved_lrn_model, imports)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "zoo.layers.lrn"


def test_without_zoo_the_file_does_not_load(saved_lrn_model):
    # the control: what the hook fixes fails without zoo, so the test above can fail
    out = _load_in_fresh_process(saved_lrn_model, "import keras")
    assert out.returncode != 0
    assert "LocalResponseNormalization" in out.stderr


def test_the_hook_loads_no_tensorflow_on_jax():
    code = ("import sys, zoo\nassert 'keras' not in sys.modules\nimport keras\n"
            "print('zoo.layers' in sys.modules, 'tensorflow' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": ROOT, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "True False"


@pytest.fixture(scope="module")
def saved_transformer_classifier(tmp_path_factory):
    """A compiled Transformer classifier: its first-token pooling, loss and schedule are zoo's."""
    import keras

    import zoo
    from zoo.layers import LabelSmoothedCrossEntropy, TransformerSchedule

    model = zoo.transformer_classifier(vocabulary_size=20, num_layers=1, d_model=8, d_ff=16,
                                       num_heads=2, max_length=8, classes=3, pooling="first")
    model.compile(optimizer=keras.optimizers.Adam(TransformerSchedule(d_model=8, warmup_steps=4)),
                  loss=LabelSmoothedCrossEntropy(epsilon=0.1, from_logits=False))
    path = str(tmp_path_factory.mktemp("tc") / "tc.keras")
    model.save(path)
    x = np.random.default_rng(0).integers(1, 20, size=(2, 8)).astype("int32")
    np.save(path + ".x.npy", x)
    np.save(path + ".y.npy", keras.ops.convert_to_numpy(model(x)))
    return path


def _old_named_copy(path, old):
    """`path` rewritten as files written before 0.2 name the pooling layer: `zoo>_FirstToken`."""
    import shutil
    import zipfile

    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                assert b'"zoo>FirstToken"' in data
                data = data.replace(b'"zoo>FirstToken"', b'"zoo>_FirstToken"').replace(
                    b'"class_name": "FirstToken"', b'"class_name": "_FirstToken"')
            dst.writestr(item, data)
    for suffix in (".x.npy", ".y.npy"):
        shutil.copy(path + suffix, old + suffix)
    return old


@pytest.fixture(scope="module")
def transformer_loads(saved_transformer_classifier, tmp_path_factory):
    """The compiled Transformer file and its pre-0.2 copy loaded after `import zoo`, each in its
    own try, in ONE fresh process (what they check is the files, not the order of imports):
    {file: (loaded, the pooling layer's, the loss's and the schedule's classes, or the error)}."""
    old = _old_named_copy(saved_transformer_classifier,
                          str(tmp_path_factory.mktemp("tc_old") / "old.keras"))
    files = {"compiled": saved_transformer_classifier, "before_rename": old}
    code = (
        "import json, traceback\nimport zoo\nimport keras\nimport numpy as np\n"
        f"files, out = {files!r}, {{}}\n"
        "for key, path in files.items():\n"
        "    try:\n"
        "        model = keras.saving.load_model(path)\n"
        "        y = keras.ops.convert_to_numpy(model(np.load(path + '.x.npy')))\n"
        "        np.testing.assert_allclose(y, np.load(path + '.y.npy'), rtol=1e-5, atol=1e-6)\n"
        "        out[key] = [True, type(model.get_layer('first_token')).__name__,\n"
        "                    type(model.loss).__name__,\n"
        "                    type(model.optimizer._learning_rate).__name__]\n"
        "    except Exception:\n"
        "        out[key] = [False, traceback.format_exc()[-3000:]]\n"
        "print('RESULT ' + json.dumps(out))\n"
    )
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json

    return json.loads([l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1][7:])


def test_a_compiled_transformer_file_loads_after_import_zoo(transformer_loads):
    loaded, *what = transformer_loads["compiled"]
    assert loaded, what[0]
    assert what == ["FirstToken", "LabelSmoothedCrossEntropy", "TransformerSchedule"]


def test_a_file_written_before_the_rename_of_first_token_loads(transformer_loads):
    # files written before 0.2 name the pooling layer `zoo>_FirstToken`
    loaded, *what = transformer_loads["before_rename"]
    assert loaded, what[0]
    assert what[0] == "FirstToken"
