"""CycleGAN (Zhu et al. 2017): unpaired training between black-and-white pages and colour pictures.

Domains: A = black-and-white pages (``--data-a``), of which only the lightness is used;
B = colour pictures (``--data-b``), unrelated to the pages. With neither folder given, A is
built-in pictures turned gray and B other built-in pictures (see
:func:`anime_colorize.data.pipeline.unpaired_source_from_config`). A batch holds a batch of
each: ``a_l`` (B, H, W, 1), the pages' normalised lightness, and ``l``, ``ab``, the colour
pictures' (:func:`~anime_colorize.data.pipeline.unpaired_batch_signature`).

Models (:mod:`anime_colorize.models.resnet`, instance-normalised ResNets; chosen automatically,
``--resnet-blocks`` deep and ``--filters`` wide):

* ``generator`` G: A -> B, the colourer. It takes ``l`` (and ``z``, ignored: CycleGAN is
  deterministic, see :mod:`anime_colorize.models.resnet`) and predicts ``ab``; the
  colour picture it makes of a page is (the page's L, ab). So it is a gray-input model like
  any other: it is what a run exports, and it colours pages with ``sample`` / ``colorize``.
  Its ``working_size`` is the scale pages were trained at, ``size * page_scale`` (just
  ``size`` with built-in data), so inference brings a page's shorter side to that scale.
* ``page_generator`` F: B -> A, maps a colour picture (Lab, 3 channels) to a page's
  lightness (1 channel): it learns to draw a colour picture as a black-and-white page.
* ``discriminator`` D_B judges the colours (ab) of colour pictures; ``page_discriminator`` D_A
  judges pages (L). Both are unconditional PatchGANs scored with the least-squares loss on
  every patch. D_B sees ab alone, not Lab, because G cannot change L: a page's lightness
  (screentone, text, balloons) and a colour picture's differ whatever G does, so a D_B that
  saw L told the domains apart by L alone and pushed G towards adversarial chroma noise (seen:
  cyan and yellow stripes over whole crops after 2,000 steps of manga_bw against faces64).

Generator objective (G and F updated together by ``g_optimizer``, per sample, averaged over
the global batch)::

    lambda_adv      * (LS(D_B(G(L_a))) + LS(D_A(F(b))))
  + lambda_cycle    * (|F(L_a, G(L_a)) - L_a| + |(F(b), G(F(b))) - b|)
  + lambda_identity * (|G(L_b) - ab_b| + |F(L_a, 0) - L_a|)

The identity terms, the paper's "a picture already in the target domain is left alone",
read here: G given the lightness of a colour picture gives back its colours (so G also learns
plain colourisation from B), and F given a page as a colourless picture (ab = 0) gives the
page back. Because G keeps its input's L, the A -> B -> A cycle can be met by F copying L;
the B -> A -> B cycle is the one that binds: F must turn a colour picture into a page from
which G recovers the colours, while D_A makes that page look like the real ones (screentone,
ink, white paper), so G learns to colour page-like lightness.

Discriminators (``d_optimizer``, updated after G and F on the same step, as in the reference
code): ``LS(D(real) -> 1, D(fake) -> 0) / 2`` each, where the fakes are drawn from a history
pool (Shrivastava et al. 2017) of the last ``--pool-size`` generated images per domain: while
the pool fills, each new fake is stored and shown; once full, each new fake is, with
probability 1/2, swapped for a stored one at a random slot (the stored one is shown), else
shown itself. The pools are ``tf.Variable``s (checkpointed: a resumed run continues with the
same pool), filled in a fixed-shape dense update that also runs under XLA; the choices come
from the step's :class:`~anime_colorize.trainers.base.StepRandom`. One simplification: a
batch that straddles "filling" and "full" only fills (it is at most one batch per run).
The pools are shared state updated in the step, so cyclegan runs on one device
(``--strategy default``); other strategies are refused with a message.
"""
from __future__ import annotations

import tensorflow as tf

from anime_colorize import losses
from anime_colorize.data import pipeline
from anime_colorize.models.resnet import PatchDiscriminator, ResNetGenerator, ResNetTranslator
from anime_colorize.trainers.base import StepRandom, Trainer
from anime_colorize.trainers.registry import register_trainer


def working_size(config) -> int:
    """The scale (shorter side, px) the colourer's pages were trained at (see the module docstring)."""
    d = config.data
    return d.size if d.data_a is None else round(d.size * d.page_scale)


@register_trainer("cyclegan")
class CycleGANTrainer(Trainer):

    def __init__(self, config, strategy=None):
        strategy = strategy or tf.distribute.get_strategy()
        if strategy.num_replicas_in_sync > 1:
            raise ValueError(f"--algo cyclegan runs on one device: its history pools are state updated in "
                             f"the step; use --strategy default, not {config.train.strategy}")
        super().__init__(config, strategy)

    # --- models, checkpoint and data -------------------------------------------------------
    def build_models(self):
        m, d, t = self.config.model, self.config.data, self.config.train
        resnet = dict(blocks=m.resnet_blocks, filters=m.filters, norm="instance")
        self.generator = ResNetGenerator(z_dim=m.z_dim, input_kind="gray", working_size=working_size(self.config),
                                         name="generator", **resnet)
        self.page_generator = ResNetTranslator(in_channels=3, out_channels=1, name="page_generator", **resnet)
        self.discriminator = PatchDiscriminator(channels=2, filters=m.filters, name="discriminator")
        self.page_discriminator = PatchDiscriminator(channels=1, filters=m.filters, name="page_discriminator")
        self.pool_b = tf.Variable(tf.zeros((t.pool_size, d.size, d.size, 2)), trainable=False, name="pool_b")
        self.pool_a = tf.Variable(tf.zeros((t.pool_size, d.size, d.size, 1)), trainable=False, name="pool_a")
        self.pool_count = tf.Variable(0, dtype=tf.int32, trainable=False, name="pool_count")

    def build_discriminator(self):  # build_models makes both discriminators
        raise NotImplementedError

    @property
    def models(self) -> list:
        return [self.generator, self.page_generator, self.discriminator, self.page_discriminator]

    @property
    def generator_variables(self) -> list:
        return self.generator.trainable_variables + self.page_generator.trainable_variables

    @property
    def discriminator_variables(self) -> list:
        return self.discriminator.trainable_variables + self.page_discriminator.trainable_variables

    def checkpoint_extras(self) -> dict:
        return {"page_generator": self.page_generator, "page_discriminator": self.page_discriminator,
                "pool_a": self.pool_a, "pool_b": self.pool_b, "pool_count": self.pool_count}

    def batch_signature(self) -> dict:
        return pipeline.unpaired_batch_signature()

    @classmethod
    def make_source(cls, config, progress: bool = True):
        return pipeline.unpaired_source_from_config(config.data, config.train.seed, progress=progress)

    def make_dataset(self, source, start_step: int = 0):
        d = self.config.data
        return pipeline.unpaired_training_dataset(source, d.size, d.batch_size, self.config.train.seed,
                                                  start_step=start_step, flip=d.flip)

    def example_batch(self, batch) -> dict:
        """A paired batch as both domains: its colour pictures are B, and the same pictures in
        reverse order, seen only through their lightness, are the pages A."""
        if "a_l" in batch:
            return batch
        return {"l": batch["l"], "ab": batch["ab"], "a_l": tf.reverse(batch["l"], axis=[0])}

    # --- the step --------------------------------------------------------------------------
    def query_pool(self, pool, images, rng: StepRandom):
        """What the discriminator sees for new fakes ``images`` (n, H, W, C) (see the module
        docstring), and the pool updated; ``pool_count`` is advanced by the caller."""
        capacity = pool.shape[0]
        if capacity == 0:
            return images
        n = tf.shape(images)[0]
        index = tf.range(n)
        full = self.pool_count >= capacity
        swap_draw = rng.uniform()  # (n,)
        permutation = tf.argsort(rng.uniform(capacity)[0])  # distinct slots for the swaps
        swap_slots = tf.gather(permutation, tf.minimum(index, capacity - 1))
        swap = full & (swap_draw < 0.5) & (index < capacity)
        fill_slots = self.pool_count + index
        fill = tf.logical_not(full) & (fill_slots < capacity)
        slots = tf.where(full, swap_slots, tf.minimum(fill_slots, capacity - 1))
        shown = tf.where(swap[:, None, None, None], tf.gather(pool, swap_slots), images)
        # Dense write of the chosen (distinct) slots: deterministic, and fixed shapes for XLA.
        writes = tf.one_hot(slots, capacity) * tf.cast(swap | fill, tf.float32)[:, None]  # (n, capacity)
        kept = 1.0 - tf.reduce_sum(writes, axis=0)
        pool.assign(pool * kept[:, None, None, None] + tf.einsum("np,nhwc->phwc", writes, images))
        return shown

    def replica_step(self, batch, seed):
        t, z_dim = self.config.train, self.config.model.z_dim
        real_a, l_b, ab_b = batch["a_l"], batch["l"], batch["ab"]
        real_b = tf.concat([l_b, ab_b], axis=-1)
        local = tf.shape(real_a)[0]
        rng = StepRandom(seed, local, self.strategy.num_replicas_in_sync)
        n = rng.global_batch

        with tf.GradientTape() as tape:
            # Instance norm keeps samples independent, so each model runs once on its inputs stacked.
            colors = self.generator({"l": tf.concat([real_a, l_b], 0),
                                     "z": tf.concat([rng.normal(z_dim), rng.normal(z_dim)], 0)}, training=True)
            fake_ab, identity_ab = colors[:local], colors[local:]
            fake_b = tf.concat([real_a, fake_ab], axis=-1)
            colorless_a = tf.concat([real_a, tf.zeros_like(fake_ab)], axis=-1)
            pages = self.page_generator(tf.concat([fake_b, real_b, colorless_a], 0), training=True)
            rec_a, fake_a, identity_a = pages[:local], pages[local:2 * local], pages[2 * local:]
            rec_b = tf.concat([fake_a, self.generator({"l": fake_a, "z": rng.normal(z_dim)}, training=True)], -1)
            terms = {
                "g_adv_b": self.average(losses.lsgan_generator_loss(self.discriminator(fake_ab, training=True)), n),
                "g_adv_a": self.average(losses.lsgan_generator_loss(self.page_discriminator(fake_a, training=True)), n),
                "cycle_a": self.average(losses.per_sample_l1(real_a, rec_a), n),
                "cycle_b": self.average(losses.per_sample_l1(real_b, rec_b), n),
                "identity_b": self.average(losses.per_sample_l1(ab_b, identity_ab), n),
                "identity_a": self.average(losses.per_sample_l1(real_a, identity_a), n),
            }
            g_loss = (t.lambda_adv * (terms["g_adv_a"] + terms["g_adv_b"])
                      + t.lambda_cycle * (terms["cycle_a"] + terms["cycle_b"])
                      + t.lambda_identity * (terms["identity_a"] + terms["identity_b"]))
            scaled = self.g_optimizer.scale_loss(g_loss)
        variables = self.generator_variables
        self.g_optimizer.apply(tape.gradient(scaled, variables), variables)

        shown_b = self.query_pool(self.pool_b, tf.stop_gradient(fake_ab), rng)
        shown_a = self.query_pool(self.pool_a, tf.stop_gradient(fake_a), rng)
        self.pool_count.assign(tf.minimum(self.pool_count + local, self.pool_b.shape[0]))
        with tf.GradientTape() as tape:
            real_b_scores, fake_b_scores = tf.split(self.discriminator(tf.concat([ab_b, shown_b], 0),
                                                                       training=True), 2, axis=0)
            real_a_scores, fake_a_scores = tf.split(self.page_discriminator(tf.concat([real_a, shown_a], 0),
                                                                            training=True), 2, axis=0)
            d_b = self.average(losses.lsgan_discriminator_loss(real_b_scores, fake_b_scores), n)
            d_a = self.average(losses.lsgan_discriminator_loss(real_a_scores, fake_a_scores), n)
            d_loss = d_a + d_b
            scaled = self.d_optimizer.scale_loss(d_loss)
        variables = self.discriminator_variables
        self.d_optimizer.apply(tape.gradient(scaled, variables), variables)
        return {**terms, "g_loss": g_loss, "d_a": d_a, "d_b": d_b, "d_loss": d_loss}
