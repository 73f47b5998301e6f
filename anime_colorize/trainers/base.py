"""The trainer core shared by every algorithm: models, optimizers, checkpoint, seeds, compile,
distribution, and the one update idiom.

A trainer is a plain object (as in TensorFlow's pix2pix library module) that owns the models,
their optimizers, the one seed generator and a ``tf.train.Checkpoint`` of all of them. Its
``train_step(batch)`` is a ``tf.function`` (XLA-compiled with ``--xla``; with ``--eager`` the
same function run eagerly, for debugging). The core knows nothing of any loss: a subclass
builds its models (:meth:`Trainer.build_models`) and writes one replica's step
(:meth:`Trainer.replica_step`) with :meth:`Trainer.update`, which owns the tape / loss
scaling / apply idiom. The paired algorithms share :class:`~.conditional.ConditionalGANTrainer`;
cyclegan derives from this core directly.

Batches are dicts of normalised tensors (:func:`anime_colorize.data.pipeline.batch_signature`,
or what the trainer's :meth:`Trainer.batch_signature` says): ``l`` (B, H, W, 1) and ``ab``
(B, H, W, 2) in [-1, 1] (see :mod:`anime_colorize.color`), plus ``lines`` for line-art input
and ``hint_ab``, ``hint_mask``, ``hint_hist`` for hint models, and ``regions`` (B, H, W) int32
region labels when the model configuration uses regions (``ModelConfig.uses_regions``); the
generator gets them when it has a ``regions`` input (:meth:`Trainer.condition`).

Distribution: everything is built in ``strategy.scope()`` and the step body runs under
``strategy.run`` on each replica's share of the global batch. So that a step gives the same
result however the batch is split:
- losses are per-sample and averaged over the *global* batch (:meth:`Trainer.average`); the
  optimizer sums the replicas' gradients;
- random numbers are drawn for the whole global batch from one per-step seed and each
  replica takes its own rows (:class:`StepRandom`);
- batch normalisation is synchronised across replicas (see models/layers.py).
With the default strategy (one device) the step has a fixed input signature with unknown
batch size, so a short last batch never retraces.
"""
from __future__ import annotations

import contextlib
import threading

import keras
import numpy as np
import tensorflow as tf

from anime_colorize import distribute
from anime_colorize.config import AlgorithmSettings
from anime_colorize.data import pipeline
from anime_colorize.models import takes_regions


class StepRandom:
    """Random draws inside one replica's step, for the replica's rows of the global batch.

    ``seed`` (2,) int is drawn once per step by the trainer; each draw folds in a running
    counter, so draws are distinct, and the same on every replica before slicing.
    """

    def __init__(self, seed, local_batch, num_replicas: int):
        self.seed = seed
        self.local_batch = local_batch
        self.global_batch = local_batch * num_replicas
        context = tf.distribute.get_replica_context()
        replica = context.replica_id_in_sync_group if context is not None else 0
        self.offset = tf.cast(replica, tf.int32) * local_batch
        self.count = 0

    def _next_seed(self):
        self.count += 1
        return tf.random.experimental.stateless_fold_in(self.seed, self.count)

    def _rows(self, values):
        return values[self.offset:self.offset + self.local_batch]

    def normal(self, *shape):
        """N(0, 1) of shape (local_batch, *shape)."""
        return self._rows(tf.random.stateless_normal((self.global_batch,) + shape, seed=self._next_seed()))

    def uniform(self, *shape):
        """U[0, 1) of shape (local_batch, *shape)."""
        return self._rows(tf.random.stateless_uniform((self.global_batch,) + shape, seed=self._next_seed()))


def example_inputs(model, size: int) -> dict | np.ndarray:
    """Zeros shaped like one input of ``model`` (batch 1) at ``size`` x ``size`` pixels, in the
    input's dtype (int region labels: one region): its unknown spatial dimensions become
    ``size``. A dict for a model with named inputs."""
    def zeros(spec):
        return np.zeros((1,) + tuple(size if d is None else d for d in spec.shape[1:]), spec.dtype or np.float32)

    return {k: zeros(v) for k, v in model.input.items()} if isinstance(model.input, dict) else zeros(model.input)


def flops_from_macs(generator_update: int, discriminator_update: int) -> dict:
    """FLOPs ``{"generator_update", "discriminator_update", "total"}`` of a step from its
    multiply-adds (one multiply-add is two floating-point operations)."""
    flops = {"generator_update": 2 * generator_update, "discriminator_update": 2 * discriminator_update}
    flops["total"] = flops["generator_update"] + flops["discriminator_update"]
    return flops


class Trainer:
    """The core: seeds, models, optimizers, checkpoint, the compiled step and distribution.

    Args:
        config: a :class:`~anime_colorize.config.RunConfig` whose ``algorithm`` is an instance
            of this trainer's :attr:`settings_class` (available as ``self.settings``).
        strategy: a ``tf.distribute.Strategy``; default: the current (default) strategy.

    A subclass provides :meth:`build_models` (setting ``self.generator``, the model a run
    exports, and any others) and :meth:`replica_step`; it lists its models in :attr:`models`,
    what each optimizer updates in :attr:`generator_variables` and
    :attr:`discriminator_variables` (``g_optimizer`` at ``--lr-g`` is always made,
    ``d_optimizer`` at ``--lr-d`` when there is something for it), and more state to
    checkpoint in :meth:`checkpoint_extras`. A trainer with other data than paired pictures
    overrides :meth:`batch_signature`, :meth:`make_source`, :meth:`make_dataset` and
    :meth:`example_batch`.
    """

    name = "base"
    settings_class: type[AlgorithmSettings] = AlgorithmSettings
    generator: keras.Model  # the model a run exports: set by build_models

    def __init__(self, config, strategy=None):
        if type(config.algorithm) is not self.settings_class:
            raise ValueError(f"{type(self).__name__} takes {self.settings_class.__name__}, "
                             f"not {type(config.algorithm).__name__}")
        self.config = config
        self.settings = config.algorithm
        self.strategy = strategy or tf.distribute.get_strategy()
        t = config.train
        # Weight initialisers draw from Keras' global seed: set it so the run's one seed
        # decides the initial weights too.
        keras.utils.set_random_seed(t.seed)
        with self.strategy.scope(), distribute.dtype_policy(t.mixed_precision):
            self.build_models()
            self.g_optimizer = self._optimizer(t.lr_g, self.generator_variables)
            self.optimizers = [self.g_optimizer]
            tracked = {"generator": self.generator, "g_optimizer": self.g_optimizer}
            if self.discriminator_variables:
                self.d_optimizer = self._optimizer(t.lr_d, self.discriminator_variables)
                self.optimizers.append(self.d_optimizer)
                tracked["d_optimizer"] = self.d_optimizer
            tracked.update(self.checkpoint_extras())
            self.seed_generator = keras.random.SeedGenerator(t.seed)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.checkpoint = tf.train.Checkpoint(step=self.step, seed_state=self.seed_generator.state, **tracked)
        self.train_step = self.compile(self.train_step_fn)

    def _optimizer(self, learning_rate, variables):
        t = self.config.train
        optimizer = distribute.make_optimizer(learning_rate, t.beta_1, t.beta_2, t.mixed_precision)
        optimizer.build(variables)
        return optimizer

    def compile(self, step_fn):
        """``step_fn`` as the run executes it: eager (``--eager``), or a ``tf.function``
        (XLA-compiled with ``--xla``) with the batch signature when on one device."""
        t = self.config.train
        if t.eager:
            return step_fn
        distributed = self.strategy.num_replicas_in_sync > 1
        return tf.function(step_fn, jit_compile=t.xla, reduce_retracing=True,
                           input_signature=None if distributed else [self.batch_signature()])

    # --- what subclasses provide -------------------------------------------------------
    def build_models(self) -> None:
        """Sets ``self.generator`` (the model a run exports) and any other model the step
        trains; runs under the strategy's scope and the dtype policy."""
        raise NotImplementedError

    def replica_step(self, batch, rng: StepRandom) -> dict:
        """The step on one replica's share of ``batch``: update the models (with
        :meth:`update`), return ``{name: this replica's share of the global-batch mean}``
        (see :meth:`average`). Draw every random number from ``rng``."""
        raise NotImplementedError

    @property
    def models(self) -> list:
        """Every model the step trains."""
        return [self.generator]

    @property
    def generator_variables(self) -> list:
        """What ``g_optimizer`` updates."""
        return self.generator.trainable_variables

    @property
    def discriminator_variables(self) -> list:
        """What ``d_optimizer`` updates; empty: no ``d_optimizer``."""
        return []

    def checkpoint_extras(self) -> dict:
        """More {name: trackable} for the checkpoint than the generator, the optimizers, the
        step and the seed."""
        return {}

    def batch_signature(self) -> dict:
        """TensorSpecs of the batches :meth:`train_step` takes."""
        m = self.config.model
        return pipeline.batch_signature(m.input, m.hints, m.uses_regions)

    @classmethod
    def make_source(cls, config, progress: bool = True):
        """(source, scan report): the training pictures (see :mod:`anime_colorize.data.pipeline`);
        the report is None for built-in pictures."""
        return pipeline.source_from_config(config.data, config.train.seed, progress=progress)

    def make_dataset(self, source, start_step: int = 0):
        """The endless batch stream from ``source`` from ``start_step`` batches in; a pure
        function of (seed, element number), so a resumed run sees what it would have seen."""
        d, m = self.config.data, self.config.model
        return pipeline.training_dataset(source, d.size, d.batch_size, self.config.train.seed,
                                         start_step=start_step, flip=d.flip, input_kind=m.input, hints=m.hints,
                                         regions=m.uses_regions)

    def example_batch(self, batch) -> dict:
        """A batch :meth:`train_step` takes, made from a paired batch (see
        :func:`~anime_colorize.data.pipeline.batch_signature`): tests feed every trainer this way."""
        return batch

    def train_step_flops(self, count_macs, size: int, batch_size: int) -> dict | None:
        """FLOPs of one :meth:`train_step` at ``size`` px and ``batch_size`` images (an
        analytic estimate, see :mod:`anime_colorize.benchmark`), as :func:`flops_from_macs`;
        ``count_macs(model, inputs)`` gives a model's multiply-adds for ``inputs`` (see
        :func:`example_inputs`). None: this trainer has no estimate."""
        return None

    # --- the exported generator's interface ----------------------------------------------
    def condition(self, batch) -> dict:
        """The generator's inputs other than z from a paired batch: ``l`` (the lightness, or
        the line art for a line-art model), for hint models the hints, and for a generator
        with a ``regions`` input the region labels."""
        inputs = {"l": batch["lines"] if self.generator.input_kind == "lineart" else batch["l"]}
        if self.generator.hint_kinds:
            inputs.update({k: batch[k] for k in ("hint_ab", "hint_mask", "hint_hist")})
        if takes_regions(self.generator):
            inputs["regions"] = batch["regions"]
        return inputs

    def generate(self, condition, z, training=True):
        """The generator's colourings (B, H, W, 2 or 3) of ``condition`` for noise ``z`` (B, z_dim)."""
        return self.generator({**condition, "z": z}, training=training)

    # --- helpers for the step ------------------------------------------------------------
    def update(self, optimizer, loss_fn, variables):
        """One optimizer update: runs ``loss_fn()`` under a gradient tape, scales its loss (a
        float16 run's loss scaling; otherwise as is), applies the gradients to ``variables``.

        ``loss_fn`` returns the loss (this replica's share, a scalar), or a tuple whose first
        element is the loss; that return value is returned. Inside ``loss_fn``,
        :meth:`unrecorded` pauses this update's tape (for another update made in between).
        """
        tapes = self._update_tapes()
        with tf.GradientTape() as tape:
            tapes.append(tape)
            try:
                result = loss_fn()
            finally:
                tapes.pop()
            loss = result[0] if isinstance(result, tuple) else result
            scaled = optimizer.scale_loss(loss)
        optimizer.apply(tape.gradient(scaled, variables), variables)
        return result

    def _update_tapes(self) -> list:
        # Per thread: a mirrored strategy traces each replica's step in a thread of its own,
        # and the replicas take turns at every cross-replica sum.
        local = self.__dict__.setdefault("_update_tapes_local", threading.local())
        if not hasattr(local, "tapes"):
            local.tapes = []
        return local.tapes

    @contextlib.contextmanager
    def unrecorded(self):
        """Within the ``loss_fn`` of :meth:`update`: nothing run in this block is recorded
        for that update's gradients (for instance another model's whole update, made between
        two parts of this one's loss)."""
        tapes = self._update_tapes()
        if not tapes:
            raise RuntimeError("unrecorded() is for the loss function of an update() in progress")
        with tapes[-1].stop_recording():
            yield

    @staticmethod
    def average(per_sample, global_count):
        """This replica's share of the mean over the global batch: sum / global count."""
        return tf.reduce_sum(per_sample) / tf.cast(global_count, per_sample.dtype)

    # --- the step ------------------------------------------------------------------------
    def _replica_step(self, batch, seed):
        local_batch = tf.shape(tf.nest.flatten(batch)[0])[0]
        return self.replica_step(batch, StepRandom(seed, local_batch, self.strategy.num_replicas_in_sync))

    def train_step_fn(self, batch):
        """One step of the algorithm; returns {name: global-batch mean}."""
        seed = self.seed_generator.next()  # drawn here, outside the replicas: see StepRandom
        shares = self.strategy.run(self._replica_step, args=(batch, seed))
        self.step.assign_add(1)
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in shares.items()}
