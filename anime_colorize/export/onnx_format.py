"""ONNX export of a generator (the ``[onnx]`` extra: tf2onnx, onnx, onnxruntime).

The ONNX model has the SavedModel's ``serving_default`` interface (:mod:`anime_colorize.export`),
float32 but for ``regions``, NHWC:

=============  =========================  ==================================================
name           shape                      meaning
=============  =========================  ==================================================
``l``          (batch, height, width, 1)  L / 50 - 1 (gray), or 2 * lines - 1 (line art)
``z``          (batch, z_dim)             noise, N(0, 1)
``hint_ab``    (batch, height, width, 2)  hint models only: ab / 110 where hinted, else 0
``hint_mask``  (batch, height, width, 1)  hint models only: 1 where hinted, else 0
``hint_hist``  (batch, 512)               hint models only: colour histogram, or zeros
``regions``    (batch, height, width)     int32, region-pooling models only: region labels,
                                          -1 = none (see :mod:`anime_colorize.export`)
``ab``         (batch, height, width, 2)  output of gray models: ab / 110, in [-1, 1]
``lab``        (batch, height, width, 3)  output of line-art models: (L/50 - 1, a/110, b/110)
=============  =========================  ==================================================

``batch``, ``height`` and ``width`` are dynamic axes with those names; height and width must
be multiples of the model's ``stride``. The model's metadata (the JSON of the SavedModel's
``metadata`` signature) is in the ONNX metadata under ``"metadata"``::

    session = onnxruntime.InferenceSession("generator.onnx")
    meta = json.loads(session.get_modelmeta().custom_metadata_map["metadata"])
    (ab,) = session.run(["ab"], {"l": l, "z": z})

Why tf2onnx rather than ``model.export(format="onnx")``: Keras' exporter calls tf2onnx too,
but names the inputs and the output by position; converting our own serving function keeps
the names of the SavedModel.
"""
from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

import keras

from anime_colorize.data.io import write_bytes_atomic
from anime_colorize.export.saving import Generator, ServingModule, check_generator

# 17: supported by tf2onnx 1.17 and by every onnxruntime of the last years (1.13+); the
# generators use only long-standing ops (Conv, Resize, ReduceMean ...).
DEFAULT_OPSET = 17
INSTALL_HINT = "pip install 'anime_colorize[onnx]'"


class OnnxUnavailableError(ImportError):
    """tf2onnx or onnx is not installed."""


def import_converters():
    """The onnx and tf2onnx modules; OnnxUnavailableError naming the extra if either is missing."""
    try:
        import onnx
        import tf2onnx
    except ImportError as e:
        raise OnnxUnavailableError(f"ONNX export needs tf2onnx and onnx ({e.name} is missing): "
                                   f"{INSTALL_HINT}") from e
    return onnx, tf2onnx


def check_opset(opset: int) -> None:
    """Raises ValueError unless the installed tf2onnx converts to ``opset``: 13 (the first
    with today's Resize and Split signatures) up to its newest; OnnxUnavailableError
    without tf2onnx."""
    _, tf2onnx = import_converters()
    newest = max(tf2onnx.constants.OPSET_TO_IR_VERSION)
    if not 13 <= opset <= newest:
        raise ValueError(f"ONNX opset {opset} is not supported: choose 13 to {newest}")


@contextlib.contextmanager
def _tf2onnx_quiet():
    """tf2onnx logs every conversion step at INFO; keep that for --verbose (DEBUG) only."""
    logger = logging.getLogger("tf2onnx")
    previous = logger.level
    if logger.getEffectiveLevel() > logging.DEBUG:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _float32(generator: Generator) -> Generator:
    """``generator`` itself, or a float32 copy when it was built under mixed precision:
    ONNX runtimes rarely run bfloat16 convolutions, and the weights are float32 anyway."""
    if all(layer.dtype_policy.compute_dtype == "float32" for layer in generator.layers):
        return generator
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        copy = type(generator).from_config(generator.get_config())
    finally:
        keras.config.set_dtype_policy(previous)
    copy.set_weights(generator.get_weights())
    return copy


def _name_dynamic_axes(graph) -> None:
    """tf2onnx calls unknown dimensions ``unk__N``; give them the names of the table above."""
    for value in list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        names = ["batch", "height", "width"] if len(dims) >= 3 else ["batch"]
        for dim, name in zip(dims, names):
            if not dim.HasField("dim_value"):
                dim.dim_param = name


def save_onnx(generator: Generator, path, opset: int = DEFAULT_OPSET) -> Path:
    """Writes ``generator`` as an ONNX model at ``path`` (atomically); returns the path.

    Raises OnnxUnavailableError without the ``[onnx]`` extra, TypeError for a model that is
    not a generator, and ValueError for an opset :func:`check_opset` refuses or when
    the converted model fails ONNX's checker (an op tf2onnx could not convert)."""
    check_generator(generator)
    onnx, tf2onnx = import_converters()
    check_opset(opset)
    module = ServingModule(_float32(generator))
    with _tf2onnx_quiet():
        model_proto, _ = tf2onnx.convert.from_function(module.serve, module.input_specs, opset=opset)
    _name_dynamic_axes(model_proto.graph)
    model_proto.graph.name = f"anime_colorize_{generator.metadata['input_kind']}_generator"
    entry = model_proto.metadata_props.add()
    entry.key, entry.value = "metadata", json.dumps(generator.metadata)
    try:
        onnx.checker.check_model(model_proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ValueError(f"the ONNX conversion of this generator is not a valid model: {e}") from e
    path = Path(path)
    write_bytes_atomic(path, model_proto.SerializeToString())
    return path
