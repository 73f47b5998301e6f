"""Trainers: one module per ``--algo``, all behind :mod:`.registry`.

How to add a training algorithm:

1. Create ``anime_colorize/trainers/<name>.py`` with a subclass of
   :class:`~anime_colorize.trainers.base.Trainer`, decorated with
   ``@register_trainer("<name>")``.
2. Implement ``build_discriminator()`` (return None if the algorithm needs none),
   ``discriminator_step(l, ab_real, rng)`` (update the discriminator, return a dict of scalar
   losses) and ``adversarial_loss(fake_scores)`` (the generator's per-sample adversarial
   term), or override ``generator_losses`` / ``replica_step`` for a different scheme. Write
   losses per sample and reduce them with ``self.average(per_sample, rng.global_batch)``,
   draw every random number from ``rng`` (a :class:`~anime_colorize.trainers.base.StepRandom`)
   so runs are reproducible and identical under any distribution strategy, read the batch
   size from the tensors, and keep the step free of Python side effects.
3. Import the module below. The test suite parametrises over the registry, so the new
   trainer is smoke-tested (eager and compiled, finite losses, weights change) at once.
"""
from anime_colorize.trainers import dcgan, wgangp  # noqa: F401  (registers the trainers)
from anime_colorize.trainers.base import Trainer
from anime_colorize.trainers.registry import available_trainers, get_trainer, register_trainer

__all__ = ["Trainer", "available_trainers", "get_trainer", "register_trainer"]
