import numpy as np
import pytest

from anime_colorize import color, export, sampling
from anime_colorize.models import UNetGenerator


def test_working_shape_keeps_aspect_and_padding_reaches_the_stride():
    assert sampling.working_shape(64, 64, 64) == (64, 64)
    assert sampling.working_shape(2000, 1414, 64) == (91, 64)  # 2000 * 64 / 1414 = 90.5
    assert sampling.padded_shape((91, 64), 16) == (96, 64)
    assert sampling.working_shape(10, 10, 64) == (64, 64)
    h, w = sampling.working_shape(300, 7, 32)
    assert w == 32 and h == round(300 * 32 / 7)


def test_segment_sweep_moves_one_segment_per_row():
    z = sampling.segment_sweep(rows=4, cols=5, z_dim=8, span=2.0).reshape(4, 5, 8)
    np.testing.assert_allclose(z[0, :, 0], [-2, -1, 0, 1, 2])
    np.testing.assert_allclose(z[0, :, 2:], 0)  # row 0 moves only dims 0-1
    np.testing.assert_allclose(z[3, :, 6], [-2, -1, 0, 1, 2])
    np.testing.assert_allclose(z[3, :, :6], 0)


def test_random_sweep_is_seeded():
    np.testing.assert_array_equal(sampling.random_sweep(3, 4, seed=1), sampling.random_sweep(3, 4, seed=1))
    assert not np.array_equal(sampling.random_sweep(3, 4, seed=1), sampling.random_sweep(3, 4, seed=2))


def test_colorize_keeps_full_resolution_and_the_input_lightness(tmp_path):
    import keras
    # Seeded: with some random initial weights the untrained colours leave the gamut over most
    # of the picture (2 of 25 seeds), and clipping them moves L; the test is about the rest.
    keras.utils.set_random_seed(0)
    generator = UNetGenerator(z_dim=4, depth=2, filters=8, working_size=32, name="generator")
    loaded = export.load_generator(export.save_keras(generator, tmp_path / "generator.keras"))
    rng = np.random.default_rng(0)
    # a colour picture with fine detail at full size: colour inputs are reduced to L first
    rgb = rng.uniform(0.2, 0.8, (75, 130, 3)).astype(np.float32)
    out = sampling.colorize(loaded, rgb, sampling.random_sweep(3, 4))
    assert out.shape == (3, 75, 130, 3) and out.min() >= 0 and out.max() <= 1
    l_in = color.rgb_to_lab(rgb).numpy()[..., 0]
    l_out = color.rgb_to_lab(out).numpy()[..., 0]
    # lightness survives except where a colour leaves the sRGB gamut and is clipped
    assert np.median(np.abs(l_out - l_in[None])) < 1.0
    with pytest.raises(ValueError, match="z must be"):
        sampling.colorize(loaded, rgb, np.zeros((2, 3), np.float32))


def test_grid_layout():
    tiles = np.stack([np.full((4, 6, 3), k / 6, np.float32) for k in range(6)])
    grid = sampling.make_grid(tiles, 2, 3, pad=1)
    assert grid.shape == (2 * 5 + 1, 3 * 7 + 1, 3)
    assert grid[1, 1, 0] == 0 and grid[6, 15, 0] == pytest.approx(5 / 6)
    with pytest.raises(ValueError):
        sampling.make_grid(tiles, 2, 2)
