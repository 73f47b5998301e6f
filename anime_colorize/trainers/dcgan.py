"""DCGAN (Radford et al. 2016) as a conditional colourer: a batch-normalised discriminator
with the non-saturating cross-entropy loss, one discriminator update per generator update."""
from __future__ import annotations

import tensorflow as tf

from anime_colorize import losses
from anime_colorize.models import DCGANDiscriminator
from anime_colorize.trainers.base import Trainer
from anime_colorize.trainers.registry import register_trainer


@register_trainer("dcgan")
class DCGANTrainer(Trainer):

    def build_discriminator(self):
        return DCGANDiscriminator(filters=self.config.model.filters, color_channels=self.color_channels,
                                  name="discriminator")

    def adversarial_loss(self, fake_scores):
        return losses.bce_generator_loss(fake_scores)

    def discriminator_step(self, condition, real, rng):
        fake = self.fake_for_discriminator(condition, rng)
        with tf.GradientTape() as tape:
            # One pass over real and fake together keeps batch-norm statistics shared.
            scores = self.judge(self.doubled(condition), tf.concat([real, fake], 0))
            real_scores, fake_scores = tf.split(scores, 2, axis=0)
            d_loss = self.average(losses.bce_discriminator_loss(real_scores, fake_scores), rng.global_batch)
            scaled = self.d_optimizer.scale_loss(d_loss)
        variables = self.discriminator.trainable_variables
        self.d_optimizer.apply(tape.gradient(scaled, variables), variables)
        return {"d_loss": d_loss}
