"""Dense hints: a push-pull fill of sparse colour hints.

Point and scribble hints cover a few pixels; a network that sees only them has to carry
each colour across the picture itself, which a small U-Net does poorly (hints hardly spread
in our runs, issue #14). :class:`HintFill` gives it a dense guess instead: every pixel gets
the colour of its nearest hints at the finest scale that has one, plus a confidence that
says how far that colour had to travel.

Push: the hint map is halved ``levels`` times by
:class:`~anime_colorize.models.layers.HintDownsample` (the generator's own hint pyramid:
mask = 2x2 block max, ab = mask-weighted block mean), then reduced to one global cell per
image the same way (mask-weighted mean of the coarsest level, its max mask), so an image
with any hint has a colour for every pixel.

Pull: from the global cell back down, each cell blends its own hint with the (nearest
neighbour upsampled) filled cell above it by its mask: ``ab = m ab + (1 - m) ab_above``.
For a binary mask an empty cell simply takes the colour from above and a hinted cell keeps
its own. The confidence is ``m + (1 - m) decay conf_above``: 1 where a hint was given,
``decay**j`` where the colour came from j levels up, 0 where the image has no hint at all.
"""
from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from keras import layers

from anime_colorize.models.layers import PACKAGE, HintDownsample

DEFAULT_LEVELS = 4
DEFAULT_DECAY = 0.5


def _upsample_nearest(x, like):
    """x (B, h, w, C) repeated up to the size of ``like`` (B, H, W, ...): cell i of the
    output takes cell i * h // H of x. A gather, not ``tf.image.resize``: XLA has no
    gradient kernel for the nearest-neighbour resize."""
    def indices(small, large):
        return tf.range(large) * small // large

    small, large = tf.shape(x), tf.shape(like)
    x = tf.gather(x, indices(small[1], large[1]), axis=1)
    return tf.gather(x, indices(small[2], large[2]), axis=2)


def _global_cell(hint):
    """(B, h, w, 3) -> (B, 1, 1, 3): the mask-weighted mean ab and the max mask of a level."""
    ab, mask = hint[..., :2], hint[..., 2:]
    weight = tf.reduce_sum(mask, axis=[1, 2], keepdims=True)
    mean_ab = tf.reduce_sum(ab * mask, axis=[1, 2], keepdims=True) / tf.maximum(weight, 1e-6)
    return tf.concat([mean_ab, tf.reduce_max(mask, axis=[1, 2], keepdims=True)], -1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class HintFill(layers.Layer):
    """Push-pull fill of a sparse hint map into a dense one.

    Input ``hint`` (B, H, W, 3), channels (a, b, mask) as the generator concatenates
    ``hint_ab`` and ``hint_mask`` (:mod:`anime_colorize.data.hints`: ab normalised, about
    [-1, 1], mask in [0, 1], ab 0 where the mask is 0). B, H, W may be unknown until run
    time; H and W should be multiples of ``2**levels`` (otherwise a level's odd last row or
    column is dropped by the push, and its pixels are filled from the neighbour above them).

    Returns, in the layer's compute dtype, (B, H, W, 3): channels (a, b, confidence): ab
    dense wherever the image has a hint (all zeros for an image without hints), confidence
    in [0, 1] as in the module docstring. With ``return_pyramid`` a list of ``levels + 1``
    such maps instead, full size first then each halving, to sit beside the generator's
    hint pyramid at every U-Net level.

    Args:
        levels: number of 2x halvings before the global cell.
        decay: confidence factor per level a colour travels down, in (0, 1].
        return_pyramid: see above.
    """

    def __init__(self, levels: int = DEFAULT_LEVELS, decay: float = DEFAULT_DECAY, return_pyramid: bool = False,
                 **kwargs: Any):
        if int(levels) < 0:
            raise ValueError(f"levels must be >= 0, got {levels}")
        if not 0.0 < float(decay) <= 1.0:
            raise ValueError(f"decay must be in (0, 1], got {decay}")
        super().__init__(**kwargs)
        self.levels = int(levels)
        self.decay = float(decay)
        self.return_pyramid = bool(return_pyramid)
        # float32 whatever the policy: the blend of many levels in bfloat16 would drift.
        self.push = HintDownsample(dtype="float32", name="push")

    def build(self, input_shape: tuple) -> None:
        self.push.build(input_shape)
        self.built = True

    def call(self, hint: tf.Tensor) -> tf.Tensor | list[tf.Tensor]:
        pyramid = [tf.cast(hint, tf.float32)]
        for _ in range(self.levels):
            pyramid.append(self.push(pyramid[-1]))
        above = _global_cell(pyramid[-1])
        filled = []
        for level in reversed(pyramid):
            above = _upsample_nearest(above, level)
            mask = level[..., 2:]
            ab = mask * level[..., :2] + (1.0 - mask) * above[..., :2]
            confidence = mask + (1.0 - mask) * self.decay * above[..., 2:]
            above = tf.concat([ab, confidence], -1)
            filled.append(above)
        filled = [tf.cast(level, self.compute_dtype) for level in reversed(filled)]
        return filled if self.return_pyramid else filled[0]

    def compute_output_shape(self, input_shape: tuple) -> tuple | list[tuple]:
        b, h, w, c = input_shape
        shapes = [(b, None if h is None else h // 2**i, None if w is None else w // 2**i, c)
                  for i in range(self.levels + 1)]
        return shapes if self.return_pyramid else shapes[0]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(levels=self.levels, decay=self.decay, return_pyramid=self.return_pyramid)
        return config
