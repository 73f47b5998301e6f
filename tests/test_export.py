import subprocess
import sys
import textwrap

import numpy as np
import pytest

from anime_colorize import export
from anime_colorize.models import UNetGenerator


@pytest.fixture
def exported(tmp_path):
    generator = UNetGenerator(z_dim=4, depth=2, filters=8, working_size=32, name="generator")
    keras_path, saved_model_path = export.export_generator(generator, tmp_path / "run")
    return generator, keras_path, saved_model_path


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (3, 32, 40, 1)).astype("float32"), rng.standard_normal((3, 4)).astype("float32")


def test_keras_and_saved_model_give_the_same_outputs(exported, tmp_path):
    generator, keras_path, saved_model_path = exported
    l, z = inputs()
    expected = np.asarray(generator({"l": l, "z": z}, training=False))
    for path in (keras_path, saved_model_path, tmp_path / "run"):
        loaded = export.load_generator(path)
        np.testing.assert_allclose(loaded(l, z).numpy(), expected, atol=1e-5)
        assert loaded.metadata == generator.metadata
        assert (loaded.z_dim, loaded.stride, loaded.working_size, loaded.input_kind) == (4, 4, 32, "gray")
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.startswith(".")], "temporary files left"


def test_saved_model_runs_from_plain_tensorflow(exported):
    _, _, saved_model_path = exported
    code = textwrap.dedent(f"""
        import json, sys
        import numpy as np, tensorflow as tf
        m = tf.saved_model.load({str(saved_model_path)!r})
        ab = m.signatures["serving_default"](l=tf.zeros([2, 32, 32, 1]), z=tf.zeros([2, 4]))["ab"]
        meta = json.loads(m.signatures["metadata"]()["metadata"].numpy())
        assert ab.shape == (2, 32, 32, 2) and float(tf.reduce_max(tf.abs(ab))) <= 1.0
        assert meta["z_dim"] == 4 and meta["input_kind"] == "gray"
        assert not [k for k in sys.modules if k.startswith("anime_colorize")]
        print("ok")
    """)
    env_code = "import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n" + code
    result = subprocess.run([sys.executable, "-c", env_code], capture_output=True, text=True, cwd="/")
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_bad_model_paths_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="model not found"):
        export.load_generator(tmp_path / "missing.keras")
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="junk.keras could not be loaded"):
        export.load_generator(junk)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="neither a SavedModel"):
        export.load_generator(tmp_path / "empty")
    text = tmp_path / "model.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="expected a .keras file"):
        export.load_generator(text)


def test_a_keras_file_of_another_model_is_refused(tmp_path):
    from anime_colorize.models import WGANCritic

    WGANCritic(filters=8).save(tmp_path / "critic.keras")
    with pytest.raises(ValueError, match="not an anime_colorize generator"):
        export.load_generator(tmp_path / "critic.keras")


def test_re_export_replaces_the_previous_model(exported, tmp_path):
    _, _, saved_model_path = exported
    other = UNetGenerator(z_dim=4, depth=2, filters=8, working_size=48, name="generator")
    export.export_generator(other, tmp_path / "run")
    assert export.load_generator(saved_model_path).working_size == 48
    assert export.load_generator(tmp_path / "run" / "generator.keras").working_size == 48


def test_a_resnet_generator_exports_loads_and_colours_like_the_u_net(tmp_path):
    from anime_colorize.models.resnet import ResNetGenerator
    from anime_colorize.sampling import colorize

    generator = ResNetGenerator(z_dim=4, blocks=1, filters=8, working_size=32, name="generator")
    export.export_generator(generator, tmp_path / "run")
    l, z = inputs()
    expected = np.asarray(generator({"l": l, "z": z}, training=False))
    assert expected.shape == (3, 32, 40, 2)
    for path in (tmp_path / "run" / export.KERAS_NAME, tmp_path / "run" / export.SAVED_MODEL_NAME):
        loaded = export.load_generator(path)
        np.testing.assert_allclose(loaded(l, z).numpy(), expected, atol=1e-5)
        assert loaded.metadata == generator.metadata
        assert (loaded.stride, loaded.working_size, loaded.input_kind, loaded.hint_kinds) == (4, 32, "gray", ())
    page = np.random.default_rng(0).uniform(0, 1, (50, 37, 1)).repeat(3, axis=2).astype("float32")
    colours = colorize(loaded, page, z[:2])
    assert colours.shape == (2, 50, 37, 3) and np.isfinite(colours).all()


def test_only_generators_are_exported(tmp_path):
    from anime_colorize.models.resnet import PatchDiscriminator

    with pytest.raises(TypeError, match="cannot export a PatchDiscriminator"):
        export.export_generator(PatchDiscriminator(channels=1, filters=8), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_damaged_keras_file_is_named_damaged_not_missing(exported, tmp_path):
    _, keras_path, _ = exported
    data = keras_path.read_bytes()
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated.keras could not be loaded: the file is damaged or truncated") as e:
        export.load_generator(truncated)
    assert "not found" not in str(e.value)
    flipped = bytearray(data)
    middle = len(data) // 2  # inside the weights, whose CRC no longer matches
    flipped[middle: middle + 16] = bytes(b ^ 0xFF for b in flipped[middle: middle + 16])
    (tmp_path / "flipped.keras").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="flipped.keras could not be loaded: the file is damaged"):
        export.load_generator(tmp_path / "flipped.keras")


def test_a_run_folder_without_keras_file_says_it_loads_the_saved_model(exported, tmp_path, caplog):
    _, keras_path, saved_model_path = exported
    caplog.set_level("INFO", logger="anime_colorize")
    export.load_generator(tmp_path / "run")
    assert not [r for r in caplog.records if "loading the SavedModel" in r.getMessage()]  # generator.keras is there
    keras_path.unlink()
    loaded = export.load_generator(tmp_path / "run")
    assert loaded.path == str(saved_model_path)
    assert [r for r in caplog.records if f"loading the SavedModel {saved_model_path}" in r.getMessage()]


def test_a_generator_loaded_from_a_keras_file_computes_in_float32(tmp_path):
    from anime_colorize import distribute

    with distribute.dtype_policy(True):
        mixed = UNetGenerator(z_dim=4, depth=2, filters=8, working_size=32, name="generator")
    export.export_generator(mixed, tmp_path / "run")
    assert not export.load_generator(tmp_path / "run" / export.KERAS_NAME).mixed_precision
    assert export.load_generator(tmp_path / "run" / export.SAVED_MODEL_NAME).mixed_precision
    assert not export.LoadedGenerator.from_model(UNetGenerator(z_dim=4, depth=2, filters=8), "x").mixed_precision
    assert export.LoadedGenerator.from_model(mixed, "x").mixed_precision
