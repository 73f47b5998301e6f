"""DCGAN (Radford et al. 2016) as a conditional colourer: a batch-normalised discriminator
with the non-saturating cross-entropy loss, one discriminator update per generator update.
Settings: those of every conditional GAN with a patch discriminator
(:class:`~.conditional.PatchDiscriminatorSettings`)."""
from __future__ import annotations

from anime_colorize import losses
from anime_colorize.models import DCGANDiscriminator
from anime_colorize.trainers.conditional import ConditionalGANTrainer, PatchDiscriminatorSettings
from anime_colorize.trainers.registry import register_trainer


@register_trainer("dcgan")
class DCGANTrainer(ConditionalGANTrainer):

    settings_class = PatchDiscriminatorSettings

    def build_discriminator(self):
        return DCGANDiscriminator(filters=self.config.model.filters, color_channels=self.color_channels,
                                  input_pooling=self.settings.discriminator_pooling, name="discriminator")

    def adversarial_loss(self, fake_scores):
        return losses.bce_generator_loss(fake_scores)

    def discriminator_losses(self, condition, real, fake, rng):
        # One pass over real and fake together keeps batch-norm statistics shared.
        real_scores, fake_scores = self.judge_real_and_fake(condition, real, fake)
        d_loss = self.average(losses.bce_discriminator_loss(real_scores, fake_scores), rng.global_batch)
        return d_loss, {"d_loss": d_loss}

    def step_macs(self, g, d, b):
        """The base's generator update; the discriminator's: a G forward on B for the fake (no
        gradient), one D pass on real + fake (2B) with a 2x backward: ``G B + 3 D 2B``."""
        return super().step_macs(g, d, b)[0], g * b + 3 * d * 2 * b
