"""Saving and loading generators: ``.keras`` files and SavedModel folders.

Both carry the model's metadata (``input_kind``, ``working_size``, ``z_dim``, ``hint_kinds``,
``stride``), so sampling and colouring need no flags to use a model right.

A generator is any of :data:`GENERATOR_TYPES` (the U-Net of the paired trainers, the ResNet
colourer of cyclegan): Keras models with the same interface, inputs ``{"l", "z"[, hints]}``
and attributes ``metadata``, ``z_dim``, ``stride``, ``output_name``, ``hint_kinds``.

The SavedModel runs from plain TensorFlow without anime_colorize::

    m = tf.saved_model.load("runs/x/saved_model")
    ab = m.signatures["serving_default"](l=l, z=z)["ab"]
    # l: float32 (B, H, W, 1) = L / 50 - 1;  z: float32 (B, z_dim) ~ N(0, 1)
    # ab: float32 (B, H, W, 2) in [-1, 1], times 110 gives Lab a and b; H, W multiples of stride
    meta = json.loads(m.signatures["metadata"]()["metadata"].numpy())

A line-art model takes the drawing as ``l`` (2 * gray - 1, paper = 1) and returns ``lab``
(B, H, W, 3) = (L / 50 - 1, a / 110, b / 110) instead of ``ab`` (``meta["output"]``). A hint
model also takes ``hint_ab`` (B, H, W, 2), ``hint_mask`` (B, H, W, 1) and ``hint_hist``
(B, 512), zeros where no hint is given (see :mod:`anime_colorize.data.hints`).

Writes are atomic: to a temporary name in the same folder, then renamed, so a crash during
an export never leaves a half-written model where a good one was.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import keras
import tensorflow as tf

from anime_colorize.data import hints as hints_lib
from anime_colorize.models import UNetGenerator
from anime_colorize.models.resnet import ResNetGenerator

KERAS_NAME = "generator.keras"
SAVED_MODEL_NAME = "saved_model"
GENERATOR_TYPES = (UNetGenerator, ResNetGenerator)
Generator = UNetGenerator | ResNetGenerator


class _ServingModule(tf.Module):
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

        self.serve = serve
        self.metadata = metadata


def _temporary_sibling(path: Path, suffix: str = "") -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp{suffix}")


def save_keras(generator: Generator, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_sibling(path, ".keras")  # keras insists on the extension
    try:
        generator.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_saved_model(generator: Generator, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, old = _temporary_sibling(path), _temporary_sibling(path, ".old")
    module = _ServingModule(generator)
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


def export_generator(generator: Generator, out_dir) -> tuple[Path, Path]:
    """Writes ``out_dir/generator.keras`` and ``out_dir/saved_model/``."""
    if not isinstance(generator, GENERATOR_TYPES):
        raise TypeError(f"cannot export a {type(generator).__name__}: not one of "
                        f"{', '.join(t.__name__ for t in GENERATOR_TYPES)}")
    out_dir = Path(out_dir)
    return save_keras(generator, out_dir / KERAS_NAME), save_saved_model(generator, out_dir / SAVED_MODEL_NAME)


class LoadedGenerator:
    """A generator loaded from disk, whatever the format.

    Call it with the normalised input ``l`` (B, H, W, 1) (lightness, or line art for a
    line-art model), ``z`` (B, z_dim), H and W multiples of ``stride``, and optionally
    ``hints`` ({"hint_ab", "hint_mask", "hint_hist"}, any subset; batch 1 or B); it returns
    ab (B, H, W, 2), or Lab (B, H, W, 3) for line art, in [-1, 1] as a tf.Tensor. A hint
    model called without hints gets "none given" (zeros).
    """

    def __init__(self, fn, metadata: dict, path):
        self._fn = fn  # {"l", "z"[, hint_*]} -> colours
        self.metadata = metadata
        self.path = str(path)
        self.z_dim = int(metadata["z_dim"])
        self.stride = int(metadata["stride"])
        self.working_size = int(metadata["working_size"])
        self.input_kind = metadata["input_kind"]
        self.hint_kinds = tuple(metadata.get("hint_kinds", ()))

    @classmethod
    def from_model(cls, model: Generator, path, jit_compile: bool = False) -> "LoadedGenerator":
        """Wraps an in-memory generator (inference mode, one traced function)."""
        infer = tf.function(lambda inputs: model(inputs, training=False), reduce_retracing=True,
                            jit_compile=jit_compile)
        return cls(infer, model.metadata, path)

    def __call__(self, l, z, hints: dict | None = None):
        l = tf.convert_to_tensor(l, tf.float32)
        inputs = {"l": l, "z": tf.convert_to_tensor(z, tf.float32)}
        if hints and not self.hint_kinds:
            raise ValueError(f"{self.path} was trained without colour hints; it cannot take {sorted(hints)}")
        if self.hint_kinds:
            shape = tf.shape(l)
            full = hints_lib.empty_hints(shape[0], shape[1], shape[2])
            for key, value in (hints or {}).items():
                if key not in full:
                    raise ValueError(f"unknown hint input {key!r}; expected {sorted(full)}")
                value = tf.convert_to_tensor(value, tf.float32)
                full[key] = tf.broadcast_to(value, tf.shape(full[key]))
            inputs.update(full)
        return self._fn(inputs)


def load_generator(path, safe_mode: bool = True) -> LoadedGenerator:
    """Loads ``generator.keras`` or a ``saved_model`` folder (or a run folder holding one).

    ``safe_mode`` keeps Keras from running code stored in a ``.keras`` file (lambdas); turn
    it off only for files you trust. Raises FileNotFoundError / ValueError naming the path.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model not found: {path}")
    if path.is_dir() and not (path / "saved_model.pb").exists():
        for candidate in (path / KERAS_NAME, path / SAVED_MODEL_NAME):
            if candidate.exists():
                return load_generator(candidate, safe_mode)
        raise ValueError(f"{path} is neither a SavedModel folder nor a run folder with {KERAS_NAME}")
    if path.is_dir():
        try:
            loaded = tf.saved_model.load(str(path))
            serve = loaded.signatures["serving_default"]
            metadata = json.loads(loaded.signatures["metadata"]()["metadata"].numpy().decode())
        except (KeyError, ValueError, OSError, tf.errors.OpError) as e:
            raise ValueError(f"{path} is not an anime_colorize SavedModel: {e}") from e
        output = metadata.get("output", "ab")
        return LoadedGenerator(lambda inputs: serve(**inputs)[output], metadata, path)
    if path.suffix != ".keras":
        raise ValueError(f"{path}: expected a .keras file or a SavedModel folder")
    try:
        model = keras.saving.load_model(path, safe_mode=safe_mode)
    except Exception as e:  # keras raises many types for a bad file; all mean the same here
        raise ValueError(f"{path} could not be loaded as a Keras model: {e}") from e
    if not isinstance(model, GENERATOR_TYPES):
        raise ValueError(f"{path} holds a {type(model).__name__}, not an anime_colorize generator")
    return LoadedGenerator.from_model(model, path)

