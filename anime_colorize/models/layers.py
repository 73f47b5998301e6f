"""Small building blocks shared by the generators and discriminators."""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers, ops

from anime_colorize.data import hints as hints_lib

PACKAGE = "anime_colorize"
NORMS = ("batch", "instance", "group", "none")


@keras.saving.register_keras_serializable(package=PACKAGE)
class SpatialBroadcast(layers.Layer):
    """Tiles a per-sample vector over a feature map's grid.

    Inputs ``[features (B, H, W, C), vector (B, D)]`` -> ``(B, H, W, D)``. H and W may be
    unknown until run time, which is why this is a layer rather than a fixed ``Reshape``.
    """

    def call(self, inputs):
        features, vector = inputs
        shape = ops.shape(features)
        # In the features' dtype: a float32 z beside bfloat16 features would promote the
        # concatenation that follows to float32 (and XLA rejects the mixed gradient).
        vector = ops.cast(ops.reshape(vector, (-1, 1, 1, vector.shape[-1])), features.dtype)
        return ops.broadcast_to(vector, (shape[0], shape[1], shape[2], vector.shape[-1]))

    def compute_output_shape(self, input_shapes):
        features, vector = input_shapes
        return tuple(features[:3]) + (vector[-1],)


@keras.saving.register_keras_serializable(package=PACKAGE)
class Upsample2x(layers.Layer):
    """Bilinear 2x upsampling, (B, H, W, C) -> (B, 2H, 2W, C), for H and W unknown until run
    time (keras' UpSampling2D needs them static in a traced graph)."""

    def call(self, x):
        # tf directly: keras.ops.image.resize checks the size with Python bools. The resize
        # runs in float32 (it always returns float32, and XLA's gradient of a bfloat16 resize
        # mixes precisions), and its output goes back to the layer's dtype.
        resized = tf.image.resize(tf.cast(x, tf.float32), tf.shape(x)[1:3] * 2, method="bilinear")
        return tf.cast(resized, x.dtype)

    def compute_output_shape(self, input_shape):
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

    def call(self, hint):
        hint = tf.cast(hint, tf.float32)
        ab, mask = hints_lib.pool_hints(hint[..., :2], hint[..., 2:], 2, 2)
        return tf.cast(tf.concat([ab, mask], -1), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return (b, None if h is None else h // 2, None if w is None else w // 2, c)


def normalization(kind: str, name: str):
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

    def __init__(self, groups=8, **kwargs):
        super().__init__(groups=groups, **kwargs)

    def build(self, input_shape):
        channels = input_shape[-1]
        self.groups = max(g for g in range(1, min(8, channels) + 1) if channels % g == 0)
        super().build(input_shape)


def conv_block(x, filters, *, kernel=3, strides=1, norm="none", activation="relu", name):
    """Conv -> optional normalisation -> activation, on a (B, H, W, C) tensor."""
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=norm == "none",
                      name=f"{name}_conv")(x)
    norm_layer = normalization(norm, f"{name}_norm")
    if norm_layer is not None:
        x = norm_layer(x)
    if activation == "lrelu":
        return layers.LeakyReLU(0.2, name=f"{name}_act")(x)
    return layers.Activation(activation, name=f"{name}_act")(x)
