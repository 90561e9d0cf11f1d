"""The `zoo` command: `--help`, `list` and `info` load neither TensorFlow, Keras nor keras-tuner
(`list` and `info` read the stored cards), and TensorFlow's start-up lines are hidden unless
`--verbose`."""

import json
import os
import re
import subprocess
import sys

HEAVY = ("tensorflow", "keras", "keras_tuner")


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return {**env, **extra}


def _main(*args, env=None):
    """`zoo ARGS` through `zoo.cli.main` in a fresh process; also prints what it loaded."""
    code = (
        "import os, sys, zoo.cli\n"
        f"rc = zoo.cli.main({list(args)!r})\n"
        "sys.stdout.flush()\n"
        f"print('LOADED', sorted(m for m in {HEAVY!r} if m in sys.modules),"
        " os.environ.get('TF_CPP_MIN_LOG_LEVEL'))\n"
        "sys.exit(rc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                         timeout=600, env=env or _env())
    body, _, loaded = out.stdout.rpartition("LOADED ")
    return out.returncode, body, out.stderr, loaded.strip()


def test_help_loads_nothing_heavy():
    # `--help` builds every subcommand's parser (zoo.train.cli, zoo.export.cli, zoo.tuning.cli):
    # argparse only, TensorFlow and keras-tuner are imported when a command runs
    code = ("import sys, zoo.cli\ntry:\n    zoo.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            f"print('LOADED', sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                         env=_env(), check=False)
    assert out.stdout.strip().splitlines()[-1] == "LOADED []", out.stdout + out.stderr


def test_help_lists_every_subcommand():
    out = subprocess.run([sys.executable, "-m", "zoo.cli", "--help"], capture_output=True,
                         text=True, timeout=600, env=_env(), check=False)
    assert out.returncode == 0, out.stderr
    for command in ("list", "info", "build", "train", "export", "verify", "tune", "bench",
                    "--verbose"):
        assert command in out.stdout
    assert not re.search(r"^[IWEF]\d{4} |absl::InitializeLog", out.stderr, re.MULTILINE), out.stderr


def test_list_reads_the_cards_without_loading_tensorflow():
    rc, out, err, loaded = _main("list", "resnet5*")
    assert rc == 0, err
    assert loaded == "[] 3"  # nothing heavy loaded; TensorFlow's C++ logs would be quiet
    lines = out.strip().splitlines()
    assert lines[0].split()[:4] == ["name", "family", "params", "input"]
    assert lines[1].startswith("resnet50 ") and "25,636,712" in lines[1]
    assert "(224, 224, 3)" in lines[1] and "He et al. 2015" in lines[1]
    assert lines[2].startswith("resnet50v2 ") and "25,613,800" in lines[2]

    rc, out, err, loaded = _main("list", "--no-params", "--family", "transformer")
    assert rc == 0 and loaded == "[] 3", err
    assert [line.split()[:3] for line in out.strip().splitlines()[1:]] == [
        ["transformer_base", "transformer", "-"], ["transformer_big", "transformer", "-"],
        ["transformer_classifier", "transformer", "-"]]


def test_info_reads_the_card_without_loading_tensorflow():
    rc, out, err, loaded = _main("info", "resnet50")
    assert rc == 0, err
    assert loaded == "[] 3"
    assert "params: 25,636,712\n" in out and "macs: 3,857,973,248\n" in out
    assert "search_space:\n  optimizer: Choice ['sgd', 'adamw']\n" in out
    assert "weights: {'imagenet'" in out

    rc, out, err, loaded = _main("info", "dcgan_generator_28", "--json")
    assert rc == 0 and loaded == "[] 3", err
    card = json.loads(out)
    assert card["params"] == 834_369 and card["partner"] == "dcgan_discriminator_28"

    rc, out, err, loaded = _main("info", "resnet5")
    assert rc == 2 and "Closest names" in err and loaded == "[] 3"


def test_verbose_and_a_users_log_level_are_left_alone():
    rc, _, err, loaded = _main("info", "resnet50", "--verbose")
    assert rc == 0 and loaded == "[] None", err
    rc, _, err, loaded = _main("--verbose", "list", env=_env())
    assert rc == 0 and loaded == "[] None", err
    rc, _, err, loaded = _main("list", env=_env(TF_CPP_MIN_LOG_LEVEL="1"))
    assert rc == 0 and loaded == "[] 1", err


def test_tensorflows_start_up_lines_are_hidden():
    rc, out, err, loaded = _main("build", "highway_net", "--set", "depth=2")
    assert rc == 0, err
    assert "Total params: 44,860" in out
    assert loaded.startswith("['keras', 'tensorflow']")
    assert not re.search(r"^[IWEF]\d{4} |absl::InitializeLog", err, re.MULTILINE), err


def test_optional_imports_of_tensorflow_and_keras_are_skipped_in_zoos_processes_only():
    """`skip_optional_imports` (the `zoo` command, its benchmark children, the verification
    process' copy): TFLite and Keras load without `jax`, `sklearn` and `matplotlib`, which zoo
    still imports itself where it uses them; `import zoo` alone installs nothing; the embedded
    digits load without `sklearn`."""
    import ast

    code = (
        "import json, sys, zoo\n"
        "installed = [type(f).__name__ for f in sys.meta_path]\n"
        "from zoo.core.lazy import skip_optional_imports\n"
        "skip_optional_imports()\n"
        "import tensorflow, keras\n"
        "loaded = sorted(m for m in ('jax', 'sklearn', 'matplotlib') if m in sys.modules)\n"
        "from zoo.data import digits_split\n"
        "digits = [len(part) for part in digits_split(0, 0.15)]\n"
        "digits_sklearn = 'sklearn' in sys.modules\n"
        "from keras.src.wrappers import fixes\n"
        "from tensorflow.lite.python import util\n"
        "import jax, matplotlib.pyplot, sklearn.datasets\n"
        "print('RESULT', json.dumps({'installed': installed, 'loaded': loaded,\n"
        "    'keras_sklearn': fixes.sklearn is not None, 'tflite_jax': util._jit is not None,\n"
        "    'digits': digits, 'digits_sklearn': digits_sklearn,\n"
        "    'own': sorted(m for m in ('jax', 'sklearn', 'matplotlib') if m in sys.modules)}))\n")
    env = _env(KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600, env=env, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.split("RESULT ", 1)[1])
    assert "_SkipOptional" not in r["installed"]  # `import zoo` left the process as it was
    assert r["loaded"] == [] and not r["keras_sklearn"] and not r["tflite_jax"], r
    assert r["own"] == ["jax", "matplotlib", "sklearn"], r
    # the digits load from scikit-learn's file without importing it (zoo.data.images._digits)
    assert r["digits"] == [1221, 216, 360] * 2 and not r["digits_sklearn"], r

    def finder(path):  # the class's table and its find_spec, as code (the copy is exact)
        tree = ast.parse(open(path).read())
        cls = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)
                   and n.name == "_SkipOptional")
        return [ast.dump(n) for n in cls.body if not isinstance(n, ast.Expr)]  # no docstring

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    assert finder(os.path.join(root, "zoo", "export", "verify_child.py")) == \
        finder(os.path.join(root, "zoo", "core", "lazy.py"))
