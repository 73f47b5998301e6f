"""WGAN-GP (Gulrajani et al. 2017): Wasserstein critic with a gradient penalty.

Per generator step the critic is updated ``n_critic`` times on the same real batch with
fresh noise. The penalty's interpolation weight is one U[0, 1] draw per sample, the batch
size is read from the tensor, and the gradient norm carries an epsilon (see
:func:`anime_colorize.losses.gradient_penalty`).
"""
from __future__ import annotations

import tensorflow as tf

from anime_colorize import losses
from anime_colorize.models import WGANCritic
from anime_colorize.trainers.base import Trainer
from anime_colorize.trainers.registry import register_trainer


@register_trainer("wgangp")
class WGANGPTrainer(Trainer):

    def build_discriminator(self):
        return WGANCritic(filters=self.config.model.filters, color_channels=self.color_channels, name="critic")

    def adversarial_loss(self, fake_scores):
        return losses.wgan_generator_loss(fake_scores)

    def discriminator_step(self, condition, real, rng):
        t = self.config.train
        variables = self.discriminator.trainable_variables
        for _ in range(t.n_critic):  # unrolled at trace time: n_critic is a Python int
            fake = self.fake_for_discriminator(condition, rng)
            alpha = rng.uniform(1, 1, 1)  # one U[0, 1] weight per sample
            with tf.GradientTape() as tape:
                real_scores = self.judge(condition, real)
                fake_scores = self.judge(condition, fake)
                gp = self.average(losses.gradient_penalty(
                    lambda colors: self.judge(condition, colors), real, fake, alpha), rng.global_batch)
                wasserstein = self.average(losses.wgan_critic_loss(real_scores, fake_scores), rng.global_batch)
                d_loss = wasserstein + t.lambda_gp * gp
                scaled = self.d_optimizer.scale_loss(d_loss)
            self.d_optimizer.apply(tape.gradient(scaled, variables), variables)
        # Logged from the last critic iteration; -wasserstein estimates the W1 distance.
        return {"d_loss": d_loss, "w_dist": -wasserstein, "gp": gp}
