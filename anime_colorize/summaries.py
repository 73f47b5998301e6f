"""TensorBoard event files written with TensorFlow's core summary op.

TensorBoard is no longer a TensorFlow dependency and ``tf.summary.scalar`` needs it, so the
events are written with ``tf.summary.write`` and the plugin metadata TensorBoard reads.
Viewing them needs ``pip install tensorboard``; writing them needs nothing extra.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from anime_colorize.array_types import PathLike


def _metadata(plugin: str) -> summary_pb2.SummaryMetadata:
    return summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin))


class SummaryWriter:
    """Scalars and images for TensorBoard under ``logdir``."""

    def __init__(self, logdir: PathLike) -> None:
        self._writer = tf.summary.create_file_writer(str(logdir))

    def scalars(self, values: dict, step: int) -> None:
        with self._writer.as_default():
            for name, value in values.items():
                tf.summary.write(name, tf.constant(float(value), tf.float32), step=step,
                                 metadata=_metadata("scalars"))

    def image(self, name: str, image: np.ndarray, step: int) -> None:
        """``image``: uint8 (H, W, 3)."""
        png = tf.io.encode_png(image)
        tensor = tf.stack([tf.as_string(image.shape[1]), tf.as_string(image.shape[0]), png])
        with self._writer.as_default():
            tf.summary.write(name, tensor, step=step, metadata=_metadata("images"))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
