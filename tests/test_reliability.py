"""Issue 18, found by experiments/reliability_probe.py: each case here failed the probe once."""
import os
from pathlib import Path

import numpy as np
import pytest

from anime_colorize import colorize, sample, sampling
from anime_colorize.data.io import write_bytes_atomic, write_image


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """An untrained tiny gray model: the plumbing needs no training."""
    import keras

    from anime_colorize.export import save_keras
    from anime_colorize.models import UNetGenerator

    keras.utils.set_random_seed(0)
    return save_keras(UNetGenerator(z_dim=4, depth=2, filters=8, working_size=32),
                      tmp_path_factory.mktemp("model") / "gray.keras")


@pytest.fixture
def drawing(tmp_path):
    path = tmp_path / "drawing.png"
    write_image(path, np.random.default_rng(0).random((40, 48, 3)))
    return path


def test_grid_shape_is_what_make_grid_makes():
    tiles = np.zeros((6, 5, 7, 3), np.float32)
    assert sampling.make_grid(tiles, 2, 3).shape[:2] == sampling.grid_shape(2, 3, 5, 7) == (16, 29)


def test_a_grid_bigger_than_max_pixels_is_refused_before_any_colouring(model, drawing, tmp_path, capsys,
                                                                       monkeypatch):
    # 1000x1000 tiles was a million colourings and a 5 GB picture: now refused up front
    monkeypatch.setattr(sampling, "predict_working", lambda *a, **k: pytest.fail("coloured before the check"))
    out = tmp_path / "grid.png"
    code = sample.main(["--model", str(model), "--input", str(drawing), "--out", str(out), "--grid", "1000x1000"])
    assert code != 0
    message = capsys.readouterr().err
    assert "--grid 1000x1000" in message and "--max-pixels" in message
    assert not out.exists()


def test_a_grid_within_max_pixels_is_made(model, drawing, tmp_path):
    out = tmp_path / "grid.png"
    # 2x2 tiles of 40x48 px: 86 x 102 px = 8,772 pixels
    assert sample.main(["--model", str(model), "--input", str(drawing), "--out", str(out), "--grid", "2x2",
                        "--max-pixels", "9000", "--quiet"]) == 0
    assert out.is_file()
    assert sample.main(["--model", str(model), "--input", str(drawing), "--out", str(tmp_path / "no.png"),
                        "--grid", "2x2", "--max-pixels", "8000"]) != 0


def test_tile_size_must_be_positive(model, drawing, tmp_path, capsys):
    assert sample.main(["--model", str(model), "--input", str(drawing), "--out", str(tmp_path / "g.png"),
                        "--tile-size", "0"]) != 0
    assert "--tile-size must be at least 1" in capsys.readouterr().err


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nobody may create files in: root ignores permissions, but not sysfs's."""
    if os.geteuid() != 0:
        folder = tmp_path / "read_only"
        folder.mkdir()
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    folder = Path("/sys")
    try:
        (folder / ".anime_colorize_probe").open("xb").close()
    except PermissionError:
        yield folder
        return
    pytest.skip("no folder here refuses root")


def test_an_unwritable_output_is_named_not_the_hidden_temporary_file(read_only_folder):
    target = read_only_folder / "colouring.png"
    with pytest.raises(PermissionError) as error:
        write_bytes_atomic(target, b"data")
    assert error.value.filename == str(target)
    assert ".tmp" not in str(error.value)
    assert [p for p in read_only_folder.iterdir() if p.name.startswith(".colouring.png")] == []


def test_colorize_into_a_read_only_folder_says_which_file(model, drawing, read_only_folder, capsys):
    target = read_only_folder / "colouring.png"
    assert colorize.main(["--model", str(model), "--input", str(drawing), "--out", str(target), "--quiet"]) != 0
    err = capsys.readouterr().err
    assert f"Permission denied: {target}" in err and ".tmp" not in err


def test_a_hint_file_over_the_size_limit_is_not_given_a_made_up_size(tmp_path):
    from anime_colorize.inference import hint_files

    big = tmp_path / "big.json"
    big.write_bytes(b" " * (2 * hint_files.MAX_JSON_BYTES))  # read only up to the limit + 1 byte
    with pytest.raises(hint_files.HintFileError) as error:
        hint_files.load_hint_file(big, 10, 10)
    assert str(error.value) == f"{big}: larger than the {hint_files.MAX_JSON_BYTES:,} bytes a hint file may have"
