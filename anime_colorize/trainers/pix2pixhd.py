"""pix2pixHD (Wang et al. 2018) objective: multi-scale discriminators, LSGAN, feature matching.

The discriminator (:class:`~anime_colorize.models.MultiScaleDiscriminator`) is ``--num-scales``
PatchGANs, scale ``s`` seeing the pair (l, colour) average-pooled ``s`` times, each returning
its intermediate features and a patch map. The adversarial loss is least squares (LSGAN, Mao
et al. 2017), as pix2pixHD: per scale the per-sample mean over patches, summed over scales;
the discriminator's is halved (``0.5 * (real + fake)``, as pix2pixHD's code).

The generator adds to the terms of every conditional GAN (best-of-two L1, mode seeking, hint
term: see :meth:`~.conditional.ConditionalGANTrainer.generator_losses`) the feature-matching
loss x ``--lambda-fm`` (paper: 10): L1 between the discriminator's features of the real and of
the generated colouring of the same condition, over every scale and layer
(:func:`anime_colorize.losses.feature_matching_loss`). pix2pixHD has no L1 term (it pairs
feature matching with a VGG perceptual loss, left out here): ``--lambda-l1 0 --lambda-ms 0``
gives its objective without the VGG term. Its coarse-to-fine generator is not implemented;
the usual U-Net is trained. Logged: ``d_loss``, ``l1``, ``ms``, ``hint``, ``g_adv``, ``fm``,
``g_loss``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import tensorflow as tf

from anime_colorize import losses
from anime_colorize.config import check, setting
from anime_colorize.models import MultiScaleDiscriminator
from anime_colorize.trainers.conditional import ConditionalGANSettings, ConditionalGANTrainer
from anime_colorize.trainers.registry import register_trainer

if TYPE_CHECKING:
    import keras

    from anime_colorize.trainers.base import StepRandom
    from anime_colorize.config import RunConfig


@dataclass(frozen=True)
class Pix2PixHDSettings(ConditionalGANSettings):
    """The multi-scale discriminator and feature matching."""

    lambda_fm: float = setting(10.0, "weight of the discriminator feature-matching loss", minimum=0)
    num_scales: int = setting(3, "discriminator scales, each seeing the picture average-pooled by 2 once more",
                              minimum=1)

    def validate(self, config: RunConfig) -> None:
        super().validate(config)
        size = config.data.size
        # The coarsest scale must still see a picture, not a few pixels.
        check([(size // 2 ** (self.num_scales - 1) >= 8,
                f"--num-scales {self.num_scales} pools --size {size} below 8 px at the coarsest scale; "
                f"use fewer scales or a larger size")])


def _split_outputs(outputs):
    """Multi-scale outputs -> (features per scale, patch logits per scale)."""
    scales = MultiScaleDiscriminator.per_scale(outputs)
    return [scale[:-1] for scale in scales], [scale[-1] for scale in scales]


@register_trainer("pix2pixhd")
class Pix2PixHDTrainer(ConditionalGANTrainer):

    settings_class = Pix2PixHDSettings
    settings: Pix2PixHDSettings

    def build_discriminator(self) -> keras.Model:
        return MultiScaleDiscriminator(filters=self.config.model.filters, color_channels=self.color_channels,
                                       num_scales=self.settings.num_scales, name="discriminator")

    def adversarial_loss(self, fake_scores: Any) -> tf.Tensor:
        """Per-sample (B,) LSGAN generator loss summed over scales; ``fake_scores`` is the
        discriminator's output (``{"scale<s>": [features..., logits]}``)."""
        return tf.add_n([losses.lsgan_generator_loss(logits) for logits in _split_outputs(fake_scores)[1]])

    def discriminator_losses(self, condition: dict, real: tf.Tensor, fake: tf.Tensor,
                             rng: StepRandom) -> tuple[tf.Tensor, dict]:
        # One pass over real and fake: the normalisation is per sample, so this only saves time.
        real_outputs, fake_outputs = self.judge_real_and_fake(condition, real, fake)
        per_sample = tf.add_n([losses.lsgan_discriminator_loss(real_logits, fake_logits) for real_logits, fake_logits
                               in zip(_split_outputs(real_outputs)[1], _split_outputs(fake_outputs)[1])])
        d_loss = self.average(per_sample, rng.global_batch)
        return d_loss, {"d_loss": d_loss}

    def generator_adversarial_terms(self, condition: dict, condition_2: dict, real: tf.Tensor, fakes: tf.Tensor,
                                    rng: StepRandom) -> tuple[dict, tf.Tensor]:
        """LSGAN over the scales, plus feature matching, which needs the discriminator's
        features of the real colourings as well as of the two fakes."""
        fake_outputs = self.judge(condition_2, fakes)
        # The real features are targets: constants, computed once and paired with both fakes.
        real_features, _ = _split_outputs(self.judge(condition, real))
        real_features = [[tf.stop_gradient(tf.concat([f, f], axis=0)) for f in scale] for scale in real_features]
        fake_features, _ = _split_outputs(fake_outputs)
        terms = {"g_adv": self.average(self.adversarial_loss(fake_outputs), 2 * rng.global_batch),
                 "fm": self.average(losses.feature_matching_loss(real_features, fake_features), 2 * rng.global_batch)}
        return terms, self.config.train.lambda_adv * terms["g_adv"] + self.settings.lambda_fm * terms["fm"]

    def step_macs(self, g: int, d: int, b: int) -> tuple[int, int]:
        """D = all scales. The discriminator update as dcgan's (``G B + 3 D 2B``); the
        generator update adds a forward of D on the B real colourings for the
        feature-matching targets: ``+ D B``."""
        return super().step_macs(g, d, b)[0] + d * b, g * b + 3 * d * 2 * b
