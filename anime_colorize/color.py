"""The only home of colour maths: sRGB <-> CIE Lab and the network's normalisation.

Everything is TensorFlow, batched over any leading dimensions (the channel axis is last)
and differentiable, so the same functions serve the data pipeline, the losses and
inference. The constants match scikit-image's ``rgb2lab`` / ``lab2rgb`` (sRGB primaries,
D65 white point, 2-degree observer), which the tests check against.

Ranges:
    rgb  float in [0, 1]
    L    in [0, 100];  a, b  roughly in [-110, 110]
    the network sees ``l = L / 50 - 1`` in [-1, 1] and predicts ``ab = ab / 110`` in [-1, 1]
    (a tanh head), see :func:`normalize_l` and :func:`normalize_ab`.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

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
_RGB_FROM_XYZ = tuple(map(tuple, np.linalg.inv(np.array(_XYZ_FROM_RGB)).tolist()))
# CIE constants: epsilon = (6/29)^3 and the linear segment's slope and offset.
_EPSILON = 0.008856
_KAPPA_SLOPE = 7.787
_OFFSET = 16.0 / 116.0


def _matmul_last(x, matrix):
    """Applies a 3x3 matrix to the last axis of x (..., 3)."""
    m = tf.constant(matrix, dtype=x.dtype)
    return tf.einsum("...j,ij->...i", x, m)


def _safe_pow(x, exponent, floor):
    """x ** exponent for x >= floor; clamps the base so the gradient stays finite where
    the branch is not taken (tf.where alone still differentiates both branches)."""
    return tf.pow(tf.maximum(x, floor), exponent)


def rgb_to_lab(rgb):
    """sRGB in [0, 1], shape (..., 3) -> Lab, shape (..., 3); L in [0, 100]."""
    rgb = tf.convert_to_tensor(rgb, tf.float32)
    rgb = tf.clip_by_value(rgb, 0.0, 1.0)
    linear = tf.where(rgb > 0.04045, _safe_pow((rgb + 0.055) / 1.055, 2.4, 0.04), rgb / 12.92)
    xyz = _matmul_last(linear, _XYZ_FROM_RGB) / tf.constant(_WHITE_XYZ)
    f = tf.where(xyz > _EPSILON, _safe_pow(xyz, 1.0 / 3.0, _EPSILON), _KAPPA_SLOPE * xyz + _OFFSET)
    fx, fy, fz = tf.unstack(f, axis=-1)
    lightness = 116.0 * fy - 16.0
    return tf.stack([lightness, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_rgb(lab):
    """Lab, shape (..., 3) -> sRGB in [0, 1], shape (..., 3) (out-of-gamut colours clipped)."""
    lab = tf.convert_to_tensor(lab, tf.float32)
    lightness, a, b = tf.unstack(lab, axis=-1)
    fy = (lightness + 16.0) / 116.0
    fx = a / 500.0 + fy
    fz = tf.maximum(fy - b / 200.0, 0.0)  # skimage clips negative z the same way
    f = tf.stack([fx, fy, fz], axis=-1)
    xyz = tf.where(f > 0.2068966, tf.pow(f, 3.0), (f - _OFFSET) / _KAPPA_SLOPE)
    xyz = xyz * tf.constant(_WHITE_XYZ)
    linear = _matmul_last(xyz, _RGB_FROM_XYZ)
    rgb = tf.where(
        linear > 0.0031308,
        1.055 * _safe_pow(linear, 1.0 / 2.4, 0.0031308) - 0.055,
        12.92 * linear,
    )
    return tf.clip_by_value(rgb, 0.0, 1.0)


def lab_to_rgb_numpy(lab) -> np.ndarray:
    """NumPy twin of :func:`lab_to_rgb` (same constants and clipping) for host-side code
    that must not run TensorFlow ops, e.g. layer composition in ``anime_colorize.regions``.

    Lab float (..., 3) -> sRGB float32 (..., 3) in [0, 1].
    """
    lab = np.asarray(lab, np.float32)
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([lab[..., 1] / 500.0 + fy, fy, np.maximum(fy - lab[..., 2] / 200.0, 0.0)], axis=-1)
    xyz = np.where(f > 0.2068966, f ** 3, (f - _OFFSET) / _KAPPA_SLOPE) * np.float32(_WHITE_XYZ)
    linear = xyz @ np.asarray(_RGB_FROM_XYZ, np.float32).T
    rgb = np.where(linear > 0.0031308,
                   1.055 * np.maximum(linear, 0.0031308) ** (1.0 / 2.4) - 0.055, 12.92 * linear)
    return np.clip(rgb, 0.0, 1.0).astype(np.float32)


def rgb_to_gray(rgb):
    """sRGB (..., 3) in [0, 1] -> the sRGB gray (..., 1) with the same CIE L, in [0, 1]."""
    lab = rgb_to_lab(rgb)
    return lab_to_rgb(tf.concat([lab[..., :1], tf.zeros_like(lab[..., 1:])], axis=-1))[..., :1]


def normalize_l(lightness):
    """L in [0, 100] -> network input in [-1, 1]."""
    return lightness / L_SCALE - L_CENTER / L_SCALE


def denormalize_l(l):
    """Network lightness in [-1, 1] -> L in [0, 100]."""
    return (l + L_CENTER / L_SCALE) * L_SCALE


def normalize_ab(ab):
    """ab in about [-110, 110] -> network target in [-1, 1]."""
    return ab / AB_SCALE


def denormalize_ab(ab):
    """Network chroma in [-1, 1] -> ab in [-110, 110]."""
    return ab * AB_SCALE


def rgb_to_l_ab(rgb):
    """sRGB (..., 3) in [0, 1] -> (l (..., 1), ab (..., 2)), both normalised to [-1, 1]."""
    lab = rgb_to_lab(rgb)
    return normalize_l(lab[..., :1]), normalize_ab(lab[..., 1:])


def l_ab_to_rgb(l, ab):
    """Normalised l (..., 1) and ab (..., 2) in [-1, 1] -> sRGB (..., 3) in [0, 1]."""
    lab = tf.concat([denormalize_l(l), denormalize_ab(ab)], axis=-1)
    return lab_to_rgb(lab)


def normalize_lines(lines):
    """A line drawing (..., 1) in [0, 1] (1 = paper, 0 = ink) -> network input in [-1, 1]."""
    return 2.0 * lines - 1.0
