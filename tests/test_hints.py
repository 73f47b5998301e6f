"""Tests for colour-hint simulation and loading (anime_colorize.data.hints)."""
import numpy as np
import pytest
import tensorflow as tf

from anime_colorize import color
from anime_colorize.data import hints as H
from anime_colorize.data.synthetic import make_cel_images

SEED = tf.constant([3, 7])
ALL_KINDS = H.HINT_KINDS + ("none", "mix")
RED_AB = color.rgb_to_l_ab(tf.constant([1.0, 0.0, 0.0]))[1].numpy()


@pytest.fixture(scope="module")
def cels():
    """8 built-in cel pictures, float32 (8, 32, 32, 3) in [0, 1]."""
    return tf.constant(make_cel_images(8, 32, seed=11), tf.float32) / 255.0


def _noise(batch, size, seed=0):
    return tf.constant(np.random.default_rng(seed).random((batch, size, size, 3)), tf.float32)


def _true_ab(rgb):
    return color.rgb_to_l_ab(rgb)[1].numpy()


def _roughness(a):
    """Mean absolute discrete Laplacian per image of a (B, H, W, C): large at sharp edges."""
    lap = 4 * a[:, 1:-1, 1:-1] - a[:, 2:, 1:-1] - a[:, :-2, 1:-1] - a[:, 1:-1, 2:] - a[:, 1:-1, :-2]
    return np.abs(lap).mean(axis=(1, 2, 3))


def _check_hints(hints, b, h, w):
    """The network's three keys, and the user's colour lightness hint_l where loaded hints carry it."""
    assert set(hints) - {"hint_l"} == {"hint_ab", "hint_mask", "hint_hist"}
    for key, shape in (("hint_ab", (b, h, w, 2)), ("hint_mask", (b, h, w, 1)), ("hint_hist", (b, 512)),
                       ("hint_l", (b, h, w, 1))):
        if key in hints:
            assert tuple(hints[key].shape) == shape, key
            assert hints[key].dtype == tf.float32, key
    mask, ab = hints["hint_mask"].numpy(), hints["hint_ab"].numpy()
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    assert np.all(ab[np.broadcast_to(mask == 0.0, ab.shape)] == 0.0)
    assert np.abs(ab).max() <= 1.0
    if "hint_l" in hints:
        lightness = hints["hint_l"].numpy()
        assert np.all(lightness[mask == 0.0] == 0.0) and np.abs(lightness).max() <= 1.0


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_shapes_dtypes_and_zero_ab_outside_mask(kind, cels):
    hints = H.simulate(kind, cels, SEED)
    _check_hints(hints, 8, 32, 32)
    if kind in ("points", "scribble", "blur"):
        assert hints["hint_mask"].numpy().sum() > 0
        assert not np.any(hints["hint_hist"].numpy())
    if kind in ("histogram", "reference"):
        np.testing.assert_allclose(hints["hint_hist"].numpy().sum(-1), 1.0, atol=1e-5)
        assert not np.any(hints["hint_mask"].numpy())


def test_empty_hints_and_unknown_kind():
    _check_hints(H.empty_hints(2, 5, 6), 2, 5, 6)
    assert not any(np.any(v.numpy()) for v in H.empty_hints(2, 5, 6).values())
    with pytest.raises(ValueError, match="points.*scribble.*blur.*histogram.*reference"):
        H.simulate("sparkles", _noise(1, 8), SEED)


def test_single_image_gives_unbatched_hints(cels):
    hints = H.simulate("mix", cels[0], SEED)
    assert hints["hint_ab"].shape == (32, 32, 2) and hints["hint_hist"].shape == (512,)


def test_point_colour_is_patch_mean():
    rgb = _noise(16, 24, seed=1)
    hints = H.simulate_points(rgb, SEED, max_points=1, patch_sizes=(3,))
    mask, hint_ab, ab = hints["hint_mask"].numpy()[..., 0], hints["hint_ab"].numpy(), _true_ab(rgb)
    checked = 0
    for i in range(16):
        ys, xs = np.nonzero(mask[i])
        if ys.size == 0:
            continue
        assert ys.size == 9 and np.ptp(ys) == 2 and np.ptp(xs) == 2  # one 3x3 patch
        patch = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
        expected = ab[i][patch].mean(axis=(0, 1))
        np.testing.assert_allclose(hint_ab[i][patch], np.broadcast_to(expected, (3, 3, 2)), atol=1e-5)
        assert np.abs(expected - ab[i][ys[0], xs[0]]).max() > 1e-3  # a mean, not one pixel
        checked += 1
    assert checked >= 8


def test_points_concentrate_near_centre_and_count_varies():
    rgb = _noise(64, 32, seed=2)
    mask = H.simulate_points(rgb, SEED, patch_sizes=(1,))["hint_mask"].numpy()[..., 0]
    counts = mask.sum(axis=(1, 2))
    assert counts.min() == 0 and counts.max() >= 10 and len(np.unique(counts)) >= 8
    assert np.mean(counts <= 5) > 0.3  # many images with few points
    def central_share(m):  # share of hinted pixels in the central half (1/4 of the area)
        _, ys, xs = np.nonzero(m)
        return np.mean((np.abs(ys - 15.5) < 8) & (np.abs(xs - 15.5) < 8))

    assert central_share(mask) > 0.4  # uniform placement would give 0.25
    # A wider spread moves points away from the centre.
    wide = H.simulate_points(rgb, SEED, patch_sizes=(1,), centre_std=1.0)["hint_mask"].numpy()
    assert central_share(wide[..., 0]) < 0.3


def test_scribbles_carry_true_colour(cels):
    hints = H.simulate_scribbles(cels, SEED)
    mask = hints["hint_mask"].numpy()
    assert set(np.unique(mask)) == {0.0, 1.0}
    per_image = mask.mean(axis=(1, 2, 3))
    assert per_image.min() > 0 and per_image.max() < 0.5  # every image has strokes, short ones
    np.testing.assert_allclose(hints["hint_ab"].numpy(), _true_ab(cels) * mask, atol=1e-6)
    assert np.abs(hints["hint_ab"].numpy()).max() > 0.1  # the cels are colourful


def test_scribble_width_and_length():
    rgb = _noise(16, 48)
    thin = H.simulate_scribbles(rgb, SEED, width=1, max_length=0.2)["hint_mask"].numpy().sum()
    thick = H.simulate_scribbles(rgb, SEED, width=4, max_length=0.2)["hint_mask"].numpy().sum()
    longer = H.simulate_scribbles(rgb, SEED, width=1, max_length=0.6)["hint_mask"].numpy().sum()
    assert thick > 2 * thin and longer > 1.5 * thin


def test_blur_whiteouts_and_smoothness(cels):
    red = tf.tile(tf.constant([[[[1.0, 0.0, 0.0]]]]), [8, 32, 32, 1])
    hints = H.simulate_blur(red, SEED)
    mask, ab = hints["hint_mask"].numpy(), hints["hint_ab"].numpy()
    # The blurred white-out picture of a red image is red and white mixed by the coverage.
    mixed = mask * np.array([1.0, 0.0, 0.0]) + (1.0 - mask)
    on = mask[..., 0] > 0
    np.testing.assert_allclose(ab[on], _true_ab(tf.constant(mixed, tf.float32))[on], atol=1e-4)
    assert np.all(mask.min(axis=(1, 2, 3)) < 0.8)  # every image has a white-out
    low, high = mask[..., 0] < 0.15, mask[..., 0] > 0.99
    assert low.sum() > 20 and high.sum() > 20
    assert np.abs(ab[low]).max() < 0.3 * np.abs(RED_AB).max()  # whited out -> near-zero ab
    np.testing.assert_allclose(ab[high], np.broadcast_to(RED_AB, ab[high].shape), atol=0.02)
    # Smooth: far smaller neighbour steps than the sharp-edged cels themselves.
    blurred = H.simulate_blur(cels, SEED)["hint_ab"].numpy()
    true = _true_ab(cels)
    assert np.all(_roughness(blurred) < 0.25 * _roughness(true))


def test_blur_sigma_controls_smoothness(cels):
    sharp = H.simulate_blur(cels, SEED, blur_sigma=0.5)["hint_ab"].numpy()
    soft = H.simulate_blur(cels, SEED, blur_sigma=4.0)["hint_ab"].numpy()
    assert np.all(_roughness(soft) < 0.5 * _roughness(sharp))


def test_colour_histogram():
    rgb = _noise(3, 16)
    hist = H.colour_histogram(rgb).numpy()
    assert hist.shape == (3, 512)
    np.testing.assert_allclose(hist.sum(-1), 1.0, atol=1e-6)
    red = tf.tile(tf.constant([[[[1.0, 0.0, 0.0]]]]), [2, 4, 5, 1])
    hist = H.colour_histogram(red).numpy()
    assert hist[0, 7 * 64] == 1.0 and hist[1, 7 * 64] == 1.0 and hist.sum() == 2.0
    half = tf.concat([red[:, :2], tf.ones_like(red[:, 2:])], axis=1)  # 2 rows red, 2 white
    hist = H.colour_histogram(half).numpy()
    assert hist[0, 7 * 64] == 0.5 and hist[0, 511] == 0.5
    assert H.colour_histogram(red, bins=4).shape == (2, 64)
    np.testing.assert_array_equal(H.simulate_histogram(red, SEED)["hint_hist"], H.colour_histogram(red))
    np.testing.assert_array_equal(H.reference_histogram(red[0]), H.colour_histogram(red[:1]))


@pytest.mark.parametrize("kind", ["points", "scribble", "blur", "mix"])
def test_deterministic_per_seed(kind, cels):
    a, b = H.simulate(kind, cels, SEED), H.simulate(kind, cels, tf.constant([3, 7]))
    c = H.simulate(kind, cels, tf.constant([3, 8]))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert any(not np.array_equal(a[key], c[key]) for key in a)


def _kind_of(hints, i):
    if hints["hint_hist"][i].numpy().sum() > 0:
        return "histogram"
    mask = hints["hint_mask"][i].numpy()
    if np.any((mask > 0) & (mask < 1)):
        return "blur"
    return "sparse" if mask.sum() > 0 else "none"


def test_mix_uses_several_kinds():
    rgb = _noise(24, 16)
    hints = H.simulate("mix", rgb, SEED)
    _check_hints(hints, 24, 16, 16)
    kinds = [_kind_of(hints, i) for i in range(24)]
    assert len(set(kinds)) == 4, kinds
    for i, kind in enumerate(kinds):  # each image carries one kind only
        if kind == "histogram":
            assert not hints["hint_mask"][i].numpy().any()


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_tf_function_with_unknown_shapes(kind, cels):
    fn = tf.function(lambda rgb, seed: H.simulate(kind, rgb, seed),
                     input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32),
                                      tf.TensorSpec([2], tf.int32)])
    graph = fn(cels[:3, :24], SEED)
    eager = H.simulate(kind, cels[:3, :24], SEED)
    _check_hints(graph, 3, 24, 32)
    for key in graph:
        np.testing.assert_allclose(graph[key], eager[key], atol=1e-5)


def test_dataset_map_and_resize_in_graph(cels):
    ds = tf.data.Dataset.from_tensor_slices(cels).batch(4)
    ds = ds.map(lambda rgb: H.resize_hints(H.simulate("mix", rgb, SEED), 16, 16))
    out = list(ds)
    assert len(out) == 2
    _check_hints(out[0], 4, 16, 16)


def test_points_json_places_colours():
    data = {"points": [{"x": 10, "y": 20, "rgb": [255, 0, 0]},
                       {"x": 3, "y": 4, "rgb": [0, 0, 255], "size": 3}]}
    hints = H.hints_from_points_json(data, height=30, width=40)
    _check_hints(hints, 1, 30, 40)
    mask, ab = hints["hint_mask"].numpy()[0, ..., 0], hints["hint_ab"].numpy()[0]
    assert mask[20, 10] == 1.0 and mask[10, 20] == 0.0  # x = column, y = row
    np.testing.assert_allclose(ab[20, 10], RED_AB, atol=1e-5)
    blue_ab = color.rgb_to_l_ab(tf.constant([0.0, 0.0, 1.0]))[1].numpy()
    np.testing.assert_allclose(ab[3:6, 2:5], np.broadcast_to(blue_ab, (3, 3, 2)), atol=1e-5)
    assert mask.sum() == 10
    empty = H.hints_from_points_json({"points": []}, 8, 8)
    assert not empty["hint_mask"].numpy().any()


def test_loaded_hints_carry_the_chosen_colour_with_its_lightness():
    dark_red = [120, 10, 20]
    hints = H.hints_from_points_json({"points": [{"x": 2, "y": 3, "rgb": dark_red, "size": 2}]}, 8, 8)
    lab, mask = H.hint_lab(hints)
    true_lab = color.rgb_to_lab_np(np.array(dark_red, np.float32) / 255.0)
    np.testing.assert_allclose(lab[3, 2], true_lab, atol=0.05)
    assert mask.sum() == 4 and lab.shape == (8, 8, 3)
    rgba = np.zeros((8, 8, 4), np.float32)
    rgba[1, :, :3], rgba[1, :, 3] = np.array(dark_red) / 255.0, 1.0
    strokes = H.hints_from_stroke_png(rgba)
    np.testing.assert_allclose(H.hint_lab(strokes)[0][1, 5], true_lab, atol=0.05)
    small = H.resize_hints(strokes, 4, 4)  # the lightness is pooled with the ab
    np.testing.assert_allclose(H.hint_lab(small)[0][0, 2], true_lab, atol=0.05)
    assert H.hint_lab({k: v for k, v in strokes.items() if k != "hint_l"})[0].shape == (8, 8, 2)
    assert H.hint_lab(H.empty_hints(1, 8, 8)) is None
    simulated = H.simulate_points(np.broadcast_to(np.array(dark_red, np.float32) / 255.0, (1, 8, 8, 3)), (0, 1),
                                  count=3, with_lightness=True)
    np.testing.assert_allclose(H.hint_lab(simulated)[0][simulated["hint_mask"].numpy()[0, ..., 0] > 0],
                               np.broadcast_to(true_lab, (int(simulated["hint_mask"].numpy().sum()), 3)),
                               atol=0.05)


def test_points_json_clips_with_warning():
    with pytest.warns(UserWarning, match=r"points\[0\].*outside"):
        hints = H.hints_from_points_json({"points": [{"x": 50, "y": -3, "rgb": [0, 255, 0]}]}, 10, 20)
    assert hints["hint_mask"].numpy()[0, 0, 19, 0] == 1.0


@pytest.mark.parametrize("data, match", [
    ([1, 2], "points"),
    ({"dots": []}, "points"),
    ({"points": [{"x": 1, "y": 2, "rgb": [0, 0, 0]}, {"x": 1, "rgb": [0, 0, 0]}]}, r"points\[1\].*y"),
    ({"points": [{"x": 1, "y": 2, "rgb": [0, 0, 300]}]}, r"points\[0\]\.rgb"),
    ({"points": [{"x": 1, "y": 2, "rgb": [0, 0]}]}, r"points\[0\]\.rgb"),
    ({"points": [{"x": 1, "y": 2, "rgb": [-1, 0, 0]}]}, r"points\[0\]\.rgb"),
    ({"points": [{"x": "a", "y": 2, "rgb": [0, 0, 0]}]}, r"points\[0\]\.x"),
    ({"points": [{"x": 1, "y": 2, "rgb": [0, 0, 0], "size": 0}]}, r"points\[0\]\.size"),
    ({"points": ["x"]}, r"points\[0\]"),
])
def test_points_json_rejects_malformed(data, match):
    with pytest.raises(ValueError, match=match):
        H.hints_from_points_json(data, 10, 10)


def test_stroke_png():
    rgba = np.zeros((12, 10, 4), np.float32)
    rgba[..., :3] = [0.0, 1.0, 0.0]  # green colour under fully transparent pixels
    rgba[5, 2:8] = [1.0, 0.0, 0.0, 1.0]  # an opaque red stroke
    rgba[7, 2:8, 3] = 0.3  # faint, below the threshold
    hints = H.hints_from_stroke_png(rgba)
    _check_hints(hints, 1, 12, 10)
    mask, ab = hints["hint_mask"].numpy()[0, ..., 0], hints["hint_ab"].numpy()[0]
    assert mask[5, 2:8].all() and mask.sum() == 6
    np.testing.assert_allclose(ab[5, 2:8], np.broadcast_to(RED_AB, (6, 2)), atol=1e-5)
    assert H.hints_from_stroke_png(rgba, threshold=0.2)["hint_mask"].numpy().sum() == 12
    with pytest.raises(ValueError, match="H, W, 4"):
        H.hints_from_stroke_png(rgba[..., :3])


def test_resize_keeps_one_pixel_hint():
    ab = np.zeros((1, 32, 32, 2), np.float32)
    mask = np.zeros((1, 32, 32, 1), np.float32)
    ab[0, 13, 22] = [0.5, -0.25]
    mask[0, 13, 22] = 1.0
    hist = tf.fill([1, 512], 1.0 / 512)
    small = H.resize_hints({"hint_ab": ab, "hint_mask": mask, "hint_hist": hist}, 8, 8)
    _check_hints(small, 1, 8, 8)
    assert small["hint_mask"].numpy()[0, 3, 5, 0] == 1.0 and small["hint_mask"].numpy().sum() == 1.0
    np.testing.assert_allclose(small["hint_ab"].numpy()[0, 3, 5], [0.5, -0.25], atol=1e-6)
    assert small["hint_hist"] is hist
    # A non-whole factor (32 -> 7) and an upscale keep the hint too.
    odd = H.resize_hints({"hint_ab": ab, "hint_mask": mask}, 7, 7)
    assert odd["hint_mask"].numpy().max() == 1.0
    np.testing.assert_allclose(odd["hint_ab"].numpy().reshape(-1, 2).sum(0), [0.5, -0.25], atol=1e-6)
    big = H.resize_hints({"hint_ab": ab, "hint_mask": mask}, 64, 64)
    assert big["hint_mask"].numpy().sum() == 4.0


def test_resize_averages_ab_weighted_by_mask():
    ab = np.zeros((1, 4, 4, 2), np.float32)
    mask = np.zeros((1, 4, 4, 1), np.float32)
    ab[0, 0, 0], mask[0, 0, 0] = [0.4, 0.0], 1.0
    ab[0, 0, 1], mask[0, 0, 1] = [0.1, 0.3], 0.5  # a soft hint counts half
    small = H.resize_hints({"hint_ab": ab, "hint_mask": mask}, 1, 1)
    np.testing.assert_allclose(small["hint_ab"].numpy()[0, 0, 0], [0.3, 0.1], atol=1e-6)
    assert small["hint_mask"].numpy()[0, 0, 0, 0] == 1.0


def test_a_user_colouring_is_blurred_and_faded_like_the_training_hint():
    from anime_colorize.data.hints import hints_from_colouring_png
    rgba = np.zeros((64, 64, 4), np.float32)
    rgba[16:48, 16:48] = [1.0, 0.0, 0.0, 1.0]  # a red square painted on a transparent layer
    hints = hints_from_colouring_png(rgba)
    mask, ab = hints["hint_mask"].numpy()[0, ..., 0], hints["hint_ab"].numpy()[0]
    assert mask[32, 32] > 0.9 and 0.0 < mask[12, 32] < mask[20, 32] < 1.0  # soft edges
    assert mask[0, 0] == 0.0 and np.all(ab[mask == 0] == 0)
    assert ab[32, 32, 0] > 0.5  # red at the centre: a* high
    assert 0.0 < ab[14, 32, 0] < ab[32, 32, 0]  # faded toward white at the edge
