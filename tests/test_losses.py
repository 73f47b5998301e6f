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


# --- pix2pix, pix2pix_gp, pix2pixhd -------------------------------------------------------------
def softplus(x):
    return np.log1p(np.exp(x))


def test_patch_bce_judges_every_patch_not_the_mean_logit():
    # One sample's patches say +5 and -5: their mean logit is 0, but each patch is judged alone.
    patches = tf.constant([[[[5.0], [-5.0]]], [[[5.0], [5.0]]]])  # (2, 1, 2, 1)
    d = losses.patch_bce_discriminator_loss(patches, -patches)
    assert d.shape == (2,)
    # real -> 1 costs softplus(-x), fake -> 0 costs softplus(x); fake = -real here
    expected_0 = 2 * (softplus(-5.0) + softplus(5.0)) / 2
    np.testing.assert_allclose(d.numpy(), [expected_0, 2 * softplus(-5.0)], rtol=1e-5)
    assert float(d[0]) > 2 * np.log(2.0) + 1.0  # what the mean logit 0 would cost
    g = losses.patch_bce_generator_loss(patches)
    np.testing.assert_allclose(g.numpy(), [(softplus(-5.0) + softplus(5.0)) / 2, softplus(-5.0)], rtol=1e-5)
    # a (B, 1) score is one patch: the same as the per-sample losses
    scores = tf.constant([[1.5], [-0.5]])
    np.testing.assert_allclose(losses.patch_bce_discriminator_loss(scores, -scores).numpy(),
                               losses.bce_discriminator_loss(scores, -scores).numpy(), rtol=1e-6)


def test_lsgan_losses_have_their_targets_at_zero_cost():
    ones, zeros = tf.ones((3, 2, 2, 1)), tf.zeros((3, 2, 2, 1))
    np.testing.assert_allclose(losses.lsgan_discriminator_loss(ones, zeros).numpy(), [0.0] * 3)
    np.testing.assert_allclose(losses.lsgan_generator_loss(ones).numpy(), [0.0] * 3)
    # a discriminator fooled both ways: 0.5 * (1 + 1); a generator judged fake: (0 - 1)^2
    np.testing.assert_allclose(losses.lsgan_discriminator_loss(zeros, ones).numpy(), [1.0] * 3)
    np.testing.assert_allclose(losses.lsgan_generator_loss(zeros).numpy(), [1.0] * 3)
    patches = tf.constant([[[[3.0], [1.0]]]])  # per patch (3 - 1)^2 = 4 and 0: mean 2
    np.testing.assert_allclose(losses.lsgan_generator_loss(patches).numpy(), [2.0])


def test_feature_matching_is_zero_for_equal_features_and_weighs_layers_and_scales():
    rng = np.random.default_rng(3)
    shapes = [[(2, 8, 8, 4), (2, 4, 4, 8)], [(2, 4, 4, 4), (2, 2, 2, 8)], [(2, 2, 2, 4), (2, 1, 1, 8)]]
    real = [[tf.constant(rng.standard_normal(s).astype(np.float32)) for s in scale] for scale in shapes]
    np.testing.assert_array_equal(losses.feature_matching_loss(real, real).numpy(), [0.0, 0.0])
    # shift one layer of one scale of sample 1 by 0.5: mean |diff| 0.5 on that layer, so the
    # loss is 4 / 2 layers * 0.5 / 3 scales; sample 0 is untouched
    fake = [list(scale) for scale in real]
    fake[1][1] = fake[1][1] + tf.constant([0.0, 0.5])[:, None, None, None]
    np.testing.assert_allclose(losses.feature_matching_loss(real, fake).numpy(), [0.0, 4 / 2 * 0.5 / 3], rtol=1e-5)
    with tf.GradientTape() as tape:
        tape.watch(fake[1][1])
        loss = tf.reduce_sum(losses.feature_matching_loss(real, fake))
    grad = tape.gradient(loss, fake[1][1]).numpy()  # d|f - r| / df = sign(f - r): +1 on sample 1
    np.testing.assert_allclose(grad[1], np.full((2, 2, 8), 4 / 2 / 3 / (2 * 2 * 8)), rtol=1e-5)


def patch_linear_discriminator(patch_weights):
    """A (B, P, 1, 1) patch map, patch j = <w_j, x>: the mean patch is linear in x with
    gradient mean_j w_j."""
    w = tf.constant(patch_weights)  # (P, H, W, C)
    return lambda x: tf.einsum("bhwc,phwc->bp", x, w)[:, :, None, None]


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_r1_penalty_of_a_linear_discriminator_is_its_squared_gradient_norm(batch_size):
    rng = np.random.default_rng(20 + batch_size)
    w = rng.standard_normal((4, 4, 2)).astype(np.float32)
    real = tf.constant(rng.standard_normal((batch_size, 4, 4, 2)).astype(np.float32))
    penalty, logits = losses.r1_penalty(linear_critic(w), real)
    assert penalty.shape == (batch_size,)
    np.testing.assert_allclose(penalty.numpy(), [np.sum(w ** 2)] * batch_size, rtol=1e-5)
    np.testing.assert_allclose(logits.numpy(), linear_critic(w)(real).numpy(), rtol=1e-6)
    # a patch map: the penalty is on the mean patch logit, so the gradient is mean_j w_j
    patch_w = rng.standard_normal((3, 4, 4, 2)).astype(np.float32)
    penalty, logits = losses.r1_penalty(patch_linear_discriminator(patch_w), real)
    assert logits.shape == (batch_size, 3, 1, 1)
    np.testing.assert_allclose(penalty.numpy(), [np.sum(patch_w.mean(axis=0) ** 2)] * batch_size, rtol=1e-5)


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_r1_penalty_is_taken_per_sample_at_the_real_data(batch_size):
    # D(x) = 0.5 * ||x||^2 has gradient x: each sample's penalty is its own ||x||^2.
    rng = np.random.default_rng(30 + batch_size)
    real = rng.standard_normal((batch_size, 3, 3, 2)).astype(np.float32)
    d = lambda x: 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])[:, None]  # noqa: E731
    penalty, _ = losses.r1_penalty(d, tf.constant(real))
    np.testing.assert_allclose(penalty.numpy(), (real ** 2).sum(axis=(1, 2, 3)), rtol=1e-5)


def test_r1_penalty_has_the_right_gradient_for_the_discriminator():
    # D(x) = s <w, x>: penalty s^2 ||w||^2, so d penalty / d s = 2 s ||w||^2 (a double backward).
    w = np.random.default_rng(7).standard_normal((2, 2, 2)).astype(np.float32)
    scale = tf.Variable(1.5)
    real = tf.ones((2, 2, 2, 2))
    with tf.GradientTape() as tape:
        penalty, _ = losses.r1_penalty(lambda x: scale * linear_critic(w)(x), real)
        total = tf.reduce_mean(penalty)
    assert float(total) == pytest.approx(1.5 ** 2 * np.sum(w ** 2), rel=1e-5)
    assert float(tape.gradient(total, scale)) == pytest.approx(2 * 1.5 * np.sum(w ** 2), rel=1e-5)


def test_per_sample_l2_is_the_mean_squared_error_of_each_sample():
    target = tf.zeros((2, 2, 2, 2))
    prediction = tf.concat([tf.fill((1, 2, 2, 2), 0.5), tf.fill((1, 2, 2, 2), -2.0)], axis=0)
    np.testing.assert_allclose(losses.per_sample_l2(target, prediction).numpy(), [0.25, 4.0])
