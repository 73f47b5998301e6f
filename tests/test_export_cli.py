"""``python -m anime_colorize.export``: formats, atomic writes and the errors a user can cause."""
import os
import subprocess
import sys

import numpy as np
import pytest

from anime_colorize import export
from anime_colorize.export import cli
from anime_colorize.models import UNetGenerator


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run folder holding generator.keras and saved_model/."""
    folder = tmp_path_factory.mktemp("run")
    export.export_generator(UNetGenerator(z_dim=4, depth=2, filters=8, working_size=32, name="generator"), folder)
    return folder


def export_cmd(*args):
    return cli.main([str(a) for a in args])


def test_keras_to_saved_model_and_keras_copies_load_alike(run, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli.cli_common, "_device_logged", False)
    assert export_cmd("--model", run, "--format", "saved_model", "--out", tmp_path / "served") == 0
    assert export_cmd("--model", run / export.KERAS_NAME, "--format", "keras", "--out", tmp_path / "copy.keras") == 0
    out, err = capsys.readouterr()
    assert out.count("wrote") == 2
    assert err.count("device: CPU") == 1  # said once per process
    l, z = np.zeros((1, 32, 32, 1), "float32"), np.ones((1, 4), "float32")
    expected = export.load_generator(run)(l, z).numpy()
    for path in (tmp_path / "served", tmp_path / "copy.keras"):
        np.testing.assert_allclose(export.load_generator(path)(l, z).numpy(), expected, atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.keras", "served"]  # no temporary left


def test_a_new_output_may_go_into_the_run_folder(run, capsys):
    assert export_cmd("--model", run, "--format", "keras", "--out", run / "copy.keras") == 0
    assert export.load_generator(run / "copy.keras").z_dim == 4
    (run / "copy.keras").unlink()


def test_an_existing_out_is_kept_without_overwrite(run, tmp_path, capsys):
    out = tmp_path / "g.keras"
    out.write_bytes(b"precious")
    assert export_cmd("--model", run, "--format", "keras", "--out", out) == 2
    assert "exists; add --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    assert export_cmd("--model", run, "--format", "keras", "--out", out, "--overwrite") == 0
    assert export.load_generator(out).z_dim == 4


@pytest.mark.parametrize("fmt, out, message", [
    ("keras", "{run}/generator.keras", "is or holds the model"),
    ("saved_model", "{run}", "is or holds the model"),
    ("saved_model", "{run}/..", "is or holds the model"),
    ("keras", "{tmp}/model.h5", "must end in .keras"),
    ("onnx", "{tmp}/pictures", "is a folder, and --format onnx writes a file"),
    ("saved_model", "{tmp}/pictures", "is a folder but not a SavedModel"),
    ("keras", "{tmp}/notes.txt/g.keras", "notes.txt is a file, not a folder"),
])
def test_bad_outputs_are_refused_before_any_work(fmt, out, message, run, tmp_path, capsys):
    (tmp_path / "pictures").mkdir()
    (tmp_path / "pictures" / "page.png").write_bytes(b"png")
    (tmp_path / "notes.txt").write_text("notes")
    before = sorted(p.name for p in run.rglob("*"))
    out = out.format(run=run, tmp=tmp_path)
    assert export_cmd("--model", run, "--format", fmt, "--out", out, "--overwrite") == 2
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in run.rglob("*")) == before
    assert (tmp_path / "pictures" / "page.png").read_bytes() == b"png"


def test_bad_models_get_one_line_errors(run, tmp_path, capsys):
    damaged = tmp_path / "damaged.keras"
    damaged.write_bytes((run / export.KERAS_NAME).read_bytes()[:1000])
    cases = [(tmp_path / "missing.keras", "model not found"),
             (run / export.SAVED_MODEL_NAME, "is a SavedModel; export needs the Keras model"),
             (damaged, "damaged or truncated")]
    for model, message in cases:
        assert export_cmd("--model", model, "--format", "saved_model", "--out", tmp_path / "out") == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_onnx_without_the_extra_names_it(run, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # import tf2onnx now fails
    assert export_cmd("--model", run, "--format", "onnx", "--out", tmp_path / "g.onnx") == 2
    assert "pip install 'anime_colorize[onnx]'" in capsys.readouterr().err
    assert not (tmp_path / "g.onnx").exists()


def test_python_m_runs_the_command_quietly(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-m", "anime_colorize.export", "--model", str(tmp_path / "none"),
                             "--format", "keras", "--out", str(tmp_path / "g.keras")], capture_output=True, text=True,
                            env=env)
    assert result.returncode == 2
    assert result.stderr == f"error: model not found: {tmp_path / 'none'}\n"  # and no TensorFlow start-up noise
