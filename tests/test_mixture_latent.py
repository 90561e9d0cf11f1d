"""zoo.layers.MixtureLatent (DeLiGAN's learned mixture latent) and the DCGAN generator's use of it."""

import numpy as np
import pytest

import zoo
from harness import run_builder_test
from zoo.layers import MixtureLatent


def test_output_is_the_picked_components_mean_plus_scaled_z():
    layer = MixtureLatent(components=5, scale=0.3)
    z = np.random.default_rng(0).uniform(-1, 1, (64, 7)).astype("float32")
    y = np.asarray(layer(z))
    mu = np.asarray(layer.mu)
    k = np.minimum(np.floor((z[:, 0] + 1) / 2 * 5).astype(int), 4)
    np.testing.assert_allclose(y, mu[k] + 0.3 * z, rtol=1e-6, atol=1e-6)
    assert mu.shape == (5, 7) and np.all(np.abs(mu) <= 1)


def test_components_are_uniform_under_uniform_z0_and_the_ends_are_clipped():
    layer = MixtureLatent(components=10)
    z = np.random.default_rng(1).uniform(-1, 1, (20_000, 3)).astype("float32")
    counts = np.bincount(np.asarray(layer.component(z)), minlength=10)
    assert counts.min() > 1_800 and counts.max() < 2_200, counts
    ends = np.array([[-1.0, 0, 0], [1.0, 0, 0]], "float32")
    assert np.asarray(layer.component(ends)).tolist() == [0, 9]


def test_gradient_reaches_only_the_picked_means():
    import tensorflow as tf

    layer = MixtureLatent(components=4)
    z = tf.constant([[-0.9, 0.5], [-0.8, -0.5]], tf.float32)  # both in component 0
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(z))
    grad = np.asarray(tape.gradient(loss, layer.mu))
    np.testing.assert_allclose(grad, [[2, 2], [0, 0], [0, 0], [0, 0]])


@pytest.mark.parametrize("kwargs, message", [
    ({"components": 0}, "components=0"),
    ({"components": 2.5}, "components=2.5"),
    ({"components": 3, "scale": 0}, "scale=0"),
    ({"components": 3, "scale": "1"}, "scale='1'"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MixtureLatent(**kwargs)


def test_generator_with_a_mixture_latent_round_trips_and_counts_its_means():

    plain = zoo.dcgan_generator_32(base_filters=4)
    g = zoo.dcgan_generator_32(base_filters=4, latent_components=6, latent_scale=0.5)
    assert g.count_params() == plain.count_params() + 6 * 100  # the means, nothing else
    assert g.get_layer("latent_mixture").get_config()["scale"] == 0.5
    z = np.random.default_rng(2).uniform(-1, 1, (3, 100)).astype("float32")
    run_builder_test(zoo.dcgan_generator_32, dict(base_filters=4, latent_components=6,
                                                  latent_scale=0.5), z, model=g, atol=1e-6)
    with pytest.raises(ValueError, match="latent_components=-1"):
        zoo.dcgan_generator(latent_components=-1)
    with pytest.raises(ValueError, match="latent_scale=0"):
        zoo.dcgan_generator_32(latent_components=3, latent_scale=0)
