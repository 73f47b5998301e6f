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

Settings (:class:`CycleGANSettings`): the two folders and the page scale, the ResNets' depth,
the loss weights and the pool size. The trainer derives from the core
(:class:`~anime_colorize.trainers.base.Trainer`) directly: its step is its own.
"""
from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import tensorflow as tf

from anime_colorize import losses
from anime_colorize.config import AlgorithmSettings, check, setting
from anime_colorize.data import pipeline
from anime_colorize.models.resnet import PatchDiscriminator, ResNetGenerator, ResNetTranslator
from anime_colorize.trainers.base import StepRandom, Trainer, example_inputs, flops_from_macs
from anime_colorize.trainers.registry import register_trainer

if TYPE_CHECKING:
    import keras

    from anime_colorize.config import RunConfig


@dataclass(frozen=True)
class CycleGANSettings(AlgorithmSettings):
    """Unpaired training: two folders instead of --data, ResNet generators, cycle and identity terms."""

    data_a: str | None = setting(None, "folder of black-and-white pages (domain A), searched recursively "
                                       "(default, with --data-b also absent: built-in pictures turned gray)")
    data_b: str | None = setting(None, "folder of colour images (domain B), unpaired with --data-a "
                                       "(default, with --data-a also absent: other built-in cel pictures)")
    page_scale: float = setting(4.0, "pages (--data-a) are loaded with their shorter side at size*page_scale, "
                                     "as two squares (top/left and bottom/right) so the whole page is used, then "
                                     "cropped at random; inference colours a page at the same scale", minimum=1.0)
    resnet_blocks: int = setting(6, "residual blocks of the ResNet generators (--filters sets their width)",
                                 minimum=1)
    lambda_cycle: float = setting(10.0, "cycle-consistency L1 weight, both directions", minimum=0)
    lambda_identity: float = setting(5.0, "identity L1 weight (the paper's 0.5 x --lambda-cycle): the colourer "
                                          "on a colour picture's lightness gives its colours, the page maker "
                                          "leaves a colourless picture as it is; 0 disables it", minimum=0)
    pool_size: int = setting(50, "generated images kept per domain in the history pool the discriminators also "
                                 "see; 0 = judge only the newest", minimum=0)

    def validate(self, config: RunConfig) -> None:
        super().validate(config)
        d, m, algo = config.data, config.model, config.train.algo
        check([
            (d.data is None, f"--algo {algo} trains on two unpaired folders: give --data-a (black-and-white "
                             "pages) and --data-b (colour images) instead of --data"),
            ((self.data_a is None) == (self.data_b is None),
             f"--algo {algo} needs both --data-a (black-and-white pages) and --data-b (colour images), "
             f"or neither (built-in pictures); only --data-{'a' if self.data_a is not None else 'b'} was given"),
            (m.input == "gray", f"--algo {algo} colours pages from their lightness: --input must be gray"),
            (m.hints == "none", f"--algo {algo} has no colour hints: --hints must be none"),
            (not m.uses_regions, f"--algo {algo} takes no region labels: leave out --region-pooling"),
            (d.size % 4 == 0, f"--size {d.size} must be divisible by 4 for the ResNet generators"),
        ])


def working_size(config: RunConfig) -> int:
    """The scale (shorter side, px) the colourer's pages were trained at (see the module docstring)."""
    s = cast(CycleGANSettings, config.algorithm)
    return config.data.size if s.data_a is None else round(config.data.size * s.page_scale)


def _unpaired_data(config):
    """The data settings with the two folders and the page scale, as
    :func:`~anime_colorize.data.pipeline.unpaired_source_from_config` reads them."""
    s = config.algorithm
    return types.SimpleNamespace(**dataclasses.asdict(config.data), data_a=s.data_a, data_b=s.data_b,
                                 page_scale=s.page_scale)


@register_trainer("cyclegan")
class CycleGANTrainer(Trainer):

    settings_class = CycleGANSettings
    settings: CycleGANSettings

    def __init__(self, config: RunConfig, strategy: tf.distribute.Strategy | None = None) -> None:
        strategy = strategy or tf.distribute.get_strategy()
        if strategy.num_replicas_in_sync > 1:
            raise ValueError(f"--algo cyclegan runs on one device: its history pools are state updated in "
                             f"the step; use --strategy default, not {config.train.strategy}")
        super().__init__(config, strategy)

    # --- models, checkpoint and data -------------------------------------------------------
    def build_models(self) -> None:
        m, d, s = self.config.model, self.config.data, self.settings
        resnet: dict[str, Any] = dict(blocks=s.resnet_blocks, filters=m.filters, norm="instance")
        self.generator = ResNetGenerator(z_dim=m.z_dim, input_kind="gray", working_size=working_size(self.config),
                                         name="generator", **resnet)
        self.page_generator = ResNetTranslator(in_channels=3, out_channels=1, name="page_generator", **resnet)
        self.discriminator = PatchDiscriminator(channels=2, filters=m.filters, name="discriminator")
        self.page_discriminator = PatchDiscriminator(channels=1, filters=m.filters, name="page_discriminator")
        self.pool_b = tf.Variable(tf.zeros((s.pool_size, d.size, d.size, 2)), trainable=False, name="pool_b")
        self.pool_a = tf.Variable(tf.zeros((s.pool_size, d.size, d.size, 1)), trainable=False, name="pool_a")
        self.pool_count = tf.Variable(0, dtype=tf.int32, trainable=False, name="pool_count")

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
        return {"discriminator": self.discriminator, "page_generator": self.page_generator,
                "page_discriminator": self.page_discriminator,
                "pool_a": self.pool_a, "pool_b": self.pool_b, "pool_count": self.pool_count}

    def batch_signature(self) -> dict:
        return pipeline.unpaired_batch_signature()

    @classmethod
    def make_source(cls, config: RunConfig, progress: bool = True) -> tuple[Any, Any]:
        return pipeline.unpaired_source_from_config(_unpaired_data(config), config.train.seed, progress=progress)

    def make_dataset(self, source: Any, start_step: int = 0) -> tf.data.Dataset:
        d = self.config.data
        return pipeline.unpaired_training_dataset(source, d.size, d.batch_size, self.config.train.seed,
                                                  start_step=start_step, flip=d.flip)

    def example_batch(self, batch: dict) -> dict:
        """A paired batch as both domains: its colour pictures are B, and the same pictures in
        reverse order, seen only through their lightness, are the pages A."""
        if "a_l" in batch:
            return batch
        return {"l": batch["l"], "ab": batch["ab"], "a_l": tf.reverse(batch["l"], axis=[0])}

    def train_step_flops(self, count_macs: Callable[[keras.Model, Any], int], size: int, batch_size: int) -> dict:
        """G, F, D_B, D_A = forward multiply-adds per image of the colourer, the page maker and
        the two discriminators; B = batch size. The generators' update runs G on 3B (pages,
        the colour pictures' lightness, the cycle back) and F on 3B, D_B and D_A on B each,
        backward 2x through G and F and 1x through the discriminators:
        ``9 G B + 9 F B + 2 (D_B + D_A) B``. The discriminators' update runs each on 2B
        (real and pooled fakes) with a 2x backward: ``6 (D_B + D_A) B``."""
        g, f, d_b, d_a = (count_macs(model, example_inputs(model, size)) for model in self.models)
        b = batch_size
        return flops_from_macs(9 * g * b + 9 * f * b + 2 * (d_b + d_a) * b, 6 * (d_b + d_a) * b)

    # --- the step --------------------------------------------------------------------------
    def query_pool(self, pool: tf.Variable, images: tf.Tensor, rng: StepRandom) -> tf.Tensor:
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

    def generator_losses(self, batch: dict, rng: StepRandom) -> tuple[tf.Tensor, dict, tuple[tf.Tensor, tf.Tensor]]:
        """The generators' loss (this replica's share), its terms, and the new fakes (ab of the
        coloured pages, and the pages drawn from colour pictures) for the discriminators."""
        s, t, z_dim = self.settings, self.config.train, self.config.model.z_dim
        real_a, l_b, ab_b = batch["a_l"], batch["l"], batch["ab"]
        real_b = tf.concat([l_b, ab_b], axis=-1)
        local, n = rng.local_batch, rng.global_batch
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
                  + s.lambda_cycle * (terms["cycle_a"] + terms["cycle_b"])
                  + s.lambda_identity * (terms["identity_a"] + terms["identity_b"]))
        return g_loss, terms, (fake_ab, fake_a)

    def discriminator_losses(self, batch: dict, shown_b: tf.Tensor, shown_a: tf.Tensor,
                             rng: StepRandom) -> tuple[tf.Tensor, dict]:
        """Both discriminators' loss (this replica's share) and their terms, judging the real
        pictures and pages against the fakes the pools show."""
        n = rng.global_batch
        real_b_scores, fake_b_scores = tf.split(self.discriminator(tf.concat([batch["ab"], shown_b], 0),
                                                                   training=True), 2, axis=0)
        real_a_scores, fake_a_scores = tf.split(self.page_discriminator(tf.concat([batch["a_l"], shown_a], 0),
                                                                        training=True), 2, axis=0)
        d_b = self.average(losses.lsgan_discriminator_loss(real_b_scores, fake_b_scores), n)
        d_a = self.average(losses.lsgan_discriminator_loss(real_a_scores, fake_a_scores), n)
        d_loss = d_a + d_b
        return d_loss, {"d_a": d_a, "d_b": d_b, "d_loss": d_loss}

    def replica_step(self, batch: dict, rng: StepRandom) -> dict:
        """G and F, then the discriminators on the same step (as the reference code)."""
        g_loss, terms, (fake_ab, fake_a) = self.update(self.g_optimizer, lambda: self.generator_losses(batch, rng),
                                                       self.generator_variables)
        shown_b = self.query_pool(self.pool_b, tf.stop_gradient(fake_ab), rng)
        shown_a = self.query_pool(self.pool_a, tf.stop_gradient(fake_a), rng)
        self.pool_count.assign(tf.minimum(self.pool_count + rng.local_batch, self.pool_b.shape[0]))
        _, d_logs = self.update(self.d_optimizer, lambda: self.discriminator_losses(batch, shown_b, shown_a, rng),
                                self.discriminator_variables)
        return {**terms, "g_loss": g_loss, **d_logs}
