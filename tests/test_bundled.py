"""The bundled model: it ships inside the package within the size limit, loads in safe mode,
and the commands use it when --model is omitted."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from anime_colorize import bundled
from anime_colorize.data.io import read_image, write_image


def line_drawing(path, height=70, width=90):
    rgb = np.ones((height, width, 3), np.float32)
    rgb[10, :] = rgb[:, 15] = rgb[55, :] = rgb[:, 70] = 0.0  # a closed box between four lines
    write_image(path, rgb)
    return path


def test_ships_within_the_size_limit_with_its_card():
    assert bundled.BUNDLED_MODEL.is_file()
    assert bundled.BUNDLED_MODEL.stat().st_size <= 10 * 2**20
    card = (bundled.BUNDLED_DIR / "TRAINING.md").read_text()
    assert "built-in" in card and "Reproduce" in card


def test_loads_in_safe_mode_as_a_lineart_model_with_every_hint_kind():
    from anime_colorize.config import HINT_KINDS
    from anime_colorize.export import load_generator

    g = load_generator(bundled.bundled_model_path(), safe_mode=True)
    assert g.input_kind == "lineart"
    assert set(g.hint_kinds) == set(HINT_KINDS)


def test_colorize_without_model_colours_a_drawing_in_a_fresh_process(tmp_path):
    src = line_drawing(tmp_path / "box.png")
    hints = tmp_path / "box.json"
    hints.write_text(json.dumps({"points": [{"x": 40, "y": 30, "rgb": [220, 40, 40], "size": 3}]}))
    out = tmp_path / "box_color.png"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "anime_colorize.colorize", "--input", str(src), "--hints",
                           str(hints), "--out", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    rgb = read_image(out)
    assert rgb.shape == (70, 90, 3)
    inside = rgb[20:50, 25:65].reshape(-1, 3).mean(axis=0)
    assert inside[0] > inside[1] + 0.2 and inside[0] > inside[2] + 0.2  # the hint's red fills its box
    assert rgb[10, 40].max() < 0.2  # the drawn line stays dark


def test_a_missing_bundled_model_is_a_message_naming_the_flag(monkeypatch, tmp_path):
    monkeypatch.setattr(bundled, "BUNDLED_MODEL", tmp_path / "gone.keras")
    with pytest.raises(FileNotFoundError, match="--model"):
        bundled.bundled_model_path()
