"""Recipes reach their quality targets on the embedded defaults, and run on TFDS data (mocked).

The quality tests train registered models by name with their task's recipe
(`zoo.train.recipe.run(NAME, ARGV)`, the in-process `zoo train NAME ARGV`; `--set KEY=VALUE` for
smaller builder settings). Their settings (the learning rate) were chosen on the validation split
by benchmarks/recipe_settings.py (docs/recipe_settings.md); they assert the target on the test
split, which nothing was chosen on, recomputed here from the model's predictions (the digits
job's test is the README main job's, in tests/test_readme.py). The scripts in recipes/ run end to
end in a subprocess.
"""

import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import _recipe_models as stand_ins  # noqa: E402
from zoo.train import recipe  # noqa: E402

# The quality jobs: the commands README.md's results table shows (tests/test_readme.py checks
# that it shows exactly these, with PUBLISHED as its figure and the floor as its target). SPREAD
# is the range `python tests/quality_spread.py JOB VARIANT SEED` measured over training seeds 0
# and 1 and CPU kernels, rounded up. Each test asserts PUBLISHED - SPREAD (PUBLISHED + SPREAD for
# an error). PUBLISHED is seed 0: for the digits, with oneDNN's AVX2 kernels (`avx2`) on a 2-core
# AMD EPYC without AVX-512 (2026-12-07); for the adding problem and the reversal, with oneDNN's
# default kernels on a 2-core AMD EPYC with AVX-512.
# The digits job is also the README's main job (its first command), which
# tests/test_readme.py runs exactly as shown and holds to DIGITS_PUBLISHED - DIGITS_SPREAD:
# GoogLeNet (BN) on the digits upsampled to 32x32x3, the held-out 20% (360 images); the learning
# rate was chosen on the validation split (216 images) at 12 epochs, and the job trains 6
# (98.1% at 12, 98.6% at 6 on seed 0; 6 epochs spread wider over seeds and kernels).
DIGITS = ["googlenet_bn", "--epochs", "6", "--lr", "1e-2"]
# test accuracy at 6 epochs (2-core AMD EPYC without AVX-512): seed 0 0.9861 (`avx2`), seed 1
# 0.9750 (`avx2`), seed 0 0.9694 with the suite's setting (`suite`: oneDNN's best kernels, one
# intra-op thread) and 0.9639 with TensorFlow's Eigen kernels (`default` on this CPU). At the 12
# epochs the learning rate was chosen at (docs/recipe_settings.md): 0.9806 (seeds 0 and 1)
DIGITS_PUBLISHED, DIGITS_SPREAD = 0.986, 0.023
ADDING = ["peephole_lstm_regressor", "--dataset", "adding", "--steps", "100", "--num-train",
          "10000", "--epochs", "12", "--lr", "1e-2", "--jit-compile", "on"]
# compiled by XLA (`--jit-compile on`: the peephole layer's two loops and the step, 4 s an epoch
# instead of 9 on one thread of the 2-core AMD EPYC without AVX-512). Test MSE there: seed 0
# 0.00028 (TensorFlow's threads and one thread alike), 0.00027 with XLA's code limited to SSE4.2
# (`xla_sse42`), seed 1 0.00023; a range of 0.00005, and 0.00015 between TensorFlow's kernels
# without XLA (0.00027 oneDNN AVX-512 and 0.00042 AVX2, earlier): SPREAD covers both
ADDING_PUBLISHED, ADDING_SPREAD = 0.00028, 0.0002
REVERSAL = ["transformer_base", "--set", "num_layers=2", "--set", "d_model=64", "--set",
            "d_ff=128", "--set", "num_heads=4", "--set", "dropout=0", "--num-train", "10000",
            "--epochs", "6", "--lr", "1e-2", "--warmup-steps", "100"]
# greedy exact match: 0.999 seed 0, 0.997 seed 1, 0.998 with the AVX2 kernels, 0.995 earlier
REVERSAL_PUBLISHED, REVERSAL_SPREAD = 0.999, 0.004


def _common(tmp_path):
    return ["--run-dir", tmp_path / "run", "--no-export", "--quiet"]


def _strs(items):
    return [str(i) for i in items]


def _train(name, argv):
    """`zoo train NAME ARGV` in-process; returns the Trainer (its model, source and summary)."""
    return recipe.train_task(name, recipe.build_parser(name).parse_args(_strs(argv)))


def _held_out_predictions(model, source, split="test"):
    """The model's outputs on every example of a held-out split, and the targets, computed here
    (not by the trainer's metric code)."""
    from zoo import data

    outs, targets = [], []
    for x, y in data.evaluation_pipeline(source, 128, split):
        outs.append(np.asarray(model(x, training=False)))
        targets.append(np.asarray(y))
    return np.concatenate(outs), np.concatenate(targets)


def _accuracy(model, source, split="test"):
    probs, labels = _held_out_predictions(model, source, split)
    return float(np.mean(probs.argmax(-1) == labels.reshape(-1)))


def _mse(model, source, split="test"):
    preds, targets = _held_out_predictions(model, source, split)
    return float(np.mean((preds.reshape(-1) - targets.reshape(-1)) ** 2)), len(targets)


@pytest.mark.slow
def test_peephole_recipe_adding_problem_mse_below_001(tmp_path):
    """The registered peephole LSTM regressor (64 units) on the adding problem, 100 steps: test
    MSE below the published 0.00028 plus its measured spread (2,000 sequences; a constant guess
    gives 0.167); the learning rate was chosen on 2,000 validation sequences.

    12 epochs, not the recipe's 20 (test MSE 9.8e-5 on an earlier machine,
    docs/recipe_settings.md), compiled by XLA, to keep the suite short: the validation MSE stays
    on the adding problem's plateau (0.166) for 6 epochs, then falls to 0.0006 at epoch 9 and
    0.0003 at epoch 11 (seed 0 without XLA, on one thread of the 2-core AMD EPYC)."""
    trainer = _train(ADDING[0], [*ADDING[1:], *_common(tmp_path)])
    summary = trainer.summary
    u, f = 64, 2  # gates 4u(f + u) + 4u, peepholes 3u (Gers et al. 2002), linear head u + 1
    assert summary["params"] == 4 * u * (f + u) + 4 * u + 3 * u + u + 1
    val, n_val = _mse(trainer.model, trainer.source, "validation")  # what the choice read
    assert n_val == 2_000 and val == pytest.approx(summary["final_validation"]["mse"], rel=1e-4)
    mse, n_test = _mse(trainer.model, trainer.source)  # test, recomputed here
    assert mse == pytest.approx(summary["final_test"]["mse"], rel=1e-4)
    assert n_test == 2_000, n_test
    assert mse < ADDING_PUBLISHED + ADDING_SPREAD, (mse, summary)


@pytest.mark.slow
def test_transformer_recipe_reversal_greedy_exact_match(tmp_path):
    """`transformer_base` with a small config (2+2 layers, d_model 64) on sequence reversal:
    greedy exact match on 1,000 test sequences at least the published figure less its spread;
    the learning rate was chosen on the greedy exact match of 1,000 validation sequences (in
    neither training nor test)."""
    import tensorflow as tf

    trainer = _train(REVERSAL[0], [*REVERSAL[1:], *_common(tmp_path)])  # decodes 1,000 (default)
    summary = trainer.summary
    # the model's forward pass as a graph, traced for any prefix length (`reduce_retracing`: two
    # traces in all) and the same outputs: called eagerly, each of a split's 21 steps over 1,000
    # sequences ran the layers op by op (one split: 31.7 s of CPU eagerly, 20.3 s traced, on
    # the 2-core AMD EPYC; the same tokens)
    forward = tf.function(lambda src, tgt: trainer.model([src, tgt], training=False),
                          reduce_retracing=True)

    def greedy_exact(split):
        """Greedy decoding written out here: argmax of the next token, from BOS until EOS; the
        share of sequences right up to and including EOS."""
        (src, _), labels = next(iter(split().batch(1000).as_numpy_iterator()))
        tgt = np.ones((len(src), 1), "int32")
        for _ in range(labels.shape[1]):
            nxt = np.asarray(forward(src, tgt))[:, -1].argmax(-1)
            tgt = np.concatenate([tgt, nxt[:, None].astype("int32")], 1)
        exact = [np.array_equal(d[: list(y).index(2) + 1], y[: list(y).index(2) + 1])
                 for d, y in zip(tgt[:, 1:], labels)]
        return float(np.mean(exact)), len(exact)

    val, n_val = greedy_exact(trainer.source.validation)  # the figure the choice read
    assert n_val == 1000 and val == pytest.approx(summary["validation_greedy_exact_match"],
                                                  abs=0.005)
    exact, n_test = greedy_exact(trainer.source.test)  # the test split, which only reports
    assert n_test == 1000 and exact == pytest.approx(summary["greedy_exact_match"], abs=0.005)
    assert exact >= REVERSAL_PUBLISHED - REVERSAL_SPREAD, (exact, summary)


def test_image_recipe_on_tfds_cifar10_mock_exports(tmp_path):
    """The TFDS code path (tfds.builder, ReadConfig sharding, decode, augment) with mock data:
    the image task's recipe data, trained on a stand-in model."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from zoo import get_spec, train
    from zoo.tasks.image_classification import ImageClassification

    args = recipe.build_parser("resnet50").parse_args(_strs(
        ["--dataset", "cifar10", "--data-dir", str(tmp_path / "tfds"),
         "--steps-per-epoch", "3", "--epochs", "1", "--batch-size", "8", "--quiet",
         "--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "saved")]))
    task = ImageClassification.from_args(args)
    with tfds.testing.mock_data(num_examples=40, policy=tfds.testing.MockPolicy.USE_CODE):
        source, _ = task.make_source(get_spec("resnet50"), args)
        trainer = train.Trainer(task, source, stand_ins.small_cnn((32, 32, 3), 10),
                                train.config_from_args(args, "small_cnn"))
        summary = trainer.fit()
        accuracy = _accuracy(trainer.model, source)
    assert summary["steps"] == 3 and summary["dataset"] == "cifar10"
    assert summary["final_test"]["accuracy"] == pytest.approx(accuracy, abs=1e-6)
    export = tmp_path / "saved" / "small_cnn" / "1"
    assert os.path.exists(export / "saved_model.pb")
    loaded = tf.saved_model.load(str(export))
    # the recipe exports through zoo.export: named signatures, documented in assets.extra
    fn = loaded.signatures["serving_default"]
    (key, spec), = fn.structured_input_signature[1].items()
    outputs = fn(**{key: tf.zeros((1, 32, 32, 3), spec.dtype)})
    probs = [v for v in outputs.values() if v.shape[-1] == 10 and v.dtype == tf.float32]
    assert probs, list(outputs)
    np.testing.assert_allclose(np.sum(probs[0], -1), 1.0, rtol=1e-5)
    # the pipeline trains on pixels scaled to [-1, 1]: the served graph scales uint8 the same way
    import json

    with open(export / "assets.extra" / "signatures.json") as f:
        assert json.load(f)["options"]["preprocessing"] == "symmetric"


def test_recipe_errors_and_cli():
    from zoo import cli, train

    with pytest.raises(ValueError, match=r"Unknown model name 'no_such_model'"):
        recipe.build_parser("no_such_model")
    with pytest.raises(ValueError, match=r"`--set` takes KEY=VALUE. Received: --set='units'"):
        train.parse_overrides(["units"])
    assert train.parse_overrides(["units=64", "name=x"]) == {"units": 64, "name": "x"}
    parser = cli.build_parser()
    args = parser.parse_args(["train", "resnet50", "--epochs", "3", "--strategy", "mirrored"])
    assert args.name == "resnet50" and args.recipe_args == ["--epochs", "3", "--strategy",
                                                            "mirrored"]


def test_zoo_train_cli_runs_the_family_recipe_on_a_registered_model(tmp_path, capsys):
    """`zoo train NAME` picks the recipe by the model's task and builds it by name."""
    from zoo import cli
    from zoo.core import registry
    @registry.register_model(family="resnet", task="image_classification", paper="test",
                             input_shape=(16, 16, 3))
    def _test_tiny_convnet(include_top=True, weights=None, input_shape=None, classes=1000,
                           classifier_activation="softmax"):
        return stand_ins.small_cnn(input_shape, classes)()

    try:
        rc = cli.main(["train", "_test_tiny_convnet", "--image-size", "16", "--epochs", "1",
                       "--steps-per-epoch", "4", "--batch-size", "16", "--quiet",
                       "--run-dir", str(tmp_path / "run"),
                       "--export-dir", str(tmp_path / "saved")])
    finally:
        registry._REGISTRY.pop("_test_tiny_convnet", None)
    assert rc == 0
    assert "test accuracy" in capsys.readouterr().out
    assert os.listdir(tmp_path / "saved" / "_test_tiny_convnet") == ["1"]
    with open(tmp_path / "run" / "summary.json") as f:
        import json

        summary = json.load(f)
    assert summary["steps"] == 4
    import keras

    from zoo import data

    model = keras.saving.load_model(summary["model_path"])  # the trained model, from the run
    accuracy = _accuracy(model, data.digits_source(16))
    assert summary["final_test"]["accuracy"] == pytest.approx(accuracy, abs=1e-6)


def test_translation_source_tokenises_tfds_pairs_with_subwords(tmp_path):
    """ted_hrlr_translate through TFDS (mocked): one SentencePiece vocabulary, pieces from id 4
    (0 PAD, 1 BOS, 2 EOS, 3 unknown)."""
    import tensorflow_datasets as tfds

    from zoo import data
    from zoo.tasks.translation import subword_source

    with tfds.testing.mock_data(num_examples=24, policy=tfds.testing.MockPolicy.USE_CODE):
        src = subword_source("ted_hrlr_translate/pt_to_en", 12, 300,
                                    data_dir=str(tmp_path))
        (s, d), labels = next(iter(data.train_pipeline(src, 4)))
    vocab = src.info["vocab_size"]
    assert s.shape == (4, 12) and d.shape == labels.shape == (4, 13)
    s, d, labels = s.numpy(), d.numpy(), labels.numpy()
    assert np.all(d[:, 0] == data.BOS) and np.all(s < vocab) and np.all(labels < vocab)
    for dec, lab in zip(d, labels):
        n = int(np.sum(lab != data.PAD)) - 1  # tokens before EOS
        assert lab[n] == data.EOS and np.all(lab[:n] >= 3)
        np.testing.assert_array_equal(dec[1 : n + 1], lab[:n])  # teacher forcing shift
    tokenizer = src.info["tokenizer"]  # zoo.data.subword.SubwordTokenizer, both languages
    assert tokenizer.vocab_size == vocab and tokenizer.detokenize(s[:1]).numpy()[0] != b""


def test_docs_list_every_flag_of_every_recipe():
    """docs/recipes.md has a flag table per parser (tools/recipe_flags.py writes them: the trainer's,
    `zoo train NAME`'s for each task kind, `zoo tune`'s) that names every flag the parser takes, so
    the documentation cannot drift from the recipes."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "recipe_flags", os.path.join(ROOT, "tools", "recipe_flags.py"))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    with open(tool.DOC) as f:
        documented = tool.documented_blocks(f.read())
    parsers = tool.parsers()
    assert set(parsers) == {"trainer", "search", *tool.task_models()}
    for name, (_, actions) in parsers.items():
        assert name in documented, f"docs/recipes.md has no flag table for {name}"
        rows = [r for r in documented[name].splitlines() if r.startswith("| `")]
        listed = {f.strip("`") for r in rows for f in r.split("|")[1].strip().split(", ")}
        flags = set(tool.flags_of(actions))
        positional = {a.dest.upper() for a in actions if not a.option_strings}
        expected = {f for f in flags if f.startswith("-")} | positional
        assert expected - listed == set(), (name, sorted(expected - listed))
        assert listed - expected == set(), (name, sorted(listed - expected))


def test_peephole_classifier_recipe_takes_feature_sequences(tmp_path):
    """digits_rows (8 steps of 8 features) builds the classifier without an embedding."""
    trainer = _train("peephole_lstm_classifier",
                     ["--set", "units=8", "--epochs", "1", "--steps-per-epoch", "2",
                      *_common(tmp_path)])
    summary = trainer.summary
    assert summary["dataset"] == "digits_rows" and summary["task"] == "sequence_classification"
    assert trainer.model.inputs[0].shape[1:] == (8, 8)  # rows of features, no embedding
    accuracy = _accuracy(trainer.model, trainer.source)
    assert summary["final_test"]["accuracy"] == pytest.approx(accuracy, abs=1e-6)


_TINY = ["--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "8", "--quiet"]
_MIRRORED = ["--strategy", "mirrored", "--cpu-devices", "2"]
SCRIPTS = {  # script: (exported model, arguments of a tiny run)
    "image_classification": ("gated_resnet50", ["--model", "gated_resnet50", "--set",
                                                "base_filters=4", "--strategy", "one_device",
                                                *_TINY]),
    "peephole_lstm": ("peephole_lstm_regressor", ["--steps", "10", "--num-train", "256", "--set",
                                                  "units=4", *_MIRRORED, *_TINY]),
    "transformer": ("transformer_base", ["--set", "num_layers=1", "--set", "d_model=16", "--set",
                                         "d_ff=32", "--set", "num_heads=2", "--max-length", "6",
                                         "--num-train", "200", "--decode-examples", "20",
                                         *_MIRRORED, *_TINY]),
    "dcgan": ("dcgan_generator_28", ["--latent-dim", "8", "--set", "base_filters=4",
                                     "--discriminator-set", "base_filters=4", *_MIRRORED, *_TINY]),
    "gcn": ("gcn", ["--strategy", "one_device", *_TINY]),
    "search": ("highway_net", ["highway_net", "--tuner", "grid", "--set", "depth=2", "--set",
                               "width=8", "--set", "activation=relu", "--set", "variant=highway",
                               "--set", "highway_gate_bias=-1", "--set", "learning_rate=0.03",
                               "--steps-per-epoch", "2", "--eval-examples", "32"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_recipe_script_runs_end_to_end(script, tmp_path):
    """Each script of recipes/ trains (a couple of steps, two CPU replicas where it says mirrored)
    and exports, from the command line in a fresh process (forked from tests/_spawn.py's
    zygote), as its docstring shows."""
    import json

    import _spawn

    model, args = SCRIPTS[script]
    out = ["--directory", tmp_path / "tune"] if script == "search" else ["--run-dir",
                                                                         tmp_path / "run"]
    cmd = [sys.executable, os.path.join(ROOT, "recipes", f"{script}.py"), *args, *out,
           "--export-dir", tmp_path / "saved"]
    env = dict(os.environ, PYTHONPATH=ROOT, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    proc = _spawn.run(_strs(cmd), env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    export = tmp_path / "saved" / model / "1"
    assert os.path.exists(export / "saved_model.pb"), proc.stdout[-2000:]
    assert str(export) in proc.stdout, proc.stdout[-2000:]  # the script says where it exported
    if script == "transformer":  # `zoo train transformer_base` exports decoding signatures
        import tensorflow as tf

        loaded = tf.saved_model.load(str(export))
        for signature in ("translate", "translate_greedy"):
            out = loaded.signatures[signature](source_ids=tf.constant([[3, 4, 5, 0]], tf.int32))
            assert out["token_ids"].shape[0] == 1 and out["token_ids"].shape[1] > 1, signature
    if script == "search":
        assert (tmp_path / "tune" / "highway_net_grid" / "trials.md").exists()
    else:
        with open(tmp_path / "run" / "summary.json") as f:
            summary = json.load(f)
        assert summary["steps"] == 2
        assert summary["replicas"] == (2 if "mirrored" in args else 1)
