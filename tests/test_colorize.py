"""Full-resolution colouring of line art and gray pictures, with hints: sampling and the CLI."""
import json

import numpy as np
import pytest

from anime_colorize import colorize, sampling
from anime_colorize.data.hints import HIST_SIZE
from anime_colorize.data.io import read_image, write_image
from anime_colorize.export import load_generator

@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Tiny exported models, untrained (colouring's plumbing needs no training; the train
    command's own tests train): gray without hints, line art with every hint kind."""
    import keras

    from anime_colorize.config import HINT_KINDS
    from anime_colorize.export import save_keras
    from anime_colorize.models import UNetGenerator

    root = tmp_path_factory.mktemp("models")
    keras.utils.set_random_seed(0)  # some random initial weights put most colours out of gamut
    tiny = dict(z_dim=4, depth=2, filters=8, working_size=32)
    return {"gray": save_keras(UNetGenerator(**tiny), root / "gray" / "generator.keras"),
            "lineart": save_keras(UNetGenerator(**tiny, input_kind="lineart", hint_kinds=HINT_KINDS),
                                  root / "lineart" / "generator.keras")}


def drawing(height=45, width=70):
    """White paper with a black cross and a gray square: float RGB (H, W, 3)."""
    rgb = np.ones((height, width, 3), np.float32)
    rgb[height // 2, :] = 0.0
    rgb[:, width // 3] = 0.0
    rgb[5:15, 40:55] = 0.6
    return rgb


def test_line_art_colouring_keeps_size_and_lays_the_ink_back(models):
    g = load_generator(models["lineart"])
    rgb = drawing()
    out = sampling.colorize(g, rgb, sampling.random_sweep(3, g.z_dim))
    assert out.shape == (3, 45, 70, 3)
    np.testing.assert_allclose(out[:, 22, :], 0.0, atol=1e-6)  # the drawn line stays black
    assert out[:, 30:40, 50:60].mean() > 0.05  # the paper gets a colour from the model


def test_gray_colouring_keeps_the_input_lightness(models):
    from skimage.color import rgb2lab
    g = load_generator(models["gray"])
    rgb = 0.3 + 0.4 * drawing(37, 53)  # mid grays: colours there stay inside the sRGB gamut
    out = sampling.colorize(g, rgb, sampling.random_sweep(2, g.z_dim))
    assert out.shape == (2, 37, 53, 3)
    assert np.abs(rgb2lab(out[0])[..., 0] - rgb2lab(rgb)[..., 0]).mean() < 1.0


def test_hints_reach_the_model_and_change_the_colouring(models):
    g = load_generator(models["lineart"])
    rgb, z = drawing(), sampling.random_sweep(1, g.z_dim)
    from anime_colorize.data.hints import hints_from_points_json
    hints = hints_from_points_json({"points": [{"x": 60, "y": 35, "rgb": [255, 0, 0], "size": 5}]}, 45, 70)
    plain, hinted = sampling.colorize(g, rgb, z)[0], sampling.colorize(g, rgb, z, hints)[0]
    assert np.abs(plain - hinted).max() > 1e-4
    # hints that are all zeros are "none given"
    empty = {k: np.zeros_like(v) for k, v in hints.items()}
    np.testing.assert_allclose(sampling.colorize(g, rgb, z, empty)[0], plain, atol=1e-5)


def test_a_batch_equals_one_by_one(models):
    g = load_generator(models["lineart"])
    pictures = [drawing(), drawing()[::-1].copy()]
    z = sampling.random_sweep(3, g.z_dim)
    together = sampling.colorize_batch(g, pictures, z, batch_size=4)
    for picture, result in zip(pictures, together):
        np.testing.assert_allclose(result, sampling.colorize(g, picture, z), atol=1e-5)


def write_inputs(folder, count=3, size=(45, 70)):
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        write_image(folder / f"page{k}.png", drawing(*size))
    return folder


def test_cli_single_file_to_a_named_output(models, tmp_path):
    write_inputs(tmp_path / "in", 1)
    out = tmp_path / "page_color.png"
    assert colorize.main(["--model", str(models["lineart"]), "--input", str(tmp_path / "in" / "page0.png"),
                          "--out", str(out), "--quiet"]) == 0
    assert read_image(out).shape == (45, 70, 3)


def test_cli_folder_with_samples_and_mixed_sizes(models, tmp_path):
    inputs = write_inputs(tmp_path / "in", 2)
    write_image(inputs / "big.png", drawing(90, 61))
    out = tmp_path / "out"
    assert colorize.main(["--model", str(models["gray"]), "--input", str(inputs), "--out", str(out),
                          "--num-samples", "2", "--quiet"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["big_0.png", "big_1.png", "page0_0.png", "page0_1.png", "page1_0.png", "page1_1.png"]
    assert read_image(out / "big_1.png").shape == (90, 61, 3)
    assert not np.array_equal(read_image(out / "page0_0.png"), read_image(out / "page0_1.png"))


def test_cli_hints_dir_pairs_files_by_stem_and_reports_bad_ones(models, tmp_path, capsys):
    inputs = write_inputs(tmp_path / "in", 3)
    hints = tmp_path / "hints"
    hints.mkdir()
    (hints / "page0.json").write_text(json.dumps({"points": [{"x": 60, "y": 35, "rgb": [0, 0, 255], "size": 3}]}))
    strokes = np.zeros((45, 70, 4), np.float32)
    strokes[30:40, 5:20] = [1.0, 0.0, 0.0, 1.0]
    from PIL import Image
    Image.fromarray((strokes * 255).astype(np.uint8), "RGBA").save(hints / "page1.png")
    (hints / "page2.json").write_text("{not json")
    out = tmp_path / "out"
    code = colorize.main(["--model", str(models["lineart"]), "--input", str(inputs), "--hints-dir", str(hints),
                          "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "page2.json" in err and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["page0.png", "page1.png"]
    # the same pages without hints come out differently
    plain = tmp_path / "plain"
    assert colorize.main(["--model", str(models["lineart"]), "--input", str(inputs), "--out", str(plain),
                          "--quiet"]) == 0
    for name in ("page0.png", "page1.png"):
        assert not np.array_equal(read_image(out / name), read_image(plain / name))


def test_cli_reference_gives_every_page_its_palette(models, tmp_path):
    inputs = write_inputs(tmp_path / "in", 2)
    reference = np.zeros((20, 20, 3), np.float32)
    reference[..., 0] = 1.0
    write_image(tmp_path / "ref.png", reference)
    out, plain = tmp_path / "out", tmp_path / "plain"
    assert colorize.main(["--model", str(models["lineart"]), "--input", str(inputs), "--out", str(out),
                          "--reference", str(tmp_path / "ref.png"), "--reference-mode", "histogram", "--quiet"]) == 0
    assert colorize.main(["--model", str(models["lineart"]), "--input", str(inputs), "--out", str(plain),
                          "--quiet"]) == 0
    assert not np.array_equal(read_image(out / "page0.png"), read_image(plain / "page0.png"))


@pytest.mark.parametrize("extra, message", [
    (["--hints", "h.json"], "trained without colour hints"),
    (["--reference", "ref.png", "--reference-mode", "histogram"], "trained without colour hints"),
])
def test_cli_hints_for_a_model_without_hints_are_an_error(models, tmp_path, capsys, extra, message):
    write_inputs(tmp_path / "in", 1)
    code = colorize.main(["--model", str(models["gray"]), "--input", str(tmp_path / "in" / "page0.png"),
                          "--out", str(tmp_path / "o.png"), "--quiet"] + extra)
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_cli_stroke_image_of_another_size_is_named(models, tmp_path, capsys):
    write_inputs(tmp_path / "in", 1)
    from PIL import Image
    Image.fromarray(np.zeros((10, 10, 4), np.uint8), "RGBA").save(tmp_path / "strokes.png")
    code = colorize.main(["--model", str(models["lineart"]), "--input", str(tmp_path / "in" / "page0.png"),
                          "--hints", str(tmp_path / "strokes.png"), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "strokes.png" in err and "10x10" in err


def test_loaded_model_refuses_hints_it_was_not_trained_for(models):
    g = load_generator(models["gray"])
    with pytest.raises(ValueError, match="without colour hints"):
        sampling.colorize(g, drawing(), sampling.random_sweep(1, g.z_dim),
                          {"hint_hist": np.full((1, HIST_SIZE), 1.0 / HIST_SIZE, np.float32)})
