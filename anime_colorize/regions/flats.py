"""Flat colours per region: pooled predictions, user hints, K variants, and shading (numpy).

Everything here works in the colour space the caller passes and converts nothing: values
are (..., C) arrays of any C (Lab for line-art models, ab for gray models, RGB for an
oracle), pooled channel by channel. What the flats carry, by model kind:

* line-art models: flats of Lab; :func:`relative_lightness` of the network's L gives the
  optional shading (the network's lightness minus its region's median), see
  :func:`anime_colorize.regions.layers.shade_from_lightness`;
* gray models: flats of ab only, joined by the caller with the picture's own
  full-resolution L (which already holds the shading).

Functions take a :class:`~anime_colorize.regions.segmentation.Regions` and full-resolution
arrays of its shape (H, W). Ink pixels are left out of every pooling by default: a
network's colour on the lines is the lines' dark, not the area's colour.
"""
from __future__ import annotations

import cv2
import numpy as np

from anime_colorize.regions.segmentation import Regions

POOL_METHODS = ("median", "mean")
# Histogram median (_median): bins per channel and level (fewer when there are many
# regions, to bound memory at about _MAX_CELLS counters); two levels of 256 bins resolve
# 1/65536 of the channel's range.
_BINS = 256
_MAX_CELLS = 1 << 23
_MIN_BINS = 32


def _check_values(regions: Regions, values, name: str) -> np.ndarray:
    """values (H, W), (H, W, C) or (K, H, W, C) of the regions' shape -> float32 (K, N, C)."""
    arr = np.asarray(values)
    h, w = regions.shape
    if arr.ndim == 2:
        arr = arr[None, :, :, None]
    elif arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[1:3] != (h, w) or arr.shape[3] < 1:
        raise ValueError(f"{name} must have shape (H, W), (H, W, C) or (K, H, W, C) with "
                         f"(H, W) = {(h, w)} of the regions, got shape {np.shape(values)}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} must be numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (no NaN or infinity)")
    return arr.reshape(arr.shape[0], h * w, arr.shape[3])


def _like_input(pooled: np.ndarray, values) -> np.ndarray:
    """(K, count, C) back to the caller's layout: (count,), (count, C) or (K, count, C)."""
    ndim = np.ndim(values)
    if ndim == 2:
        return pooled[0, :, 0]
    if ndim == 3:
        return pooled[0]
    return pooled


def pool(regions: Regions, values: np.ndarray, method: str = "median", exclude_ink: bool = True) -> np.ndarray:
    """A robust colour per region: each channel's median (or mean) over the region.

    ``values``: (H, W), (H, W, C) or (K, H, W, C) numbers (any colour space, e.g. K
    predictions), (H, W) as in ``regions``. ``method``: "median" (per channel, robust to
    bleeding from neighbouring areas; a two-level histogram median, snapped to a value of
    the region, see :func:`_median`) or "mean". ``exclude_ink``: pool over
    the region's paper pixels only (a region that is all ink uses all its pixels).

    Returns float32 (count,), (count, C) or (K, count, C), following ``values``.
    """
    if method not in POOL_METHODS:
        raise ValueError(f"unknown pooling method {method!r}; expected one of {POOL_METHODS}")
    arr = _check_values(regions, values, "values")
    labels = regions.labels.ravel()
    count = regions.count
    if exclude_ink and regions.ink.any():
        paper = ~regions.ink.ravel()
        has_paper = np.bincount(labels[paper], minlength=count) > 0
        # Pixels kept: paper pixels, and every pixel of a region without paper.
        keep = paper | ~has_paper[labels]
        if not keep.all():
            labels, arr = labels[keep], arr[:, keep]
    labels = labels.astype(np.int64)  # once, not per channel
    pool_one = _median if method == "median" else _mean
    out = np.empty((arr.shape[0], count, arr.shape[2]), np.float32)
    for k in range(arr.shape[0]):
        for c in range(arr.shape[2]):
            out[k, :, c] = pool_one(labels, arr[k, :, c], count)
    return _like_input(out, values)


def _mean(labels: np.ndarray, v: np.ndarray, count: int) -> np.ndarray:
    n = np.bincount(labels, minlength=count)
    return np.bincount(labels, weights=v, minlength=count) / np.maximum(n, 1)


def _median(labels: np.ndarray, v: np.ndarray, count: int) -> np.ndarray:
    """Per-region median of v (N,) (labels int64 (N,)): O(N) histograms instead of a sort.

    A (count, bins) histogram finds each region's median bin; a second histogram of the
    pixels in that bin splits it into ``bins`` sub-bins (so 1/65536 of the range for 256
    bins); the grouped-data interpolation inside the sub-bin estimates the median, which is
    then snapped to the region's value nearest to it (exact for data on any grid coarser
    than a sub-bin, e.g. uint8 colours, and always a value that occurs in the region).
    """
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return np.full(count, lo, np.float32)
    bins = int(np.clip(_MAX_CELLS // max(count, 1), _MIN_BINS, _BINS))
    half = np.bincount(labels, minlength=count) / 2.0
    width = (hi - lo) / bins
    bin_of = np.clip(((v - lo) / width).astype(np.int64), 0, bins - 1)
    k, below, _ = _median_bin(labels, bin_of, half, np.zeros(count), count, bins)
    start = lo + k * width  # per region: the median bin, split again into sub-bins
    inside = bin_of == k[labels]
    width /= bins
    sub = np.clip(((v[inside] - start[labels[inside]]) / width).astype(np.int64), 0, bins - 1)
    k, before, frac = _median_bin(labels[inside], sub, half, below, count, bins)
    estimate = (start + (k + frac) * width).astype(np.float32)
    off = np.abs(v - estimate[labels])
    nearest = np.full(count, np.inf, np.float32)
    np.minimum.at(nearest, labels, off)
    value = np.full(count, np.inf, np.float32)
    np.minimum.at(value, labels, np.where(off <= nearest[labels], v, np.inf).astype(np.float32))
    return np.where(np.isfinite(value), value, estimate)


def _median_bin(labels, bin_of, half, below, count, bins):
    """The first bin per region where the running count (from ``below`` pixels left of the
    histogram) reaches ``half``: (bin (count,), pixels left of it, fraction of the bin
    needed to reach half, in [0, 1])."""
    hist = np.bincount(labels * bins + bin_of, minlength=count * bins).reshape(count, bins)
    cum = np.cumsum(hist, axis=1) + below[:, None]
    k = np.argmax(cum >= half[:, None], axis=1)
    rows = np.arange(count)
    before = np.where(k > 0, cum[rows, np.maximum(k - 1, 0)], below)
    frac = np.clip((half - before) / np.maximum(hist[rows, k], 1), 0.0, 1.0)
    return k, before, frac


def paint(regions: Regions, region_values: np.ndarray) -> np.ndarray:
    """Per-region values to pixels: ``region_values[..., labels, :]``.

    ``region_values``: (count,), (count, C) or (K, count, C). Returns float32 (H, W),
    (H, W, C) or (K, H, W, C): every region exactly constant.
    """
    vals = np.asarray(region_values, np.float32)
    axis = 0 if vals.ndim <= 2 else 1
    if vals.ndim not in (1, 2, 3) or vals.shape[axis] != regions.count:
        raise ValueError(f"region_values must have shape (count,), (count, C) or (K, count, C) "
                         f"with count = {regions.count}, got shape {vals.shape}")
    return np.take(vals, regions.labels, axis=axis)


def hint_colors(regions: Regions, hint_color: np.ndarray, hint_mask: np.ndarray, threshold: float = 0.5,
                levels: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Per-region colours from user hints (points or strokes), in the hints' colour space.

    ``hint_color``: (H, W, C) numbers, the hinted colour where ``hint_mask`` is set (e.g.
    ``hint_ab``); ``hint_mask``: (H, W) or (H, W, 1) in [0, 1], a pixel is hinted where it is
    above ``threshold``. A region is hinted when a hint covers some of its paper pixels; a
    hint that lies entirely on ink (a click on a line) counts for the regions of the ink it
    covers. So a stroke that crosses a line colours the regions on both sides, and a hint
    that only touches a line does not leak into the region beyond it.
    Several colours in one region: the colour covering most of the region's hinted pixels
    wins (colours are told apart after rounding each channel to ``levels`` steps over the
    hints' range; the winner's colour is the mean of its pixels, weighted by the mask).

    Returns (colors float32 (count, C), zeros where not hinted; hinted bool (count,)).
    """
    h, w = regions.shape
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 2:
        raise ValueError(f"levels must be an integer >= 2, got {levels!r}")
    color = np.asarray(hint_color, np.float32)
    mask = np.asarray(hint_mask, np.float32)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[:, :, 0]
    if color.ndim != 3 or color.shape[:2] != (h, w) or mask.shape != (h, w):
        raise ValueError(f"hint_color must have shape (H, W, C) and hint_mask (H, W) with "
                         f"(H, W) = {(h, w)} of the regions, got {color.shape} and "
                         f"{np.shape(hint_mask)}")
    if not (np.isfinite(color).all() and np.isfinite(mask).all()):
        raise ValueError("hint_color and hint_mask must be finite")
    channels = color.shape[2]
    colors = np.zeros((regions.count, channels), np.float32)
    hinted = np.zeros(regions.count, bool)
    on = mask > threshold
    if not on.any():
        return colors, hinted

    counted = on & ~regions.ink
    ink_only = on & regions.ink
    if ink_only.any():
        # Hints with no paper pixel at all (clicks on a line) count with their ink pixels.
        n, stroke = cv2.connectedComponents(on.astype(np.uint8), connectivity=8, ltype=cv2.CV_32S)
        has_paper = np.bincount(stroke[counted], minlength=n) > 0
        counted |= ink_only & ~has_paper[stroke]
    region = regions.labels[counted].astype(np.int64)
    vals = color[counted]
    weight = mask[counted].astype(np.float64)

    lo, hi = vals.min(axis=0), vals.max(axis=0)
    step = np.where(hi > lo, (hi - lo) / (levels - 1), 1.0)
    quant = np.rint((vals - lo) / step).astype(np.int64)
    _, colour_id = np.unique(quant, axis=0, return_inverse=True)
    colour_id = colour_id.ravel()
    n_colours = int(colour_id.max()) + 1
    key = region * n_colours + colour_id
    keys, group, area = np.unique(key, return_inverse=True, return_counts=True)
    group = group.ravel()
    # The winner per region: most pixels, then the lowest colour id (deterministic).
    group_region = keys // n_colours
    order = np.lexsort((keys % n_colours, -area, group_region))
    first = np.ones(len(order), bool)
    first[1:] = group_region[order][1:] != group_region[order][:-1]
    win = order[first]
    sums = np.zeros((len(keys), channels), np.float64)
    np.add.at(sums, group, vals * weight[:, None])
    mass = np.bincount(group, weights=weight, minlength=len(keys))
    colors[group_region[win]] = (sums[win] / mass[win, None]).astype(np.float32)
    hinted[group_region[win]] = True
    return colors, hinted


def flat_colors(regions: Regions, predictions: np.ndarray, hint_color: np.ndarray | None = None,
                hint_mask: np.ndarray | None = None,
                method: str = "median") -> np.ndarray:
    """Flat colours for K predictions at once: each region's pooled prediction, replaced
    by its hint colour where the region is hinted (hints override the network).

    ``predictions``: (H, W, C) or (K, H, W, C), e.g. K noise vectors' colourings at full
    resolution, in the same colour space as ``hint_color`` (H, W, C) and with ``hint_mask``
    (H, W) (both optional, see :func:`hint_colors`). Returns float32 (count, C) or
    (K, count, C); :func:`paint` makes the flat picture of it.
    """
    if np.ndim(predictions) not in (3, 4):
        raise ValueError(f"predictions must have shape (H, W, C) or (K, H, W, C), "
                         f"got shape {np.shape(predictions)}")
    flats = pool(regions, predictions, method=method)
    if (hint_color is None) != (hint_mask is None):
        raise ValueError("give hint_color and hint_mask together, or neither")
    if hint_color is not None and hint_mask is not None:  # together or neither (checked above)
        colors, hinted = hint_colors(regions, hint_color, hint_mask)
        if colors.shape[1] != flats.shape[-1]:
            raise ValueError(f"hint_color has {colors.shape[1]} channels but predictions have "
                             f"{flats.shape[-1]}; pass both in the same colour space")
        flats[..., hinted, :] = colors[hinted]
    return flats


def relative_lightness(regions: Regions, lightness: np.ndarray, method: str = "median") -> np.ndarray:
    """Lightness relative to its region: ``lightness - pooled(lightness)[labels]``.

    ``lightness``: (H, W) or (K, H, W), e.g. a line-art model's L in [0, 100]. Returns float32
    of the same shape, 0 where the pixel is as light as its region's median (the flat),
    negative where darker (shadow), positive where lighter; 0 on ink pixels (the lines
    layer covers them, and the network's dark on a line is no shading).
    """
    arr = np.asarray(lightness, np.float32)
    if arr.ndim not in (2, 3):
        raise ValueError(f"lightness must have shape (H, W) or (K, H, W), got shape {arr.shape}")
    stack = arr if arr.ndim == 3 else arr[None]
    base = pool(regions, stack[..., None], method=method)[..., 0]  # (K, count)
    delta = stack - np.take(base, regions.labels, axis=1)
    delta[:, regions.ink] = 0.0
    return delta if arr.ndim == 3 else delta[0]
