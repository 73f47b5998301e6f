"""Discriminators that judge a colouring together with its lightness.

Both take ``{"l": (B, H, W, 1), "color": (B, H, W, C)}`` (normalised, any H and W divisible
by ``2**layers``): ``l`` is what the generator saw (lightness or line art) and ``color`` the
colouring to judge, ab (C = 2) for gray input or L and ab (C = 3) for line art. They return
one score per sample, ``(B, 1)``: the mean of a patch map, so the
judgement is local (PatchGAN) but the interface is per-sample, which the gradient penalty
needs.
"""
from __future__ import annotations

import keras
from keras import layers

from anime_colorize.models.layers import PACKAGE, conv_block


class _PatchScorer(keras.Model):
    """Shared body: strided 4x4 convs with LeakyReLU, a 1-channel patch map, its mean."""

    norm = "none"
    score_bias = True

    def __init__(self, filters=32, layers_count=3, color_channels=2, **kwargs):
        l_in = keras.Input((None, None, 1), name="l")
        color_in = keras.Input((None, None, color_channels), name="color")
        x = layers.Concatenate(name="pair")([l_in, color_in])
        for i in range(layers_count):
            # The first layer is never normalised (DCGAN): it would erase absolute colour.
            norm = "none" if i == 0 else self.norm
            x = conv_block(x, filters * min(2**i, 8), kernel=4, strides=2, norm=norm,
                           activation="lrelu", name=f"down{i}")
        x = conv_block(x, filters * min(2**layers_count, 8), kernel=3, norm=self.norm,
                       activation="lrelu", name="body")
        # float32 scores under mixed precision: losses and the gradient penalty need the range.
        patches = layers.Conv2D(1, 3, padding="same", use_bias=self.score_bias, dtype="float32",
                                name="patch_scores")(x)
        score = layers.GlobalAveragePooling2D(dtype="float32", name="score")(patches)
        super().__init__(inputs={"l": l_in, "color": color_in}, outputs=score, **kwargs)
        self.filters = filters
        self.layers_count = layers_count
        self.color_channels = color_channels

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "filters": self.filters,
                "layers_count": self.layers_count, "color_channels": self.color_channels}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package=PACKAGE)
class DCGANDiscriminator(_PatchScorer):
    """Batch-normalised discriminator returning logits (B, 1) for a sigmoid cross-entropy."""

    norm = "batch"


@keras.saving.register_keras_serializable(package=PACKAGE)
class WGANCritic(_PatchScorer):
    """Critic without batch normalisation, returning unbounded scores (B, 1).

    Batch norm would couple the samples of a batch, which breaks the per-sample gradient
    penalty of WGAN-GP (Gulrajani et al. 2017, section 4), so the critic has none.
    """

    norm = "none"
    # A constant offset cancels in E[D(fake)] - E[D(real)]: it would never get a gradient.
    score_bias = False
