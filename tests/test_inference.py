"""The one inference path (anime_colorize.inference and sampling's full-resolution steps):
output modes, output safety, hint-file limits, per-file isolation, the working size."""
import json
import struct
import warnings
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from anime_colorize import colorize, sample, sampling
from anime_colorize.data.io import read_image, write_image
from anime_colorize.inference import hint_files, modes, outputs

Z_DIM = 4


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Untrained tiny exported models (the plumbing does not need trained ones)."""
    import keras

    from anime_colorize.export import save_keras
    from anime_colorize.models import UNetGenerator

    root = tmp_path_factory.mktemp("models")
    keras.utils.set_random_seed(0)
    return {
        "gray": save_keras(UNetGenerator(z_dim=Z_DIM, depth=2, filters=8, working_size=32), root / "gray.keras"),
        "lineart": save_keras(UNetGenerator(z_dim=Z_DIM, depth=2, filters=8, working_size=32, input_kind="lineart",
                                            hint_kinds=("points", "scribble", "histogram")), root / "lineart.keras"),
    }


def drawing(height=45, width=70):
    rgb = np.ones((height, width, 3), np.float32)
    rgb[height // 2, :] = 0.0
    rgb[:, width // 3] = 0.0
    return rgb


def pages(folder, count=2, size=(45, 70)):
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        write_image(folder / f"page{k}.png", drawing(*size))
    return folder


def run(main, argv, capsys):
    code = main(argv + ["--quiet"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ------------------------------------------------------------------ full-resolution maths

@pytest.mark.parametrize("working, full", [((16, 23), (301, 433)), ((32, 32), (3, 5)), ((7, 9), (7, 9))])
def test_predicted_colors_upsample_like_tf_resize(working, full):
    x = np.random.default_rng(0).uniform(-1, 1, working + (2,)).astype(np.float32)
    expected = tf.image.resize(x[None], full, method="bilinear")[0].numpy()
    colors = sampling.PredictedColors(x, full)
    np.testing.assert_allclose(colors.full(), expected, atol=1e-6)
    np.testing.assert_allclose(colors.rows(2, 3), expected[2:3], atol=1e-6)


def test_full_resolution_work_by_bands_equals_the_whole(monkeypatch):
    rng = np.random.default_rng(1)
    lab = rng.uniform(-0.4, 0.4, (9, 13, 3)).astype(np.float32)
    drawn = rng.uniform(-1, 1, (40, 57, 1)).astype(np.float32)
    colors = sampling.PredictedColors(lab, (40, 57))
    whole = np.clip(sampling.colors_to_rgb(colors.full()[None], lines=drawn[None] * 0.5 + 0.5)[0], 0, 1)
    monkeypatch.setattr(sampling, "BAND_PIXELS", 100)  # many bands, chunks padded to 4096
    np.testing.assert_allclose(sampling.to_rgb(drawn, colors), whole, atol=2e-5)
    rgb = rng.uniform(0, 1, (40, 57, 3)).astype(np.float32)
    np.testing.assert_allclose(sampling.prepare_input(rgb, "gray"), sampling.lightness(rgb), atol=2e-5)


def test_working_size_is_rounded_to_the_stride_and_long_strips_are_bounded():
    class Model:
        working_size, stride = 32, 4

    assert sampling.resolve_working_size(Model()) == 32
    assert sampling.resolve_working_size(Model(), 51) == 52 and sampling.resolve_working_size(Model(), 1) == 4
    with pytest.raises(ValueError, match="at least 1"):
        sampling.resolve_working_size(Model(), 0)
    # a 1 x 100,000 strip: the longer side is held at MAX_ASPECT working sizes, not 3.2M pixels
    assert sampling.working_shape(1, 100_000, 32) == (1, sampling.MAX_ASPECT * 32)


def test_working_size_changes_the_colouring_and_keeps_the_size(models, tmp_path, capsys):
    pages(tmp_path / "in", 1, (60, 90))
    for size in ("32", "64"):
        code, _, err = run(colorize.main, ["--model", str(models["gray"]), "--input", str(tmp_path / "in"),
                                           "--out", str(tmp_path / size), "--working-size", size], capsys)
        assert code == 0, err
    small, large = read_image(tmp_path / "32" / "page0.png"), read_image(tmp_path / "64" / "page0.png")
    assert small.shape == large.shape == (60, 90, 3)
    assert np.abs(small - large).max() > 1e-3
    code, _, err = run(sample.main, ["--model", str(models["gray"]), "--input", str(tmp_path / "in" / "page0.png"),
                                     "--grid", "1x2", "--working-size", "64", "--out", str(tmp_path / "g.png")], capsys)
    assert code == 0 and read_image(tmp_path / "g.png").shape[0] > 0


# ------------------------------------------------------------------ output modes: one place

@pytest.fixture
def toy_mode():
    """A mode registered from this test module alone: the picture inverted, plus a layer."""

    @modes.register_mode
    class Negative(modes.OutputMode):
        name = "negative"
        help = "the smooth colouring inverted, and its lightness as a layer"
        seen = []

        def tails(self):
            return ("_light.png", ".txt")

        def begin(self, page):
            Negative.seen.append((page.size, page.input_kind, page.hints is not None))
            return "state"

        def render(self, page, colors, state):
            assert state == "state" and colors.full().shape == page.size + (colors.channels,)
            rgb = sampling.to_rgb(page.model_input, colors)
            return {outputs.PICTURE: 1.0 - rgb, "_light.png": page.model_input * 0.5 + 0.5,
                    ".txt": lambda path: path.write_text(f"{page.name} {colors.channels}")}

    yield Negative
    del modes.MODES["negative"]


def test_an_output_mode_is_added_in_one_place(models, toy_mode, tmp_path, capsys):
    inputs = pages(tmp_path / "in", 2)
    base = ["--model", str(models["lineart"]), "--input", str(inputs), "--num-samples", "2"]
    assert run(colorize.main, base + ["--out", str(tmp_path / "smooth")], capsys)[0] == 0
    code, _, err = run(colorize.main, base + ["--out", str(tmp_path / "neg"), "--mode", "negative"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "neg").iterdir()) == [
        "page0_0.png", "page0_0.txt", "page0_0_light.png", "page0_1.png", "page0_1.txt", "page0_1_light.png",
        "page1_0.png", "page1_0.txt", "page1_0_light.png", "page1_1.png", "page1_1.txt", "page1_1_light.png"]
    assert (tmp_path / "neg" / "page1_0.txt").read_text() == "page1.png 3"
    np.testing.assert_allclose(read_image(tmp_path / "neg" / "page0_1.png"),
                               1.0 - read_image(tmp_path / "smooth" / "page0_1.png"), atol=1.5 / 255)
    assert toy_mode.seen == [((45, 70), "lineart", False)] * 2
    assert "negative" in colorize.build_parser().format_help()


# ------------------------------------------------------------------ never overwrite an input

def test_an_out_that_is_or_holds_an_input_is_refused(models, tmp_path, capsys):
    inputs = pages(tmp_path / "pages", 2)
    before = {p.name: p.read_bytes() for p in inputs.iterdir()}
    page = str(inputs / "page0.png")
    cases = [
        (colorize.main, ["--input", page, "--out", page], "is the input"),
        (colorize.main, ["--input", str(inputs), "--out", str(inputs)], "holds the input"),
        (colorize.main, ["--input", page, "--out", str(tmp_path)], "holds the input"),
        (sample.main, ["--input", page, "--grid", "2x2", "--out", page], "is the input"),
        (sample.main, ["--input", str(inputs), "--num-samples", "1", "--out", str(inputs)], "holds the input"),
    ]
    for main, argv, words in cases:
        code, _, err = run(main, ["--model", str(models["gray"])] + argv, capsys)
        assert code == 2 and words in err and "Traceback" not in err, (argv, err)
    assert {p.name: p.read_bytes() for p in inputs.iterdir()} == before


def test_a_second_run_keeps_the_first_unless_overwrite(models, tmp_path, capsys):
    inputs = pages(tmp_path / "in", 2)
    out = tmp_path / "out"
    argv = ["--model", str(models["gray"]), "--input", str(inputs), "--out", str(out)]
    assert run(colorize.main, argv, capsys)[0] == 0
    first = (out / "page0.png").read_bytes()
    code, _, err = run(colorize.main, argv + ["--seed", "5"], capsys)
    assert code == 2 and "--overwrite" in err and "already holds 2" in err
    assert (out / "page0.png").read_bytes() == first
    assert run(colorize.main, argv + ["--seed", "5", "--overwrite"], capsys)[0] == 0
    assert (out / "page0.png").read_bytes() != first
    grid = tmp_path / "grid.png"
    grid_argv = ["--model", str(models["gray"]), "--input", str(inputs / "page0.png"), "--grid", "1x2", "--out", str(grid)]
    assert run(sample.main, grid_argv, capsys)[0] == 0
    code, _, err = run(sample.main, grid_argv, capsys)
    assert code == 2 and "--overwrite" in err


def test_files_and_folders_in_the_way_are_named(models, tmp_path, capsys):
    inputs = pages(tmp_path / "in", 1)
    (tmp_path / "a_file").write_text("x")
    code, _, err = run(colorize.main, ["--model", str(models["gray"]), "--input", str(inputs),
                                       "--out", str(tmp_path / "a_file" / "out")], capsys)
    assert code == 2 and "a_file is a file, not a folder" in err and "File exists" not in err
    (tmp_path / "out" / "page0.png").mkdir(parents=True)
    code, _, err = run(colorize.main, ["--model", str(models["gray"]), "--input", str(inputs),
                                       "--out", str(tmp_path / "out"), "--overwrite"], capsys)
    assert code == 2 and "page0.png is a folder" in err and ".tmp" not in err


def test_plan_names_outputs_and_layers():
    plan = outputs.plan_outputs(["a/x.png", "b/X.jpg"], "/nonexistent/out", 2, tails=("_flat.png", ".psd"))
    assert [p.name for p in plan.files("b/X.jpg")] == ["X (2)_0.png", "X (2)_0_flat.png", "X (2)_0.psd",
                                                       "X (2)_1.png", "X (2)_1_flat.png", "X (2)_1.psd"]
    single = outputs.plan_outputs(["x.png"], "/nonexistent/c.jpg", 1, single_file=True)
    assert [p.name for p in single.files("x.png")] == ["c.jpg"]
    with pytest.raises(outputs.OutputError, match="names one file"):
        outputs.plan_outputs(["x.png", "y.png"], "/nonexistent/c.png", 1, single_file=True)


# ------------------------------------------------------------------ hint files: limits, isolation

def png_header_only(path, width, height):
    """A PNG whose header says width x height, with almost no pixel data: a few hundred bytes
    that would take width * height * 4 bytes once decoded."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def test_hint_json_nested_deeply_or_too_big_is_refused_without_parsing(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(hint_files.HintFileError, match="deep.json: nested more than"):
        hint_files.load_hint_file(deep, 10, 10)
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (hint_files.MAX_JSON_BYTES + 1))
    with pytest.raises(hint_files.HintFileError, match="big.json: .* bytes"):
        hint_files.load_hint_file(big, 10, 10)
    # brackets inside strings do not count
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps({"note": "[" * 100, "points": [{"x": 1, "y": 1, "rgb": [9, 9, 9]}]}))
    assert float(tf.reduce_sum(hint_files.load_hint_file(ok, 10, 10)["hint_mask"])) == 1.0


def test_a_huge_stroke_png_is_refused_from_its_header(tmp_path, monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("the stroke image was decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    huge = png_header_only(tmp_path / "huge.png", 7999, 7999)
    with pytest.raises(hint_files.HintFileError, match=r"huge.png: .*7999x7999, the input 70x45"):
        hint_files.load_hint_file(huge, 45, 70)
    with pytest.raises(hint_files.HintFileError, match="--max-pixels"):
        hint_files.load_hint_file(png_header_only(tmp_path / "big.png", 300, 300), 300, 300, max_pixels=1000)


def test_points_outside_are_a_message_naming_the_file(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"points": [{"x": 500, "y": 3, "rgb": [255, 0, 0]}]}))
    notes = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no raw UserWarning
        hints = hint_files.load_hint_file(path, 10, 20, notes=notes)
    assert len(notes) == 1 and notes[0].startswith(f"{path}: ") and "outside" in notes[0]
    assert hints["hint_mask"].numpy()[0, 3, 19, 0] == 1.0


def test_one_bad_input_or_hint_file_skips_only_that_input(models, tmp_path, capsys):
    inputs = pages(tmp_path / "in", 5)
    hints = tmp_path / "hints"
    hints.mkdir()
    (hints / "page0.json").write_text("[" * 200_000)
    png_header_only(hints / "page1.png", 7999, 7999)
    (hints / "page2.json").write_text(json.dumps({"points": [{"x": 900, "y": 3, "rgb": [255, 0, 0]}]}))
    (inputs / "page3.png").write_bytes(b"not a picture")
    out = tmp_path / "out"
    code, _, err = run(colorize.main, ["--model", str(models["lineart"]), "--input", str(inputs),
                                       "--hints-dir", str(hints), "--out", str(out)], capsys)
    assert code == 1 and "Traceback" not in err and "RecursionError" not in err
    assert sorted(p.name for p in out.iterdir()) == ["page2.png", "page4.png"]
    for name in ("page0.json", "page1.png", "page3.png"):
        assert any(line.startswith("skipped") and name in line for line in err.splitlines()), (name, err)
    assert str(hints / "page2.json") in err and "outside" in err


def test_a_failure_inside_the_network_skips_the_batch_not_the_run(models, tmp_path, capsys, monkeypatch):
    inputs = pages(tmp_path / "in", 1)
    write_image(inputs / "other.png", drawing(90, 40))  # another working shape: another batch
    real = sampling.predict_working

    def flaky(generator, model_inputs, *args, **kwargs):
        if model_inputs[0].shape[0] == 90:
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating")
        return real(generator, model_inputs, *args, **kwargs)

    monkeypatch.setattr(sampling, "predict_working", flaky)
    code, out, err = run(colorize.main, ["--model", str(models["gray"]), "--input", str(inputs),
                                         "--out", str(tmp_path / "out")], capsys)
    assert code == 1 and "Traceback" not in err and "OOM when allocating" in err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["page0.png"]
