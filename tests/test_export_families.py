"""zoo.export on the registered builders of every family (at the registry's `test_overrides`).

One model per task of each family is exported into one export folder, and ONE `zoo verify`
process (zoo blocked, TF only) checks them all against the Keras models (1e-5 in float32).
"""

import inspect
import json
import os
import re

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import zoo  # noqa: E402
from harness import depth_variants  # noqa: E402
from zoo import export as ex  # noqa: E402
from zoo.core.registry import FAMILIES, exported_names, get_spec  # noqa: E402

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
    "image_classification": {"serving_default": _IMAGE, "classify_float": _IMAGE_F,
                             "image_bytes": dict(_IMAGE, inputs={"image_bytes": "string"})},
    "feature_classification": {"serving_default": dict(_IMAGE, inputs={"features": "float32"})},
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
                             "classify_float": dict(_DISCRIMINATE, inputs={"images": "float32"}),
                             "image_bytes": dict(_DISCRIMINATE, inputs={"image_bytes": "string"})},
    "node_classification": {"serving_default": {
        "inputs": {"node_features": "float32", "adjacency": "float32"},
        "outputs": {"probabilities": "float32"}}},
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


def _spread_generator_pixels(model):
    """An untrained generator's tanh output is about +-1e-3 (every pixel 127 or 128, whatever the
    uint8 mapping); its last layer's weights are scaled so that its pixels spread over 0..255 and
    a wrong mapping changes them."""
    z = np.random.default_rng(0).uniform(-1, 1, size=(16, model.inputs[0].shape[-1]))
    spread = float(np.std(np.asarray(model(z.astype("float32")))))
    last = [layer for layer in model.layers if layer.weights][-1]
    for w in last.weights:
        w.assign(np.asarray(w) * (0.8 / spread))


# The 101- and 152-layer ResNets (v1, v2, gated) are their 50-layer siblings' builders with more
# blocks per stage (tests/test_all_models.py `DEPTH_VARIANTS` checks the bytecode), and
# transformer_big is transformer_base's (both `return transformer_seq2seq(**locals())`, other
# defaults; at the registry's test configuration they differ only in dropout rates, which no
# inference graph has): the same layer classes, serving role and options, so their siblings'
# exports cover the code their exports run. Exported, resnet152 (about 1,500 variables through
# export, TensorFlow's loader and Grappler) cost 49 s of CPU (build 5.5, export 20.1,
# verification 23.5) and transformer_big 11 s, a quarter of this module's 240 s (2-core AMD EPYC,
# one at a time); the 101-layer and v2/gated 152-layer ones had been dropped before for the same
# reason.
BY_SIBLING = {**depth_variants(zoo.list_models()), "transformer_big": "transformer_base"}
# every registered model beyond MODELS (the other cells, DCGAN sizes, ...)
REST = [n for n in zoo.list_models() if n not in MODELS and n not in BY_SIBLING]


@pytest.fixture(scope="module")
def verified(tmp_path_factory):
    """MODELS exported into one folder and REST into another, then all of them checked in ONE
    fresh `zoo verify` process (one TensorFlow start-up, not one per group):
    `{"models": (base, models, paths, reports), "rest": (paths, reports)}`, by name. REST's Keras
    models are not kept once checked."""
    base, rest_base = (str(tmp_path_factory.mktemp(n)) for n in ("saved_models", "saved_models_rest"))
    models, paths = _export(MODELS, base)
    rest_models, rest_paths = _export(REST, rest_base)
    items = [(paths[n], models[n]) for n in MODELS] + [(rest_paths[n], rest_models[n]) for n in REST]
    reports = dict(zip(MODELS + REST, ex.verify_many(items, timeout=2400)))  # 27 models
    return {"models": (base, models, paths, {n: reports[n] for n in MODELS}),
            "rest": (rest_paths, {n: reports[n] for n in REST})}


@pytest.fixture(scope="module")
def exported(verified):
    """Every model of MODELS exported into one folder and verified (`verified`)."""
    return verified["models"]


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


def _assert_verified(name, r, path):
    """`zoo verify`'s report of `name`'s export: fine, zoo blocked, the task's named signatures
    with their dtypes, every output of every signature within 1e-5 of the Keras model."""
    expected = EXPECTED_BY_TASK[get_spec(name).task]
    assert r["ok"], (name, r["problems"])
    assert r["zoo_blocked"]
    sigs = {k: v for k, v in r["signatures"].items() if not k.startswith("__")}
    got = {k: {"inputs": {n: d for n, (d, _) in v["inputs"].items()},
               "outputs": {n: d for n, (d, _) in v["outputs"].items()}} for k, v in sigs.items()}
    assert got == expected, name
    assert set(r["saved_model_cli"]) == set(expected) | {"__saved_model_init_op"}, name
    assert {k.split("::")[0] for k in r["outputs"]} == set(expected), name
    for k, res in r["outputs"].items():
        assert res["ok"] and res["max_abs_diff"] <= 1e-5, (name, k, res)
    doc = json.load(open(os.path.join(path, "assets.extra", "signatures.json")))
    assert doc["options"].get("preprocessing") == ex.serving_options(name).get("preprocessing")


def _export(names, base):
    """Build `names` at their test configurations and export them into `base`; returns (models,
    paths) by name."""
    models, paths = {}, {}
    for i, name in enumerate(names):
        keras.utils.set_random_seed(i)
        spec = get_spec(name)
        models[name] = spec.build(**spec.test_overrides)
        if spec.task == "image_generation":
            _spread_generator_pixels(models[name])
        paths[name] = ex.export_model(models[name], name, export_dir=base,
                                      **OPTIONS.get(spec.task, {}))
    return models, paths


@pytest.fixture(scope="module")
def loaded():
    """`loaded(path)`: the SavedModel at `path`, loaded once for this module's tests, which only
    call it (a signature's first call is what costs: TensorFlow optimises its graph then)."""
    cache = {}

    def load(path):
        if path not in cache:
            cache[path] = tf.saved_model.load(path)
        return cache[path]

    yield load
    cache.clear()


@pytest.mark.parametrize("name", MODELS)
def test_family_export_verified_without_zoo(exported, name):
    _, _, paths, reports = exported
    r = reports[name]
    _assert_verified(name, r, paths[name])
    doc = json.load(open(os.path.join(paths[name], "assets.extra", "signatures.json")))
    assert doc["options"].get("preprocessing") == PREPROCESSING.get(name)


def test_every_other_registered_model_is_exported_and_verified(verified):
    """Every registered model beyond the one per family and task above (the other cells, DCGAN
    sizes, ...): exported at its test configuration and checked as those are, in the same
    `zoo verify` process (`verified`); the deep ResNets and transformer_big through their
    siblings (`BY_SIBLING`)."""
    assert sorted(MODELS + REST + list(BY_SIBLING)) == zoo.list_models()
    assert not set(MODELS) & set(REST) and not set(BY_SIBLING) & set(MODELS + REST)
    paths, reports = verified["rest"]  # 12 models
    assert sorted(reports) == sorted(REST)
    for name in REST:
        _assert_verified(name, reports[name], paths[name])


def test_models_not_exported_here_are_their_exported_siblings_code():
    """A model not exported here (a 101- or 152-layer ResNet, transformer_big) is its exported
    sibling's builder (the same bytecode and names: other block counts or default sizes) with
    the same task, test configuration and serving options: its export runs the sibling's code."""
    assert sorted(BY_SIBLING) == ["gated_resnet101", "gated_resnet152", "resnet101",
                                  "resnet101v2", "resnet152", "resnet152v2", "transformer_big"]
    for deep, sibling in BY_SIBLING.items():
        assert sibling in MODELS + REST, deep
        a, b = get_spec(deep), get_spec(sibling)
        assert (a.family, a.task, a.test_overrides) == (b.family, b.task, b.test_overrides), deep
        assert ex.serving_options(deep) == ex.serving_options(sibling), deep
        ca, cb = (inspect.unwrap(s.builder).__code__ for s in (a, b))
        assert ca.co_code == cb.co_code and ca.co_names == cb.co_names, (deep, sibling)


def test_default_preprocessing_is_the_weights():
    """`serving_options` (the task's `export_options`) of an untrained registered model: the
    preprocessing of its published weights (the card's), else its task pipeline's."""
    for name, pre in PREPROCESSING.items():
        assert ex.serving_options(name) == {"preprocessing": pre}, name
    for name in MODELS:
        if get_spec(name).task not in ("image_classification", "image_discrimination"):
            assert "preprocessing" not in ex.serving_options(name), name
    assert ex.serving_options("not_registered") == {}


def test_googlenet_exported_without_auxiliary_heads(exported, loaded):
    from zoo.models.googlenet import googlenet_inference_model

    _, models, paths, reports = exported
    model = models[GOOGLENET]
    assert len(model.outputs) == 3  # aux_logits=True
    stored = tf.train.list_variables(os.path.join(paths[GOOGLENET], "variables", "variables"))
    # every weight the signatures use stored once (zoo.export.archive._track_model), the
    # auxiliary heads' not at all
    params = sum(int(np.prod(s)) for n, s in stored if n != "_CHECKPOINTABLE_OBJECT_GRAPH")
    assert params == googlenet_inference_model(model).count_params() < model.count_params()
    saved = loaded(paths[GOOGLENET])
    assert len(saved.variables) == len(googlenet_inference_model(model).weights)
    sig = reports[GOOGLENET]["signatures"]["serving_default"]
    assert sig["outputs"]["probabilities"] == ["float32", [None, 10]]


def test_transformer_translate_equals_zoo_decoding(exported, loaded):
    from zoo.models.transformer_decoding import translate

    _, models, paths, _ = exported
    model = models[TRANSLATION]
    saved = loaded(paths[TRANSLATION])
    src = np.array([[5, 9, 13, 7, 2, 0], [4, 4, 8, 2, 0, 0], [11, 3, 6, 17, 21, 2]], "int32")
    for key, beam in (("translate", 3), ("translate_greedy", 1)):
        got = saved.signatures[key](source_ids=tf.constant(src))
        # the signatures run the cached decoder; the uncached one (the reference) agrees
        for cache in (True, False):
            want = translate(model, src, max_length=6, beam_size=beam, alpha=0.6, cache=cache)
            np.testing.assert_array_equal(got["token_ids"].numpy(), np.asarray(want["target_ids"]))
            np.testing.assert_allclose(got["scores"].numpy(), np.asarray(want["scores"]),
                                       atol=1e-5)


def test_sequence_lengths_mask_the_padding(exported, loaded):
    """A sequence padded past `lengths` scores as the unpadded sequence does in Keras."""
    _, models, paths, _ = exported
    for name in (BY_TASK["sequence_classification"], BY_TASK["text_classification"]):
        fn = loaded(paths[name]).signatures["serving_default"]
        toks = np.array([[3, 4, 5, 6, 7], [3, 4, 5, 6, 7]], "int32")
        got = fn(tokens=toks, lengths=np.array([5, 3], "int32"))["probabilities"].numpy()
        np.testing.assert_allclose(got[0], models[name](toks[:1])[0], atol=1e-5)
        np.testing.assert_allclose(got[1], models[name](toks[1:, :3])[0], atol=1e-5)


def test_dcgan_generator_serves_uint8_images(exported, loaded):
    _, models, paths, _ = exported
    z = np.random.default_rng(2).uniform(-1, 1, size=(3, 8)).astype("float32")
    served = loaded(paths[GENERATOR]).signatures["serving_default"]
    got = served(latents=z)["images"]
    want = np.round((models[GENERATOR](z).numpy() + 1.0) * 127.5)
    assert got.dtype == tf.uint8 and got.shape == (3,) + tuple(models[GENERATOR].outputs[0].shape[1:])
    assert np.abs(got.numpy().astype(int) - want).max() <= 1
    # the pixels spread (the fixture scaled the generator): a wrong mapping would show
    assert got.numpy().std() > 40 and len(np.unique(got.numpy())) > 200


# ------------------------------------------------------------------------------------------------
# Every signature against a reference written here, without zoo.export or zoo.tasks: the Keras
# model called directly on inputs prepared by keras.applications' own `preprocess_input` or the
# documented formula (docs/serving.md).
# ------------------------------------------------------------------------------------------------

def _independent_preprocess(mode):
    if mode == "caffe":  # ResNet v1's ImageNet files
        return lambda x: keras.applications.resnet.preprocess_input(x.copy())
    if mode == "tf":  # ResNet v2's and Inception v3's
        return lambda x: keras.applications.inception_v3.preprocess_input(x.copy())
    assert mode == "symmetric", mode  # zoo's pipeline: [-1, 1]
    return lambda x: x / 127.5 - 1.0


def _as_probabilities(model, y):
    """The documented contract: outputs already softmax/sigmoid stay; logits get one."""
    y = np.asarray(y[0] if isinstance(y, (list, tuple)) else y, "float64")
    activation = model.layers[-1].get_config().get("activation")
    if activation in ("softmax", "sigmoid"):
        return y
    if y.shape[-1] == 1:
        return 1.0 / (1.0 + np.exp(-y))
    e = np.exp(y - y.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _with_top_k(probs, k):
    order = np.argsort(-probs, axis=-1, kind="stable")[:, :k]
    return {"probabilities": probs, "top_k_values": np.take_along_axis(probs, order, -1),
            "top_k_indices": order}


def _greedy(model, src, max_length):
    """Greedy decoding by hand: BOS, then the argmax of the next-token distribution each step,
    PAD after EOS; the score is the summed log-probability of the chosen tokens (EOS included),
    the distribution taken over the tokens other than PAD (which is never emitted)."""
    tgt = np.zeros((len(src), 1), "int32") + 1  # BOS
    done = np.zeros(len(src), bool)
    score = np.zeros(len(src), "float64")
    for _ in range(max_length):
        probs = _as_probabilities(model, model([src, tgt], training=False))[:, -1]
        probs[:, 0] = 0.0  # PAD
        probs /= probs.sum(-1, keepdims=True)
        best = probs.argmax(-1)
        score += np.where(done, 0.0, np.log(probs[np.arange(len(src)), best]))
        nxt = np.where(done, 0, best).astype("int32")
        tgt = np.concatenate([tgt, nxt[:, None]], 1)
        done |= nxt == 2
    return tgt[:, 1:], score


# Over 60 lines on purpose: one independent reference per task kind, side by side, so that a reader
# compares each with its task module; splitting it would scatter the table.
def _reference_cases(name, model, signatures, rng):
    """[(signature, inputs, expected outputs)] for one exported model, by its task."""
    task = get_spec(name).task
    cases = []
    if task in ("image_classification", "image_discrimination"):
        pre = _independent_preprocess(PREPROCESSING[name])
        h, w, c = model.inputs[0].shape[1:]
        x = rng.integers(0, 256, size=(3, h + 5, w + 3, c)).astype("uint8")
        resized = tf.image.resize(x.astype("float32"), (h, w), method="bilinear").numpy()
        probs = _as_probabilities(model, model(pre(resized), training=False))
        k = signatures["serving_default"].structured_outputs.get("top_k_values")
        want = _with_top_k(probs, k.shape[-1]) if k is not None else {"probabilities": probs}
        encoded = np.array([tf.io.encode_png(img).numpy() for img in x], dtype=object)  # lossless
        cases += [("serving_default", {"images": x}, want),
                  ("classify_float", {"images": x.astype("float32")}, want),
                  ("image_bytes", {"image_bytes": encoded}, want)]
    elif task == "feature_classification":
        x = rng.standard_normal((3,) + tuple(model.inputs[0].shape[1:])).astype("float32")
        k = signatures["serving_default"].structured_outputs["top_k_values"].shape[-1]
        cases.append(("serving_default", {"features": x},
                      _with_top_k(_as_probabilities(model, model(x, training=False)), k)))
    elif task in ("sequence_classification", "text_classification"):
        tokens = rng.integers(3, 10, size=(3, 7)).astype("int32")
        lengths = np.array([7, 4, 1], "int32")
        k = signatures["serving_default"].structured_outputs["top_k_values"].shape[-1]
        rows = [_as_probabilities(model, model(tokens[i : i + 1, :n], training=False))[0]
                for i, n in enumerate(lengths)]  # each sequence alone, unpadded
        cases.append(("serving_default", {"tokens": tokens, "lengths": lengths},
                      _with_top_k(np.stack(rows), k)))
    elif task == "sequence_regression":
        steps, feats = model.inputs[0].shape[1:]
        x = rng.standard_normal((3, steps, feats)).astype("float32")
        lengths = np.array([steps, steps // 2, 1], "int32")
        padded = x * (np.arange(steps)[None, :, None] < lengths[:, None, None])  # zeros after
        cases.append(("serving_default", {"features": x, "lengths": lengths},
                      {"predictions": np.asarray(model(padded, training=False))}))
    elif task == "translation":
        src = np.array([[5, 9, 13, 7, 2, 0], [4, 4, 8, 2, 0, 0]], "int32")
        tgt = np.array([[1, 6, 7, 8], [1, 3, 3, 0]], "int32")
        cases.append(("serving_default", {"source_ids": src, "target_ids": tgt},
                      {"probabilities": _as_probabilities(model, model([src, tgt]))}))
        tokens, scores = _greedy(model, src, OPTIONS["translation"]["max_length"])
        cases.append(("translate_greedy", {"source_ids": src},
                      {"token_ids": tokens, "scores": scores}))
    elif task == "image_generation":
        zdim = model.inputs[0].shape[-1]
        z = rng.uniform(-1, 1, size=(4, zdim)).astype("float32")
        to_pixels = lambda y: np.clip(np.round((np.asarray(y) + 1.0) * 127.5), 0, 255)  # noqa: E731
        cases.append(("serving_default", {"latents": z}, {"images": to_pixels(model(z))}))
        drawn = tf.random.stateless_uniform((3, zdim), seed=np.array([7, 0], "int64"), minval=-1.0,
                                             maxval=1.0)
        cases.append(("generate_from_seed", {"seed": np.int64(7), "count": np.int32(3)},
                      {"images": to_pixels(model(drawn))}))
    elif task == "node_classification":
        # one graph per request: the model on the batch of that one graph, the raw (symmetric,
        # 0/1) adjacency normalised inside the model
        n, f = 9, model.inputs[0].shape[-1]
        upper = np.triu((rng.uniform(size=(n, n)) < 0.4).astype("float32"), 1)
        adjacency = upper + upper.T
        x = rng.uniform(size=(n, f)).astype("float32")
        probs = _as_probabilities(model, model([x[None], adjacency[None]], training=False))[0]
        cases.append(("serving_default", {"node_features": x, "adjacency": adjacency},
                      {"probabilities": probs}))
    elif task == "forecasting":
        # raw values in, raw values out: the model carries its training statistics itself
        from zoo.models.da_rnn import attention_model

        t, n = model.inputs[0].shape[1:]
        drivers = (3.0 * rng.standard_normal((3, t, n)) + 5.0).astype("float32")
        history = (2.0 * rng.standard_normal((3, t - 1)) - 1.0).astype("float32")
        inputs = {"drivers": drivers, "history": history}
        cases.append(("serving_default", inputs,
                      {"forecast": np.asarray(model([drivers, history], training=False))}))
        y, alpha, beta = attention_model(model)([drivers, history], training=False)
        np.testing.assert_allclose(np.sum(alpha, -1), 1.0, rtol=1e-5)  # weights over the series
        cases.append(("attention", inputs, {"forecast": np.asarray(y), "input_attention":
                                            np.asarray(alpha), "temporal_attention": np.asarray(beta)}))
    else:
        raise AssertionError(f"no independent reference for the task {task!r} of {name}: add one")
    return cases


@pytest.mark.parametrize("name", MODELS)
def test_every_signature_equals_the_keras_model_on_independent_inputs(exported, loaded, name):
    _, models, paths, _ = exported
    model = models[name]
    signatures = loaded(paths[name]).signatures
    cases = _reference_cases(name, model, signatures, np.random.default_rng(3))
    assert {s for s, _, _ in cases} >= set(EXPECTED[name]) - {"translate"}  # beam: transformer_decoding
    for signature, inputs, want in cases:
        got = signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
        assert set(got) == set(want), (signature, sorted(got))
        for key, value in want.items():
            if got[key].dtype == tf.uint8:  # rounding of values at .5 may differ by one level
                diff = np.abs(got[key].numpy().astype(int) - value.astype(int))
                assert diff.max() <= 1 and (diff == 0).mean() > 0.99, (signature, key)
            elif got[key].dtype.is_integer:
                np.testing.assert_array_equal(got[key].numpy(), value, err_msg=f"{signature}:{key}")
            else:
                np.testing.assert_allclose(got[key].numpy(), value, atol=1e-5, rtol=1e-5,
                                           err_msg=f"{signature}:{key}")


# Bad requests: the checks live in the graph (the exports load and run without zoo: `verified`).
def _bad_requests(signature, feed, inputs):
    """(what, feed, expected message) of each bad request derived from a good `feed`."""
    out = [("good", feed, None)]
    batched = [t for t in inputs if t["shape"] and t["shape"][0] is None]
    for t in inputs:
        x, name = feed[t["name"]], t["name"]
        wrong_rank = x[0] if x.ndim else x[None]  # unbatched (or a scalar given an axis)
        out.append((f"rank of {name}", dict(feed, **{name: wrong_rank}), f"Shape of tensor {name} "))
        fixed = [i for i, d in enumerate(t["shape"]) if d is not None and i > 0]
        if fixed:  # a fixed size (the channels of an image, the steps of a window) off by one
            i = fixed[-1]
            pad = [(0, 1 if j == i else 0) for j in range(x.ndim)]
            out.append((f"size {i} of {name}", dict(feed, **{name: np.pad(x, pad)}),
                        f"Shape of tensor {name} "))
        if "float" in t["dtype"]:
            y = x.copy()
            y.flat[0] = np.nan
            out.append((f"NaN in {name}", dict(feed, **{name: y}),
                        f"input '{name}' holds NaN or infinite values"))
            y = x.copy()
            y.flat[-1] = -np.inf
            out.append((f"inf in {name}", dict(feed, **{name: y}),
                        f"input '{name}' holds NaN or infinite values"))
        out += _bad_values(name, x, feed)
    if len(batched) > 1:
        t = batched[-1]
        x = feed[t["name"]]
        out.append(("batch sizes disagree", dict(feed, **{t["name"]: np.concatenate([x, x[:1]])}),
                    "of one request must have the same batch size"))
    return out


def _bad_values(name, x, feed):
    """Issue 30: values of the right shape that the model cannot answer: token ids below 0 (an
    embedding wraps them) or beyond any vocabulary, lengths of 0, below 0 or beyond the steps
    (NaN or uniform outputs), a negative or asymmetric adjacency."""
    def with_value(value, index=0):
        y = x.copy()
        y.flat[index] = value
        return dict(feed, **{name: y})

    if name in ("tokens", "source_ids", "target_ids"):
        return [(f"ids below 0 in {name}", with_value(-1), f"input '{name}' must hold token ids"),
                (f"ids beyond the vocabulary in {name}", with_value(2 ** 30, -1),
                 f"input '{name}' must hold token ids")]
    if name == "lengths":
        steps = next(v for k, v in feed.items() if k != name).shape[1]
        return [(f"lengths {v} in {name}", with_value(v), f"input '{name}' must hold lengths")
                for v in (0, -3, steps + 1)]
    if name == "adjacency":
        return [("adjacency negative", with_value(-1.0, x.shape[1] + 1),  # a diagonal entry
                 "input 'adjacency' must hold non-negative edge weights"),
                ("adjacency asymmetric", with_value(x.flat[1] + 0.5, 1),
                 "input 'adjacency' must be symmetric")]
    return []


def test_every_export_refuses_bad_requests_by_name(exported, loaded):
    """Issue 15, point 3: wrong rank, a wrong fixed size (an image's channels), batch sizes that
    disagree and non-finite values get InvalidArgument naming the input, from the graph itself
    (so TF Serving answers the same). The requests go to the SavedModels loaded here (`loaded`):
    the refusals are ops of the exported graph (`EnsureShape`, `Assert`, `CheckNumerics`), which
    run the same in any process, and `verified` shows the exports load and run where zoo cannot
    be imported (a separate process for these requests cost 48 s of CPU: TensorFlow's start-up
    and a second load and optimisation of every signature)."""
    from zoo.export.warmup import sample_inputs

    _, _, paths, _ = exported
    kinds = set()
    for name in MODELS:
        sigdoc = json.load(open(os.path.join(paths[name], "assets.extra", "signatures.json")))
        feeds = sample_inputs(sigdoc, seed=5)
        signatures = loaded(paths[name]).signatures
        for signature, sig in sigdoc["signatures"].items():
            good = {t["name"]: feeds[f"{signature}::{t['name']}"] for t in sig["inputs"]}
            for what, feed, message in _bad_requests(signature, good, sig["inputs"]):
                kinds.add(what.split(" ")[0])
                where = f"{name} {signature}: {what}"
                call = signatures[signature]
                if message is None:
                    call(**{k: tf.constant(v) for k, v in feed.items()})
                    continue
                with pytest.raises(tf.errors.InvalidArgumentError) as caught:
                    call(**{k: tf.constant(v) for k, v in feed.items()})
                text = str(caught.value).replace("\\'", "'")
                assert message in text, (where, text[-500:])
    assert kinds >= {"good", "rank", "size", "NaN", "inf", "batch", "ids", "lengths", "adjacency"}, kinds
