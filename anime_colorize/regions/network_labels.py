"""Region labels of what the network sees: the one recipe for training batches and inference.

A generator with region pooling takes ``regions``: an int32 label map of its input, at the
size the network sees it. :func:`region_labels` makes it from a drawing; :func:`drawing_of`
gives that drawing from the network's input, so the training pipeline (on each random crop,
inside its tf.data map) and inference (on the input brought to the working size) label the
same thing the same way:

* line-art input: the line drawing itself (the lines the pipeline extracted, or a real drawing
  prepared with ``to_line_art``);
* gray input: the picture's gray (the sRGB gray of its lightness) prepared as a drawing with
  :func:`~anime_colorize.data.lineart.to_line_art`, the path :func:`~.segmentation.segment`
  takes for a manga page: dark outlines and fills are the ink, screentone dots are dropped.
  On 100 built-in pictures at 64 px this finds 99.0 % of the true colour areas (97.0 % of the
  small ones) against 97.2 % (94.6 %) for XDoG lines of the gray and 85.3 % for Canny edges,
  every region one colour (purity 1.000) for all but Canny (``experiments/training_regions.py
  gray``). On real colour faces (faces64, no flat truth) it cuts coarser than XDoG: 24
  regions with 16.6 Lab units of colour spread in a region, against 62 regions and 15.5.

Inference segments AFTER the input is brought to the working size (the drawing the network
sees), not at full resolution followed by a reduction of the labels: on built-in pictures
drawn at 512 px and worked at 64 px, 97.8 % of the true colour areas are found that way
(96.0 % of the small ones, under 1 % of the picture), against 88.5 % (58.2 %) with the
full-size labels reduced by nearest neighbour or by the smallest region per block: small
areas vanish or merge. It also costs a working-size segmentation instead of a full-page one
(``experiments/training_regions.py working``; OpenMoji 128 -> 64: 81.5 against 80.9 %).

Labels are numbered by decreasing area (ties by the segmentation's order), so a model with a
fixed per-image region budget (``max_regions`` of the region-pooling layer) loses only the
smallest regions when a drawing has more.
"""
from __future__ import annotations

import numpy as np

from anime_colorize import color
from anime_colorize.config import INPUT_KINDS
from anime_colorize.data.lineart import to_line_art
from anime_colorize.regions.segmentation import segment_lines


def drawing_of(model_input: np.ndarray, input_kind: str) -> np.ndarray:
    """The drawing to segment, from what the network sees.

    ``model_input``: float (H, W) or (H, W, 1) in [-1, 1], the network's input: the normalised
    line drawing (``input_kind="lineart"``) or the normalised lightness ``L / 50 - 1`` ("gray").
    Returns float32 (H, W) in [0, 1], 1 = paper.
    """
    if input_kind not in INPUT_KINDS:
        raise ValueError(f"unknown input kind {input_kind!r}; expected one of {INPUT_KINDS}")
    x = np.asarray(model_input, np.float32)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 2:
        raise ValueError(f"the model input must have shape (H, W) or (H, W, 1), got {np.shape(model_input)}")
    if input_kind == "lineart":
        return np.clip(x * np.float32(0.5) + np.float32(0.5), 0.0, 1.0)
    gray = color.l_ab_to_rgb_np(x[..., None], np.zeros(x.shape + (2,), np.float32))[..., 0]
    return to_line_art(gray)


def region_labels(drawing: np.ndarray) -> np.ndarray:
    """Region labels of a drawing at the network's size: int32 (H, W), values 0 .. n-1, every
    pixel (ink included) in a region, region 0 the largest (see the module docstring).

    ``drawing``: float (H, W) in [0, 1], 1 = paper (e.g. :func:`drawing_of`), or uint8.
    Deterministic: the same drawing gives the same labels.
    """
    regions = segment_lines(drawing)
    return by_decreasing_area(regions.labels, regions.count)


def by_decreasing_area(labels: np.ndarray, count: int) -> np.ndarray:
    """``labels`` (int, 0 .. count-1) renumbered so that 0 is the largest region, ties in
    the order of the old ids: int32, same shape."""
    area = np.bincount(labels.ravel(), minlength=count)
    order = np.argsort(-area, kind="stable")
    rank = np.empty(count, np.int32)
    rank[order] = np.arange(count, dtype=np.int32)
    return rank[labels]
