"""Discriminators that judge a colouring together with its lightness.

All take ``{"l": (B, H, W, 1), "color": (B, H, W, C)}`` (normalised, any H and W divisible
by ``2**layers``): ``l`` is what the generator saw (lightness or line art) and ``color`` the
colouring to judge, ab (C = 2) for gray input or L and ab (C = 3) for line art. All share
one body (strided 4x4 convs with LeakyReLU, then a 1-channel patch map, scores in float32)
and differ in what they return:

``input_pooling`` (1, 2 or 4; default 1) average-pools the pair first: a discriminator at a
lower resolution, with a work that falls with the square of the factor.

* :class:`DCGANDiscriminator`, :class:`WGANCritic`: one score per sample, ``(B, 1)``, the
  mean of the patch map, so the judgement is local (PatchGAN) but the interface is
  per-sample, which the WGAN-GP gradient penalty needs.
* :class:`PatchGANDiscriminator`: the patch map itself, ``(B, H / 2**layers, W / 2**layers, 1)``
  logits, for losses taken on every patch (pix2pix, Isola et al. 2017).
* :class:`MultiScaleDiscriminator`: one patch map per scale plus the intermediate features
  of each scale (pix2pixHD, Wang et al. 2018).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import layers

from anime_colorize.models.layers import PACKAGE, conv_block


def _inputs(color_channels):
    return {"l": keras.Input((None, None, 1), name="l"),
            "color": keras.Input((None, None, color_channels), name="color")}


def _pair(inputs, input_pooling: int):
    """The (B, H, W, 1 + C) pair (l, color), average-pooled ``input_pooling`` x
    ``input_pooling`` when that is above 1 (a discriminator at a lower resolution: the work
    falls with its square, each patch sees that much more of the picture)."""
    if input_pooling not in (1, 2, 4):
        raise ValueError(f"input_pooling must be 1, 2 or 4, got {input_pooling}")
    x = layers.Concatenate(name="pair")([inputs["l"], inputs["color"]])
    if input_pooling > 1:
        x = layers.AveragePooling2D(input_pooling, name="pair_pool")(x)
    return x


def _patch_body(x, filters, layers_count, norm, score_bias: bool = True, prefix: str = ""):
    """The shared body on a (B, H, W, 1 + C) pair: ``layers_count`` strided 4x4 convs and a
    3x3 conv, all with LeakyReLU, then a 3x3 conv to a 1-channel patch map.

    Returns ``(features, patches)``: the ``layers_count + 1`` intermediate maps (in the
    compute dtype) and the float32 patch map (B, H / 2**layers_count, W / 2**layers_count, 1).
    """
    features = []
    for i in range(layers_count):
        # The first layer is never normalised (DCGAN): it would erase absolute colour.
        x = conv_block(x, filters * min(2**i, 8), kernel=4, strides=2, norm="none" if i == 0 else norm,
                       activation="lrelu", name=f"{prefix}down{i}")
        features.append(x)
    x = conv_block(x, filters * min(2**layers_count, 8), kernel=3, norm=norm, activation="lrelu",
                   name=f"{prefix}body")
    features.append(x)
    # float32 scores under mixed precision: losses and the gradient penalties need the range.
    patches = layers.Conv2D(1, 3, padding="same", use_bias=score_bias, dtype="float32",
                            name=f"{prefix}patch_scores")(x)
    return features, patches


class _PatchScorer(keras.Model):
    """Shared body: strided 4x4 convs with LeakyReLU, a 1-channel patch map, its mean."""

    norm = "none"
    score_bias = True

    def __init__(self, filters: int = 32, layers_count: int = 3, color_channels: int = 2, input_pooling: int = 1,
                 **kwargs: Any) -> None:
        inputs = _inputs(color_channels)
        x = _pair(inputs, input_pooling)
        _, patches = _patch_body(x, filters, layers_count, self.norm, self.score_bias)
        score = layers.GlobalAveragePooling2D(dtype="float32", name="score")(patches)
        super().__init__(inputs=inputs, outputs=score, **kwargs)
        self.filters = filters
        self.layers_count = layers_count
        self.color_channels = color_channels
        self.input_pooling = input_pooling

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable, "filters": self.filters,
                "layers_count": self.layers_count, "color_channels": self.color_channels,
                "input_pooling": self.input_pooling}

    @classmethod
    def from_config(cls, config: dict) -> _PatchScorer:
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


@keras.saving.register_keras_serializable(package=PACKAGE)
class PatchGANDiscriminator(keras.Model):
    """The conditional PatchGAN of pix2pix (Isola et al. 2017, section 3.2.2).

    Returns float32 logits, one per patch: ``(B, H / 2**layers_count, W / 2**layers_count, 1)``,
    each judging a receptive field of about 70 px (3 layers) of the pair (l, color), for a
    cross-entropy on every patch (:func:`anime_colorize.losses.patch_bce_discriminator_loss`).

    Args:
        filters: channels of the first layer (doubled per strided layer, capped at 8x).
        layers_count: strided 4x4 convolutions.
        color_channels: 2 (ab) or 3 (L and ab).
        norm: ``batch`` as in pix2pix, or a per-sample one (``instance``, ``group``,
            ``none``) where a gradient penalty needs samples that do not interact.
        input_pooling: 1 (default), 2 or 4: the pair is average-pooled this much first, so the
            patch map is (B, H / (input_pooling 2**layers_count), ..., 1) and costs
            input_pooling**2 times less.
    """

    def __init__(self, filters: int = 32, layers_count: int = 3, color_channels: int = 2, norm: str = "batch",
                 input_pooling: int = 1, **kwargs: Any) -> None:
        inputs = _inputs(color_channels)
        x = _pair(inputs, input_pooling)
        _, patches = _patch_body(x, filters, layers_count, norm)
        super().__init__(inputs=inputs, outputs=patches, **kwargs)
        self.filters = filters
        self.layers_count = layers_count
        self.color_channels = color_channels
        self.norm = norm
        self.input_pooling = input_pooling

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable, "filters": self.filters,
                "layers_count": self.layers_count, "color_channels": self.color_channels, "norm": self.norm,
                "input_pooling": self.input_pooling}

    @classmethod
    def from_config(cls, config: dict) -> PatchGANDiscriminator:
        return cls(**config)


@keras.saving.register_keras_serializable(package=PACKAGE)
class MultiScaleDiscriminator(keras.Model):
    """pix2pixHD's multi-scale discriminator (Wang et al. 2018, section 3.2): ``num_scales``
    PatchGANs with the same architecture and their own weights, scale ``s`` seeing the pair
    (l, color) average-pooled ``s`` times (3x3 window, stride 2, padding excluded from the
    mean, as pix2pixHD), so the coarsest judges global consistency and the finest detail.

    Returns a dict ``{"scale<s>": [features..., logits]}``, ``s = 0`` the finest (a dict, not a
    list: Keras unwraps a one-element output list, which would lose the scale level for
    ``num_scales=1``; :meth:`per_scale` gives the list). Each entry is the ``layers_count + 1``
    intermediate feature maps (B, h_i, w_i, c_i) (compute dtype; for the feature-matching
    loss, :func:`anime_colorize.losses.feature_matching_loss`) followed by the scale's float32
    patch logits (B, h, w, 1). All layers sit in this one model (named ``scale<s>_...``), so
    layer-wise tools (FLOP counts) see them.

    Args:
        filters, layers_count, color_channels: as :class:`PatchGANDiscriminator`.
        num_scales: number of scales (pix2pixHD: 3).
        norm: normalisation of all but each scale's first layer. pix2pixHD uses instance
            normalisation; its statistics over a 1x1 map (the coarsest scale of a small
            picture) are degenerate and block every gradient, so the default is ``group``
            (per sample, up to 8 channel groups), which stays well defined there.
    """

    def __init__(self, filters: int = 32, layers_count: int = 3, color_channels: int = 2, num_scales: int = 3,
                 norm: str = "group", **kwargs: Any):
        if num_scales < 1:
            raise ValueError(f"num_scales must be at least 1, got {num_scales}")
        inputs = _inputs(color_channels)
        x = layers.Concatenate(name="pair")([inputs["l"], inputs["color"]])
        outputs = {}
        for s in range(num_scales):
            if s > 0:
                x = layers.AveragePooling2D(3, strides=2, padding="same", name=f"scale{s}_pool")(x)
            features, patches = _patch_body(x, filters, layers_count, norm, prefix=f"scale{s}_")
            outputs[f"scale{s}"] = features + [patches]
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.filters = filters
        self.layers_count = layers_count
        self.color_channels = color_channels
        self.num_scales = num_scales
        self.norm = norm

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable, "filters": self.filters,
                "layers_count": self.layers_count, "color_channels": self.color_channels,
                "num_scales": self.num_scales, "norm": self.norm}

    @staticmethod
    def per_scale(outputs: dict[str, Sequence[keras.KerasTensor]]) -> list[list[keras.KerasTensor]]:
        """The model's output dict as a list, finest scale first: ``[[features..., logits], ...]``."""
        return [list(outputs[f"scale{s}"]) for s in range(len(outputs))]

    @classmethod
    def from_config(cls, config: dict) -> MultiScaleDiscriminator:
        return cls(**config)
