"""Colour hints for guided colourisation: simulated for training, loaded for inference.

Convention (Zhang et al. 2017, "Real-Time User-Guided Image Colorization"):
    hint_ab    float32 (B, H, W, 2): normalised ab (:func:`color.normalize_ab`, about
               [-1, 1]) of the hinted colour; exactly 0 wherever hint_mask is 0
    hint_mask  float32 (B, H, W, 1) in [0, 1]: 1 where a hint is given, fractions are soft
               hints, 0 elsewhere
    hint_hist  float32 (B, 512): a global 8x8x8 sRGB colour histogram summing to 1 (bin
               r * 64 + g * 8 + b, see :func:`colour_histogram`), or all zeros = none given
A network called without hints gets :func:`empty_hints`, so one generator serves both
automatic and guided colouring. The network takes exactly the keys of :func:`empty_hints`.

User hints loaded for inference (the ``hints_from_*`` loaders) also carry the chosen colour's
lightness, which the network never sees (it is told the colour, not the shade):
    hint_l     float32 (B, H, W, 1): normalised L (:func:`color.normalize_l`, [-1, 1]) of the
               hinted colour; exactly 0 wherever hint_mask is 0
so a flat colouring can paint a region in the colour as chosen, L included (line-art models,
:mod:`anime_colorize.regions`); :func:`hint_lab` reads the Lab of hints.

The ``simulate*`` functions run inside tf.data: TF ops vectorised over the batch, unknown
B, H, W allowed, deterministic given ``seed``, a (2,) int tensor for the
``tf.random.stateless_*`` ops (sub-seeds from ``stateless_split``). The ``hints_from_*``
loaders read user hint files on the host (eagerly) and return hints with B = 1.
"""
from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from anime_colorize import color
from anime_colorize.array_types import TensorLike
from anime_colorize.config import HINT_KINDS  # noqa: F401  (one list of kinds, re-exported)

# Kinds given as a colour image (hint_ab + hint_mask) and as a global histogram (hint_hist).
SPATIAL_KINDS = ("points", "scribble", "blur")
GLOBAL_KINDS = ("histogram", "reference")
HIST_BINS = 8
HIST_SIZE = HIST_BINS ** 3
# "mix": per-image probability of each kind. "reference" at training time is the image's
# own histogram (a reference picture shares the palette), so it duplicates "histogram".
MIX_PROBS = {"none": 0.25, "points": 0.25, "scribble": 0.2, "blur": 0.15,
             "histogram": 0.075, "reference": 0.075}
_POINT_P = 1.0 / 8.0      # geometric number of points, P(0) = 1/8, mean 7 (Zhang et al.)
_MAX_WHITEOUTS = 4        # simulate_blur: 1.._MAX_WHITEOUTS white rectangles per image
_MIN_WHITEOUT = 0.15      # smallest white-out side, as a fraction of the image side
_MASK_EPS = 1e-3          # simulate_blur: coverage below this counts as no hint
MAX_POINTS = 10_000       # most colour points one user hint file (or request) may hold


def empty_hints(batch: int, height: int, width: int) -> dict:
    """No hints: {"hint_ab": (B, H, W, 2), "hint_mask": (B, H, W, 1), "hint_hist": (B, 512)},
    float32 zeros. Sizes may be Python ints or scalar int tensors."""
    return {"hint_ab": tf.zeros([batch, height, width, 2]),
            "hint_mask": tf.zeros([batch, height, width, 1]),
            "hint_hist": tf.zeros([batch, HIST_SIZE])}


def _prepare(rgb, seed=None):
    rgb = tf.convert_to_tensor(rgb, tf.float32)
    shape = tf.shape(rgb)
    seed = None if seed is None else tf.cast(tf.convert_to_tensor(seed), tf.int64)
    return rgb, seed, shape[0], shape[1], shape[2]


def _split(seed, n):
    return tf.unstack(tf.random.experimental.stateless_split(seed, n), num=n)


def _box(y0, x0, height, width, h, w):
    """(B, h, w) bool: rows [y0, y0 + height) x columns [x0, x0 + width); all (B,) int32."""
    rows, cols = tf.range(h)[None, :], tf.range(w)[None, :]
    in_rows = (rows >= y0[:, None]) & (rows < (y0 + height)[:, None])
    in_cols = (cols >= x0[:, None]) & (cols < (x0 + width)[:, None])
    return in_rows[:, :, None] & in_cols[:, None, :]


def simulate_points(rgb: TensorLike, seed: TensorLike, max_points: int = 20, patch_sizes: Sequence[int] = (1, 2, 3),
                    centre_std: float = 0.25, count: TensorLike | None = None,
                    with_lightness: bool = False) -> dict:
    """Point hints as in Zhang et al. 2017, for rgb float32 (B, H, W, 3) in [0, 1].

    Each image gets n points, n geometric with P(n) = (1/8) (7/8)^n clipped to
    ``max_points`` (1/8 of the images get none, mean ~7), or exactly ``count`` points when
    given (a Python int, as the evaluation's hint sweep uses). A point's centre is normal around
    the image centre (std ``centre_std`` * side, clipped to the image); it hints a square
    patch (side drawn from ``patch_sizes``) with the patch's MEAN normalised ab, mask 1;
    later points overwrite earlier ones. Returns hint_ab / hint_mask, zero hint_hist, and with
    ``with_lightness`` the patches' mean normalised L as hint_l (what a user picking that colour
    gives; the evaluation's flat colouring uses it, the network does not)."""
    rgb, seed, b, h, w = _prepare(rgb, seed)
    l, ab = color.rgb_to_l_ab(rgb)
    channels = 2
    if with_lightness:  # the patch means of L and ab together; L last, so ab stays channels 0-1
        ab, channels = tf.concat([ab, l], -1), 3
    count_seed, pos_seed, side_seed = _split(seed, 3)
    if count is not None:
        max_points = max(max_points, int(count))
        count = tf.fill([b], int(count))
    else:
        u = 1.0 - tf.random.stateless_uniform([b], count_seed)  # (0, 1]
        count = tf.cast(tf.minimum(tf.floor(tf.math.log(u) / math.log(1.0 - _POINT_P)),
                                   float(max_points)), tf.int32)
    hw = tf.cast(tf.stack([h, w]), tf.float32)
    centre = hw / 2.0 + tf.random.stateless_normal([b, max_points, 2], pos_seed) * centre_std * hw
    centre = tf.cast(tf.round(tf.clip_by_value(centre, 0.0, hw - 1.0)), tf.int32)
    side = tf.gather(tf.constant(patch_sizes, tf.int32), tf.random.stateless_uniform(
        [b, max_points], side_seed, 0, len(patch_sizes), dtype=tf.int32))  # (B, K)
    y0 = tf.clip_by_value(centre[..., 0] - (side - 1) // 2, 0, tf.maximum(h - side, 0))
    x0 = tf.clip_by_value(centre[..., 1] - (side - 1) // 2, 0, tf.maximum(w - side, 0))
    y1, x1 = tf.minimum(y0 + side, h), tf.minimum(x0 + side, w)
    # Patch means from a summed-area table (float64: exact enough for big images).
    table = tf.cumsum(tf.cumsum(tf.cast(ab, tf.float64), 1), 2)
    table = tf.reshape(tf.pad(table, [[0, 0], [1, 0], [1, 0], [0, 0]]), [b, -1, channels])
    corner = lambda y, x: tf.gather(table, y * (w + 1) + x, batch_dims=1)  # noqa: E731
    total = corner(y1, x1) - corner(y0, x1) - corner(y1, x0) + corner(y0, x0)
    means = tf.cast(total / tf.cast((y1 - y0) * (x1 - x0), tf.float64)[..., None], tf.float32)
    means = tf.concat([tf.zeros([b, 1, channels]), means], 1)  # (B, 1 + K, C), row 0 = no hint
    owner = tf.zeros([b, h, w], tf.int32)  # 1 + index of the point painting each pixel
    for k in range(max_points):
        box = _box(y0[:, k], x0[:, k], side[:, k], side[:, k], h, w)
        owner = tf.where(box & (k < count)[:, None, None], k + 1, owner)
    mask = tf.cast(owner > 0, tf.float32)[..., None]
    painted = tf.gather(means, owner, batch_dims=1)
    out = {"hint_ab": painted[..., :2], "hint_mask": mask, "hint_hist": tf.zeros([b, HIST_SIZE])}
    if with_lightness:
        out["hint_l"] = painted[..., 2:]
    return out


def _segment_distance(a, b, ys, xs):
    """(B, H, W) distance of each pixel centre to the segment a-b; a, b (B, 2) as (y, x)."""
    ay, ax = a[:, 0, None, None], a[:, 1, None, None]
    dy, dx = b[:, 0, None, None] - ay, b[:, 1, None, None] - ax
    t = ((ys - ay) * dy + (xs - ax) * dx) / tf.maximum(dy * dy + dx * dx, 1e-6)
    t = tf.clip_by_value(t, 0.0, 1.0)
    return tf.sqrt(tf.square(ys - ay - t * dy) + tf.square(xs - ax - t * dx))


def simulate_scribbles(rgb: TensorLike, seed: TensorLike, max_strokes: int = 6, max_length: float = 0.3,
                       width: int = 2) -> dict:
    """Short coloured strokes ("atari", PaintsChainer-style), rgb float32 (B, H, W, 3).

    Each image gets 1..``max_strokes`` strokes: two-segment polylines (half of them
    straight) from a uniform random start, random direction, bend up to +-90 degrees,
    length up to ``max_length`` * the shorter side (at least 2 px), pixel centres within
    ``width`` / 2. Under a stroke hint_mask = 1 and hint_ab = the image's TRUE per-pixel
    normalised ab (a user scribbling the right colour); zero hint_hist."""
    rgb, seed, b, h, w = _prepare(rgb, seed)
    _, ab = color.rgb_to_l_ab(rgb)
    count_seed, shape_seed = _split(seed, 2)
    count = tf.random.stateless_uniform([b], count_seed, 1, max_strokes + 1, dtype=tf.int32)
    u = tf.random.stateless_uniform([b, max_strokes, 6], shape_seed)
    hi = tf.cast(tf.stack([h, w]), tf.float32) - 1.0
    half = 0.5 * tf.maximum(u[..., 2] * max_length * tf.cast(tf.minimum(h, w), tf.float32), 2.0)
    theta = 2.0 * math.pi * u[..., 3]
    bend = math.pi * (u[..., 4] - 0.5) * tf.cast(u[..., 5] < 0.5, tf.float32)
    p0 = u[..., :2] * hi  # (B, K, 2) as (y, x)
    p1 = p0 + half[..., None] * tf.stack([tf.sin(theta), tf.cos(theta)], -1)
    p2 = p1 + half[..., None] * tf.stack([tf.sin(theta + bend), tf.cos(theta + bend)], -1)
    p1, p2 = tf.clip_by_value(p1, 0.0, hi), tf.clip_by_value(p2, 0.0, hi)
    ys = tf.cast(tf.range(h), tf.float32)[None, :, None]
    xs = tf.cast(tf.range(w), tf.float32)[None, None, :]
    stroke = tf.zeros([b, h, w], tf.bool)
    for k in range(max_strokes):
        dist = tf.minimum(_segment_distance(p0[:, k], p1[:, k], ys, xs),
                          _segment_distance(p1[:, k], p2[:, k], ys, xs))
        stroke = stroke | ((dist <= 0.5 * width) & (k < count)[:, None, None])
    mask = tf.cast(stroke, tf.float32)[..., None]
    return {"hint_ab": ab * mask, "hint_mask": mask, "hint_hist": tf.zeros([b, HIST_SIZE])}


def _gaussian_blur(x, sigma):
    """Separable Gaussian blur of x (B, H, W, C), C static, symmetric edges. For speed it
    runs on a grid area-downsampled by about sigma / 2, then upsampled bilinearly; every
    step is linear and keeps constants, so blur(1) = 1."""
    h, w = tf.shape(x)[1], tf.shape(x)[2]
    sigma = tf.cast(sigma, tf.float32)
    factor = tf.maximum(tf.floor(sigma / 2.0), 1.0)
    small = tf.cast(tf.math.ceil(tf.cast(tf.stack([h, w]), tf.float32) / factor), tf.int32)
    y = tf.image.resize(x, small, method="area")
    s = tf.maximum(sigma / factor, 1e-3)
    r = tf.clip_by_value(tf.cast(tf.math.ceil(3.0 * s), tf.int32), 1, tf.reduce_min(small))
    t = tf.cast(tf.range(-r, r + 1), tf.float32)
    kernel = tf.exp(-0.5 * tf.square(t / s))
    kernel = tf.tile(tf.reshape(kernel / tf.reduce_sum(kernel), [-1, 1, 1, 1]), [1, 1, x.shape[-1], 1])
    y = tf.pad(y, [[0, 0], [r, r], [0, 0], [0, 0]], "SYMMETRIC")
    y = tf.nn.depthwise_conv2d(y, kernel, [1, 1, 1, 1], "VALID")
    y = tf.pad(y, [[0, 0], [0, 0], [r, r], [0, 0]], "SYMMETRIC")
    y = tf.nn.depthwise_conv2d(y, tf.transpose(kernel, [1, 0, 2, 3]), [1, 1, 1, 1], "VALID")
    return tf.image.resize(y, tf.stack([h, w]), method="bilinear")


def simulate_blur(rgb: TensorLike, seed: TensorLike, whiteout_max: float = 0.5,
                  blur_sigma: float | None = None) -> dict:
    """deepcolor's hint: a whited-out, heavily blurred copy of rgb float32 (B, H, W, 3).

    Each image gets 1..4 white rectangles (sides uniform in [0.15, ``whiteout_max``] * the
    image side), then the image and its coverage (1 - whiteout) are Gaussian-blurred by
    ``blur_sigma`` px (default min(H, W) / 16). hint_ab = normalised ab of the blurred
    image (near 0 deep in a white-out: near white), hint_mask = the blurred coverage in
    [0, 1] (both 0 where coverage < 1e-3); zero hint_hist."""
    rgb, seed, b, h, w = _prepare(rgb, seed)
    count_seed, box_seed = _split(seed, 2)
    count = tf.random.stateless_uniform([b], count_seed, 1, _MAX_WHITEOUTS + 1, dtype=tf.int32)
    u = tf.random.stateless_uniform([b, _MAX_WHITEOUTS, 4], box_seed)
    hw = tf.cast(tf.stack([h, w]), tf.float32)
    low = min(_MIN_WHITEOUT, whiteout_max)
    side = tf.maximum(tf.round((low + (whiteout_max - low) * u[..., :2]) * hw), 1.0)
    corner = tf.cast(tf.floor(u[..., 2:] * tf.maximum(hw - side + 1.0, 1.0)), tf.int32)
    side = tf.cast(side, tf.int32)  # (B, K, 2) as (y, x), like corner
    white = tf.zeros([b, h, w], tf.bool)
    for k in range(_MAX_WHITEOUTS):
        box = _box(corner[:, k, 0], corner[:, k, 1], side[:, k, 0], side[:, k, 1], h, w)
        white = white | (box & (k < count)[:, None, None])
    out = tf.cast(white, tf.float32)[..., None]
    sigma = blur_sigma if blur_sigma is not None else tf.cast(tf.minimum(h, w), tf.float32) / 16.0
    blurred = _gaussian_blur(tf.concat([rgb * (1.0 - out) + out, 1.0 - out], -1), sigma)
    _, ab = color.rgb_to_l_ab(blurred[..., :3])
    mask = tf.clip_by_value(blurred[..., 3:], 0.0, 1.0)
    mask = tf.where(mask >= _MASK_EPS, mask, 0.0)  # deep inside a white-out: no hint
    return {"hint_ab": tf.where(mask > 0.0, ab, 0.0), "hint_mask": mask,
            "hint_hist": tf.zeros([b, HIST_SIZE])}


def colour_histogram(rgb: TensorLike, bins: int = HIST_BINS) -> tf.Tensor:
    """rgb float (B, H, W, 3) in [0, 1] -> float32 (B, bins**3), each row summing to 1
    (all zeros for an empty image): the share of pixels in each cube of the sRGB cube cut
    into bins per axis; bin index r * bins**2 + g * bins + b (pure red -> (bins-1) * bins**2)."""
    rgb = tf.convert_to_tensor(rgb, tf.float32)
    b = tf.shape(rgb)[0]
    q = tf.clip_by_value(tf.cast(tf.floor(rgb * bins), tf.int32), 0, bins - 1)
    index = tf.reshape(q[..., 0] * bins * bins + q[..., 1] * bins + q[..., 2], [b, -1])
    index += tf.range(b)[:, None] * bins ** 3
    counts = tf.reshape(tf.math.unsorted_segment_sum(
        tf.ones_like(index, tf.float32), index, b * bins ** 3), [b, bins ** 3])
    return counts / tf.maximum(tf.reduce_sum(counts, -1, keepdims=True), 1.0)


def simulate_histogram(rgb: TensorLike, seed: TensorLike | None = None) -> dict:
    """hint_hist = :func:`colour_histogram` of rgb (B, H, W, 3); hint_ab / hint_mask zero.
    ``seed`` is unused (kept for a uniform signature)."""
    rgb, _, b, h, w = _prepare(rgb)
    return dict(empty_hints(b, h, w), hint_hist=colour_histogram(rgb))


# Each maps (rgb (B, H, W, 3) float32, seed (2,) int) to the hints dict of its kind.
_SIMULATORS: dict[str, Callable[..., dict[str, tf.Tensor]]] = {
    "points": simulate_points, "scribble": simulate_scribbles, "blur": simulate_blur,
    "histogram": simulate_histogram, "reference": simulate_histogram}


def simulate(kind: str, rgb: TensorLike, seed: TensorLike) -> dict:
    """Simulated hints of one kind for rgb float32 (B, H, W, 3) in [0, 1] (or one image
    (H, W, 3), giving unbatched hints). ``kind``: one of HINT_KINDS, "none" (empty hints)
    or "mix" (each image independently gets one kind or none, with MIX_PROBS; all kinds
    are computed for the batch and selected per image). Deterministic given seed (2,)."""
    if kind not in HINT_KINDS + ("none", "mix"):
        raise ValueError(f"unknown hint kind {kind!r}; expected one of {HINT_KINDS}, "
                         "'none' or 'mix'")
    rgb = tf.convert_to_tensor(rgb, tf.float32)
    if rgb.shape.rank == 3:
        return {k: v[0] for k, v in simulate(kind, rgb[None], seed).items()}
    rgb, seed, b, h, w = _prepare(rgb, seed)
    if kind == "none":
        return empty_hints(b, h, w)
    if kind != "mix":
        return _SIMULATORS[kind](rgb, seed)
    names = tuple(MIX_PROBS)
    seeds = _split(seed, len(names) + 1)
    logits = tf.math.log(tf.constant([[MIX_PROBS[n] for n in names]], tf.float32))
    choice = tf.random.stateless_categorical(tf.tile(logits, [b, 1]), 1, seeds[-1])[:, 0]
    out = empty_hints(b, h, w)
    for i, name in enumerate(names):
        if name == "none":
            continue
        hints = _SIMULATORS[name](rgb, seeds[i])
        for key, value in out.items():
            pick = tf.reshape(tf.equal(choice, i), [-1] + [1] * (value.shape.rank - 1))
            out[key] = tf.where(pick, hints[key], value)
    return out


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _is_count(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= 1


def hints_from_points_json(data: object, height: int, width: int,
                           warn: Callable[[str], None] | None = None) -> dict:
    """User point hints -> hints with B = 1 at (height, width).

    ``data`` = {"points": [{"x": 10, "y": 20, "rgb": [255, 0, 0], "size": 3}, ...]}:
    x = column, y = row in pixels of that size (rounded); rgb three numbers in 0..255;
    size (optional, default 1) the side of the square patch centred there (clipped to
    the image). Later points overwrite earlier ones. Points outside the image are clipped
    to the border, and said so through ``warn(message)`` (default: ``warnings.warn``);
    malformed data, or more than ``MAX_POINTS`` points, raises ValueError naming the entry.
    """
    for name, value in (("height", height), ("width", width)):
        if not _is_count(value):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not isinstance(data, dict) or not isinstance(data.get("points"), list):
        raise ValueError('hint data must be an object {"points": [...]} with a list of '
                         f"points, got {str(data)[:200]}")
    if len(data["points"]) > MAX_POINTS:
        raise ValueError(f"too many colour points ({len(data['points'])}); at most {MAX_POINTS}")
    if warn is None:
        def warn(message) -> None:
            warnings.warn(message, stacklevel=3)
    entries = []
    for i, point in enumerate(data["points"]):
        where = f"points[{i}]"
        if not isinstance(point, dict):
            raise ValueError(f"{where} must be an object with x, y, rgb, got {point!r}")
        for key in ("x", "y", "rgb"):
            if key not in point:
                raise ValueError(f"{where} is missing {key!r}: {point!r}")
        for key in ("x", "y"):
            if not _is_number(point[key]):
                raise ValueError(f"{where}.{key} must be a finite number, got {point[key]!r}")
        rgb = point["rgb"]
        if (not isinstance(rgb, (list, tuple)) or len(rgb) != 3
                or not all(_is_number(c) and 0 <= c <= 255 for c in rgb)):
            raise ValueError(f"{where}.rgb must be three numbers in 0..255, got {rgb!r}")
        size = point.get("size", 1)
        if not _is_count(size):
            raise ValueError(f"{where}.size must be a positive integer, got {size!r}")
        x, y = int(round(point["x"])), int(round(point["y"]))
        if not (0 <= x < width and 0 <= y < height):
            warn(f"hint {where} at (x={point['x']}, y={point['y']}) lies outside the "
                 f"{width}x{height} image; clipped to the border")
            x, y = min(max(x, 0), width - 1), min(max(y, 0), height - 1)
        entries.append((x, y, int(size), [float(c) / 255.0 for c in rgb]))
    hint_ab = np.zeros((1, height, width, 2), np.float32)
    hint_l = np.zeros((1, height, width, 1), np.float32)
    mask = np.zeros((1, height, width, 1), np.float32)
    if entries:
        l, ab = color.rgb_to_l_ab(tf.constant([e[3] for e in entries], tf.float32))
        for (x, y, size, _), l_value, ab_value in zip(entries, l.numpy(), ab.numpy()):
            y0, x0 = max(y - (size - 1) // 2, 0), max(x - (size - 1) // 2, 0)
            hint_ab[0, y0:y0 + size, x0:x0 + size] = ab_value
            hint_l[0, y0:y0 + size, x0:x0 + size] = l_value
            mask[0, y0:y0 + size, x0:x0 + size] = 1.0
    return {"hint_ab": tf.constant(hint_ab), "hint_mask": tf.constant(mask),
            "hint_hist": tf.zeros([1, HIST_SIZE]), "hint_l": tf.constant(hint_l)}


def _unit_float(image, channels, name):
    image = tf.convert_to_tensor(image)
    if image.dtype == tf.uint8:
        image = tf.cast(image, tf.float32) / 255.0
    if image.shape.rank != 3 or image.shape[-1] != channels:
        raise ValueError(f"{name} must have shape (H, W, {channels}), got {image.shape}")
    return tf.cast(image, tf.float32)


def hints_from_stroke_png(rgba: np.ndarray, threshold: float = 0.5) -> dict:
    """User stroke image -> hints with B = 1: rgba float (H, W, 4) in [0, 1] (uint8 is
    scaled), coloured strokes on a transparent background. hint_mask = 1 where alpha >
    ``threshold`` else 0; hint_ab and hint_l = normalised ab and L of the stroke colour there,
    else 0."""
    rgba = _unit_float(rgba, 4, "stroke image")
    l, ab = color.rgb_to_l_ab(rgba[..., :3])
    mask = tf.cast(rgba[..., 3:] > threshold, tf.float32)
    return {"hint_ab": (ab * mask)[None], "hint_mask": mask[None],
            "hint_hist": tf.zeros([1, HIST_SIZE]), "hint_l": (l * mask)[None]}


def hints_from_colouring_png(rgba: np.ndarray, blur_sigma: float | None = None) -> dict:
    """A user's rough colouring -> blurred hints with B = 1, as :func:`simulate_blur` makes
    them in training (deepcolor's hint): rgba float (H, W, 4) in [0, 1] (uint8 is scaled),
    colour where painted, transparent elsewhere. The colouring is laid on white paper and
    blurred (sigma default min(H, W) / 16), so it fades toward white where nothing was
    painted; hint_mask is the blurred coverage (alpha), 0 below 1e-3."""
    rgba = _unit_float(rgba, 4, "colouring image")[None]
    alpha = rgba[..., 3:]
    h, w = tf.shape(rgba)[1], tf.shape(rgba)[2]
    sigma = blur_sigma if blur_sigma is not None else tf.cast(tf.minimum(h, w), tf.float32) / 16.0
    blurred = _gaussian_blur(tf.concat([rgba[..., :3] * alpha + (1.0 - alpha), alpha], -1), sigma)
    l, ab = color.rgb_to_l_ab(tf.clip_by_value(blurred[..., :3], 0.0, 1.0))
    mask = tf.clip_by_value(blurred[..., 3:], 0.0, 1.0)
    mask = tf.where(mask >= _MASK_EPS, mask, 0.0)
    return {"hint_ab": tf.where(mask > 0.0, ab, 0.0), "hint_mask": mask, "hint_hist": tf.zeros([1, HIST_SIZE]),
            "hint_l": tf.where(mask > 0.0, l, 0.0)}


def reference_histogram(rgb: np.ndarray) -> tf.Tensor:
    """A reference picture rgb float (H, W, 3) in [0, 1] (uint8 is scaled) -> its colour
    histogram float32 (1, 512), the hint_hist for a reference-guided colouring."""
    return colour_histogram(_unit_float(rgb, 3, "reference picture")[None])


def pool_hints(hint_ab: TensorLike, hint_mask: TensorLike, block_height: int, block_width: int) -> tuple:
    """Spatial hints pooled over blocks: hint_ab (B, H, W, 2) and hint_mask (B, H, W, 1), H and W
    whole multiples of the block's sides (ints or scalar int tensors) -> (hint_ab, hint_mask) of
    (B, H / block_height, W / block_width, ·). A block's mask is its MAX (a 1-px hint survives any
    shrinking) and its ab the mask-weighted MEAN of its ab (hinted pixels only, so a hint is not
    faded by the unhinted zeros around it); ab is 0 where the mask is. The one downsampling of hint
    maps: :func:`resize_hints` and the generator's hint pyramid
    (:class:`anime_colorize.models.layers.HintDownsample`) both use it. ``hint_ab`` may carry more
    channels of the hinted colour (ab and L, static C), pooled alike."""
    ab = tf.convert_to_tensor(hint_ab, tf.float32)
    mask = tf.convert_to_tensor(hint_mask, tf.float32)
    channels = ab.shape[-1]
    shape = tf.shape(mask)
    blocks = tf.reshape(tf.concat([ab * mask, mask], -1), tf.stack(
        [shape[0], shape[1] // block_height, block_height, shape[2] // block_width, block_width, channels + 1]))
    mean = tf.reduce_mean(blocks, [2, 4])
    new_mask = tf.reduce_max(blocks[..., channels:], [2, 4])
    new_ab = tf.where(new_mask > 0.0, mean[..., :channels] / tf.maximum(mean[..., channels:], 1e-12), 0.0)
    return new_ab, new_mask


def resize_hints(hints: dict, height: int, width: int) -> dict:
    """Resizes hint_ab / hint_mask (B, H, W, C) (or (H, W, C)) to (height, width).

    Each output pixel covers a block of input pixels, pooled by :func:`pool_hints` (mask = the
    block's max, ab = its mask-weighted mean). Blocks come from a nearest-neighbour upscale to a
    whole multiple of the output size, which keeps every input pixel; for whole-number factors
    they are exact max / mean pooling. hint_l, when present, is pooled with hint_ab; hint_hist and
    other keys are returned unchanged.
    """
    colour = tf.convert_to_tensor(hints["hint_ab"], tf.float32)
    if "hint_l" in hints:  # the colour's lightness, pooled as one with its ab
        colour = tf.concat([colour, tf.convert_to_tensor(hints["hint_l"], tf.float32)], -1)
    mask = tf.convert_to_tensor(hints["hint_mask"], tf.float32)
    if mask.shape.rank == 3:
        batched = {"hint_ab": colour[None, ..., :2], "hint_mask": mask[None]}
        if "hint_l" in hints:
            batched["hint_l"] = colour[None, ..., 2:]
        out = resize_hints(batched, height, width)
        return dict(hints, **{key: value[0] for key, value in out.items()})
    shape = tf.shape(mask)
    ky = tf.maximum((shape[1] + height - 1) // height, 1)
    kx = tf.maximum((shape[2] + width - 1) // width, 1)
    up = tf.image.resize(tf.concat([colour, mask], -1), tf.stack([ky * height, kx * width]), method="nearest")
    new_colour, new_mask = pool_hints(up[..., :-1], up[..., -1:], ky, kx)
    out = dict(hints, hint_ab=new_colour[..., :2], hint_mask=new_mask)
    if "hint_l" in hints:
        out["hint_l"] = new_colour[..., 2:]
    return out


def hint_lab(hints: dict | None) -> tuple | None:
    """The hinted colours of one picture's hints (B = 1, or unbatched), in numpy for flat
    colouring: (Lab float32 (H, W, 3) with L in [0, 100] and ab in Lab units, or (H, W, 2) ab only
    where the hints carry no hint_l; hint_mask float32 (H, W)). None when there is no spatial hint."""
    if not hints or "hint_mask" not in hints:
        return None
    mask = np.asarray(hints["hint_mask"], np.float32)
    mask = mask.reshape(mask.shape[-3:-1]) if mask.ndim >= 3 else mask
    if not (mask > 0).any():
        return None
    ab = color.denormalize_ab(np.asarray(hints["hint_ab"], np.float32).reshape(mask.shape + (2,)))
    if "hint_l" not in hints:
        return ab, mask
    lightness = color.denormalize_l(np.asarray(hints["hint_l"], np.float32).reshape(mask.shape + (1,)))
    return np.concatenate([lightness, ab], -1), mask
