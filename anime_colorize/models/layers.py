"""Small building blocks shared by the generators and discriminators.

Two of them compute the same numbers two ways, chosen when the step is traced: TensorFlow's
own kernel normally, and an XLA-friendly formulation under ``jit_compile=True``
(:func:`in_xla_context`). XLA's CPU backend runs a bilinear resize and the input gradient of a
strided convolution as convolutions over a zero-stuffed (dilated) input, 10-20x slower than
TensorFlow's kernels for the same op (``experiments/xla_profile.py`` shows the op-level
profile), and both are in every U-Net level; the formulations below use only slices, pads,
reshapes and stride-1 convolutions, which XLA compiles well but which are slower than
TensorFlow's dedicated kernels without XLA.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf
from keras import layers, ops

from anime_colorize.data import hints as hints_lib

PACKAGE = "anime_colorize"
NORMS = ("batch", "instance", "group", "none")


def in_xla_context() -> bool:
    """True while tracing a ``tf.function`` compiled with XLA (``jit_compile=True``), also when
    nested inside one; False eagerly and in plain graphs."""
    try:  # TensorFlow's own test for this; private, so a TensorFlow without it counts as "no XLA"
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # pragma: no cover
        return False
    return control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


def _interleave(even, odd, axis: int):
    """(B, H, W, C) pairs -> rows (axis 1) or columns (axis 2) even, odd, even, ... doubled."""
    shape = tf.shape(even)
    doubled = [shape[0], shape[1], shape[2], shape[3]]
    doubled[axis] *= 2
    return tf.reshape(tf.stack([even, odd], axis + 1), doubled)


def upsample2x_by_shifts(x: tf.Tensor) -> tf.Tensor:
    """``tf.image.resize(x, 2 * (H, W), "bilinear")`` (half-pixel centres, edges clamped) from
    shifted copies, one axis at a time: output 2i is 0.75 x[i] + 0.25 x[i - 1] and 2i + 1 is
    0.75 x[i] + 0.25 x[i + 1]. (B, H, W, C) float -> (B, 2H, 2W, C), H and W >= 1."""
    for axis in (1, 2):
        pads = [[0, 0]] * 4
        pads[axis] = [1, 1]
        padded = tf.pad(x, pads, mode="SYMMETRIC")  # edge rows repeated: the clamping
        size = tf.shape(x)
        # tf.slice, not x[:, a:b]: a strided slice's gradient is slow without XLA
        previous = tf.slice(padded, [0, 0, 0, 0], size)
        after = [0, 0, 0, 0]
        after[axis] = 2
        following = tf.slice(padded, after, size)
        x = _interleave(0.75 * x + 0.25 * previous, 0.75 * x + 0.25 * following, axis)
    return x


def strided_conv_by_space_to_depth(x: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
    """``tf.nn.conv2d(x, kernel, strides=2, padding="SAME")`` as a space-to-depth of the padded
    input followed by a stride-1 VALID convolution with the rearranged kernel, whose gradients
    are stride-1 convolutions and a depth-to-space.

    ``x`` (B, H, W, C), any H and W; ``kernel`` (k_h, k_w, C, F) with k_h, k_w >= 2 (an odd
    size is padded with a zero row or column at its end). Returns (B, ceil(H/2), ceil(W/2), F).
    """
    shape = tf.shape(x)
    pads, even_sizes = [[0, 0]], []
    for axis, k in ((1, kernel.shape[0]), (2, kernel.shape[1])):
        n = shape[axis]
        total = (n + 1) // 2 * 2 - 2 + k - n  # SAME padding of a 2-strided window, >= 0 for k >= 2
        before = total // 2
        pads.append([before, total - before + k % 2])  # the odd kernel's zero tap sees padding
        even_sizes.append(k + k % 2)
    pads.append([0, 0])
    kh, kw = even_sizes
    kernel = tf.pad(kernel, [[0, kh - kernel.shape[0]], [0, kw - kernel.shape[1]], [0, 0], [0, 0]])
    channels, filters = kernel.shape[2], kernel.shape[3]
    # Tap (2 i + dy, 2 j + dx) of the kernel reads block (i, j), depth (dy, dx, c) of the
    # space-to-depth input (tf.nn.space_to_depth orders depth as (dy, dx, c)).
    kernel = tf.reshape(kernel, (kh // 2, 2, kw // 2, 2, channels, filters))
    kernel = tf.reshape(tf.transpose(kernel, (0, 2, 1, 3, 4, 5)), (kh // 2, kw // 2, 4 * channels, filters))
    blocks = tf.nn.space_to_depth(tf.pad(x, pads), 2)
    return tf.nn.conv2d(blocks, kernel, 1, "VALID")


@keras.saving.register_keras_serializable(package=PACKAGE)
class Conv2D(layers.Conv2D):
    """``keras.layers.Conv2D`` whose 2-strided ``same`` convolutions run, under XLA, as
    :func:`strided_conv_by_space_to_depth`: the same weights and outputs (up to float
    rounding), without XLA's slow dilated convolution for the input gradient. Without XLA,
    or for other settings, it is keras' layer unchanged.

    The class is called Conv2D on purpose: a ``.keras`` file names a layer's weights after its
    class (``conv2d``, ``conv2d_1``, ...), so models saved when they used keras' Conv2D load
    into this one unchanged.
    """

    def convolution_op(self, inputs: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
        if (self.strides == (2, 2) and self.padding == "same" and self.dilation_rate == (1, 1)
                and self.groups == 1 and self.data_format == "channels_last"
                and min(self.kernel_size) >= 2 and in_xla_context()):
            return strided_conv_by_space_to_depth(inputs, kernel)
        return super().convolution_op(inputs, kernel)


@keras.saving.register_keras_serializable(package=PACKAGE)
class SpatialBroadcast(layers.Layer):
    """Tiles a per-sample vector over a feature map's grid.

    Inputs ``[features (B, H, W, C), vector (B, D)]`` -> ``(B, H, W, D)``. H and W may be
    unknown until run time, which is why this is a layer rather than a fixed ``Reshape``.
    """

    def call(self, inputs: Sequence[tf.Tensor]) -> tf.Tensor:
        features, vector = inputs
        shape = ops.shape(features)
        # In the features' dtype: a float32 z beside bfloat16 features would promote the
        # concatenation that follows to float32 (and XLA rejects the mixed gradient).
        vector = ops.cast(ops.reshape(vector, (-1, 1, 1, vector.shape[-1])), features.dtype)
        return ops.broadcast_to(vector, (shape[0], shape[1], shape[2], vector.shape[-1]))

    def compute_output_shape(self, input_shapes: Sequence[tuple]) -> tuple:
        features, vector = input_shapes
        return tuple(features[:3]) + (vector[-1],)


@keras.saving.register_keras_serializable(package=PACKAGE)
class RepeatToBatch(layers.Layer):
    """Repeats a per-image tensor to the batch of a per-colouring one.

    Inputs ``[x (B, ...), z (k B, D)]`` -> ``(k B, ...)``: ``x`` stacked k times along the
    batch axis (``[x; x; ...]``), k = batch of z / batch of x, read at run time (k = 1 returns
    x). So k colourings of each image can share every computation made before z enters.
    """

    def call(self, inputs: Sequence[tf.Tensor]) -> tf.Tensor:
        x, z = inputs
        copies = tf.shape(z)[0] // tf.shape(x)[0]
        return tf.tile(x, tf.concat([[copies], tf.ones([tf.rank(x) - 1], tf.int32)], 0))

    def compute_output_shape(self, input_shapes: Sequence[tuple]) -> tuple:
        x, z = input_shapes
        return (z[0],) + tuple(x[1:])


@keras.saving.register_keras_serializable(package=PACKAGE)
class Upsample2x(layers.Layer):
    """Bilinear 2x upsampling, (B, H, W, C) -> (B, 2H, 2W, C), for H and W unknown until run
    time (keras' UpSampling2D needs them static in a traced graph); under XLA computed by
    :func:`upsample2x_by_shifts` (same numbers: see the module docstring)."""

    def call(self, x: tf.Tensor) -> tf.Tensor:
        # In float32 (tf.image.resize always returns float32, and XLA's gradient of a bfloat16
        # resize mixes precisions), and back to the layer's dtype.
        x32 = tf.cast(x, tf.float32)
        if in_xla_context():
            resized = upsample2x_by_shifts(x32)
        else:  # tf directly: keras.ops.image.resize checks the size with Python bools
            resized = tf.image.resize(x32, tf.shape(x)[1:3] * 2, method="bilinear")
        return tf.cast(resized, x.dtype)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        b, h, w, c = input_shape
        return (b, None if h is None else 2 * h, None if w is None else 2 * w, c)


@keras.saving.register_keras_serializable(package=PACKAGE)
class HintDownsample(layers.Layer):
    """Halves a spatial hint map, (B, H, W, 3) -> (B, H/2, W/2, 3), channels (a, b, mask),
    with :func:`anime_colorize.data.hints.pool_hints` over 2x2 blocks: the mask is the block's
    MAX (a one-pixel hint survives every level of the pyramid) and ab the mask-weighted MEAN of
    the block, as :func:`~anime_colorize.data.hints.resize_hints` shrinks hints at inference.
    H and W must be even.
    """

    def call(self, hint: tf.Tensor) -> tf.Tensor:
        hint = tf.cast(hint, tf.float32)
        ab, mask = hints_lib.pool_hints(hint[..., :2], hint[..., 2:], 2, 2)
        return tf.cast(tf.concat([ab, mask], -1), self.compute_dtype)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        b, h, w, c = input_shape
        return (b, None if h is None else h // 2, None if w is None else w // 2, c)


def normalization(kind: str, name: str) -> layers.Layer:
    """A normalisation layer by name, or None for ``"none"``.

    ``instance`` normalises each sample and channel over H and W (GroupNormalization with one
    group per channel); ``group`` uses up to 8 groups, which stays well defined on the 1x1
    bottleneck of a deep U-Net where instance normalisation would erase the signal.
    """
    if kind == "batch":
        # Synchronised across replicas under tf.distribute, so a batch split over devices
        # is normalised as one batch (a no-op on a single device).
        return layers.BatchNormalization(synchronized=True, name=name)
    if kind == "instance":
        return layers.GroupNormalization(groups=-1, name=name)
    if kind == "group":
        return _GroupNorm(name=name)
    if kind == "none":
        return None
    raise ValueError(f"unknown normalisation '{kind}'; choose one of {NORMS}")


@keras.saving.register_keras_serializable(package=PACKAGE)
class _GroupNorm(layers.GroupNormalization):
    """GroupNormalization whose group count (at most 8) adapts to the channel count at build."""

    def __init__(self, groups: int = 8, **kwargs: Any) -> None:
        super().__init__(groups=groups, **kwargs)

    def build(self, input_shape) -> None:
        channels = input_shape[-1]
        self.groups = max(g for g in range(1, min(8, channels) + 1) if channels % g == 0)
        super().build(input_shape)


def conv_block(x: tf.Tensor, filters: int, *, kernel: int = 3, strides: int = 1, norm: str = "none",
               activation: str = "relu", name: str) -> tf.Tensor:
    """Conv -> optional normalisation -> activation, on a (B, H, W, C) tensor."""
    x = Conv2D(filters, kernel, strides=strides, padding="same", use_bias=norm == "none", name=f"{name}_conv")(x)
    norm_layer = normalization(norm, f"{name}_norm")
    if norm_layer is not None:
        x = norm_layer(x)
    if activation == "lrelu":
        return layers.LeakyReLU(0.2, name=f"{name}_act")(x)
    return layers.Activation(activation, name=f"{name}_act")(x)
