"""Every registered model: build, forward, backward, config and `.keras` round trips, a
mixed_bfloat16 training step (`harness.run_builder_test`), JAX forward.

Parametrized over `zoo.list_models()`, each with its registered small test configuration
(`ModelSpec.test_overrides`), so adding a model to the registry adds it here.
"""

import json

import numpy as np
import pytest

import zoo
from conftest import example_inputs, jax_process
from harness import depth_variants, run_builder_test
from zoo.core.registry import get_spec

ALL = zoo.list_models()

# The 101- and 152-layer ResNets (v1, v2, gated) and their 50-layer siblings: the same builder code
# (`test_depth_variants_run_their_siblings_code` checks the bytecode), only the blocks per stage
# differ. The JAX parity runs the 50-layer ones, and the mixed_bfloat16 step and the `.keras` round
# trip too: a deeper stack of the same layers runs no other op, and saves and loads the same layer
# classes with the same config keys (a deep variant's round trip was 13-16 s of CPU of its 20-26,
# a second build and 230 MB of weights written and read). Every variant keeps its own forward,
# float32 step (every weight reached), JSON config, card and keras.applications structure tests;
# resnet152 alone is exported as the check of depth (tests/test_export_families.py).
DEPTH_VARIANTS = depth_variants(ALL)


def _build(name):
    spec = get_spec(name)
    return zoo.create_model(name, **spec.test_overrides)


def test_registry_is_filled():
    """Every registered model is `zoo.<name>`, defined in its family's module `zoo.models.<family>`,
    and every family has one."""
    from zoo.core import registry

    assert len(ALL) >= 30
    for n in ALL:
        assert getattr(zoo, n) is get_spec(n).builder, f"zoo.{n} is not exported"
        assert registry.module_of(n) == f"zoo.models.{get_spec(n).family}", n
    assert set(registry.families()) == {get_spec(n).family for n in ALL}


@pytest.mark.parametrize("name", ALL)
def test_builder(name):
    """Forward with the symbolic output shapes, a float32 training step, config and `.keras`
    round trips, and the precision axis: a mixed_bfloat16 training step (`harness`); a deep
    ResNet's training step, round trip and precision step are its 50-layer sibling's
    (`DEPTH_VARIANTS`: the same code over more blocks; the six's training steps were 9 of
    their 43 s of CPU here)."""
    import keras

    model = _build(name)
    x = example_inputs(model)

    def symbolic_shapes(y):  # the inference outputs, computed once by the harness
        assert len(keras.tree.flatten(y)) == len(model.outputs)
        for t, sym in zip(keras.tree.flatten(y), model.outputs):
            assert tuple(t.shape[1:]) == tuple(
                d if d is not None else t.shape[i + 1] for i, d in enumerate(sym.shape[1:])
            )

    sibling_checks = name not in DEPTH_VARIANTS
    run_builder_test(name, get_spec(name).test_overrides, x, model=model,
                     check_outputs=symbolic_shapes, run_training_check=sibling_checks,
                     run_precision_check=sibling_checks, run_saving_check=sibling_checks,
                     run_config_check=False)
    if not sibling_checks:  # its config still serializes, as the sibling's does
        config = json.loads(json.dumps(model.get_config()))
        assert len(config["layers"]) == len(model.layers), name


def _code(builder):
    import inspect

    return inspect.unwrap(builder).__code__


def test_depth_variants_run_their_siblings_code():
    """Each 101- or 152-layer builder is its 50-layer sibling's function with other constants
    (the blocks per stage, its name): the same bytecode and names, so the checks that run only
    on the sibling (JAX parity, the mixed_bfloat16 step) cover the code it runs."""
    assert sorted(DEPTH_VARIANTS) == ["gated_resnet101", "gated_resnet152", "resnet101",
                                      "resnet101v2", "resnet152", "resnet152v2"]
    for deep, base in DEPTH_VARIANTS.items():
        a, b = get_spec(deep), get_spec(base)
        assert (a.family, a.task, a.test_overrides) == (b.family, b.task, b.test_overrides), deep
        ca, cb = _code(a.builder), _code(b.builder)
        assert ca.co_code == cb.co_code and ca.co_names == cb.co_names, (deep, base)
        assert ca.co_consts != cb.co_consts, deep  # the depth differs


JAX_SCRIPT = r"""
import json, os, sys
import jax
import numpy as np
import keras
assert keras.backend.backend() == "jax"
sys.path.insert(0, os.path.join(os.getcwd(), "tests"))
from keras.src.utils import module_utils
# TensorFlow is not loaded here (Keras looks for it only to seed it and to recognise its
# TensorShape when serializing): the builders run on JAX alone, and the process saves the 7-10 s
# of CPU of importing it
module_utils.tensorflow._available = False
import zoo
from zoo.core.registry import get_spec
from conftest import example_inputs
from keras.src.backend.jax import random as jax_random
configs, out_dir = json.loads(sys.argv[1]), sys.argv[2]


# `draw` (Keras' JAX random normal, uniform or truncated normal) for a flat shape rounded up to a
# power of two, cut to `shape` on the host: JAX compiles a random program per shape, and one per
# weight shape was most of a model's build (0.3 s each, 58 for GoogLeNet-BN); with a few dozen
# sizes for every model, the compilations are shared. The values are still JAX's, from Keras' seeds.
# The cut draw goes back to the device with `jax.device_put`, which compiles nothing
# (`jnp.asarray` of a NumPy array compiles a `stage` program per shape).
def power_of_two_draws(draw):
    def drawn(shape, *args, **kwargs):
        n = int(np.prod(shape))
        flat = np.asarray(draw((1 << max(n - 1, 0).bit_length(),), *args, **kwargs))
        return jax.device_put(flat[:n].reshape(shape))
    return drawn


original = {f: getattr(jax_random, f) for f in ("normal", "uniform", "truncated_normal")}
for key, (name, extra) in configs.items():
    keras.utils.set_random_seed(0)
    for f, draw in original.items():  # while building only: the forward pass is untouched
        setattr(jax_random, f, power_of_two_draws(draw))
    try:
        model = zoo.create_model(name, **{**get_spec(name).test_overrides, **extra})
    finally:
        for f, draw in original.items():
            setattr(jax_random, f, draw)
    # under jax.jit, as fit and predict run a model on JAX (and 5 times faster here than eager
    # calls, which compile every op on its first shape)
    forward = jax.jit(lambda t, n, x: model.stateless_call(t, n, x, training=False)[0])
    y = keras.tree.flatten(forward([v.value for v in model.trainable_variables],
                                   [v.value for v in model.non_trainable_variables],
                                   example_inputs(model)))
    model.save_weights(os.path.join(out_dir, key + ".weights.h5"))
    np.savez(os.path.join(out_dir, key + ".npz"), *[np.asarray(t) for t in y])
    keras.backend.clear_session(free_memory=False)  # Python's full collection: 0.5 s a model
assert "tensorflow" not in sys.modules
print("DONE")
"""


JAX_EXTRA = {"dcgan_generator_32+latent_components": ("dcgan_generator_32", {"latent_components": 3})}
JAX_SHARDS = 2  # one JAX process per xdist worker


def _jax_configs(shard):
    configs = {name: (name, {}) for name in ALL if name not in DEPTH_VARIANTS}
    configs.update(JAX_EXTRA)
    keys = sorted(configs)
    return {k: configs[k] for k in keys[shard::JAX_SHARDS]}


@pytest.mark.slow  # minutes: every builder in a JAX process, then on TensorFlow
@pytest.mark.parametrize("shard", range(JAX_SHARDS))
def test_every_builder_gives_the_same_outputs_on_jax_and_tensorflow(shard, tmp_path):
    """The builders use keras and keras.ops only: the same code runs on the JAX backend (under
    jax.jit), and with the same weights (built on JAX, saved, loaded here on TensorFlow) gives
    the same outputs (every builder but the deeper ResNets, whose code their 50-layer siblings
    run: `DEPTH_VARIANTS`)."""
    import keras

    # every builder at its test configuration, and options that add layers of their own
    configs = _jax_configs(shard)
    jax_process(JAX_SCRIPT, json.dumps(configs), str(tmp_path), timeout=1200)
    assert keras.backend.backend() == "tensorflow"
    for key, (name, extra) in configs.items():
        model = zoo.create_model(name, **{**get_spec(name).test_overrides, **extra})
        model.load_weights(str(tmp_path / (key + ".weights.h5")))
        y = keras.tree.flatten(model(example_inputs(model), training=False))
        with np.load(tmp_path / (key + ".npz")) as saved:
            jax_y = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        assert len(jax_y) == len(y), key
        for a, b in zip(jax_y, y):
            assert np.all(np.isfinite(a)), f"{key}: non-finite output on JAX"
            np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-4, err_msg=key)
        keras.backend.clear_session(free_memory=False)


def test_jax_shards_cover_every_builder():
    keys = [k for shard in range(JAX_SHARDS) for k in _jax_configs(shard)]
    assert sorted(keys) == sorted([*(set(ALL) - set(DEPTH_VARIANTS)), *JAX_EXTRA])
    assert len(set(keys)) == len(keys) and set(DEPTH_VARIANTS.values()) <= set(keys)
