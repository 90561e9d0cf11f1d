"""The registry API: wildcards, closest-name errors, tasks, families, model cards, lazy builders."""

import json
import subprocess
import sys

import pytest

import zoo
from zoo.core import registry
from zoo.core.registry import get_spec


def _declared_models():
    """{name: module} of every `def <name>(` decorated with `@register_model(...)` in the sources
    of zoo/models (read with `ast`, nothing imported): independent of the stored cards."""
    import ast
    import os

    models_dir = os.path.dirname(zoo.models.__file__)
    found = {}
    for file in sorted(os.listdir(models_dir)):
        if not file.endswith(".py"):
            continue
        with open(os.path.join(models_dir, file)) as f:
            tree = ast.parse(f.read())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and any(
                    isinstance(d, ast.Call) and getattr(d.func, "id", None) == "register_model"
                    for d in node.decorator_list):
                found[node.name] = f"zoo.models.{file[:-3]}"
    return found


def test_list_models_wildcards():
    names = zoo.list_models()
    assert names == sorted(_declared_models())  # the cards list every decorated builder, no other
    assert {"resnet50", "resnet101", "resnet152", "googlenet", "inception_v3"} <= set(names)
    assert zoo.list_models("resnet5*") == ["resnet50", "resnet50v2"]
    assert zoo.list_models("RESNET50") == ["resnet50"]
    assert zoo.list_models("no_such_*") == []
    assert set(zoo.list_models(family="resnet")) == {
        "resnet50", "resnet101", "resnet152", "resnet50v2", "resnet101v2", "resnet152v2"}


def test_every_family_is_registered_on_import():
    """Importing each family module registers (by its decorators) exactly the models, families and
    tasks that its stored card says, so `zoo list` (cards only) and the builders agree."""
    declared = _declared_models()
    for name, module in declared.items():
        spec = get_spec(name)  # imports `module`: the spec comes from the decorator, not the card
        assert registry.registered()[name] is spec and spec.builder.__module__ == module, name
        card = registry.stored_card(name)
        assert (spec.family, spec.task) == (card["family"], card["task"]), name
    families = {get_spec(n).family for n in declared}
    assert registry.families() == tuple(sorted(families))


def test_register_model_refuses_an_unknown_task_naming_the_known_ones():
    from zoo.core import registry

    with pytest.raises(ValueError, match="image_classification") as info:
        registry.register_model(lambda: None, name="x", family="resnet", task="imag_clasification",
                                paper="-", input_shape=(8,))
    assert "imag_clasification" in str(info.value) and "x" not in registry.registered()
    with pytest.raises(ValueError, match="partner"):
        registry.register_model(lambda: None, name="x", family="resnet", task="translation",
                                paper="-", input_shape=(8,), partner=3)


def test_a_new_family_needs_no_list_to_edit():
    from zoo.core import registry

    def tiny_new_family_model():
        ...

    registry.register_model(tiny_new_family_model, family="tiny_family", task="feature_classification",
                            paper="-", input_shape=(4,))
    try:
        assert "tiny_family" in registry.families()
        assert zoo.list_models(family="tiny_family") == ["tiny_new_family_model"]
    finally:
        del registry._REGISTRY["tiny_new_family_model"]
    assert "tiny_family" not in registry.FAMILIES


def test_builders_and_submodules_load_on_first_use():
    import types

    assert zoo.resnet50 is get_spec("resnet50").builder
    assert zoo.transformer_seq2seq.__name__ == "transformer_seq2seq"  # the builder
    assert isinstance(zoo.models.transformer, types.ModuleType)  # the module
    from zoo.models.googlenet import googlenet_loss_weights  # noqa: F401

    assert "resnet50" in zoo.__all__ and "layers" in zoo.__all__
    assert zoo.layers.LocalResponseNormalization and zoo.models.resnet.preprocess_input
    with pytest.raises(AttributeError):
        zoo.no_such_thing  # noqa: B018


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
    assert abs(card["macs"] / 3.8e9 - 1) < 0.016  # the paper's 3.8e9 (+1.5%)
    assert round(card["macs"] / 1e7) == 386  # README: card["macs"]: 3.86e9
    assert card["defaults"]["classes"] == 1000
    assert "imagenet" in card["weights"]
    json.dumps(card, default=str)


def test_sequence_model_cards_count_macs_at_the_declared_length():
    from zoo.core.macs import count_macs

    lstm = zoo.model_card("peephole_lstm_classifier")
    assert lstm["inputs"] == [(None, None)]  # token ids of any length
    assert lstm["macs_input_shapes"] == [(100,)]
    assert "sequence length 100" in lstm["macs_unit"]
    model = zoo.create_model("peephole_lstm_classifier")
    assert lstm["macs"] == count_macs(model, input_shapes=[(100,)])
    # the recurrence costs the same at every step: 100 steps are twice 50 (the head aside)
    head = dict(count_macs(model, input_shapes=[(1,)], per_layer=True))["predictions"]
    assert lstm["macs"] - head == 2 * (count_macs(model, input_shapes=[(50,)]) - head)
    small = get_spec("transformer_base").test_overrides  # same graph, small widths: fast
    card = zoo.model_card("transformer_base", **small)
    assert card["macs_input_shapes"] == [(64,), (64,)]
    assert "sequence length 64" in card["macs_unit"]
    assert card["macs"] == count_macs(zoo.create_model("transformer_base", **small),
                                       input_shapes=[(64,), (64,)])
    # a length the model fixes wins over the declared one
    assert zoo.model_card("peephole_lstm_classifier", input_shape=(20,))["macs_input_shapes"] == [
        (20,)]


def test_a_spec_can_declare_its_macs_input_shapes():
    import keras

    from zoo.core import registry

    def tiny_sequence_model(input_shape=(None,)):
        inp = keras.Input(input_shape, dtype="int32", name="ids")
        x = keras.layers.Embedding(10, 4)(inp)
        return keras.Model(inp, keras.layers.Dense(3)(x))

    registry.register_model(tiny_sequence_model, family="transformer", task="text_classification",
                            paper="-", input_shape=(None,), macs_input_shapes={"ids": (7,)})
    try:
        card = zoo.model_card("tiny_sequence_model")  # not stored: built
        fixed = zoo.model_card("tiny_sequence_model", input_shape=(5,))
    finally:
        del registry._REGISTRY["tiny_sequence_model"]
    assert card["macs_input_shapes"] == [(7,)] and card["macs"] == 7 * 4 * 3
    assert "sequence length 7, as declared" in card["macs_unit"]
    assert fixed["macs_input_shapes"] == [(5,)] and fixed["macs"] == 5 * 4 * 3
    assert "default input shape" in fixed["macs_unit"]


def test_import_zoo_brings_the_gan_api_without_tensorflow_on_jax():
    # sampling, grids, callbacks and the served generator are Keras-only; GAN *training* (the
    # TensorFlow step and zoo.roles.gan_training.DCGAN) lives with the tasks
    # and builders load on first use: listing and cards import no family module and no Keras
    code = ("import sys, zoo; assert zoo.list_models('resnet5*') and zoo.model_card('resnet50'); "
            "assert not {'keras', 'zoo.models.resnet'} & set(sys.modules), sorted(sys.modules); "
            "s = zoo.models.dcgan_sampling; assert s.SampleGrid and s.serving_generator and "
            "s.sample_latents(0, 2, 3).shape == (2, 3); assert 'zoo.models.resnet' not in sys.modules; "
            "assert zoo.resnet50.__module__ == 'zoo.models.resnet' in sys.modules; "
            "print('tensorflow' in sys.modules)")
    env = {**__import__("os").environ, "KERAS_BACKEND": "jax"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_every_registered_model_is_a_greppable_decorated_def():
    """One variant style (issue 26): `def <name>(` under `@register_model(` in its family module."""
    import importlib
    import inspect
    import re

    for name in zoo.list_models():
        module = importlib.import_module(registry.module_of(name))
        source = inspect.getsource(module)
        assert re.search(rf"^@register_model\((?:.|\n)*?^def {name}\(", source, re.M), name
        assert get_spec(name).builder.__name__ == name


def test_spec_fields_are_typed_and_unknown_ones_refused():
    spec = get_spec("resnet50")
    assert (spec.preprocessing, spec.min_input_size, spec.bench_peer) == (
        "caffe", 32, "keras.applications.ResNet50")
    assert get_spec("inception_v3").bench_peer == "keras.applications.InceptionV3"
    assert get_spec("googlenet").bench_peer is None
    assert [(w.name, w.include_top, w.hash_algorithm) for w in spec.weights] == [
        ("imagenet", True, "md5"), ("imagenet", False, "md5")]
    assert zoo.model_card("resnet50")["weights"]["imagenet"]["no_top"] == "md5:" + spec.weights[1].file_hash
    with pytest.warns(DeprecationWarning, match="ModelSpec.<field>"):
        assert spec.extra == {"min_input_size": 32, "preprocessing": "caffe",
                              "bench_peer": "keras.applications.ResNet50"}
    common = dict(family="tiny_fields", task="feature_classification", paper="-", input_shape=(3,))
    with pytest.raises(TypeError, match="min_size"):
        registry.register_model(**common, min_size=3)
    with pytest.raises(ValueError, match=r"`bench_peer` must be None or one of .*Received: bench_peer="):
        registry.register_model(**common, bench_peer="torchvision")
