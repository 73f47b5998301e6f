"""The flat output mode through the colorize and sample commands: hints fill their region and
nothing across a line, flats constant per region, layer / PSD / region files, bad pages."""
import json

import numpy as np
import pytest

from anime_colorize import colorize, regions, sample
from anime_colorize.data.io import read_image, write_image

HINT_RGB = (40, 200, 60)  # a saturated green an untrained network does not predict


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Tiny untrained exported models: line art with every hint kind, and gray with hints."""
    import keras

    from anime_colorize.config import HINT_KINDS
    from anime_colorize.export import save_keras
    from anime_colorize.models import UNetGenerator

    root = tmp_path_factory.mktemp("models")
    keras.utils.set_random_seed(0)
    tiny = dict(z_dim=4, depth=2, filters=8, working_size=32)
    return {"lineart": save_keras(UNetGenerator(**tiny, input_kind="lineart", hint_kinds=HINT_KINDS),
                                  root / "lineart" / "generator.keras"),
            "gray": save_keras(UNetGenerator(**tiny, hint_kinds=HINT_KINDS), root / "gray" / "generator.keras")}


def boxes(height=48, width=72):
    """White paper, a closed box (rows 10-30, columns 8-40) drawn 2 px wide, and a vertical
    line at column 55 from top to bottom: three regions (inside, outside, right strip)."""
    rgb = np.ones((height, width, 3), np.float32)
    rgb[10:12, 8:41] = rgb[29:31, 8:41] = 0.0
    rgb[10:31, 8:10] = rgb[10:31, 39:41] = 0.0
    rgb[:, 55:57] = 0.0
    return rgb


def run(tool, *args):
    return tool.main([str(a) for a in args])


def write_points(path, points):
    path.write_text(json.dumps({"points": [{"x": x, "y": y, "rgb": list(HINT_RGB), "size": size}
                                           for x, y, size in points]}))
    return path


def as_u8(path):
    return np.rint(read_image(path) * 255).astype(int)


def test_a_hint_fills_exactly_its_region_and_nothing_across_a_line(models, tmp_path):
    write_image(tmp_path / "box.png", boxes())
    hints = write_points(tmp_path / "box.json", [(20, 20, 1)])  # one pixel inside the box
    assert run(colorize, "--model", models["lineart"], "--input", tmp_path / "box.png", "--hints", hints,
               "--out", tmp_path / "out.png", "--quiet") == 0  # flat: the default for line art
    out = as_u8(tmp_path / "out.png")
    inside = out[12:29, 10:39]
    # the whole inside is the hint's colour as chosen (L included), within rounding
    assert np.abs(inside - HINT_RGB).max() <= 2
    # and nothing outside the box: not around it, not beyond the line at column 55
    paper = np.ones(out.shape[:2], bool)
    paper[10:31, 8:41] = False
    paper[:, 55:57] = False
    far = np.abs(out[paper] - HINT_RGB).sum(axis=-1)
    assert far.min() > 30


def test_a_stroke_across_a_line_colours_the_regions_it_covers(models, tmp_path):
    write_image(tmp_path / "box.png", boxes())
    stroke = np.zeros((48, 72, 4), np.float32)
    stroke[40:42, 45:66, :3] = np.array(HINT_RGB) / 255.0  # below the box, across the line at column 55
    stroke[40:42, 45:66, 3] = 1.0
    import cv2

    cv2.imwrite(str(tmp_path / "box_hints.png"),
                cv2.cvtColor(np.rint(stroke * 255).astype(np.uint8), cv2.COLOR_RGBA2BGRA))
    assert run(colorize, "--model", models["lineart"], "--input", tmp_path / "box.png", "--hints",
               tmp_path / "box_hints.png", "--out", tmp_path / "out.png", "--quiet") == 0
    out = as_u8(tmp_path / "out.png")
    assert np.abs(out[2:8, 60:70] - HINT_RGB).max() <= 2    # the strip right of the line
    assert np.abs(out[2:8, 0:50] - HINT_RGB).max() <= 2     # the paper around the box
    assert np.abs(out[14:26, 14:34] - HINT_RGB).sum(axis=-1).min() > 30  # not inside the box


def test_flats_are_constant_per_region_for_every_z(models, tmp_path):
    write_image(tmp_path / "in" / "box.png", boxes())
    assert run(colorize, "--model", models["lineart"], "--input", tmp_path / "in", "--num-samples", 2,
               "--out", tmp_path / "out", "--quiet") == 0
    found = regions.segment(boxes())
    assert found.count == 3
    paper = ~found.ink
    outputs = [as_u8(tmp_path / "out" / f"box_{k}.png") for k in range(2)]
    for out in outputs:
        for r in range(found.count):
            colours = np.unique(out[(found.labels == r) & paper], axis=0)
            assert len(colours) == 1, f"region {r} has {len(colours)} colours"
    assert not np.array_equal(outputs[0], outputs[1])  # per-region variants differ with z


def test_layers_psd_and_regions_files(models, tmp_path):
    from psd_tools import PSDImage

    write_image(tmp_path / "in" / "box.png", boxes())
    assert run(colorize, "--model", models["lineart"], "--input", tmp_path / "in", "--num-samples", 2,
               "--layers", "--psd", "--regions-out", "--out", tmp_path / "out", "--quiet") == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted([f"box_{k}{tail}" for k in range(2)
                            for tail in (".png", "_flat.png", "_shade.png", "_lines.png", ".psd")]
                           + ["box_0_regions.png"])
    lines = read_image(tmp_path / "out" / "box_0_lines.png")  # composited over white: the drawing
    np.testing.assert_allclose(lines, boxes(), atol=1 / 255)
    from anime_colorize.data.io import read_rgba
    rgba = read_rgba(tmp_path / "out" / "box_0_lines.png")
    assert rgba[..., 3].max() == 255 and rgba[0, 0, 3] == 0  # ink opaque, paper transparent
    psd = PSDImage.open(tmp_path / "out" / "box_1.psd")
    assert psd.size == (72, 48)
    assert [layer.name for layer in psd] == ["flat", "shade", "lines"]
    assert all(layer.size == (72, 48) for layer in psd)
    assert [layer.visible for layer in psd] == [True, False, True]  # shading off unless --shading
    flat = np.asarray(psd[0].composite())[..., :3].astype(int)
    np.testing.assert_array_equal(flat, as_u8(tmp_path / "out" / "box_1_flat.png"))
    labels = as_u8(tmp_path / "out" / "box_0_regions.png")
    assert len(np.unique(labels[boxes()[..., 0] > 0.5].reshape(-1, 3), axis=0)) == 3


def test_shading_multiplies_the_shade_layer_in(models, tmp_path):
    write_image(tmp_path / "box.png", boxes())
    for name, extra in (("plain", []), ("shaded", ["--shading"])):
        assert run(colorize, "--model", models["lineart"], "--input", tmp_path / "box.png", "--layers", *extra,
                   "--out", tmp_path / name, "--quiet") == 0
    plain, shaded = as_u8(tmp_path / "plain" / "box.png"), as_u8(tmp_path / "shaded" / "box.png")
    shade = read_image(tmp_path / "shaded" / "box_shade.png")[..., 0]
    assert (shaded <= plain + 1).all()  # shading only darkens
    expected = np.rint(read_image(tmp_path / "plain" / "box.png") * shade[..., None] * 255)
    assert np.abs(shaded - expected).max() <= 2


def test_gray_model_flats_keep_the_picture_lightness(models, tmp_path):
    from skimage.color import rgb2lab

    rgb = 0.35 + 0.5 * boxes()
    write_image(tmp_path / "gray.png", rgb)
    assert run(colorize, "--model", models["gray"], "--input", tmp_path / "gray.png", "--mode", "flat",
               "--out", tmp_path / "out.png", "--quiet") == 0
    out = read_image(tmp_path / "out.png")
    assert np.abs(rgb2lab(out)[..., 0] - rgb2lab(rgb)[..., 0]).mean() < 1.0
    found = regions.segment(rgb)
    ab = np.rint(rgb2lab(out)[..., 1:])
    for r in range(found.count):  # one chroma per region (up to 8-bit rounding)
        part = ab[(found.labels == r) & ~found.ink]
        assert np.ptp(part, axis=0).max() <= 3


def test_folder_mode_with_hints_dir_and_samples(models, tmp_path):
    for name in ("a", "b"):
        write_image(tmp_path / "in" / f"{name}.png", boxes())
    (tmp_path / "hints").mkdir()
    write_points(tmp_path / "hints" / "a.json", [(20, 20, 3)])  # b has no hint file
    assert run(colorize, "--model", models["lineart"], "--input", tmp_path / "in", "--hints-dir", tmp_path / "hints",
               "--num-samples", 2, "--out", tmp_path / "out", "--quiet") == 0
    for k in range(2):
        a, b = as_u8(tmp_path / "out" / f"a_{k}.png"), as_u8(tmp_path / "out" / f"b_{k}.png")
        assert np.abs(a[15:25, 15:30] - HINT_RGB).max() <= 2
        assert np.abs(b[15:25, 15:30] - HINT_RGB).sum(axis=-1).min() > 30


def test_sample_batch_mode_takes_the_same_modes(models, tmp_path):
    write_image(tmp_path / "in" / "box.png", boxes())
    assert run(sample, "--model", models["lineart"], "--input", tmp_path / "in", "--num-samples", 1,
               "--mode", "flat", "--psd", "--out", tmp_path / "out", "--quiet") == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["box_0.png", "box_0.psd"]
    assert run(sample, "--model", models["lineart"], "--input", tmp_path / "in" / "box.png", "--grid", "1x2",
               "--mode", "smooth", "--out", tmp_path / "grid.png") == 0


def test_flat_flags_with_smooth_mode_are_refused(models, tmp_path, capsys):
    write_image(tmp_path / "box.png", boxes())
    assert run(colorize, "--model", models["lineart"], "--input", tmp_path / "box.png", "--mode", "smooth",
               "--layers", "--out", tmp_path / "out", "--quiet") == 2
    assert "--layers works with --mode flat" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def specks(side=1000, count=100_000):
    rng = np.random.default_rng(0)
    rgb = np.ones((side, side, 3), np.float32)
    ys, xs = rng.integers(0, side, count), rng.integers(0, side, count)
    rgb[ys, xs] = 0.0
    return rgb


@pytest.mark.parametrize("name,picture", [
    ("white", lambda: np.ones((40, 60, 3), np.float32)),
    ("black", lambda: np.zeros((40, 60, 3), np.float32)),
    ("dot", lambda: np.full((1, 1, 3), 0.5, np.float32)),
    ("specks", specks),
])
def test_bad_pages_get_a_clear_outcome(models, tmp_path, name, picture):
    rgb = picture()
    write_image(tmp_path / f"{name}.png", rgb)
    assert run(colorize, "--model", models["lineart"], "--input", tmp_path / f"{name}.png", "--layers",
               "--regions-out", "--out", tmp_path / "out", "--quiet") == 0
    out = read_image(tmp_path / "out" / f"{name}.png")
    assert out.shape == rgb.shape and np.isfinite(out).all()
    assert (tmp_path / "out" / f"{name}_regions.png").is_file()


def test_a_hint_outside_the_picture_is_clipped_with_a_note(models, tmp_path, capsys):
    write_image(tmp_path / "box.png", boxes())
    hints = write_points(tmp_path / "box.json", [(500, -20, 1)])  # clipped to (71, 0): the outside paper
    assert run(colorize, "--model", models["lineart"], "--input", tmp_path / "box.png", "--hints", hints,
               "--out", tmp_path / "out.png", "--quiet") == 0
    assert "outside the 72x48 image" in capsys.readouterr().err
    out = as_u8(tmp_path / "out.png")
    assert np.abs(out[0:5, 60:70] - HINT_RGB).max() <= 2  # the strip right of the line got it
    assert np.abs(out[14:26, 14:34] - HINT_RGB).sum(axis=-1).min() > 30
