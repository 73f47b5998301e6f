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
    twin = color.lab_to_rgb_numpy(lab)
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
