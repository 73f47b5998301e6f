"""The noise-conditioned U-Net generator.

``UNetGenerator`` maps ``{"l": (B, H, W, 1) in [-1, 1], "z": (B, z_dim)}`` to
``ab (B, H, W, 2)`` in [-1, 1] (tanh), for any H and W divisible by ``2**depth``.

Why z enters at every decoder scale: a noise vector concatenated only at the input is
washed out by the first convolutions and the network learns to ignore it (BicycleGAN's
"add to all" finding). Broadcasting z into the bottleneck and into each decoder level keeps
it one layer away from every resolution that decides colour, so sweeping z changes the
colouring. The model also carries metadata (``input_kind``, ``working_size``, ``hint_kinds``)
in its config, so an exported ``.keras`` file says how it wants to be used.
"""
from __future__ import annotations

import keras
from keras import layers

from anime_colorize.models.layers import PACKAGE, NORMS, SpatialBroadcast, Upsample2x, conv_block


@keras.saving.register_keras_serializable(package=PACKAGE)
class UNetGenerator(keras.Model):
    """U-Net from L (+ z) to ab.

    Args:
        z_dim: noise size.
        depth: number of stride-2 levels; inputs must be divisible by ``2**depth``.
        filters: channels at full resolution; level i has ``filters * 2**i`` (capped at 8x).
        norm: one of ``batch``, ``instance``, ``group``, ``none``.
        input_kind: what the network sees, ``"gray"`` (L) for now.
        working_size: the training size in pixels, used by inference to choose a scale.
        hint_kinds: names of colour hints the model accepts (none yet).
    """

    def __init__(self, z_dim=8, depth=4, filters=32, norm="batch", input_kind="gray",
                 working_size=64, hint_kinds=(), **kwargs):
        if norm not in NORMS:
            raise ValueError(f"unknown normalisation '{norm}'; choose one of {NORMS}")
        l_in = keras.Input((None, None, 1), name="l")
        z_in = keras.Input((z_dim,), name="z")
        broadcast = SpatialBroadcast(name="z_to_input")
        x = layers.Concatenate(name="input_concat")([l_in, broadcast([l_in, z_in])])
        x = conv_block(x, filters, norm="none", activation="lrelu", name="stem")
        skips = [x]
        widths = [filters * min(2 ** (i + 1), 8) for i in range(depth)]
        for i, width in enumerate(widths):
            x = conv_block(x, width, kernel=4, strides=2, norm=norm, activation="lrelu", name=f"down{i}a")
            x = conv_block(x, width, norm=norm, activation="lrelu", name=f"down{i}b")
            skips.append(x)
        skips.pop()  # the deepest level is x itself
        for i in reversed(range(depth)):
            x = layers.Concatenate(name=f"up{i}_zcat")([x, SpatialBroadcast(name=f"z_to_up{i}")([x, z_in])])
            x = Upsample2x(name=f"up{i}_resize")(x)
            width = filters if i == 0 else widths[i - 1]
            x = conv_block(x, width, norm=norm, name=f"up{i}a")
            x = layers.Concatenate(name=f"up{i}_skip")([x, skips[i]])
            x = conv_block(x, width, norm=norm, name=f"up{i}b")
        x = layers.Concatenate(name="head_lcat")([x, l_in])
        x = conv_block(x, filters, name="head")
        # float32 head: under mixed precision the output (and every loss on it) stays float32.
        ab = layers.Conv2D(2, 1, activation="tanh", dtype="float32", name="ab")(x)
        super().__init__(inputs={"l": l_in, "z": z_in}, outputs=ab, **kwargs)
        self.z_dim = z_dim
        self.depth = depth
        self.filters = filters
        self.norm = norm
        self.input_kind = input_kind
        self.working_size = working_size
        self.hint_kinds = tuple(hint_kinds)

    @property
    def stride(self) -> int:
        """Height and width of inputs must be multiples of this."""
        return 2**self.depth

    @property
    def metadata(self) -> dict:
        """What a user of an exported model needs to know to feed it right."""
        return {"input_kind": self.input_kind, "working_size": self.working_size,
                "z_dim": self.z_dim, "hint_kinds": list(self.hint_kinds), "stride": self.stride}

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "z_dim": self.z_dim,
                "depth": self.depth, "filters": self.filters, "norm": self.norm,
                "input_kind": self.input_kind, "working_size": self.working_size,
                "hint_kinds": list(self.hint_kinds)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
