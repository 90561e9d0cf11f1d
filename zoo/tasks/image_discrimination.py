"""Image discrimination: a DCGAN discriminator, trained against its registered generator.

* Training, data and search: those of `zoo.tasks.image_generation` (the same GAN step on the same
  pair; `zoo train dcgan_discriminator_32` trains the pair and exports the discriminator).
* Serving: `serving_default` (uint8 images of any size) and `classify_float` (float32 pixels),
  resized and scaled to [-1, 1] inside the graph, returning `probabilities` `[N, 1]`, the
  probability that each image is real.

Example:
    >>> from zoo.tasks import task_for
    >>> task_for("dcgan_discriminator_32").name
    'image_discrimination'
"""

from __future__ import annotations

from zoo.tasks.image_classification import image_endpoints
from zoo.tasks.image_generation import ImageGeneration

__all__ = ["ImageDiscrimination", "TASK"]


class ImageDiscrimination(ImageGeneration):
    """See the module docstring."""

    name = "image_discrimination"
    pipeline_preprocessing = "symmetric"

    def pair_specs(self, spec, args):
        gen, disc = super().pair_specs(spec, args)
        return disc, gen  # NAME is the discriminator: its partner is the generator

    def export_model(self, model):
        return getattr(model, "discriminator", model)

    def endpoints(self, model, **opts):
        return image_endpoints(model, opts, with_top_k=False, verb="Score",
                               what="probability that each image is real")


TASK = ImageDiscrimination
