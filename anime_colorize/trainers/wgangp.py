"""WGAN-GP (Gulrajani et al. 2017): Wasserstein critic with a gradient penalty.

Per generator step the critic is updated ``--n-critic`` times on the same real batch with
fresh noise. The penalty's interpolation weight is one U[0, 1] draw per sample, the batch
size is read from the tensor, and the gradient norm carries an epsilon (see
:func:`anime_colorize.losses.gradient_penalty`). The generator's loss is that of every
conditional GAN with the Wasserstein adversarial term ``-D(G(x))``.
"""
from __future__ import annotations

from dataclasses import dataclass

from anime_colorize import losses
from anime_colorize.config import setting
from anime_colorize.models import WGANCritic
from anime_colorize.trainers.conditional import ConditionalGANTrainer, PatchDiscriminatorSettings
from anime_colorize.trainers.registry import register_trainer


@dataclass(frozen=True)
class WGANGPSettings(PatchDiscriminatorSettings):
    """The critic's schedule and penalty."""

    n_critic: int = setting(2, "critic updates per generator update", minimum=1)
    lambda_gp: float = setting(10.0, "gradient-penalty weight", minimum=0)


@register_trainer("wgangp", default=True)  # the algorithm of runs that name none
class WGANGPTrainer(ConditionalGANTrainer):

    settings_class = WGANGPSettings

    def build_discriminator(self):
        return WGANCritic(filters=self.config.model.filters, color_channels=self.color_channels,
                          input_pooling=self.settings.discriminator_pooling, name="critic")

    def adversarial_loss(self, fake_scores):
        return losses.wgan_generator_loss(fake_scores)

    def discriminator_losses(self, condition, real, fake, rng):
        alpha = rng.uniform(1, 1, 1)  # one U[0, 1] weight per sample
        real_scores = self.judge(condition, real)
        fake_scores = self.judge(condition, fake)
        gp = self.average(losses.gradient_penalty(
            lambda colors: self.judge(condition, colors), real, fake, alpha), rng.global_batch)
        wasserstein = self.average(losses.wgan_critic_loss(real_scores, fake_scores), rng.global_batch)
        d_loss = wasserstein + self.settings.lambda_gp * gp
        # -wasserstein estimates the W1 distance.
        return d_loss, {"d_loss": d_loss, "w_dist": -wasserstein, "gp": gp}

    def discriminator_step(self, condition, real, rng, fake=None):
        for i in range(self.settings.n_critic):  # unrolled at trace time: n_critic is a Python int
            # A given fake serves the first update; the others make their own.
            logs = super().discriminator_step(condition, real, rng, fake if i == 0 else None)
        # Logged from the last critic iteration.
        return logs

    def step_macs(self, g, d, b):
        """``n_critic`` times: G on B, critic on real and fake (``3 D B`` each), and the
        gradient penalty: forward D B, input gradient D B, then the outer gradient through both
        (the double backward, 2x of each): ``6 D B``; in all ``G B + 12 D B`` per update."""
        return super().step_macs(g, d, b)[0], self.settings.n_critic * (g * b + 3 * d * b * 2 + 6 * d * b)

    def penalty_macs(self, d, b):
        return self.settings.n_critic * 6 * d * b
