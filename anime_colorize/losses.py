"""Adversarial losses, gradient penalties and reconstruction / diversity terms.

Every function takes per-sample tensors whose batch size is read at run time and returns
one loss per sample, shape ``(B,)``. The trainer turns them into the mean over the *global*
batch (:meth:`anime_colorize.trainers.base.Trainer.average`), which stays correct when a
batch is split across replicas: each replica sums its own samples and divides by the global
batch size, and the optimizer sums the replicas' gradients.
Scores are ``(B, 1)``; ab tensors are ``(B, H, W, 2)`` in [-1, 1]; z is ``(B, z_dim)``.
The ``patch_*`` and ``lsgan_*`` losses also take PatchGAN maps ``(B, h, w, 1)``: the loss is
taken on every patch and averaged over the patches of each sample.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf

from anime_colorize.array_types import TensorLike

GP_EPSILON = 1e-12


def wgan_critic_loss(real_scores: TensorLike, fake_scores: TensorLike) -> tf.Tensor:
    """Wasserstein critic loss D(fake) - D(real) per sample; its mean is E[D(fake)] - E[D(real)]
    (real and fake of one sample share the same L)."""
    return fake_scores[:, 0] - real_scores[:, 0]


def wgan_generator_loss(fake_scores: TensorLike) -> tf.Tensor:
    """The generator maximises the critic's score of its samples."""
    return -fake_scores[:, 0]


def bce_discriminator_loss(real_logits: TensorLike, fake_logits: TensorLike) -> tf.Tensor:
    """Sigmoid cross-entropy per sample pair: real -> 1, fake -> 0."""
    real = tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_logits), real_logits)
    fake = tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits)
    return real[:, 0] + fake[:, 0]


def bce_generator_loss(fake_logits: TensorLike) -> tf.Tensor:
    """Non-saturating generator loss: -log D(G(z))."""
    return tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_logits), fake_logits)[:, 0]


def per_sample_mean(x: TensorLike) -> tf.Tensor:
    """Mean over all axes but the first: (B, ...) -> (B,)."""
    return tf.reduce_mean(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


def patch_bce_discriminator_loss(real_logits: TensorLike, fake_logits: TensorLike) -> tf.Tensor:
    """pix2pix discriminator loss (Isola et al. 2017): sigmoid cross-entropy on EVERY patch
    logit (real -> 1, fake -> 0), averaged over the patches of each sample.

    ``real_logits``, ``fake_logits``: (B, h, w, 1) patch maps (any shape (B, ...) works; a
    (B, 1) score is one patch). Returns (B,), the sum of the real and fake patch means.
    Averaging the per-patch losses is not the same as the loss of the averaged logit (what
    :func:`bce_discriminator_loss` of a mean-pooled score gives): each patch is judged alone.
    """
    real = tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_logits), real_logits)
    fake = tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits)
    return per_sample_mean(real) + per_sample_mean(fake)


def patch_bce_generator_loss(fake_logits: TensorLike) -> tf.Tensor:
    """Non-saturating pix2pix generator loss: -log D(G(x, z)) on every patch, averaged per
    sample. (B, h, w, 1) -> (B,)."""
    return per_sample_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_logits), fake_logits))


def lsgan_discriminator_loss(real_scores: TensorLike, fake_scores: TensorLike) -> tf.Tensor:
    """Least-squares GAN discriminator loss (Mao et al. 2017) with targets real 1, fake 0, as
    pix2pixHD uses it: ``0.5 * (mean (D(real) - 1)^2 + mean D(fake)^2)`` over the patches of
    each sample. (B, h, w, 1) x2 -> (B,); ranges [0, inf)."""
    return 0.5 * (per_sample_mean(tf.square(real_scores - 1.0)) + per_sample_mean(tf.square(fake_scores)))


def lsgan_generator_loss(fake_scores: TensorLike) -> tf.Tensor:
    """Least-squares GAN generator loss: mean (D(fake) - 1)^2 over the patches of each sample,
    (B, h, w, 1) -> (B,)."""
    return per_sample_mean(tf.square(fake_scores - 1.0))


def feature_matching_loss(real_features: Sequence[Sequence[tf.Tensor]],
                          fake_features: Sequence[Sequence[tf.Tensor]]) -> tf.Tensor:
    """pix2pixHD's discriminator feature-matching loss (Wang et al. 2018, eq. 4).

    Args:
        real_features, fake_features: one list per discriminator scale, each a list of the
            intermediate feature maps (B, h_i, w_i, c_i) of that scale, for the real and the
            generated colouring of the same conditions. The real features should be constants
            (``tf.stop_gradient``): the generator moves its output towards them.

    Returns (B,) >= 0, zero iff the features are identical: per layer, the per-sample mean
    absolute difference; summed over a scale's layers and scaled by ``4 / layers`` and
    averaged over the scales, the weighting of pix2pixHD's code (``feat_weights`` and
    ``D_weights``), so the loss does not grow with the number of scales or layers.
    """
    per_scale = []
    for real_scale, fake_scale in zip(real_features, fake_features, strict=True):
        layer_terms = [per_sample_mean(tf.abs(tf.cast(f, tf.float32) - tf.cast(r, tf.float32)))
                       for r, f in zip(real_scale, fake_scale, strict=True)]
        per_scale.append(4.0 / len(layer_terms) * tf.add_n(layer_terms))
    return tf.add_n(per_scale) / len(per_scale)


def r1_penalty(discriminator_fn: Callable[[tf.Tensor], tf.Tensor], real: TensorLike) -> tf.Tensor:
    """R1 zero-centred gradient penalty on real data (Mescheder et al. 2018, eq. 9), per sample.

    Args:
        discriminator_fn: maps a batch like ``real`` to logits (B, 1) or a patch map
            (B, h, w, 1); the conditioning input is held fixed inside it. Each sample's
            logits must depend on that sample only (no batch normalisation in training mode).
        real: (B, H, W, C) real colourings.

    Returns ``(penalty, logits)``: ``||grad_x D(x)||^2`` at ``x = real``, shape (B,), where
    ``D(x)`` is the sample's mean patch logit (so the penalty does not grow with the image
    size), and the discriminator's output on ``real`` (recorded by any enclosing tape, so
    the caller can reuse it for its adversarial loss). The caller weights the penalty by
    ``gamma / 2``. No square root is taken, so it needs no epsilon to stay differentiable.
    """
    with tf.GradientTape() as tape:
        tape.watch(real)
        logits = discriminator_fn(real)
        # Summing the per-sample scores gives each sample's own gradient: samples are independent.
        total = tf.reduce_sum(per_sample_mean(tf.cast(logits, tf.float32)))
    grads = tape.gradient(total, real)
    return tf.reduce_sum(tf.reshape(tf.square(grads), [tf.shape(grads)[0], -1]), axis=1), logits


def interpolate(real: TensorLike, fake: TensorLike, alpha: TensorLike) -> tf.Tensor:
    """Points on the segments between real and fake samples; alpha is (B, 1, 1, 1) in [0, 1]."""
    return real + alpha * (fake - real)


def gradient_penalty(critic_fn: Callable[[tf.Tensor], tf.Tensor], real: TensorLike, fake: TensorLike,
                     alpha: TensorLike) -> tf.Tensor:
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


def per_sample_l1(target: TensorLike, prediction: TensorLike) -> tf.Tensor:
    """Mean absolute error of each sample: (B, ...) x2 -> (B,)."""
    diff = tf.abs(target - prediction)
    return tf.reduce_mean(tf.reshape(diff, [tf.shape(diff)[0], -1]), axis=1)


def per_sample_l2(target: TensorLike, prediction: TensorLike) -> tf.Tensor:
    """Mean squared error of each sample: (B, ...) x2 -> (B,)."""
    return per_sample_mean(tf.square(target - prediction))


def best_of_l1(target: TensorLike, predictions: Sequence[TensorLike]) -> tf.Tensor:
    """L1 to the target of the best of several colourings of each sample.

    Only the colouring closest to the truth is pulled towards it, so the others are free to
    be different plausible colourings: plain L1 on every sample would average all colour
    modes into one dull colour (multiple-choice learning, Guzman-Rivera et al. 2012).
    ``predictions`` is a list of (B, H, W, 2) tensors; returns (B,).
    """
    errors = tf.stack([per_sample_l1(target, p) for p in predictions], axis=1)
    return tf.reduce_min(errors, axis=1)


def mode_seeking_loss(ab_1: TensorLike, ab_2: TensorLike, z_1: TensorLike, z_2: TensorLike,
                      eps: float = 1e-5) -> tf.Tensor:
    """Mode-seeking term of MSGAN (Mao et al. 2019): 1 / (|G(z1)-G(z2)| / |z1-z2| + eps).

    Minimising it makes outputs move when z moves, so different z give visibly different
    colourings. Distances are per-sample mean absolute differences.
    """
    ratio = per_sample_l1(ab_1, ab_2) / per_sample_l1(z_1, z_2)
    return 1.0 / (ratio + eps)
