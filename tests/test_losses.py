import numpy as np
import pytest
import tensorflow as tf

from anime_colorize import losses


def linear_critic(weights):
    """f(x) = <w, x> per sample: its gradient is w everywhere, of norm ||w||."""
    w = tf.constant(weights)
    return lambda x: tf.reduce_sum(x * w, axis=[1, 2, 3])[:, None]


@pytest.mark.parametrize("batch_size", [1, 2, 3])
@pytest.mark.parametrize("grad_norm", [0.5, 1.0, 3.0])
def test_gradient_penalty_of_a_critic_with_known_gradient_norm(batch_size, grad_norm):
    rng = np.random.default_rng(batch_size)
    w = rng.standard_normal((4, 4, 2)).astype(np.float32)
    w *= grad_norm / np.linalg.norm(w)
    real = tf.constant(rng.standard_normal((batch_size, 4, 4, 2)).astype(np.float32))
    fake = tf.constant(rng.standard_normal((batch_size, 4, 4, 2)).astype(np.float32))
    alpha = tf.constant(rng.uniform(size=(batch_size, 1, 1, 1)).astype(np.float32))
    penalty = losses.gradient_penalty(linear_critic(w), real, fake, alpha)
    assert penalty.shape == (batch_size,)
    assert float(tf.reduce_mean(penalty)) == pytest.approx((grad_norm - 1.0) ** 2, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_gradient_penalty_is_taken_per_sample_at_the_interpolates(batch_size):
    # f(x) = 0.5 * ||x||^2 has gradient x, so the norm depends on where alpha puts each sample:
    # a penalty using one alpha for the batch, or the wrong end of the segment, would differ.
    rng = np.random.default_rng(10 + batch_size)
    real = rng.standard_normal((batch_size, 3, 3, 2)).astype(np.float32)
    fake = rng.standard_normal((batch_size, 3, 3, 2)).astype(np.float32)
    alpha = rng.uniform(size=(batch_size, 1, 1, 1)).astype(np.float32)
    critic = lambda x: 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])[:, None]  # noqa: E731
    x_hat = real + alpha * (fake - real)
    expected = np.mean((np.sqrt((x_hat ** 2).sum(axis=(1, 2, 3))) - 1.0) ** 2)
    penalty = losses.gradient_penalty(critic, tf.constant(real), tf.constant(fake), tf.constant(alpha))
    expected_each = (np.sqrt((x_hat ** 2).sum(axis=(1, 2, 3))) - 1.0) ** 2
    np.testing.assert_allclose(penalty.numpy(), expected_each, rtol=1e-4)
    assert float(tf.reduce_mean(penalty)) == pytest.approx(expected, rel=1e-4)


def test_gradient_penalty_is_differentiable_where_the_gradient_vanishes():
    # A critic flat in x gives g = 0; without the epsilon, d sqrt(0) would be NaN.
    scale = tf.Variable(0.0)
    real = tf.ones((2, 2, 2, 2))
    with tf.GradientTape() as tape:
        penalty = tf.reduce_mean(losses.gradient_penalty(
            lambda x: scale * tf.reduce_sum(x, axis=[1, 2, 3])[:, None], real, real * 2, tf.fill((2, 1, 1, 1), 0.5)))
    assert float(penalty) == pytest.approx(1.0, abs=1e-5)
    assert np.isfinite(tape.gradient(penalty, scale).numpy())


def test_best_of_l1_pulls_only_the_closest_colouring():
    target = tf.zeros((2, 2, 2, 2))
    near = tf.fill((2, 2, 2, 2), 0.1)
    far = tf.fill((2, 2, 2, 2), 0.7)
    np.testing.assert_allclose(losses.best_of_l1(target, [far, near]).numpy(), [0.1, 0.1], rtol=1e-6)
    # per sample: sample 0 is best with `near`, sample 1 with `far2`
    far2 = tf.concat([far[:1], tf.fill((1, 2, 2, 2), 0.05)], axis=0)
    np.testing.assert_allclose(losses.best_of_l1(target, [near, far2]).numpy(), [0.1, 0.05], rtol=1e-6)
    with tf.GradientTape() as tape:
        tape.watch(far)
        loss = tf.reduce_sum(losses.best_of_l1(target, [far, near]))
    assert float(tf.reduce_max(tf.abs(tape.gradient(loss, far)))) == 0.0


def test_mode_seeking_loss_rewards_outputs_that_follow_z():
    z1, z2 = tf.zeros((2, 4)), tf.ones((2, 4))
    same = tf.zeros((2, 4, 4, 2))
    apart = tf.fill((2, 4, 4, 2), 0.5)
    np.testing.assert_allclose(losses.mode_seeking_loss(same, apart, z1, z2).numpy(), [2.0, 2.0], rtol=1e-3)
    assert float(tf.reduce_min(losses.mode_seeking_loss(same, same, z1, z2))) > 1e4


def test_wgan_and_bce_losses_have_the_right_sign():
    real, fake = tf.constant([[2.0], [4.0]]), tf.constant([[-1.0], [1.0]])
    np.testing.assert_allclose(losses.wgan_critic_loss(real, fake).numpy(), [-3.0, -3.0])
    np.testing.assert_allclose(losses.wgan_generator_loss(fake).numpy(), [1.0, -1.0])
    good = losses.bce_discriminator_loss(tf.fill((3, 1), 5.0), tf.fill((3, 1), -5.0))
    bad = losses.bce_discriminator_loss(tf.fill((3, 1), -5.0), tf.fill((3, 1), 5.0))
    assert good.shape == (3,) and float(tf.reduce_max(good)) < 0.02 < 10 < float(tf.reduce_min(bad))
    assert float(losses.bce_generator_loss(tf.fill((3, 1), 5.0))[0]) < float(losses.bce_generator_loss(tf.fill((3, 1), -5.0))[0])
