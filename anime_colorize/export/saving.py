"""Writing generators to disk: ``.keras`` files and SavedModel folders (ONNX: :mod:`.onnx_format`).

Both carry the model's metadata (``input_kind``, ``working_size``, ``z_dim``, ``hint_kinds``,
``stride``, ``output``), so sampling and colouring need no flags to use a model right. The
SavedModel's two signatures are described in :mod:`anime_colorize.export`.

Writes are atomic: to a temporary name in the same folder, then renamed, so a crash during
an export never leaves a half-written model where a good one was.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import tensorflow as tf

from anime_colorize.array_types import PathLike
from anime_colorize.data import hints as hints_lib
from anime_colorize.export import KERAS_NAME, SAVED_MODEL_NAME
from anime_colorize.models import UNetGenerator
from anime_colorize.models.resnet import ResNetGenerator

GENERATOR_TYPES = (UNetGenerator, ResNetGenerator)
Generator = UNetGenerator | ResNetGenerator


class ServingModule(tf.Module):
    """The generator behind one traced function with named inputs, shared by the SavedModel
    and the ONNX export so both have the same interface.

    ``serve(l, z[, hint_ab, hint_mask, hint_hist])`` returns ``{output_name: colours}``;
    ``input_specs`` lists its inputs (batch, height and width dynamic); ``metadata()``
    returns ``{"metadata": JSON string}``.
    """

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        self.generator = generator
        self.metadata_json = tf.Variable(json.dumps(generator.metadata), trainable=False)

        output = generator.output_name
        specs = [tf.TensorSpec((None, None, None, 1), tf.float32, name="l"),
                 tf.TensorSpec((None, generator.z_dim), tf.float32, name="z")]
        if generator.hint_kinds:
            specs += [tf.TensorSpec((None, None, None, 2), tf.float32, name="hint_ab"),
                      tf.TensorSpec((None, None, None, 1), tf.float32, name="hint_mask"),
                      tf.TensorSpec((None, hints_lib.HIST_SIZE), tf.float32, name="hint_hist")]

            @tf.function(input_signature=specs)
            def serve(l, z, hint_ab, hint_mask, hint_hist):
                inputs = {"l": l, "z": z, "hint_ab": hint_ab, "hint_mask": hint_mask, "hint_hist": hint_hist}
                return {output: self.generator(inputs, training=False)}
        else:
            @tf.function(input_signature=specs)
            def serve(l, z):
                return {output: self.generator({"l": l, "z": z}, training=False)}

        @tf.function(input_signature=[])
        def metadata():
            return {"metadata": self.metadata_json.read_value()}

        self.input_specs = specs
        self.serve = serve
        self.metadata = metadata


def temporary_sibling(path: Path, suffix: str = "") -> Path:
    """A hidden, unused name next to ``path``: written first, then renamed over ``path``."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp{suffix}")


def check_generator(generator: object) -> None:
    """Raises TypeError unless ``generator`` is one of :data:`GENERATOR_TYPES`."""
    if not isinstance(generator, GENERATOR_TYPES):
        raise TypeError(f"cannot export a {type(generator).__name__}: not one of "
                        f"{', '.join(t.__name__ for t in GENERATOR_TYPES)}")


def save_keras(generator: Generator, path: PathLike) -> Path:
    """Writes ``generator`` as one ``.keras`` file at ``path`` (atomically); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path, ".keras")  # keras insists on the extension
    try:
        generator.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_saved_model(generator: Generator, path: PathLike) -> Path:
    """Writes ``generator`` as a SavedModel folder at ``path``, replacing one that is there;
    returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, old = temporary_sibling(path), temporary_sibling(path, ".old")
    module = ServingModule(generator)
    try:
        tf.saved_model.save(module, str(tmp), signatures={"serving_default": module.serve,
                                                         "metadata": module.metadata})
        if path.exists():
            os.replace(path, old)  # a folder cannot be replaced in one step; keep it until the swap
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return path


def export_generator(generator: Generator, out_dir: PathLike) -> tuple[Path, Path]:
    """Writes ``out_dir/generator.keras`` and ``out_dir/saved_model/``."""
    check_generator(generator)
    out_dir = Path(out_dir)
    return save_keras(generator, out_dir / KERAS_NAME), save_saved_model(generator, out_dir / SAVED_MODEL_NAME)
