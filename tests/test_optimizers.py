"""Every optimizer of the notes in the recipes and searches: `zoo.train.optimizers.make_optimizer`
builds the right Keras class with the right settings and refuses bad ones, and `zoo train`,
`zoo tune` and `TrainConfig` all go through it."""

import os
import sys

import keras
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import _tuning_standins as S  # noqa: E402
from zoo import cli, tuning  # noqa: E402
from zoo.core.registry import ModelSpec, get_spec  # noqa: E402
from zoo.core.spaces import grid_trials, optimizer_space, space_values  # noqa: E402
from zoo.train import recipe  # noqa: E402
from zoo.train import trainer as trainer_module  # noqa: E402
from zoo.train.config import OPTIMIZERS, TrainConfig  # noqa: E402
from zoo.train.optimizers import check_optimizer, make_optimizer, optimizer_names  # noqa: E402
from zoo.tuning.trial import trial_optimizer  # noqa: E402


def _f(x):
    return float(np.asarray(x))


BUILDS = [  # (name, settings, class, attributes)
    ("sgd", {}, keras.optimizers.SGD, {"momentum": 0.0, "nesterov": False}),
    ("sgd", {"momentum": 0.9}, keras.optimizers.SGD, {"momentum": 0.9, "nesterov": False}),
    ("sgd", {"momentum": 0.8, "nesterov": True}, keras.optimizers.SGD,
     {"momentum": 0.8, "nesterov": True}),
    ("adagrad", {}, keras.optimizers.Adagrad, {"initial_accumulator_value": 0.1}),
    ("rmsprop", {"momentum": 0.5}, keras.optimizers.RMSprop, {"momentum": 0.5, "rho": 0.9}),
    ("adam", {"beta_1": 0.5}, keras.optimizers.Adam, {"beta_1": 0.5, "beta_2": 0.999}),
    ("adamw", {"weight_decay": 0.05}, keras.optimizers.AdamW, {"weight_decay": 0.05}),
    ("nadam", {"clipnorm": 1.0}, keras.optimizers.Nadam, {"clipnorm": 1.0, "beta_1": 0.9}),
    ("RMSprop", {}, keras.optimizers.RMSprop, {"momentum": 0.0}),  # case-insensitive
    ("adamax", {}, keras.optimizers.Adamax, {}),  # other keras names
    ("lion", {"beta_1": 0.95}, keras.optimizers.Lion, {"beta_1": 0.95}),
    ("ftrl", {}, keras.optimizers.Ftrl, {}),
]


def test_make_optimizer_builds_the_class_with_its_settings():
    for name, kwargs, cls, expect in BUILDS:
        opt = make_optimizer(name, 0.03, **kwargs)
        assert type(opt) is cls, name
        assert _f(opt.learning_rate) == pytest.approx(0.03)
        for key, value in expect.items():
            got = getattr(opt, key)
            assert (got == value if isinstance(value, bool)
                    else _f(got) == pytest.approx(value)), (name, key)
        if "weight_decay" not in kwargs:  # no decay unless asked for
            assert not opt.weight_decay, name


def test_the_notes_optimizers_come_first_and_every_keras_name_is_there():
    names = optimizer_names()
    assert names[:6] == OPTIMIZERS == ("sgd", "adagrad", "rmsprop", "adam", "adamw", "nadam")
    assert {"adamax", "adadelta", "ftrl", "lion"} <= set(names)
    assert "lossscaleoptimizer" not in names
    schedule = keras.optimizers.schedules.CosineDecay(0.1, 10)
    assert make_optimizer("adagrad", schedule)._learning_rate is schedule


BAD = [  # (settings, the error)
    ({"name": "adamm"}, r"`optimizer` \(--optimizer\) must be one of sgd, adagrad, rmsprop, adam, "
                        r"adamw, nadam, .*Received: optimizer='adamm'"),
    ({"name": "sgd", "learning_rate": -0.1}, r"`learning_rate`.*\(0, inf\).*learning_rate=-0.1"),
    ({"name": "sgd", "learning_rate": float("nan")}, r"`learning_rate`"),
    ({"name": "sgd", "momentum": 1.0}, r"`momentum` \(--momentum\).*\[0, 1\).*momentum=1.0"),
    ({"name": "sgd", "momentum": -0.1}, r"momentum=-0.1"),
    ({"name": "sgd", "nesterov": True}, r"`nesterov`.*needs a momentum.*momentum=None"),
    ({"name": "sgd", "momentum": 0.0, "nesterov": True}, r"needs a momentum"),
    ({"name": "adam", "nesterov": True}, r"setting of sgd.* not of 'adam'.*nadam"),
    ({"name": "adam", "momentum": 0.9}, r"`momentum`.*setting of sgd, rmsprop.* not of 'adam'"),
    ({"name": "adagrad", "beta_1": 0.9}, r"`beta_1`.*setting of adam, adamw, nadam.*'adagrad'"),
    ({"name": "adam", "beta_1": 1.0}, r"`beta_1` \(--beta-1\).*\[0, 1\)"),
    ({"name": "adamw", "weight_decay": -1e-4}, r"`weight_decay` \(--weight-decay\).*\[0, inf\)"),
    ({"name": "adam", "clipnorm": 0.0}, r"`clipnorm`.*\(0, inf\)"),
    ({"name": "sgd", "nesterov": "yes", "momentum": 0.9}, r"`nesterov`.*True or False"),
]


def test_bad_settings_are_refused_naming_the_argument():
    for kwargs, match in BAD:
        with pytest.raises(ValueError, match=match):
            make_optimizer(**kwargs)
        kw = dict(kwargs)
        kw["optimizer"] = kw.pop("name")
        if kw.get("clipnorm") == 0.0:  # TrainConfig's clipnorm 0 is "no clipping"
            continue
        with pytest.raises(ValueError, match=match):  # TrainConfig checks the same way
            TrainConfig(**kw).validate()


def test_recipe_flags_make_the_trainers_optimizer():
    def cfg(*flags):
        args = recipe.build_parser("highway_net").parse_args(list(flags))
        return recipe.config_from_args(args, "highway_net").validate()

    c = cfg("--optimizer", "sgd")
    assert (c.optimizer, c.momentum, c.nesterov) == ("sgd", None, False)  # plain SGD
    c = cfg("--optimizer", "sgd", "--momentum", "0.9", "--nesterov", "--weight-decay", "1e-4")
    assert (c.momentum, c.nesterov, c.weight_decay) == (0.9, True, 1e-4)
    assert cfg().optimizer == "adam" and cfg().beta_1 is None  # the task's default is unchanged
    # a task's beta_1 (the DCGAN's Adam: 0.5) is for optimizers that have one
    gan = recipe.build_parser("dcgan_generator_28")
    assert recipe.config_from_args(gan.parse_args([]), "g").validate().beta_1 == 0.5
    assert recipe.config_from_args(gan.parse_args(["--beta-1", "0.9"]), "g").beta_1 == 0.9
    assert recipe.config_from_args(gan.parse_args(["--optimizer", "sgd"]), "g").validate().beta_1 \
        is None
    with pytest.raises(ValueError, match="`beta_1`.*not of 'sgd'"):  # given: refused
        recipe.config_from_args(gan.parse_args(["--optimizer", "sgd", "--beta-1", "0.5"]),
                                "g").validate()
    # the trainer's optimizer (two steps of a tiny highway net)
    args = recipe.build_parser("highway_net").parse_args(
        ["--optimizer", "rmsprop", "--momentum", "0.5", "--lr", "0.01", "--schedule", "constant",
         "--epochs", "1",
         "--steps-per-epoch", "2", "--set", "depth=2", "--set", "width=8", "--quiet",
         "--no-export", "--run-dir", os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                                  f"zoo-opt-{os.getpid()}")])
    trainer = recipe.train_task("highway_net", args)
    assert trainer.task_report.endswith(", not exported"), trainer.task_report  # --no-export
    opt = trainer.optimizers["optimizer"]
    assert type(opt) is keras.optimizers.RMSprop
    assert _f(opt.momentum) == 0.5 and _f(opt.learning_rate) == pytest.approx(0.01)
    assert int(opt.iterations) == 2


def test_cli_refuses_a_bad_optimizer_with_exit_code_2_and_one_line(capsys):
    for flags, match in ((["--optimizer", "adamm"], "must be one of sgd, adagrad, rmsprop"),
                         (["--optimizer", "sgd", "--nesterov"], "needs a momentum"),
                         (["--optimizer", "adam", "--momentum", "0.9"], "not of 'adam'")):
        rc = cli.main(["train", "highway_net", *flags, "--no-export", "--quiet"])
        err = capsys.readouterr().err.strip()
        assert rc == 2, err
        assert len(err.splitlines()) == 1 and err.startswith("zoo: error: ") and match in err, err


def test_trial_optimizer_keeps_the_space_and_task_defaults_apart():
    defaults = {"learning_rate": 1e-3, "optimizer": "adamw", "beta_1": 0.9}
    assert trial_optimizer({}, defaults) == {
        "optimizer": "adamw", "momentum": None, "nesterov": False, "weight_decay": 0.0,
        "beta_1": 0.9, "clipnorm": None}
    sgd = trial_optimizer({"optimizer": "sgd"}, defaults)  # the task's beta_1 is not SGD's
    assert (sgd["beta_1"], sgd["momentum"], sgd["nesterov"]) == (None, None, False)
    sgd = trial_optimizer({"optimizer": "sgd", "momentum": 0.9, "nesterov": True}, defaults)
    assert (sgd["momentum"], sgd["nesterov"]) == (0.9, True)
    with pytest.raises(ValueError, match="optimizer='nope'"):
        trial_optimizer({"optimizer": "nope"}, defaults)
    with pytest.raises(ValueError, match="`beta_1`"):  # the space's own beta_1 is checked
        trial_optimizer({"optimizer": "sgd", "beta_1": 0.5}, defaults)


def test_spaces_that_meant_nesterov_sgd_say_so():
    """`sgd` is plain SGD now; the cards' spaces that chose the papers' SGD with momentum 0.9
    (trained with Nesterov momentum 0.9 before) keep it, as constants of their sgd branch."""
    for name in ("resnet50", "inception_v3", "googlenet", "gated_resnet50"):
        space = get_spec(name).search_space
        point = next(p for p in grid_trials(space) if p["optimizer"] == "sgd")
        values = space_values(space, point)
        assert (values["momentum"], values["nesterov"]) == (0.9, True), name
    highway = space_values(get_spec("highway_net").search_space,
                           {"depth": 10, "width": 50, "activation": "relu", "variant": "highway",
                            "highway_gate_bias": -1.0, "learning_rate": 0.1})
    assert (highway["optimizer"], highway["momentum"], highway["nesterov"]) == ("sgd", 0.9, True)
    plain = space_values(lambda hp: optimizer_space(hp, sgd={"learning_rate": [0.1]},
                                                     adam={"learning_rate": [1e-3]}),
                         {"optimizer": "sgd", "sgd_learning_rate": 0.1})
    assert plain == {"optimizer": "sgd", "learning_rate": 0.1}


def _optimizer_search_spec():
    def space(hp):
        out = optimizer_space(hp, sgd={"learning_rate": [0.05], "momentum": 0.9, "nesterov": True},
                              adagrad={"learning_rate": [0.1]}, rmsprop={"learning_rate": [2e-3]})
        out["units"] = 4
        return out

    return ModelSpec(name="tiny_opt", builder=S.tiny_mlp, family="resnet",
                     task="image_classification", paper="stand-in", input_shape=(4, 4, 1),
                     defaults={}, search_space=space)


def test_search_over_the_optimizer_trains_each_trial_with_its_own(tmp_path, monkeypatch):
    made = []
    real = trainer_module.make_optimizer

    def recording(name, learning_rate=None, **kw):
        opt = real(name, learning_rate, **kw)
        made.append((type(opt).__name__, _f(opt.learning_rate),
                     _f(getattr(opt, "momentum", 0.0)), getattr(opt, "nesterov", None)))
        return opt

    monkeypatch.setattr(trainer_module, "make_optimizer", recording)
    res = tuning.run_search(_optimizer_search_spec(), "grid", directory=str(tmp_path / "tune"),
                            export=False, steps_per_epoch=2, eval_examples=32, log=lambda _: None)
    assert [r["status"] for r in res["rows"]] == ["COMPLETED"] * 3
    assert {m[0]: tuple(np.round(m[1:3], 6)) + (m[3],) for m in made} == {
        "SGD": (0.05, 0.9, True), "Adagrad": (0.1, 0.0, None), "RMSprop": (0.002, 0.0, None)}
    # a name the trainer would refuse stops the search before any trial
    bad = ModelSpec(name="tiny_bad_opt", builder=S.tiny_mlp, family="resnet",
                    task="image_classification", paper="stand-in", input_shape=(4, 4, 1),
                    defaults={}, search_space=lambda hp: {
                        "optimizer": hp.Choice("optimizer", ["adam", "adamm"])})
    with pytest.raises(ValueError, match="`optimizer` hyperparameter.*optimizer='adamm'"):
        tuning.make_tuner(bad, "grid", directory=str(tmp_path / "bad"))
    assert check_optimizer("Adam")["name"] == "adam"
