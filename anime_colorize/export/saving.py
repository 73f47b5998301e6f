"""Writing generators to disk: ``.keras`` files and SavedModel folders (ONNX: :mod:`.onnx_format`).

Both carry the model's metadata (``input_kind``, ``working_size``, ``z_dim``, ``hint_kinds``,
``stride``, ``output``), so sampling and colouring need no flags to use a model right. The
SavedModel's signatures are described in :mod:`anime_colorize.export`.

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

from anime_colorize.data import hints as hints_lib
from anime_colorize.export import KERAS_NAME, SAVED_MODEL_NAME
from anime_colorize.models import UNetGenerator, takes_regions
from anime_colorize.models.resnet import ResNetGenerator

GENERATOR_TYPES = (UNetGenerator, ResNetGenerator)
Generator = UNetGenerator | ResNetGenerator


NO_REGIONS_SIGNATURE = "without_regions"


def _serving_function(call, specs, name: str):
    """A tf.function ``name`` of the tensors ``specs`` (positional, named by the specs: the
    names of the SavedModel signature's inputs) that calls ``call({name: tensor})``."""
    names = [spec.name for spec in specs]

    def function(*tensors):
        return call(dict(zip(names, tensors)))

    function.__name__ = name  # the traced function's name in the SavedModel's library
    return tf.function(function, input_signature=specs, autograph=False)


class ServingModule(tf.Module):
    """The generator behind traced functions with named inputs, shared by the SavedModel and
    the ONNX export so both have the same interface.

    ``serve(l, z[, hint_ab, hint_mask, hint_hist][, regions])`` returns ``{output_name:
    colours}``; ``input_specs`` lists its inputs (batch, height and width dynamic);
    ``metadata()`` returns ``{"metadata": JSON string}``. For a generator that takes region
    labels, ``serve`` requires ``regions`` and ``without_regions`` (the same inputs without
    it) runs the model with every label -1, "no region": see :mod:`anime_colorize.export`.
    """

    def __init__(self, generator: Generator):
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
        self.without_regions = None
        if takes_regions(generator):
            self.without_regions = _serving_function(
                lambda inputs: {output: self.generator({**inputs, "regions": tf.fill(tf.shape(inputs["l"])[:3], -1)},
                                                       training=False)}, list(specs), NO_REGIONS_SIGNATURE)
            specs.append(tf.TensorSpec((None, None, None), tf.int32, name="regions"))
        self.serve = _serving_function(lambda inputs: {output: self.generator(inputs, training=False)}, specs,
                                       "serve")

        @tf.function(input_signature=[])
        def metadata():
            return {"metadata": self.metadata_json.read_value()}

        self.input_specs = specs
        self.metadata = metadata

    @property
    def signatures(self) -> dict:
        """The SavedModel's signatures: ``serving_default``, ``metadata`` and for a model that
        takes region labels :data:`NO_REGIONS_SIGNATURE`."""
        signatures = {"serving_default": self.serve, "metadata": self.metadata}
        if self.without_regions is not None:
            signatures[NO_REGIONS_SIGNATURE] = self.without_regions
        return signatures


def temporary_sibling(path: Path, suffix: str = "") -> Path:
    """A hidden, unused name next to ``path``: written first, then renamed over ``path``."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp{suffix}")


def check_generator(generator) -> None:
    """Raises TypeError unless ``generator`` is one of :data:`GENERATOR_TYPES`."""
    if not isinstance(generator, GENERATOR_TYPES):
        raise TypeError(f"cannot export a {type(generator).__name__}: not one of "
                        f"{', '.join(t.__name__ for t in GENERATOR_TYPES)}")


def save_keras(generator: Generator, path) -> Path:
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


def save_saved_model(generator: Generator, path) -> Path:
    """Writes ``generator`` as a SavedModel folder at ``path``, replacing one that is there;
    returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, old = temporary_sibling(path), temporary_sibling(path, ".old")
    module = ServingModule(generator)
    try:
        tf.saved_model.save(module, str(tmp), signatures=module.signatures)
        if path.exists():
            os.replace(path, old)  # a folder cannot be replaced in one step; keep it until the swap
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return path


def export_generator(generator: Generator, out_dir) -> tuple[Path, Path]:
    """Writes ``out_dir/generator.keras`` and ``out_dir/saved_model/``."""
    check_generator(generator)
    out_dir = Path(out_dir)
    return save_keras(generator, out_dir / KERAS_NAME), save_saved_model(generator, out_dir / SAVED_MODEL_NAME)
