"""The trainer contract shared by every algorithm.

A trainer is a plain object (as in TensorFlow's pix2pix library module) that owns the models,
their optimizers, the one seed generator and a ``tf.train.Checkpoint`` of all of them. Its
``train_step(batch)`` is a ``tf.function`` (or, with ``eager=True``, the same function run
eagerly for debugging).

Batches are dicts of normalised tensors (:func:`anime_colorize.data.pipeline.batch_signature`):
``l`` (B, H, W, 1) and ``ab`` (B, H, W, 2) in [-1, 1] (see :mod:`anime_colorize.color`), plus
``lines`` for line-art input and ``hint_ab``, ``hint_mask``, ``hint_hist`` for hint models.
:meth:`Trainer.condition` picks what the generator sees (the ``l`` input: lightness or line
art, and the hints) and :meth:`Trainer.target` what it must produce (ab, or L and ab for line
art). Discriminators judge ``{"l": condition["l"], "color": target or fake}``.

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

import keras
import tensorflow as tf

from anime_colorize import distribute, losses
from anime_colorize.data import pipeline
from anime_colorize.models import build_generator


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


class Trainer:
    """Base class: generator, optional discriminator, optimizers, seed, checkpoint.

    Args:
        config: a :class:`~anime_colorize.config.RunConfig`.
        strategy: a ``tf.distribute.Strategy``; default: the current (default) strategy.

    Subclasses implement :meth:`build_discriminator`, :meth:`discriminator_step` and
    :meth:`adversarial_loss`. A trainer with other models or other data (cyclegan) overrides
    :meth:`build_models`, :attr:`generator_variables`, :attr:`discriminator_variables`,
    :meth:`checkpoint_extras`, :meth:`batch_signature`, :meth:`make_source`,
    :meth:`make_dataset` and :meth:`example_batch`; ``generator`` is always the model that
    a run exports.
    """

    name = "base"

    def __init__(self, config, strategy=None):
        self.config = config
        self.strategy = strategy or tf.distribute.get_strategy()
        t = config.train
        # Weight initialisers draw from Keras' global seed: set it so the run's one seed
        # decides the initial weights too.
        keras.utils.set_random_seed(t.seed)
        with self.strategy.scope(), distribute.dtype_policy(t.mixed_precision):
            self.build_models()
            self.g_optimizer = distribute.make_optimizer(t.lr_g, t.beta_1, t.beta_2, t.mixed_precision)
            self.g_optimizer.build(self.generator_variables)
            tracked = {"generator": self.generator, "g_optimizer": self.g_optimizer}
            self.optimizers = [self.g_optimizer]
            if self.discriminator is not None:
                self.d_optimizer = distribute.make_optimizer(t.lr_d, t.beta_1, t.beta_2, t.mixed_precision)
                self.d_optimizer.build(self.discriminator_variables)
                tracked.update(discriminator=self.discriminator, d_optimizer=self.d_optimizer)
                self.optimizers.append(self.d_optimizer)
            tracked.update(self.checkpoint_extras())
            self.seed_generator = keras.random.SeedGenerator(t.seed)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.checkpoint = tf.train.Checkpoint(step=self.step, seed_state=self.seed_generator.state, **tracked)
        if t.eager:
            self.train_step = self.train_step_fn
        else:
            distributed = self.strategy.num_replicas_in_sync > 1
            signature = [self.batch_signature()]
            self.train_step = tf.function(self.train_step_fn, jit_compile=t.xla,
                                          input_signature=None if distributed else signature,
                                          reduce_retracing=True)

    # --- what subclasses provide -------------------------------------------------------
    def build_models(self):
        """Sets ``self.generator`` (the model a run exports) and ``self.discriminator`` (or
        None); runs under the strategy's scope and the dtype policy, so a trainer with more
        models builds them all here."""
        self.generator = build_generator(self.config.model, working_size=self.config.data.size)
        self.discriminator = self.build_discriminator()

    @property
    def models(self) -> list:
        """Every model the step trains."""
        return [self.generator] + ([self.discriminator] if self.discriminator is not None else [])

    @property
    def generator_variables(self) -> list:
        """What ``g_optimizer`` updates."""
        return self.generator.trainable_variables

    @property
    def discriminator_variables(self) -> list:
        """What ``d_optimizer`` updates (when there is a discriminator)."""
        return self.discriminator.trainable_variables

    def checkpoint_extras(self) -> dict:
        """More {name: trackable} for the checkpoint than the models, optimizers, step and seed."""
        return {}

    def batch_signature(self) -> dict:
        """TensorSpecs of the batches :meth:`train_step` takes."""
        return pipeline.batch_signature(self.config.model.input, self.config.model.hints)

    @classmethod
    def make_source(cls, config, progress: bool = True):
        """(source, scan report or None): the training pictures (see :mod:`anime_colorize.data.pipeline`)."""
        return pipeline.source_from_config(config.data, config.train.seed, progress=progress)

    def make_dataset(self, source, start_step: int = 0):
        """The endless batch stream from ``source`` from ``start_step`` batches in; a pure
        function of (seed, element number), so a resumed run sees what it would have seen."""
        d, m = self.config.data, self.config.model
        return pipeline.training_dataset(source, d.size, d.batch_size, self.config.train.seed,
                                         start_step=start_step, flip=d.flip, input_kind=m.input, hints=m.hints)

    def example_batch(self, batch) -> dict:
        """A batch :meth:`train_step` takes, made from a paired batch (see
        :func:`~anime_colorize.data.pipeline.batch_signature`): tests feed every trainer this way."""
        return batch

    def build_discriminator(self):
        """The discriminator / critic model, or None."""
        raise NotImplementedError

    def discriminator_step(self, condition, real, rng: StepRandom):
        """Updates the discriminator once per generator step, for generator inputs
        ``condition`` (see :meth:`condition`) and true colours ``real`` (see :meth:`target`);
        returns {name: this replica's share of the global-batch mean}."""
        raise NotImplementedError

    def adversarial_loss(self, fake_scores):
        """Per-sample (B,) adversarial loss of the generator for discriminator outputs (B, 1)."""
        raise NotImplementedError

    # --- helpers -------------------------------------------------------------------------
    @staticmethod
    def average(per_sample, global_count):
        """This replica's share of the mean over the global batch: sum / global count."""
        return tf.reduce_sum(per_sample) / tf.cast(global_count, per_sample.dtype)

    @property
    def color_channels(self) -> int:
        """Channels of what the generator produces and the discriminator judges."""
        return 3 if self.config.model.input == "lineart" else 2

    def condition(self, batch) -> dict:
        """The generator's inputs other than z, from a batch: ``l`` (lightness or line art)
        and, for hint models, the hints."""
        inputs = {"l": batch["lines"] if self.config.model.input == "lineart" else batch["l"]}
        if self.generator.hint_kinds:
            inputs.update({k: batch[k] for k in ("hint_ab", "hint_mask", "hint_hist")})
        return inputs

    def target(self, batch):
        """What the generator must produce: ab (B, H, W, 2), or L and ab (B, H, W, 3) for line art."""
        if self.config.model.input == "lineart":
            return tf.concat([batch["l"], batch["ab"]], axis=-1)
        return batch["ab"]

    def generate(self, condition, z, training=True):
        return self.generator({**condition, "z": z}, training=training)

    def judge(self, condition, colors, training=True):
        """Discriminator scores (B, 1) of colourings (B, H, W, C) for their conditions."""
        return self.discriminator({"l": condition["l"], "color": colors}, training=training)

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
        """(B,) bool: the images given any hint (a spatial hint or a histogram)."""
        if "hint_mask" not in condition:
            return None
        return ((tf.reduce_max(condition["hint_mask"], axis=[1, 2, 3]) > 0)
                | (tf.reduce_sum(condition["hint_hist"], axis=1) > 0))

    # --- the step ------------------------------------------------------------------------
    def generator_losses(self, condition, real, rng: StepRandom):
        """Total generator loss (this replica's share) and its terms, from two z per image.

        Both colourings are made in one forward pass of a doubled batch. Without hints the L1
        term pulls only the better of the two towards the truth and the mode-seeking term
        pushes them apart: the colouring of a drawing is ambiguous, and z picks one answer.
        A hinted image is much less ambiguous, so there both colourings are pulled to the
        truth (mean L1) and not pushed apart: otherwise the second colouring is free to
        ignore the hints and the network learns to spread them only half the time. The hint
        term pulls both to the hint colour where hints were given.
        """
        t = self.config.train
        z_dim = self.config.model.z_dim
        local = tf.shape(real)[0]
        z_1, z_2 = rng.normal(z_dim), rng.normal(z_dim)
        condition_2 = self.doubled(condition)
        both = self.generate(condition_2, tf.concat([z_1, z_2], axis=0))
        fake_1, fake_2 = both[:local], both[local:]
        l1 = losses.best_of_l1(real, [fake_1, fake_2])
        ms = losses.mode_seeking_loss(fake_1, fake_2, z_1, z_2)
        hinted = self.hinted(condition)
        if hinted is not None:
            mean_l1 = 0.5 * (losses.per_sample_l1(real, fake_1) + losses.per_sample_l1(real, fake_2))
            l1 = tf.where(hinted, mean_l1, l1)
            ms = tf.where(hinted, tf.zeros_like(ms), ms)
        terms = {"l1": self.average(l1, rng.global_batch), "ms": self.average(ms, rng.global_batch)}
        total = t.lambda_l1 * terms["l1"] + t.lambda_ms * terms["ms"]
        if hinted is not None:
            terms["hint"] = self.average(self.hint_error(both, condition_2), 2 * rng.global_batch)
            total += t.lambda_hint * terms["hint"]
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

    def replica_step(self, batch, seed):
        """The step on one replica's share of the batch; returns its shares of the losses."""
        condition, real = self.condition(batch), self.target(batch)
        rng = StepRandom(seed, tf.shape(real)[0], self.strategy.num_replicas_in_sync)
        logs = {}
        if self.discriminator is not None:
            logs.update(self.discriminator_step(condition, real, rng))
        with tf.GradientTape() as tape:
            g_loss, terms = self.generator_losses(condition, real, rng)
            scaled = self.g_optimizer.scale_loss(g_loss)  # loss scaling under float16; else as is
        variables = self.generator_variables
        self.g_optimizer.apply(tape.gradient(scaled, variables), variables)
        logs.update(terms)
        logs["g_loss"] = g_loss
        return logs

    def train_step_fn(self, batch):
        """One generator update (after the discriminator's); returns {name: global mean}."""
        seed = self.seed_generator.next()  # drawn here, outside the replicas: see StepRandom
        shares = self.strategy.run(self.replica_step, args=(batch, seed))
        self.step.assign_add(1)
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in shares.items()}
