"""The noise-conditioned U-Net generator.

``UNetGenerator`` maps a dict of inputs to a colouring, for any H and W divisible by
``2**depth``:

* ``l`` (B, H, W, 1) in [-1, 1]: what the network sees. For ``input_kind="gray"`` the
  picture's lightness L / 50 - 1; for ``input_kind="lineart"`` the line drawing
  (1 = paper, 0 = ink) as 2 * lines - 1.
* ``z`` (B, z_dim): the noise that picks one of several plausible colourings.
* with ``hint_kinds`` only: ``hint_ab`` (B, H, W, 2), ``hint_mask`` (B, H, W, 1) and
  ``hint_hist`` (B, 512), as in :mod:`anime_colorize.data.hints` (all zeros = no hint).

Output, float32, tanh: ``ab`` (B, H, W, 2) for gray input (the caller keeps its own L), or
``lab`` (B, H, W, 3) = (L / 50 - 1, a / 110, b / 110) for line art, which carries no
lightness: a red coat and a white shirt look the same in it.

Why z and the hints enter at every decoder scale: a signal concatenated only at the input is
washed out by the first convolutions and the network learns to ignore it (BicycleGAN's "add
to all" finding for z; for hints, a trial that fed point hints as input channels only gained
0.4 dB from 10 hints). So z (with the histogram's embedding) is broadcast into the bottleneck
and each decoder level, and the spatial hints are pooled into a pyramid (mask = block max,
ab = mask-weighted block mean: a one-pixel hint survives every level) and concatenated at
the input, at each decoder level and at the head. The model carries metadata
(``input_kind``, ``working_size``, ``hint_kinds``) in its config, so an exported ``.keras``
file says how it wants to be used.
"""
from __future__ import annotations

import keras
from keras import layers

from anime_colorize.config import INPUT_KINDS
from anime_colorize.data.hints import HIST_SIZE
from anime_colorize.models.layers import (PACKAGE, NORMS, HintDownsample, SpatialBroadcast, Upsample2x,
                                          conv_block)


HIST_EMBEDDING = 16
HINT_INPUTS = ("hint_ab", "hint_mask", "hint_hist")


def output_name_for(input_kind: str) -> str:
    """The output of a generator of ``input_kind``: ``"ab"`` (2 channels) for gray input,
    ``"lab"`` (3 channels: line art carries no lightness) otherwise."""
    return "ab" if input_kind == "gray" else "lab"


class ExportableGenerator:
    """What every generator that exports (and colours pages) offers, on top of keras.Model:
    ``z_dim``, ``input_kind``, ``working_size``, ``hint_kinds`` and ``stride`` set by the
    subclass, and from them the output name and the metadata stored with an export."""

    architecture = "unet"

    @property
    def output_name(self) -> str:
        """See :func:`output_name_for`."""
        return output_name_for(self.input_kind)

    @property
    def metadata(self) -> dict:
        """What a user of an exported model needs to know to feed it right."""
        return {"input_kind": self.input_kind, "working_size": self.working_size,
                "z_dim": self.z_dim, "hint_kinds": list(self.hint_kinds), "stride": self.stride,
                "output": self.output_name, "architecture": self.architecture}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package=PACKAGE)
class UNetGenerator(ExportableGenerator, keras.Model):
    """U-Net from the input (+ z, + hints) to ab or Lab.

    Args:
        z_dim: noise size.
        depth: number of stride-2 levels; inputs must be divisible by ``2**depth``.
        filters: channels at full resolution; level i has ``filters * 2**i`` (capped at 8x).
        norm: one of ``batch``, ``instance``, ``group``, ``none``.
        input_kind: ``"gray"`` (predicts ab) or ``"lineart"`` (predicts L and ab).
        working_size: the training size in pixels, used by inference to choose a scale.
        hint_kinds: names of the colour hints the model was trained with; empty = no hint
            inputs at all. Any non-empty list gives all three hint inputs (zeros = none).
    """

    def __init__(self, z_dim=8, depth=4, filters=32, norm="batch", input_kind="gray",
                 working_size=64, hint_kinds=(), **kwargs):
        if norm not in NORMS:
            raise ValueError(f"unknown normalisation '{norm}'; choose one of {NORMS}")
        if input_kind not in INPUT_KINDS:
            raise ValueError(f"unknown input kind '{input_kind}'; choose one of {INPUT_KINDS}")
        hint_kinds = tuple(hint_kinds)
        inputs = {"l": keras.Input((None, None, 1), name="l"), "z": keras.Input((z_dim,), name="z")}
        l_in, global_vector = inputs["l"], inputs["z"]
        hint_pyramid = None
        if hint_kinds:
            inputs.update(hint_ab=keras.Input((None, None, 2), name="hint_ab"),
                          hint_mask=keras.Input((None, None, 1), name="hint_mask"),
                          hint_hist=keras.Input((HIST_SIZE,), name="hint_hist"))
            hist = layers.Dense(HIST_EMBEDDING, activation="relu", name="hist_embed")(inputs["hint_hist"])
            global_vector = layers.Concatenate(name="global_vector")([global_vector, hist])
            hint_pyramid = [layers.Concatenate(name="hint")([inputs["hint_ab"], inputs["hint_mask"]])]
            for i in range(depth):
                hint_pyramid.append(HintDownsample(name=f"hint_down{i}")(hint_pyramid[-1]))

        def with_conditions(x, level, name):
            """x with the global vector and (if any) the hints of its level concatenated."""
            parts = [x, SpatialBroadcast(name=f"{name}_global")([x, global_vector])]
            if hint_pyramid is not None:
                parts.append(hint_pyramid[level])
            return layers.Concatenate(name=f"{name}_cat")(parts)

        x = with_conditions(l_in, 0, "input")
        x = conv_block(x, filters, norm="none", activation="lrelu", name="stem")
        skips = [x]
        widths = [filters * min(2 ** (i + 1), 8) for i in range(depth)]
        for i, width in enumerate(widths):
            x = conv_block(x, width, kernel=4, strides=2, norm=norm, activation="lrelu", name=f"down{i}a")
            x = conv_block(x, width, norm=norm, activation="lrelu", name=f"down{i}b")
            skips.append(x)
        skips.pop()  # the deepest level is x itself
        for i in reversed(range(depth)):
            x = with_conditions(x, i + 1, f"up{i}")
            x = Upsample2x(name=f"up{i}_resize")(x)
            width = filters if i == 0 else widths[i - 1]
            x = conv_block(x, width, norm=norm, name=f"up{i}a")
            x = layers.Concatenate(name=f"up{i}_skip")([x, skips[i]])
            x = conv_block(x, width, norm=norm, name=f"up{i}b")
        head = [x, l_in] + ([hint_pyramid[0]] if hint_pyramid is not None else [])
        x = layers.Concatenate(name="head_cat")(head)
        x = conv_block(x, filters, name="head")
        # float32 head: under mixed precision the output (and every loss on it) stays float32.
        output_name = output_name_for(input_kind)
        out = layers.Conv2D(len(output_name), 1, activation="tanh", dtype="float32", name=output_name)(x)
        super().__init__(inputs=inputs, outputs=out, **kwargs)
        self.z_dim = z_dim
        self.depth = depth
        self.filters = filters
        self.norm = norm
        self.input_kind = input_kind
        self.working_size = working_size
        self.hint_kinds = hint_kinds

    @property
    def stride(self) -> int:
        """Height and width of inputs must be multiples of this."""
        return 2**self.depth

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "z_dim": self.z_dim,
                "depth": self.depth, "filters": self.filters, "norm": self.norm,
                "input_kind": self.input_kind, "working_size": self.working_size,
                "hint_kinds": list(self.hint_kinds)}

