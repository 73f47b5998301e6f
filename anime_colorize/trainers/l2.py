"""Plain U-Net regression baseline: mean squared error to the true colours, nothing else.

No discriminator, one z per image (fed, but with nothing rewarding its use the network learns
to ignore it), no best-of-two and no mode seeking. A colour that is ambiguous from the
lightness or the lines (a red or a blue coat) is regressed to the mean of the possibilities:
the dull, brownish-gray colourings this baseline is kept to show (Zhang et al. 2016, section
2.1, on why a Euclidean loss desaturates). For hint models the hint term of the paired
algorithms (L1 to the hint colour at hinted pixels, weight ``--lambda-hint``) is added.

Loss per sample: ``lambda_l2 * mean((target - G(condition, z))^2) [+ lambda_hint * hint]``,
target and output in [-1, 1] (ab, or L and ab for line art). Logged: ``l2``, ``hint``,
``g_loss``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from anime_colorize import losses
from anime_colorize.config import setting
from anime_colorize.trainers.conditional import ConditionalGANTrainer, PairedSettings
from anime_colorize.trainers.registry import register_trainer

if TYPE_CHECKING:
    import tensorflow as tf

    from anime_colorize.trainers.base import StepRandom


@dataclass(frozen=True)
class L2Settings(PairedSettings):
    """The regression baseline's weight."""

    lambda_l2: float = setting(100.0, "weight of the mean-squared-error loss on the colours", minimum=0)


@register_trainer("l2")
class L2Trainer(ConditionalGANTrainer):

    settings_class = L2Settings
    settings: L2Settings

    def generator_losses(self, condition: dict, real: tf.Tensor, rng: StepRandom,
                         colorings: tuple | None = None) -> tuple[tf.Tensor, dict]:
        """The L2 loss of one colouring per image, made here (and the hint term when hinted).
        ``colorings`` keeps the base's signature: only the shared step passes them, and without
        a discriminator this trainer never takes it (:attr:`shares_generator_pass` is False)."""
        s = self.settings
        fake = self.generate(condition, rng.normal(self.config.model.z_dim))
        terms = {"l2": self.average(losses.per_sample_l2(real, fake), rng.global_batch)}
        total = s.lambda_l2 * terms["l2"]
        if "hint_mask" in condition:
            terms["hint"] = self.average(self.hint_error(fake, condition), rng.global_batch)
            total += s.lambda_hint * terms["hint"]
        return total, terms

    def step_macs(self, g: int, d: int, b: int) -> tuple[int, int]:
        """No discriminator; one colouring per image: the generator update is ``3 G B``."""
        return 3 * g * b, 0
