"""Inference: noise sweeps and full-resolution colouring.

Gray input: the chroma is predicted at the model's working size and upsampled, then joined
with the input's own full-resolution lightness (richzhang's recipe), so outputs keep every
line and screentone of the input at its size, whatever size the network works at.

Line-art input: the drawing is prepared with :func:`anime_colorize.data.lineart.to_line_art`
(paper whitened, nothing binarised), the whole colour (L and ab) is predicted at the working
size and upsampled, and the full-resolution drawing is laid back over it by multiplication
(a "multiply" layer, as artists colour under their inks): paper leaves the colour as it is,
ink stays as dark as drawn, so lines are as crisp as in the input.

This module works on arrays and tensors: the network call at the working size
(:func:`predict_working`), the bilinear upsampling of its colours to full resolution, by
bands of rows when memory matters (:class:`PredictedColors`), and the picture they make
(:func:`to_rgb`). Files, hint files, output names and output modes are one level up, in
:mod:`anime_colorize.inference`, which every command and the page use.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

from anime_colorize import color
from anime_colorize.array_types import TensorLike
from anime_colorize.data import hints as hints_lib
from anime_colorize.data.lineart import to_line_art
from anime_colorize.regions.network_labels import drawing_of, region_labels

if TYPE_CHECKING:
    from anime_colorize.export.loading import LoadedGenerator


# The working shape's longer side is at most this many working sizes: a strip of 1 x 16M
# pixels would otherwise become 64 x 1G pixels for the network.
MAX_ASPECT = 64


def working_shape(height: int, width: int, working_size: int, stride: int = 1) -> tuple[int, int]:
    """The network-side size of an input: its shorter side scaled to ``working_size``, the
    aspect ratio kept (each side rounded, at least 1 px), unless the longer side would then
    pass ``MAX_ASPECT * working_size``, where it is scaled to that instead. The network then
    gets it padded to :func:`padded_shape`; ``stride`` is accepted for symmetry and unused."""
    scale = min(working_size / min(height, width), MAX_ASPECT * working_size / max(height, width))
    return max(1, int(round(height * scale))), max(1, int(round(width * scale)))


def padded_shape(shape: tuple[int, int], stride: int) -> tuple[int, int]:
    """``shape`` (height, width) rounded up to multiples of ``stride``: what the U-Net needs."""
    height, width = shape
    return -(-height // stride) * stride, -(-width // stride) * stride


def _pad(x, padded, value=None):
    """(B, h, w, C) -> (B, *padded, C), padded at the bottom and right: mirrored content
    (``value`` None; for lightness, so the network sees no false edge) or a constant."""
    pads = [[0, 0], [0, padded[0] - x.shape[1]], [0, padded[1] - x.shape[2]], [0, 0]]
    if value is None and pads[1][1] < x.shape[1] and pads[2][1] < x.shape[2]:
        return tf.pad(x, pads, mode="SYMMETRIC")
    return tf.pad(x, pads, constant_values=0.0 if value is None else value)


def random_sweep(count: int, z_dim: int, seed: int = 0) -> np.ndarray:
    """``count`` independent z ~ N(0, 1): float32 (count, z_dim)."""
    return np.random.default_rng(seed).standard_normal((count, z_dim)).astype(np.float32)


def segment_sweep(rows: int, cols: int, z_dim: int, span: float = 2.0) -> np.ndarray:
    """A structured sweep, float32 (rows * cols, z_dim), row-major.

    z is cut into ``rows`` contiguous segments (cycling if rows > z_dim); row r moves segment r
    through ``cols`` offsets from -span to +span, everything else held at 0 (the mean z). So
    each row shows what one part of the noise controls.
    """
    segments = np.array_split(np.arange(z_dim), min(rows, z_dim))
    offsets = np.linspace(-span, span, cols, dtype=np.float32)
    z = np.zeros((rows, cols, z_dim), np.float32)
    for r in range(rows):
        z[r, :, segments[r % len(segments)]] = offsets
    return z.reshape(rows * cols, z_dim)


def lightness(rgb: np.ndarray) -> tf.Tensor:
    """Float RGB (H, W, 3) in [0, 1] (colour or gray) -> normalised l (H, W, 1) in [-1, 1]."""
    l, _ = color.rgb_to_l_ab(rgb)
    return l


def colors_to_rgb(colors: TensorLike, l: TensorLike | None = None, lines: TensorLike | None = None) -> tf.Tensor:
    """Model outputs -> float RGB (B, H, W, 3) in [0, 1].

    ``colors``: normalised ab (B, H, W, 2), joined with the normalised lightness ``l``
    (B, H, W, 1); or normalised Lab (B, H, W, 3), multiplied by ``lines`` (B, H, W, 1) in
    [0, 1] (1 = paper) when given.
    """
    colors = tf.convert_to_tensor(colors, tf.float32)
    if colors.shape[-1] == 2:
        if l is None:
            raise ValueError("ab outputs need the lightness l to make a picture")
        return color.l_ab_to_rgb(l, colors)
    rgb = color.l_ab_to_rgb(colors[..., :1], colors[..., 1:])
    return rgb if lines is None else rgb * tf.convert_to_tensor(lines, tf.float32)


def input_picture(l: TensorLike | None = None, lines: TensorLike | None = None) -> tf.Tensor:
    """What the model saw, as RGB (B, H, W, 3) in [0, 1] for contact sheets: the line art
    ``lines`` (B, H, W, 1) in [0, 1] when given, else the gray of the normalised lightness ``l``."""
    if lines is not None:
        return tf.tile(tf.convert_to_tensor(lines, tf.float32), [1, 1, 1, 3])
    return color.l_ab_to_rgb(l, tf.zeros(tf.concat([tf.shape(l)[:-1], [2]], 0)))


def hint_picture(hints: dict) -> tf.Tensor:
    """Spatial hints drawn over a white page: RGB (B, H, W, 3), the hint colour at half
    lightness where hinted (histogram-only hints leave it white)."""
    mask = hints["hint_mask"]
    hinted = color.l_ab_to_rgb(tf.zeros_like(mask), hints["hint_ab"])
    return mask * hinted + (1.0 - mask)


# Full-resolution work (lightness, upsampled colours, the picture) runs on bands of rows of
# about this many pixels, so its memory does not grow with the picture: a 4000 x 4000 page
# needs a few MB at a time instead of gigabytes of float copies.
BAND_PIXELS = 1 << 20


def row_bands(height: int, width: int, band_pixels: int = BAND_PIXELS) -> Iterator[tuple[int, int]]:
    """(top, bottom) row ranges covering ``height`` rows of ``width`` pixels, each of about
    ``band_pixels`` pixels (at least one row)."""
    rows = max(1, band_pixels // max(width, 1))
    for top in range(0, height, rows):
        yield top, min(top + rows, height)


def resolve_working_size(generator: LoadedGenerator, working_size: int | None = None) -> int:
    """The size the network works at (the shorter side of its input, see
    :func:`working_shape`): ``working_size`` rounded to the nearest multiple of the
    generator's stride (at least one stride), or the size the model was trained at when None.
    Larger is slower and shows more detail; colours change with it."""
    if working_size is None:
        return int(generator.working_size)
    if working_size < 1:
        raise ValueError(f"the working size must be at least 1 pixel, got {working_size}")
    stride = int(generator.stride)
    return max(stride, int(round(working_size / stride)) * stride)


def prepare_input(rgb: np.ndarray, input_kind: str) -> np.ndarray:
    """What the model sees at full resolution, before resizing: float RGB (H, W, 3) in [0, 1]
    -> float32 (H, W, 1) in [-1, 1]: the lightness (gray models, computed by bands of rows)
    or the prepared drawing (line art)."""
    if input_kind == "lineart":
        return color.normalize_lines(to_line_art(rgb))[..., None]
    rgb = np.asarray(rgb, np.float32)
    height, width = rgb.shape[:2]
    out = np.empty((height, width, 1), np.float32)
    for top, bottom in row_bands(height, width):
        out[top:bottom] = _pixelwise(_lightness_of, 1, rgb[top:bottom].reshape(-1, 3)).reshape(bottom - top, width, 1)
    return out


def check_hints(generator: LoadedGenerator, hints: dict | None) -> None:
    """Raises ValueError when ``hints`` are given to a model that was trained without the
    kinds they need (spatial hints: points / scribble / blur; a histogram: histogram /
    reference). Hints that are all zeros ("none given") are always accepted."""
    hints = hints or {}
    spatial = "hint_mask" in hints and bool(np.any(np.asarray(hints["hint_mask"]) > 0))
    global_ = "hint_hist" in hints and bool(np.any(np.asarray(hints["hint_hist"]) > 0))
    if not (spatial or global_):
        return
    kinds = set(generator.hint_kinds)
    if not kinds:
        raise ValueError("this model was trained without colour hints (--hints none), so it cannot use "
                         "hint files or a reference picture; train one with --hints mix")
    if spatial and not kinds & set(hints_lib.SPATIAL_KINDS):
        raise ValueError(f"this model takes hints of kinds {sorted(kinds)}, not colour points or strokes")
    if global_ and not kinds & set(hints_lib.GLOBAL_KINDS):
        raise ValueError(f"this model takes hints of kinds {sorted(kinds)}, not a reference picture")


def _bilinear_taps(out_size: int, in_size: int):
    """Source indices and weights of a bilinear resize from ``in_size`` to ``out_size``
    samples, with half-pixel centres and clamped edges, as ``tf.image.resize`` (bilinear,
    no antialias) computes them: output i = in[lo] + (in[hi] - in[lo]) * frac."""
    # float32 like TensorFlow's kernel, so both give the same weights
    position = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * np.float32(in_size / out_size) \
        - np.float32(0.5)
    floor = np.floor(position)
    lo = np.clip(floor, 0, in_size - 1).astype(np.intp)
    hi = np.clip(np.ceil(position), 0, in_size - 1).astype(np.intp)
    return lo, hi, (position - floor).astype(np.float32)


class PredictedColors:
    """The network's colours for one input and one z, upsampled to the input's size on demand.

    ``working``: float32 (h, w, C) at the working shape (cropped, not padded): normalised ab
    (C = 2) or normalised Lab (C = 3, line-art models), in [-1, 1]. ``size``: the input's
    full (H, W). :meth:`rows` gives a band of full-resolution rows, :meth:`full` the whole
    (H, W, C) array; both equal ``tf.image.resize(working, size)`` (bilinear) up to float
    rounding. Reading by bands keeps memory small for big pages.
    """

    def __init__(self, working: np.ndarray, size: tuple[int, int]) -> None:
        self.working = np.asarray(working, np.float32)
        self.size = (int(size[0]), int(size[1]))
        self.channels = int(self.working.shape[-1])
        self._row_taps = _bilinear_taps(self.size[0], self.working.shape[0])
        self._col_taps = _bilinear_taps(self.size[1], self.working.shape[1])

    def rows(self, top: int, bottom: int) -> np.ndarray:
        """Full-resolution rows ``top:bottom``: float32 (bottom - top, W, C)."""
        if self.working.shape[:2] == self.size:
            return self.working[top:bottom]
        lo, hi, frac = (taps[top:bottom] for taps in self._row_taps)
        upper = self.working[lo]
        band = upper + (self.working[hi] - upper) * frac[:, None, None]
        lo, hi, frac = self._col_taps
        left = band[:, lo]
        return left + (band[:, hi] - left) * frac[None, :, None]

    def full(self) -> np.ndarray:
        """All full-resolution rows: float32 (H, W, C)."""
        out = np.empty(self.size + (self.channels,), np.float32)
        for top, bottom in row_bands(*self.size):
            out[top:bottom] = self.rows(top, bottom)
        return out


def to_rgb(model_input: np.ndarray, colors: PredictedColors) -> np.ndarray:
    """The colouring at full resolution, by bands of rows: float32 RGB (H, W, 3) in [0, 1].

    ``model_input``: the prepared input (H, W, 1) in [-1, 1] (:func:`prepare_input`).
    Predicted ab is joined with the input's own lightness; predicted Lab (line art) is
    multiplied by the drawing (paper = 1), so the full-resolution ink lies over the colour.
    """
    height, width = colors.size
    out = np.empty((height, width, 3), np.float32)
    compose = _lab_under_lines if colors.channels == 3 else _ab_with_lightness
    for top, bottom in row_bands(height, width):
        band = colors.rows(top, bottom).reshape(-1, colors.channels)
        given = np.asarray(model_input[top:bottom], np.float32).reshape(-1, 1)
        out[top:bottom] = _pixelwise(compose, 3, band, given).reshape(bottom - top, width, 3)
    return out


# Pixel-wise colour maths on full-resolution bands, compiled with XLA: one fused pass over
# the pixels, about five times faster on a CPU than op by op. Pixels go in as flat (N, C)
# chunks padded to a power of two, so a few shapes serve every picture size.
@tf.function(jit_compile=True, reduce_retracing=True)
def _ab_with_lightness(ab, l):
    return tf.clip_by_value(colors_to_rgb(ab, l=l), 0.0, 1.0)


@tf.function(jit_compile=True, reduce_retracing=True)
def _lab_under_lines(lab, drawing):
    return tf.clip_by_value(colors_to_rgb(lab, lines=drawing * 0.5 + 0.5), 0.0, 1.0)


@tf.function(jit_compile=True, reduce_retracing=True)
def _lightness_of(rgb):
    return lightness(rgb)


def _pixelwise(fn, channels: int, *pixels: np.ndarray) -> np.ndarray:
    """``fn`` over flat float32 pixel arrays (N, C_i) -> float32 (N, ``channels``), in chunks
    of at most BAND_PIXELS, each padded to a power of two (at least 4096) so ``fn`` is
    compiled for a few shapes only."""
    count = pixels[0].shape[0]
    out = np.empty((count, channels), np.float32)
    for start in range(0, count, BAND_PIXELS):
        n = min(BAND_PIXELS, count - start)
        padded = max(4096, 1 << (n - 1).bit_length())
        chunk = [np.zeros((padded,) + p.shape[1:], np.float32) for p in pixels]
        for c, p in zip(chunk, pixels):
            c[:n] = p[start:start + n]
        out[start:start + n] = fn(*chunk).numpy()[:n]
    return out


def colorize(generator: LoadedGenerator, rgb: np.ndarray, z: np.ndarray, hints: dict | None = None,
             batch_size: int = 8, working_size: int | None = None) -> np.ndarray:
    """Colourings of one picture, one per row of ``z``.

    Args:
        generator: a loaded generator (see :func:`anime_colorize.export.load_generator`).
        rgb: float RGB (H, W, 3) in [0, 1]: for gray models a colour picture is reduced to
            its lightness; for line-art models a drawing, sketch or manga page.
        z: float32 (K, z_dim).
        hints: optional, for hint models: ``hint_ab`` (1, H, W, 2) and ``hint_mask``
            (1, H, W, 1) at the picture's size, and / or ``hint_hist`` (1, 512) (see
            :mod:`anime_colorize.data.hints`); the others are taken as "none given".
        working_size: the network's working size (:func:`resolve_working_size`); None: the
            model's training size.
    Returns float32 RGB (K, H, W, 3) in [0, 1] at the input's full resolution.
    """
    return colorize_batch(generator, [rgb], z, [hints], batch_size, working_size)[0]


def colorize_batch(generator: LoadedGenerator, pictures: list, z: np.ndarray, hints: list | None = None,
                   batch_size: int = 8, working_size: int | None = None) -> list:
    """:func:`colorize` for several pictures in shared model calls.

    ``pictures``: float RGB (H_i, W_i, 3) in [0, 1] whose :func:`working_shape` is the same
    (e.g. pages of one size); ``hints``: None or one hint dict (or None) per picture. The
    network runs on ``batch_size`` (picture, z) pairs at a time. Returns one float32 RGB
    (K, H_i, W_i, 3) array per picture; besides those, only one colouring at a time is held
    at full resolution.
    """
    full = [prepare_input(p, generator.input_kind) for p in pictures]
    outputs = []
    for f, colors in zip(full, predict_working(generator, full, z, hints, batch_size, working_size)):
        out = np.empty((len(z),) + f.shape[:2] + (3,), np.float32)
        for k in range(len(z)):
            out[k] = to_rgb(f, PredictedColors(colors[k], f.shape[:2]))
        outputs.append(out)
    return outputs


def predict_colors(generator: LoadedGenerator, inputs: list, z: np.ndarray, hints: list | None = None,
                   batch_size: int = 8, working_size: int | None = None) -> list:
    """The model's colours for prepared inputs, at each input's own size.

    ``inputs``: model inputs (H_i, W_i, 1) in [-1, 1] (see :func:`prepare_input`) whose
    :func:`working_shape` is the same; ``hints``: None or one hint dict with B = 1 at that
    input's size (or None) per input. Each input is resized to the working shape and padded
    to the stride, the network runs on ``batch_size`` (input, z) pairs at a time, and its
    output is cropped and resized back. Returns one float32 (K, H_i, W_i, C) tensor per input:
    normalised ab (C = 2) or Lab (C = 3, line art). (For big inputs use
    :func:`predict_working` and :class:`PredictedColors`, which upsample by bands.)
    A generator that takes region labels (``generator.takes_regions``) gets them from
    :func:`working_regions`.
    """
    colors = predict_working(generator, inputs, z, hints, batch_size, working_size)
    return [_resized(c, f.shape[:2]) for c, f in zip(colors, inputs)]


def predict_working(generator: LoadedGenerator, inputs: list, z: np.ndarray, hints: list | None = None,
                    batch_size: int = 8, working_size: int | None = None) -> list:
    """:func:`predict_colors` without the final upsampling: one float32 (K, h, w, C) tensor
    per input at the shared working shape (h, w) (:func:`working_shape` of
    :func:`resolve_working_size`), cropped of the stride padding."""
    if z.ndim != 2 or z.shape[1] != generator.z_dim:
        raise ValueError(f"z must be (K, {generator.z_dim}), got {z.shape}")
    hints = list(hints) if hints is not None else [None] * len(inputs)
    if len(hints) != len(inputs):
        raise ValueError(f"{len(hints)} hint sets for {len(inputs)} inputs")
    for h in hints:
        check_hints(generator, h)
    size = resolve_working_size(generator, working_size)
    shapes = {working_shape(f.shape[0], f.shape[1], size, generator.stride) for f in inputs}
    if len(shapes) != 1:
        raise ValueError(f"inputs of one batch must share a working shape, got {sorted(shapes)}")
    work = shapes.pop()
    padded = padded_shape(work, generator.stride)
    net_input = tf.concat([_resized(tf.convert_to_tensor(f, tf.float32)[None], work, antialias=True)
                           for f in inputs], 0)
    # Stand-in generators without the flag take no labels, like the models that have none.
    takes_regions = getattr(generator, "takes_regions", False)
    regions = working_regions(net_input, generator.input_kind, padded) if takes_regions else None
    # Line art is padded with paper; lightness with its mirror image (no false edge).
    net_input = _pad(net_input, padded, 1.0 if generator.input_kind == "lineart" else None)
    net_hints = None
    if generator.hint_kinds:
        per_input = []
        for h in hints:
            one = hints_lib.empty_hints(1, *work)
            if h:  # the network's keys only (a user hint's hint_l is for flat colouring, not for it)
                h = {key: tf.convert_to_tensor(value, tf.float32) for key, value in h.items() if key in one}
                if "hint_mask" in h:
                    h = hints_lib.resize_hints(h, *work)
                one.update(h)
            per_input.append(one)
        net_hints = {key: tf.concat([one[key] for one in per_input], 0) for key in per_input[0]}
        net_hints.update({key: _pad(net_hints[key], padded, 0.0) for key in ("hint_ab", "hint_mask")})
    k = len(z)
    pairs = [(i, j) for i in range(len(inputs)) for j in range(k)]  # input-major
    colors = []
    for start in range(0, len(pairs), batch_size):
        rows = tf.constant([i for i, _ in pairs[start:start + batch_size]])
        chunk_z = np.stack([z[j] for _, j in pairs[start:start + batch_size]])
        chunk_hints = None if net_hints is None else {key: tf.gather(v, rows) for key, v in net_hints.items()}
        extra = {} if regions is None else {"regions": tf.gather(regions, rows)}
        colors.append(generator(tf.gather(net_input, rows), chunk_z, chunk_hints, **extra))
    colors = tf.concat(colors, 0)[:, :work[0], :work[1]]
    return [colors[i * k:(i + 1) * k] for i in range(len(inputs))]


def working_regions(net_input: TensorLike, input_kind: str, padded: Sequence[int] | None = None) -> tf.Tensor:
    """Region labels of network inputs at the working shape: int32 (B, h, w), or (B, *padded)
    with the padding labelled -1 ("no region": a region-pooling layer leaves it alone).

    ``net_input``: float (B, h, w, 1) in [-1, 1], the inputs as the network sees them (brought
    to the working shape, not yet padded). The labels are those the training batches carry
    (:func:`anime_colorize.regions.network_labels.region_labels` of the drawing), made at the
    working size rather than at full resolution and reduced: more of the small areas survive.
    """
    labels = np.stack([region_labels(drawing_of(x, input_kind)) for x in np.asarray(net_input)])
    if padded is not None:
        h, w = labels.shape[1:]
        labels = np.pad(labels, [(0, 0), (0, padded[0] - h), (0, padded[1] - w)], constant_values=-1)
    return tf.constant(labels, tf.int32)


def _resized(x, size, antialias: bool = False):
    """Bilinear resize of (B, H, W, C) to ``size``; x itself where it already has that size."""
    size = tuple(int(side) for side in size)
    if tuple(x.shape[1:3]) == size:
        return x
    return tf.image.resize(x, size, method="bilinear", antialias=antialias)


def fit_within(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """Shrinks float RGB (H, W, 3) so its longer side is at most ``max_side``."""
    height, width = rgb.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return rgb
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    return tf.image.resize(rgb, size, method="area").numpy()


def grid_shape(rows: int, cols: int, height: int, width: int, pad: int = 2) -> tuple[int, int]:
    """(height, width) of the picture :func:`make_grid` makes of rows x cols tiles of height x width."""
    return rows * (height + pad) + pad, cols * (width + pad) + pad


def make_grid(images: np.ndarray, rows: int, cols: int, pad: int = 2) -> np.ndarray:
    """(rows * cols, H, W, 3) floats in [0, 1] -> one float image with white gutters."""
    n, h, w, c = images.shape
    if n != rows * cols:
        raise ValueError(f"{n} images do not fill a {rows}x{cols} grid")
    grid = np.ones((*grid_shape(rows, cols, h, w, pad), c), np.float32)
    for k, image in enumerate(images):
        r, col = divmod(k, cols)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top:top + h, left:left + w] = image
    return grid
