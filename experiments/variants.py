"""Cheaper training steps for the same quality: model and trainer variants, their work per
training image (analytic), their speed, and their held-out quality at an equal number of steps.

    python experiments/variants.py flops                       # GFLOP per training image, every variant
    python experiments/variants.py time --out reports/variants_time.json
    python experiments/variants.py train --variant proposed -- --data ../shared/data/faces64 \\
        --exclude '*_2011.jpg' --drop-gray 4 --cache --size 64 --steps 600 --out runs/v_proposed --overwrite

A variant is a set of model options (:class:`~anime_colorize.models.UNetGenerator`'s
``z_entry``, ``convs_per_level``, ``full_resolution``; the critic's ``input_pooling`` and
width), ``n_critic``, and a step scheme:

* ``current``: the wgangp step as the trainers run it today: the generator on the doubled
  batch (2B, two z per image), the critic ``n_critic`` times, each with a fresh generator
  forward for its fake;
* ``shared``: a prototype of the proposed step (gray input, no hints; here only, the
  trainers are unchanged): the generator called once with B images and 2B noise vectors, so
  with ``z_entry="decoder"`` its encoder runs once for both z (the model repeats the
  encoder's outputs, see ``RepeatToBatch``); the critic update reuses the first colouring of
  that pass as its fake (same generator weights, a fresh z: the same distribution as a new
  forward) instead of another generator forward; the generator's adversarial term is taken
  after the critic update, as today.

``train`` runs ``python -m anime_colorize.train`` with ``--algo wgangp`` replaced by this
variant (registered as ``wgangp_variant``); the flags after ``--`` go to train unchanged.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed_common import layer_macs, one_image_inputs, random_batch, timed  # noqa: E402,I001

from anime_colorize import config as config_lib, losses  # noqa: E402
from anime_colorize.config import hint_kinds_for  # noqa: E402
from anime_colorize.models import PatchGANDiscriminator, UNetGenerator, WGANCritic  # noqa: E402
from anime_colorize.trainers.base import StepRandom  # noqa: E402
from anime_colorize.trainers.registry import register_trainer  # noqa: E402
from anime_colorize.trainers.wgangp import WGANGPTrainer  # noqa: E402

LIGHT = {"convs_per_level": 1, "full_resolution": "light"}
VARIANTS = {  # name: generator options, critic options, n_critic, scheme
    "baseline": ({}, {}, 2, "current"),
    "n_critic 1": ({}, {}, 1, "current"),
    "critic half-res": ({}, {"input_pooling": 2}, 2, "current"),
    "shared step (z at decoder)": ({"z_entry": "decoder"}, {}, 2, "shared"),
    "1 conv per level": ({"convs_per_level": 1}, {}, 2, "current"),
    "light full-res": ({"full_resolution": "light"}, {}, 2, "current"),
    "light model": ({"z_entry": "decoder", **LIGHT}, {}, 2, "current"),
    "light model, n_critic 1, critic half-res": ({"z_entry": "decoder", **LIGHT}, {"input_pooling": 2}, 1,
                                                 "current"),
    "proposed": ({"z_entry": "decoder", **LIGHT}, {"input_pooling": 2}, 1, "shared"),
}
ENCODER_LAYERS = ("stem", "down", "hist_embed")  # the layers before z with z_entry="decoder"


class VariantTrainer(WGANGPTrainer):
    """wgangp with a variant's models and, for the ``shared`` scheme, the prototype step."""

    variant = VARIANTS["baseline"]

    def build_models(self):
        g_options, critic_options, _, _ = self.variant
        m = self.config.model
        self.generator = UNetGenerator(z_dim=m.z_dim, depth=m.depth, filters=m.filters, norm=m.norm,
                                       input_kind=m.input, working_size=self.config.data.size,
                                       hint_kinds=hint_kinds_for(m.hints), name="generator", **g_options)
        critic_options = {"filters": m.filters, **critic_options}
        self.discriminator = WGANCritic(color_channels=self.color_channels, name="critic", **critic_options)

    def fake_for_discriminator(self, condition, rng):
        reused = getattr(self, "_reused_fake", None)
        if reused is not None:  # set by the shared step for the first critic update only
            self._reused_fake = None
            return reused
        return super().fake_for_discriminator(condition, rng)

    def replica_step(self, batch, seed):
        if self.variant[3] == "current":
            return super().replica_step(batch, seed)
        if self.generator.hint_kinds:
            raise NotImplementedError("the shared-step prototype covers models without hints")
        t = self.config.train
        condition, real = self.condition(batch), self.target(batch)
        rng = StepRandom(seed, tf.shape(real)[0], self.strategy.num_replicas_in_sync)
        local = tf.shape(real)[0]
        z_1, z_2 = rng.normal(self.config.model.z_dim), rng.normal(self.config.model.z_dim)
        with tf.GradientTape() as tape:
            # B images, 2B noise vectors: the encoder runs once (z_entry="decoder")
            both = self.generate(condition, tf.concat([z_1, z_2], axis=0))
            fake_1, fake_2 = both[:local], both[local:]
            with tape.stop_recording():
                self._reused_fake = tf.stop_gradient(fake_1)
                logs = self.discriminator_step(condition, real, rng)
            terms = {"l1": self.average(losses.best_of_l1(real, [fake_1, fake_2]), rng.global_batch),
                     "ms": self.average(losses.mode_seeking_loss(fake_1, fake_2, z_1, z_2), rng.global_batch)}
            adversarial, weighted = self.generator_adversarial_terms(condition, self.doubled(condition), real, both,
                                                                     rng)
            terms.update(adversarial)
            g_loss = t.lambda_l1 * terms["l1"] + t.lambda_ms * terms["ms"] + weighted
            scaled = self.g_optimizer.scale_loss(g_loss)
        variables = self.generator_variables
        self.g_optimizer.apply(tape.gradient(scaled, variables), variables)
        return {**logs, **terms, "g_loss": g_loss}


register_trainer("wgangp_variant")(VariantTrainer)


def trainer_for(name: str, overrides: dict):
    VariantTrainer.variant = VARIANTS[name]
    config = config_lib.apply_overrides(config_lib.RunConfig(), {
        "algo": "wgangp_variant", "n_critic": VARIANTS[name][2], **overrides})
    return VariantTrainer(config)


def macs_per_image(name: str, size: int = 64, algo: str = "wgangp", lineart_hints: bool = False) -> dict:
    """Analytic multiply-adds per training image of one step of variant ``name`` for ``algo``
    (wgangp: the critic with its gradient penalty, ``n_critic`` times; pix2pix: one patch
    discriminator update on real and fake), gray input, or line art with every hint kind."""
    g_options, critic_options, n_critic, scheme = VARIANTS[name]
    color_channels = 3 if lineart_hints else 2
    generator = UNetGenerator(z_dim=8, depth=4, filters=16, input_kind="lineart" if lineart_hints else "gray",
                              hint_kinds=hint_kinds_for("mix") if lineart_hints else (), **g_options)
    if algo == "wgangp":
        discriminator = WGANCritic(filters=16, color_channels=color_channels, **critic_options)
        d_update_per_fake = 12  # real + fake forward and backward 6, penalty 6 (benchmark.train_step_flops)
    else:
        discriminator = PatchGANDiscriminator(filters=16, color_channels=color_channels, **critic_options)
        d_update_per_fake, n_critic = 6, 1  # real + fake forward and backward
    g_layers = layer_macs(generator, one_image_inputs(generator, size))
    g = sum(g_layers.values())
    encoder = sum(v for k, v in g_layers.items() if k.startswith(ENCODER_LAYERS)) \
        if g_options.get("z_entry") == "decoder" else 0
    d = sum(layer_macs(discriminator, one_image_inputs(discriminator, size)).values())
    if scheme == "current":
        generator_update = 3 * 2 * g + 2 * 2 * d  # G fwd + bwd on 2 colourings, D fwd + input bwd on them
        critic_update = n_critic * (g + d_update_per_fake * d)  # a fresh fake each time
    else:  # encoder once, decoder twice; the first critic update reuses a colouring of that pass
        generator_update = 3 * (encoder + 2 * (g - encoder)) + 2 * 2 * d
        critic_update = n_critic * d_update_per_fake * d + (n_critic - 1) * g
    return {"g_forward": g, "g_encoder": encoder, "d_forward": d, "generator_update": generator_update,
            "critic_update": critic_update, "total": generator_update + critic_update}


def cmd_flops(args) -> dict:
    rows = {name: macs_per_image(name, args.size, args.algo, args.lineart_hints) for name in VARIANTS}
    base = rows["baseline"]["total"]
    print(f"GFLOP per training image, {args.algo}, {args.size} px "
          f"{'line art, hints mix' if args.lineart_hints else 'gray'} (2 FLOP per multiply-add):")
    print(f"  {'variant':45s} {'G fwd':>7s} {'D fwd':>7s} {'G upd':>7s} {'D upd':>7s} {'total':>7s} {'less':>6s}")
    for name, r in rows.items():
        print(f"  {name:45s} {2 * r['g_forward'] / 1e9:7.3f} {2 * r['d_forward'] / 1e9:7.3f} "
              f"{2 * r['generator_update'] / 1e9:7.3f} {2 * r['critic_update'] / 1e9:7.3f} "
              f"{2 * r['total'] / 1e9:7.3f} {base / r['total']:5.1f}x")
    return rows


def cmd_time(args) -> dict:
    names = args.variants.split(",") if args.variants else list(VARIANTS)
    functions, flops = {}, {}
    for name in names:
        trainer = trainer_for(name, {"size": args.size, "batch_size": args.batch_size})
        batch = random_batch(trainer, args.size, args.batch_size)
        functions[name] = lambda t=trainer, b=batch: float(t.train_step(b)["g_loss"])
        flops[name] = 2 * macs_per_image(name, args.size)["total"]
    result = timed(functions, args.repeats)
    base = result["baseline"]
    print(f"wgangp step, {args.size} px, batch {args.batch_size} (seconds; wall median, CPU median):")
    for name, r in result.items():
        r["gflop_per_image"] = flops[name] / 1e9
        r["speedup_wall"] = base["wall_s_median"] / r["wall_s_median"]
        r["speedup_cpu"] = base["cpu_s_median"] / r["cpu_s_median"]
        print(f"  {name:45s} {r['gflop_per_image']:6.3f} GFLOP/img  {r['wall_s_median']:6.3f} s "
              f"{r['cpu_s_median']:6.3f} s CPU   x{r['speedup_wall']:.2f} (CPU x{r['speedup_cpu']:.2f})  "
              f"{args.batch_size / r['wall_s_median']:5.1f} img/s")
    return result


def cmd_train(args) -> dict:
    from anime_colorize import train
    VariantTrainer.variant = VARIANTS[args.variant]
    argv = list(args.train_args) + ["--algo", "wgangp_variant", "--n-critic", str(VARIANTS[args.variant][2])]
    return {"exit": train.main(argv)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    flops = sub.add_parser("flops")
    flops.add_argument("--size", type=int, default=64)
    flops.add_argument("--algo", choices=("wgangp", "pix2pix"), default="wgangp")
    flops.add_argument("--lineart-hints", action="store_true", help="line-art input with every hint kind")
    time_ = sub.add_parser("time")
    time_.add_argument("--size", type=int, default=64)
    time_.add_argument("--batch-size", type=int, default=16)
    time_.add_argument("--repeats", type=int, default=5)
    time_.add_argument("--variants", default=None, help="comma-separated names (default: all)")
    train_ = sub.add_parser("train")
    train_.add_argument("--variant", choices=list(VARIANTS), required=True)
    train_.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then the flags for anime_colorize.train")
    for p in (flops, time_):
        p.add_argument("--out", default=None, help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.command == "train" and args.train_args[:1] == ["--"]:
        args.train_args = args.train_args[1:]
    result = {"flops": cmd_flops, "time": cmd_time, "train": cmd_train}[args.command](args)
    if args.command != "train" and args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))
    return int(result.get("exit", 0)) if args.command == "train" else 0


if __name__ == "__main__":
    sys.exit(main())
