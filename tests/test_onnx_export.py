"""ONNX export: the ONNX model, run in onnxruntime, gives the SavedModel's outputs."""
import json

import numpy as np
import pytest

from anime_colorize import export
from anime_colorize.export import cli as export_cli
from anime_colorize.models import UNetGenerator

ort = pytest.importorskip("onnxruntime", reason="the [onnx] extra (tf2onnx, onnx, onnxruntime) is not installed")
pytest.importorskip("tf2onnx", reason="the [onnx] extra (tf2onnx, onnx, onnxruntime) is not installed")


def feeds(generator, with_hints, seed=0):
    """Inputs of 2 x 32 x 40 (not square, so height and width cannot be swapped unseen)."""
    rng = np.random.default_rng(seed)
    feed = {"l": rng.uniform(-1, 1, (2, 32, 40, 1)).astype("float32"),
            "z": rng.standard_normal((2, generator.z_dim)).astype("float32")}
    if generator.hint_kinds:
        mask = (rng.uniform(size=(2, 32, 40, 1)) > 0.95).astype("float32")
        hist = rng.dirichlet(np.ones(512), 2).astype("float32")
        feed.update(hint_ab=rng.uniform(-0.6, 0.6, (2, 32, 40, 2)).astype("float32") * mask, hint_mask=mask,
                    hint_hist=hist if with_hints else np.zeros_like(hist))
        if not with_hints:
            feed["hint_ab"], feed["hint_mask"] = np.zeros_like(feed["hint_ab"]), np.zeros_like(mask)
    return feed


def assert_onnx_matches_saved_model(generator, tmp_path):
    saved_model = export.save_saved_model(generator, tmp_path / "saved_model")
    onnx_path = export.save_onnx(generator, tmp_path / "generator.onnx")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    serve = export.load_generator(saved_model)
    for with_hints in (True, False) if generator.hint_kinds else (False,):
        feed = feeds(generator, with_hints)
        (got,) = session.run([generator.output_name], feed)
        hints = {k: v for k, v in feed.items() if k.startswith("hint_")}
        expected = serve(feed["l"], feed["z"], hints or None).numpy()
        assert got.shape == expected.shape == (2, 32, 40, len(generator.output_name))
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    return session


def test_a_gray_model_in_onnxruntime_matches_the_saved_model(tmp_path):
    generator = UNetGenerator(z_dim=4, depth=2, filters=8, working_size=32, name="generator")
    session = assert_onnx_matches_saved_model(generator, tmp_path)
    inputs = {i.name: i.shape for i in session.get_inputs()}
    assert inputs == {"l": ["batch", "height", "width", 1], "z": ["batch", 4]}
    assert {o.name: o.shape for o in session.get_outputs()} == {"ab": ["batch", "height", "width", 2]}
    assert json.loads(session.get_modelmeta().custom_metadata_map["metadata"]) == generator.metadata


def test_a_line_art_hint_model_matches_with_and_without_hints(tmp_path):
    generator = UNetGenerator(z_dim=4, depth=2, filters=8, working_size=32, norm="instance", input_kind="lineart",
                              hint_kinds=("points",), name="generator")
    session = assert_onnx_matches_saved_model(generator, tmp_path)
    assert [i.name for i in session.get_inputs()] == ["l", "z", "hint_ab", "hint_mask", "hint_hist"]
    assert {o.name: o.shape for o in session.get_outputs()} == {"lab": ["batch", "height", "width", 3]}


@pytest.mark.slow
@pytest.mark.parametrize("input_kind, hint_kinds", [("gray", ("points",)), ("lineart", ())])
def test_the_other_kinds_match_too(input_kind, hint_kinds, tmp_path):
    from anime_colorize.models.resnet import ResNetGenerator

    assert_onnx_matches_saved_model(UNetGenerator(z_dim=4, depth=2, filters=8, working_size=32, norm="group",
                                                  input_kind=input_kind, hint_kinds=hint_kinds), tmp_path)
    assert_onnx_matches_saved_model(ResNetGenerator(z_dim=4, blocks=1, filters=8, input_kind=input_kind),
                                    tmp_path / "resnet")


def test_a_mixed_precision_generator_exports_in_float32(tmp_path):
    from anime_colorize import distribute

    with distribute.dtype_policy(True):
        generator = UNetGenerator(z_dim=4, depth=2, filters=8, working_size=32, name="generator")
    session = ort.InferenceSession(str(export.save_onnx(generator, tmp_path / "g.onnx")))
    assert "bfloat16" not in str(session.get_inputs() + session.get_outputs())
    feed = feeds(generator, False)
    (got,) = session.run(None, feed)
    float32_twin = export.load_generator(export.save_keras(generator, tmp_path / "g.keras"))  # .keras loads in float32
    np.testing.assert_allclose(got, float32_twin(feed["l"], feed["z"]).numpy(), atol=1e-4)


def test_the_export_command_writes_onnx(tmp_path, capsys):
    generator = UNetGenerator(z_dim=4, depth=2, filters=8, working_size=32, name="generator")
    keras_path = export.save_keras(generator, tmp_path / "run" / export.KERAS_NAME)
    out = tmp_path / "out" / "colorizer.onnx"
    assert export_cli.main(["--model", str(tmp_path / "run"), "--format", "onnx", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    feed = feeds(generator, False)
    (got,) = ort.InferenceSession(str(out)).run(["ab"], feed)
    np.testing.assert_allclose(got, export.load_generator(keras_path)(feed["l"], feed["z"]).numpy(), atol=1e-4)
    assert sorted(p.name for p in out.parent.iterdir()) == ["colorizer.onnx"]  # no temporary file left
    assert export_cli.main(["--model", str(keras_path), "--format", "onnx", "--out", str(out) + "2", "--opset", "99"]) == 2
    assert "--opset: ONNX opset 99 is not supported: choose 13 to" in capsys.readouterr().err
