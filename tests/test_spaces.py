"""`zoo.core.spaces` (plain Python) lists and enumerates every space as the keras-tuner-based
functions zoo had before did (tests/_kt_spaces.py, driving keras-tuner's own HyperParameters):
every registered model's space, and spaces using each kind of hyperparameter."""

import subprocess
import sys

import pytest

import _kt_spaces as tuning  # the keras-tuner-based versions, the reference here
import zoo
from zoo.core import spaces
from zoo.core.registry import get_spec


def _nested(hp):
    out = {"cell": hp.Choice("cell", ["lstm", "gru"])}
    with hp.conditional_scope("cell", ["lstm"]):
        if out["cell"] == "lstm":
            out["peepholes"] = hp.Boolean("peepholes", default=True)
            with hp.conditional_scope("peepholes", [True]):
                if out["peepholes"]:
                    out["units"] = hp.Int("units", 8, 32, step=8)
    out["dropout"] = hp.Choice("dropout", [0.0, 0.5], parent_name="cell", parent_values=["gru"])
    return out


def _numbers(hp):
    return {
        "layers": hp.Int("layers", 1, 3),
        "width": hp.Int("width", 16, 128, step=2, sampling="log"),
        "wide": hp.Int("wide", 1, 100),  # more than 12 values: a range
        "rate": hp.Float("rate", 0.1, 0.5, step=0.1),
        "lr": hp.Float("lr", 1e-4, 1e-2, step=10, sampling="log"),
        "decay": hp.Float("decay", 1e-5, 1e-3, sampling="log"),  # no step: a range
        "flag": hp.Choice("flag", [True, False]),  # keras-tuner keeps them as 0 and 1
        "mode": hp.Choice("mode", ["a", "b", "c"], default="b"),
        "fixed": hp.Fixed("fixed", 3),
        "gate": hp.Float("gate", -3.0, -1.0, step=1.0, default=-2.0),
    }


def _log_int_without_step(hp):
    return {"n": hp.Int("n", 2, 64, sampling="log")}


def _optimizers(hp):
    return spaces.optimizer_space(hp, sgd={"learning_rate": [0.1, 0.05], "weight_decay": [1e-4]},
                                  adamw={"learning_rate": [1e-3], "weight_decay": [0.05, 0.1]})


HANDMADE = {"nested": _nested, "numbers": _numbers, "log_int": _log_int_without_step,
            "optimizers": _optimizers}
SPACES = {**{n: get_spec(n).search_space for n in zoo.list_models()
             if get_spec(n).search_space is not None}, **HANDMADE}


def _grid(module, space):
    try:
        return module.grid_trials(space)
    except ValueError as e:  # a Float without a step: both must refuse alike
        return ("ValueError", str(e))


@pytest.mark.parametrize("name", sorted(SPACES))
def test_the_same_listing_and_grid_as_keras_tuner(name):
    space = SPACES[name]
    assert spaces.describe_space(space) == tuning.describe_space(space)
    assert spaces.format_space(space) == tuning.format_space(space)
    grid = _grid(spaces, space)
    assert grid == _grid(tuning, space)
    if isinstance(grid, list):
        for point in grid[:: max(1, len(grid) // 50)]:
            assert spaces.space_values(space, point) == tuning.space_values(space, point)


def test_every_registered_space_is_listed_by_the_card():
    for name in zoo.list_models():
        spec = get_spec(name)
        if spec.search_space is not None:
            assert zoo.model_card(name)["search_space"] == spaces.format_space(spec.search_space)


@pytest.mark.parametrize("restrict", [
    {"d_model": 16, "dropout": [0.0, 0.1]},
    {"warmup_steps": 0, "pre_norm_warmup_steps": 0, "num_layers": [1, 2]},
    {"pre_norm": True, "d_model": [256], "learning_rate": 1e-3},
])
def test_restricted_spaces_as_keras_tuner(restrict):
    space = get_spec("transformer_base").search_space
    sub = spaces.restricted_space(space, restrict)
    assert spaces.grid_trials(space, restrict) == tuning.grid_trials(space, restrict)
    assert spaces.describe_space(sub) == tuning.describe_space(tuning.restricted_space(space, restrict))
    point = spaces.grid_trials(sub)[-1]
    assert spaces.space_values(sub, point) == tuning.space_values(sub, point)


def test_doctest_cases():
    def space(hp):
        return {"d_model": hp.Choice("d_model", [256, 512]),
                "dropout": hp.Choice("dropout", [0.0, 0.1, 0.3])}

    assert spaces.grid_trials(spaces.restricted_space(space, {"d_model": 16, "dropout": [0.0, 0.1]})) == [
        {"d_model": 16, "dropout": 0.0}, {"d_model": 16, "dropout": 0.1}]
    assert spaces.describe_space(lambda hp: {"units": hp.Choice("units", [64, 128])}) == [
        {"name": "units", "type": "Choice", "values": [64, 128], "default": 64, "when": ""}]
    def fixed_ff(hp):
        return {"d_model": hp.Choice("d_model", [256, 512]), "d_ff": 1024}

    assert spaces.space_values(fixed_ff, {"d_model": 512}) == {"d_model": 512, "d_ff": 1024}

    def cells(hp):
        if hp.Choice("cell", ["lstm", "gru"]) == "lstm":
            return {"peepholes": hp.Boolean("peepholes")}
        return {}

    assert spaces.grid_trials(cells) == [{"cell": "lstm", "peepholes": False},
                                         {"cell": "lstm", "peepholes": True}, {"cell": "gru"}]
    assert spaces.split_overrides({"learning_rate": 1e-3, "units": 8}) == (
        {"units": 8}, {"learning_rate": 1e-3})
    # the reference's keys, and the optimizer's momentum / nesterov (issue 14)
    assert spaces.TRAINING_KEYS == tuning.TRAINING_KEYS[:-1] + ("momentum", "nesterov",
                                                                tuning.TRAINING_KEYS[-1])


def test_errors_as_keras_tuner():
    with pytest.raises(ValueError, match="lacks the active hyperparameter 'cell'"):
        spaces.space_values(_nested, {})
    with pytest.raises(ValueError, match="step"):
        spaces.grid_trials(lambda hp: {"x": hp.Float("x", 0.0, 1.0)})
    with pytest.raises(ValueError, match="not defined"):
        spaces.grid_trials(lambda hp: hp.conditional_scope("nope", [1]).__enter__())
    with pytest.raises(ValueError, match="must return a dict"):
        spaces.split_overrides([1])
    with pytest.raises(ValueError, match="restrict"):
        spaces.restricted_space(_nested, [1])
    for bad in (lambda hp: hp.Choice("x", [1, "a"]), lambda hp: hp.Choice("x", [])):
        with pytest.raises((TypeError, ValueError)) as ours:
            spaces.grid_trials(bad)
        with pytest.raises(type(ours.value)):
            tuning.grid_trials(bad)


def test_no_keras_nor_keras_tuner():
    code = ("import sys, zoo.core.spaces as s; s.format_space(lambda hp: {'a': hp.Int('a', 1, 3)}); "
            "print(sorted(m for m in ('keras', 'keras_tuner', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
