"""The paired algorithms' base: a U-Net generator conditioned on a picture's lightness (or line
art, and hints), trained against that picture's true colours, with an optional discriminator
that judges (condition, colouring) pairs.

What it holds, so that each algorithm is only what makes it different:

* :meth:`ConditionalGANTrainer.target`: what the generator must produce (ab, or L and ab for
  line art); the condition is the core's :meth:`~.base.Trainer.condition`.
* :meth:`ConditionalGANTrainer.generator_losses`: two colourings per image
  (:meth:`~ConditionalGANTrainer.two_colorings`, the one place the two z are drawn), the L1 of
  the better one (best-of-two), mode seeking, the hint term for hint models, and the
  adversarial terms (:meth:`~ConditionalGANTrainer.generator_adversarial_terms`).
* the discriminator hooks: :meth:`~ConditionalGANTrainer.build_discriminator`,
  :meth:`~ConditionalGANTrainer.discriminator_losses` (called under the update's tape by
  :meth:`~ConditionalGANTrainer.discriminator_step`, once per generator step; override the
  step for another schedule, as wgangp does) and
  :meth:`~ConditionalGANTrainer.adversarial_loss`.
* the step's order (:meth:`~ConditionalGANTrainer.replica_step`): the discriminator's update
  with a fresh colouring, then the generator's; or, when the generator's z enters at its
  decoder (``--z-entry decoder``), the shared step: one generator pass (its encoder once for
  both z) whose first colouring the discriminator's first update judges.
* the FLOP estimate from the generator's and the discriminator's multiply-adds:
  each algorithm states its formula in :meth:`~ConditionalGANTrainer.step_macs`.

The settings these algorithms share are :class:`PairedSettings` (the hint term's weight, also
l2's), :class:`ConditionalGANSettings` (best-of-two L1 and mode seeking) and
:class:`PatchDiscriminatorSettings` (the resolution of a single patch discriminator).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from anime_colorize import losses
from anime_colorize.config import AlgorithmSettings, setting
from anime_colorize.models import build_generator
from anime_colorize.trainers.base import StepRandom, Trainer, example_inputs, flops_from_macs


@dataclass(frozen=True)
class PairedSettings(AlgorithmSettings):
    """Settings of every algorithm trained on paired pictures."""

    lambda_hint: float = setting(10.0, "weight of the L1 loss between the output and the hint colour at hinted "
                                       "pixels (models trained with --hints)")


@dataclass(frozen=True)
class ConditionalGANSettings(PairedSettings):
    """The generator terms of the conditional GANs besides the adversarial one."""

    lambda_l1: float = setting(100.0, "weight of the L1 loss on ab of the better of two z samples; 0 disables it")
    lambda_ms: float = setting(0.1, "mode-seeking (diversity) weight; 0 disables it")


@dataclass(frozen=True)
class PatchDiscriminatorSettings(ConditionalGANSettings):
    """The discriminator's resolution (the algorithms with one patch discriminator or critic)."""

    discriminator_pooling: int = setting(1, "the discriminator (critic) judges the pair of condition and colouring "
                                            "average-pooled this many times: its work falls with the square",
                                         choices=(1, 2, 4), absent=1)


class ConditionalGANTrainer(Trainer):
    """Base of the paired algorithms (see the module docstring). A subclass returns its
    discriminator from :meth:`build_discriminator` (None: no adversary, as l2) and writes
    :meth:`discriminator_losses` and :meth:`adversarial_loss`, or overrides
    :meth:`generator_losses` for another objective."""

    settings_class: type[AlgorithmSettings] = ConditionalGANSettings

    # --- models ------------------------------------------------------------------------
    def build_models(self):
        self.generator = build_generator(self.config.model, working_size=self.config.data.size)
        self.discriminator = self.build_discriminator()

    def build_discriminator(self):
        """The discriminator / critic, judging ``{"l": condition l, "color": colouring}``; None
        for an algorithm without one."""
        return None

    @property
    def models(self) -> list:
        return [self.generator] + ([self.discriminator] if self.discriminator is not None else [])

    @property
    def discriminator_variables(self) -> list:
        return [] if self.discriminator is None else self.discriminator.trainable_variables

    def checkpoint_extras(self) -> dict:
        return {} if self.discriminator is None else {"discriminator": self.discriminator}

    @property
    def color_channels(self) -> int:
        """Channels of what the generator produces and the discriminator judges."""
        return 3 if self.config.model.input == "lineart" else 2

    # --- condition and target ----------------------------------------------------------
    def target(self, batch):
        """What the generator must produce: ab (B, H, W, 2), or L and ab (B, H, W, 3) for line art."""
        if self.config.model.input == "lineart":
            return tf.concat([batch["l"], batch["ab"]], axis=-1)
        return batch["ab"]

    def judge(self, condition, colors, training=True):
        """Discriminator scores of colourings (B, H, W, C) for their conditions."""
        return self.discriminator({"l": condition["l"], "color": colors}, training=training)

    def judge_real_and_fake(self, condition, real, fake):
        """The discriminator's outputs for the colourings ``real`` and ``fake`` (B, H, W, C) of
        ``condition`` from ONE pass over both (so batch-norm statistics are shared between
        them): (outputs for real, outputs for fake), each structured as :meth:`judge`'s."""
        local = tf.shape(real)[0]
        outputs = self.judge(self.doubled(condition), tf.concat([real, fake], 0))
        return (tf.nest.map_structure(lambda t: t[:local], outputs),
                tf.nest.map_structure(lambda t: t[local:], outputs))

    def fake_for_discriminator(self, condition, rng: StepRandom):
        """A colouring for the discriminator's update, with no gradient into the generator."""
        return tf.stop_gradient(self.generate(condition, rng.normal(self.config.model.z_dim)))

    @staticmethod
    def doubled(condition) -> dict:
        """Each input twice along the batch axis (two z per image in one forward pass)."""
        return {k: tf.concat([v, v], axis=0) for k, v in condition.items()}

    @staticmethod
    def hint_error(colors, condition):
        """Per-sample (B,) mean |ab - hint ab| over the hinted pixels (mask-weighted; 0 where
        an image has no spatial hint). ``colors`` (B, H, W, C): ab are its last 2 channels."""
        mask = condition["hint_mask"]
        diff = tf.reduce_sum(tf.abs(colors[..., -2:] - condition["hint_ab"]) * mask, axis=[1, 2, 3])
        return diff / tf.maximum(2.0 * tf.reduce_sum(mask, axis=[1, 2, 3]), 1.0)

    @staticmethod
    def hinted(condition):
        """(B,) bool: the images given any hint (a spatial hint or a histogram); None without hints."""
        if "hint_mask" not in condition:
            return None
        return ((tf.reduce_max(condition["hint_mask"], axis=[1, 2, 3]) > 0)
                | (tf.reduce_sum(condition["hint_hist"], axis=1) > 0))

    # --- the generator's update ----------------------------------------------------------
    @property
    def encoder_shared(self) -> bool:
        """Whether the generator's z enters at the decoder (``--z-entry decoder``), so that one
        pass of its encoder serves both colourings of an image."""
        return getattr(self.generator, "z_entry", "input") == "decoder"

    @property
    def shares_generator_pass(self) -> bool:
        """Whether a step runs the generator once for everything (the shared step, see
        :meth:`replica_step`): with a discriminator, when the encoder is shared."""
        return self.discriminator is not None and self.encoder_shared

    def two_colorings(self, condition, rng: StepRandom):
        """Two colourings per image in one forward pass.

        Returns ``(z_1, z_2, condition_2, both)``: the noise (B, z_dim) each, the doubled
        condition (2B rows) and the colourings (2B, H, W, C), those of ``z_1`` first. The one
        place the generator runs for its update: override it to change how it is sampled.
        When the encoder is shared (:attr:`encoder_shared`) the generator gets the B images
        with the 2B noise vectors and repeats its encoder's output for them; otherwise it
        gets the doubled batch.
        """
        z_dim = self.config.model.z_dim
        z_1, z_2 = rng.normal(z_dim), rng.normal(z_dim)
        condition_2 = self.doubled(condition)
        z = tf.concat([z_1, z_2], axis=0)
        return z_1, z_2, condition_2, self.generate(condition if self.encoder_shared else condition_2, z)

    def generator_losses(self, condition, real, rng: StepRandom, colorings=None):
        """Total generator loss (this replica's share) and its terms, from two z per image:
        ``colorings`` as :meth:`two_colorings` returns them (made here when None).

        Without hints the L1 term pulls only the better of the two colourings towards the
        truth and the mode-seeking term pushes them apart: the colouring of a drawing is
        ambiguous, and z picks one answer. A hinted image is much less ambiguous, so there
        both colourings are pulled to the truth (mean L1) and not pushed apart: otherwise the
        second colouring is free to ignore the hints and the network learns to spread them
        only half the time. The hint term pulls both to the hint colour where hints were given.
        """
        s = self.settings
        local = tf.shape(real)[0]
        z_1, z_2, condition_2, both = colorings or self.two_colorings(condition, rng)
        fake_1, fake_2 = both[:local], both[local:]
        l1 = losses.best_of_l1(real, [fake_1, fake_2])
        ms = losses.mode_seeking_loss(fake_1, fake_2, z_1, z_2)
        hinted = self.hinted(condition)
        if hinted is not None:
            mean_l1 = 0.5 * (losses.per_sample_l1(real, fake_1) + losses.per_sample_l1(real, fake_2))
            l1 = tf.where(hinted, mean_l1, l1)
            ms = tf.where(hinted, tf.zeros_like(ms), ms)
        terms = {"l1": self.average(l1, rng.global_batch), "ms": self.average(ms, rng.global_batch)}
        total = s.lambda_l1 * terms["l1"] + s.lambda_ms * terms["ms"]
        if hinted is not None:
            terms["hint"] = self.average(self.hint_error(both, condition_2), 2 * rng.global_batch)
            total += s.lambda_hint * terms["hint"]
        if self.discriminator is not None:
            adversarial, weighted = self.generator_adversarial_terms(condition, condition_2, real, both, rng)
            terms.update(adversarial)
            total += weighted
        return total, terms

    def generator_adversarial_terms(self, condition, condition_2, real, fakes, rng: StepRandom):
        """The generator's adversarial terms for its 2B colourings ``fakes`` of the doubled
        condition ``condition_2``: ({name: share}, their weighted sum). Override to add terms
        that need the discriminator (pix2pixHD's feature matching)."""
        g_adv = self.average(self.adversarial_loss(self.judge(condition_2, fakes)), 2 * rng.global_batch)
        return {"g_adv": g_adv}, self.config.train.lambda_adv * g_adv

    def adversarial_loss(self, fake_scores):
        """Per-sample (B,) adversarial loss of the generator for the discriminator's outputs
        on its colourings (an algorithm with a discriminator implements it)."""
        raise NotImplementedError

    # --- the discriminator's update ------------------------------------------------------
    def discriminator_losses(self, condition, real, fake, rng: StepRandom):
        """This replica's share of the discriminator loss and ``{name: share}`` to log, for
        colourings ``real`` and ``fake`` (B, H, W, C) of ``condition``; called under the
        update's tape (an algorithm with a discriminator implements it)."""
        raise NotImplementedError

    def discriminator_step(self, condition, real, rng: StepRandom, fake=None) -> dict:
        """Updates the discriminator once, on the true colours ``real`` and the colouring
        ``fake`` (B, H, W, C) of ``condition``, a fresh one when None; returns what
        :meth:`discriminator_losses` logs. An override that updates several times gives
        ``fake`` to the first update only."""
        if fake is None:
            fake = self.fake_for_discriminator(condition, rng)
        _, logs = self.update(self.d_optimizer, lambda: self.discriminator_losses(condition, real, fake, rng),
                              self.discriminator_variables)
        return logs

    # --- the step ------------------------------------------------------------------------
    def replica_step(self, batch, rng: StepRandom) -> dict:
        """The discriminator's update (if any), then the generator's.

        The shared step (:attr:`shares_generator_pass`) runs the generator once: its two
        colourings per image are made first, under the generator update's tape; the
        discriminator is then updated (outside that tape) with the first colouring as its fake
        (the same generator weights and a fresh z: what a new forward pass would give, at no
        cost), and the generator's loss is taken with the updated discriminator, as in the
        other order. Otherwise the discriminator's update makes its own fake first.
        """
        condition, real = self.condition(batch), self.target(batch)
        logs = {}
        if self.shares_generator_pass:
            def generator_loss():
                colorings = self.two_colorings(condition, rng)
                first = colorings[3][:tf.shape(real)[0]]
                with self.unrecorded():
                    logs.update(self.discriminator_step(condition, real, rng, fake=tf.stop_gradient(first)))
                return self.generator_losses(condition, real, rng, colorings)
        else:
            if self.discriminator is not None:
                logs.update(self.discriminator_step(condition, real, rng))

            def generator_loss():
                return self.generator_losses(condition, real, rng)
        g_loss, terms = self.update(self.g_optimizer, generator_loss, self.generator_variables)
        return {**logs, **terms, "g_loss": g_loss}

    # --- cost ----------------------------------------------------------------------------
    def step_macs(self, g: int, d: int, b: int) -> tuple[int, int]:
        """Multiply-adds (generator update, discriminator update) of one step, for ``g`` / ``d``
        = the generator's / discriminator's multiply-adds on ONE image and ``b`` images.

        The base counts the generator update of :meth:`generator_losses`: G on 2B (two
        colourings per image) and D on 2B, backward 2x through G (activation and weight
        gradients) and 1x through D (gradients only flow through it): ``3 G 2B + 2 D 2B``.
        An algorithm with a discriminator adds its discriminator update's count.
        """
        return 3 * g * 2 * b + 2 * d * 2 * b, 0

    def penalty_macs(self, d: int, b: int) -> int:
        """Of :meth:`step_macs`'s discriminator update, the multiply-adds of its penalty (the
        gradient penalty, R1) beyond the passes the loss alone would make; 0 without one."""
        return 0

    def train_step_flops(self, count_macs, size: int, batch_size: int) -> dict:
        """As :meth:`step_macs` counts the step; the shared step (:attr:`shares_generator_pass`)
        runs the encoder once for both colourings (counted on one image with two z) and saves
        the generator forward of the first discriminator update."""
        inputs = example_inputs(self.generator, size)
        g = count_macs(self.generator, inputs)
        d = 0 if self.discriminator is None else count_macs(self.discriminator,
                                                            example_inputs(self.discriminator, size))
        generator_update, discriminator_update = self.step_macs(g, d, batch_size)
        if self.shares_generator_pass:
            g_two = count_macs(self.generator, {**inputs, "z": np.zeros((2, self.config.model.z_dim), np.float32)})
            generator_update -= 3 * (2 * g - g_two) * batch_size
            discriminator_update -= g * batch_size
        return flops_from_macs(generator_update, discriminator_update)
