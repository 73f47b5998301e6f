"""``colorize --reference KEY|DIR`` and ``--propagate`` (issue #13): colours carried from a
coloured key to other drawings, through the command.

The built-in generator draws one character twice (make_cel_variant, alone on white paper): as
drawn, the key in colour; in another pose, a drawing whose line art is mirrored, scaled or
shifted onto a canvas of another size. The model is tiny and untrained, so every colour that
comes out right came from the key.
"""
import json

import cv2
import numpy as np
import pytest
from skimage.color import deltaE_ciede2000, rgb2lab

from anime_colorize import colorize
from anime_colorize.data.io import read_image, write_image
from anime_colorize.data.lineart import extract_lines
from anime_colorize.data.synthetic import Pose, make_cel_variant

SIZE = 128
SEED = 5
POSE = Pose(head_angle=0.2, eyes_closed=True)


@pytest.fixture
def models(tiny_model):
    return {"lineart": tiny_model("lineart"), "gray": tiny_model("gray", hints=False)}


def place(rgb, canvas, scale=1.0, offset=(0, 0), mirror=False):
    """``rgb`` uint8 mirrored, scaled and put at ``offset`` (y, x) on a white canvas of shape
    ``canvas``. Returns (picture float, mask of the character's pixels)."""
    if mirror:
        rgb = rgb[:, ::-1]
    h, w = rgb.shape[:2]
    size = (round(w * scale), round(h * scale))
    rgb = cv2.resize(np.ascontiguousarray(rgb), size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    out = np.full(canvas + (3,), 255, np.uint8)
    oy, ox = offset
    y0, x0, y1, x1 = max(oy, 0), max(ox, 0), min(oy + size[1], canvas[0]), min(ox + size[0], canvas[1])
    out[y0:y1, x0:x1] = rgb[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    picture = out.astype(np.float32) / 255.0
    return picture, picture.min(axis=-1) < 0.95  # the character: what is not white paper


TARGETS = {  # name -> placement of the character in another pose
    "pose": dict(canvas=(SIZE, SIZE)),
    "mirrored": dict(canvas=(SIZE, SIZE), mirror=True),
    "scaled+shifted": dict(canvas=(150, 110), scale=0.7, offset=(30, 12)),
}


def write_targets(folder, names=TARGETS):
    """Line drawings of the character in POSE, placed as :data:`TARGETS` says; returns
    {file stem: (truth float RGB, character mask)}."""
    folder.mkdir(parents=True, exist_ok=True)
    truths = {}
    for name in names:
        truth, mask = place(make_cel_variant(0, SIZE, SEED, POSE, plain=True), **TARGETS[name])
        write_image(folder / f"{name}.png", extract_lines(truth, "xdog"))
        truths[name] = truth, mask
    return truths


def write_key(path, size=SIZE):
    write_image(path, make_cel_variant(0, size, SEED, plain=True))
    return path


def character_error(truth, mask, out):
    """Mean CIEDE2000 over the character's paper pixels (the lines are no colour)."""
    paper = mask & (extract_lines(truth, "xdog") > 0.5)
    return float(deltaE_ciede2000(rgb2lab(truth)[paper], rgb2lab(out)[paper]).mean())


def run(models, *args, model="lineart"):
    return colorize.main(["--model", str(models[model]), "--quiet"] + [str(a) for a in args])


def test_colours_come_back_from_the_key_mirrored_scaled_shifted(models, tmp_path):
    """A key of another size (200 px) than the drawings; every target is coloured like the
    key, and far better than with the network alone or with the key as a histogram."""
    truths = write_targets(tmp_path / "lines")
    key = write_key(tmp_path / "key.png", size=200)
    assert run(models, "--input", tmp_path / "lines", "--reference", key, "--out", tmp_path / "keyed") == 0
    assert run(models, "--input", tmp_path / "lines", "--reference", key, "--reference-mode", "histogram",
               "--out", tmp_path / "histogram") == 0
    for name, (truth, mask) in truths.items():
        keyed = read_image(tmp_path / "keyed" / f"{name}.png")
        assert keyed.shape == truth.shape
        error = character_error(truth, mask, keyed)
        palette_only = character_error(truth, mask, read_image(tmp_path / "histogram" / f"{name}.png"))
        assert error < 8.0, (name, error)
        assert palette_only > error + 10.0, (name, error, palette_only)


def test_hints_override_the_key(models, tmp_path):
    truths = write_targets(tmp_path / "lines", ["pose"])
    truth, mask = truths["pose"]
    key = write_key(tmp_path / "key.png")
    # A point in the middle of the character's largest paper area, in a colour the key lacks.
    paper = (mask & (extract_lines(truth, "xdog") > 0.5)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(paper, connectivity=4)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    ys, xs = np.nonzero(labels == biggest)
    y, x = int(ys[len(ys) // 2]), int(xs[len(xs) // 2])
    (tmp_path / "hint.json").write_text(json.dumps({"points": [{"x": x, "y": y, "rgb": [0, 200, 0], "size": 1}]}))
    out = tmp_path / "out.png"
    assert run(models, "--input", tmp_path / "lines" / "pose.png", "--reference", key, "--hints",
               tmp_path / "hint.json", "--out", out) == 0
    picture = read_image(out)
    assert deltaE_ciede2000(rgb2lab(picture[y, x]), rgb2lab(np.array([0, 200, 0], np.float32) / 255)) < 5
    # elsewhere the key still colours the drawing
    rest = mask & (labels != biggest) & (extract_lines(truth, "xdog") > 0.5)
    assert deltaE_ciede2000(rgb2lab(truth)[rest], rgb2lab(picture)[rest]).mean() < 8


def test_a_gray_model_takes_the_keys_colours_in_flat_mode(models, tmp_path):
    """A gray model's input is a gray picture (here of the character in another pose,
    mirrored): it keeps its own lightness, and the hue and chroma come from the key."""
    truth, mask = place(make_cel_variant(0, SIZE, SEED, POSE, plain=True), **TARGETS["mirrored"])
    write_image(tmp_path / "gray.png", np.repeat(truth.mean(axis=-1, keepdims=True), 3, axis=-1))
    key = write_key(tmp_path / "key.png")
    out, alone = tmp_path / "out.png", tmp_path / "alone.png"
    assert run(models, "--input", tmp_path / "gray.png", "--reference", key, "--out", out, model="gray") == 0
    assert run(models, "--input", tmp_path / "gray.png", "--mode", "flat", "--out", alone, model="gray") == 0
    truth_ab = rgb2lab(truth)[mask][:, 1:]
    keyed = np.abs(truth_ab - rgb2lab(read_image(out))[mask][:, 1:]).mean()
    network = np.abs(truth_ab - rgb2lab(read_image(alone))[mask][:, 1:]).mean()
    assert keyed < 6 and network > keyed + 10, (keyed, network)


def test_a_gray_key_gets_a_clear_message(models, tmp_path, capsys):
    write_targets(tmp_path / "lines", ["pose"])
    gray = make_cel_variant(0, SIZE, SEED, plain=True).mean(axis=-1).astype(np.uint8)
    write_image(tmp_path / "gray key.png", np.repeat(gray[..., None], 3, axis=-1))
    code = run(models, "--input", tmp_path / "lines" / "pose.png", "--reference", tmp_path / "gray key.png",
               "--out", tmp_path / "o.png")
    err = capsys.readouterr().err
    assert code == 2 and "gray key.png" in err and "no colour" in err and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_a_folder_of_keys_skips_and_names_a_corrupt_one(models, tmp_path, capsys):
    truths = write_targets(tmp_path / "lines", ["scaled+shifted"])
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a picture")
    write_image(keys / "shapes.png", np.tile(np.array([[[1.0, 0.2, 0.2]], [[0.2, 0.2, 1.0]]], np.float32),
                                             (40, 80, 1)))  # a coloured picture of nothing: never fits
    write_key(keys / "character.png", size=96)
    out = tmp_path / "out.png"
    code = run(models, "--input", tmp_path / "lines" / "scaled+shifted.png", "--reference", keys, "--out", out)
    err = capsys.readouterr().err
    assert code == 0 and "skipping key" in err and "broken.png" in err and "shapes.png does not fit" in err
    truth, mask = truths["scaled+shifted"]
    assert character_error(truth, mask, read_image(out)) < 8.0


def test_a_key_that_matches_nothing_falls_back_to_the_network_with_a_warning(models, tmp_path, capsys):
    write_targets(tmp_path / "lines", ["pose"])
    rng = np.random.default_rng(0)
    shapes = np.ones((90, 90, 3), np.float32)
    for _ in range(10):
        y, x = rng.integers(0, 70, 2)
        shapes[y:y + 20, x:x + 20] = rng.uniform(0, 1, 3)
    write_image(tmp_path / "shapes.png", shapes)
    out, plain = tmp_path / "out.png", tmp_path / "plain.png"
    assert run(models, "--input", tmp_path / "lines" / "pose.png", "--reference", tmp_path / "shapes.png",
               "--out", out) == 0
    warnings = capsys.readouterr().err
    assert "shapes.png" in warnings and "matched only 0 of" in warnings
    assert run(models, "--input", tmp_path / "lines" / "pose.png", "--mode", "flat", "--out", plain) == 0
    assert np.array_equal(read_image(out), read_image(plain))  # the network's flats, as without a key


def test_propagate_colours_a_folder_in_order_from_its_first_page(models, tmp_path):
    """Pages "page 2" (coloured by a hint layer: the truth as strokes) and "page 10" (another
    pose, mirrored): in natural order page 2 comes first, and page 10 takes its colours."""
    pages = tmp_path / "pages"
    pages.mkdir()
    first, first_mask = place(make_cel_variant(0, SIZE, SEED, plain=True), (SIZE, SIZE))
    write_image(pages / "page 2.png", extract_lines(first, "xdog"))
    second, second_mask = place(make_cel_variant(0, SIZE, SEED, POSE, plain=True), (SIZE, SIZE), mirror=True)
    write_image(pages / "page 10.png", extract_lines(second, "xdog"))
    hints = tmp_path / "hints"
    hints.mkdir()
    strokes = np.concatenate([first, first_mask[..., None].astype(np.float32)], axis=-1)
    from PIL import Image
    Image.fromarray((strokes * 255).round().astype(np.uint8), "RGBA").save(hints / "page 2.png")
    out, alone = tmp_path / "out", tmp_path / "alone"
    assert run(models, "--input", pages, "--hints-dir", hints, "--propagate", "--out", out) == 0
    assert run(models, "--input", pages, "--hints-dir", hints, "--mode", "flat", "--out", alone) == 0
    assert character_error(first, first_mask, read_image(out / "page 2.png")) < 10
    chained = character_error(second, second_mask, read_image(out / "page 10.png"))
    unchained = character_error(second, second_mask, read_image(alone / "page 10.png"))
    assert chained < 10 and unchained > chained + 10, (chained, unchained)


@pytest.mark.parametrize("extra, message", [
    (["--mode", "smooth"], "works with --mode flat"),
    (["--reference-mode", "histogram", "--propagate"], "does not work with --reference-mode histogram"),
])
def test_flags_that_cannot_work_together(models, tmp_path, capsys, extra, message):
    write_targets(tmp_path / "lines", ["pose"])
    key = write_key(tmp_path / "key.png")
    code = run(models, "--input", tmp_path / "lines" / "pose.png", "--reference", key, "--out", tmp_path / "o.png",
               *extra)
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_a_histogram_reference_is_one_picture(models, tmp_path, capsys):
    write_targets(tmp_path / "lines", ["pose"])
    (tmp_path / "keys").mkdir()
    write_key(tmp_path / "keys" / "key.png")
    code = run(models, "--input", tmp_path / "lines" / "pose.png", "--reference", tmp_path / "keys",
               "--reference-mode", "histogram", "--out", tmp_path / "o.png")
    assert code == 2 and "not a folder" in capsys.readouterr().err
