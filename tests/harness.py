"""The test harness every family's tests call, in the manner of keras-hub's `TestCase`
(keras_hub/src/tests/test_case.py: `run_layer_test`, `run_serialization_test`,
`run_precision_test`, `run_backbone_test`).

* `run_layer_test(cls, init_kwargs, input_data, expected_output_shape)`: build and call a layer,
  a float32 training step with finite gradients, the `get_config` / `from_config` and
  `serialize_keras_object` round trips, a `.keras` round trip with `safe_mode=True` giving the
  same outputs, and `mixed_bfloat16`: the layer computes in bfloat16 with float32 weights, and a
  training step has finite loss and gradients.
* `run_builder_test(name_or_builder, kwargs, input_data)`: the same for a model from a builder
  (or `zoo.create_model` by name): training step, config and `.keras` round trips, and the
  `mixed_bfloat16` training step.

JAX parity stays with the tests that run a fresh JAX process (`conftest.jax_process`,
`run_on_jax`): one process for many models keeps the suite short.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile

import numpy as np

__all__ = ["run_layer_test", "run_builder_test", "run_config_round_trip",
           "run_keras_file_round_trip", "keras_saving_skipsets_cached", "run_training_step",
           "run_precision_test", "dtype_policy", "PRECISION"]

PRECISION = "mixed_bfloat16"


def depth_variants(names):
    """{101- or 152-layer ResNet among `names`: its 50-layer sibling}. The deeper builders are the
    siblings' functions with more blocks per stage (tests/test_all_models.py
    `test_depth_variants_run_their_siblings_code` checks the bytecode), so some checks run on the
    sibling only."""
    return {n: re.sub(r"(101|152)", "50", n) for n in names if re.search(r"(101|152)", n)}


@contextlib.contextmanager
def dtype_policy(name):
    """Keras's global dtype policy set to `name` inside the block, restored after it."""
    import keras

    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def _flat(outputs):
    import keras

    return [np.asarray(keras.ops.convert_to_numpy(t)).astype("float32")
            for t in keras.tree.flatten(outputs)]


def _assert_close(got, want, atol, what):
    got, want = _flat(got), _flat(want)
    assert len(got) == len(want), f"{what}: {len(got)} outputs, expected {len(want)}"
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, atol=atol, rtol=atol, err_msg=what)


def _assert_shapes(outputs, expected):
    import keras

    got = [tuple(t.shape) for t in keras.tree.flatten(outputs)]
    want = [tuple(s) for s in expected] if isinstance(expected, list) else [tuple(expected)]
    assert got == want, f"output shapes {got}, expected {want}"


def _plain(config):
    """`config` as JSON would hold it (tuples as lists), for comparing configs."""
    return json.loads(json.dumps(config, default=repr))


def run_config_round_trip(obj):
    """`obj.__class__.from_config(obj.get_config())`: a model's parameter count is the same; a
    layer's config is, also through `serialize_keras_object` and JSON; returns the clone."""
    import keras

    config = obj.get_config()
    clone = obj.__class__.from_config(config)
    if isinstance(obj, keras.Model):
        assert clone.count_params() == obj.count_params(), "from_config changed the parameters"
        return clone
    assert clone.get_config() == config, "from_config(get_config()) changed the config"
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(obj)))
    revived = keras.saving.deserialize_keras_object(serialized)
    assert _plain(revived.get_config()) == _plain(config), "serialize_keras_object changed the config"
    return clone


@contextlib.contextmanager
def keras_saving_skipsets_cached():
    """Keras 3.15's `saving_lib.get_attr_skipset` (which attributes of a Layer, Functional, ...
    a `.keras` save or load does not walk) stores its set under `saving_attr_skipset_<type>` but
    looks it up under `saving_attr_skiplist_<type>`: it never finds it, and builds a reference
    `Layer()` (2-4 ms) for each of the 1,000-odd layers and operations a deep model's save and
    load walk (ResNet-152: 1,036 of them, ~4 s of a 12-16 s round trip). Inside the block, the
    set it computes is also stored under the key it looks up, as Keras means to (the same sets,
    the same files; `clear_session` drops both keys)."""
    from keras.src.backend.common import global_state
    from keras.src.saving import saving_lib

    compute = saving_lib.get_attr_skipset

    def get_attr_skipset(obj_type):
        skipset = compute(obj_type)
        global_state.set_global_attribute(f"saving_attr_skiplist_{obj_type}", skipset)
        return skipset

    saving_lib.get_attr_skipset = get_attr_skipset
    try:
        yield
    finally:
        saving_lib.get_attr_skipset = compute


def run_keras_file_round_trip(model, input_data, *, atol=1e-5, path=None, expected=None):
    """Save `model` as a `.keras` file and load it with `safe_mode=True`: the same config (the
    load rebuilds the model from it), parameters and outputs in inference (`expected`: the
    model's inference outputs on `input_data` with its current weights, when the caller has
    them already; computed here otherwise); returns the loaded model."""
    import keras

    with tempfile.TemporaryDirectory() as tmp, keras_saving_skipsets_cached():
        path = path or os.path.join(tmp, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
    assert _plain(loaded.get_config()) == _plain(model.get_config()), \
        "the .keras round trip changed the config"
    assert loaded.count_params() == model.count_params()
    if expected is None:
        expected = model(input_data, training=False)
    _assert_close(loaded(input_data, training=False), expected, atol,
                  "the .keras round trip changed the outputs")
    return loaded


# Weights that a training step leaves without a gradient by design, by weight path (a fnmatch
# pattern) -> why. Every other trainable weight of every builder must get a non-zero gradient;
# besides these, the biases that `_biases_before_batch_norm` finds are exempt.
NO_GRADIENT = {}


def _only_into_batch_norm(layer):
    """Whether every path from `layer`'s output meets a BatchNormalization, through `Add`s only."""
    import keras

    nodes = getattr(layer, "_outbound_nodes", [])
    return bool(nodes) and all(
        isinstance(n.operation, keras.layers.BatchNormalization)
        or (isinstance(n.operation, keras.layers.Add) and _only_into_batch_norm(n.operation))
        for n in nodes)


def _biases_before_batch_norm(model):
    """Paths of the biases of layers whose output reaches only BatchNormalizations (directly or
    through additions): in training BN subtracts the batch mean per channel, so such a bias
    (keras.applications' ResNets put one on every convolution, v1 before a BN, v2 before the
    addition that the next block normalises) has a zero gradient, up to rounding (exactly zero in
    bfloat16)."""
    return {layer.bias.path for layer in model._flatten_layers(include_self=False)
            if getattr(layer, "bias", None) is not None and _only_into_batch_norm(layer)}


def _projection(outputs, seed=0):
    """Fixed random weights, one array per output: the loss `sum(w * output)` reaches every
    output element (a mean of a softmax is constant: its gradient is zero)."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(np.shape(t)).astype("float32") for t in outputs]


def run_training_step(model, input_data, *, what="training step", exempt=None):
    """One gradient step of `model` on a fixed random projection of its outputs (in float32):
    the loss and every gradient are finite, and every trainable weight gets a non-zero gradient
    (but those matching `NO_GRADIENT` or `exempt`, fnmatch patterns of weight paths); returns the
    loss."""
    import fnmatch

    import tensorflow as tf

    exempt = {**NO_GRADIENT, **(exempt or {}),
              **{p: "bias before batch norm" for p in _biases_before_batch_norm(model)}}
    with tf.GradientTape() as tape:
        outputs = tf.nest.flatten(model(input_data, training=True))
        weights = _projection(outputs)
        loss = tf.add_n([tf.reduce_sum(tf.cast(t, "float32") * w) / float(max(w.size, 1))
                         for t, w in zip(outputs, weights)])
    grads = tape.gradient(loss, model.trainable_variables)
    for t in _flat(outputs):
        assert np.all(np.isfinite(t)), f"{what}: non-finite output"
    assert np.isfinite(float(loss)), f"{what}: non-finite loss"
    missing = []
    for v, g in zip(model.trainable_variables, grads):
        g = None if g is None else tf.convert_to_tensor(g).numpy().astype("float32")
        if g is not None:
            assert np.all(np.isfinite(g)), f"{what}: non-finite gradient of {v.path}"
        if (g is None or not np.any(g)) and not any(fnmatch.fnmatch(v.path, p) for p in exempt):
            missing.append(v.path)
    assert not missing, f"{what}: no gradient reached {len(missing)} weights: {missing[:8]}"
    return float(loss)


def run_precision_test(make_model, input_data, *, policy=PRECISION):
    """`make_model()` built under the dtype policy `policy`: its weights stay float32, and a
    training step has finite outputs, loss and gradients."""
    with dtype_policy(policy):
        model = make_model()
    assert all(v.dtype == "float32" for v in model.trainable_variables), \
        f"{policy}: a weight is not kept in float32"
    return run_training_step(model, input_data, what=f"{policy} training step")


def _check_compute_dtype(layer, input_data):
    """As keras-hub's `run_precision_test`: a layer made with a mixed policy computes in its
    compute dtype (float outputs) and keeps its weights in the variable dtype."""
    import keras

    policy = keras.DTypePolicy(layer.dtype_policy.name)
    for t in keras.tree.flatten(layer(input_data)):
        dtype = keras.backend.standardize_dtype(t.dtype)
        if "float" in dtype:
            assert dtype == policy.compute_dtype, f"{policy.name}: an output is {dtype}"
    for w in layer.weights:
        if "float" in keras.backend.standardize_dtype(w.dtype):
            assert keras.backend.standardize_dtype(w.dtype) == policy.variable_dtype, \
                f"{policy.name}: the weight {w.path} is {w.dtype}"


def _as_model(layer, input_data):
    """A functional model around `layer` with inputs shaped like `input_data` (nested)."""
    import keras

    inputs = keras.tree.map_structure(
        lambda x: keras.Input(shape=np.shape(x)[1:], dtype=keras.backend.standardize_dtype(
            getattr(x, "dtype", "float32"))), input_data)
    return keras.Model(inputs, layer(inputs))


def run_layer_test(cls, init_kwargs, input_data, expected_output_shape, *,
                   expected_num_trainable_weights=None, run_training_check=True,
                   run_precision_check=True, run_saving_check=True, atol=1e-5):
    """Build and call `cls(**init_kwargs)` on `input_data` (keras-hub's `run_layer_test`).

    Args:
        cls: the layer class.
        init_kwargs: its constructor's keyword arguments.
        input_data: an array, or a list of arrays, batch first.
        expected_output_shape: the output's shape, or a list of shapes (nested outputs).
        expected_num_trainable_weights: checked when given.
        run_training_check: a float32 training step with finite gradients.
        run_precision_check: the same layer under `mixed_bfloat16` (forward and training step).
        run_saving_check: a `.keras` round trip of a model around the layer (`safe_mode=True`).
        atol: tolerance of the round trips' outputs.

    Returns:
        The layer, built.
    """
    layer = cls(**init_kwargs)
    output = layer(input_data)
    _assert_shapes(output, expected_output_shape)
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights
    run_config_round_trip(layer)
    if run_training_check:
        run_training_step(_as_model(layer, input_data), input_data)
    if run_saving_check:
        run_keras_file_round_trip(_as_model(cls(**init_kwargs), input_data), input_data, atol=atol)
    if run_precision_check:
        _check_compute_dtype(cls(**{**init_kwargs, "dtype": PRECISION}), input_data)
        run_precision_test(lambda: _as_model(cls(**init_kwargs), input_data), input_data)
    return layer


def run_builder_test(name_or_builder, kwargs=None, input_data=None, *, model=None,
                     expected_output_shape=None, check_outputs=None, run_training_check=True,
                     run_precision_check=True, run_saving_check=True, run_config_check=None,
                     atol=1e-5):
    """Check a model from a builder (keras-hub's `run_backbone_test`, for zoo builders).

    Args:
        name_or_builder: a registered model's name (built with `zoo.create_model`) or a builder.
        kwargs: the builder's keyword arguments (a small test configuration).
        input_data: the model's inputs (default: `conftest.example_inputs(model)`).
        model: an already built model from the same builder and `kwargs` (not built again).
        expected_output_shape: the output's shape, or a list of shapes, when given.
        check_outputs: a function called with the model's inference outputs on `input_data`,
            when given. Those outputs are computed once, after the training step (which moves
            the batch-norm statistics), and are also what the `.keras` round trip's loaded model
            must give.
        run_training_check: a float32 training step with finite loss and gradients.
        run_precision_check: the model built again under `mixed_bfloat16`, a training step.
        run_saving_check: a `.keras` round trip with `safe_mode=True`, same outputs.
        run_config_check: `from_config(get_config())` with the same parameters (a second build:
            the `.keras` round trip already rebuilds the model from its config and compares
            the configs, so this is for builders checked without it).
        atol: tolerance of the `.keras` round trip's outputs.

    Returns:
        The model.
    """
    import zoo
    from conftest import example_inputs

    kwargs = dict(kwargs or {})

    def make():
        if isinstance(name_or_builder, str):
            return zoo.create_model(name_or_builder, **kwargs)
        return name_or_builder(**kwargs)

    model = model if model is not None else make()
    input_data = example_inputs(model) if input_data is None else input_data
    if run_training_check:
        run_training_step(model, input_data)
    outputs = None
    if expected_output_shape is not None or check_outputs is not None or run_saving_check:
        outputs = model(input_data, training=False)
    if expected_output_shape is not None:
        _assert_shapes(outputs, expected_output_shape)
    if check_outputs is not None:
        check_outputs(outputs)
    if run_config_check or (run_config_check is None and not run_saving_check):
        run_config_round_trip(model)
    if run_saving_check:
        run_keras_file_round_trip(model, input_data, atol=atol, expected=outputs)
    if run_precision_check:
        run_precision_test(make, input_data)
    return model
