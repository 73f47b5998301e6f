"""Regions of a drawing: segmentation, flat colours and layered output (issue #12).

Anime and manga are coloured as flats: every area closed by ink lines gets one colour,
shading goes on top. This package gives the pieces, in numpy / OpenCV / SciPy on the host;
it has no UI or CLI concerns and runs no TensorFlow ops (colour conversions come from the
numpy twins of ``anime_colorize.color``).

* :mod:`~anime_colorize.regions.segmentation`: :func:`segment` (a picture) and
  :func:`segment_lines` (a prepared line drawing) -> :class:`Regions` (int32 label map in
  which every pixel, ink included, has a region; per-region area, centroid, bbox, mean ink,
  adjacency). Gaps of a few pixels in the lines are closed (multi-scale trapped balls).
* :mod:`~anime_colorize.regions.flats`: per-region colours in any colour space:
  :func:`pool` (robust median of predictions), :func:`hint_colors` (user points and strokes,
  majority by area), :func:`flat_colors` (K predictions at once, hints override),
  :func:`paint` (regions -> pixels), :func:`relative_lightness` (for the shading layer).
* :mod:`~anime_colorize.regions.layers`: :class:`Layers` (flat, shade, lines) and their
  composite, :func:`write_layer_pngs`, :func:`write_psd` (psd-tools), colour-coded label maps.

A typical flat colouring of a line-art model's K predictions ``lab`` (K, H, W, 3) at full
resolution with hints ``hint_lab`` (H, W, 3) and ``hint_mask`` (H, W)::

    regions = segment(picture)
    flats = flat_colors(regions, lab, hint_lab, hint_mask)         # (K, count, 3) Lab
    flat_lab = paint(regions, flats[k])                            # (H, W, 3)
    shade = shade_from_lightness(flat_lab[..., 0], relative_lightness(regions, lab[k, ..., 0]))
    layers = Layers(color.lab_to_rgb_np(flat_lab), shade, regions.lines)
    write_psd(layers, "out.psd"); composite = layers.composite()
"""
from anime_colorize.regions.flats import flat_colors, hint_colors, paint, pool, relative_lightness
from anime_colorize.regions.layers import (LAYER_NAMES, Layers, label_picture, lines_rgba,
                                           shade_from_lightness, write_label_png,
                                           write_layer_pngs, write_psd)
from anime_colorize.regions.segmentation import (Regions, default_gap, label_regions, segment,
                                                 segment_lines)

__all__ = [
    "Regions", "segment", "segment_lines", "label_regions", "default_gap",
    "pool", "paint", "hint_colors", "flat_colors", "relative_lightness",
    "Layers", "LAYER_NAMES", "shade_from_lightness", "lines_rgba", "write_layer_pngs",
    "write_psd", "label_picture", "write_label_png",
]
