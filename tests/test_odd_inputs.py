"""Broken and odd image files through every command (train, sample, evaluate), in-process.

One folder holds deliberately broken files (empty, truncated, text or HTML under an image
name) beside odd but good ones (tiny, alpha, palette, CMYK, 16-bit, float TIFF, EXIF-rotated,
gray, a PNG named .bmp, spaces and non-ASCII names, nested folders, two inputs with the same
stem). Every command must skip the bad ones, naming each with its reason, use all the good
ones, and fail with one clear line (never a traceback) when nothing is usable.
"""
import contextlib
import io
import json
import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from anime_colorize import evaluate, sample, train
from anime_colorize.data.io import read_image

TINY_FLAGS = ["--size", "32", "--batch-size", "4", "--depth", "2", "--filters", "8", "--z-dim", "4",
              "--steps", "2", "--log-every", "1", "--algo", "dcgan", "--quiet"]
LOW_LIMIT = 10_000  # below big.png's 300 x 300 = 90,000 pixels

# bad file -> a word its reason must contain
BAD = {"zero.png": "empty", "cut.jpg": "truncated", "cut.png": "truncated",
       "notes.jpg": "not a recognised image", "page 404.webp": "not a recognised image"}
GRAY = ["gray.jpg", "la.png", "gray16.tif", "float_gray.tif"]


def pattern(h, w):
    """A colourful uint8 RGB test picture (H, W, 3)."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 9 % 256, y * 13 % 256, (x * 3 + y * 5) % 256], axis=-1).astype(np.uint8)


def deep(h, w):
    """A uint16 RGB picture whose values are not multiples of 257 (8 bits would lose them)."""
    return pattern(h, w).astype(np.uint16) * 250 + 7


def encoded(rgb, fmt):
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt)
    return buf.getvalue()


def write_bad_files(root: Path, prefix: str = "") -> None:
    root.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    (root / f"{prefix}zero.png").write_bytes(b"")
    jpg, png = encoded(noise, "JPEG"), encoded(noise, "PNG")
    (root / f"{prefix}cut.jpg").write_bytes(jpg[:len(jpg) // 2])
    (root / f"{prefix}cut.png").write_bytes(png[:len(png) // 2])
    (root / f"{prefix}notes.jpg").write_text("shopping list\n" * 20)
    (root / f"{prefix}page 404.webp").write_text("<!DOCTYPE html><html><body>Not Found</body></html>\n")


def write_good_files(root: Path) -> dict:
    """Writes the odd but readable files; returns {relative path: (height, width) after EXIF}."""
    good = {}

    def keep(name, shape):
        good[name] = shape
        return root / name

    (root / "nested" / "deeper").mkdir(parents=True, exist_ok=True)
    Image.fromarray(pattern(20, 30)).save(keep("really a png.bmp", (20, 30)), format="PNG")
    Image.fromarray(pattern(300, 300)).save(keep("big.png", (300, 300)))
    Image.fromarray(pattern(3, 5)).save(keep("tiny.png", (3, 5)))
    rgba = np.dstack([pattern(24, 20), np.linspace(0, 255, 24 * 20).reshape(24, 20).astype(np.uint8)])
    Image.fromarray(rgba, "RGBA").save(keep("rgba.png", (24, 20)))
    Image.fromarray(pattern(18, 22)[..., 0]).convert("LA").save(keep("la.png", (18, 22)))
    palette = Image.fromarray(pattern(16, 16)).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    palette.save(keep("palette.png", (16, 16)), transparency=0)
    Image.fromarray(pattern(20, 28)).convert("CMYK").save(keep("cmyk.jpg", (20, 28)), quality=95)
    cv2.imwrite(str(keep("deep16.png", (22, 26))), pattern(22, 26)[..., ::-1].astype(np.uint16) * 257)
    cv2.imwrite(str(keep("rgb16.tif", (18, 24))), deep(18, 24)[..., ::-1])
    Image.fromarray(pattern(20, 24)[..., 1].astype(np.uint16) * 257).save(keep("gray16.tif", (20, 24)))
    ramp = np.linspace(-0.5, 1.5, 20 * 24, dtype=np.float32).reshape(20, 24)  # beyond [0, 1] at both ends
    Image.fromarray(ramp, "F").save(keep("float_gray.tif", (20, 24)))
    cv2.imwrite(str(keep("float rgb.tiff", (20, 24))), pattern(20, 24)[..., ::-1].astype(np.float32) / 255 * 1.4 - 0.2)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display: 10x30 stored -> 30x10 shown
    Image.fromarray(pattern(10, 30)).save(keep("rotated.jpg", (30, 10)), exif=exif, quality=95)
    Image.fromarray(pattern(25, 15)[..., 2]).save(keep("gray.jpg", (25, 15)))
    Image.fromarray(pattern(21, 19)).save(keep("ページ 1.png", (21, 19)))
    Image.fromarray(pattern(19, 21)).save(keep("nested/ページ 1.jpg", (19, 21)))  # same stem as above
    Image.fromarray(pattern(17, 23)).save(keep("nested/deeper/inner pic.jpg", (17, 23)), quality=95)
    return good


def run(main, argv):
    """(exit code, stdout, stderr) of ``main(argv)``; the logging set-up a command makes is undone."""
    out, err = io.StringIO(), io.StringIO()
    saved_handlers, saved_level = logging.root.handlers[:], logging.root.level
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    finally:
        logging.root.handlers[:] = saved_handlers
        logging.root.setLevel(saved_level)
    return code, out.getvalue(), err.getvalue()


def assert_one_error_line(err, *words):
    """stderr ends with exactly one 'error: ...' line holding ``words``, and has no traceback."""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0] == lines[-1], err
    for word in words:
        assert word in errors[0], (word, errors[0])


def assert_bad_files_reported(text, root: Path, prefix: str = ""):
    """Each bad file is named on a line with the word its reason must contain."""
    for name, word in BAD.items():
        path = str(root / f"{prefix}{name}")
        lines = [line for line in text.splitlines() if path + ":" in line]
        assert lines and word in lines[0], (name, word, text)


def output_stem(relative: str) -> str:
    """Inputs come in find_images order ('nested/...' sorts before 'ページ'); the later of two
    inputs with one stem gets ' (2)' instead of overwriting the other's output."""
    return "ページ 1 (2)" if relative == "ページ 1.png" else Path(relative).stem


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    """The mixed folder, a trained tiny model on it (--max-pixels LOW_LIMIT), and the output."""
    root = tmp_path_factory.mktemp("odd")
    data = root / "data ダータ"
    write_bad_files(data)
    good = write_good_files(data)
    code, out, err = run(train.main, ["--data", str(data), "--out", str(root / "run"),
                                      "--max-pixels", str(LOW_LIMIT)] + TINY_FLAGS)
    return dict(root=root, data=data, good=good, train=(code, out, err), model=root / "run" / "generator.keras")


# ---------------------------------------------------------------- reading odd formats right

@pytest.mark.parametrize("name, expected", [
    ("really a png.bmp", lambda: pattern(20, 30) / 255),
    ("cmyk.jpg", lambda: pattern(20, 28) / 255),
    ("rgb16.tif", lambda: deep(18, 24) / 65535),  # all 16 bits kept
    ("gray16.tif", lambda: np.repeat(pattern(20, 24)[..., 1:2] / 255, 3, axis=2)),
    ("float_gray.tif", lambda: np.repeat(np.clip(np.linspace(-0.5, 1.5, 20 * 24).reshape(20, 24, 1), 0, 1), 3, 2)),
    ("float rgb.tiff", lambda: np.clip(pattern(20, 24) / 255 * 1.4 - 0.2, 0, 1)),
])
def test_odd_formats_decode_to_the_right_colours(odd, name, expected):
    img = read_image(odd["data"] / name)
    assert img.dtype == np.float32 and img.min() >= 0 and img.max() <= 1
    tolerance = 0.03 if name.endswith(".jpg") else 1e-4  # JPEG is lossy
    assert np.abs(img - expected()).mean() < tolerance


def test_float_tiff_nan_becomes_zero(tmp_path):
    rgb = np.full((4, 6, 3), 0.5, np.float32)
    rgb[1, 2] = [np.nan, 2.0, -1.0]
    cv2.imwrite(str(tmp_path / "nan.tif"), rgb)
    img = read_image(tmp_path / "nan.tif")
    np.testing.assert_allclose(img[1, 2], [0.0, 1.0, 0.0])  # stored BGR: B=NaN -> 0, G=2 -> 1, R=-1 -> 0
    np.testing.assert_allclose(img[0, 0], [0.5, 0.5, 0.5])


# ---------------------------------------------------------------- train

def test_train_skips_bad_files_and_uses_every_good_one(odd):
    code, out, err = odd["train"]
    assert code == 0, err
    assert "Traceback" not in err
    assert_bad_files_reported(err, odd["data"])
    big = [line for line in err.splitlines() if str(odd["data"] / "big.png") + ":" in line]
    assert big and "--max-pixels" in big[0] and f"max_pixels={LOW_LIMIT}" in big[0]
    usable = len(odd["good"]) - 1  # all but big.png, tiny and gray ones included
    assert f"{usable} usable images, {len(BAD) + 1} unreadable skipped" in err
    assert f"skipped {len(BAD) + 1} unreadable files" in out
    assert "done: step 2" in out and odd["model"].is_file()


def test_train_drop_gray_drops_gray_images(tmp_path, odd):
    gray = tmp_path / "gray"
    gray.mkdir()
    for name in GRAY:
        shutil.copy(odd["data"] / name, gray / name)
    code, out, err = run(train.main, ["--data", str(gray), "--out", str(tmp_path / "run"), "--drop-gray", "4"]
                         + TINY_FLAGS)
    assert code == 2
    assert_one_error_line(err, "no usable image", f"0 unreadable (reasons above), {len(GRAY)} near-gray")


# ---------------------------------------------------------------- sample

def test_sample_batch_one_output_per_good_input_at_its_own_size(odd, tmp_path):
    out_dir = tmp_path / "coloured"
    code, out, err = run(sample.main, ["--model", str(odd["model"]), "--input", str(odd["data"]),
                                       "--num-samples", "1", "--out", str(out_dir), "--quiet"])
    assert code == 1, err  # inputs were skipped: as colorize, the run says so in its exit code
    assert "Traceback" not in err
    assert_bad_files_reported(err, odd["data"])
    expected = {f"{output_stem(name)}_0.png": shape for name, shape in odd["good"].items()}
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(expected)
    for name, shape in expected.items():
        assert read_image(out_dir / name).shape == shape + (3,), name
    assert f"wrote {len(expected)} images" in out and f"skipped {len(BAD)} unreadable" in out


def test_sample_max_pixels(odd, tmp_path):
    folder = tmp_path / "two"
    folder.mkdir()
    for name in ("big.png", "tiny.png"):
        shutil.copy(odd["data"] / name, folder / name)
    base = ["--model", str(odd["model"]), "--input", str(folder), "--num-samples", "1", "--quiet"]
    code, out, err = run(sample.main, base + ["--out", str(tmp_path / "low"), "--max-pixels", str(LOW_LIMIT)])
    assert code == 1  # big.png was skipped
    assert sorted(p.name for p in (tmp_path / "low").iterdir()) == ["tiny_0.png"]
    assert "skipped " + str(folder / "big.png") in err and "--max-pixels" in err
    code, out, err = run(sample.main, base + ["--out", str(tmp_path / "high"), "--max-pixels", "90000"])
    assert code == 0 and "skipped" not in err
    assert read_image(tmp_path / "high" / "big_0.png").shape == (300, 300, 3)
    code, out, err = run(sample.main, ["--model", str(odd["model"]), "--input", str(folder / "big.png"), "--grid",
                                       "1x2", "--out", str(tmp_path / "g.png"), "--max-pixels", str(LOW_LIMIT)])
    assert code == 2 and not (tmp_path / "g.png").exists()
    assert_one_error_line(err, "big.png", "--max-pixels")


def test_sample_grid_of_a_tiny_image(odd, tmp_path):
    code, out, err = run(sample.main, ["--model", str(odd["model"]), "--input", str(odd["data"] / "tiny.png"),
                                       "--grid", "2x2", "--out", str(tmp_path / "grid.png")])
    assert code == 0, err
    assert read_image(tmp_path / "grid.png").shape == (2 * (3 + 2) + 2, 2 * (5 + 2) + 2, 3)


# ---------------------------------------------------------------- evaluate

def test_evaluate_skips_bad_files(odd, tmp_path):
    report = tmp_path / "report"
    code, out, err = run(evaluate.main, ["--model", str(odd["model"]), "--data", str(odd["data"]),
                                         "--num-samples", "2", "--out", str(report), "--quiet"])
    assert code == 0, err
    assert "Traceback" not in err
    assert_bad_files_reported(err, odd["data"])
    data = json.loads((report / "metrics.json").read_text())
    assert data["num_images"] == len(odd["good"])
    unreadable = {Path(u["file"]).name: u["reason"] for u in data["unreadable"]}
    assert sorted(unreadable) == sorted(BAD)
    for name, word in BAD.items():
        assert word in unreadable[name]
    assert f"skipped {len(BAD)} unreadable" in out


def test_evaluate_max_pixels(odd, tmp_path):
    report = tmp_path / "low"
    code, out, err = run(evaluate.main, ["--model", str(odd["model"]), "--data", str(odd["data"]), "--include",
                                         "[bt]i*.png", "--num-samples", "1", "--out", str(report), "--quiet",
                                         "--max-pixels", str(LOW_LIMIT)])  # big.png, tiny.png
    assert code == 0, err
    data = json.loads((report / "metrics.json").read_text())
    assert data["num_images"] == 1 and [Path(u["file"]).name for u in data["unreadable"]] == ["big.png"]
    assert "--max-pixels" in data["unreadable"][0]["reason"]
    code, out, err = run(evaluate.main, ["--model", str(odd["model"]), "--data", str(odd["data"]), "--include",
                                         "[bt]i*.png", "--num-samples", "1", "--out", str(report), "--quiet"])
    assert code == 0 and json.loads((report / "metrics.json").read_text())["num_images"] == 2


# ---------------------------------------------------------------- nothing usable: one clear line

@pytest.fixture(scope="module")
def all_bad(tmp_path_factory):
    root = tmp_path_factory.mktemp("all bad")
    write_bad_files(root / "sub", prefix="x ")
    return root


@pytest.fixture(scope="module")
def empty(tmp_path_factory):
    root = tmp_path_factory.mktemp("empty")
    (root / "sub").mkdir()
    (root / "readme.txt").write_text("no pictures here")
    return root


def test_all_bad_folder(odd, all_bad, tmp_path):
    code, out, err = run(train.main, ["--data", str(all_bad), "--out", str(tmp_path / "run")] + TINY_FLAGS)
    assert code == 2
    assert_one_error_line(err, "no usable image", f"{len(BAD)} unreadable")
    assert_bad_files_reported(err, all_bad / "sub", "x ")

    code, out, err = run(sample.main, ["--model", str(odd["model"]), "--input", str(all_bad), "--num-samples", "1",
                                       "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 1 and not (tmp_path / "out").exists()
    assert_one_error_line(err, "nothing written", f"none of the {len(BAD)} images")
    assert_bad_files_reported(err, all_bad / "sub", "x ")

    code, out, err = run(evaluate.main, ["--model", str(odd["model"]), "--data", str(all_bad), "--num-samples", "1",
                                         "--out", str(tmp_path / "report"), "--quiet"])
    assert code == 2 and not (tmp_path / "report").exists()
    assert_one_error_line(err, f"none of the {len(BAD)} selected images")
    assert_bad_files_reported(err, all_bad / "sub", "x ")


def test_empty_folder(odd, empty, tmp_path):
    commands = [
        (train.main, ["--data", str(empty), "--out", str(tmp_path / "run")] + TINY_FLAGS),
        (sample.main, ["--model", str(odd["model"]), "--input", str(empty), "--out", str(tmp_path / "o"), "--quiet"]),
        (evaluate.main, ["--model", str(odd["model"]), "--data", str(empty), "--out", str(tmp_path / "r"), "--quiet"]),
    ]
    for main, argv in commands:
        code, out, err = run(main, argv)
        assert code == 2, main
        assert_one_error_line(err, "no image files found", str(empty))
        assert err.count("\n") == 1, err


@pytest.mark.parametrize("main", [train.main, sample.main, evaluate.main])
def test_max_pixels_must_be_positive(odd, tmp_path, main):
    argv = {train.main: ["--data", str(odd["data"]), "--out", str(tmp_path / "run")] + TINY_FLAGS,
            sample.main: ["--model", str(odd["model"]), "--input", str(odd["data"]), "--out", str(tmp_path / "o")],
            evaluate.main: ["--model", str(odd["model"]), "--data", str(odd["data"]), "--out", str(tmp_path / "r")]}
    code, out, err = run(main, argv[main] + ["--max-pixels", "0"])
    assert code == 2
    assert_one_error_line(err, "--max-pixels")
    assert err.count("\n") == 1
