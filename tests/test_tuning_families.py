"""Every registered model's declared search space: the paper's configuration is in it, it builds,
and a tiny search per family runs on the recipes' data and trainer, writes its table and plot,
and exports the best model."""

import inspect
import math
import os

import keras
import numpy as np
import pytest

import zoo
from conftest import example_inputs
from zoo import tuning
from zoo.core.registry import get_spec, list_models

# Subspaces small enough for tests: size hyperparameters pinned to the cards' test configurations
# (hyperparameter names of the declared spaces).
SMALL = {
    "gated_skip": {"base_filters": 8},
    "peephole_lstm": {"units_1": 8, "units_2": 6},
    "recurrent": {"units_1": 8, "units_2": 6},
    "transformer": {"d_model": 16, "num_layers": 1, "num_heads": 2},
    "dcgan": {"base_filters": 4, "latent_dim": 8},
    "da_rnn": {"units": 8},
}
SMALL_BY_NAME = {"highway_net": {"depth": 5, "width": 16}}


def small(name):
    """The family's and the model's pinned sizes that its declared space defines (a search
    refuses names its space lacks: highway_net has no `base_filters`)."""
    spec = get_spec(name)
    names = {d["name"] for d in tuning.describe_space(spec.search_space)}
    return {k: v for k, v in dict(SMALL.get(spec.family, {}), **SMALL_BY_NAME.get(name, {})).items()
            if k in names}


def _points(name, restrict=None):
    space = get_spec(name).search_space
    return [(p, tuning.space_values(space, p)) for p in tuning.grid_trials(space, restrict)]


def _has(points, **want):
    def close(a, b):
        if isinstance(b, float) and isinstance(a, (int, float)) and not isinstance(a, bool):
            return math.isclose(a, b, rel_tol=1e-6)
        return a == b

    return any(all(k in v and close(v[k], w) for k, w in want.items()) for _, v in points)


@pytest.mark.parametrize("name", list_models())
def test_declared_space_holds_the_cards_configuration_and_only_builder_arguments(name):
    spec = get_spec(name)
    assert spec.search_space is not None, f"{name} declares no search space"
    points = _points(name)
    assert len(points) >= 4
    params = inspect.signature(spec.builder).parameters
    builder_keys = set()
    for _, values in points:
        builder, training = tuning.split_overrides(values)
        assert set(builder) <= set(params), (name, set(builder) - set(params))
        builder_keys |= set(builder)
    if not builder_keys:
        # keras.applications layouts take no such argument: their spaces tune the paper's
        # training settings, which test_spaces_follow_the_papers checks point by point
        assert spec.family in ("resnet", "inception"), f"{name}'s space tunes no architecture choice"
    else:
        # the card's defaults (the paper's configuration) are a point of the declared space
        defaults = {k: spec.defaults[k] for k in builder_keys if spec.defaults.get(k) is not None}
        if "units" in defaults:
            defaults["units"] = tuple(defaults["units"])
        assert defaults, (name, sorted(builder_keys))
        assert _has(points, **defaults), (name, defaults)
    lines = zoo.core.card_contents.space_lines(spec)
    assert lines and all(":" in line for line in lines)


def test_spaces_follow_the_papers():
    # He et al. 2015 section 3.4: SGD at 0.1, weight decay 1e-4
    for name in list_models("resnet*") + list_models("gated_resnet*"):
        assert _has(_points(name), optimizer="sgd", learning_rate=0.1, weight_decay=1e-4), name
    # Szegedy et al. 2015: label smoothing 0.1, gradient clipping 2.0, learning rate 0.045
    assert _has(_points("inception_v3"), label_smoothing=0.1, clipnorm=2.0, learning_rate=0.045)
    # Szegedy et al. 2014: 40% dropout, auxiliary losses weighted 0.3 (only with the heads)
    pts = _points("googlenet")
    assert _has(pts, dropout=0.4, aux_logits=True, aux_loss_weight=0.3)
    assert not any("aux_loss_weight" in v for _, v in pts if not v["aux_logits"])
    # Vaswani et al. 2017 Table 3 and section 5.3: base and big, peak rate d^-0.5 warmup^-0.5
    base = _points("transformer_base")
    # the peak rate d^-0.5 warmup^-0.5 = 6.99e-4 for (512, 4000), declared rounded to 7e-4
    assert _has(base, num_layers=6, d_model=512, d_ff=2048, num_heads=8, dropout=0.1,
                label_smoothing=0.1, warmup_steps=4000, learning_rate=7e-4, pre_norm=False)
    assert round((512 * 4000) ** -0.5, 4) == 7e-4
    assert _has(_points("transformer_big"), d_model=1024, d_ff=4096, num_heads=16, dropout=0.3)
    for _, v in base:
        assert v["d_model"] % v["num_heads"] == 0 and v["d_ff"] == 4 * v["d_model"]
    # Radford et al. 2015: Adam 2e-4, beta_1 0.5, batch 128, z of 100
    assert _has(_points("dcgan_generator_64"), learning_rate=2e-4, beta_1=0.5, batch_size=128,
                latent_dim=100, base_filters=128, kernel_size=5)
    # Srivastava et al. 2015: depths 10..100, width 50, negative initial gate bias
    hw = _points("highway_net")
    assert {v["depth"] for _, v in hw} == {10, 20, 50, 100}
    assert {v["gate_bias"] for _, v in hw if v["variant"] == "highway"} == {-1.0, -2.0, -3.0}
    # the cell (peepholes on and off, GRU, plain RNN); the second layer's units only with two
    lstm = _points("peephole_lstm_classifier")
    assert {v["cell"] for _, v in lstm} == {"peephole", "lstm", "gru", "simple"}
    assert {len(v["units"]) for _, v in lstm} == {1, 2}
    assert len({p.get("units_2") for p, v in lstm if len(v["units"]) == 1}) == 1  # inactive


def _space_groups():
    """Models sharing one space function and the same builder arguments (ResNet-50/101/152, v1 and
    v2; the gated ResNets) form a group, checked on its first (shallowest) member."""
    groups = {}
    for name in list_models():
        spec = get_spec(name)
        key = (spec.search_space, tuple(inspect.signature(spec.builder).parameters))
        groups.setdefault(key, []).append(name)
    return sorted(sorted(g, key=lambda n: (len(n), n)) for g in groups.values())


def test_space_groups_cover_every_model():
    groups = _space_groups()
    assert sorted(n for g in groups for n in g) == list_models()
    assert ["resnet50", "resnet101", "resnet152", "resnet50v2", "resnet101v2", "resnet152v2"] in groups
    assert len(groups) == len(list_models()) - 5 - 2


@pytest.mark.parametrize("name", [g[0] for g in _space_groups()])
def test_a_point_of_every_declared_space_builds(name):
    """The last grid point (the last branch of every conditional) at the card's small test
    configuration (size hyperparameters pinned), with the recipes' data overrides."""
    spec = get_spec(name)
    point = tuning.grid_trials(spec.search_space, small(name))[-1]
    hm = tuning.ZooHyperModel(spec)
    builder, _ = tuning.split_overrides(tuning.space_values(spec.search_space, point))
    kwargs = hm.build_kwargs(builder)
    if kwargs.get("aux_logits"):
        kwargs["input_shape"] = (96, 96, 3)  # the auxiliary heads need 65x65 or more
    model = spec.build(**kwargs)
    for out in keras.tree.flatten(model(example_inputs(model), training=False)):
        assert np.all(np.isfinite(np.asarray(out))), name
    for key, value in builder.items():
        if key in ("units",):
            value = tuple(value)
        assert kwargs[key] == value


def _tiny(tmp_path, name, tuner, restrict, **kw):
    kw.setdefault("max_trials", 2)
    res = tuning.run_search(name, tuning.SearchSettings(
        tuner=tuner, directory=str(tmp_path / "tune"), export_dir=str(tmp_path / "sm"),
        restrict=restrict, steps_per_epoch=2, eval_examples=32, batch_size=16,
        log=lambda *_: None, **kw))
    rows = res["rows"]
    done = [r for r in rows if r["status"] == "COMPLETED"]
    assert done, rows
    for key in ("table_md", "table_csv", "plot"):
        assert os.path.exists(res[key])
    with open(res["plot"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    if kw.get("export", True):
        assert os.path.exists(os.path.join(res["export_path"], "saved_model.pb"))
        assert res["export_path"].endswith(os.path.join(name, "1"))
    else:
        assert res.get("export_path") is None and not os.path.exists(tmp_path / "sm")
    return res, rows


@pytest.mark.slow
def test_tiny_random_resnet(tmp_path):
    # one trial of the paper's optimizer (SGD with its conditional learning rate and decay)
    # export=False: the export of a ResNet (or Inception v3) search's best model is that of any
    # ResNet, which test_export_families covers; the searches of the other families export
    res, rows = _tiny(tmp_path, "resnet50", "random", {"optimizer": "sgd", "label_smoothing": 0.1},
                      max_trials=1, export=False)
    assert rows[0]["optimizer"] == "sgd" and rows[0]["sgd_learning_rate"] in (0.1, 0.05)
    assert "adamw_learning_rate" not in rows[0]


@pytest.mark.slow
def test_tiny_googlenet_with_weighted_auxiliary_heads(tmp_path):
    restrict = {"optimizer": "sgd", "sgd_learning_rate": 0.01, "dropout": 0.4, "aux_logits": True,
                "aux_loss_weight": 0.3, "batch_norm": True}
    res, rows = _tiny(tmp_path, "googlenet", "grid", restrict)
    assert res["num_trials"] == 1 and rows[0]["aux_loss_weight"] == 0.3
    # trained with the auxiliary heads (the best trial's model; the export loaded its weights into
    # this same architecture, so rebuilding it without reloading them is enough), exported without
    tuner = res["tuner"]
    assert len(tuner.hypermodel.build(tuner.get_best_hyperparameters(1)[0]).outputs) == 3
    import json
    with open(os.path.join(res["export_path"], "assets.extra", "signatures.json")) as f:
        sig = json.load(f)
    assert [[o["name"] for o in s["outputs"]] for s in sig["signatures"].values()] == [
        ["probabilities", "top_k_values", "top_k_indices"]] * len(sig["signatures"])


@pytest.mark.slow
def test_tiny_random_inception_v3(tmp_path):
    res, rows = _tiny(tmp_path, "inception_v3", "random", {"optimizer": "adamw"}, max_trials=1,
                      export=False)
    assert rows[0]["optimizer"] == "adamw" and "sgd_learning_rate" not in rows[0]
    assert rows[0]["label_smoothing"] in (0.0, 0.1) and rows[0]["status"] == "COMPLETED"


@pytest.mark.slow
def test_tiny_grid_highway_conditional_gate_bias(tmp_path):
    restrict = dict(small("highway_net"), activation="relu", learning_rate=0.03,
                    variant=["highway", "shortcut_only"], highway_gate_bias=-3.0, gate_bias=-6.0)
    res, rows = _tiny(tmp_path, "highway_net", "grid", restrict)
    assert res["num_trials"] == 2  # highway with its gate bias, shortcut-only with its own
    assert [(r["variant"], r.get("highway_gate_bias"), r.get("gate_bias")) for r in rows] == [
        ("highway", -3.0, None), ("shortcut_only", None, -6.0)]
    assert all(r["status"] == "COMPLETED" for r in rows)


@pytest.mark.slow
def test_tiny_grid_peephole_lstm_conditional_second_layer(tmp_path):
    restrict = dict(small("peephole_lstm_classifier"), dropout=0.0, bidirectional=False,
                    learning_rate=3e-3, cell="peephole")
    res, rows = _tiny(tmp_path, "peephole_lstm_classifier", "grid", restrict)
    assert res["num_trials"] == 2 and sorted(r["num_layers"] for r in rows) == [1, 2]
    assert [("units_2" in r) for r in sorted(rows, key=lambda r: r["num_layers"])] == [False, True]


@pytest.mark.slow
def test_tiny_random_transformer(tmp_path):
    res, rows = _tiny(tmp_path, "transformer_base", "random",
                      dict(small("transformer_base"), warmup_steps=0, pre_norm_warmup_steps=0))
    assert len(rows) == 2
    assert res["tuner"].oracle.objective.name == "val_loss"


@pytest.mark.slow
def test_tiny_search_dcgan_scored_by_frechet(tmp_path):
    # one trial: the score of a trial, not a comparison of trials, is what this checks
    res, rows = _tiny(tmp_path, "dcgan_generator_28", "random", small("dcgan_generator_28"),
                      max_trials=1)
    assert res["tuner"].oracle.objective.name == "frechet"
    # a generator trained for two steps is farther from the digits than two halves of the real
    # digits are from each other (a score computed on the wrong images would not be)
    from zoo import data

    src = data.digits_source(28, 1, augment="none")
    ds = src.train(None).map(lambda *ex: src.preprocess(data.unpack(ex), False)).batch(512)
    real = next(ds.as_numpy_iterator())[0]
    floor = tuning.frechet_pixels(real[:256], real[256:])
    scores = [r["score"] for r in rows if r["status"] == "COMPLETED"]
    assert scores and all(np.isfinite(s) and s > 2 * floor for s in scores), (scores, floor)


def test_frechet_pixels_against_closed_form():
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 8, 8, 1))
    # identical distributions: ~0; a shift by 1 of every pixel: |mu1 - mu2|^2 = 64
    assert tuning.frechet_pixels(a, rng.standard_normal((4000, 8, 8, 1))) < 3.0
    d = tuning.frechet_pixels(a, rng.standard_normal((4000, 8, 8, 1)) + 1.0)
    assert 61 < d < 67


def test_docs_table_of_spaces_is_current():
    import importlib.util

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location("tuning_spaces",
                                                  os.path.join(root, "docs", "tuning_spaces.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with open(mod.DOC) as f:
        doc = f.read()
    assert mod.table() in doc, "run `python docs/tuning_spaces.py` to regenerate the table"


def test_restricted_space_reaches_conditional_hyperparameters():
    space = get_spec("transformer_base").search_space
    sub = tuning.restricted_space(space, {"warmup_steps": 0, "pre_norm_warmup_steps": 0,
                                          "dropout": [0.0, 0.1]})
    grid = tuning.grid_trials(sub)
    assert len(grid) == len(tuning.grid_trials(space)) // 2  # each branch: 2 warm-ups -> 1
    assert {tuning.space_values(sub, p)["warmup_steps"] for p in grid} == {0}
    assert {p["dropout"] for p in grid} == {0.0, 0.1}


def test_peepholes_off_builds_plain_lstm_layers():
    import keras

    on = zoo.peephole_lstm_regressor(input_shape=(5, 2), units=(8, 6), peepholes=True)
    off = zoo.peephole_lstm_regressor(input_shape=(5, 2), units=(8, 6), peepholes=False)
    # the peepholes are the only difference: 3 diagonal weight vectors per layer (Gers et al. 2002)
    assert on.count_params() - off.count_params() == 3 * (8 + 6)
    assert type(off.get_layer("lstm_2")) is keras.layers.LSTM
    with pytest.raises(ValueError, match="peepholes"):
        zoo.peephole_lstm_classifier(vocabulary_size=10, peepholes="no")


@pytest.mark.slow
def test_tiny_grid_da_rnn_over_windows(tmp_path):
    # trials of two window sizes train on the same windows (each reads its last T steps)
    restrict = dict(small("da_rnn"), learning_rate=1e-3, window=[10, 5])
    res, rows = _tiny(tmp_path, "da_rnn", "grid", restrict)
    assert res["num_trials"] == 2 and sorted(r["window"] for r in rows) == [5, 10]
