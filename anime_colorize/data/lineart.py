"""Line art from colour pictures (training pairs) and from real drawings (inference).

A line-art colorizer is trained on pairs (line drawing, colour picture). Real pairs are
rare, so the drawing is *extracted* from the colour picture. Every extractor leaves its
own fingerprint (line width, double edges, speckle), and a model trained on one learns
that fingerprint instead of "lines", then fails on real line art. So
:func:`random_lines` mixes three extractors with jittered parameters, random line
thickness and random line darkness:

* ``"xdog"`` - eXtended Difference of Gaussians (Winnemoeller, Kyprianidis and Olsen,
  "XDoG: An eXtended difference-of-Gaussians compendium", Computers & Graphics 2012).
  A band-pass filter (a narrow Gaussian minus a slightly weaker wide one) is negative
  just on the dark side of every edge and ~0 on flat areas; a soft tanh threshold turns
  that into smooth, anti-aliased, single outlines that look drawn. The default (half of
  the draws), as in most line-art colorization work.
* ``"canny"`` - the Canny edge detector (``cv2.Canny``), as in the Stanford CS231n
  "Anime colorization" poster: crisp 1 px binary edges, also between flat colours of
  similar lightness, but doubled around drawn outlines (one edge on each side).
* ``"adaptive"`` - a local mean threshold (``cv2.adaptiveThreshold``), as in the
  deepcolor project: a pixel is ink when it is darker than its neighbourhood's mean by
  more than ``c``; keeps drawn outlines at their real width, and some texture.

Convention everywhere: a line drawing is float32 ``(H, W)`` in [0, 1] where 1 is white
paper and 0 black ink, i.e. a grayscale image of the drawing (sRGB-encoded gray values,
the same meaning as a gray pixel of the colour picture).

:func:`lines_from_seed` is the per-image entry point of the training pipeline (through
``tf.numpy_function`` with a per-image seed, so the pipeline stays deterministic);
:func:`to_line_art` prepares REAL drawings (clean line art, pencil sketches, screentoned
manga pages) at inference: it whitens the paper but does not binarise.
"""
from __future__ import annotations

import logging
import math
import numbers
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from anime_colorize import color
from anime_colorize.data.checks import check_int

log = logging.getLogger(__name__)

METHODS = ("xdog", "canny", "adaptive")

# Share of each method in random_lines: XDoG looks most like drawn line art, the other
# two are there for variety of line style.
DEFAULT_WEIGHTS = {"xdog": 0.5, "canny": 0.25, "adaptive": 0.25}

# Ranges of the random draws in random_lines (uniform unless noted). Centred on the
# function defaults, which were tuned by eye on 64 px anime faces and 256-512 px pictures.
THICKNESS_RANGE = (1, 2)  # integers, both included
DARKNESS_RANGE = (0.7, 1.0)


# ----------------------------------------------------------------------------- checks


def _check_gray(gray, name: str = "gray") -> np.ndarray:
    """gray float (H, W) in [0, 1] (or uint8, scaled by 1/255) -> float32 (H, W)."""
    arr = np.asarray(gray)
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (H, W), got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) * np.float32(1.0 / 255.0)
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name} must be float in [0, 1] or uint8, got dtype {arr.dtype}")
    return _check_unit_range(arr.astype(np.float32, copy=False), name)


def _check_unit_range(arr: np.ndarray, name: str) -> np.ndarray:
    lo, hi = float(arr.min()), float(arr.max())  # NaN propagates into lo/hi
    if not (lo >= -1e-3 and hi <= 1.0 + 1e-3):
        raise ValueError(f"{name} must hold finite values in [0, 1], got range [{lo}, {hi}]")
    if lo < 0.0 or hi > 1.0:  # rounding noise from colour conversions: clip, do not fail
        arr = np.clip(arr, 0.0, 1.0)
    return arr


def _check_rgb(rgb, name: str = "rgb") -> np.ndarray:
    """(H, W, 3) uint8 or float in [0, 1] (also (H, W) or (H, W, 1) gray) -> float32 gray (H, W).

    The gray is the luma of cv2 (0.299 R + 0.587 G + 0.114 B): line detection only needs
    the edges, and luma on uint8 is the fastest conversion.
    """
    arr = np.asarray(rgb)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise ValueError(f"{name} must have shape (H, W, 3) (or (H, W) gray), got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        gray = cv2.cvtColor(arr, cv2.COLOR_RGB2GRAY) if arr.ndim == 3 else arr
        return gray.astype(np.float32) * np.float32(1.0 / 255.0)
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name} must be uint8 or float in [0, 1], got dtype {arr.dtype}")
    arr = _check_unit_range(arr.astype(np.float32, copy=False), name)
    return cv2.cvtColor(arr, cv2.COLOR_RGB2GRAY) if arr.ndim == 3 else arr


def _check_number(name: str, value, lo: float | None = None, hi: float | None = None,
                  lo_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    value = float(value)
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise ValueError(f"{name} must be {'>' if lo_open else '>='} {lo}, got {value}")
    if hi is not None and value > hi:
        raise ValueError(f"{name} must be <= {hi}, got {value}")
    return value


def _check_method(method) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown line-art method {method!r}; expected one of {METHODS}")
    return method


def _to_u8(gray: np.ndarray) -> np.ndarray:
    return (gray * 255.0 + 0.5).astype(np.uint8)


# ---------------------------------------------------------------------------- methods


def xdog(gray: np.ndarray, sigma: float = 0.5, k: float = 2.5, tau: float = 0.98, epsilon: float = -0.01,
         phi: float = 100.0) -> np.ndarray:
    """eXtended Difference of Gaussians line drawing (Winnemoeller et al. 2012, eq. 4-5).

    ``gray``: float (H, W) in [0, 1] (uint8 is accepted and scaled by 1/255).
    Returns float32 (H, W) in [0, 1]: 1 = white paper, 0 = black line.

    ``D = G_sigma * gray - tau * G_(k sigma) * gray``; pixels with ``D >= epsilon`` are
    paper, the others ``1 + tanh(phi * (D - epsilon))``. On a flat area of value v,
    ``D = (1 - tau) v >= 0``, so flat areas of any colour stay white when ``epsilon <= 0``;
    on the dark side of an edge ``D`` is negative, which draws a line there. ``sigma``
    (px) sets the line width, ``k`` the width of the surround, ``tau`` < 1 how much a
    faint edge needs to show up, ``epsilon`` (in gray units) the threshold below zero that
    keeps JPEG noise and soft shading off the paper, ``phi`` the sharpness of the
    threshold (large = binary, small = soft grey lines).

    Defaults, tuned by eye on 64 px anime faces and 256-512 px illustrations: sigma 0.5
    and k 2.5 give 1-2 px outlines that still catch the faint outlines of light clothes
    (k 1.6 misses them; sigma 0.8 is heavy at 64 px); epsilon -0.01 keeps JPEG noise,
    soft shading and hair texture off the paper; phi 100 gives crisp lines with a pixel
    of anti-aliasing. ``epsilon`` is in gray units of D, not of the image: with the
    often-quoted epsilon 0.1 every flat area (D = 0.02 on white paper) would turn black.
    """
    g = _check_gray(gray)
    sigma = _check_number("sigma", sigma, 0.0, lo_open=True)
    k = _check_number("k", k, 1.0, lo_open=True)
    tau = _check_number("tau", tau, 0.0, 1.0)
    epsilon = _check_number("epsilon", epsilon)
    phi = _check_number("phi", phi, 0.0, lo_open=True)
    # BORDER_REPLICATE: the default reflection is fine too, but replicate keeps a picture
    # that touches the frame from gaining a line along the frame.
    g1 = cv2.GaussianBlur(g, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    g2 = cv2.GaussianBlur(g, (0, 0), sigma * k, borderType=cv2.BORDER_REPLICATE)
    d = g1 - np.float32(tau) * g2
    d -= np.float32(epsilon)
    np.minimum(d, 0.0, out=d)  # D >= epsilon -> tanh(0) = 0 -> paper
    d *= np.float32(phi)
    out = np.tanh(d, out=d)
    out += 1.0
    return np.clip(out, 0.0, 1.0, out=out)


def canny_lines(gray: np.ndarray, low: float = 80.0, high: float = 200.0, blur: float = 0.7) -> np.ndarray:
    """Canny edges as lines: ``cv2.Canny`` on the uint8 gray, inverted.

    ``gray``: float (H, W) in [0, 1] (or uint8). Returns float32 (H, W) with values 0
    (edge) and 1 (paper). ``low`` and ``high`` are the hysteresis thresholds on the
    gradient magnitude of the 0..255 image (Sobel 3x3, L2 norm), ``low <= high``.
    ``blur`` > 0 smooths with a Gaussian of that sigma (px) first, which drops edges of
    texture and JPEG noise. Defaults 80 / 200 / 0.7: lower thresholds or no blur fill
    64 px faces with edges of hair texture and JPEG blocks.
    """
    g = _check_gray(gray)
    low = _check_number("low", low, 0.0)
    high = _check_number("high", high, low)
    blur = _check_number("blur", blur, 0.0)
    u8 = _to_u8(g)
    if blur > 0:
        u8 = cv2.GaussianBlur(u8, (0, 0), blur, borderType=cv2.BORDER_REPLICATE)
    # L2gradient: the true gradient magnitude, so diagonal edges are treated like straight ones.
    edges = cv2.Canny(u8, low, high, L2gradient=True)
    return 1.0 - edges.astype(np.float32) * np.float32(1.0 / 255.0)


def adaptive_lines(gray: np.ndarray, block_size: int = 7, c: float = 8.0) -> np.ndarray:
    """Local-mean threshold as lines: ``cv2.adaptiveThreshold`` (mean), as in deepcolor.

    ``gray``: float (H, W) in [0, 1] (or uint8). Returns float32 (H, W) with values 0
    (ink) and 1 (paper). A pixel is ink when it is darker than the mean of its
    ``block_size`` x ``block_size`` neighbourhood (odd, >= 3) by more than ``c`` (in
    0..255 gray levels). deepcolor used block 9, c = 2 at 256 px; block 7 gives thinner
    lines at 64 px, and c = 8 keeps JPEG noise, soft shading and hair texture off the
    paper (c = 2 speckles every gradient).
    """
    g = _check_gray(gray)
    block_size = check_int("block_size", block_size, 3)
    if block_size % 2 == 0:
        raise ValueError(f"block_size must be odd, got {block_size}")
    c = _check_number("c", c)
    out = cv2.adaptiveThreshold(_to_u8(g), 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY,
                                block_size, c)
    return out.astype(np.float32) * np.float32(1.0 / 255.0)


_EXTRACTORS: dict[str, Callable[..., np.ndarray]] = {"xdog": xdog, "canny": canny_lines, "adaptive": adaptive_lines}


def _thicken(lines: np.ndarray, thickness: int) -> np.ndarray:
    """Grey erosion (min filter): the dark lines grow by thickness - 1 px."""
    if thickness == 1:
        return lines
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (thickness, thickness))
    return cv2.erode(lines, kernel, borderType=cv2.BORDER_REPLICATE)


def _finish(lines: np.ndarray, thickness: int, darkness: float) -> np.ndarray:
    lines = _thicken(lines, thickness)
    if darkness != 1.0:
        lines = 1.0 - np.float32(darkness) * (1.0 - lines)
    return np.clip(lines, 0.0, 1.0).astype(np.float32, copy=False)


def extract_lines(rgb: np.ndarray, method: str = "xdog", thickness: int = 1, darkness: float = 1.0,
                  **params: float) -> np.ndarray:
    """A line drawing of a colour picture.

    ``rgb``: uint8 (H, W, 3) or float (H, W, 3) in [0, 1] (a gray (H, W) or (H, W, 1) is
    accepted too). ``method``: one of :data:`METHODS`. ``thickness``: integer >= 1, lines
    grow by ``thickness - 1`` px (grey erosion with a ``thickness`` x ``thickness`` disc;
    1 = unchanged). ``darkness`` in (0, 1]: ``lines = 1 - darkness * (1 - lines)``, so
    black ink becomes gray ``1 - darkness``. ``params`` go to the method's function
    (:func:`xdog`, :func:`canny_lines`, :func:`adaptive_lines`).

    Returns float32 (H, W) in [0, 1], 1 = white paper, 0 = black line.
    """
    _check_method(method)
    thickness = check_int("thickness", thickness, 1)
    darkness = _check_number("darkness", darkness, 0.0, 1.0, lo_open=True)
    gray = _check_rgb(rgb)
    return _finish(_EXTRACTORS[method](gray, **params), thickness, darkness)


def _random_params(method: str, rng: np.random.Generator) -> dict:
    """Parameters jittered around the method's defaults."""
    if method == "xdog":
        return dict(sigma=rng.uniform(0.4, 0.7), k=rng.uniform(1.8, 3.0),
                    tau=rng.uniform(0.97, 0.99), epsilon=rng.uniform(-0.015, -0.005),
                    phi=rng.uniform(40.0, 150.0))
    if method == "canny":
        low = rng.uniform(60.0, 100.0)
        return dict(low=low, high=low * rng.uniform(2.0, 2.8), blur=rng.uniform(0.5, 1.0))
    return dict(block_size=int(rng.choice([5, 7, 9])), c=rng.uniform(6.0, 12.0))


def _check_methods_weights(methods, weights) -> tuple[tuple[str, ...], np.ndarray]:
    if isinstance(methods, str):
        methods = (methods,)
    methods = tuple(methods)
    if not methods:
        raise ValueError(f"methods must name at least one of {METHODS}")
    for m in methods:
        _check_method(m)
    if weights is None:
        raw = [DEFAULT_WEIGHTS[m] for m in methods]
    elif isinstance(weights, Mapping):
        unknown = set(weights) - set(METHODS)
        if unknown:
            raise ValueError(f"unknown line-art method(s) {sorted(unknown)} in weights; "
                             f"expected names from {METHODS}")
        raw = [weights.get(m, 0.0) for m in methods]
    else:
        raw = list(weights)
        if len(raw) != len(methods):
            raise ValueError(f"weights needs one value per method ({len(methods)}), got {len(raw)}")
    try:
        w = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"weights must be numbers, got {weights!r}") from None
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be finite, >= 0 and not all 0, got {w.tolist()}")
    return methods, w / w.sum()


def random_lines(rgb: np.ndarray, rng: np.random.Generator, methods: Sequence[str] = METHODS,
                 weights: Sequence[float] | Mapping[str, float] | None = None) -> np.ndarray:
    """One line drawing with a random method, random parameters, thickness and darkness.

    ``rgb`` as in :func:`extract_lines`. ``rng``: a ``np.random.Generator``; the result
    depends only on its state (and ``rgb``, ``methods``, ``weights``). ``methods``: a
    non-empty subset of :data:`METHODS`. ``weights``: one number >= 0 per method, or a
    mapping name -> weight, or None for :data:`DEFAULT_WEIGHTS` (xdog 0.5, canny 0.25,
    adaptive 0.25), renormalised over ``methods``. Thickness is 1 or 2 and darkness
    uniform in [0.7, 1.0].

    Returns float32 (H, W) in [0, 1], 1 = white paper, 0 = black line.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    methods, p = _check_methods_weights(methods, weights)
    gray = _check_rgb(rgb)
    method = methods[int(rng.choice(len(methods), p=p))]
    params = _random_params(method, rng)
    thickness = int(rng.integers(THICKNESS_RANGE[0], THICKNESS_RANGE[1] + 1))
    darkness = float(rng.uniform(*DARKNESS_RANGE))
    log.debug("random_lines: %s %s thickness=%d darkness=%.3f", method, params, thickness, darkness)
    return _finish(_EXTRACTORS[method](gray, **params), thickness, darkness)


def lines_from_seed(rgb: np.ndarray, seed: Sequence[int] | np.ndarray, **kwargs: Any) -> np.ndarray:
    """:func:`random_lines` with ``np.random.default_rng(list(seed))``: the pipeline's entry point.

    ``seed``: two integers (a tuple, list or int array of shape (2,), e.g. a stateless TF
    seed from ``tf.numpy_function``); negative int64 values are taken modulo 2**64, since
    numpy seeds must be >= 0. ``kwargs`` go to :func:`random_lines` (``methods``,
    ``weights``). Same (rgb, seed) -> identical result.
    """
    words = seed.tolist() if isinstance(seed, np.ndarray) else seed
    try:
        words = list(words)
        if len(words) != 2 or any(isinstance(s, bool) for s in words):
            raise TypeError
        words = [operator.index(s) % (1 << 64) for s in words]
    except TypeError:
        raise ValueError(f"seed must be two integers, got {seed!r}") from None
    return random_lines(rgb, np.random.default_rng(words), **kwargs)


# -------------------------------------------------------------------------- inference

# Paper level = this percentile of the gray: on a drawing most pixels are paper, and a
# high percentile ignores the ink, screentone and dark fills; below 100 so that a few
# specks of bright dust or JPEG ringing do not set it.
PAPER_PERCENTILE = 90.0
# Photographed sketches are lit unevenly (the paper goes from 0.95 to 0.85 across a
# phone photo), so the paper level is also estimated per tile of about 1/8 of the long
# side (never under 64 px; smaller pictures use the global level only), with a higher
# percentile since a tile may be mostly ink. A tile may lower the paper level by at most
# MAX_SHADING of the global level: a tile that is all dark fill or flat gray tone (no
# paper at all) then stays dark instead of being stretched to white.
_TILE_FRACTION = 1.0 / 8.0
_MIN_TILE = 64
_TILE_PERCENTILE = 97.0
MAX_SHADING = 0.2
# A page whose paper level comes out below this is no drawing on light paper (a dark
# photo, an inverted page): stretching it would blow noise up, so the gain is capped.
_MIN_PAPER = 0.35
# Percentiles are taken on a strided sample of about this many pixels: plenty for a
# percentile, and it keeps 3-megapixel pages fast.
_SAMPLE_PIXELS = 250_000


def to_line_art(image: np.ndarray) -> np.ndarray:
    """A REAL drawing (line art, pencil sketch, screentoned manga page) as model input.

    ``image``: float (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA in [0, 1]
    (uint8 is accepted and scaled by 1/255; alpha is composited onto white paper).
    Returns float32 (H, W) in [0, 1]: the drawing's gray with the paper normalised to
    white (1). The paper level is a high percentile of the gray, refined per tile for
    uneven lighting (see ``MAX_SHADING``), and every pixel is divided by the paper level
    around it: an exposure correction that keeps lines as dark as drawn relative to the
    paper. Nothing is binarised, so pencil shading and screentone survive. Colour is
    reduced to the gray with the same CIE lightness (as ``anime_colorize.color.rgb_to_gray``).
    """
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise ValueError(f"image must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), "
                         f"got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"image must not be empty, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) * np.float32(1.0 / 255.0)
    elif np.issubdtype(arr.dtype, np.floating):
        arr = _check_unit_range(arr.astype(np.float32, copy=False), "image")
    else:
        raise ValueError(f"image must be float in [0, 1] or uint8, got dtype {arr.dtype}")

    if arr.ndim == 3:
        if arr.shape[2] == 4:  # transparent = paper
            alpha = arr[:, :, 3:]
            arr = arr[:, :, :3] * alpha + (1.0 - alpha)
        gray = color.rgb_to_gray_np(arr)[..., 0]
    else:
        gray = arr

    paper = _paper_level(gray)
    out = gray / paper
    return np.clip(out, 0.0, 1.0, out=out).astype(np.float32, copy=False)


def _paper_level(gray: np.ndarray) -> np.ndarray | np.float32:
    """The paper's gray around each pixel: a scalar, or a smooth float32 (H, W) map."""
    h, w = gray.shape
    step = max(1, int(np.sqrt(gray.size / _SAMPLE_PIXELS)))
    sample = gray[::step, ::step]
    paper = float(np.percentile(sample, PAPER_PERCENTILE))
    if paper < _MIN_PAPER:
        log.warning("to_line_art: paper level %.3f is unusually dark (not a drawing on "
                    "light paper?); stretching as if it were %.2f", paper, _MIN_PAPER)
        paper = _MIN_PAPER
    tile = max(_MIN_TILE, _TILE_FRACTION * max(h, w))
    ny, nx = round(h / tile), round(w / tile)
    if ny < 2 and nx < 2:
        return np.float32(paper)
    ny, nx = max(ny, 1), max(nx, 1)
    ys = np.linspace(0, sample.shape[0], ny + 1).astype(int)
    xs = np.linspace(0, sample.shape[1], nx + 1).astype(int)
    grid = np.empty((ny, nx), np.float32)
    for i in range(ny):
        for j in range(nx):
            grid[i, j] = np.percentile(sample[ys[i]:ys[i + 1], xs[j]:xs[j + 1]], _TILE_PERCENTILE)
    # Only darker-lit tiles are corrected, never by more than MAX_SHADING; a tile brighter
    # than the page level is simply paper (the stretch is clipped at 1 anyway).
    np.clip(grid, (1.0 - MAX_SHADING) * paper, paper, out=grid)
    if grid.min() == grid.max():
        return np.float32(paper)
    # Tile centres interpolated linearly: a smooth, seamless lighting map.
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_LINEAR)
