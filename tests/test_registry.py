"""The registry API: wildcards, closest-name errors, model cards, the `zoo` command."""

import json
import subprocess
import sys

import pytest

import zoo
from zoo.registry import get_spec


def test_list_models_wildcards():
    names = zoo.list_models()
    assert names == sorted(names)
    assert {"resnet50", "resnet101", "resnet152", "googlenet", "inception_v3"} <= set(names)
    assert zoo.list_models("resnet5*") == ["resnet50", "resnet50v2"]
    assert zoo.list_models("RESNET50") == ["resnet50"]
    assert zoo.list_models("no_such_*") == []
    assert set(zoo.list_models(family="resnet")) == {
        "resnet50", "resnet101", "resnet152", "resnet50v2", "resnet101v2", "resnet152v2"}


def test_every_family_is_registered_on_import():
    families = {get_spec(n).family for n in zoo.list_models()}
    assert families == set(zoo.registry.FAMILIES)


def test_unknown_name_lists_closest():
    with pytest.raises(ValueError, match="resnet50") as info:
        zoo.create_model("resnet5")
    assert "Closest names" in str(info.value)


def test_unknown_override_is_named():
    with pytest.raises(ValueError, match="clases"):
        zoo.create_model("resnet50", clases=10)


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="pattern"):
        zoo.list_models(3)
    with pytest.raises(ValueError, match="family"):
        zoo.list_models(family="vgg")


def test_model_card():
    card = zoo.model_card("resnet50")
    assert card["params"] == 25_636_712
    assert card["family"] == "resnet"
    assert "He et al" in card["paper"]
    assert card["input_shape"] == (224, 224, 3)
    assert abs(card["flops"] / 3.8e9 - 1) < 0.10
    assert card["defaults"]["classes"] == 1000
    assert "imagenet" in card["weights"]
    json.dumps(card, default=str)


def _zoo_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "zoo.cli", *args], capture_output=True, text=True, timeout=600
    )


def test_cli_list_and_info():
    out = _zoo_cli("list", "resnet5*")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["name", "family", "params", "input"]
    assert lines[1].startswith("resnet50 ") and "25,636,712" in lines[1]
    assert "(224, 224, 3)" in lines[1]

    out = _zoo_cli("info", "resnet50", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["params"] == 25_636_712

    out = _zoo_cli("info", "resnet5")
    assert out.returncode == 2 and "Closest names" in out.stderr
