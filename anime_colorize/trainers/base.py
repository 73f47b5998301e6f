"""The trainer contract shared by every algorithm.

A trainer is a plain object (as in TensorFlow's pix2pix library module) that owns the models,
their optimizers, the one seed generator and a ``tf.train.Checkpoint`` of all of them. Its
``train_step(batch)`` is a ``tf.function`` with a batch-size-agnostic input signature (one
trace serves every batch size, so a short last batch never retraces) or, with
``eager=True``, the same Python function run eagerly for debugging.

Batches are dicts of normalised tensors: ``l`` (B, H, W, 1) and ``ab`` (B, H, W, 2), both in
[-1, 1] (see :mod:`anime_colorize.color`).
"""
from __future__ import annotations

import keras
import tensorflow as tf

from anime_colorize import losses
from anime_colorize.models import build_generator

BATCH_SIGNATURE = {
    "l": tf.TensorSpec((None, None, None, 1), tf.float32),
    "ab": tf.TensorSpec((None, None, None, 2), tf.float32),
}


class Trainer:
    """Base class: generator, optional discriminator, optimizers, seed, checkpoint.

    Args:
        config: a :class:`~anime_colorize.config.RunConfig`.

    Subclasses implement :meth:`build_discriminator`, :meth:`discriminator_step` and
    :meth:`adversarial_loss`.
    """

    name = "base"

    def __init__(self, config):
        self.config = config
        t = config.train
        # Weight initialisers draw from Keras' global seed: set it so the run's one seed
        # decides the initial weights too.
        keras.utils.set_random_seed(t.seed)
        self.generator = build_generator(config.model, working_size=config.data.size)
        self.discriminator = self.build_discriminator()
        self.g_optimizer = keras.optimizers.Adam(t.lr_g, beta_1=t.beta_1, beta_2=t.beta_2)
        self.g_optimizer.build(self.generator.trainable_variables)
        tracked = {"generator": self.generator, "g_optimizer": self.g_optimizer}
        if self.discriminator is not None:
            self.d_optimizer = keras.optimizers.Adam(t.lr_d, beta_1=t.beta_1, beta_2=t.beta_2)
            self.d_optimizer.build(self.discriminator.trainable_variables)
            tracked.update(discriminator=self.discriminator, d_optimizer=self.d_optimizer)
        self.seed_generator = keras.random.SeedGenerator(t.seed)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.checkpoint = tf.train.Checkpoint(step=self.step, seed_state=self.seed_generator.state, **tracked)
        if t.eager:
            self.train_step = self.train_step_fn
        else:
            self.train_step = tf.function(self.train_step_fn, input_signature=[BATCH_SIGNATURE],
                                          jit_compile=t.xla)

    # --- what subclasses provide -------------------------------------------------------
    def build_discriminator(self):
        """The discriminator / critic model, or None."""
        raise NotImplementedError

    def discriminator_step(self, l, ab_real):
        """Updates the discriminator once per generator step; returns {name: scalar loss}."""
        raise NotImplementedError

    def adversarial_loss(self, fake_scores):
        """The generator's adversarial loss for discriminator outputs (B, 1) of its samples."""
        raise NotImplementedError

    # --- randomness: everything flows from self.seed_generator ---------------------------
    def noise(self, batch_size):
        """z ~ N(0, 1), shape (batch_size, z_dim)."""
        return tf.random.stateless_normal((batch_size, self.config.model.z_dim),
                                          seed=self.seed_generator.next())

    def uniform(self, shape):
        return tf.random.stateless_uniform(shape, seed=self.seed_generator.next())

    # --- the step ------------------------------------------------------------------------
    def generate(self, l, z, training=True):
        return self.generator({"l": l, "z": z}, training=training)

    def generator_losses(self, l, ab_real):
        """Total generator loss and its terms, from two z samples per image.

        Both colourings are made in one forward pass of a doubled batch. The L1 term pulls
        only the better of the two towards the truth; the mode-seeking term pushes them apart.
        """
        t = self.config.train
        batch = tf.shape(l)[0]
        z_1, z_2 = self.noise(batch), self.noise(batch)
        l_2 = tf.concat([l, l], axis=0)
        ab_both = self.generate(l_2, tf.concat([z_1, z_2], axis=0))
        ab_1, ab_2 = ab_both[:batch], ab_both[batch:]
        terms = {"l1": losses.best_of_l1(ab_real, [ab_1, ab_2]),
                 "ms": losses.mode_seeking_loss(ab_1, ab_2, z_1, z_2)}
        total = t.lambda_l1 * terms["l1"] + t.lambda_ms * terms["ms"]
        if self.discriminator is not None:
            fake_scores = self.discriminator({"l": l_2, "ab": ab_both}, training=True)
            terms["g_adv"] = self.adversarial_loss(fake_scores)
            total += t.lambda_adv * terms["g_adv"]
        return total, terms

    def train_step_fn(self, batch):
        """One generator update (after the discriminator's); returns {name: scalar}."""
        l, ab_real = batch["l"], batch["ab"]
        logs = {}
        if self.discriminator is not None:
            logs.update(self.discriminator_step(l, ab_real))
        with tf.GradientTape() as tape:
            g_loss, terms = self.generator_losses(l, ab_real)
        variables = self.generator.trainable_variables
        self.g_optimizer.apply(tape.gradient(g_loss, variables), variables)
        self.step.assign_add(1)
        logs.update(terms)
        logs["g_loss"] = g_loss
        return logs

    def fake_for_discriminator(self, l):
        """A colouring for the discriminator's update, with no gradient into the generator."""
        return tf.stop_gradient(self.generate(l, self.noise(tf.shape(l)[0])))
