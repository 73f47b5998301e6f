"""Inference: noise sweeps and full-resolution colouring.

Gray input: the chroma is predicted at the model's working size and upsampled, then joined
with the input's own full-resolution lightness (richzhang's recipe), so outputs keep every
line and screentone of the input at its size, whatever size the network works at.

Line-art input: the drawing is prepared with :func:`anime_colorize.data.lineart.to_line_art`
(paper whitened, nothing binarised), the whole colour (L and ab) is predicted at the working
size and upsampled, and the full-resolution drawing is laid back over it by multiplication
(a "multiply" layer, as artists colour under their inks): paper leaves the colour as it is,
ink stays as dark as drawn, so lines are as crisp as in the input.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from anime_colorize import color
from anime_colorize.data import hints as hints_lib
from anime_colorize.data.lineart import to_line_art


def working_shape(height: int, width: int, working_size: int, stride: int = 1) -> tuple[int, int]:
    """The network-side size of an input: its shorter side scaled to ``working_size``, the
    aspect ratio kept (each side rounded, at least 1 px). The network then gets it padded to
    :func:`padded_shape`; ``stride`` is accepted for symmetry and unused."""
    scale = working_size / min(height, width)
    return tuple(max(1, int(round(side * scale))) for side in (height, width))


def padded_shape(shape, stride: int) -> tuple[int, int]:
    """``shape`` rounded up to multiples of ``stride``: what the U-Net needs."""
    return tuple(-(-side // stride) * stride for side in shape)


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


def colors_to_rgb(colors, l=None, lines=None):
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


def input_picture(l=None, lines=None) -> tf.Tensor:
    """What the model saw, as RGB (B, H, W, 3) in [0, 1] for contact sheets: the line art
    ``lines`` (B, H, W, 1) in [0, 1] when given, else the gray of the normalised lightness ``l``."""
    if lines is not None:
        return tf.tile(tf.convert_to_tensor(lines, tf.float32), [1, 1, 1, 3])
    return color.l_ab_to_rgb(l, tf.zeros(tf.concat([tf.shape(l)[:-1], [2]], 0)))


def hint_picture(hints) -> tf.Tensor:
    """Spatial hints drawn over a white page: RGB (B, H, W, 3), the hint colour at half
    lightness where hinted (histogram-only hints leave it white)."""
    mask = hints["hint_mask"]
    hinted = color.l_ab_to_rgb(tf.zeros_like(mask), hints["hint_ab"])
    return mask * hinted + (1.0 - mask)


def prepare_input(rgb: np.ndarray, input_kind: str) -> tf.Tensor:
    """What the model sees at full resolution, before resizing: float RGB (H, W, 3) in [0, 1]
    -> (H, W, 1) in [-1, 1]: the lightness (gray models) or the prepared drawing (line art)."""
    if input_kind == "lineart":
        return color.normalize_lines(tf.constant(to_line_art(rgb))[..., None])
    return lightness(rgb)


def check_hints(generator, hints) -> None:
    """Raises ValueError when ``hints`` are given to a model that was trained without the
    kinds they need (spatial hints: points / scribble / blur; a histogram: histogram /
    reference). Hints that are all zeros ("none given") are always accepted."""
    spatial = "hint_mask" in (hints or {}) and bool(np.any(np.asarray(hints["hint_mask"]) > 0))
    global_ = "hint_hist" in (hints or {}) and bool(np.any(np.asarray(hints["hint_hist"]) > 0))
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


def colorize(generator, rgb: np.ndarray, z: np.ndarray, hints: dict | None = None,
             batch_size: int = 8) -> np.ndarray:
    """Colourings of one picture, one per row of ``z``.

    Args:
        generator: a loaded generator (see :func:`anime_colorize.export.load_generator`).
        rgb: float RGB (H, W, 3) in [0, 1]: for gray models a colour picture is reduced to
            its lightness; for line-art models a drawing, sketch or manga page.
        z: float32 (K, z_dim).
        hints: optional, for hint models: ``hint_ab`` (1, H, W, 2) and ``hint_mask``
            (1, H, W, 1) at the picture's size, and / or ``hint_hist`` (1, 512) (see
            :mod:`anime_colorize.data.hints`); the others are taken as "none given".
    Returns float32 RGB (K, H, W, 3) in [0, 1] at the input's full resolution.
    """
    return colorize_batch(generator, [rgb], z, [hints], batch_size)[0]


def colorize_batch(generator, pictures: list, z: np.ndarray, hints: list | None = None,
                   batch_size: int = 8) -> list:
    """:func:`colorize` for several pictures in shared model calls.

    ``pictures``: float RGB (H_i, W_i, 3) in [0, 1] whose :func:`working_shape` is the same
    (e.g. pages of one size); ``hints``: None or one hint dict (or None) per picture. The
    network runs on ``batch_size`` (picture, z) pairs at a time. Returns one float32 RGB
    (K, H_i, W_i, 3) array per picture.
    """
    full = [prepare_input(p, generator.input_kind) for p in pictures]
    outputs = []
    for f, colors in zip(full, predict_colors(generator, full, z, hints, batch_size)):
        repeated = tf.repeat(f[None], len(z), axis=0)
        if generator.input_kind == "lineart":
            rgb_out = colors_to_rgb(colors, lines=repeated * 0.5 + 0.5)
        else:
            rgb_out = colors_to_rgb(colors, l=repeated)
        outputs.append(tf.clip_by_value(rgb_out, 0.0, 1.0).numpy())
    return outputs


def predict_colors(generator, inputs: list, z: np.ndarray, hints: list | None = None,
                   batch_size: int = 8) -> list:
    """The model's colours for prepared inputs, at each input's own size.

    ``inputs``: model inputs (H_i, W_i, 1) in [-1, 1] (see :func:`prepare_input`) whose
    :func:`working_shape` is the same; ``hints``: None or one hint dict with B = 1 at that
    input's size (or None) per input. Each input is resized to the working shape and padded
    to the stride, the network runs on ``batch_size`` (input, z) pairs at a time, and its
    output is cropped and resized back. Returns one float32 (K, H_i, W_i, C) tensor per input:
    normalised ab (C = 2) or Lab (C = 3, line art).
    """
    if z.ndim != 2 or z.shape[1] != generator.z_dim:
        raise ValueError(f"z must be (K, {generator.z_dim}), got {z.shape}")
    hints = list(hints) if hints is not None else [None] * len(inputs)
    if len(hints) != len(inputs):
        raise ValueError(f"{len(hints)} hint sets for {len(inputs)} inputs")
    for h in hints:
        check_hints(generator, h)
    shapes = {working_shape(*f.shape[:2], generator.working_size, generator.stride) for f in inputs}
    if len(shapes) != 1:
        raise ValueError(f"inputs of one batch must share a working shape, got {sorted(shapes)}")
    work = shapes.pop()
    padded = padded_shape(work, generator.stride)
    net_input = tf.concat([_resized(f[None], work, antialias=True) for f in inputs], 0)
    # Line art is padded with paper; lightness with its mirror image (no false edge).
    net_input = _pad(net_input, padded, 1.0 if generator.input_kind == "lineart" else None)
    net_hints = None
    if generator.hint_kinds:
        per_input = []
        for h in hints:
            one = hints_lib.empty_hints(1, *work)
            if h:
                h = {key: tf.convert_to_tensor(value, tf.float32) for key, value in h.items()}
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
        colors.append(generator(tf.gather(net_input, rows), chunk_z, chunk_hints))
    colors = tf.concat(colors, 0)[:, :work[0], :work[1]]
    return [_resized(colors[i * k:(i + 1) * k], f.shape[:2]) for i, f in enumerate(inputs)]


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


def make_grid(images: np.ndarray, rows: int, cols: int, pad: int = 2) -> np.ndarray:
    """(rows * cols, H, W, 3) floats in [0, 1] -> one float image with white gutters."""
    n, h, w, c = images.shape
    if n != rows * cols:
        raise ValueError(f"{n} images do not fill a {rows}x{cols} grid")
    grid = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad, c), np.float32)
    for k, image in enumerate(images):
        r, col = divmod(k, cols)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top:top + h, left:left + w] = image
    return grid
