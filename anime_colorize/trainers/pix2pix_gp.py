"""pix2pix with the R1 gradient penalty (Mescheder et al. 2018, "Which training methods for
GANs do actually converge?", eq. 9).

As :mod:`.pix2pix`, with the discriminator loss plus ``gamma / 2 * ||grad_x D(l, x)||^2`` at
the REAL colourings ``x``, per sample (``gamma`` = ``--lambda-r1``), where ``D`` is the
sample's mean patch logit (see :func:`anime_colorize.losses.r1_penalty`). The penalty is
zero-centred and on real data only: it makes the discriminator flat on the data manifold,
which is what makes the GAN's dynamics converge locally. The discriminator has no
normalisation (as in the paper's experiments): batch norm would couple the samples of a
batch and so the per-sample gradients. Logged: ``d_loss`` (with the penalty), ``r1``
(the mean ``||grad||^2``), and the generator terms of :mod:`.pix2pix`.
"""
from __future__ import annotations

from dataclasses import dataclass

from anime_colorize import losses
from anime_colorize.config import setting
from anime_colorize.trainers.conditional import PatchDiscriminatorSettings
from anime_colorize.trainers.pix2pix import Pix2PixTrainer
from anime_colorize.trainers.registry import register_trainer


@dataclass(frozen=True)
class Pix2PixGPSettings(PatchDiscriminatorSettings):
    """The R1 penalty's weight."""

    lambda_r1: float = setting(10.0, "R1 penalty weight gamma: gamma / 2 * ||grad D(real)||^2 per sample",
                               minimum=0)


@register_trainer("pix2pix_gp")
class Pix2PixGPTrainer(Pix2PixTrainer):

    settings_class = Pix2PixGPSettings
    discriminator_norm = "none"

    def discriminator_losses(self, condition, real, fake, rng):
        # The real logits come out of the penalty's own forward pass (recorded by the
        # update's tape too), so the real batch goes through the discriminator once.
        r1, real_logits = losses.r1_penalty(lambda colors: self.judge(condition, colors), real)
        fake_logits = self.judge(condition, fake)
        bce = self.average(losses.patch_bce_discriminator_loss(real_logits, fake_logits), rng.global_batch)
        r1 = self.average(r1, rng.global_batch)
        d_loss = bce + 0.5 * self.settings.lambda_r1 * r1
        return d_loss, {"d_loss": d_loss, "r1": r1}

    def step_macs(self, g, d, b):
        """G on B; the real pass serves the R1 penalty and the loss: forward D B, input
        gradient D B, double backward 2x of each (``6 D B``); fake ``3 D B``: ``G B + 9 D B``."""
        return super().step_macs(g, d, b)[0], g * b + 9 * d * b

    def penalty_macs(self, d, b):
        """The real pass's input gradient and the double backward: ``3 D B`` beyond its ``3 D B``."""
        return 3 * d * b
