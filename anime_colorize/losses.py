"""Adversarial losses, gradient penalties and reconstruction / diversity terms.

Every function takes per-sample tensors whose batch size is read at run time and returns
one loss per sample, shape ``(B,)``. The trainer turns them into the mean over the *global*
batch (:meth:`anime_colorize.trainers.base.Trainer.average`), which stays correct when a
batch is split across replicas: each replica sums its own samples and divides by the global
batch size, and the optimizer sums the replicas' gradients.
Scores are ``(B, 1)``; ab tensors are ``(B, H, W, 2)`` in [-1, 1]; z is ``(B, z_dim)``.
"""
from __future__ import annotations

import tensorflow as tf

GP_EPSILON = 1e-12


def wgan_critic_loss(real_scores, fake_scores):
    """Wasserstein critic loss D(fake) - D(real) per sample; its mean is E[D(fake)] - E[D(real)]
    (real and fake of one sample share the same L)."""
    return fake_scores[:, 0] - real_scores[:, 0]


def wgan_generator_loss(fake_scores):
    """The generator maximises the critic's score of its samples."""
    return -fake_scores[:, 0]


def bce_discriminator_loss(real_logits, fake_logits):
    """Sigmoid cross-entropy per sample pair: real -> 1, fake -> 0."""
    real = tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_logits), real_logits)
    fake = tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits)
    return real[:, 0] + fake[:, 0]


def bce_generator_loss(fake_logits):
    """Non-saturating generator loss: -log D(G(z))."""
    return tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_logits), fake_logits)[:, 0]


def interpolate(real, fake, alpha):
    """Points on the segments between real and fake samples; alpha is (B, 1, 1, 1) in [0, 1]."""
    return real + alpha * (fake - real)


def gradient_penalty(critic_fn, real, fake, alpha):
    """WGAN-GP two-sided penalty (Gulrajani et al. 2017, Algorithm 1).

    Args:
        critic_fn: maps a batch like ``real`` to scores (B, 1).
        real, fake: (B, H, W, C) samples; the penalty is taken with respect to these, the
            conditioning input (L) being held fixed inside ``critic_fn``.
        alpha: (B, 1, 1, 1) interpolation weights, one per sample, drawn from U[0, 1] by the
            caller (a normal draw, as in a widely copied example, is wrong: the segment
            between real and fake is what the Lipschitz constraint is enforced on).

    Returns ``(||grad||_2 - 1)^2`` per sample, shape (B,). The norm is
    ``sqrt(sum(g^2) + eps)`` so its own gradient stays finite when g is zero.
    """
    x_hat = interpolate(real, fake, alpha)
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        scores = critic_fn(x_hat)
    # The gradient of the (implicitly summed) scores is per-sample exact because each score
    # depends only on its own sample.
    grads = tape.gradient(scores, x_hat)
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=tf.range(1, tf.rank(grads))) + GP_EPSILON)
    return tf.square(norms - 1.0)


def per_sample_l1(target, prediction):
    """Mean absolute error of each sample: (B, ...) x2 -> (B,)."""
    diff = tf.abs(target - prediction)
    return tf.reduce_mean(tf.reshape(diff, [tf.shape(diff)[0], -1]), axis=1)


def best_of_l1(target, predictions):
    """L1 to the target of the best of several colourings of each sample.

    Only the colouring closest to the truth is pulled towards it, so the others are free to
    be different plausible colourings: plain L1 on every sample would average all colour
    modes into one dull colour (multiple-choice learning, Guzman-Rivera et al. 2012).
    ``predictions`` is a list of (B, H, W, 2) tensors; returns (B,).
    """
    errors = tf.stack([per_sample_l1(target, p) for p in predictions], axis=1)
    return tf.reduce_min(errors, axis=1)


def mode_seeking_loss(ab_1, ab_2, z_1, z_2, eps=1e-5):
    """Mode-seeking term of MSGAN (Mao et al. 2019): 1 / (|G(z1)-G(z2)| / |z1-z2| + eps).

    Minimising it makes outputs move when z moves, so different z give visibly different
    colourings. Distances are per-sample mean absolute differences.
    """
    ratio = per_sample_l1(ab_1, ab_2) / per_sample_l1(z_1, z_2)
    return 1.0 / (ratio + eps)
