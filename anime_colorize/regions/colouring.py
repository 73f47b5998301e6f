"""A flat colouring of one drawing: per-region colours from hints and predictions, as layers.

:func:`flat_colouring` is the one place where a prediction becomes flats; the ``flat`` output
mode of the commands and the page (:mod:`anime_colorize.inference.modes`) and the evaluation's
``flat`` mode (:mod:`anime_colorize.evaluation.predictors`) both call it. Each region's colour
is the user's hint inside it when there is one (:func:`~anime_colorize.regions.flats.hint_colors`:
points or strokes, the majority by area), else the prediction pooled over the region (a
per-channel median in Lab, ink left out), or white paper with ``unhinted="paper"``.

What the flats carry, by model kind (the issue's rule):

* line-art models, ``colors`` Lab (H, W, 3): the flats are Lab. A hint carrying its lightness
  (``hint_color`` Lab, from a hint's ``hint_l``) is painted as chosen; an ab-only hint keeps the
  region's predicted L. The network's lightness relative to its region's median makes the
  ``shade`` layer (Multiply), shown in the picture only with ``shading``.
* gray models, ``colors`` ab (H, W, 2) with the picture's own ``lightness`` (H, W): the flats are
  ab, and the picture joins them with the full-resolution L, which already holds the shading.
  The layers then are: the flat colour at its region's median L, the picture's lightness
  relative to that as the shade layer, and the drawing as the lines layer.

Colours from a key (``match``, :mod:`~anime_colorize.regions.matching`, issue #13): a region
matched to a coloured key picture takes the key region's colour instead of the prediction,
with the priorities user hint > key > network; on its pixels the picture shows the key's own
colours (a region that the key splits keeps the split) and, with ``key_shading``, the key's
shading carried over (hue and highlights too: the picture is then about 5 CIEDE2000 units
closer to the truth than flats alone, measured by ``experiments/reference_matching.py``),
while the shade layer holds its lightness as a Multiply layer, shown (without ``shading``,
the network's shading of the other regions is left out of it).

Pure numpy on the host, like the rest of the package; colour maths from the numpy twins of
:mod:`anime_colorize.color`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anime_colorize import color
from anime_colorize.data.lineart import extract_lines
from anime_colorize.regions.flats import hint_colors, paint, pool, relative_lightness
from anime_colorize.regions.layers import Layers, shade_from_lightness
from anime_colorize.regions.segmentation import Regions, segment, segment_lines

UNHINTED = ("prediction", "paper")  # what a region without a hint gets
PAPER_LAB = (100.0, 0.0, 0.0)


@dataclass(frozen=True, eq=False)
class FlatColouring:
    """One flat colouring.

    flats    float32 (count, C): each region's colour, Lab (line art) or ab (gray), Lab units.
    hinted   bool (count,): regions whose colour came from a hint.
    layers   :class:`~anime_colorize.regions.layers.Layers` (flat, shade, lines).
    picture  float32 RGB (H, W, 3) in [0, 1]: the colouring as shown and written.
    """

    flats: np.ndarray
    hinted: np.ndarray
    layers: Layers
    picture: np.ndarray


@dataclass(frozen=True, eq=False)
class InputRegions:
    """The regions of a model's input, with what a flat colouring of it needs besides.

    regions    the :class:`~anime_colorize.regions.segmentation.Regions`.
    lightness  float32 (H, W) L in [0, 100] of a gray picture (None for line art).
    drawing    float32 (H, W) in [0, 1], 1 = paper: the lines layer (the prepared drawing of
               line art; the segmentation's drawing of a gray picture).
    """

    regions: Regions
    lightness: np.ndarray | None
    drawing: np.ndarray


def input_regions(model_input, input_kind: str, gap: int | None = None, edges: bool = False) -> InputRegions:
    """Segments what a model sees (float (H, W, 1) or (H, W) in [-1, 1]: a prepared line
    drawing, or a gray picture's normalised lightness, as
    :func:`anime_colorize.sampling.prepare_input` makes them). Line art is cut along its own
    lines (:func:`segment_lines`); a gray picture along the ink of its lightness
    (:func:`segment` of its sRGB gray), or with ``edges`` along the XDoG edges of its gray, as
    a coloured key is cut (:func:`anime_colorize.regions.matching.prepare_key`), so that the
    two line drawings align. ``gap``: see :func:`segment_lines`."""
    x = np.asarray(model_input, np.float32)
    x = x[..., 0] if x.ndim == 3 else x
    if input_kind == "lineart":
        drawing = x * np.float32(0.5) + np.float32(0.5)
        return InputRegions(segment_lines(drawing, gap=gap), None, drawing)
    lightness = color.denormalize_l(x)
    gray = color.lightness_to_gray_np(lightness)
    if edges:
        found = segment_lines(extract_lines(gray, "xdog"), gap=gap)
    else:
        found = segment(gray, gap=gap)
    return InputRegions(found, lightness, found.lines)


def _check(regions: Regions, array, name: str, channels) -> np.ndarray:
    arr = np.asarray(array, np.float32)
    if arr.shape[:2] != regions.shape or (channels is not None and (arr.ndim != 3 or arr.shape[2] not in channels)):
        want = "(H, W)" if channels is None else f"(H, W, C) with C in {tuple(channels)}"
        raise ValueError(f"{name} must have shape {want} with (H, W) = {regions.shape}, got {arr.shape}")
    return arr


def flat_colouring(regions: Regions, colors, hint_color=None, hint_mask=None, lightness=None, drawing=None,
                   shading: bool = False, unhinted: str = "prediction", method: str = "median", match=None,
                   key_shading: bool = True) -> FlatColouring:
    """Flats of one prediction (see the module docstring).

    ``colors``: the prediction at the regions' full resolution, float (H, W, 3) Lab (line-art
    models) or (H, W, 2) ab (gray models), in Lab units (L in [0, 100], ab about [-110, 110]).
    ``hint_color`` (H, W, 3) Lab or (H, W, 2) ab and ``hint_mask`` (H, W) in [0, 1]: the user's
    hints, or None (see :func:`anime_colorize.data.hints.hint_lab`). ``lightness``: the picture's
    L (H, W) in [0, 100], needed for gray models. ``drawing``: the lines layer (H, W) in [0, 1],
    1 = paper (default: ``regions.lines``). ``shading``: show the shade layer in the picture
    (line art; a gray picture's own lightness always shades it). ``unhinted``: "prediction"
    (pooled) or "paper" (white) for regions without a hint. ``match``: a
    :class:`~anime_colorize.regions.matching.Match` of these regions to coloured keys, or None;
    its matched regions take the key's colours unless a hint is in them (``key_shading``: with
    the key's shading on their pixels; see the module docstring).
    """
    if unhinted not in UNHINTED:
        raise ValueError(f"unhinted must be one of {UNHINTED}, got {unhinted!r}")
    colors = _check(regions, colors, "colors", (2, 3))
    lineart = colors.shape[2] == 3
    drawing = regions.lines if drawing is None else _check(regions, drawing, "drawing", None)
    if not lineart:
        if lightness is None:
            raise ValueError("ab predictions (gray models) need the picture's lightness")
        lightness = _check(regions, lightness, "lightness", None)
    key_lab = None
    if match is not None:
        if match.matched.shape != (regions.count,):
            raise ValueError(f"the match is of {match.matched.shape[0]} regions, the drawing has {regions.count}")
        key_lab = match.flat_lab + match.shading if key_shading else match.flat_lab
    if unhinted == "paper":
        flats = np.tile(np.asarray(PAPER_LAB if lineart else PAPER_LAB[1:], np.float32), (regions.count, 1))
    else:
        flats = pool(regions, colors, method=method)
    if match is not None:
        flats[match.matched] = match.colors[match.matched, 3 - flats.shape[1]:]
    hinted = np.zeros(regions.count, bool)
    if hint_color is not None:
        hint_color = _check(regions, hint_color, "hint_color", (2, 3))
        chosen, hinted = hint_colors(regions, hint_color, _check(regions, hint_mask, "hint_mask", None))
        if hint_color.shape[2] == flats.shape[1]:
            flats[hinted] = chosen[hinted]
        elif lineart:  # an ab-only hint: its chroma with the region's own lightness
            flats[hinted, 1:] = chosen[hinted]
        else:  # Lab hints for a gray picture, whose lightness is its own
            flats[hinted] = chosen[hinted, 1:]

    # The pixels that show the key: matched regions without a hint.
    keyed = None if match is None else (match.matched & ~hinted)[regions.labels]

    # Colours are converted per region, then painted: exact, and far cheaper than per pixel.
    if lineart:
        flat_rgb = paint(regions, color.lab_to_rgb_np(flats))
        flat_l = paint(regions, flats[:, 0])
        delta_l = relative_lightness(regions, colors[..., 0], method)
        hidden = () if shading else ("shade",)
        if keyed is not None and keyed.any():  # the key's own flats (splits kept) and shading
            flat_rgb[keyed] = color.lab_to_rgb_np(match.flat_lab[keyed])
            flat_l[keyed] = match.flat_lab[keyed][:, 0]
            delta_l[keyed] = key_lab[keyed][:, 0] - flat_l[keyed]
            if not shading:  # the key's shading shows (as in the picture), the network's does not
                delta_l[~keyed] = 0.0
                hidden = ()
        layers = Layers(flat_rgb, shade_from_lightness(flat_l, delta_l), drawing, hidden=hidden)
        picture = layers.composite()
        if keyed is not None and keyed.any():
            picture[keyed] = color.lab_to_rgb_np(key_lab[keyed]) * drawing[keyed][:, None]
        return FlatColouring(flats, hinted, layers, picture)

    ab = paint(regions, flats)
    if keyed is not None:
        ab[keyed] = key_lab[keyed][:, 1:]
    picture = color.lab_to_rgb_np(np.concatenate([lightness[..., None], ab], -1))
    region_l = pool(regions, lightness, method=method)
    flat_rgb = paint(regions, color.lab_to_rgb_np(np.concatenate([region_l[:, None], flats], -1)))
    shade = shade_from_lightness(paint(regions, region_l), relative_lightness(regions, lightness, method))
    layers = Layers(flat_rgb, shade, drawing)
    return FlatColouring(flats, hinted, layers, picture.astype(np.float32, copy=False))
