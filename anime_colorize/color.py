"""The only home of colour maths: sRGB <-> CIE Lab, the network's normalisation, and the
sRGB gray of equal lightness.

Two twins of every conversion:

* TensorFlow (``rgb_to_lab``, ``lab_to_rgb``, ``rgb_to_l_ab``, ``l_ab_to_rgb``,
  ``rgb_to_gray``): batched over any leading dimensions (the channel axis is last), float32
  and differentiable, so the same functions serve the data pipeline, the losses and inference.
* numpy (the same names with ``_np``): for host code that has arrays and no graph (the
  built-in pictures, line-art preparation, the pipeline's gray check, region maps). float32
  input is computed in float32 and float64 in float64; uint8 RGB is scaled by 1/255. On
  float64 input ``rgb_to_lab_np`` / ``lab_to_rgb_np`` give scikit-image's ``rgb2lab`` /
  ``lab2rgb`` bit for bit (same constants, same order of operations); tests check both twins
  against each other and against scikit-image.

The constants match scikit-image (sRGB primaries, D65 white point, 2-degree observer).
``normalize_l`` / ``denormalize_l`` / ``normalize_ab`` / ``denormalize_ab`` /
``normalize_lines`` are plain arithmetic and take tensors and numpy arrays alike.

Ranges:
    rgb  float in [0, 1]
    L    in [0, 100];  a, b  roughly in [-110, 110]
    the network sees ``l = L / 50 - 1`` in [-1, 1] and predicts ``ab = ab / 110`` in [-1, 1]
    (a tanh head), see :func:`normalize_l` and :func:`normalize_ab`.
"""
from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from anime_colorize.array_types import TensorLike

L_CENTER = 50.0
L_SCALE = 50.0
AB_SCALE = 110.0

# D65 reference white, 2-degree observer (skimage.color.colorconv "D65", "2").
_WHITE_XYZ = (0.95047, 1.0, 1.08883)
_XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
# Its inverse, to the last digit as skimage has it (scipy.linalg.inv; numpy's inv differs in
# the 16th digit), so that lab_to_rgb_np gives skimage's lab2rgb bit for bit.
_RGB_FROM_XYZ = (
    (3.2404813432005266, -1.5371515162713183, -0.4985363261688878),
    (-0.9692549499965682, 1.8759900014898907, 0.04155592655829284),
    (0.055646639135177166, -0.20404133836651123, 1.0573110696453443),
)
# sRGB transfer function: the encoded and the linear value where its two pieces meet.
_SRGB_KNEE = 0.04045
_LINEAR_KNEE = 0.0031308
# CIE constants: epsilon = (6/29)^3, the linear segment's slope and offset, and f(epsilon).
_EPSILON = 0.008856
_KAPPA_SLOPE = 7.787
_OFFSET = 16.0 / 116.0
_F_KNEE = 0.2068966


# ---------------------------------------------------------------- TensorFlow

def _matmul_last(x, matrix):
    """Applies a 3x3 matrix to the last axis of x (..., 3)."""
    m = tf.constant(matrix, dtype=x.dtype)
    return tf.einsum("...j,ij->...i", x, m)


def _safe_pow(x, exponent, floor):
    """x ** exponent for x >= floor; clamps the base so the gradient stays finite where
    the branch is not taken (tf.where alone still differentiates both branches)."""
    return tf.pow(tf.maximum(x, floor), exponent)


def rgb_to_lab(rgb: TensorLike) -> tf.Tensor:
    """sRGB in [0, 1], shape (..., 3) -> Lab, shape (..., 3); L in [0, 100]."""
    rgb = tf.convert_to_tensor(rgb, tf.float32)
    rgb = tf.clip_by_value(rgb, 0.0, 1.0)
    linear = tf.where(rgb > _SRGB_KNEE, _safe_pow((rgb + 0.055) / 1.055, 2.4, 0.04), rgb / 12.92)
    xyz = _matmul_last(linear, _XYZ_FROM_RGB) / tf.constant(_WHITE_XYZ)
    f = tf.where(xyz > _EPSILON, _safe_pow(xyz, 1.0 / 3.0, _EPSILON), _KAPPA_SLOPE * xyz + _OFFSET)
    fx, fy, fz = tf.unstack(f, axis=-1)
    lightness = 116.0 * fy - 16.0
    return tf.stack([lightness, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_rgb(lab: TensorLike) -> tf.Tensor:
    """Lab, shape (..., 3) -> sRGB in [0, 1], shape (..., 3) (out-of-gamut colours clipped)."""
    lab = tf.convert_to_tensor(lab, tf.float32)
    lightness, a, b = tf.unstack(lab, axis=-1)
    fy = (lightness + 16.0) / 116.0
    fx = a / 500.0 + fy
    fz = tf.maximum(fy - b / 200.0, 0.0)  # skimage clips negative z the same way
    f = tf.stack([fx, fy, fz], axis=-1)
    xyz = tf.where(f > _F_KNEE, tf.pow(f, 3.0), (f - _OFFSET) / _KAPPA_SLOPE)
    xyz = xyz * tf.constant(_WHITE_XYZ)
    linear = _matmul_last(xyz, _RGB_FROM_XYZ)
    rgb = tf.where(
        linear > _LINEAR_KNEE,
        1.055 * _safe_pow(linear, 1.0 / 2.4, _LINEAR_KNEE) - 0.055,
        12.92 * linear,
    )
    return tf.clip_by_value(rgb, 0.0, 1.0)


def rgb_to_gray(rgb: TensorLike) -> tf.Tensor:
    """sRGB (..., 3) in [0, 1] -> the sRGB gray (..., 1) with the same CIE L, in [0, 1]."""
    lab = rgb_to_lab(rgb)
    return lab_to_rgb(tf.concat([lab[..., :1], tf.zeros_like(lab[..., 1:])], axis=-1))[..., :1]


def normalize_l(lightness: TensorLike) -> tf.Tensor:
    """L in [0, 100] -> network input in [-1, 1]."""
    return lightness / L_SCALE - L_CENTER / L_SCALE


def denormalize_l(l: TensorLike) -> tf.Tensor:
    """Network lightness in [-1, 1] -> L in [0, 100]."""
    return (l + L_CENTER / L_SCALE) * L_SCALE


def normalize_ab(ab: TensorLike) -> tf.Tensor:
    """ab in about [-110, 110] -> network target in [-1, 1]."""
    return ab / AB_SCALE


def denormalize_ab(ab: TensorLike) -> tf.Tensor:
    """Network chroma in [-1, 1] -> ab in [-110, 110]."""
    return ab * AB_SCALE


def rgb_to_l_ab(rgb: TensorLike) -> tuple[tf.Tensor, tf.Tensor]:
    """sRGB (..., 3) in [0, 1] -> (l (..., 1), ab (..., 2)), both normalised to [-1, 1]."""
    lab = rgb_to_lab(rgb)
    return normalize_l(lab[..., :1]), normalize_ab(lab[..., 1:])


def l_ab_to_rgb(l: TensorLike, ab: TensorLike) -> tf.Tensor:
    """Normalised l (..., 1) and ab (..., 2) in [-1, 1] -> sRGB (..., 3) in [0, 1]."""
    lab = tf.concat([denormalize_l(l), denormalize_ab(ab)], axis=-1)
    return lab_to_rgb(lab)


def normalize_lines(lines: TensorLike) -> tf.Tensor:
    """A line drawing (..., 1) in [0, 1] (1 = paper, 0 = ink) -> network input in [-1, 1]."""
    return 2.0 * lines - 1.0


# ---------------------------------------------------------------- numpy twins

def _float_array(x, scale_uint8: bool = False) -> np.ndarray:
    """A float32 / float64 array as it is; uint8 scaled by 1/255 (``scale_uint8``) into
    float32; anything else as float64."""
    x = np.asarray(x)
    if x.dtype in (np.float32, np.float64):
        return x
    if scale_uint8 and x.dtype == np.uint8:
        return x.astype(np.float32) * np.float32(1.0 / 255.0)
    return x.astype(np.float64)


def _apply_matrix_np(x: np.ndarray, matrix) -> np.ndarray:
    """Applies a 3x3 matrix to the last axis of x (..., 3), in x's dtype (as skimage does)."""
    return x @ np.asarray(matrix).T.astype(x.dtype)


def srgb_to_linear_np(rgb: np.ndarray) -> np.ndarray:
    """The sRGB decoding: encoded values in [0, 1] (any shape) -> linear light in [0, 1]."""
    x = _float_array(rgb).copy()
    curved = x > _SRGB_KNEE
    x[curved] = np.power((x[curved] + 0.055) / 1.055, 2.4)
    x[~curved] /= 12.92
    return x


def linear_to_srgb_np(linear: np.ndarray) -> np.ndarray:
    """The sRGB encoding: linear light (any shape) -> encoded values (not clipped)."""
    x = _float_array(linear).copy()
    curved = x > _LINEAR_KNEE
    x[curved] = 1.055 * np.power(x[curved], 1 / 2.4) - 0.055
    x[~curved] *= 12.92
    return x


def rgb_to_lab_np(rgb: np.ndarray) -> np.ndarray:
    """numpy twin of :func:`rgb_to_lab`: sRGB (..., 3) in [0, 1] (float, or uint8 scaled by
    1/255; clipped to [0, 1]) -> Lab (..., 3), L in [0, 100], in the input's float dtype."""
    rgb = np.clip(_float_array(rgb, scale_uint8=True), 0.0, 1.0)
    xyz = _apply_matrix_np(srgb_to_linear_np(rgb), _XYZ_FROM_RGB)
    f = xyz / np.asarray(_WHITE_XYZ, xyz.dtype)
    cubic = f > _EPSILON
    f[cubic] = np.cbrt(f[cubic])
    f[~cubic] = _KAPPA_SLOPE * f[~cubic] + _OFFSET
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    return np.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_rgb_np(lab: np.ndarray) -> np.ndarray:
    """numpy twin of :func:`lab_to_rgb`: Lab (..., 3) -> sRGB (..., 3) in [0, 1], out-of-gamut
    colours clipped, in the input's float dtype."""
    lab = _float_array(lab)
    fy = (lab[..., 0] + 16.0) / 116.0
    fx = lab[..., 1] / 500.0 + fy
    fz = np.maximum(fy - lab[..., 2] / 200.0, 0.0)  # negative z clipped, as skimage does
    f = np.stack([fx, fy, fz], axis=-1)
    cubic = f > _F_KNEE
    f[cubic] = np.power(f[cubic], 3.0)
    f[~cubic] = (f[~cubic] - _OFFSET) / _KAPPA_SLOPE
    f *= np.asarray(_WHITE_XYZ)
    rgb = linear_to_srgb_np(_apply_matrix_np(f, _RGB_FROM_XYZ))
    return np.clip(rgb, 0.0, 1.0, out=rgb)


def rgb_to_l_ab_np(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """numpy twin of :func:`rgb_to_l_ab`: sRGB (..., 3) in [0, 1] -> (l (..., 1), ab (..., 2)),
    both normalised to [-1, 1]."""
    lab = rgb_to_lab_np(rgb)
    return normalize_l(lab[..., :1]), normalize_ab(lab[..., 1:])


def l_ab_to_rgb_np(l: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """numpy twin of :func:`l_ab_to_rgb`: normalised l (..., 1) and ab (..., 2) -> sRGB (..., 3)
    in [0, 1]."""
    l, ab = _float_array(l), _float_array(ab)
    return lab_to_rgb_np(np.concatenate([denormalize_l(l), denormalize_ab(ab)], axis=-1))


def denormalize_colors_np(colors: np.ndarray) -> np.ndarray:
    """A network's colours (..., C) -> Lab units, float32: normalised ab (C = 2, gray models)
    -> ab in about [-110, 110]; normalised Lab (C = 3, line-art models) -> L in [0, 100] and ab."""
    colors = np.asarray(colors, np.float32)
    if colors.shape[-1] == 2:
        return denormalize_ab(colors)
    if colors.shape[-1] != 3:
        raise ValueError(f"colours must have 2 (ab) or 3 (Lab) channels, got shape {colors.shape}")
    return np.concatenate([denormalize_l(colors[..., :1]), denormalize_ab(colors[..., 1:])], -1)


# The sRGB gray of a CIE lightness is a smooth curve of one variable: lightness_to_gray_np
# reads it from a table of 0.01 L steps at the nearest step (within 1e-4 of lab_to_rgb_np,
# several times faster and without a full-size Lab array on a page).
_GRAY_STEPS = 10_001


@functools.lru_cache(maxsize=1)
def _gray_table() -> np.ndarray:
    lab = np.zeros((_GRAY_STEPS, 3), np.float64)
    lab[:, 0] = np.linspace(0.0, 100.0, _GRAY_STEPS)
    return lab_to_rgb_np(lab)[:, 0].astype(np.float32)


def lightness_to_gray_np(lightness: np.ndarray) -> np.ndarray:
    """CIE L (any shape; clipped to [0, 100]) -> the sRGB gray in [0, 1] of that lightness,
    float32 of the same shape (the gray of ``lab_to_rgb_np`` with a = b = 0, within 1e-4)."""
    position = np.clip(np.asarray(lightness, np.float32), 0.0, 100.0) * np.float32((_GRAY_STEPS - 1) / 100.0)
    return _gray_table()[(position + np.float32(0.5)).astype(np.int32)]


# Lookup tables of the sRGB curve for rgb_to_gray_np: within 1e-3 of the exact curve and
# several times faster than pow() on a 3-megapixel page.
_LUT_SIZE = 4096


@functools.lru_cache(maxsize=1)
def _srgb_tables() -> tuple[np.ndarray, np.ndarray]:
    grid = np.linspace(0.0, 1.0, _LUT_SIZE)
    return srgb_to_linear_np(grid).astype(np.float32), linear_to_srgb_np(grid).astype(np.float32)


def rgb_to_gray_np(rgb: np.ndarray) -> np.ndarray:
    """numpy twin of :func:`rgb_to_gray`: sRGB (..., 3) in [0, 1] (float, or uint8 scaled by
    1/255) -> float32 sRGB gray (..., 1) with the same CIE L (the same luminance Y), within
    2e-3 of the TensorFlow version (the sRGB curve is read from 4096-entry tables, for speed
    on big pages). An input that is already gray (R = G = B everywhere) is returned exactly."""
    rgb = _float_array(rgb, scale_uint8=True).astype(np.float32, copy=False)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    if np.array_equal(r, g) and np.array_equal(g, b):
        return rgb[..., :1].copy()
    decode, encode = _srgb_tables()
    linear = decode[(np.clip(rgb, 0.0, 1.0) * (_LUT_SIZE - 1) + 0.5).astype(np.int32)]
    y = linear @ np.asarray(_XYZ_FROM_RGB[1], np.float32)
    return encode[(np.clip(y, 0.0, 1.0) * (_LUT_SIZE - 1) + 0.5).astype(np.int32)][..., None]
