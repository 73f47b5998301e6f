"""The noise-conditioned U-Net generator.

``UNetGenerator`` maps a dict of inputs to a colouring, for any H and W divisible by
``2**depth``:

* ``l`` (B, H, W, 1) in [-1, 1]: what the network sees. For ``input_kind="gray"`` the
  picture's lightness L / 50 - 1; for ``input_kind="lineart"`` the line drawing
  (1 = paper, 0 = ink) as 2 * lines - 1.
* ``z`` (B, z_dim): the noise that picks one of several plausible colourings.
* with ``hint_kinds`` only: ``hint_ab`` (B, H, W, 2), ``hint_mask`` (B, H, W, 1) and
  ``hint_hist`` (B, 512), as in :mod:`anime_colorize.data.hints` (all zeros = no hint).
* with ``region_pooling`` only: ``regions`` int32 (B, H, W), the region labels of the drawing
  (:mod:`anime_colorize.regions.network_labels`; -1 = no region, see below).

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

Regions (``region_pooling=True``, issue #14): a colourist fills each area bounded by the ink
with one colour, so the network reads, beside its own features, their mean over the pixel's
region (:class:`~anime_colorize.models.region_pooling.RegionPooling` in ``concat`` mode: the
next convolution chooses how much of each it takes; shading needs the unpooled part) after
the decoder's half-resolution level and at the head, the labels taken to each level's size.
A colour decided anywhere in a region, or a hint given in it, reaches all of it in one step.
Labels -1 (everywhere: a caller without regions) make the pooled half equal the features, a
model that runs, but not as it was trained. With ``hint_fill`` (hint models), a dense
push-pull fill of the sparse hints (:class:`~anime_colorize.models.hint_fill.HintFill`: colour
and confidence) enters next to the hint pyramid at every level: on a toy of real line art with
10 point hints, pooling + fill cut the per-region colour error from 4.64 to 2.93 Lab units
(``experiments/region_pooling_toy.py``).

Cheaper variants (options of :class:`UNetGenerator`, the original architecture by default):
z entering from the bottleneck on only (``z_entry="decoder"``: the encoder is then shared by
every z of an image, see "several noise vectors per image" below), one convolution per level
(``convs_per_level=1``) and no convolutions at full resolution but the head
(``full_resolution="light"``). ``experiments/variants.py`` measures their work and quality.
"""
from __future__ import annotations

import keras
from keras import layers

from anime_colorize.config import FULL_RESOLUTIONS, INPUT_KINDS, Z_ENTRIES
from anime_colorize.data.hints import HIST_SIZE
from anime_colorize.models.hint_fill import HintFill
from anime_colorize.models.layers import (PACKAGE, NORMS, HintDownsample, RepeatToBatch, SpatialBroadcast,
                                          Upsample2x, conv_block)
from anime_colorize.models.region_pooling import DEFAULT_MAX_REGIONS, RegionPooling


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
                "output": self.output_name, "architecture": self.architecture,
                "takes_regions": bool(getattr(self, "region_pooling", False))}

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
        z_entry: where z first enters: ``"input"`` (with the picture, and again at the
            bottleneck and every decoder level) or ``"decoder"`` (the bottleneck and every
            decoder level only), so the encoder does not depend on z and one encoder pass
            serves every z of an image (see below).
        convs_per_level: 2 (a strided 4x4 and a 3x3 convolution per encoder level; upsample,
            3x3, skip, 3x3 per decoder level) or 1 (the strided convolution alone; per decoder
            level one 3x3 convolution at the lower resolution, then upsample and skip).
        full_resolution: ``"conv"`` (a 3x3 stem and the last decoder level at full
            resolution) or ``"light"`` (no stem: the encoder starts from the input; the last
            decoder level runs at half resolution; full resolution keeps only the head, which
            sees the upsampled features, the input and the hints).

    The defaults are the original architecture; files saved with it load unchanged.

    ``z`` may hold ``k`` noise vectors per image: a batch of B images (``l`` and the hints)
    with ``z`` of shape (k B, z_dim) gives k B colourings, the j-th block of B coloured with
    ``z[j B:(j + 1) B]`` (as if every image input were repeated k times along the batch). The
    per-image tensors are repeated where z meets them, so with ``z_entry="decoder"`` the
    encoder runs once for all k.
    """

    def __init__(self, z_dim=8, depth=4, filters=32, norm="batch", input_kind="gray",
                 working_size=64, hint_kinds=(), z_entry="input", convs_per_level=2,
                 full_resolution="conv", region_pooling=False, max_regions=DEFAULT_MAX_REGIONS,
                 hint_fill=False, **kwargs):
        if norm not in NORMS:
            raise ValueError(f"unknown normalisation '{norm}'; choose one of {NORMS}")
        if input_kind not in INPUT_KINDS:
            raise ValueError(f"unknown input kind '{input_kind}'; choose one of {INPUT_KINDS}")
        if z_entry not in Z_ENTRIES:
            raise ValueError(f"unknown z entry '{z_entry}'; choose one of {Z_ENTRIES}")
        if convs_per_level not in (1, 2):
            raise ValueError(f"convs_per_level must be 1 or 2, got {convs_per_level}")
        if full_resolution not in FULL_RESOLUTIONS:
            raise ValueError(f"unknown full_resolution '{full_resolution}'; choose one of {FULL_RESOLUTIONS}")
        hint_kinds = tuple(hint_kinds)
        inputs = {"l": keras.Input((None, None, 1), name="l"), "z": keras.Input((z_dim,), name="z")}
        if hint_kinds:
            inputs.update(hint_ab=keras.Input((None, None, 2), name="hint_ab"),
                          hint_mask=keras.Input((None, None, 1), name="hint_mask"),
                          hint_hist=keras.Input((HIST_SIZE,), name="hint_hist"))
        if region_pooling:
            inputs["regions"] = keras.Input((None, None), dtype="int32", name="regions")
        hint_fill = bool(hint_fill and hint_kinds)
        z = inputs["z"]

        def per_colouring(tensor, name):
            """A per-image tensor repeated to z's batch (k colourings per image)."""
            return RepeatToBatch(name=f"{name}_per_z")([tensor, z])

        # Where z enters first, every per-image input is repeated to z's batch.
        image_inputs = {k: v for k, v in inputs.items() if k != "z"}
        if z_entry == "input":
            image_inputs = {k: per_colouring(v, k) for k, v in image_inputs.items()}
        l_in = image_inputs["l"]
        hint_pyramid = hist = None
        if hint_kinds:
            hist = layers.Dense(HIST_EMBEDDING, activation="relu", name="hist_embed")(image_inputs["hint_hist"])
            hint_pyramid = [layers.Concatenate(name="hint")([image_inputs["hint_ab"], image_inputs["hint_mask"]])]
            for i in range(depth):
                hint_pyramid.append(HintDownsample(name=f"hint_down{i}")(hint_pyramid[-1]))
            if hint_fill:  # each level: the sparse hints (a, b, mask), then the dense (a, b, confidence)
                filled = HintFill(levels=depth, return_pyramid=True, name="hint_fill")(hint_pyramid[0])
                hint_pyramid = [layers.Concatenate(name=f"hint_level{i}")([sparse, dense])
                                for i, (sparse, dense) in enumerate(zip(hint_pyramid, filled))]

        def pooled(x, name):
            """x beside its mean over each region (or x itself without region pooling)."""
            if not region_pooling:
                return x
            return RegionPooling(max_regions, mode="concat", name=f"{name}_regions")([x, image_inputs["regions"]])

        def with_conditions(x, level, name, vector):
            """x with ``vector`` broadcast over it and (if any) the hints of its level."""
            parts = [x] + ([SpatialBroadcast(name=f"{name}_global")([x, vector])] if vector is not None else [])
            if hint_pyramid is not None:
                parts.append(hint_pyramid[level])
            return layers.Concatenate(name=f"{name}_cat")(parts) if len(parts) > 1 else x

        def global_vector_of(z_vector, hist_vector):
            return z_vector if hist_vector is None else layers.Concatenate(name="global_vector")([z_vector, hist_vector])

        light = full_resolution == "light"
        # --- encoder: depends on z only with z_entry="input"
        global_vector = global_vector_of(z, hist) if z_entry == "input" else None
        x = with_conditions(l_in, 0, "input", global_vector if z_entry == "input" else hist)
        if not light:
            x = conv_block(x, filters, norm="none", activation="lrelu", name="stem")
        skips = [x]
        widths = [filters * min(2 ** (i + 1), 8) for i in range(depth)]
        for i, width in enumerate(widths):
            x = conv_block(x, width, kernel=4, strides=2, norm=norm if (i > 0 or not light) else "none",
                           activation="lrelu", name=f"down{i}a")
            if convs_per_level == 2:
                x = conv_block(x, width, norm=norm, activation="lrelu", name=f"down{i}b")
            skips.append(x)
        skips.pop()  # the deepest level is x itself
        # --- decoder: z (with the histogram's embedding) at the bottleneck and every level
        if z_entry == "decoder":
            x = per_colouring(x, "bottleneck")
            skips = [per_colouring(skip, f"skip{i}") for i, skip in enumerate(skips)]
            if hint_pyramid is not None:
                hint_pyramid = [per_colouring(h, f"hint{i}") for i, h in enumerate(hint_pyramid)]
                hist = per_colouring(hist, "hist_embed")
            if region_pooling:
                image_inputs["regions"] = per_colouring(image_inputs["regions"], "regions")
            l_in = per_colouring(l_in, "head_l")
            global_vector = global_vector_of(z, hist)
        for i in reversed(range(depth)):
            x = with_conditions(x, i + 1, f"up{i}", global_vector)
            width = filters if i == 0 else widths[i - 1]
            if convs_per_level == 2 and not (light and i == 0):
                x = Upsample2x(name=f"up{i}_resize")(x)
                x = conv_block(x, width, norm=norm, name=f"up{i}a")
                x = layers.Concatenate(name=f"up{i}_skip")([x, skips[i]])
                x = conv_block(x, width, norm=norm, name=f"up{i}b")
            else:  # one convolution, at the lower resolution, then up to the skip
                x = conv_block(x, width, norm=norm, name=f"up{i}a")
                x = Upsample2x(name=f"up{i}_resize")(x)
                x = layers.Concatenate(name=f"up{i}_skip")([x, skips[i]])
            if i == 1:  # the half-resolution level: regions are still whole there
                x = pooled(x, f"up{i}")
        head = [x] + ([] if light else [l_in]) + ([hint_pyramid[0]] if hint_pyramid is not None and not light else [])
        x = layers.Concatenate(name="head_cat")(head) if len(head) > 1 else x
        x = pooled(conv_block(x, filters, name="head"), "head")
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
        self.z_entry = z_entry
        self.convs_per_level = convs_per_level
        self.full_resolution = full_resolution
        self.region_pooling = bool(region_pooling)
        self.max_regions = int(max_regions)
        self.hint_fill = hint_fill

    @property
    def stride(self) -> int:
        """Height and width of inputs must be multiples of this."""
        return 2**self.depth

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "z_dim": self.z_dim,
                "depth": self.depth, "filters": self.filters, "norm": self.norm,
                "input_kind": self.input_kind, "working_size": self.working_size,
                "hint_kinds": list(self.hint_kinds), "z_entry": self.z_entry,
                "convs_per_level": self.convs_per_level, "full_resolution": self.full_resolution,
                "region_pooling": self.region_pooling, "max_regions": self.max_regions,
                "hint_fill": self.hint_fill}
