"""Whether a picture is already in colour: ``colorize --skip-colour`` passes such pages through.

The statistic, :func:`colour_share`: the share of the picture whose chroma stands out.

1. The picture is shrunk (area average) to at most :data:`CHECK_SIDE` px on its longer side.
   Averaging removes what is not colour but looks like it pixel by pixel: JPEG chroma noise
   and the colour fringes of a misregistered scan along every line and screentone dot.
2. Its colour cast is divided out: each channel is scaled so that the per-channel medians
   agree (the median pixel is the paper or the screentone). A black-and-white page on yellowed
   paper, a sepia scan, or one printed in a single ink then has no chroma left; a page with
   several colours keeps them.
3. Chroma is max - min of R, G, B (in [0, 1]); the share of pixels above
   :data:`CHROMA_THRESHOLD` is the statistic. A picture is in colour when that share is at
   least :data:`COLOUR_SHARE`.

Measured with ``experiments/colour_pages.py`` on ``shared/data`` (the share; in colour at 0.04):
* black and white, none judged in colour: manga_bw (12 pages) 0 as they are, 0 re-saved as
  colour JPEGs (q75), 0 on yellowed or sepia paper, at most 0.028 with two channels shifted
  by a pixel (a misregistered scan); sketches, revoy sketches, openmoji line art (3000): at
  most 0.0001;
* colour: renpy 13/13 (min 0.065), revoy 6/6 (min 0.23), faces64 2954/3000 (98.5%; the rest
  are nearly gray or pale faces, which get coloured), openmoji colour 2531/3000 (the others
  are black or gray emoji: share 0).
A page that is mostly one colour with little else (a blue-toned page) reads as black and white
and is coloured: the safe side, since a coloured page is never lost, only recoloured.
"""
from __future__ import annotations

import numpy as np

CHECK_SIDE = 256
CHROMA_THRESHOLD = 0.12   # ~31 of 255: above JPEG noise and scan fringes once averaged
COLOUR_SHARE = 0.04       # 4% of the page: a coloured face or title, not a stray fringe


def colour_share(rgb: np.ndarray) -> float:
    """The share (in [0, 1]) of the picture whose chroma is above CHROMA_THRESHOLD once it is
    shrunk and its colour cast divided out (see the module docstring). ``rgb``: float (H, W, 3)
    in [0, 1] (uint8 is accepted too)."""
    import cv2

    rgb = np.asarray(rgb)
    rgb = rgb.astype(np.float32) / 255.0 if rgb.dtype == np.uint8 else np.ascontiguousarray(rgb, np.float32)
    height, width = rgb.shape[:2]
    scale = CHECK_SIDE / max(height, width)
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    pixels = rgb.reshape(-1, 3)
    median = np.median(pixels, axis=0)
    if median.min() > 0.1:  # a dark median says nothing reliable about the paper
        pixels = np.clip(pixels * np.clip(median.mean() / median, 0.5, 2.0), 0.0, 1.0)
    chroma = pixels.max(axis=1) - pixels.min(axis=1)
    return float(np.mean(chroma > CHROMA_THRESHOLD))


def is_in_colour(rgb: np.ndarray) -> bool:
    """Whether the picture (float RGB (H, W, 3) in [0, 1]) is already in colour."""
    return colour_share(rgb) >= COLOUR_SHARE
