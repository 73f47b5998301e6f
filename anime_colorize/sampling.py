"""Inference: noise sweeps and full-resolution colouring.

The chroma is predicted at the model's working size and upsampled, then joined with the
input's own full-resolution lightness (richzhang's recipe), so outputs keep every line and
screentone of the input at its size, whatever size the network works at.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from anime_colorize import color


def working_shape(height: int, width: int, working_size: int, stride: int) -> tuple[int, int]:
    """The network-side size for an input: the shorter side scaled to ``working_size`` and
    both sides rounded to multiples of ``stride`` (at least one stride)."""
    scale = working_size / min(height, width)
    return tuple(max(stride, int(round(side * scale / stride)) * stride) for side in (height, width))


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


def colorize(generator, rgb: np.ndarray, z: np.ndarray, batch_size: int = 8) -> np.ndarray:
    """Colourings of one picture, one per row of ``z``.

    Args:
        generator: a loaded generator (see :func:`anime_colorize.export.load_generator`).
        rgb: float RGB (H, W, 3) in [0, 1]; a colour picture is reduced to its lightness.
        z: float32 (K, z_dim).
    Returns float32 RGB (K, H, W, 3) in [0, 1] at the input's full resolution.
    """
    if z.ndim != 2 or z.shape[1] != generator.z_dim:
        raise ValueError(f"z must be (K, {generator.z_dim}), got {z.shape}")
    height, width = rgb.shape[:2]
    l_full = lightness(rgb)
    work = working_shape(height, width, generator.working_size, generator.stride)
    l_work = tf.image.resize(l_full[None], work, method="bilinear", antialias=True)
    outputs = []
    for start in range(0, len(z), batch_size):
        chunk = z[start:start + batch_size]
        ab = generator(tf.repeat(l_work, len(chunk), axis=0), chunk)
        ab_full = tf.image.resize(ab, (height, width), method="bilinear")
        outputs.append(color.l_ab_to_rgb(tf.repeat(l_full[None], len(chunk), axis=0), ab_full).numpy())
    return np.concatenate(outputs)


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
