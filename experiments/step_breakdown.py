"""Where the work and the time of one training step go: generator passes, discriminator or
critic passes, gradient penalty, optimizers.

    python experiments/step_breakdown.py --out reports/step_breakdown.json

For each configuration (default: wgangp 64 px and pix2pix 128 px line art with ``--hints
mix``, batch 16, every other setting at its default), the trainer is built as training builds
it and each part of its step is compiled alone (``tf.function``, no XLA) from the trainer's
own methods, then timed interleaved with the whole step and a float32 2048 x 2048 matmul (the
machine's practical peak, best of the repeats), all in one run. Times are medians. A part that cannot run alone is the difference of two
functions: the gradient penalty (critic gradients with and without it), the backward pass
through the generator (its loss gradients minus its forward), the adversarial term (the
generator's gradients with and without the discriminator).

GFLOP are analytic, from the Conv2D and Dense multiply-adds of one forward pass per image
(:func:`anime_colorize.benchmark.layer_macs`), 2 FLOP per multiply-add, a backward pass 2x its
forward where the weights get gradients and 1x where only the input does; the gradient penalty
is 6x a critic forward (forward, input gradient, and the double backward through both), as
:func:`anime_colorize.benchmark.train_step_flops` counts it.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed_common import forward_macs, layer_macs, one_image_inputs, random_batch, timed  # noqa: E402,I001

from anime_colorize import config as config_lib, losses  # noqa: E402
from anime_colorize.trainers import get_trainer  # noqa: E402
from anime_colorize.trainers.base import StepRandom  # noqa: E402

CONFIGS = {
    "wgangp 64px gray": {"algo": "wgangp", "size": 64, "batch_size": 16},
    "pix2pix 128px lineart hints mix": {"algo": "pix2pix", "size": 128, "batch_size": 16, "input": "lineart",
                                        "hints": "mix"},
}


@contextlib.contextmanager
def without_discriminator(trainer):
    """The trainer's generator losses traced without the adversarial term."""
    saved = trainer.discriminator
    trainer.discriminator = None
    try:
        yield
    finally:
        trainer.discriminator = saved


def parts_of(trainer, batch) -> dict:
    """{name: zero-argument function that runs the part and waits for it}, plus "step"."""
    condition, real = trainer.condition(batch), trainer.target(batch)
    seed = tf.constant([1, 2], tf.int64)
    g_vars, d_vars = trainer.generator_variables, trainer.discriminator_variables

    def rng():
        return StepRandom(seed, tf.shape(real)[0], 1)

    fake = tf.stop_gradient(trainer.generate(condition, rng().normal(trainer.config.model.z_dim)))

    @tf.function
    def g_forward_for_d():
        return trainer.fake_for_discriminator(condition, rng())

    @tf.function
    def g_forward_two_z():
        z = tf.concat([rng().normal(trainer.config.model.z_dim)] * 2, axis=0)
        return trainer.generate(trainer.doubled(condition), z)

    def g_gradients(adversarial: bool):
        @tf.function
        def gradients():
            with tf.GradientTape() as tape:
                if adversarial:
                    loss, _ = trainer.generator_losses(condition, real, rng())
                else:
                    with without_discriminator(trainer):
                        loss, _ = trainer.generator_losses(condition, real, rng())
            return tape.gradient(loss, g_vars)
        return gradients

    g_no_adv, g_full = g_gradients(False), g_gradients(True)

    def d_gradients(penalty: bool):
        @tf.function
        def gradients():
            r = rng()
            with tf.GradientTape() as tape:
                if trainer.name == "wgangp":
                    loss = trainer.average(losses.wgan_critic_loss(trainer.judge(condition, real),
                                                                   trainer.judge(condition, fake)), r.global_batch)
                    if penalty:
                        loss += trainer.config.train.lambda_gp * trainer.average(losses.gradient_penalty(
                            lambda colors: trainer.judge(condition, colors), real, fake, r.uniform(1, 1, 1)),
                            r.global_batch)
                else:
                    loss, _ = trainer.discriminator_losses(condition, real, fake, r)
            return tape.gradient(loss, d_vars)
        return gradients

    d_no_gp, d_full = d_gradients(False), d_gradients(True)
    g_grads, d_grads = g_full(), d_full()

    def optimizer_step(optimizer, grads, variables):
        @tf.function
        def apply():
            optimizer.apply(grads, variables)
            return tf.constant(0)  # the function returns after its stateful ops have run
        return apply

    g_apply = optimizer_step(trainer.g_optimizer, g_grads, g_vars)
    d_apply = optimizer_step(trainer.d_optimizer, d_grads, d_vars)

    def fetch(fn):
        return lambda: tf.nest.map_structure(lambda t: t.numpy(), fn())

    parts = {"step": lambda: float(trainer.train_step(batch)["g_loss"]),
             "g_forward_for_d": fetch(g_forward_for_d), "g_forward_two_z": fetch(g_forward_two_z),
             "g_gradients_no_adv": fetch(g_no_adv), "g_gradients": fetch(g_full),
             "d_gradients_no_gp": fetch(d_no_gp), "d_optimizer": fetch(d_apply), "g_optimizer": fetch(g_apply)}
    if trainer.name == "wgangp":
        parts["d_gradients"] = fetch(d_full)
    return parts


MATMUL_N = 2048


def matmul_part():
    """A float32 2048 x 2048 matmul (2 n^3 FLOP), timed among the parts: the peak in the same
    machine state as the step (benchmark.matmul_peak's measure)."""
    a = tf.random.stateless_normal((MATMUL_N, MATMUL_N), seed=(1, 2))
    b = tf.random.stateless_normal((MATMUL_N, MATMUL_N), seed=(3, 4))
    return lambda: float(tf.reduce_sum(tf.matmul(a, b)))


def breakdown(name: str, overrides: dict, repeats: int) -> dict:
    config = config_lib.apply_overrides(config_lib.RunConfig(), overrides)
    trainer = get_trainer(overrides["algo"])(config)
    size, b = overrides["size"], overrides["batch_size"]
    batch = random_batch(trainer, size, b)
    g = forward_macs(trainer.generator, size)
    d = forward_macs(trainer.discriminator, size)
    t = timed({**parts_of(trainer, batch), "matmul": matmul_part()}, repeats)
    peak = 2 * MATMUL_N**3 / t["matmul"]["wall_s_best"]
    n_critic = config.train.n_critic if trainer.name == "wgangp" else 1
    wgan = trainer.name == "wgangp"

    def parts_table(s):
        """(part, seconds per step, multiply-adds per step) from per-function times ``s``."""
        rows = [
            (f"D update: G forward for the fake, batch B (x{n_critic})", n_critic * s["g_forward_for_d"],
             n_critic * g * b),
            (f"D update: D forward + backward on real and fake (x{n_critic})", n_critic * s["d_gradients_no_gp"],
             n_critic * 3 * d * 2 * b),
        ]
        if wgan:
            rows.append((f"D update: gradient penalty (x{n_critic})",
                         n_critic * (s["d_gradients"] - s["d_gradients_no_gp"]), n_critic * 6 * d * b))
        return rows + [
            (f"D update: Adam (x{n_critic})", n_critic * s["d_optimizer"], 0),
            ("G update: G forward, two z (2B)", s["g_forward_two_z"], g * 2 * b),
            ("G update: losses + G backward (2B)", s["g_gradients_no_adv"] - s["g_forward_two_z"], 2 * g * 2 * b),
            ("G update: adversarial term, D forward + input backward on 2B",
             s["g_gradients"] - s["g_gradients_no_adv"], 2 * d * 2 * b),
            ("G update: Adam", s["g_optimizer"], 0),
        ]

    rows = parts_table({k: v["wall_s_median"] for k, v in t.items()})
    cpu_rows = parts_table({k: v["cpu_s_median"] for k, v in t.items()})
    total_flops = 2 * sum(m for _, _, m in rows)
    step, step_cpu = t["step"]["wall_s_median"], t["step"]["cpu_s_median"]
    g_layers = layer_macs(trainer.generator, one_image_inputs(trainer.generator, size))
    return {
        "config": name, "overrides": overrides, "n_critic": n_critic, "g_macs_per_image": g, "d_macs_per_image": d,
        "generator_macs_by_layer": g_layers, "timings": t, "step_s": step, "step_cpu_s": step_cpu,
        "sum_of_parts_s": sum(r[1] for r in rows), "sum_of_parts_cpu_s": sum(r[1] for r in cpu_rows),
        "gflop_per_step": total_flops / 1e9, "gflop_per_image": total_flops / 1e9 / b,
        "matmul_peak_flops": peak, "achieved_share_of_peak": total_flops / step / peak,
        # the same ratio in CPU seconds (FLOP per CPU second of the step over that of the matmul):
        # insensitive to time spent waiting for a core on a shared machine
        "achieved_share_of_peak_cpu": (total_flops / step_cpu) / (2 * MATMUL_N**3 / t["matmul"]["cpu_s_median"]),
        "parts": [{"part": p, "s": ts, "share_of_step": ts / step, "cpu_s": tc, "cpu_share_of_step": tc / step_cpu,
                   "gflop": 2 * m / 1e9} for (p, ts, m), (_, tc, _) in zip(rows, cpu_rows)],
    }


def print_breakdown(r: dict) -> None:
    peak = r["matmul_peak_flops"]
    print(f"\n{r['config']}: step {r['step_s']:.3f} s wall, {r['step_cpu_s']:.3f} s CPU (medians); parts sum to "
          f"{r['sum_of_parts_s']:.3f} s wall, {r['sum_of_parts_cpu_s']:.3f} s CPU; "
          f"{r['gflop_per_step']:.1f} GFLOP/step = {r['gflop_per_image']:.2f} GFLOP/image; "
          f"{r['gflop_per_step'] / r['step_s']:.1f} GFLOP/s = {100 * r['achieved_share_of_peak']:.0f}% of the "
          f"matmul peak {peak / 1e9:.0f} GFLOP/s ({100 * r['achieved_share_of_peak_cpu']:.0f}% per CPU second)")
    print(f"  G forward {2 * r['g_macs_per_image'] / 1e9:.3f} GFLOP/image, D forward "
          f"{2 * r['d_macs_per_image'] / 1e9:.3f} GFLOP/image")
    print(f"  {'part':64s} {'GFLOP':>7s} {'% work':>7s} {'wall s':>7s} {'% step':>7s} {'CPU s':>7s} {'% step':>7s}")
    for p in r["parts"]:
        print(f"  {p['part']:64s} {p['gflop']:7.2f} {100 * p['gflop'] / r['gflop_per_step']:6.1f}% "
              f"{p['s']:7.3f} {100 * p['share_of_step']:6.1f}% {p['cpu_s']:7.3f} {100 * p['cpu_share_of_step']:6.1f}%")
    layers = r["generator_macs_by_layer"]
    total = sum(layers.values())
    groups = {"stem + head (full resolution)": ("stem", "head", "ab", "lab"), "encoder (down*)": ("down",),
              "decoder (up*)": ("up",)}
    shares = {k: sum(v for n, v in layers.items() if n.startswith(prefixes)) / total for k, prefixes in groups.items()}
    print("  generator MACs: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in shares.items()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated names of CONFIGS")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    results = []
    for name in args.configs.split(","):
        results.append(breakdown(name, CONFIGS[name], args.repeats))
        print_breakdown(results[-1])
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
