"""Tests for anime_colorize.data.io (image reading/writing)."""
import os
import warnings

import cv2
import numpy as np
import pytest
from PIL import Image

from anime_colorize.data import io as aio
from anime_colorize.data.io import (
    ImageReadError, find_images, read_image, read_image_or_none, write_image)


def _rgb_pattern(h=16, w=24):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 10 % 256, y * 15 % 256, (x + y) * 5 % 256], axis=-1).astype(np.uint8)


def _pil_mode_and_pixels(path):
    with Image.open(path) as im:
        return im.mode, np.asarray(im)


def _check_float_rgb(img, shape):
    assert img.dtype == np.float32
    assert img.shape == shape
    assert img.min() >= 0.0 and img.max() <= 1.0


# ---------------------------------------------------------------- reading: formats

@pytest.mark.parametrize("ext,tol", [(".png", 1e-6), (".bmp", 1e-6), (".webp", 1e-6), (".jpg", 0.12)])
def test_rgb_round_trip_pillow_files(tmp_path, ext, tol):
    rgb = _rgb_pattern()
    path = tmp_path / f"img{ext}"
    params = {"lossless": True} if ext == ".webp" else ({"quality": 98} if ext == ".jpg" else {})
    Image.fromarray(rgb).save(path, **params)
    img = read_image(path)
    _check_float_rgb(img, rgb.shape)
    assert np.abs(img - rgb / 255.0).max() <= tol
    if ext == ".jpg":  # lossy, but on average very close and channel order right
        assert np.abs(img - rgb / 255.0).mean() < 0.02


def test_channel_order_of_cv2_written_file(tmp_path):
    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[..., 2] = 255  # red in BGR
    cv2.imwrite(str(tmp_path / "red.png"), bgr)
    img = read_image(tmp_path / "red.png")
    np.testing.assert_allclose(img[0, 0], [1.0, 0.0, 0.0])


def test_grayscale_png_gives_three_equal_channels(tmp_path):
    gray = np.arange(0, 240, 10, dtype=np.uint8).reshape(4, 6)
    Image.fromarray(gray).save(tmp_path / "g.png")
    img = read_image(tmp_path / "g.png")
    _check_float_rgb(img, (4, 6, 3))
    for c in range(3):
        np.testing.assert_allclose(img[..., c], gray / 255.0, atol=1e-6)


def test_16bit_gray_png(tmp_path):
    g = np.array([[65535, 32768, 0, 1000]], np.uint16)
    cv2.imwrite(str(tmp_path / "g16.png"), g)
    img = read_image(tmp_path / "g16.png")
    _check_float_rgb(img, (1, 4, 3))
    np.testing.assert_allclose(img[0, :, 0], [1.0, 32768 / 65535, 0.0, 1000 / 65535], atol=1e-6)
    np.testing.assert_array_equal(img[..., 0], img[..., 2])


def test_16bit_color_png_keeps_precision_and_rgb_order(tmp_path):
    bgr = np.zeros((2, 3, 3), np.uint16)
    bgr[0, 0] = [0, 0, 65535]          # red
    bgr[0, 1] = [1000, 2000, 3000]     # values that are not multiples of 257
    bgr[1, :] = [32768, 32768, 32768]
    cv2.imwrite(str(tmp_path / "c16.png"), bgr)
    img = read_image(tmp_path / "c16.png")
    _check_float_rgb(img, (2, 3, 3))
    np.testing.assert_allclose(img[0, 0], [1.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(img[0, 1], np.array([3000, 2000, 1000]) / 65535, atol=1e-6)
    np.testing.assert_allclose(img[1, 0], [32768 / 65535] * 3, atol=1e-6)


def test_16bit_rgba_png_composited_on_white(tmp_path):
    bgra = np.zeros((1, 2, 4), np.uint16)
    bgra[0, 0] = [0, 0, 65535, 0]       # fully transparent red
    bgra[0, 1] = [0, 0, 0, 65535]       # opaque black
    cv2.imwrite(str(tmp_path / "a16.png"), bgra)
    img = read_image(tmp_path / "a16.png")
    np.testing.assert_allclose(img[0, 0], [1.0, 1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(img[0, 1], [0.0, 0.0, 0.0], atol=1e-6)


def test_rgba_composited_on_white(tmp_path):
    rgba = np.array([[[255, 0, 0, 0], [0, 0, 0, 128], [0, 0, 255, 255]]], np.uint8)
    Image.fromarray(rgba).save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    _check_float_rgb(img, (1, 3, 3))
    np.testing.assert_allclose(img[0, 0], [1.0, 1.0, 1.0], atol=1e-6)            # transparent red -> white
    np.testing.assert_allclose(img[0, 1], [1 - 128 / 255] * 3, atol=1e-6)         # half black -> ~0.5 gray
    np.testing.assert_allclose(img[0, 2], [0.0, 0.0, 1.0], atol=1e-6)            # opaque blue stays blue


def test_la_image_composited_on_white(tmp_path):
    la = Image.new("LA", (3, 1))
    la.putdata([(0, 0), (0, 128), (50, 255)])
    la.save(tmp_path / "la.png")
    img = read_image(tmp_path / "la.png")
    _check_float_rgb(img, (1, 3, 3))
    np.testing.assert_allclose(img[0, 0], [1.0] * 3, atol=1e-6)
    np.testing.assert_allclose(img[0, 1], [1 - 128 / 255] * 3, atol=1e-6)
    np.testing.assert_allclose(img[0, 2], [50 / 255] * 3, atol=1e-6)


def _palette_image():
    p = Image.new("P", (2, 1))
    p.putpalette([255, 0, 0, 0, 0, 255] + [0] * (3 * 254))
    p.putdata([0, 1])  # red, blue
    return p


def test_palette_png_without_transparency(tmp_path):
    _palette_image().save(tmp_path / "p.png")
    img = read_image(tmp_path / "p.png")
    _check_float_rgb(img, (1, 2, 3))
    np.testing.assert_allclose(img[0], [[1, 0, 0], [0, 0, 1]], atol=1e-6)


def test_palette_png_with_transparency(tmp_path):
    _palette_image().save(tmp_path / "pt.png", transparency=0)  # index 0 (red) transparent
    assert _pil_mode_and_pixels(tmp_path / "pt.png")[0] == "P"
    img = read_image(tmp_path / "pt.png")
    np.testing.assert_allclose(img[0], [[1, 1, 1], [0, 0, 1]], atol=1e-6)


def test_rgb_png_with_trns_colour_key(tmp_path):
    im = Image.new("RGB", (2, 1), (0, 0, 0))
    im.putpixel((1, 0), (1, 2, 3))
    im.save(tmp_path / "t.png", transparency=(1, 2, 3))
    img = read_image(tmp_path / "t.png")
    np.testing.assert_allclose(img[0], [[0, 0, 0], [1, 1, 1]], atol=1e-6)


def test_jpeg_exif_orientation_6_is_applied(tmp_path):
    rgb = np.zeros((10, 20, 3), np.uint8)
    rgb[:, :10] = [255, 0, 0]   # left half red
    rgb[:, 10:] = [0, 0, 255]   # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(tmp_path / "rot.jpg", exif=exif, quality=95)
    img = read_image(tmp_path / "rot.jpg")
    assert img.shape == (20, 10, 3)
    # rotated 90 degrees clockwise: the left (red) half is now on top
    assert img[2, 5, 0] > 0.8 and img[2, 5, 2] < 0.2
    assert img[17, 5, 2] > 0.8 and img[17, 5, 0] < 0.2


def test_orientation_table_matches_pillow():
    arr = np.arange(6, dtype=np.uint8).reshape(2, 3)
    methods = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
               4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
               6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}
    for o, m in methods.items():
        np.testing.assert_array_equal(aio._ORIENT[o](arr), np.asarray(Image.fromarray(arr).transpose(m)))


# ---------------------------------------------------------------- reading: bad files

def _assert_read_error(path, **kw):
    with pytest.raises(ImageReadError) as ei:
        read_image(path, **kw)
    assert ei.value.path == str(path)
    assert str(ei.value) == f"{path}: {ei.value.reason}"
    assert isinstance(ei.value, ValueError)
    return ei.value


def test_missing_file(tmp_path):
    err = _assert_read_error(tmp_path / "nope.png")
    assert "not found" in err.reason


def test_directory_is_not_an_image(tmp_path):
    (tmp_path / "dir.png").mkdir()
    _assert_read_error(tmp_path / "dir.png")


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    err = _assert_read_error(tmp_path / "empty.png")
    assert "empty" in err.reason


def test_text_file_named_png(tmp_path):
    (tmp_path / "notes.png").write_text("this is not an image\n" * 20)
    err = _assert_read_error(tmp_path / "notes.png")
    assert "not a recognised image" in err.reason


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_truncated_file(tmp_path, ext):
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    full = tmp_path / f"full{ext}"
    Image.fromarray(noisy).save(full)
    data = full.read_bytes()
    cut = tmp_path / f"cut{ext}"
    cut.write_bytes(data[: len(data) // 2])
    assert read_image(full).shape == (64, 64, 3)
    err = _assert_read_error(cut)
    assert "truncated" in err.reason


def test_truncated_16bit_png(tmp_path):
    rng = np.random.default_rng(1)
    cv2.imwrite(str(tmp_path / "full.png"), rng.integers(0, 65536, (64, 64, 3), dtype=np.uint16))
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    _assert_read_error(tmp_path / "cut.png")


def test_max_pixels_exceeded(tmp_path):
    Image.fromarray(_rgb_pattern(50, 40)).save(tmp_path / "big.png")
    assert read_image(tmp_path / "big.png", max_pixels=2000).shape == (50, 40, 3)  # exactly at the limit
    err = _assert_read_error(tmp_path / "big.png", max_pixels=1999)
    assert "1999" in err.reason and "40x50" in err.reason


def test_max_pixels_checked_before_decoding(tmp_path):
    # header intact, pixel data cut off: a size error (not a decode error) proves the header check
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (60, 60, 3), dtype=np.uint8)).save(tmp_path / "f.png")
    data = (tmp_path / "f.png").read_bytes()
    (tmp_path / "h.png").write_bytes(data[:200])
    err = _assert_read_error(tmp_path / "h.png", max_pixels=100)
    assert "max_pixels=100" in err.reason
    assert "truncated" in _assert_read_error(tmp_path / "h.png").reason


def test_pillow_decompression_bomb_does_not_leak(tmp_path, monkeypatch):
    Image.fromarray(_rgb_pattern(100, 100)).save(tmp_path / "b.png")  # 10,000 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 6000)  # 10,000 > 6,000: Pillow would warn
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_image(tmp_path / "b.png").shape == (100, 100, 3)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 10,000 > 2 * 1,000: Pillow would raise
    _assert_read_error(tmp_path / "b.png")


def test_read_image_or_none(tmp_path):
    Image.fromarray(_rgb_pattern()).save(tmp_path / "ok.png")
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8garbage")
    img, reason = read_image_or_none(tmp_path / "ok.png")
    assert reason is None and img.shape == (16, 24, 3)
    img, reason = read_image_or_none(tmp_path / "bad.jpg")
    assert img is None and isinstance(reason, str) and reason
    img, reason = read_image_or_none(tmp_path / "ok.png", max_pixels=10)
    assert img is None and "max_pixels=10" in reason


# ---------------------------------------------------------------- names, writing

def test_non_ascii_name_with_spaces(tmp_path):
    rgb = _rgb_pattern()
    path = tmp_path / "漫画 フォルダ" / "ページ 1.png"
    write_image(path, rgb)
    assert path.is_file()
    np.testing.assert_allclose(read_image(path), rgb / 255.0, atol=1e-6)
    assert find_images(tmp_path) == [str(path)]


def test_write_uint8_exact_and_float_rounding(tmp_path):
    rgb = _rgb_pattern()
    write_image(tmp_path / "u8.png", rgb)
    np.testing.assert_array_equal(_pil_mode_and_pixels(tmp_path / "u8.png")[1], rgb)
    write_image(tmp_path / "f.png", rgb / 255.0)
    np.testing.assert_array_equal(_pil_mode_and_pixels(tmp_path / "f.png")[1], rgb)


def test_write_clips_and_handles_nan(tmp_path):
    write_image(tmp_path / "c.png", np.array([[[-1.0, 2.0, 0.5], [np.nan, 1.0, 0.0]]]))
    np.testing.assert_array_equal(_pil_mode_and_pixels(tmp_path / "c.png")[1], [[[0, 255, 128], [0, 255, 0]]])


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1)])
def test_write_gray(tmp_path, shape):
    gray = np.linspace(0, 1, 35).reshape(shape)
    write_image(tmp_path / "g.png", gray)
    assert _pil_mode_and_pixels(tmp_path / "g.png")[0] == "L"
    img = read_image(tmp_path / "g.png")
    assert img.shape == (5, 7, 3)
    np.testing.assert_allclose(img[..., 1], gray.reshape(5, 7), atol=0.5 / 255 + 1e-6)


@pytest.mark.parametrize("ext", [".jpg", ".jpeg", ".JPG", ".webp", ".bmp"])
def test_write_other_formats(tmp_path, ext):
    rgb = _rgb_pattern()
    write_image(tmp_path / f"o{ext}", rgb)
    img = read_image(tmp_path / f"o{ext}")
    assert img.shape == rgb.shape
    assert np.abs(img - rgb / 255.0).mean() < 0.02
    assert img[..., 0].mean() == pytest.approx((rgb[..., 0] / 255.0).mean(), abs=0.02)  # RGB order kept


def test_write_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="extension"):
        write_image(tmp_path / "x.tiff", np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="shape"):
        write_image(tmp_path / "x.png", np.zeros((2, 2, 4)))
    with pytest.raises(ValueError, match="dtype"):
        write_image(tmp_path / "x.png", np.zeros((2, 2, 3), np.uint16))
    assert os.listdir(tmp_path) == []


def test_write_creates_parents_and_leaves_no_temp_files(tmp_path):
    out = tmp_path / "a" / "b" / "out.png"
    write_image(out, np.zeros((3, 3, 3)))
    write_image(out, np.ones((3, 3, 3)))  # overwrite
    assert os.listdir(out.parent) == ["out.png"]
    np.testing.assert_allclose(read_image(out), 1.0)


def test_write_is_atomic_when_replace_fails(tmp_path, monkeypatch):
    out = tmp_path / "out.png"
    write_image(out, np.zeros((3, 3, 3)))
    before = out.read_bytes()

    def boom(src, dst):
        raise OSError("simulated crash")

    monkeypatch.setattr(aio.os, "replace", boom)
    with pytest.raises(OSError, match="simulated"):
        write_image(out, np.ones((3, 3, 3)))
    assert out.read_bytes() == before
    assert os.listdir(tmp_path) == ["out.png"]


# ---------------------------------------------------------------- find_images

def test_find_images_recursive_sorted_filtered(tmp_path):
    names = ["b.png", "a/z.JPG", "a/c/d.webp", "A.jpeg", "a/b.Png", "e.bmp"]
    for n in names:
        (tmp_path / n).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / n).write_bytes(b"x")
    for n in ["notes.txt", "x.png.bak", ".hidden.png", ".cache/k.png", "a/.git/l.jpg", "noext"]:
        (tmp_path / n).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / n).write_bytes(b"x")
    expected = [str(tmp_path / n) for n in ["A.jpeg", "a/b.Png", "a/c/d.webp", "a/z.JPG", "b.png", "e.bmp"]]
    assert find_images(tmp_path) == expected
    assert find_images(str(tmp_path)) == expected


def test_find_images_single_file_and_errors(tmp_path):
    f = tmp_path / "one.PNG"
    f.write_bytes(b"x")
    assert find_images(f) == [str(f)]
    (tmp_path / "t.txt").write_text("x")
    with pytest.raises(ValueError):
        find_images(tmp_path / "t.txt")
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "readme.txt").write_text("x")
    with pytest.raises(ValueError) as ei:
        find_images(empty)
    assert str(empty) in str(ei.value) and ".png" in str(ei.value)
    with pytest.raises(FileNotFoundError) as ei:
        find_images(tmp_path / "missing")
    assert "missing" in str(ei.value)


def test_16bit_gray_tiff_via_pillow(tmp_path):
    # not a listed extension, but read_image reads any format Pillow decodes; Pillow keeps I;16
    Image.fromarray(np.array([[65535, 32768, 0]], np.uint16)).save(tmp_path / "g16.tif")
    img = read_image(tmp_path / "g16.tif")
    np.testing.assert_allclose(img[0, :, 1], [1.0, 32768 / 65535, 0.0], atol=1e-6)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_exif_orientation_is_applied(tmp_path, dtype):
    gray = np.zeros((4, 6), dtype)
    gray[:, :3] = np.iinfo(dtype).max  # left half white
    exif = Image.Exif()
    exif[0x0112] = 8  # rotate 90 degrees counter-clockwise
    Image.fromarray(gray).save(tmp_path / "o.png", exif=exif)
    img = read_image(tmp_path / "o.png")
    assert img.shape == (6, 4, 3)
    # counter-clockwise: the left (white) half ends up at the bottom
    np.testing.assert_allclose(img[3:, :, 0], 1.0)
    np.testing.assert_allclose(img[:3, :, 0], 0.0)
