"""A learned mixture latent for GAN generators on small datasets (DeLiGAN)."""

import keras
from keras import ops

__all__ = ["MixtureLatent"]


@keras.saving.register_keras_serializable(package="zoo")
class MixtureLatent(keras.layers.Layer):
    """Maps `z ~ U(-1, 1)^d` to `mu_k + scale * z`, `k` a component picked by `z[:, 0]`.

    DeLiGAN (Gurumurthy, Sarvadevabhatla & Babu 2017) reparameterises the generator's latent as a
    mixture of `K` components with learned means, so that a generator trained on little, multimodal
    data (ten digit classes, say) can put each component on one mode instead of spreading a single
    connected latent over all of them, whose in-between points give in-between images. Here the
    component is chosen by the first latent coordinate (`k = floor((z_0 + 1) / 2 * K)`, uniform
    over the `K` components when `z_0 ~ U(-1, 1)`), so the generator keeps its input: a plain
    `U(-1, 1)` vector, as in DCGAN, and its exports and `zoo.models.dcgan_sampling.sample_latents` are
unchanged.
    The means `mu` (shape `(K, d)`, initialised from `U(-1, 1)`) are trained with the generator;
    the spread `scale` is fixed, since a learned one shrinks to zero and each component then
    draws one image (DeLiGAN needs a penalty to prevent that).

    Args:
        components: `K`, the number of mixture components (a positive integer).
        scale: the spread of each component around its mean (a positive number).

    Input shape: `(batch, d)`. Output shape: `(batch, d)`.

    Example:
        >>> import numpy as np
        >>> from zoo.layers import MixtureLatent
        >>> layer = MixtureLatent(components=4, scale=0.5)
        >>> z = np.array([[-0.9, 0.2, 0.4], [0.9, 0.2, 0.4]], "float32")
        >>> y = np.asarray(layer(z))
        >>> mu = np.asarray(layer.mu)  # rows 0 and 3: z_0 = -0.9 and 0.9
        >>> bool(np.allclose(y, mu[[0, 3]] + 0.5 * z))
        True
    """

    def __init__(self, components, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(components, bool) or not isinstance(components, int) or components < 1:
            raise ValueError(
                f"`components` must be a positive integer. Received: components={components!r}"
            )
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
            raise ValueError(f"`scale` must be a positive number. Received: scale={scale!r}")
        self.components = components
        self.scale = float(scale)

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim is None:
            raise ValueError(f"The latent size must be known. Received: input_shape={input_shape}")
        self.mu = self.add_weight(
            shape=(self.components, dim),
            initializer=keras.initializers.RandomUniform(-1.0, 1.0),
            name="mu",
        )

    def component(self, z):
        """The component index of each latent vector (int32, in `[0, K)`)."""
        k = ops.floor((ops.cast(z[:, 0], "float32") + 1.0) * (0.5 * self.components))
        return ops.clip(ops.cast(k, "int32"), 0, self.components - 1)

    def call(self, z):
        onehot = ops.one_hot(self.component(z), self.components, dtype=self.mu.dtype)
        return ops.cast(ops.matmul(onehot, self.mu), z.dtype) + self.scale * z

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "components": self.components, "scale": self.scale}
