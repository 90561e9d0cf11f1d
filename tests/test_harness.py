"""The harness (tests/harness.py) fails on the faults it is there to find."""

import numpy as np
import pytest

from harness import run_layer_test

X = np.random.default_rng(0).standard_normal((2, 3)).astype("float32")


def _dense_like(**overrides):
    import keras

    name = "Scale" + "".join(f"_{k}" for k in sorted(overrides))

    @keras.saving.register_keras_serializable(package="test_harness", name=name)
    class Scale(keras.layers.Layer):
        def __init__(self, units=2, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1], self.units))
            if overrides.get("unused_weight"):
                self.unused = self.add_weight(shape=(self.units,), name="unused")

        def call(self, x):
            y = keras.ops.matmul(x, self.w)
            return keras.ops.cast(y, "float32") if overrides.get("float32_output") else y

        def get_config(self):
            config = super().get_config()
            if not overrides.get("forget_units"):
                config["units"] = self.units
            return config

    return Scale


def test_a_sound_layer_passes():
    run_layer_test(_dense_like(), {"units": 4}, X, (2, 4), expected_num_trainable_weights=1)


def test_a_config_that_forgets_an_argument_fails():
    # from_config(get_config()) agrees with itself; the .keras file loads weights of the wrong size
    with pytest.raises(ValueError, match="could not be loaded"):
        run_layer_test(_dense_like(forget_units=True), {"units": 4}, X, (2, 4))


def test_a_layer_that_leaves_its_compute_dtype_fails():
    with pytest.raises(AssertionError, match="mixed_bfloat16: an output is float32"):
        run_layer_test(_dense_like(float32_output=True), {"units": 4}, X, (2, 4))


def test_a_weight_that_no_gradient_reaches_fails():
    # the other weight gets its gradient; one trainable weight left out is enough to fail
    with pytest.raises(AssertionError, match=r"no gradient reached 1 weights: \['.*unused'\]"):
        run_layer_test(_dense_like(unused_weight=True), {"units": 4}, X, (2, 4))


def test_a_softmax_output_still_gives_every_weight_a_gradient():
    """The loss projects the outputs on fixed random weights: a mean of softmax outputs would be
    constant (zero gradient), this is not."""
    import keras

    from harness import run_training_step

    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dense(4, activation="softmax")(inp))
    run_training_step(model, X)


def test_keras_saving_skipsets_cached_gives_keras_own_sets_and_restores_it():
    from keras.src.saving import saving_lib

    from harness import keras_saving_skipsets_cached

    compute = saving_lib.get_attr_skipset
    want = {t: compute(t) for t in ("Layer", "Functional", "Operation", "Optimizer")}
    with keras_saving_skipsets_cached():
        assert saving_lib.get_attr_skipset is not compute
        for _ in range(2):  # computed, then found under the key Keras looks up
            assert {t: saving_lib.get_attr_skipset(t) for t in want} == want
    assert saving_lib.get_attr_skipset is compute
