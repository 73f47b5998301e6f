"""pix2pixHD (Wang et al. 2018) objective: multi-scale discriminators, LSGAN, feature matching.

The discriminator (:class:`~anime_colorize.models.MultiScaleDiscriminator`) is ``--num-scales``
PatchGANs, scale ``s`` seeing the pair (l, colour) average-pooled ``s`` times, each returning
its intermediate features and a patch map. The adversarial loss is least squares (LSGAN, Mao
et al. 2017), as pix2pixHD: per scale the per-sample mean over patches, summed over scales;
the discriminator's is halved (``0.5 * (real + fake)``, as pix2pixHD's code).

The generator adds to the base class's terms (best-of-two L1, mode seeking, hint term: see
:meth:`Trainer.generator_losses`) the feature-matching loss x ``--lambda-fm`` (paper: 10):
L1 between the discriminator's features of the real and of the generated colouring of the
same condition, over every scale and layer (:func:`anime_colorize.losses.feature_matching_loss`).
pix2pixHD has no L1 term (it pairs feature matching with a VGG perceptual loss, left out
here): ``--lambda-l1 0 --lambda-ms 0`` gives its objective without the VGG term. Its
coarse-to-fine generator is not implemented; the usual U-Net is trained.
Logged: ``d_loss``, ``l1``, ``ms``, ``hint``, ``g_adv``, ``fm``, ``g_loss``.
"""
from __future__ import annotations

import tensorflow as tf

from anime_colorize import losses
from anime_colorize.models import MultiScaleDiscriminator
from anime_colorize.trainers.base import Trainer
from anime_colorize.trainers.registry import register_trainer


def _split_outputs(outputs):
    """Multi-scale outputs -> (features per scale, patch logits per scale)."""
    scales = MultiScaleDiscriminator.per_scale(outputs)
    return [scale[:-1] for scale in scales], [scale[-1] for scale in scales]


@register_trainer("pix2pixhd")
class Pix2PixHDTrainer(Trainer):

    def build_discriminator(self):
        return MultiScaleDiscriminator(filters=self.config.model.filters, color_channels=self.color_channels,
                                       num_scales=self.config.train.num_scales, name="discriminator")

    def adversarial_loss(self, fake_scores):
        """Per-sample (B,) LSGAN generator loss summed over scales; ``fake_scores`` is the
        discriminator's output (``{"scale<s>": [features..., logits]}``)."""
        return tf.add_n([losses.lsgan_generator_loss(logits) for logits in _split_outputs(fake_scores)[1]])

    def discriminator_step(self, condition, real, rng):
        fake = self.fake_for_discriminator(condition, rng)
        with tf.GradientTape() as tape:
            # One pass over real and fake: the normalisation is per sample, so this only saves time.
            _, logits = _split_outputs(self.judge(self.doubled(condition), tf.concat([real, fake], 0)))
            per_sample = tf.add_n([losses.lsgan_discriminator_loss(*tf.split(scale, 2, axis=0)) for scale in logits])
            d_loss = self.average(per_sample, rng.global_batch)
            scaled = self.d_optimizer.scale_loss(d_loss)
        variables = self.discriminator.trainable_variables
        self.d_optimizer.apply(tape.gradient(scaled, variables), variables)
        return {"d_loss": d_loss}

    def generator_adversarial_terms(self, condition, condition_2, real, fakes, rng):
        """LSGAN over the scales, plus feature matching, which needs the discriminator's
        features of the real colourings as well as of the two fakes."""
        t = self.config.train
        fake_outputs = self.judge(condition_2, fakes)
        # The real features are targets: constants, computed once and paired with both fakes.
        real_features, _ = _split_outputs(self.judge(condition, real))
        real_features = [[tf.stop_gradient(tf.concat([f, f], axis=0)) for f in scale] for scale in real_features]
        fake_features, _ = _split_outputs(fake_outputs)
        terms = {"g_adv": self.average(self.adversarial_loss(fake_outputs), 2 * rng.global_batch),
                 "fm": self.average(losses.feature_matching_loss(real_features, fake_features), 2 * rng.global_batch)}
        return terms, t.lambda_adv * terms["g_adv"] + t.lambda_fm * terms["fm"]
