"""ResNet image-to-image networks and an unconditional PatchGAN, for CycleGAN.

The architecture follows Johnson et al. (2016) as used by CycleGAN (Zhu et al. 2017):
``c7s1-k``, two stride-2 convolutions (k -> 2k -> 4k), ``blocks`` residual blocks at 1/4
resolution, two 2x upsamplings back (4k -> 2k -> k) and a 7x7 head, instance normalisation
throughout. Differences, each for a reason:

* upsampling is bilinear resize + 3x3 convolution (as the U-Net's decoder) rather than a
  transposed convolution: no checkerboard artefacts, and H and W may be unknown until run time;
* padding is Keras' zero "same" padding (TensorFlow has no reflect-padded convolution layer;
  a separate pad op per layer would only slow the CPU down);
* the head sees the input again (concatenated before the 7x7 convolution): the predicted colour
  then follows the input's edges at full resolution instead of at 1/4 of it.

:class:`ResNetGenerator` has the colourer interface of
:class:`~anime_colorize.models.generator.UNetGenerator`: inputs ``{"l", "z"}``, output ``ab``
(gray input) or ``lab`` (line art), ``metadata``, ``stride``, ``output_name``, ``hint_kinds``
(always empty: this model takes no colour hints), ``z_dim``, ``working_size``. So it exports,
loads and colours pages exactly like the U-Net (see :mod:`anime_colorize.export`,
:func:`anime_colorize.sampling.colorize`). ``z`` is accepted for that interface and ignored:
CycleGAN's generators are deterministic (the cycle loss penalises any variation z would
bring). A first version broadcast z into the bottleneck, as the U-Net does, but instance
normalisation removes any per-channel constant, so z changed nothing (outputs for two z
differed by 1e-7) while its weights looked trained; a noise sweep of this model shows one
colouring repeated.

:class:`ResNetTranslator` is the same body between plain images, ``(B, H, W, in) -> (B, H, W,
out)``, used for the backward map F (colour picture -> page). :class:`PatchDiscriminator`
judges one image ``(B, H, W, C)`` alone (no condition: the domains are unpaired) and returns
its patch map ``(B, H / 2**layers, W / 2**layers, 1)``, so an LSGAN loss is the mean over the
patches as in CycleGAN. All H and W must be multiples of ``stride`` = 4 (generators) or
``2**layers_count`` (discriminator).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import layers

from anime_colorize.config import INPUT_KINDS
from anime_colorize.models.generator import ExportableGenerator, output_name_for
from anime_colorize.models.layers import PACKAGE, Upsample2x, conv_block

RESNET_STRIDE = 4


def _residual_block(x, width, norm, name):
    """x + (conv-norm-relu-conv-norm)(x), widths equal."""
    y = conv_block(x, width, norm=norm, activation="relu", name=f"{name}a")
    y = conv_block(y, width, norm=norm, activation="linear", name=f"{name}b")
    return layers.Add(name=f"{name}_add")([x, y])


def _resnet_body(x_in, filters, blocks, norm):
    """Everything but the head: (B, H, W, C) -> (B, H, W, filters + C), the input concatenated."""
    x = conv_block(x_in, filters, kernel=7, norm=norm, activation="relu", name="stem")
    x = conv_block(x, 2 * filters, strides=2, norm=norm, activation="relu", name="down0")
    x = conv_block(x, 4 * filters, strides=2, norm=norm, activation="relu", name="down1")
    for i in range(blocks):
        x = _residual_block(x, 4 * filters, norm, name=f"res{i}")
    x = Upsample2x(name="up1_resize")(x)
    x = conv_block(x, 2 * filters, norm=norm, activation="relu", name="up1")
    x = Upsample2x(name="up0_resize")(x)
    x = conv_block(x, filters, norm=norm, activation="relu", name="up0")
    return layers.Concatenate(name="head_cat")([x, x_in])


@keras.saving.register_keras_serializable(package=PACKAGE)
class ResNetGenerator(ExportableGenerator, keras.Model):
    """ResNet colourer with the U-Net's interface (see the module docstring).

    Args:
        z_dim: noise size.
        blocks: residual blocks at 1/4 resolution (CycleGAN: 6 for 128 px, 9 for 256 px).
        filters: channels at full resolution; 2x and 4x after the two downsamplings.
        norm: normalisation (``instance`` as in CycleGAN; see models/layers.py).
        input_kind: ``"gray"`` (predicts ab) or ``"lineart"`` (predicts L and ab).
        working_size: the pixel scale inference should bring an input's shorter side to.
        hint_kinds: must be empty (accepted so the config has the generators' common keys).

    Inputs ``l`` (B, H, W, 1) in [-1, 1] and ``z`` (B, z_dim), ignored; output float32, tanh,
    ``ab`` (B, H, W, 2) or ``lab`` (B, H, W, 3); H and W multiples of 4.
    """

    def __init__(self, z_dim: int = 8, blocks: int = 6, filters: int = 32, norm: str = "instance",
                 input_kind: str = "gray",
                 working_size: int = 64, hint_kinds: Sequence[str] = (), **kwargs: Any):
        if input_kind not in INPUT_KINDS:
            raise ValueError(f"unknown input kind '{input_kind}'; choose one of {INPUT_KINDS}")
        if tuple(hint_kinds):
            raise ValueError("ResNetGenerator takes no colour hints")
        inputs = {"l": keras.Input((None, None, 1), name="l"), "z": keras.Input((z_dim,), name="z")}
        x = _resnet_body(inputs["l"], filters, blocks, norm)  # z is not used: see the module docstring
        output_name = output_name_for(input_kind)
        # float32 head: under mixed precision the output (and every loss on it) stays float32.
        out = layers.Conv2D(len(output_name), 7, padding="same", activation="tanh", dtype="float32",
                            name=output_name)(x)
        super().__init__(inputs=inputs, outputs=out, **kwargs)
        self.z_dim = z_dim
        self.blocks = blocks
        self.filters = filters
        self.norm = norm
        self.input_kind = input_kind
        self.working_size = working_size
        self.hint_kinds = ()

    architecture = "resnet"

    @property
    def stride(self) -> int:
        """Height and width of inputs must be multiples of this."""
        return RESNET_STRIDE

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable, "z_dim": self.z_dim,
                "blocks": self.blocks, "filters": self.filters, "norm": self.norm,
                "input_kind": self.input_kind, "working_size": self.working_size, "hint_kinds": []}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ResNetTranslator(keras.Model):
    """The same ResNet between plain images: (B, H, W, in_channels) -> (B, H, W, out_channels),
    float32 tanh, H and W multiples of 4. CycleGAN's backward map (colour picture -> page)."""

    def __init__(self, in_channels: int = 3, out_channels: int = 1, blocks: int = 6, filters: int = 32,
                 norm: str = "instance", **kwargs: Any) -> None:
        image = keras.Input((None, None, in_channels), name="image")
        x = _resnet_body(image, filters, blocks, norm)
        out = layers.Conv2D(out_channels, 7, padding="same", activation="tanh", dtype="float32", name="out")(x)
        super().__init__(inputs=image, outputs=out, **kwargs)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.blocks = blocks
        self.filters = filters
        self.norm = norm

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable, "in_channels": self.in_channels,
                "out_channels": self.out_channels, "blocks": self.blocks, "filters": self.filters,
                "norm": self.norm}

    @classmethod
    def from_config(cls, config: dict) -> ResNetTranslator:
        return cls(**config)


@keras.saving.register_keras_serializable(package=PACKAGE)
class PatchDiscriminator(keras.Model):
    """Unconditional PatchGAN (CycleGAN's 70x70 with ``layers_count=3``): (B, H, W, channels)
    -> float32 patch scores (B, H / 2**layers_count, W / 2**layers_count, 1), unbounded (for
    a least-squares loss). Instance-normalised except the first layer."""

    def __init__(self, channels: int = 3, filters: int = 32, layers_count: int = 3, norm: str = "instance",
                 **kwargs: Any) -> None:
        image = keras.Input((None, None, channels), name="image")
        x = image
        for i in range(layers_count):
            x = conv_block(x, filters * min(2**i, 8), kernel=4, strides=2, norm="none" if i == 0 else norm,
                           activation="lrelu", name=f"down{i}")
        x = conv_block(x, filters * min(2**layers_count, 8), kernel=4, norm=norm, activation="lrelu", name="body")
        patches = layers.Conv2D(1, 4, padding="same", dtype="float32", name="patch_scores")(x)
        super().__init__(inputs=image, outputs=patches, **kwargs)
        self.channels = channels
        self.filters = filters
        self.layers_count = layers_count
        self.norm = norm

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable, "channels": self.channels,
                "filters": self.filters, "layers_count": self.layers_count, "norm": self.norm}

    @classmethod
    def from_config(cls, config: dict) -> PatchDiscriminator:
        return cls(**config)
