"""Tests for the procedural cel-picture generator (anime_colorize.data.synthetic)."""
import cv2
import numpy as np
import pytest
from skimage.color import rgb2lab

from anime_colorize.data.synthetic import Pose, make_cel_image, make_cel_images, make_cel_variant

# The skin box from the generator's design, widened by a little for 8-bit rounding.
SKIN_LAB_LO = np.array([78.0, 8.0, 12.0])
SKIN_LAB_HI = np.array([90.0, 18.0, 24.0])


@pytest.fixture(scope="module")
def batch():
    """200 pictures at 64 px and their Lab values, shared by the statistical tests."""
    images = make_cel_images(200, size=64, seed=0)
    return images, rgb2lab(images)


@pytest.mark.parametrize("size", [16, 32, 48, 64, 100, 256])
def test_shape_dtype_and_range(size):
    image = make_cel_image(3, size=size, seed=1)
    assert image.shape == (size, size, 3)
    assert image.dtype == np.uint8
    assert image.flags.c_contiguous
    # A real picture, not a blank or saturated canvas.
    assert image.min() < 60 and image.max() > 150


@pytest.mark.parametrize("size", [33, 64])
def test_batch_shape_dtype(size):
    images = make_cel_images(3, size=size, seed=2)
    assert images.shape == (3, size, size, 3)
    assert images.dtype == np.uint8


def test_deterministic_per_seed_index_size():
    np.testing.assert_array_equal(make_cel_image(5, 64, 7), make_cel_image(5, 64, 7))
    assert not np.array_equal(make_cel_image(5, 64, 7), make_cel_image(5, 64, 8))
    assert not np.array_equal(make_cel_image(5, 64, 7), make_cel_image(6, 64, 7))


def test_batch_is_prefix_stable_and_matches_single_images():
    eight = make_cel_images(8, size=48, seed=3)
    np.testing.assert_array_equal(eight[:4], make_cel_images(4, size=48, seed=3))
    for i in (0, 7):
        np.testing.assert_array_equal(eight[i], make_cel_image(i, size=48, seed=3))
    assert not np.array_equal(eight[0], eight[1])
    assert not np.array_equal(eight, make_cel_images(8, size=48, seed=4))


def test_progress_bar_does_not_change_output():
    with_bar = make_cel_images(3, 32, 5, progress=True)
    np.testing.assert_array_equal(with_bar, make_cel_images(3, 32, 5))


def test_same_character_at_every_size():
    # Random draws do not depend on size, so 256 px reduced to 64 px is nearly the 64 px picture.
    for i in range(4):
        small = make_cel_image(i, 64).astype(float)
        reduced = cv2.resize(make_cel_image(i, 256), (64, 64), interpolation=cv2.INTER_AREA)
        other = make_cel_image(i + 10, 64).astype(float)
        assert np.abs(small - reduced).mean() < 12.0
        assert np.abs(small - other).mean() > 25.0


def test_dark_outlines_and_several_flat_colours(batch):
    images, lab = batch
    for image, image_lab in zip(images[:30], lab[:30]):
        dark = image_lab[..., 0] < 25
        assert dark.mean() > 0.03, "outlines and pupils should be dark"
        _, counts = np.unique(image.reshape(-1, 3), axis=0, return_counts=True)
        # Flat regions show as single exact colours covering many pixels.
        assert (counts >= 12).sum() >= 5
    big = rgb2lab(make_cel_image(0, 256))
    assert (big[..., 0] < 25).mean() > 0.03


def test_palette_hues_are_spread_over_the_circle(batch):
    _, lab = batch
    sextants = []
    for image_lab in lab:
        ab = image_lab[..., 1:].reshape(-1, 2)
        chroma = np.hypot(ab[:, 0], ab[:, 1])
        a, b = ab[chroma >= np.quantile(chroma, 0.95)].mean(axis=0)
        sextants.append(int(np.degrees(np.arctan2(b, a)) % 360 // 60))
    share = np.bincount(sextants, minlength=6) / len(sextants)
    assert (share >= 0.04).sum() >= 4, share


def test_lightness_does_not_reveal_palette_hue(batch):
    _, lab = batch
    lightness = lab[..., 0]
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    hue = np.degrees(np.arctan2(lab[..., 2], lab[..., 1])) % 360
    # Within each band of lightness, saturated pixels take hues all around the circle.
    for lo, hi in [(40, 50), (53, 63), (67, 77)]:
        selected = (lightness > lo) & (lightness < hi) & (chroma > 22)
        assert selected.sum() > 10_000
        share = np.bincount((hue[selected] // 60).astype(int), minlength=6) / selected.sum()
        assert (share >= 0.05).sum() >= 5, (lo, hi, share)


def test_skin_is_consistent(batch):
    images, lab = batch
    modes = []
    for image, image_lab in zip(images, lab):
        # Palette colours stay at L <= ~76 and eye whites are nearly grey, so the most
        # common light colour is where skin must show up.
        light = image[image_lab[..., 0] >= 77]
        colours, counts = np.unique(light, axis=0, return_counts=True)
        modes.append(colours[counts.argmax()])
        assert counts.max() >= 0.01 * image.shape[0] * image.shape[1]
    mode_lab = rgb2lab(np.array(modes, np.uint8)[None])[0]
    skin_like = np.all((mode_lab >= SKIN_LAB_LO) & (mode_lab <= SKIN_LAB_HI), axis=1)
    assert skin_like.mean() >= 0.95
    assert mode_lab[skin_like].std(axis=0).max() < 4.0


def test_centre_is_often_skin(batch):
    images, _ = batch
    modes = []
    for image in images:
        colours, counts = np.unique(image[16:40, 20:44].reshape(-1, 3), axis=0, return_counts=True)
        modes.append(colours[counts.argmax()])
    mode_lab = rgb2lab(np.array(modes, np.uint8)[None])[0]
    skin_like = np.all((mode_lab >= SKIN_LAB_LO) & (mode_lab <= SKIN_LAB_HI), axis=1)
    assert skin_like.mean() >= 0.35


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(index=0, size=15),
        dict(index=0, size=0),
        dict(index=0, size=64.5),
        dict(index=0, size="64"),
        dict(index=-1),
        dict(index=0, seed=-3),
    ],
)
def test_make_cel_image_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        make_cel_image(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [dict(num_images=0), dict(num_images=-2), dict(num_images=2, size=8), dict(num_images=1.5)],
)
def test_make_cel_images_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        make_cel_images(**kwargs)


# ------------------------------------------------------------ one character, another pose

def _palette(image: np.ndarray, min_share: float = 0.004) -> set:
    """The flat colours of a picture: RGB triples covering at least ``min_share`` of it."""
    colours, counts = np.unique(image.reshape(-1, 3), axis=0, return_counts=True)
    return {tuple(c) for c in colours[counts >= min_share * len(image.reshape(-1, 3))]}


def test_variant_without_a_change_is_the_picture():
    for index, size, seed in ((0, 64, 0), (7, 100, 3), (11, 48, 9)):
        np.testing.assert_array_equal(make_cel_variant(index, size, seed), make_cel_image(index, size, seed))


@pytest.mark.parametrize("pose", [Pose(head_angle=0.3), Pose(eyes_closed=True), Pose(mouth_open=True),
                                  Pose(mouth_open=False), Pose(head_angle=-0.2, eyes_closed=True)])
def test_a_pose_changes_the_drawing_not_the_character(pose):
    for index in range(6):
        original = make_cel_image(index, 128, 1)
        changed = make_cel_variant(index, 128, 1, pose)
        # The same palette (every large flat colour of the variant is one of the original's,
        # up to 8-bit rounding); an expression alone leaves the body (the bottom rows) as it
        # was (a turned head can swing long hair down there).
        base = np.array(sorted(_palette(original)), float)
        for colour in _palette(changed):
            assert np.abs(base - colour).max(axis=1).min() <= 2
        if not pose.head_angle:
            np.testing.assert_array_equal(changed[-8:], original[-8:])
    assert any(not np.array_equal(make_cel_variant(i, 128, 1, pose), make_cel_image(i, 128, 1)) for i in range(6))


def test_plain_variant_is_the_character_on_white():
    image = make_cel_variant(2, 96, 4, plain=True)
    original = make_cel_image(2, 96, 4)
    corners = np.concatenate([image[:4, :4].reshape(-1, 3), image[:4, -4:].reshape(-1, 3)])
    assert (corners == 255).all()
    assert not (original[:4, :4] == 255).all()
    # The character itself is drawn identically: where the plain picture is not white paper
    # and not an edge against it, it equals the coloured one.
    paper = np.all(image >= 250, axis=-1)
    near_paper = cv2.dilate(paper.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    np.testing.assert_array_equal(image[~near_paper], original[~near_paper])


def test_make_cel_variant_rejects_a_bad_pose():
    with pytest.raises(ValueError, match="Pose"):
        make_cel_variant(0, 64, 0, pose={"head_angle": 0.2})
