"""Tests for anime_colorize.regions.matching: colour a drawing like a coloured key (issue #13).

The built-in generator draws one character twice, alone on white paper like a sprite
(make_cel_variant(plain=True): as drawn, the key; in another pose, the drawing); the
drawing is a line drawing of the variant, mirrored, scaled, shifted or cropped onto a canvas of another size, and the colours
must come back from the key.
"""
import logging

import cv2
import numpy as np
import pytest
from skimage.color import deltaE_ciede2000, rgb2lab

from anime_colorize import color
from anime_colorize.data.io import write_image
from anime_colorize.data.lineart import extract_lines
from anime_colorize.data.synthetic import Pose, make_cel_image, make_cel_variant
from anime_colorize.regions import Regions, hint_colors, matching, paint, pool, segment

SIZE = 128
SEED = 5
POSE = Pose(head_angle=0.2, eyes_closed=True)


def place(rgb, canvas, scale=1.0, offset=(0, 0), mirror=False):
    """``rgb`` (uint8) mirrored, scaled and put at ``offset`` (y, x) on a white canvas of
    shape ``canvas`` (cropped where it does not fit). Returns (picture uint8, mask bool of
    the picture's pixels)."""
    if mirror:
        rgb = rgb[:, ::-1]
    h, w = rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    rgb = cv2.resize(np.ascontiguousarray(rgb), size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    out = np.full(canvas + (3,), 255, np.uint8)
    mask = np.zeros(canvas, bool)
    oy, ox = offset
    y0, x0 = max(oy, 0), max(ox, 0)
    y1, x1 = min(oy + size[1], canvas[0]), min(ox + size[0], canvas[1])
    out[y0:y1, x0:x1] = rgb[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    mask[y0:y1, x0:x1] = True
    return out, mask


def colour_of(regions, match):
    """The matched colouring in Lab (flats only), unmatched regions at 0."""
    return matching.reference_lab(regions, match, matching.reference_flats(regions, match), shading=False)


def region_accuracy(truth_rgb, out_lab, regions, mask):
    """Area-weighted share of the drawing's regions (on ``mask``) whose output median is
    within CIEDE2000 10 of the truth's median there."""
    labels = np.where(mask, regions.labels, regions.count)
    sub = Regions.from_labels(labels, regions.lines)
    truth = pool(sub, rgb2lab(truth_rgb))
    out = pool(sub, out_lab)
    inside = np.unique(np.searchsorted(np.unique(labels), labels[mask]))
    ok = deltaE_ciede2000(truth[inside], out[inside]) <= 10
    area = sub.area[inside]
    return float((ok * area).sum() / area.sum())


@pytest.fixture(scope="module")
def key():
    return matching.prepare_key(make_cel_variant(0, SIZE, SEED, plain=True), name="key.png")


def drawing(canvas=(SIZE, SIZE), **placement):
    truth, mask = place(make_cel_variant(0, SIZE, SEED, POSE, plain=True), canvas, **placement)
    return truth, mask, segment(extract_lines(truth, "xdog"))


@pytest.mark.parametrize("placement", [
    dict(),
    dict(mirror=True),
    dict(canvas=(150, 110), scale=0.7, offset=(30, 12)),  # another size and aspect ratio, padded
    dict(scale=1.3, offset=(-20, -25), mirror=True),  # zoomed in: cropped on every side
], ids=["pose", "mirrored", "smaller+shifted", "larger+cropped+mirrored"])
def test_colours_come_back_from_the_key(key, placement):
    truth, mask, regions = drawing(**placement)
    match = matching.match_regions(regions, key)
    accuracy = region_accuracy(truth, colour_of(regions, match), regions, mask)
    # The key's median colour everywhere (a palette without places) for comparison.
    everywhere = np.broadcast_to(np.median(key.lab.reshape(-1, 3), axis=0), truth.shape)
    baseline = region_accuracy(truth, everywhere, regions, mask)
    assert accuracy >= 0.9, (accuracy, baseline)
    assert baseline < 0.6
    assert match.alignments[0].mirror == placement.get("mirror", False)
    assert match.alignments[0].scale == pytest.approx(placement.get("scale", 1.0), rel=0.05)


def test_alignment_recovers_a_known_similarity(key):
    alignment = matching.align(key, extract_lines(place(make_cel_variant(0, SIZE, SEED, plain=True), (140, 170),
                                                        scale=0.8, offset=(12, 40), mirror=True)[0]),
                               flow=False)
    assert alignment.mirror
    assert alignment.scale == pytest.approx(0.8, rel=0.03)
    # Key pixel (x, y) -> drawing (offset_x + scale * x', ...) with x' the mirrored x.
    assert alignment.offset_x == pytest.approx(40, abs=2.5)
    assert alignment.offset_y == pytest.approx(12, abs=2.5)
    assert alignment.fit > 0.9


@pytest.mark.parametrize("key_size", [64, 300])
def test_keys_of_any_size(key_size):
    small_or_large = matching.prepare_key(make_cel_variant(0, key_size, SEED, plain=True))
    truth, mask, regions = drawing(mirror=True)
    match = matching.match_regions(regions, small_or_large)
    assert region_accuracy(truth, colour_of(regions, match), regions, mask) >= 0.85
    assert match.alignments[0].scale == pytest.approx(SIZE / key_size, rel=0.05)


def test_opaque_pixels_of_an_rgba_key_are_the_character():
    rgb = make_cel_variant(0, SIZE, SEED, plain=True).astype(np.float32) / 255
    alpha = np.zeros((SIZE, SIZE, 1), np.float32)
    alpha[20:100, 30:90] = 1.0
    key = matching.prepare_key(np.concatenate([rgb, alpha], axis=-1))
    assert key.figure.sum() == 80 * 60
    assert np.allclose(key.lab[0, 0], [100, 0, 0], atol=0.5)  # transparent = white paper


def abstract_key(size=SIZE):
    """A coloured picture with nothing of a character: discs and bars in strong colours."""
    rng = np.random.default_rng(3)
    out = np.full((size, size, 3), 255, np.uint8)
    for _ in range(12):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            cv2.circle(out, tuple(int(v) for v in rng.integers(0, size, 2)), int(rng.integers(5, size // 4)), colour, -1)
        else:
            x, y = (int(v) for v in rng.integers(0, size, 2))
            cv2.rectangle(out, (x, y), (x + int(rng.integers(5, 40)), y + int(rng.integers(5, 40))), colour, -1)
    return out


def test_a_key_that_matches_nothing_falls_back_with_a_warning(caplog):
    unrelated = matching.prepare_key(abstract_key(), name="shapes.png")
    _, _, regions = drawing()
    with caplog.at_level(logging.WARNING, logger="anime_colorize.regions.matching"):
        match = matching.match_regions(regions, unrelated, name="page 7.png")
    assert not match.matched.any()
    assert (match.key_index == -1).all() and (match.flat_lab == 0).all()
    text = caplog.text
    assert "page 7.png: key shapes.png does not fit" in text
    assert f"page 7.png: the key matched only 0 of {regions.count} regions" in text


def test_several_keys_take_the_best_match(key):
    unrelated = matching.prepare_key(abstract_key(), name="shapes.png")
    truth, mask, regions = drawing(mirror=True)
    match = matching.match_regions(regions, [unrelated, key])
    area = regions.area
    assert area[match.key_index == 1].sum() > 0.9 * area.sum()
    assert region_accuracy(truth, colour_of(regions, match), regions, mask) >= 0.9


def test_a_gray_key_is_refused_with_a_clear_message():
    gray = cv2.cvtColor(cv2.cvtColor(make_cel_variant(0, SIZE, SEED, plain=True), cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    with pytest.raises(ValueError, match=r"page\.png: the key picture has no colour"):
        matching.prepare_key(gray, name="page.png")


@pytest.mark.parametrize("bad", [np.zeros((8, 8)), np.zeros((8, 8, 2)), np.full((8, 8, 3), np.nan),
                                 np.zeros((0, 4, 3))])
def test_bad_key_pictures(bad):
    with pytest.raises(ValueError):
        matching.prepare_key(bad)


def test_bad_arguments(key):
    _, _, regions = drawing()
    with pytest.raises(ValueError, match="non-empty"):
        matching.match_regions(regions, [])
    with pytest.raises(ValueError, match="Key"):
        matching.match_regions(regions, [make_cel_variant(0, SIZE, SEED, plain=True)])
    with pytest.raises(ValueError, match="min_confidence"):
        matching.match_regions(regions, key, min_confidence=1.5)


def test_matching_is_deterministic(key):
    _, _, regions = drawing(mirror=True)
    a, b = matching.match_regions(regions, key), matching.match_regions(regions, key)
    np.testing.assert_array_equal(a.key_region, b.key_region)
    np.testing.assert_array_equal(a.flat_lab, b.flat_lab)
    np.testing.assert_array_equal(a.shading, b.shading)


def test_shading_is_carried_from_the_key():
    # A key whose one big region is lit from the left: the drawing gets the same gradient.
    h, w = 96, 96
    rgb = np.full((h, w, 3), 255, np.uint8)
    ramp = np.linspace(120, 220, 60).astype(np.uint8)
    rgb[18:78, 18:78, 0] = ramp[None, :]
    rgb[18:78, 18:78, 1] = 60
    rgb[18:78, 18:78, 2] = 60
    cv2.rectangle(rgb, (17, 17), (78, 78), (0, 0, 0), 1)
    key = matching.prepare_key(rgb)
    lines = extract_lines(rgb, "xdog")
    regions = segment(lines)
    match = matching.match_regions(regions, key)
    lab = matching.reference_lab(regions, match, matching.reference_flats(regions, match))
    inside = lab[30:66, 30:66, 0]
    assert inside[:, -1].mean() - inside[:, 0].mean() > 8  # lighter on the right, as the key
    np.testing.assert_allclose(lab[24:72, 24:72], key.lab[24:72, 24:72], atol=1.0)
    flat = matching.reference_lab(regions, match, matching.reference_flats(regions, match), shading=False)
    assert np.ptp(flat[30:66, 30:66, 0]) < 1e-3


def test_priorities_hints_over_key_over_network():
    labels = np.zeros((20, 30), np.int32)
    labels[:, 10:20] = 1
    labels[:, 20:] = 2
    regions = Regions.from_labels(labels, np.ones((20, 30), np.float32))
    key_colour = np.array([50.0, 40.0, -20.0], np.float32)
    flat_lab = np.zeros((20, 30, 3), np.float32)
    flat_lab[labels <= 1] = key_colour  # regions 0 and 1 matched, region 2 not
    match = matching.Match(
        key_index=np.array([0, 0, -1], np.int32), key_region=np.array([4, 4, -1], np.int32),
        confidence=np.array([1.0, 1.0, 0.1], np.float32), colors=np.array([key_colour, key_colour, [0, 0, 0]], np.float32),
        matched=np.array([True, True, False]), split=np.zeros(3, bool), flat_lab=flat_lab,
        shading=np.zeros((20, 30, 3), np.float32), alignments=())
    network = np.broadcast_to(np.array([70.0, -10.0, 10.0], np.float32), (20, 30, 3))
    hint_lab = np.zeros((20, 30, 3), np.float32)
    hint_mask = np.zeros((20, 30), np.float32)
    hint_lab[5, 15] = [30.0, 0.0, 60.0]
    hint_mask[5, 15] = 1.0  # a hint in region 1
    flats = matching.reference_flats(regions, match, network, hint_lab, hint_mask)
    np.testing.assert_allclose(flats[0], key_colour)
    np.testing.assert_allclose(flats[1], [30.0, 0.0, 60.0])
    np.testing.assert_allclose(flats[2], [70.0, -10.0, 10.0])
    _, hinted = hint_colors(regions, hint_lab, hint_mask)
    lab = matching.reference_lab(regions, match, flats, hinted)
    np.testing.assert_allclose(lab, paint(regions, flats))
    # K predictions at once
    assert matching.reference_flats(regions, match, np.stack([network, network])).shape == (2, 3, 3)


def test_chain_a_result_becomes_a_key(key):
    truth, mask, regions = drawing(mirror=True)
    first = matching.match_regions(regions, key)
    chain = matching.KeyChain([], keep_results=2)
    result = chain.add(regions, colour_of(regions, first), name="page 1")
    assert result is not None and chain.keys == [result]
    # The next page, matched to the first page's result only, gets the key's colours.
    nxt, nmask = place(make_cel_variant(0, SIZE, SEED, Pose(head_angle=-0.1), plain=True), (SIZE, SIZE), scale=0.9, offset=(8, 4))
    next_regions = segment(extract_lines(nxt, "xdog"))
    match = matching.match_regions(next_regions, chain.keys)
    assert region_accuracy(nxt, colour_of(next_regions, match), next_regions, nmask) >= 0.85
    for n in range(3):
        chain.add(regions, colour_of(regions, first), name=f"page {n + 2}")
    assert [k.name for k in chain.keys] == ["page 3", "page 4"]
    gray = np.zeros(regions.shape + (3,), np.float32)
    gray[..., 0] = 50.0
    assert chain.add(regions, gray, name="gray") is None


def test_load_keys_skips_bad_files_and_names_them(tmp_path, caplog):
    write_image(tmp_path / "a_good.png", make_cel_image(0, 64, SEED))
    (tmp_path / "b_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    gray = np.full((64, 64, 3), 0.5, np.float32)
    write_image(tmp_path / "c_gray.png", gray)
    with caplog.at_level(logging.WARNING, logger="anime_colorize.regions.matching"):
        keys = matching.load_keys(tmp_path)
    assert [k.name for k in keys] == ["a_good.png"]
    assert "b_corrupt.png" in caplog.text and "c_gray.png" in caplog.text
    (tmp_path / "a_good.png").unlink()
    with pytest.raises(ValueError, match="no usable key"):
        matching.load_keys(tmp_path)


def test_the_keys_colouring_as_layers_and_as_a_prediction(key):
    truth, mask, regions = drawing(mirror=True)
    match = matching.match_regions(regions, key)
    flats = matching.reference_flats(regions, match)
    layers, picture = matching.reference_colouring(regions, match, flats)
    shaded = matching.reference_lab(regions, match, flats)
    np.testing.assert_allclose(picture, color.lab_to_rgb_np(shaded) * regions.lines[..., None], atol=1e-6)
    assert layers.flat.shape == truth.shape and layers.shade.shape == regions.shape
    assert layers.shade.max() <= 1.0
    # As a prediction: matched pixels carry the keys' colours, the others the network's.
    network = np.full(regions.shape + (3,), 33.0, np.float32)
    given = matching.reference_colors(regions, match, network)
    pixels = match.matched[regions.labels]
    np.testing.assert_allclose(given[pixels], (match.flat_lab + match.shading)[pixels])
    np.testing.assert_allclose(given[~pixels], 33.0)
    assert matching.reference_colors(regions, match, np.stack([network] * 2)).shape == (2,) + network.shape
    # Pooled per region, it gives the matched regions their key colours (no split here).
    pooled = pool(regions, matching.reference_colors(regions, match, network, shading=False))
    plain = match.matched & ~match.split
    np.testing.assert_allclose(pooled[plain], match.colors[plain], atol=1e-4)


def test_key_line_drawings():
    rgb = make_cel_variant(0, SIZE, SEED, plain=True)
    gray_lines = matching.prepare_key(rgb, lines="gray")
    xdog_lines = matching.prepare_key(rgb)
    assert gray_lines.regions.count != xdog_lines.regions.count
    with pytest.raises(ValueError, match="unknown key line drawing"):
        matching.prepare_key(rgb, lines="canny")


def test_a_symmetric_drawing_refines_both_orientations(monkeypatch):
    rgb = np.full((96, 96, 3), 255, np.uint8)
    cv2.circle(rgb, (48, 48), 30, (200, 60, 60), -1)
    cv2.circle(rgb, (48, 48), 30, (0, 0, 0), 2)
    for x in (36, 60):
        cv2.circle(rgb, (x, 42), 5, (40, 40, 200), -1)
    key = matching.prepare_key(rgb)
    refined = []
    original = matching._refine
    monkeypatch.setattr(matching, "_refine", lambda *a, **k: refined.append(a[2][1]) or original(*a, **k))
    alignment = matching.align(key, extract_lines(rgb, "xdog"))
    assert sorted(refined) == [False, True]  # both orientations tie, both are refined
    assert alignment.fit > 0.95 and alignment.scale == pytest.approx(1.0, rel=0.03)


@pytest.mark.parametrize("lines", [np.ones((1, 1)), np.ones((40, 40)), np.zeros((40, 40)), np.ones((5, 300)),
                                   np.random.default_rng(0).random((60, 60))],
                         ids=["1x1", "white", "black", "5x300", "noise"])
def test_pages_that_are_no_drawing_of_the_key_match_nothing(key, lines):
    regions = segment(lines.astype(np.float32))
    match = matching.match_regions(regions, key)
    assert not match.matched.any()
    lab = matching.reference_lab(regions, match, matching.reference_flats(regions, match))
    assert lab.shape == regions.shape + (3,) and np.isfinite(lab).all()


def test_a_huge_key_is_reduced(monkeypatch):
    monkeypatch.setattr(matching, "KEY_MAX_SIDE", 100)
    rgba = np.zeros((150, 300, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[40:110, 100:200, 3] = 255
    key = matching.prepare_key(rgba)
    assert key.shape == (50, 100) and key.lab.shape == (50, 100, 3)
    assert key.figure.sum() == pytest.approx(70 * 100 / 9, rel=0.1)  # alpha reduced with the picture
