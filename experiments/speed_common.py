"""Shared helpers of the speed experiments (xla_profile.py, variants.py): timing on a shared
CPU (the package's), random batches of a trainer's signature, FLOP counts of models."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from anime_colorize.benchmark import layer_macs  # noqa: E402
from anime_colorize.step_breakdown import timed  # noqa: E402,F401 (the experiments' one timer)
from anime_colorize.models.generator import HIST_SIZE  # noqa: E402


def random_batch(trainer, size: int, batch: int, seed: int = 0) -> dict:
    """A batch of ``trainer.batch_signature()`` with random values in the inputs' ranges
    (a few point hints per image for hint models). Speed does not depend on the content."""
    rng = np.random.default_rng(seed)
    out = {}
    for key, spec in trainer.batch_signature().items():
        shape = [batch] + [size if d is None else d for d in spec.shape[1:]]
        out[key] = rng.uniform(-1, 1, shape).astype("float32")
    if "hint_mask" in out:
        out["hint_mask"] = (out["hint_mask"] > 0.998).astype("float32")
        out["hint_hist"] = np.abs(out["hint_hist"]) / HIST_SIZE
    return {k: tf.constant(v) for k, v in out.items()}


def one_image_inputs(model, size: int) -> dict:
    """Zero inputs for one image of every input of ``model`` (images size x size)."""
    inputs = {}
    for tensor in model.inputs:
        shape = [1] + [size if d is None else d for d in tensor.shape[1:]]
        name = tensor.name.split(":")[0]
        inputs[name] = np.zeros(shape, np.float32)
    return inputs


def forward_macs(model, size: int) -> int:
    """Conv2D + Dense multiply-adds of one forward pass of ``model`` on one size x size image
    (:func:`anime_colorize.benchmark.layer_macs`)."""
    return sum(layer_macs(model, one_image_inputs(model, size)).values())
