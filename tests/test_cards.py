"""The cards stored beside the family modules (`zoo/models/<family>_card.py`) are what the built
models give, and the registry's index (which module registers which name) is what importing the
family modules registers. After changing a family: `python -m zoo.core.cards --write`."""

import importlib
import subprocess
import sys

import numpy as np
import pytest

import zoo
from zoo.core import cards, registry

ALL = zoo.list_models()


@pytest.mark.parametrize("name", ALL)
def test_stored_card_is_the_built_models(name):
    stored = zoo.model_card(name)  # no overrides: read, not built
    assert stored == registry.stored_card(name)
    spec = registry.get_spec(name)
    model = zoo.create_model(name)
    built = registry.card_of(spec, model)  # multiply-adds counted once, by `count_macs`
    assert stored["params"] == model.count_params()
    assert stored["trainable_params"] == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert stored["macs"] == built["macs"]
    assert stored["inputs"] == [tuple(t.shape) for t in model.inputs]
    assert stored["outputs"] == [tuple(t.shape) for t in model.outputs]
    assert stored == built, (
        f"the stored card of {name} is stale: run `python -m zoo.core.cards --write`")


def test_the_index_is_what_the_family_modules_register():
    modules = cards.family_modules()
    for module in modules:
        importlib.import_module(module)
    registered = registry.registered()
    assert set(registered) == set(ALL)
    for module in modules:
        data = cards.read(module)
        assert data is not None, f"{cards.card_path(module)} is missing"
        assert data["MODULE"] == module
        assert data["EXPORTS"] == list(sys.modules[module].__all__)
        assert sorted(data["CARDS"]) == sorted(
            n for n, s in registered.items() if s.builder.__module__ == module)
        with open(cards.card_path(module), encoding="utf-8") as f:
            assert cards.render(data) == f.read()  # as `python -m zoo.core.cards --write` writes it
    assert registry.exported_names() == {  # the functions each image family defines are not zoo.<name>
        n: m for m in modules for n in sys.modules[m].__all__ if n not in registry.FAMILY_FUNCTIONS}


def test_partners_are_mutual_and_of_the_right_tasks():
    pairs = {"image_generation": "image_discrimination",
             "image_discrimination": "image_generation"}
    for name in ALL:
        spec = registry.get_spec(name)
        card = zoo.model_card(name)
        assert card.get("partner") == spec.partner
        if spec.task in pairs:
            assert spec.partner in ALL, f"{name} names no registered partner"
            partner = registry.get_spec(spec.partner)
            assert partner.partner == name
            assert partner.task == pairs[spec.task]
            assert partner.family == spec.family
        else:
            assert spec.partner is None
    assert registry.get_spec("dcgan_generator_32").partner == "dcgan_discriminator_32"


def test_each_name_loads_its_own_family_module_only():
    code = (
        "import sys, zoo\n"
        "from zoo import registry\n"
        "families = {m for m in sys.modules if m.startswith('zoo.models.')"
        " and not m.endswith('_card')}\n"
        "assert not families and 'keras' not in sys.modules, (families, 'keras')\n"
        "for name in zoo.list_models():\n"
        "    zoo.model_card(name)\n"
        "assert 'keras' not in sys.modules\n"
        "spec = registry.get_spec('highway_net')\n"
        "families = {m for m in sys.modules if m.startswith('zoo.models.')"
        " and not m.endswith('_card')}\n"
        "print(sorted(families), zoo.highway_net is spec.builder, zoo.core.registry.FAMILIES)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split("]")[0] == "['zoo.models.gated_skip'"
    assert out.stdout.split("] ")[1].strip() == (
        "True ('da_rnn', 'dcgan', 'gated_skip', 'gcn', 'googlenet', 'inception', 'peephole_lstm', "
        "'recurrent', 'resnet', 'transformer')")
