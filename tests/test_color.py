import warnings

import numpy as np
import pytest
import tensorflow as tf
from skimage import color as skcolor

from anime_colorize import color


@pytest.fixture
def rgb_batch():
    rng = np.random.default_rng(0)
    rgb = rng.uniform(0, 1, size=(3, 8, 8, 3)).astype(np.float32)
    # Include the corners of the cube, where the piecewise branches switch.
    rgb[0, 0, :8] = [[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0.01, 0.02, 0.03], [0.5, 0.5, 0.5]]
    return rgb


def test_rgb_to_lab_matches_skimage(rgb_batch):
    ours = color.rgb_to_lab(rgb_batch).numpy()
    theirs = np.stack([skcolor.rgb2lab(im) for im in rgb_batch])
    np.testing.assert_allclose(ours, theirs, atol=2e-3)


def test_lab_to_rgb_matches_skimage(rgb_batch):
    lab = np.stack([skcolor.rgb2lab(im) for im in rgb_batch]).astype(np.float32)
    lab[1, ..., 1:] *= 1.6  # push some colours out of gamut so clipping is exercised too
    ours = color.lab_to_rgb(lab).numpy()
    theirs = np.stack([skcolor.lab2rgb(im) for im in lab])
    np.testing.assert_allclose(ours, theirs, atol=2e-3)


def test_numpy_twin_matches_lab_to_rgb(rgb_batch):
    lab = np.stack([skcolor.rgb2lab(im) for im in rgb_batch]).astype(np.float32)
    lab[1, ..., 1:] *= 1.6  # out of gamut too: both clip the same way
    twin = color.lab_to_rgb_np(lab)
    assert twin.dtype == np.float32 and twin.shape == lab.shape
    np.testing.assert_allclose(twin, color.lab_to_rgb(lab).numpy(), atol=1e-5)


def test_round_trip_and_normalisation(rgb_batch):
    l, ab = color.rgb_to_l_ab(rgb_batch)
    assert l.shape == (3, 8, 8, 1) and ab.shape == (3, 8, 8, 2)
    assert -1.0 <= float(tf.reduce_min(l)) and float(tf.reduce_max(l)) <= 1.0
    assert float(tf.reduce_max(tf.abs(ab))) <= 1.0
    np.testing.assert_allclose(color.l_ab_to_rgb(l, ab).numpy(), rgb_batch, atol=1e-3)
    # white is L=100 -> l=1, black is L=0 -> l=-1
    l_bw, _ = color.rgb_to_l_ab(np.array([[1.0, 1, 1], [0, 0, 0]], np.float32))
    np.testing.assert_allclose(l_bw.numpy()[:, 0], [1.0, -1.0], atol=1e-4)


def test_gray_keeps_lightness(rgb_batch):
    gray = color.rgb_to_gray(rgb_batch)
    lab_gray = color.rgb_to_lab(tf.repeat(gray, 3, axis=-1)).numpy()
    np.testing.assert_allclose(lab_gray[..., 0], color.rgb_to_lab(rgb_batch).numpy()[..., 0], atol=0.05)
    np.testing.assert_allclose(lab_gray[..., 1:], 0.0, atol=0.05)


def test_gradients_are_finite_everywhere():
    rgb = tf.constant([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.02, 0.5, 0.9]])
    with tf.GradientTape() as tape:
        tape.watch(rgb)
        back = color.lab_to_rgb(color.rgb_to_lab(rgb) * tf.constant([1.0, 1.0, 1.0]))
        loss = tf.reduce_sum(back)
    grad = tape.gradient(loss, rgb)
    assert np.all(np.isfinite(grad.numpy()))


# ---------------------------------------------------------------- numpy twins

def test_numpy_lab_is_skimage_bit_for_bit_and_matches_tensorflow(rgb_batch):
    rgb64 = rgb_batch.astype(np.float64)
    lab = color.rgb_to_lab_np(rgb64)
    assert lab.dtype == np.float64 and lab.shape == rgb64.shape
    np.testing.assert_array_equal(lab, skcolor.rgb2lab(rgb64))
    np.testing.assert_allclose(color.rgb_to_lab_np(rgb_batch), color.rgb_to_lab(rgb_batch).numpy(), atol=2e-3)
    assert color.rgb_to_lab_np(rgb_batch).dtype == np.float32
    # uint8 is scaled by 1/255
    u8 = np.rint(rgb_batch * 255).astype(np.uint8)
    np.testing.assert_allclose(color.rgb_to_lab_np(u8), skcolor.rgb2lab(u8), atol=2e-3)


def test_numpy_lab_to_rgb_is_skimage_bit_for_bit_and_matches_tensorflow(rgb_batch):
    lab = skcolor.rgb2lab(rgb_batch.astype(np.float64))
    lab[1, ..., 1:] *= 1.6  # out of gamut: clipped like skimage, including negative z
    lab[2, 0, 0] = [5.0, 0.0, 120.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skimage warns about the clipped negative z
        theirs = skcolor.lab2rgb(lab)
    ours = color.lab_to_rgb_np(lab)
    np.testing.assert_array_equal(ours, theirs)
    assert ours.min() >= 0.0 and ours.max() <= 1.0
    np.testing.assert_allclose(color.lab_to_rgb_np(lab.astype(np.float32)),
                               color.lab_to_rgb(lab.astype(np.float32)).numpy(), atol=2e-3)


def test_numpy_normalised_round_trip_matches_tensorflow(rgb_batch):
    l, ab = color.rgb_to_l_ab_np(rgb_batch)
    l_tf, ab_tf = color.rgb_to_l_ab(rgb_batch)
    assert l.shape == (3, 8, 8, 1) and ab.shape == (3, 8, 8, 2)
    np.testing.assert_allclose(l, l_tf.numpy(), atol=5e-5)
    np.testing.assert_allclose(ab, ab_tf.numpy(), atol=5e-5)
    np.testing.assert_allclose(color.l_ab_to_rgb_np(l, ab), rgb_batch, atol=1e-3)
    # the normalisation is plain arithmetic: numpy in, numpy out, same numbers as tensors
    assert isinstance(color.normalize_ab(ab * 110.0), np.ndarray)
    np.testing.assert_allclose(color.denormalize_l(l), color.rgb_to_lab_np(rgb_batch)[..., :1], atol=1e-4)


def test_the_matrices_invert_each_other():
    product = np.array(color._XYZ_FROM_RGB) @ np.array(color._RGB_FROM_XYZ)
    np.testing.assert_allclose(product, np.eye(3), atol=1e-12)


def test_srgb_curve_twins_invert_each_other():
    x = np.linspace(0.0, 1.0, 1001)
    linear = color.srgb_to_linear_np(x)
    assert linear[0] == 0.0 and linear[-1] == pytest.approx(1.0) and np.all(np.diff(linear) > 0)
    np.testing.assert_allclose(color.linear_to_srgb_np(linear), x, atol=1e-12)
    np.testing.assert_allclose(color.srgb_to_linear_np(0.5), 0.21404114, atol=1e-8)  # the sRGB standard's value


def test_numpy_gray_matches_tensorflow_and_keeps_gray_exact(rgb_batch):
    gray = color.rgb_to_gray_np(rgb_batch)
    assert gray.shape == (3, 8, 8, 1) and gray.dtype == np.float32
    np.testing.assert_allclose(gray, color.rgb_to_gray(rgb_batch).numpy(), atol=2e-3)
    page = np.repeat(rgb_batch[..., :1], 3, axis=-1)  # already gray: returned as it is
    np.testing.assert_array_equal(color.rgb_to_gray_np(page), rgb_batch[..., :1])
