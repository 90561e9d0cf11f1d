"""DCGAN generator and discriminator (Radford, Metz & Chintala 2015).

The architecture guidelines of the paper (section 3), all followed here:

* no pooling: the generator upsamples with fractionally strided convolutions
  (`Conv2DTranspose`, stride 2), the discriminator downsamples with strided convolutions;
* batch normalisation in both networks, except the generator's output layer and the
  discriminator's input layer;
* no fully connected hidden layers: the generator's first layer projects the latent vector
  `z` (drawn from U(-1, 1)) with one matrix multiplication and reshapes it to a 4x4 (7x7 for
  28x28 images) feature map; the discriminator's last convolution is flattened into one output;
* ReLU in the generator with tanh at the output, LeakyReLU(0.2) in the discriminator;
* every convolution and dense kernel initialised from N(0, 0.02); batch-norm scales from
  N(1, 0.02) as in the authors' code.

For 64x64x3 images the generator's widths are 1024-512-256-128 (figure 1) with 5x5 kernels
(figure 1 and the authors' Theano code); `kernel_size=4` gives the layout of the widely used
dcgan.torch and the PyTorch example. The discriminator mirrors the generator
(128-256-512-1024 for 64x64, the authors' `ndf=128`).

Layers followed by batch normalisation have no bias (it would be cancelled by the norm's
shift); the generator's output convolution, the discriminator's first convolution and its
output unit have one. Batch normalisation uses `momentum=0.9, epsilon=1e-5` (PyTorch's
defaults, which the reference implementations use).

The discriminator returns a logit by default (`output_activation=None`): the paper's sigmoid is
folded into the loss (`zoo.roles.gan_training.DCGAN` uses `from_logits=True`), which is the numerically stable
form of the same objective. Pass `output_activation="sigmoid"` for the literal layer.

Reference:
    Radford, Metz & Chintala 2015, Unsupervised Representation Learning with Deep Convolutional
    Generative Adversarial Networks, arXiv:1511.06434.

Example:
    >>> import zoo
    >>> g = zoo.dcgan_generator_64()
    >>> d = zoo.dcgan_discriminator_64()
    >>> g.output.shape, d.output.shape
    ((None, 64, 64, 3), (None, 1))
"""

from __future__ import annotations

import keras

from zoo.core import weights as _weights
from zoo.core.registry import register_model
from zoo.layers.mixture_latent import MixtureLatent

__all__ = [
    "dcgan_generator",
    "dcgan_discriminator",
    "dcgan_generator_64",
    "dcgan_discriminator_64",
    "dcgan_generator_32",
    "dcgan_discriminator_32",
    "dcgan_generator_28",
    "dcgan_discriminator_28",
]

PAPER = (
    "Radford, Metz & Chintala 2015, Unsupervised Representation Learning with Deep "
    "Convolutional GANs, arXiv:1511.06434"
)
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
INIT_STDDEV = 0.02
MIN_START_SIDE = 4


def _kernel_init():
    return keras.initializers.RandomNormal(mean=0.0, stddev=INIT_STDDEV)


def _batch_norm(name):
    return keras.layers.BatchNormalization(
        momentum=BN_MOMENTUM,
        epsilon=BN_EPSILON,
        gamma_initializer=keras.initializers.RandomNormal(mean=1.0, stddev=INIT_STDDEV),
        name=name,
    )


def _positive_int(value, arg):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{arg}` must be a positive integer. Received: {arg}={value!r}")


def _check_image_shape(image_shape):
    try:
        shape = tuple(image_shape)
    except TypeError:
        shape = None
    if (
        shape is None
        or len(shape) != 3
        or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape)
    ):
        raise ValueError(
            "`image_shape` must be a tuple of 3 positive integers (height, width, channels). "
            f"Received: image_shape={image_shape!r}"
        )
    if keras.config.image_data_format() != "channels_last":
        raise ValueError(
            "DCGAN builders support image_data_format='channels_last' only. Received: "
            f"keras.config.image_data_format()={keras.config.image_data_format()!r}"
        )
    return shape


def _num_stages(image_shape, stages, arg):
    """Number of stride-2 stages: the image sides are `start * 2**stages`."""
    h, w, _ = image_shape
    if stages is None:
        stages = 0
        while h % 2 == 0 and w % 2 == 0 and min(h, w) // 2 >= MIN_START_SIDE:
            h, w, stages = h // 2, w // 2, stages + 1
        if stages == 0:
            raise ValueError(
                "The image sides must be s * 2**k with k >= 1 and s >= "
                f"{MIN_START_SIDE} (e.g. 64 = 4 * 2**4, 28 = 7 * 2**2). "
                f"Received: image_shape={tuple(image_shape)}"
            )
        return stages
    _positive_int(stages, arg)
    factor = 2**stages
    if h % factor or w % factor:
        raise ValueError(
            f"The image sides must be divisible by 2**{arg}={factor}. "
            f"Received: image_shape={tuple(image_shape)}, {arg}={stages}"
        )
    return stages


def _check_common(image_shape, base_filters, kernel_size, stages, stages_arg):
    image_shape = _check_image_shape(image_shape)
    _positive_int(base_filters, "base_filters")
    _positive_int(kernel_size, "kernel_size")
    stages = _num_stages(image_shape, stages, stages_arg)
    return image_shape, stages


def _finish(model, weights, model_name):
    if weights is not None:
        _weights.load_weights(model, weights, model_name=model_name)
    return model


# Long only by its docstring (every argument documented); the code is 48 lines.
def dcgan_generator(
    latent_dim=100,
    image_shape=(64, 64, 3),
    base_filters=128,
    kernel_size=5,
    num_upsamplings=None,
    latent_components=0,
    latent_scale=1.0,
    weights=None,
    name="dcgan_generator",
):
    """The DCGAN generator: project and reshape `z`, then stride-2 transposed convolutions.

    The latent vector is projected to a `start x start x base_filters * 2**(k-1)` map
    (`start = side / 2**k`), then `k - 1` fractionally strided convolutions halve the width and
    double the side (each followed by batch normalisation and ReLU), and a last one maps to the
    image channels with tanh. For the defaults (64x64x3, `base_filters=128`, k=4) the maps are
    4x4x1024, 8x8x512, 16x16x256, 32x32x128 and 64x64x3, the paper's figure 1.

    Args:
        latent_dim: size of `z` (100 in the paper).
        image_shape: `(height, width, channels)` of the generated images; the sides must be
            `start * 2**k` with `start >= 4` (64 = 4 * 2**4, 32 = 4 * 2**3, 28 = 7 * 2**2).
        base_filters: width of the last hidden layer (128 in figure 1); the projection has
            `base_filters * 2**(k-1)` channels.
        kernel_size: side of the transposed-convolution kernels: 5 as in the paper and the
            authors' code, 4 as in dcgan.torch.
        num_upsamplings: `k`, the number of stride-2 upsamplings; by default the largest that
            leaves a start side of at least 4.
        latent_components: 0 (the paper) feeds `z` to the projection; `K > 0` first maps it
            through `zoo.layers.MixtureLatent(K, latent_scale)`, a learned mixture of `K`
            components (DeLiGAN, Gurumurthy et al. 2017) picked by `z[:, 0]`, for small
            multimodal datasets (the embedded digits, docs/dcgan.md). The input stays
            `z ~ U(-1, 1)`.
        latent_scale: the fixed spread of each mixture component (with `latent_components`).
        weights: `None` or the path to a `.weights.h5` file of this architecture.
        name: the model's name.

    Returns:
        A `keras.Model` mapping `(batch, latent_dim)` latent vectors to `(batch, *image_shape)`
        images in [-1, 1].

    Reference:
        Radford, Metz & Chintala 2015, Unsupervised Representation Learning with Deep
        Convolutional Generative Adversarial Networks, arXiv:1511.06434, figure 1.

    Example:
        >>> import zoo
        >>> from zoo.models.dcgan_sampling import sample_latents
        >>> g = zoo.dcgan_generator(latent_dim=16, image_shape=(32, 32, 3), base_filters=8)
        >>> z = sample_latents(seed=0, count=2, latent_dim=16)
        >>> g.predict(z, verbose=0).shape
        (2, 32, 32, 3)
    """
    _positive_int(latent_dim, "latent_dim")
    image_shape, k = _check_common(
        image_shape, base_filters, kernel_size, num_upsamplings, "num_upsamplings"
    )
    _weights.validate_weights_arg(name, weights, include_top=True)
    h, w, channels = image_shape
    sh, sw = h // 2**k, w // 2**k
    width = base_filters * 2 ** (k - 1)

    if latent_components != 0:
        _positive_int(latent_components, "latent_components")
        if isinstance(latent_scale, bool) or not isinstance(latent_scale, (int, float)) or not (
                latent_scale > 0):
            raise ValueError(
                f"`latent_scale` must be a positive number. Received: latent_scale={latent_scale!r}")

    z = keras.Input(shape=(latent_dim,), name="latent")
    x = z
    if latent_components:
        x = MixtureLatent(latent_components, latent_scale, name="latent_mixture")(x)
    x = keras.layers.Dense(
        sh * sw * width, use_bias=False, kernel_initializer=_kernel_init(), name="project"
    )(x)
    x = keras.layers.Reshape((sh, sw, width), name="project_reshape")(x)
    x = _batch_norm("project_bn")(x)
    x = keras.layers.ReLU(name="project_relu")(x)
    for i in range(1, k):
        width //= 2
        x = keras.layers.Conv2DTranspose(width, kernel_size, strides=2, padding="same",
                                         use_bias=False, kernel_initializer=_kernel_init(),
                                         name=f"deconv{i}")(x)
        x = _batch_norm(f"deconv{i}_bn")(x)
        x = keras.layers.ReLU(name=f"deconv{i}_relu")(x)
    x = keras.layers.Conv2DTranspose(channels, kernel_size, strides=2, padding="same",
                                     kernel_initializer=_kernel_init(), name=f"deconv{k}")(x)
    images = keras.layers.Activation("tanh", name="tanh")(x)
    return _finish(keras.Model(z, images, name=name), weights, name)


# Long only by its docstring (every argument documented); the code is 49 lines.
def dcgan_discriminator(
    image_shape=(64, 64, 3),
    base_filters=128,
    kernel_size=5,
    num_downsamplings=None,
    leaky_relu_slope=0.2,
    output_activation=None,
    weights=None,
    name="dcgan_discriminator",
):
    """The DCGAN discriminator: stride-2 convolutions with LeakyReLU, flattened into one output.

    `k` strided convolutions double the width (from `base_filters`) and halve the side; all but
    the first are batch normalised; the last map is flattened into a single unit. For the
    defaults (64x64x3, `base_filters=128`) the maps are 32x32x128, 16x16x256, 8x8x512 and
    4x4x1024.

    Args:
        image_shape: `(height, width, channels)` of the images; sides `start * 2**k`,
            `start >= 4`.
        base_filters: width of the first convolution (128 in the authors' code, 64 in
            dcgan.torch).
        kernel_size: side of the kernels (5 as in the authors' code, 4 as in dcgan.torch).
        num_downsamplings: `k`; by default the largest that leaves a side of at least 4.
        leaky_relu_slope: slope of LeakyReLU for negative inputs (0.2 in the paper).
        output_activation: `None` (a logit, the default; pair with `from_logits=True`) or
            `"sigmoid"` (the paper's literal output).
        weights: `None` or the path to a `.weights.h5` file of this architecture.
        name: the model's name.

    Returns:
        A `keras.Model` mapping images in [-1, 1] to `(batch, 1)` scores.

    Reference:
        Radford, Metz & Chintala 2015, Unsupervised Representation Learning with Deep
        Convolutional Generative Adversarial Networks, arXiv:1511.06434, section 3.

    Example:
        >>> import numpy as np, zoo
        >>> d = zoo.dcgan_discriminator(image_shape=(28, 28, 1), base_filters=8)
        >>> d.predict(np.zeros((2, 28, 28, 1)), verbose=0).shape
        (2, 1)
    """
    image_shape, k = _check_common(
        image_shape, base_filters, kernel_size, num_downsamplings, "num_downsamplings"
    )
    if (
        isinstance(leaky_relu_slope, bool)
        or not isinstance(leaky_relu_slope, (int, float))
        or not 0 <= leaky_relu_slope < 1
    ):
        raise ValueError(
            "`leaky_relu_slope` must be a number in [0, 1). "
            f"Received: leaky_relu_slope={leaky_relu_slope!r}"
        )
    if output_activation not in (None, "sigmoid"):
        raise ValueError(
            "`output_activation` must be None (logits) or 'sigmoid'. "
            f"Received: output_activation={output_activation!r}"
        )
    _weights.validate_weights_arg(name, weights, include_top=True)

    images = keras.Input(shape=image_shape, name="images")
    x = images
    for i in range(1, k + 1):
        x = keras.layers.Conv2D(
            base_filters * 2 ** (i - 1),
            kernel_size,
            strides=2,
            padding="same",
            use_bias=(i == 1),
            kernel_initializer=_kernel_init(),
            name=f"conv{i}",
        )(x)
        if i > 1:
            x = _batch_norm(f"conv{i}_bn")(x)
        x = keras.layers.LeakyReLU(negative_slope=leaky_relu_slope, name=f"conv{i}_lrelu")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    score = keras.layers.Dense(
        1, activation=output_activation, kernel_initializer=_kernel_init(), name="score"
    )(x)
    return _finish(keras.Model(images, score, name=name), weights, name)


def dcgan_search_space(base_filters, generator):
    """Search space of a DCGAN network (`zoo.core.spaces` convention), after Radford et al. 2015
    section 4: Adam at 2e-4 (0.001 was too high) with beta_1 0.5 (0.9 oscillated), batch 128;
    here also 1e-4, beta_1 0.9 and batch 64 for comparison, the width (`base_filters`, the
    variant's or half), the kernel (5 as the paper, or 4) and, for generators, the latent size
    (100 as the paper, 64 or 128). Trials train the generator and discriminator together and
    are scored by `frechet` (lower is better, `zoo.tuning.frechet_pixels`)."""
    def space(hp):
        out = {"optimizer": "adam", "learning_rate": hp.Choice("learning_rate", [2e-4, 1e-4]),
               "beta_1": hp.Choice("beta_1", [0.5, 0.9]),
               "batch_size": hp.Choice("batch_size", [128, 64]),
               "base_filters": hp.Choice("base_filters", [base_filters, base_filters // 2]),
               "kernel_size": hp.Choice("kernel_size", [5, 4])}
        if generator:
            out["latent_dim"] = hp.Choice("latent_dim", [100, 64, 128])
        return out

    return space


_SMALL = {"generator": {"latent_dim": 8, "base_filters": 4}, "discriminator": {"base_filters": 4}}


def _card(kind, size, base_filters, description):
    """What the card of the `kind` network for `size`-pixel images registers beside the builder;
    its partner is the other network of the same size (the one it is trained with)."""
    generator = kind == "generator"
    channels = 1 if size == 28 else 3
    return dict(
        family="dcgan", task="image_generation" if generator else "image_discrimination",
        paper=PAPER, input_shape=(100,) if generator else (size, size, channels),
        test_overrides=dict(_SMALL[kind]), description=description,
        partner=f"dcgan_{'discriminator' if generator else 'generator'}_{size}",
        search_space=dcgan_search_space(base_filters, generator),
    )


def _images(shape):
    """Decorator: the images' default shape on the builder (`fn.image_shape`, the recipes read
    it)."""
    def mark(fn):
        fn.image_shape = shape
        return fn

    return mark


# --- registered variants: 64x64x3 (the paper's LSUN/faces/ImageNet-1k), 32x32x3, 28x28x1 ---
# Each is `dcgan_generator` / `dcgan_discriminator` at a fixed image shape; `channels` sets the
# images' channels (1 for greyscale data such as digits, 3 for colour).

@register_model(**_card("generator", 64, 128, "DCGAN generator, 64x64x3 (paper figure 1: 1024-512-256-128)"))
@_images((64, 64, 3))
def dcgan_generator_64(latent_dim=100, base_filters=128, kernel_size=5, weights=None,
                       name="dcgan_generator_64", channels=3, latent_components=0, latent_scale=1.0):
    """DCGAN generator for 64x64x3 images: z(100) -> 4x4x1024 -> 512 -> 256 -> 128 -> 64x64x3.

    See `dcgan_generator` for the arguments; `channels` (default 3) sets the images' channels.

    Reference:
        Radford, Metz & Chintala 2015, arXiv:1511.06434, figure 1.

    Example:
        >>> import zoo
        >>> zoo.dcgan_generator_64().output.shape
        (None, 64, 64, 3)
    """
    return dcgan_generator(latent_dim=latent_dim, image_shape=(64, 64, channels),
                           base_filters=base_filters, kernel_size=kernel_size,
                           latent_components=latent_components, latent_scale=latent_scale,
                           weights=weights, name=name)


@register_model(**_card("discriminator", 64, 128, "DCGAN discriminator, 64x64x3 (128-256-512-1024)"))
@_images((64, 64, 3))
def dcgan_discriminator_64(base_filters=128, kernel_size=5, output_activation=None, weights=None,
                           name="dcgan_discriminator_64", channels=3):
    """DCGAN discriminator for 64x64x3 images: 128 -> 256 -> 512 -> 1024 (4x4) -> 1.

    See `dcgan_discriminator` for the arguments; `channels` (default 3) sets the images' channels.

    Reference:
        Radford, Metz & Chintala 2015, arXiv:1511.06434, section 3.

    Example:
        >>> import zoo
        >>> zoo.dcgan_discriminator_64().output.shape
        (None, 1)
    """
    return dcgan_discriminator(image_shape=(64, 64, channels), base_filters=base_filters,
                               kernel_size=kernel_size, output_activation=output_activation,
                               weights=weights, name=name)


@register_model(**_card("generator", 32, 128, "DCGAN generator, 32x32x3 (512-256-128)"))
@_images((32, 32, 3))
def dcgan_generator_32(latent_dim=100, base_filters=128, kernel_size=5, weights=None,
                       name="dcgan_generator_32", channels=3, latent_components=0, latent_scale=1.0):
    """DCGAN generator for 32x32x3 images: z(100) -> 4x4x512 -> 256 -> 128 -> 32x32x3.

    See `dcgan_generator` for the arguments; `channels` (default 3) sets the images' channels.

    Reference:
        Radford, Metz & Chintala 2015, arXiv:1511.06434 (figure 1, one stage fewer).

    Example:
        >>> import zoo
        >>> zoo.dcgan_generator_32().output.shape
        (None, 32, 32, 3)
    """
    return dcgan_generator(latent_dim=latent_dim, image_shape=(32, 32, channels),
                           base_filters=base_filters, kernel_size=kernel_size,
                           latent_components=latent_components, latent_scale=latent_scale,
                           weights=weights, name=name)


@register_model(**_card("discriminator", 32, 128, "DCGAN discriminator, 32x32x3 (128-256-512)"))
@_images((32, 32, 3))
def dcgan_discriminator_32(base_filters=128, kernel_size=5, output_activation=None, weights=None,
                           name="dcgan_discriminator_32", channels=3):
    """DCGAN discriminator for 32x32x3 images: 128 -> 256 -> 512 (4x4) -> 1.

    See `dcgan_discriminator` for the arguments; `channels` (default 3) sets the images' channels.

    Reference:
        Radford, Metz & Chintala 2015, arXiv:1511.06434, section 3.

    Example:
        >>> import zoo
        >>> zoo.dcgan_discriminator_32().output.shape
        (None, 1)
    """
    return dcgan_discriminator(image_shape=(32, 32, channels), base_filters=base_filters,
                               kernel_size=kernel_size, output_activation=output_activation,
                               weights=weights, name=name)


@register_model(**_card("generator", 28, 64, "DCGAN generator, 28x28x1 MNIST-like (7x7x128-64)"))
@_images((28, 28, 1))
def dcgan_generator_28(latent_dim=100, base_filters=64, kernel_size=5, weights=None,
                       name="dcgan_generator_28", channels=1, latent_components=0, latent_scale=1.0):
    """DCGAN generator for 28x28x1 (MNIST-like) images: z(100) -> 7x7x128 -> 14x14x64 -> 28x28x1.

    See `dcgan_generator` for the arguments; `channels` (default 1) sets the images' channels.

    Reference:
        Radford, Metz & Chintala 2015, arXiv:1511.06434 (figure 1, two stages from 7x7).

    Example:
        >>> import zoo
        >>> zoo.dcgan_generator_28().output.shape
        (None, 28, 28, 1)
    """
    return dcgan_generator(latent_dim=latent_dim, image_shape=(28, 28, channels),
                           base_filters=base_filters, kernel_size=kernel_size,
                           latent_components=latent_components, latent_scale=latent_scale,
                           weights=weights, name=name)


@register_model(**_card("discriminator", 28, 64, "DCGAN discriminator, 28x28x1 MNIST-like (64-128)"))
@_images((28, 28, 1))
def dcgan_discriminator_28(base_filters=64, kernel_size=5, output_activation=None, weights=None,
                           name="dcgan_discriminator_28", channels=1):
    """DCGAN discriminator for 28x28x1 images: 64 (14x14) -> 128 (7x7) -> 1.

    See `dcgan_discriminator` for the arguments; `channels` (default 1) sets the images' channels.

    Reference:
        Radford, Metz & Chintala 2015, arXiv:1511.06434, section 3.

    Example:
        >>> import zoo
        >>> zoo.dcgan_discriminator_28().output.shape
        (None, 1)
    """
    return dcgan_discriminator(image_shape=(28, 28, channels), base_filters=base_filters,
                               kernel_size=kernel_size, output_activation=output_activation,
                               weights=weights, name=name)
