"""DCGAN (Radford, Metz & Chintala 2015): builders, the GAN model, monitors, sampling, serving.

Parameter counts are checked against a hand computation from the paper's layer list (figure 1
and section 3), stage shapes against figure 1, the GAN's training under a real
`tf.distribute.MirroredStrategy` over two logical CPU devices (in a subprocess, since logical
devices must be configured before TensorFlow initialises).
"""

import json
import os
import sys

import keras
import numpy as np
import pytest

import _spawn
import zoo
from harness import run_keras_file_round_trip
from zoo.layers import ToUint8Image
from zoo.models.dcgan_sampling import (
    GANMonitor,
    SampleGrid,
    image_grid,
    interpolate_latents,
    mean_pairwise_distance,
    sample_latents,
    save_image_grid,
    serving_generator,
    slerp,
    to_uint8,
)
from zoo.roles.gan_training import DCGAN, GANPair, diff_augment, update_ema
from zoo.tasks.image_generation import ImageGeneration, image_shape_of
from zoo.train import recipe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------- hand computation (paper)


def generator_params(latent_dim, start, widths, channels, k):
    """Parameters of the DCGAN generator from its layer list.

    project:  latent_dim x (start^2 * w0)             (no bias: batch norm follows)
    BN:       4 per channel (gamma, beta, moving mean, moving variance)
    deconv i: k^2 * w_{i-1} * w_i                     (no bias: batch norm follows)
    output:   k^2 * w_last * channels + channels      (bias; no batch norm at G's output)
    """
    total = latent_dim * start * start * widths[0] + 4 * widths[0]
    for cin, cout in zip(widths[:-1], widths[1:]):
        total += k * k * cin * cout + 4 * cout
    return total + k * k * widths[-1] * channels + channels


def discriminator_params(channels, widths, end, k):
    """Parameters of the DCGAN discriminator from its layer list.

    conv1:  k^2 * channels * w0 + w0                  (bias; no batch norm at D's input)
    conv i: k^2 * w_{i-1} * w_i + 4 * w_i             (no bias, batch norm)
    score:  end^2 * w_last + 1                        (flatten, one sigmoid/logit unit)
    """
    total = k * k * channels * widths[0] + widths[0]
    for cin, cout in zip(widths[:-1], widths[1:]):
        total += k * k * cin * cout + 4 * cout
    return total + end * end * widths[-1] + 1


VARIANTS = {
    # name: (image side, channels, start side, generator widths, discriminator widths)
    "64": (64, 3, 4, [1024, 512, 256, 128], [128, 256, 512, 1024]),
    "32": (32, 3, 4, [512, 256, 128], [128, 256, 512]),
    "28": (28, 1, 7, [128, 64], [64, 128]),
}


def test_paper_figure1_generator_count():
    # Figure 1: z(100) -> 4x4x1024 -> 8x8x512 -> 16x16x256 -> 32x32x128 -> 64x64x3, 5x5 kernels.
    expected = (
        100 * 4 * 4 * 1024 + 4 * 1024
        + 25 * 1024 * 512 + 4 * 512
        + 25 * 512 * 256 + 4 * 256
        + 25 * 256 * 128 + 4 * 128
        + 25 * 128 * 3 + 3
    )
    assert expected == 18_858_883
    assert zoo.dcgan_generator_64().count_params() == expected


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("k", [5, 4])
def test_parameter_counts(variant, k):
    side, c, start, gw, dw = VARIANTS[variant]
    g = getattr(zoo, f"dcgan_generator_{variant}")(kernel_size=k)
    d = getattr(zoo, f"dcgan_discriminator_{variant}")(kernel_size=k)
    assert g.count_params() == generator_params(100, start, gw, c, k)
    assert d.count_params() == discriminator_params(c, dw, start, k)
    # trainable: batch norm's moving statistics are not
    assert sum(int(np.prod(w.shape)) for w in g.non_trainable_weights) == 2 * sum(gw)
    assert sum(int(np.prod(w.shape)) for w in d.non_trainable_weights) == 2 * sum(dw[1:])


def test_model_card_multiply_adds_64():
    """Multiply-adds by hand: a transposed conv multiplies every input element into a k x k
    window of every output channel; a conv does k x k x c_in per output element."""
    g_macs = (100 * 4 * 4 * 1024
              + 4 * 4 * 1024 * 25 * 512 + 8 * 8 * 512 * 25 * 256
              + 16 * 16 * 256 * 25 * 128 + 32 * 32 * 128 * 25 * 3)
    d_macs = (32 * 32 * 128 * 25 * 3 + 16 * 16 * 256 * 25 * 128
              + 8 * 8 * 512 * 25 * 256 + 4 * 4 * 1024 * 25 * 512 + 4 * 4 * 1024)
    card = zoo.model_card("dcgan_generator_64")
    assert card["macs"] == g_macs == 640_614_400 and card["params"] == 18_858_883
    assert zoo.model_card("dcgan_discriminator_64")["macs"] == d_macs


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_stage_shapes(variant):
    side, c, start, gw, dw = VARIANTS[variant]
    g = getattr(zoo, f"dcgan_generator_{variant}")()
    d = getattr(zoo, f"dcgan_discriminator_{variant}")()
    n = len(gw)
    assert g.input.shape == (None, 100)
    assert g.get_layer("project_reshape").output.shape == (None, start, start, gw[0])
    for i in range(1, n):
        s = start * 2**i
        assert g.get_layer(f"deconv{i}").output.shape == (None, s, s, gw[i])
    assert g.get_layer(f"deconv{n}").output.shape == (None, side, side, c)
    assert g.output.shape == (None, side, side, c)
    for i in range(1, n + 1):
        s = side // 2**i
        assert d.get_layer(f"conv{i}").output.shape == (None, s, s, dw[i - 1])
    assert d.get_layer(f"conv{n}").output.shape[1] == start
    assert d.output.shape == (None, 1)
    # the forward pass agrees with the symbolic shapes
    z = sample_latents(0, 2, 100)
    images = g(z, training=False)
    assert tuple(images.shape) == (2, side, side, c)
    assert tuple(d(images, training=False).shape) == (2, 1)


def test_paper_guidelines_layer_by_layer():
    """Section 3: no pooling, no hidden dense layers, BN except at G's output and D's input,
    ReLU + tanh in G, LeakyReLU(0.2) in D, N(0, 0.02) weights."""
    g = zoo.dcgan_generator_64()
    d = zoo.dcgan_discriminator_64()
    for net in (g, d):
        names = [type(l).__name__ for l in net.layers]
        assert not any("Pool" in n for n in names)
        assert [l.name for l in net.layers if isinstance(l, keras.layers.Dense)] in (
            ["project"], ["score"])
    # generator: BN after the projection and every deconv but the last
    bn = [l.name for l in g.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert bn == ["project_bn", "deconv1_bn", "deconv2_bn", "deconv3_bn"]
    assert [type(l).__name__ for l in g.layers[-2:]] == ["Conv2DTranspose", "Activation"]
    assert g.layers[-1].get_config()["activation"] == "tanh"
    for layer in g.layers:
        if isinstance(layer, keras.layers.Conv2DTranspose):
            assert layer.strides == (2, 2) and layer.kernel_size == (5, 5)
    assert len([l for l in g.layers if isinstance(l, keras.layers.ReLU)]) == 4
    # discriminator: no BN after conv1, LeakyReLU(0.2) everywhere
    bn = [l.name for l in d.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert bn == ["conv2_bn", "conv3_bn", "conv4_bn"]
    lrelu = [l for l in d.layers if isinstance(l, keras.layers.LeakyReLU)]
    assert len(lrelu) == 4 and all(abs(l.negative_slope - 0.2) < 1e-7 for l in lrelu)
    # N(0, 0.02) kernels (13.1M samples in deconv1: the sample std is within 0.1% of 0.02)
    kernel = np.asarray(g.get_layer("deconv1").kernel)
    assert abs(kernel.mean()) < 1e-4 and abs(kernel.std() - 0.02) < 2e-5
    gamma = np.asarray(g.get_layer("project_bn").gamma)
    assert abs(gamma.mean() - 1.0) < 5e-3 and 0.015 < gamma.std() < 0.025


def test_tanh_range_saturates_within_bounds():
    g = zoo.dcgan_generator(latent_dim=8, image_shape=(16, 16, 3), base_filters=4)
    out = g.get_layer("deconv2")
    out.kernel.assign(np.asarray(out.kernel) * 1000.0)  # pre-activations far outside [-3, 3]
    # training mode: batch statistics give the output layer inputs of unit scale
    images = np.asarray(g(sample_latents(0, 8, 8), training=True))
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert (np.abs(images) > 0.999).mean() > 0.5  # really saturating, so the bound is tanh's


def test_kernel_size_4_matches_dcgan_torch_shapes():
    # dcgan.torch: 4x4 kernels, stride 2, the same map sizes as figure 1
    g = zoo.dcgan_generator_64(kernel_size=4)
    assert g.get_layer("deconv1").kernel.shape == (4, 4, 512, 1024)  # (k, k, out, in)
    assert g.output.shape == (None, 64, 64, 3)


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        ({"image_shape": (30, 30, 3), "num_upsamplings": 2}, "num_upsamplings"),
        ({"image_shape": (6, 6, 3)}, "image_shape"),
        ({"image_shape": (64, 64)}, "image_shape"),
        ({"image_shape": (64, 64, 3), "num_upsamplings": 0}, "num_upsamplings"),
        ({"base_filters": 0}, "base_filters"),
        ({"kernel_size": "5"}, "kernel_size"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"weights": 3}, "weights"),
    ],
)
def test_generator_argument_errors(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        zoo.dcgan_generator(**kwargs)


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        ({"image_shape": (28, 28, 1), "num_downsamplings": 3}, "num_downsamplings"),
        ({"leaky_relu_slope": 1.5}, "leaky_relu_slope"),
        ({"output_activation": "relu"}, "output_activation"),
    ],
)
def test_discriminator_argument_errors(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        zoo.dcgan_discriminator(**kwargs)


def test_registry_cards():
    names = zoo.list_models("dcgan*")
    assert names == [f"dcgan_{n}_{s}" for n in ("discriminator", "generator")
                     for s in ("28", "32", "64")]
    spec = zoo.get_spec("dcgan_generator_64")
    assert spec.family == "dcgan" and spec.task == "image_generation"
    assert "1511.06434" in spec.paper
    assert zoo.get_spec("dcgan_discriminator_28").task == "image_discrimination"
    assert zoo.get_spec("dcgan_discriminator_28").input_shape == (28, 28, 1)


def test_weights_path_round_trip(tmp_path):
    g = zoo.dcgan_generator_28(base_filters=4, latent_dim=8)
    path = str(tmp_path / "g.weights.h5")
    g.save_weights(path)
    g2 = zoo.dcgan_generator_28(base_filters=4, latent_dim=8, weights=path)
    z = sample_latents(1, 2, 8)
    np.testing.assert_allclose(g(z), g2(z), atol=1e-6)


# ---------------------------------------------------------------- the GAN model


def _tiny_gan(side=16, channels=1, **kwargs):
    g = zoo.dcgan_generator(latent_dim=8, image_shape=(side, side, channels), base_filters=4)
    d = zoo.dcgan_discriminator(image_shape=(side, side, channels), base_filters=4)
    return DCGAN(g, d, **kwargs)


def _images(n=32, side=16, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    return np.tanh(rng.standard_normal((n, side, side, channels))).astype("float32")


def _snapshot(model):
    return [np.array(w) for w in model.trainable_weights]


def test_train_steps_update_both_networks():
    gan = _tiny_gan()
    gan.compile()
    assert float(gan.d_optimizer.learning_rate) == pytest.approx(2e-4)
    assert float(gan.d_optimizer.beta_1) == pytest.approx(0.5)
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(2e-4)
    g0, d0 = _snapshot(gan.generator), _snapshot(gan.discriminator)
    history = gan.fit(_images(), batch_size=8, epochs=1, verbose=0)
    assert sorted(history.history) == ["d_g_z", "d_loss", "d_x", "g_loss"]
    logs = {k: v[-1] for k, v in history.history.items()}
    assert all(np.isfinite(v) for v in logs.values())
    assert 0 < logs["d_x"] < 1 and 0 < logs["d_g_z"] < 1
    assert 0 < logs["d_loss"] and 0 < logs["g_loss"]
    assert int(gan.d_optimizer.iterations) == 4 and int(gan.g_optimizer.iterations) == 4
    for before, after in ((g0, gan.generator.trainable_weights),
                          (d0, gan.discriminator.trainable_weights)):
        changed = [not np.allclose(a, np.asarray(b)) for a, b in zip(before, after)]
        assert all(changed), "every trainable weight of both networks moves"
        assert all(np.all(np.isfinite(np.asarray(b))) for b in after)


def test_losses_match_numpy_reference():
    """d_loss = -log D(x) - log(1 - D(G(z))), g_loss = -log D(G(z)), with D = sigmoid(logit):
    evaluate's numbers equal a NumPy computation on the same latents (a fixed TF seed)."""
    import tensorflow as tf

    gan = _tiny_gan()
    gan.compile()
    x = _images(8)
    tf.random.set_seed(3)
    logs = gan.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    tf.random.set_seed(3)
    z = gan._latents(tf.constant(8))
    real = np.asarray(gan.discriminator(x, training=False), dtype="float64")
    fake = np.asarray(gan.discriminator(gan.generator(z, training=False), training=False),
                      dtype="float64")
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    d_loss = -np.mean(np.log(sig(real))) - np.mean(np.log(1 - sig(fake)))
    g_loss = -np.mean(np.log(sig(fake)))
    assert np.asarray(z).min() >= -1 and np.asarray(z).max() <= 1
    assert logs["d_loss"] == pytest.approx(d_loss, rel=1e-4)
    assert logs["g_loss"] == pytest.approx(g_loss, rel=1e-4)
    assert logs["d_x"] == pytest.approx(np.mean(sig(real)), rel=1e-4)
    assert logs["d_g_z"] == pytest.approx(np.mean(sig(fake)), rel=1e-4)


def test_save_load_resume(tmp_path):
    gan = _tiny_gan(label_smoothing=0.1)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5))
    x = _images()
    gan.fit(x, batch_size=8, epochs=1, verbose=0)
    path = str(tmp_path / "gan.keras")
    gan.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, DCGAN) and loaded.label_smoothing == pytest.approx(0.1)
    assert float(loaded.d_optimizer.learning_rate) == pytest.approx(1e-3)
    assert float(loaded.g_optimizer.learning_rate) == pytest.approx(2e-4)
    for a, b in zip(gan.weights, loaded.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for opt in ("d_optimizer", "g_optimizer"):
        mine, theirs = getattr(gan, opt).variables, getattr(loaded, opt).variables
        assert len(mine) == len(theirs) > 2
        for a, b in zip(mine, theirs):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    z = sample_latents(0, 4, 8)
    np.testing.assert_allclose(gan.predict(z, verbose=0), loaded.predict(z, verbose=0), atol=1e-6)
    # resume: the step counters go on from where they were
    loaded.fit(x, batch_size=8, epochs=1, verbose=0)
    assert int(loaded.d_optimizer.iterations) == 8 and int(loaded.g_optimizer.iterations) == 8


def test_dcgan_argument_errors():
    g = zoo.dcgan_generator(latent_dim=8, image_shape=(16, 16, 1), base_filters=4)
    d = zoo.dcgan_discriminator(image_shape=(32, 32, 1), base_filters=4)
    with pytest.raises(ValueError, match="discriminator input"):
        DCGAN(g, d)
    d = zoo.dcgan_discriminator(image_shape=(16, 16, 1), base_filters=4)
    with pytest.raises(ValueError, match="latent_distribution"):
        DCGAN(g, d, latent_distribution="cauchy")
    gan = DCGAN(g, d)
    opt = keras.optimizers.Adam()
    with pytest.raises(ValueError, match="two optimizer instances"):
        gan.compile(d_optimizer=opt, g_optimizer=opt)
    with pytest.raises(ValueError, match="loss"):
        gan.compile(loss="mse")
    with pytest.raises(ValueError, match="compile"):
        gan.fit(_images(8), verbose=0)


# One process for the recipe's options and the GAN's own training under MirroredStrategy (a
# TensorFlow process costs 7-10 s of CPU to start). The recipe runs first: its `--cpu-devices 2`
# splits the CPU into the two logical devices that the rest uses (TensorFlow splits it only
# before it starts its devices).
MIRRORED_SCRIPT = r"""
import json, os, sys
import numpy as np
from zoo.train import recipe
a = recipe.build_parser('dcgan_generator_28').parse_args(sys.argv[1:])
t = recipe.train_task('dcgan_generator_28', a)
m = t.model
print('RECIPE ' + json.dumps({
    'replicas': t.replicas,
    'differs': any(not np.allclose(np.asarray(e), np.asarray(w))
                   for e, w in zip(m.ema_generator.weights, m.generator.weights)),
    'finite': all(bool(np.isfinite(np.asarray(e)).all()) for e in m.ema_generator.weights),
    'grids': len(os.listdir(a.run_dir + '/samples'))}))
del t, m

import tensorflow as tf
assert [d.name for d in tf.config.list_logical_devices("CPU")] == [
    "/device:CPU:0", "/device:CPU:1"]
import keras, zoo
from zoo.roles.gan_training import DCGAN
keras.utils.set_random_seed(0)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    g = zoo.dcgan_generator(latent_dim=8, image_shape=(16, 16, 1), base_filters=4)
    d = zoo.dcgan_discriminator(image_shape=(16, 16, 1), base_filters=4)
    gan = DCGAN(g, d)
    gan.compile()
before = [np.array(w) for w in gan.trainable_weights]
x = np.tanh(np.random.default_rng(0).standard_normal((32, 16, 16, 1))).astype("float32")
ds = tf.data.Dataset.from_tensor_slices(x).batch(8)
hist = gan.fit(ds, epochs=1, verbose=0)
after = [np.array(w) for w in gan.trainable_weights]
print("RESULT " + json.dumps({
    "replicas": strategy.num_replicas_in_sync,
    "mirrored": sorted({type(v.value).__name__ for v in gan.generator.trainable_variables
                        + gan.d_optimizer.variables}),
    "logs": {k: float(v[-1]) for k, v in hist.history.items()},
    "all_changed": all(not np.allclose(a, b) for a, b in zip(before, after)),
    "finite": all(bool(np.all(np.isfinite(a))) for a in after),
    "iterations": [int(np.asarray(o.iterations.value.read_value()))
                   for o in (gan.d_optimizer, gan.g_optimizer)],
}))

# One replica against two, the same global batch. Each global batch of 8 is 4 images twice and the
# latents are the same fixed 4 rows on each replica (row index mod 4), so that the batch-norm
# statistics of a replica's half equal those of the whole batch: the two runs must then end with
# the same weights. SGD (not Adam, whose step hardly depends on the gradient's scale), so that a
# loss divided twice (or never) by the number of replicas shows as updates half (or twice) as big.
from zoo.roles import gan_training
from zoo.tasks.image_generation import ImageGeneration


def fixed_latents(batch, latent_dim, distribution="uniform"):
    rows = tf.range(batch) % 4
    return tf.sin(0.7 * tf.cast(rows[:, None] * latent_dim + tf.range(latent_dim)[None], tf.float32))


gan_training.latent_batch = fixed_latents
halves = np.tanh(np.random.default_rng(1).standard_normal((2, 4, 16, 16, 1))).astype("float32")
x = np.concatenate([np.concatenate([h, h]) for h in halves])  # two global batches of 8


def nets():
    keras.utils.set_random_seed(0)
    return (zoo.dcgan_generator(latent_dim=8, image_shape=(16, 16, 1), base_filters=4),
            zoo.dcgan_discriminator(image_shape=(16, 16, 1), base_filters=4))


def sgd():
    return keras.optimizers.SGD(0.5)


def fit_run(strategy):
    with strategy.scope():
        gan = DCGAN(*nets())
        gan.compile(d_optimizer=sgd(), g_optimizer=sgd())
    hist = gan.fit(tf.data.Dataset.from_tensor_slices(x).batch(8), epochs=1, verbose=0)
    return [np.array(w) for w in gan.weights], {k: float(v[-1]) for k, v in hist.history.items()}


def trainer_run(strategy):
    # the trainer's step (zoo.train.trainer._make_train_function): the denominator is the sum of
    # the replicas' counts, the image-generation task's train_step runs on each replica
    task = ImageGeneration()
    with strategy.scope():
        pair = gan_training.GANPair(*nets())
        opts = {"d_optimizer": sgd(), "g_optimizer": sgd()}
        opts["d_optimizer"].build(pair.discriminator.trainable_variables)
        opts["g_optimizer"].build(pair.generator.trainable_variables)
    data = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices(x).batch(8))

    @tf.function
    def step(batch):
        denom = strategy.reduce("SUM", strategy.run(task.denominator, args=(batch,)), axis=None)
        stats = strategy.run(lambda b, n: task.train_step(pair, opts, b, n, strategy.num_replicas_in_sync),
                             args=(batch, denom))
        return {k: strategy.reduce("SUM", v, axis=None) for k, v in stats.items()}

    sums = [step(batch) for batch in data]
    return [np.array(w) for w in pair.weights], {k: float(v) for k, v in sums[-1].items()}


start = [np.array(w) for w in DCGAN(*nets()).weights]
runs = {}
for kind, run in (("fit", fit_run), ("trainer", trainer_run)):
    one = run(tf.distribute.OneDeviceStrategy("/cpu:0"))
    two = run(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    runs[kind] = {
        "moved": max(float(np.abs(a - b).max()) for a, b in zip(one[0], start)),
        "weights_diff": max(float(np.abs(a - b).max()) for a, b in zip(one[0], two[0])),
        "logs_one": one[1], "logs_two": two[1],
    }
print("EQUAL " + json.dumps(runs))
"""


@pytest.mark.slow
def test_trains_under_mirrored_strategy(tmp_path):
    """A real MirroredStrategy over two logical CPUs: the GAN trains with mirrored weights, and
    (by `DCGAN.fit` and by the trainer's step) two replicas give the weights and logs of one;
    and the recipe's label smoothing, EMA and DiffAugment over two CPU replicas (one
    subprocess)."""
    args = ["--set", "base_filters=4", "--discriminator-set",
            "base_filters=4", "--epochs", "2", "--steps-per-epoch", "3", "--batch-size", "8",
            "--strategy", "mirrored", "--cpu-devices", "2", "--label-smoothing", "0.1",
            "--ema-decay", "0.999", "--diff-augment", "translation,cutout", "--quiet",
            "--no-export", "--run-dir", str(tmp_path / "run")]
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")
    proc = _spawn.run([sys.executable, "-c", MIRRORED_SCRIPT, *args], cwd=ROOT, env=env,
                      capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    # the recipe's options under two CPU replicas
    line = [l for l in proc.stdout.splitlines() if l.startswith("RECIPE ")][-1]
    result = json.loads(line[len("RECIPE "):])
    assert result == {"replicas": 2, "differs": True, "finite": True, "grids": 2}
    # the GAN's own training
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
    result = json.loads(line[len("RESULT "):])
    assert result["replicas"] == 2
    assert result["mirrored"] == ["MirroredVariable"]  # weights and optimizer state mirrored
    assert sorted(result["logs"]) == ["d_g_z", "d_loss", "d_x", "g_loss"]
    assert all(np.isfinite(v) for v in result["logs"].values())
    # two replicas of 4 images each -> d_loss near 2 log 2 at the start, not doubled
    assert 0.5 < result["logs"]["d_loss"] < 2.5
    assert result["all_changed"] and result["finite"]
    assert result["iterations"] == [4, 4]
    # one replica against two, by DCGAN.fit and by the trainer's step: the same weights and logs
    line = [l for l in proc.stdout.splitlines() if l.startswith("EQUAL ")][-1]
    for kind, run in json.loads(line[len("EQUAL "):]).items():
        assert run["moved"] > 1e-2, (kind, run)  # two SGD steps moved the weights
        assert run["weights_diff"] < 1e-4 * run["moved"], (kind, run)  # seen: 2e-6 against 1
        assert sorted(run["logs_one"]) == sorted(run["logs_two"]), kind
        for k, v in run["logs_one"].items():
            assert abs(v - run["logs_two"][k]) <= 1e-5 * max(1.0, abs(v)), (kind, k, run)


# ---------------------------------------------------------------- monitors and sampling


class _Collapse(keras.callbacks.Callback):
    """Sabotage: at the end of epoch `at` make the generator ignore z (a crafted collapse)."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at:
            k = self.model.generator.get_layer("project").kernel
            k.assign(np.zeros(k.shape, "float32"))


def test_monitor_flags_collapse_stops_and_keeps_last_good(tmp_path):
    gan = _tiny_gan()
    gan.compile()
    path = str(tmp_path / "last_good.keras")
    monitor = GANMonitor(path, num_samples=16, action="stop", restore_on_stop=True, verbose=0)
    hist = gan.fit(_images(), batch_size=8, epochs=5, verbose=0,
                   callbacks=[_Collapse(at=1), monitor])
    assert len(hist.history["d_loss"]) == 2  # stopped at the end of epoch 2
    assert [e["kind"] for e in monitor.events] == ["mode_collapse"]
    assert monitor.events[0]["epoch"] == 2 and monitor.diversity_history[-1] < 1e-5
    assert monitor.last_good == {"epoch": 1, "batch": None}
    assert sorted(os.listdir(tmp_path)) == ["last_good.keras"]  # no temporary file left
    good = keras.saving.load_model(path)
    assert np.abs(np.asarray(good.generator.get_layer("project").kernel)).max() > 0
    assert int(good.d_optimizer.iterations) == 4  # saved after epoch 1
    # restored into the running model: its samples are diverse again
    restored = np.asarray(gan.generator.get_layer("project").kernel)
    np.testing.assert_array_equal(restored, np.asarray(good.generator.get_layer("project").kernel))
    assert monitor.diversity() > 0.5 * monitor.reference


def test_monitor_flags_a_winning_discriminator_and_warns(tmp_path):
    gan = _tiny_gan()
    gan.compile()
    path = str(tmp_path / "last_good.weights.h5")
    # a threshold above any reachable loss crafts "D wins" at every check
    monitor = GANMonitor(path, d_loss_threshold=100.0, num_samples=8, action="warn", verbose=0)
    with pytest.warns(RuntimeWarning, match="discriminator_wins"):
        hist = gan.fit(_images(16), batch_size=8, epochs=2, verbose=0, callbacks=[monitor])
    assert len(hist.history["d_loss"]) == 2  # warned, did not stop
    assert [e["kind"] for e in monitor.events] == ["discriminator_wins"] * 2
    assert not os.path.exists(path)  # never a good check, so no checkpoint


def test_monitor_checkpoints_every_good_check(tmp_path):
    gan = _tiny_gan()
    gan.compile()
    path = str(tmp_path / "ckpt.weights.h5")
    monitor = GANMonitor(path, num_samples=8, check_every_batches=2, verbose=0)
    gan.fit(_images(32), batch_size=8, epochs=1, verbose=0, callbacks=[monitor])
    assert monitor.events == []
    assert len(monitor.diversity_history) == 3  # batches 2 and 4, and the epoch end
    assert monitor.last_good == {"epoch": 1, "batch": None}
    fresh = _tiny_gan()
    fresh.load_weights(path)
    for a, b in zip(gan.weights, fresh.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_monitor_argument_errors():
    with pytest.raises(ValueError, match="action"):
        GANMonitor(action="explode")
    with pytest.raises(ValueError, match="checkpoint_path"):
        GANMonitor("model.h5")
    with pytest.raises(ValueError, match="collapse_ratio"):
        GANMonitor(collapse_ratio=2)


def test_sample_grid_writes_png_per_epoch(tmp_path):
    gan = _tiny_gan(side=8, channels=3)
    gan.compile()
    grid_cb = SampleGrid(str(tmp_path / "samples"), num_samples=6, seed=1, rows=2)
    gan.fit(_images(16, side=8, channels=3), batch_size=8, epochs=2, verbose=0,
            callbacks=[grid_cb])
    assert [os.path.basename(p) for p in grid_cb.paths] == ["epoch_0001.png", "epoch_0002.png"]
    png = np.asarray(keras.utils.load_img(grid_cb.paths[-1]))
    assert png.shape == (2 * 10 + 2, 3 * 10 + 2, 3)  # 2 rows x 3 cols of 8x8 tiles, padding 2
    expected = image_grid(gan.generator.predict(sample_latents(1, 6, 8), verbose=0), rows=2)
    np.testing.assert_array_equal(png, expected)
    with open(grid_cb.paths[0], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_image_grid_layout():
    images = np.stack([np.full((2, 3, 1), i, "uint8") for i in range(5)])
    grid = image_grid(images, rows=2, padding=1, pad_value=9)
    assert grid.shape == (2 * 3 + 1, 3 * 4 + 1, 1)
    assert grid[1, 1, 0] == 0 and grid[1, 5, 0] == 1 and grid[4, 1, 0] == 3
    assert grid[4, 9, 0] == 9  # the empty 6th cell is padding
    assert grid[0, :, 0].tolist() == [9] * 13


def test_save_image_grid_grayscale(tmp_path):
    path = save_image_grid(np.linspace(-1, 1, 4 * 4 * 4).reshape(4, 4, 4, 1), tmp_path / "g.png",
                           padding=0)
    png = keras.utils.img_to_array(keras.utils.load_img(path, color_mode="grayscale"))
    assert png.shape == (8, 8, 1) and png.min() == 0 and png.max() == 255


def test_sample_latents():
    z = sample_latents(seed=5, count=1000, latent_dim=100)
    assert z.shape == (1000, 100) and z.dtype == np.float32
    assert z.min() >= -1 and z.max() <= 1
    assert abs(z.mean()) < 0.01 and abs(z.var() - 1 / 3) < 0.01  # U(-1, 1): variance 1/3
    np.testing.assert_array_equal(z, sample_latents(seed=5, count=1000, latent_dim=100))
    assert not np.array_equal(z, sample_latents(seed=6, count=1000, latent_dim=100))
    with pytest.raises(ValueError, match="count"):
        sample_latents(0, 0, 10)
    with pytest.raises(ValueError, match="distribution"):
        sample_latents(0, 1, 10, distribution="gamma")


@pytest.mark.parametrize("method", ["linear", "slerp"])
def test_interpolation_endpoints(method):
    a, b = sample_latents(3, 2, 100)
    path = interpolate_latents(a, b, steps=7, method=method)
    assert path.shape == (7, 100)
    np.testing.assert_array_equal(path[0], a)
    np.testing.assert_array_equal(path[-1], b)


def test_interpolation_formulas():
    a, b = sample_latents(4, 2, 100)
    lin = interpolate_latents(a, b, steps=5, method="linear")
    np.testing.assert_allclose(lin[2], (a + b) / 2, atol=1e-6)
    # slerp of two orthonormal vectors walks the unit circle
    e0, e1 = np.eye(2, dtype="float32")
    arc = interpolate_latents(e0, e1, steps=5, method="slerp")
    theta = np.linspace(0, np.pi / 2, 5)
    np.testing.assert_allclose(arc, np.stack([np.cos(theta), np.sin(theta)], 1), atol=1e-6)
    # equal norms are kept all along the arc (linear shrinks them)
    b_scaled = b * (np.linalg.norm(a) / np.linalg.norm(b))
    sl = interpolate_latents(a, b_scaled, steps=9, method="slerp")
    np.testing.assert_allclose(np.linalg.norm(sl, axis=1), np.linalg.norm(a), rtol=1e-5)
    assert np.linalg.norm((a + b_scaled) / 2) < 0.95 * np.linalg.norm(a)
    # parallel vectors fall back to the straight line
    np.testing.assert_allclose(slerp(a, 2 * a, [0.5])[0], 1.5 * a, rtol=1e-6)
    with pytest.raises(ValueError, match="steps"):
        interpolate_latents(a, b, steps=1)


def test_mean_pairwise_distance():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 4, 4, 1))
    flat = x.reshape(6, -1)
    ref = np.mean([np.linalg.norm(flat[i] - flat[j]) for i in range(6) for j in range(i + 1, 6)])
    assert mean_pairwise_distance(x) == pytest.approx(ref, rel=1e-9)
    assert mean_pairwise_distance(np.ones((5, 3))) == pytest.approx(0.0, abs=1e-6)


# ---------------------------------------------------------------- serving


def test_to_uint8_layer_values():
    x = np.array([[-2.0, -1.0, -0.5, 0.0, 0.999, 1.0, 3.0]], "float32")
    out = ToUint8Image()(x)
    assert keras.backend.standardize_dtype(out.dtype) == "uint8"
    # round((x + 1) * 127.5) half up, clipped
    assert np.asarray(out).tolist() == [[0, 0, 64, 128, 255, 255, 255]]
    np.testing.assert_array_equal(np.asarray(out), to_uint8(x))
    with pytest.raises(ValueError, match="high"):
        ToUint8Image(low=1.0, high=0.0)


def test_serving_generator_uint8():
    g = zoo.dcgan_generator(latent_dim=8, image_shape=(16, 16, 3), base_filters=4)
    out = g.get_layer("deconv2")
    # the untrained generator's inference output is ~0: spread it over [-1, 1]
    out.kernel.assign(np.asarray(out.kernel) * 1e4)
    served = serving_generator(g)
    z = sample_latents(0, 4, 8)
    pixels = served.predict(z, verbose=0)
    assert pixels.dtype == np.uint8 and pixels.shape == (4, 16, 16, 3)
    assert pixels.min() == 0 and pixels.max() == 255
    assert 0.5 < np.mean((pixels > 0) & (pixels < 255))
    np.testing.assert_array_equal(pixels, to_uint8(g.predict(z, verbose=0)))
    again = run_keras_file_round_trip(served, z, atol=0)
    np.testing.assert_array_equal(again.predict(z, verbose=0), pixels)


@pytest.mark.slow
def test_generator_export_endpoints(tmp_path):
    """The image_generation task's export: `serving_default` is `serving_generator(g)` on the
    given latents; `generate_from_seed` gives `count` uint8 images, the same for the same seed."""
    import tensorflow as tf

    from zoo.export import export_model

    g = zoo.dcgan_generator(latent_dim=8, image_shape=(8, 8, 1), base_filters=2)
    served = serving_generator(g)
    path = export_model(g, "tiny_generator", task="image_generation",
                        export_dir=str(tmp_path), write_config=False)
    with open(os.path.join(path, "assets.extra", "signatures.json")) as f:
        assert set(json.load(f)["signatures"]) == {"serving_default", "generate_from_seed"}
    reloaded = tf.saved_model.load(path)
    z = sample_latents(0, 3, 8)
    np.testing.assert_array_equal(
        reloaded.signatures["serving_default"](latents=tf.constant(z))["images"].numpy(),
        served.predict(z, verbose=0))

    def from_seed(seed):
        return reloaded.signatures["generate_from_seed"](
            seed=tf.constant(seed, tf.int64), count=tf.constant(5, tf.int32))["images"].numpy()

    a, b, c = from_seed(7), from_seed(7), from_seed(8)
    assert a.dtype == np.uint8 and a.shape == (5, 8, 8, 1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


# ------------------------------------------- recipe options (zoo.tasks.image_generation)


def test_diff_augment_translation_moves_each_image_within_an_eighth():
    import tensorflow as tf

    x = -np.ones((64, 16, 16, 1), "float32")
    x[:, 8, 8, 0] = 1.0  # one bright pixel on the background
    tf.random.set_seed(0)
    out = diff_augment(tf.constant(x), ["translation"]).numpy()
    assert out.shape == x.shape
    for img in out:
        (ys, xs) = np.nonzero(img[..., 0] > 0)
        assert len(ys) == 1 and abs(ys[0] - 8) <= 2 and abs(xs[0] - 8) <= 2
        assert np.all(img[img < 0.5] == -1.0)  # filled with the background
    assert len({tuple(np.argwhere(img[..., 0] > 0)[0]) for img in out}) > 5  # per-image shifts


def test_diff_augment_cutout_and_gradient():
    import tensorflow as tf

    x = tf.ones((8, 16, 16, 3))
    out = diff_augment(x, ["cutout"]).numpy()
    np.testing.assert_array_equal((out[..., 0] == -1.0).sum(axis=(1, 2)), [64] * 8)  # 8x8
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(diff_augment(x, ["translation", "cutout"]))
    grad = tape.gradient(y, x).numpy()
    assert set(np.unique(grad)) <= {0.0, 1.0} and grad.sum() > 0  # differentiable, for G


def test_ema_update_follows_the_documented_decay():
    import tensorflow as tf

    g = zoo.dcgan_generator(latent_dim=4, image_shape=(8, 8, 1), base_filters=2)
    d = zoo.dcgan_discriminator(image_shape=(8, 8, 1), base_filters=2)
    pair = GANPair(g, d, ema=True)
    assert pair.sampler is pair.ema_generator
    for w, e in zip(g.weights, pair.ema_generator.weights):
        np.testing.assert_array_equal(np.asarray(w), np.asarray(e))
    old = [np.asarray(w).copy() for w in g.weights]
    new = [o + 1.0 for o in old]
    for w, v in zip(g.weights, new):
        w.assign(v)
    task = ImageGeneration(ema_decay=0.9)

    def ema(updates):
        update_ema(pair.ema_generator, pair.generator, task.ema_decay, tf.constant(updates, tf.int64))

    ema(1000)  # min(0.9, 1001/1010) = 0.9
    for e, o, v in zip(pair.ema_generator.weights, old, new):
        np.testing.assert_allclose(np.asarray(e), 0.9 * o + 0.1 * v, rtol=1e-6, atol=1e-6)
    ema(0)  # min(0.9, 1/10) = 0.1
    for e, o, v in zip(pair.ema_generator.weights, old, new):
        np.testing.assert_allclose(np.asarray(e), 0.1 * (0.9 * o + 0.1 * v) + 0.9 * v,
                                   rtol=1e-5, atol=1e-5)


def test_two_time_scale_learning_rates_and_beta_2():
    def make_optimizer(schedule=False):
        lr = 1e-4
        if schedule:
            lr = keras.optimizers.schedules.CosineDecay(1e-4, decay_steps=100)
        return keras.optimizers.Adam(learning_rate=lr, beta_1=0.5)

    opts = ImageGeneration(d_lr_ratio=4.0, beta_2=0.99).build_optimizers(None, make_optimizer)
    assert np.isclose(float(opts["d_optimizer"].learning_rate), 4e-4)
    assert np.isclose(float(opts["g_optimizer"].learning_rate), 1e-4)
    assert opts["d_optimizer"].beta_2 == opts["g_optimizer"].beta_2 == 0.99
    opts = ImageGeneration(d_lr_ratio=4.0).build_optimizers(None, lambda: make_optimizer(True))
    for opt in opts.values():
        opt.iterations.assign(50)  # cosine at half way: half the peak
    assert np.isclose(float(opts["d_optimizer"].learning_rate), 2e-4)
    assert np.isclose(float(opts["g_optimizer"].learning_rate), 0.5e-4)
    assert opts["g_optimizer"].beta_2 == 0.999  # Adam's (and the paper's) default


def test_recipe_rejects_bad_optimizer_options():
    for flags, arg in ((["--d-lr-ratio", "0"], "d_lr_ratio=0.0"), (["--beta-2", "1"], "beta_2=1.0"),
                       (["--r1-gamma", "-1"], "r1_gamma=-1.0"), (["--g-steps", "0"], "g_steps=0")):
        args = recipe.build_parser("dcgan_generator_28").parse_args(flags)
        with pytest.raises(ValueError, match=arg):
            ImageGeneration.from_args(args)


def test_recipe_image_shape_is_the_variants_and_a_wrong_one_is_named():
    """Each registered variant has a fixed side: `--image-size` defaults to it, and another value
    (or a discriminator of another side) is refused before anything is built or trained."""
    def shape(name, *flags):
        args = recipe.build_parser(name).parse_args(list(flags))
        gen, disc = ImageGeneration.from_args(args).pair_specs(zoo.get_spec(name), args)
        return image_shape_of(gen, disc, args.image_size, args.channels)

    assert shape("dcgan_generator_28") == (28, 28, 1)
    assert shape("dcgan_generator_32") == (32, 32, 3)
    assert shape("dcgan_generator_64", "--dataset", "celeb_a") == (64, 64, 3)
    assert shape("dcgan_generator_32", "--image-size", "32", "--channels", "1") == (32, 32, 1)
    with pytest.raises(ValueError, match=r"`--image-size` must be 32 .*image_size=16"):
        shape("dcgan_generator_32", "--image-size", "16")
    with pytest.raises(ValueError, match="makes 32x32 images but the discriminator"):
        shape("dcgan_generator_32", "--discriminator", "dcgan_discriminator_28")
    with pytest.raises(ValueError, match="channels=0"):
        shape("dcgan_generator_32", "--channels", "0")


def test_32_builders_take_channels():
    g = zoo.dcgan_generator_32(base_filters=4, channels=1)
    d = zoo.dcgan_discriminator_32(base_filters=4, channels=1)
    assert g.output.shape == (None, 32, 32, 1) and d.input.shape == (None, 32, 32, 1)
    assert g.count_params() == generator_params(100, 4, [16, 8, 4], 1, 5)
    assert d.count_params() == discriminator_params(1, [4, 8, 16], 4, 5)


def _one_step(task, seed=0):
    """One `task.train_step` on a tiny pair; returns the pair, its optimizers and the stats."""
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    pair = GANPair(zoo.dcgan_generator(latent_dim=4, image_shape=(8, 8, 1), base_filters=2),
                   zoo.dcgan_discriminator(image_shape=(8, 8, 1), base_filters=2))
    opts = task.build_optimizers(pair, lambda: keras.optimizers.SGD(0.1))
    real = tf.constant(np.random.default_rng(seed).uniform(-1, 1, (4, 8, 8, 1)), tf.float32)
    stats = task.train_step(pair, opts, real, 4.0, 1)
    return pair, opts, real, stats


def test_r1_penalty_is_half_gamma_times_squared_input_gradient():
    import tensorflow as tf

    gamma = 1000.0  # a penalty well above the float32 rounding of the summed losses
    _, _, real, stats = _one_step(ImageGeneration(r1_gamma=gamma))
    _, _, _, base = _one_step(ImageGeneration())
    # Same seed, same weights and fakes: D's summed loss differs by the penalty at the start.
    keras.utils.set_random_seed(0)
    zoo.dcgan_generator(latent_dim=4, image_shape=(8, 8, 1), base_filters=2)  # same draws
    d0 = zoo.dcgan_discriminator(image_shape=(8, 8, 1), base_filters=2)
    with tf.GradientTape() as tape:
        tape.watch(real)
        total = tf.reduce_sum(d0(real, training=True))
    slopes = tape.gradient(total, real)
    penalty = 0.5 * gamma * float(tf.reduce_sum(tf.square(slopes)))
    assert penalty > 0
    np.testing.assert_allclose(float(stats["d_loss_sum"]) - float(base["d_loss_sum"]), penalty,
                               rtol=1e-3)
    assert np.isfinite([float(v) for v in stats.values()]).all()


def test_g_steps_updates_the_generator_that_many_times():
    for steps in (1, 3):
        _, opts, _, _ = _one_step(ImageGeneration(g_steps=steps))
        assert int(opts["g_optimizer"].iterations) == steps
        assert int(opts["d_optimizer"].iterations) == 1
