"""pix2pix (Isola et al. 2017): a conditional PatchGAN with a cross-entropy on every patch.

The discriminator (:class:`~anime_colorize.models.PatchGANDiscriminator`, batch-normalised as
in the paper) sees the condition ``l`` with a colouring and returns a logit map
(B, H/8, W/8, 1); its loss is the sigmoid cross-entropy of every patch (real -> 1, fake -> 0),
averaged over the patches of each sample, then over the global batch. One discriminator
update per generator update, on real and fake in one pass (shared batch-norm statistics, as
:mod:`.dcgan`).

The generator's loss is that of every conditional GAN
(:meth:`~.conditional.ConditionalGANTrainer.generator_losses`): best-of-two L1 x
``--lambda-l1`` (pix2pix: 100), mode seeking, the hint term for hint models, and the
non-saturating adversarial loss ``-log D`` taken per patch and averaged per sample,
x ``--lambda-adv``. pix2pix itself has neither z (it used dropout) nor best-of-two; with
``--lambda-ms 0`` only the noise input and the best-of-two L1 differ from the paper.
Logged: ``d_loss``, ``l1``, ``ms``, ``hint``, ``g_adv``, ``g_loss``.
"""
from __future__ import annotations

from anime_colorize import losses
from anime_colorize.models import PatchGANDiscriminator
from anime_colorize.trainers.conditional import ConditionalGANTrainer, PatchDiscriminatorSettings
from anime_colorize.trainers.registry import register_trainer


@register_trainer("pix2pix")
class Pix2PixTrainer(ConditionalGANTrainer):

    settings_class = PatchDiscriminatorSettings
    discriminator_norm = "batch"

    def build_discriminator(self):
        return PatchGANDiscriminator(filters=self.config.model.filters, color_channels=self.color_channels,
                                     norm=self.discriminator_norm, input_pooling=self.settings.discriminator_pooling,
                                     name="discriminator")

    def adversarial_loss(self, fake_scores):
        """Per-sample (B,) mean over patches of -log D for patch logits (B, h, w, 1)."""
        return losses.patch_bce_generator_loss(fake_scores)

    def discriminator_losses(self, condition, real, fake, rng):
        # One pass over real and fake together keeps batch-norm statistics shared.
        real_logits, fake_logits = self.judge_real_and_fake(condition, real, fake)
        d_loss = self.average(losses.patch_bce_discriminator_loss(real_logits, fake_logits), rng.global_batch)
        return d_loss, {"d_loss": d_loss}

    def step_macs(self, g, d, b):
        """As dcgan: one patch discriminator pass on real + fake, ``G B + 3 D 2B``."""
        return super().step_macs(g, d, b)[0], g * b + 3 * d * 2 * b
