"""A model with RegionPooling and HintFill exports: its SavedModel runs from plain TensorFlow
with an int32 ``regions`` input, and it converts to ONNX. These are the formats the
generator will ship in once it pools (issue #14)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from anime_colorize.export.trust import read_saved_model, untrusted_ops
from anime_colorize.models.hint_fill import HintFill
from anime_colorize.models.region_pooling import RegionPooling

SPECS = [tf.TensorSpec((None, None, None, 1), tf.float32, name="l"),
         tf.TensorSpec((None, None, None), tf.int32, name="regions"),
         tf.TensorSpec((None, None, None, 3), tf.float32, name="hint")]


def tiny_model():
    l_in = keras.Input((None, None, 1), name="l")
    regions = keras.Input((None, None), dtype="int32", name="regions")
    hint = keras.Input((None, None, 3), name="hint")
    x = keras.layers.Concatenate()([l_in, hint, HintFill(levels=2)(hint)])
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same")(x)
    x = RegionPooling(16, mode="gate")([x, regions])  # half size: labels are downsampled
    x = keras.layers.Conv2D(2, 1)(RegionPooling(16, mode="concat")([x, regions]))
    return keras.Model({"l": l_in, "regions": regions, "hint": hint}, x)


def feed(seed=0):
    rng = np.random.default_rng(seed)
    hint = np.zeros((2, 16, 24, 3), "float32")
    hint[:, 3, 5] = [0.4, -0.3, 1.0]
    return {"l": rng.uniform(-1, 1, (2, 16, 24, 1)).astype("float32"),
            "regions": rng.integers(0, 6, (2, 16, 24)).astype("int32"), "hint": hint}


def test_saved_model_runs_from_plain_tensorflow(tmp_path):
    model = tiny_model()
    module = tf.Module()
    module.model = model
    module.serve = tf.function(lambda l, regions, hint: {"ab": model({"l": l, "regions": regions, "hint": hint})},
                               input_signature=SPECS)
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures={"serving_default": module.serve})
    # The one op the export allowlist (export/trust.py) must learn for a pooling generator.
    assert set(untrusted_ops(read_saved_model(tmp_path / "sm").meta_graphs[0])) <= {"UnsortedSegmentSum"}
    serve = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"]
    x = feed()
    np.testing.assert_allclose(serve(**{k: tf.constant(v) for k, v in x.items()})["ab"].numpy(),
                               model(x).numpy(), atol=1e-5)


def test_onnx_conversion_matches_keras():
    ort = pytest.importorskip("onnxruntime", reason="the [onnx] extra is not installed")
    tf2onnx = pytest.importorskip("tf2onnx", reason="the [onnx] extra is not installed")
    from anime_colorize.export.onnx_format import DEFAULT_OPSET

    model = tiny_model()
    serve = tf.function(lambda l, regions, hint: {"ab": model({"l": l, "regions": regions, "hint": hint})},
                        input_signature=SPECS)
    proto, _ = tf2onnx.convert.from_function(serve, SPECS, opset=DEFAULT_OPSET)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = feed(1)
    (got,) = session.run(None, x)
    np.testing.assert_allclose(got, model(x).numpy(), atol=1e-5)
