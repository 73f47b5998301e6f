"""Trainers: one module per ``--algo``, all behind :mod:`.registry`.

The algorithms:

* ``wgangp``: Wasserstein critic with a gradient penalty (Gulrajani et al. 2017).
* ``dcgan``: batch-normalised discriminator, non-saturating cross-entropy (Radford et al. 2016).
* ``pix2pix``: conditional PatchGAN, cross-entropy on every patch (Isola et al. 2017).
* ``pix2pix_gp``: pix2pix plus the R1 penalty on real data (Mescheder et al. 2018).
* ``pix2pixhd``: multi-scale discriminators, LSGAN and feature matching (Wang et al. 2018).
* ``l2``: no discriminator, mean squared error only: the dull-colour regression baseline.
* ``cyclegan``: unpaired pages (``--data-a``) and colour pictures (``--data-b``): ResNet
  generators both ways, LSGAN, cycle and identity terms, history pools (Zhu et al. 2017). It
  brings its own models, data and batches through the hooks of the base class.

All but ``l2`` and ``cyclegan`` add to their adversarial loss the generator terms of
:meth:`~anime_colorize.trainers.base.Trainer.generator_losses` (best-of-two L1, mode
seeking and, for hint models, the hint term).

How to add a training algorithm:

1. Create ``anime_colorize/trainers/<name>.py`` with a subclass of
   :class:`~anime_colorize.trainers.base.Trainer`, decorated with
   ``@register_trainer("<name>")``.
2. Implement ``build_discriminator()`` (return None if the algorithm needs none),
   ``discriminator_step(condition, real, rng)`` (update the discriminator, return a dict of scalar
   losses) and ``adversarial_loss(fake_scores)`` (the generator's per-sample adversarial
   term), or override ``generator_losses`` / ``replica_step`` for a different scheme. Write
   losses per sample and reduce them with ``self.average(per_sample, rng.global_batch)``,
   draw every random number from ``rng`` (a :class:`~anime_colorize.trainers.base.StepRandom`)
   so runs are reproducible and identical under any distribution strategy, read the batch
   size from the tensors, and keep the step free of Python side effects.
3. Import the module below (keep the list sorted). The test suite parametrises over the
   registry, so the new trainer is smoke-tested (eager and compiled, finite losses, weights
   change, mixed precision) at once.
"""
# noqa: F401 below: importing a trainer module registers it.
from anime_colorize.trainers import cyclegan, dcgan, l2, pix2pix, pix2pix_gp, pix2pixhd, wgangp  # noqa: F401
from anime_colorize.trainers.base import Trainer
from anime_colorize.trainers.registry import available_trainers, get_trainer, register_trainer

__all__ = ["Trainer", "available_trainers", "get_trainer", "register_trainer"]
