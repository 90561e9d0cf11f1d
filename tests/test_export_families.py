"""zoo.export on the registered builders of every family (at the registry's `test_overrides`).

One model per task of each family is exported into one export folder, and ONE `zoo verify`
process (zoo blocked, TF only) checks them all against the Keras models (1e-5 in float32).
"""

import json
import os
import re

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import zoo  # noqa: E402
from zoo import export as ex  # noqa: E402
from zoo.registry import FAMILIES, exported_names, get_spec  # noqa: E402

# One xdist worker runs this whole module, so its module-scoped fixtures are built once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("test_export_families")]


def _first_of_each_task():
    """family -> the models exported here, derived from the registry: for each task a family
    has, the first model its module registers (its `__all__` order)."""
    out, seen = {}, set()
    registered = set(zoo.list_models())
    for name in exported_names():
        if name in registered:
            spec = get_spec(name)
            if (spec.family, spec.task) not in seen:
                seen.add((spec.family, spec.task))
                out.setdefault(spec.family, []).append(name)
    return out


FAMILY_MODELS = _first_of_each_task()
MODELS = [n for names in FAMILY_MODELS.values() for n in names]
BY_TASK = {get_spec(n).task: n for n in MODELS if get_spec(n).family not in ("resnet", "inception")}
RESNET, INCEPTION = FAMILY_MODELS["resnet"][0], FAMILY_MODELS["inception"][0]
GOOGLENET = FAMILY_MODELS["googlenet"][0]  # test_overrides has aux_logits=True
TRANSLATION, GENERATOR = BY_TASK["translation"], BY_TASK["image_generation"]
OPTIONS = {"translation": dict(max_length=6, beam_size=3)}  # by task; the rest: registered defaults

_IMAGE = {"inputs": {"images": "uint8"},
          "outputs": {"probabilities": "float32", "top_k_values": "float32", "top_k_indices": "int32"}}
_IMAGE_F = dict(_IMAGE, inputs={"images": "float32"})
_TOKENS = {"inputs": {"tokens": "int32", "lengths": "int32"},
           "outputs": {"probabilities": "float32", "top_k_values": "float32", "top_k_indices": "int32"}}
_TRANSLATE = {"inputs": {"source_ids": "int32"}, "outputs": {"token_ids": "int32", "scores": "float32"}}
# the named signatures every export of a task must carry: {signature: {inputs: dtypes, outputs: dtypes}}
_DISCRIMINATE = {"inputs": {"images": "uint8"}, "outputs": {"probabilities": "float32"}}
EXPECTED_BY_TASK = {
    "image_classification": {"serving_default": _IMAGE, "classify_float": _IMAGE_F},
    "classification": {"serving_default": dict(_IMAGE, inputs={"features": "float32"})},
    "sequence_classification": {"serving_default": _TOKENS},
    "sequence_regression": {"serving_default": {
        "inputs": {"features": "float32", "lengths": "int32"}, "outputs": {"predictions": "float32"}}},
    "translation": {
        "serving_default": {"inputs": {"source_ids": "int32", "target_ids": "int32"},
                            "outputs": {"probabilities": "float32"}},
        "translate": _TRANSLATE, "translate_greedy": _TRANSLATE},
    "text_classification": {"serving_default": _TOKENS},
    "image_generation": {
        "serving_default": {"inputs": {"latents": "float32"}, "outputs": {"images": "uint8"}},
        "generate_from_seed": {"inputs": {"seed": "int64", "count": "int32"},
                               "outputs": {"images": "uint8"}}},
    "image_discrimination": {"serving_default": _DISCRIMINATE,
                             "classify_float": dict(_DISCRIMINATE, inputs={"images": "float32"})},
    "forecasting": {
        "serving_default": {"inputs": {"drivers": "float32", "history": "float32"},
                            "outputs": {"forecast": "float32"}},
        "attention": {"inputs": {"drivers": "float32", "history": "float32"},
                      "outputs": {"forecast": "float32", "input_attention": "float32",
                                  "temporal_attention": "float32"}}},
}
EXPECTED = {n: EXPECTED_BY_TASK[get_spec(n).task] for n in MODELS}

# the preprocessing each image model's export normalises with by default: the one its weights are
# trained with (keras.applications' ImageNet files: caffe for ResNet v1, tf for ResNet v2 and
# Inception v3; zoo's own training pipeline, [-1, 1], for the others); no images, no option
PREPROCESSING = {"resnet50": "caffe", "resnet101": "caffe", "resnet50v2": "tf", "inception_v3": "tf",
                 "googlenet": "symmetric", "gated_resnet50": "symmetric",
                 "dcgan_discriminator_28": "symmetric", "dcgan_discriminator_64": "symmetric"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Every model of MODELS exported into one folder, then verified in one fresh process."""
    base = str(tmp_path_factory.mktemp("saved_models"))
    models, paths = {}, {}
    for i, name in enumerate(MODELS):
        keras.utils.set_random_seed(i)
        spec = get_spec(name)
        models[name] = spec.build(**spec.test_overrides)
        paths[name] = ex.export_model(models[name], name, export_dir=base,
                                      **OPTIONS.get(spec.task, {}))
    reports = ex.verify_many([(paths[n], models[n]) for n in MODELS])
    return base, models, paths, dict(zip(MODELS, reports))


def test_every_family_and_task_is_exported():
    covered = {(get_spec(n).family, get_spec(n).task) for n in MODELS}
    registered = {(get_spec(n).family, get_spec(n).task) for n in zoo.list_models()}
    assert covered == registered
    assert set(FAMILY_MODELS) == set(FAMILIES)


def test_layout_and_models_config(exported):
    base, _, paths, _ = exported
    assert ex.find_exports(base) == [os.path.join(base, n, "1") for n in sorted(MODELS)]
    assert all(paths[n] == os.path.join(base, n, "1") for n in MODELS)
    config = open(os.path.join(base, "models.config")).read()
    assert re.findall(r'name: "(\w+)"', config) == sorted(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_family_export_verified_without_zoo(exported, name):
    _, _, paths, reports = exported
    r = reports[name]
    assert r["ok"], r["problems"]
    assert r["zoo_blocked"]
    sigs = {k: v for k, v in r["signatures"].items() if not k.startswith("__")}
    got = {k: {"inputs": {n: d for n, (d, _) in v["inputs"].items()},
               "outputs": {n: d for n, (d, _) in v["outputs"].items()}} for k, v in sigs.items()}
    assert got == EXPECTED[name]
    assert set(r["saved_model_cli"]) == set(EXPECTED[name]) | {"__saved_model_init_op"}
    # every output of every signature was compared with the Keras model, within 1e-5
    compared = {k.split("::")[0] for k in r["outputs"]}
    assert compared == set(EXPECTED[name])
    for k, res in r["outputs"].items():
        assert res["ok"] and res["max_abs_diff"] <= 1e-5, (k, res)
    doc = json.load(open(os.path.join(paths[name], "assets.extra", "signatures.json")))
    assert doc["options"].get("preprocessing") == ex.serving_options(name).get("preprocessing")
    assert doc["options"].get("preprocessing") == PREPROCESSING.get(name)


def test_default_preprocessing_is_the_weights():
    """`serving_options` (the task's `export_options`) of an untrained registered model: the
    preprocessing of its published weights (the card's), else its task pipeline's."""
    for name, pre in PREPROCESSING.items():
        assert ex.serving_options(name) == {"preprocessing": pre}, name
    for name in MODELS:
        if get_spec(name).task not in ("image_classification", "image_discrimination"):
            assert "preprocessing" not in ex.serving_options(name), name
    assert ex.serving_options("not_registered") == {}


def test_image_models_resize_and_normalise_inside(exported):
    """ResNet v1 serves uint8 images of any size with its own caffe-mode `preprocess_input`,
    Inception v3 with its tf mode, GoogLeNet with zoo's pipeline's [-1, 1]."""
    from zoo.models import inception, resnet

    _, models, paths, _ = exported
    rng = np.random.default_rng(1)
    for name, pre in ((RESNET, resnet.preprocess_input),
                      (INCEPTION, inception.preprocess_input),
                      (GOOGLENET, lambda x: x / 127.5 - 1.0)):
        model = models[name]
        size = tuple(model.inputs[0].shape[1:3])
        x = rng.integers(0, 256, size=(2, size[0] + 7, size[1] + 2, 3)).astype("uint8")
        want = model(pre(tf.image.resize(x.astype("float32"), size).numpy()), training=False)
        want = np.asarray(want[0] if isinstance(want, (list, tuple)) else want)  # aux heads dropped
        fn = tf.saved_model.load(paths[name]).signatures["serving_default"]
        got = fn(images=tf.constant(x))
        np.testing.assert_allclose(got["probabilities"].numpy(), want, atol=1e-5)


def test_googlenet_exported_without_auxiliary_heads(exported):
    from zoo.models.googlenet import googlenet_inference_model

    _, models, paths, reports = exported
    model = models[GOOGLENET]
    assert len(model.outputs) == 3  # aux_logits=True
    stored = tf.train.list_variables(os.path.join(paths[GOOGLENET], "variables", "variables"))
    params = sum(int(np.prod(s)) for n, s in stored if n.startswith("_all_variables/"))
    assert params == googlenet_inference_model(model).count_params() < model.count_params()
    sig = reports[GOOGLENET]["signatures"]["serving_default"]
    assert sig["outputs"]["probabilities"] == ["float32", [None, 10]]


def test_transformer_translate_equals_zoo_decoding(exported):
    from zoo.decoding import translate

    _, models, paths, _ = exported
    model = models[TRANSLATION]
    loaded = tf.saved_model.load(paths[TRANSLATION])
    src = np.array([[5, 9, 13, 7, 2, 0], [4, 4, 8, 2, 0, 0], [11, 3, 6, 17, 21, 2]], "int32")
    for key, beam in (("translate", 3), ("translate_greedy", 1)):
        got = loaded.signatures[key](source_ids=tf.constant(src))
        want = translate(model, src, max_length=6, beam_size=beam, alpha=0.6)
        np.testing.assert_array_equal(got["token_ids"].numpy(), np.asarray(want["target_ids"]))
        np.testing.assert_allclose(got["scores"].numpy(), np.asarray(want["scores"]), atol=1e-5)


def test_sequence_lengths_mask_the_padding(exported):
    """A sequence padded past `lengths` scores as the unpadded sequence does in Keras."""
    _, models, paths, _ = exported
    for name in (BY_TASK["sequence_classification"], BY_TASK["text_classification"]):
        fn = tf.saved_model.load(paths[name]).signatures["serving_default"]
        toks = np.array([[3, 4, 5, 6, 7], [3, 4, 5, 6, 7]], "int32")
        got = fn(tokens=toks, lengths=np.array([5, 3], "int32"))["probabilities"].numpy()
        np.testing.assert_allclose(got[0], models[name](toks[:1])[0], atol=1e-5)
        np.testing.assert_allclose(got[1], models[name](toks[1:, :3])[0], atol=1e-5)


def test_dcgan_generator_serves_uint8_images(exported):
    _, models, paths, _ = exported
    z = np.random.default_rng(2).uniform(-1, 1, size=(3, 8)).astype("float32")
    served = tf.saved_model.load(paths[GENERATOR]).signatures["serving_default"]
    got = served(latents=z)["images"]
    want = np.round((models[GENERATOR](z).numpy() + 1.0) * 127.5)
    assert got.dtype == tf.uint8 and got.shape == (3,) + tuple(models[GENERATOR].outputs[0].shape[1:])
    assert np.abs(got.numpy().astype(int) - want).max() <= 1 and got.numpy().std() > 0
