"""Trainers: one module per ``--algo``, all behind :mod:`.registry`.

The algorithms:

* ``wgangp``: Wasserstein critic with a gradient penalty (Gulrajani et al. 2017).
* ``dcgan``: batch-normalised discriminator, non-saturating cross-entropy (Radford et al. 2016).
* ``pix2pix``: conditional PatchGAN, cross-entropy on every patch (Isola et al. 2017).
* ``pix2pix_gp``: pix2pix plus the R1 penalty on real data (Mescheder et al. 2018).
* ``pix2pixhd``: multi-scale discriminators, LSGAN and feature matching (Wang et al. 2018).
* ``l2``: no discriminator, mean squared error only: the dull-colour regression baseline.
* ``cyclegan``: unpaired pages (``--data-a``) and colour pictures (``--data-b``): ResNet
  generators both ways, LSGAN, cycle and identity terms, history pools (Zhu et al. 2017).

Two layers hold what they share:

* :class:`~.base.Trainer`, the core: seeds, models, optimizers, checkpoint, the compiled
  (``tf.function`` / XLA / eager) and distributed step, and :meth:`~.base.Trainer.update`,
  the one tape / loss-scaling / apply idiom. ``cyclegan`` derives from it directly.
* :class:`~.conditional.ConditionalGANTrainer`, for the paired algorithms (all but
  ``cyclegan``): condition and target, two colourings per image with best-of-two L1 and mode
  seeking, the hint term, and the discriminator hooks.

How to add a training algorithm:

1. Create ``anime_colorize/trainers/<name>.py``.
2. Declare its settings: a frozen dataclass derived from
   :class:`~anime_colorize.config.AlgorithmSettings` (or from
   :class:`~.conditional.ConditionalGANSettings` to share the paired algorithms' L1, mode
   seeking and hint weights), one :func:`~anime_colorize.config.setting` per knob. Each
   field becomes a flag of ``train`` (``lambda_foo`` -> ``--lambda-foo``, listed with its
   default in ``--help``, in a group of its own headed by the docstring's first line) and a
   key of the algorithm's section of ``config.json``. Check them in its ``validate(config)``
   (raise ValueError naming the flag; call ``super().validate(config)``).
3. Write the trainer, decorated with ``@register_trainer("<name>")``, with
   ``settings_class = <YourSettings>`` (read them as ``self.settings``):

   * from :class:`~.conditional.ConditionalGANTrainer`: return the discriminator from
     ``build_discriminator()`` (None for none) and implement
     ``discriminator_losses(condition, real, fake, rng)`` (the discriminator's loss and a
     dict to log) and ``adversarial_loss(fake_scores)`` (the generator's per-sample term);
     or override ``generator_losses`` / ``discriminator_step`` for another scheme;
   * or from :class:`~.base.Trainer`: implement ``build_models()`` (set ``self.generator``,
     the model a run exports, and any others; list them in ``models`` and what each
     optimizer updates in ``generator_variables`` / ``discriminator_variables``) and
     ``replica_step(batch, rng)``, updating each model with
     ``self.update(optimizer, loss_fn, variables)``; other data than paired pictures goes
     through ``batch_signature``, ``make_source``, ``make_dataset`` and ``example_batch``.

   Write losses per sample and reduce them with ``self.average(per_sample, rng.global_batch)``,
   draw every random number from ``rng`` (a :class:`~.base.StepRandom`) so runs are
   reproducible and identical under any distribution strategy, read the batch size from the
   tensors, and keep the step free of Python side effects. Give its FLOP count: ``step_macs``
   on the conditional base, or ``train_step_flops`` on the core (``benchmark`` reports it).
4. Import the module below (keep the list sorted). The test suite parametrises over the
   registry, so the new trainer is smoke-tested (eager and compiled, finite losses, weights
   change, mixed precision, a short last batch, exact resume) at once.

``tests/test_trainers.py::test_an_algorithm_is_one_module`` registers a toy algorithm from a
test module and trains and exports it: a working example of steps 2 and 3.
"""
# noqa: F401 below: importing a trainer module registers it.
from anime_colorize.trainers import cyclegan, dcgan, l2, pix2pix, pix2pix_gp, pix2pixhd, wgangp  # noqa: F401
from anime_colorize.trainers.base import StepRandom, Trainer
from anime_colorize.trainers.conditional import ConditionalGANTrainer
from anime_colorize.trainers.registry import available_trainers, get_trainer, register_trainer, unregister_trainer

__all__ = ["ConditionalGANTrainer", "StepRandom", "Trainer", "available_trainers", "get_trainer",
           "register_trainer", "unregister_trainer"]
