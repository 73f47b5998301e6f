"""Saving, loading and converting generators: ``.keras`` files, SavedModel folders, ONNX.

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

A model with region pooling (``meta["takes_regions"]``, line-art models by default) also takes
``regions``: int32 (B, H, W), the region labels of the drawing exactly as given in ``l``,
0 .. n-1 per image numbered by decreasing area, -1 = no region (e.g. padding). Make them with
``anime_colorize.regions.region_labels(drawing_of(l[i], meta["input_kind"]))`` (what training
used; :func:`anime_colorize.sampling.working_regions` for a batch)::

    lab = m.signatures["serving_default"](l=l, z=z, regions=regions)["lab"]

Without anime_colorize at hand, the ``without_regions`` signature takes the same inputs less
``regions`` and runs the model with every label -1: each pooling layer then passes its
features through unpooled, so the colours are valid but neither held flat within regions
nor as good as with the labels (the segmentation is NumPy/SciPy code, not graph ops, so the
SavedModel cannot cut the drawing itself). The ONNX export has the same inputs and output as
``serving_default`` (:mod:`.onnx_format`).

The package's modules: :mod:`.saving` (write ``.keras`` / SavedModel), :mod:`.loading`
(read either, :class:`LoadedGenerator`), :mod:`.trust` (the op allowlist that decides whether
a SavedModel loads without ``--unsafe``), :mod:`.onnx_format`, and :mod:`.cli` (the command
``python -m anime_colorize.export``).

This file imports nothing heavy: ``python -m anime_colorize.export`` imports it before the
command runs, and the command must quiet TensorFlow before TensorFlow is imported. The names
below are loaded from their modules on first use.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

KERAS_NAME = "generator.keras"
SAVED_MODEL_NAME = "saved_model"

_HOMES = {
    "GENERATOR_TYPES": "saving", "Generator": "saving", "ServingModule": "saving",
    "save_keras": "saving", "save_saved_model": "saving", "export_generator": "saving",
    "LoadedGenerator": "loading", "load_generator": "loading", "load_keras_generator": "loading",
    "resolve_model_path": "loading",
    "save_onnx": "onnx_format", "OnnxUnavailableError": "onnx_format",
    "UntrustedModelError": "trust", "check_saved_model": "trust",
}

__all__ = ["KERAS_NAME", "SAVED_MODEL_NAME", *_HOMES]

if TYPE_CHECKING:
    from anime_colorize.export.loading import (LoadedGenerator, load_generator, load_keras_generator,
                                               resolve_model_path)
    from anime_colorize.export.onnx_format import OnnxUnavailableError, save_onnx
    from anime_colorize.export.saving import (GENERATOR_TYPES, Generator, ServingModule, export_generator,
                                              save_keras, save_saved_model)
    from anime_colorize.export.trust import UntrustedModelError, check_saved_model


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value  # later look-ups (and monkeypatching in tests) see a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
