"""Where the work and the time of one training step go: generator passes, discriminator
passes, penalties and the optimizers (``python -m anime_colorize.benchmark --breakdown``).

Each part is compiled alone (a ``tf.function``, XLA with the trainer's ``--xla``) from the
trainer's own methods and timed, interleaved with the whole step and a float32 matmul, in
wall and in CPU seconds (this process's: on a shared machine a part that waits for a core
shows wall time but no CPU time). Times are medians. A part that cannot run alone is the
difference of two functions:

* the generator's backward pass: its loss gradients without the adversarial term, minus the
  forward pass that makes its two colourings per image;
* the discriminator's share of the generator update (the adversarial term, and pix2pixHD's
  feature matching): the generator's gradients with and without the discriminator;
* a penalty (WGAN-GP's gradient penalty, R1): the discriminator's gradients with and without
  it (the penalties of :mod:`anime_colorize.losses` replaced by zeros while the second is
  traced).

The work of each part is the trainer's own analytic count
(:func:`anime_colorize.benchmark.trainer_flops`, the Conv2D and Dense multiply-adds of its
models, 2 FLOP each) split the same way, so the parts' GFLOP add up to the step's. The
optimizers' FLOPs are not counted (a few per parameter).

Covers the paired algorithms (:class:`~anime_colorize.trainers.ConditionalGANTrainer`).
"""
from __future__ import annotations

import contextlib
import statistics
import time

import numpy as np
import tensorflow as tf

from anime_colorize import losses
from anime_colorize.trainers.base import StepRandom, example_inputs


def timed(functions: dict, repeats: int, warmup: int = 2) -> dict:
    """Times zero-argument functions that wait for their result, called in turn ``repeats``
    times after ``warmup`` untimed calls each (interleaved, so a load change on a shared CPU
    hits all alike). Returns ``{key: {"wall_s_best", "wall_s_median", "cpu_s_median"}}``; CPU
    time is this process's (every thread's)."""
    for fn in functions.values():
        for _ in range(warmup):
            fn()
    wall = {k: [] for k in functions}
    cpu = {k: [] for k in functions}
    for _ in range(repeats):
        for key, fn in functions.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[key].append(time.perf_counter() - start)
            cpu[key].append(time.process_time() - start_cpu)
    return {k: {"wall_s_best": min(wall[k]), "wall_s_median": statistics.median(wall[k]),
                "cpu_s_median": statistics.median(cpu[k])} for k in functions}


@contextlib.contextmanager
def _without_penalties():
    """While a function is traced: the gradient penalty and R1 of :mod:`anime_colorize.losses`
    give zeros (R1 still returns the discriminator's output on the real colourings, which the
    loss uses)."""
    saved = losses.gradient_penalty, losses.r1_penalty
    losses.gradient_penalty = lambda critic_fn, real, fake, alpha: tf.zeros(tf.shape(real)[:1], real.dtype)
    losses.r1_penalty = lambda discriminator_fn, real: (tf.zeros(tf.shape(real)[:1], real.dtype),
                                                        discriminator_fn(real))
    try:
        yield
    finally:
        losses.gradient_penalty, losses.r1_penalty = saved


@contextlib.contextmanager
def _without_discriminator(trainer):
    saved = trainer.discriminator
    trainer.discriminator = None
    try:
        yield
    finally:
        trainer.discriminator = saved


def _fetch(fn):
    """``fn`` called and its outputs copied to the host, so the call waits for the work."""
    return lambda: tf.nest.map_structure(lambda t: t.numpy(), fn())


def _matmul(n: int):
    a = tf.random.stateless_normal((n, n), seed=(1, 2))
    b = tf.random.stateless_normal((n, n), seed=(3, 4))
    return lambda: float(tf.reduce_sum(tf.matmul(a, b)))


def step_parts(trainer, batch) -> dict:
    """``{name: zero-argument function that runs one part on batch and waits for it}``, plus
    ``"step"`` (the whole train step). ``batch`` is one the trainer's step takes."""
    from anime_colorize.trainers import ConditionalGANTrainer

    if not isinstance(trainer, ConditionalGANTrainer):
        raise ValueError(f"the breakdown covers the paired algorithms, not --algo {trainer.name}")
    compile_part = tf.function(jit_compile=trainer.config.train.xla, reduce_retracing=True)
    condition, real = trainer.condition(batch), trainer.target(batch)
    seed = tf.constant([1, 2], tf.int64)
    local = tf.shape(real)[0]

    def rng():
        return StepRandom(seed, local, 1)

    def traced(fn, context=contextlib.nullcontext):
        """``fn`` compiled, traced now (inside ``context``) and fetched when called."""
        compiled = compile_part(fn)
        with context():
            compiled()
        return _fetch(compiled)

    parts = {"step": lambda: float(trainer.train_step(batch)["g_loss"])}

    def g_gradients():
        with tf.GradientTape() as tape:
            loss, _ = trainer.generator_losses(condition, real, rng())
        return tape.gradient(loss, trainer.generator_variables)

    parts["g_gradients"] = traced(g_gradients)
    g_grads = compile_part(g_gradients)()
    parts["g_optimizer"] = traced(lambda: _applied(trainer.g_optimizer, g_grads, trainer.generator_variables))
    if trainer.discriminator is None:
        return parts
    parts["g_two_colorings"] = traced(lambda: trainer.two_colorings(condition, rng())[3])
    parts["g_gradients_no_adv"] = traced(g_gradients, lambda: _without_discriminator(trainer))
    parts["g_fake_for_d"] = traced(lambda: trainer.fake_for_discriminator(condition, rng()))
    fake = tf.stop_gradient(trainer.two_colorings(condition, rng())[3][:local])

    def d_gradients():
        with tf.GradientTape() as tape:
            loss, _ = trainer.discriminator_losses(condition, real, fake, rng())
        return tape.gradient(loss, trainer.discriminator_variables)

    parts["d_gradients"] = traced(d_gradients)
    parts["d_gradients_no_penalty"] = traced(d_gradients, _without_penalties)
    d_grads = compile_part(d_gradients)()
    parts["d_optimizer"] = traced(lambda: _applied(trainer.d_optimizer, d_grads, trainer.discriminator_variables))
    return parts


def _applied(optimizer, grads, variables):
    optimizer.apply(grads, variables)
    return tf.constant(0)  # the function returns after its stateful ops have run


def _work(trainer, batch, count_macs, size: int, b: int) -> dict:
    """Multiply-adds per step of each part (see the module docstring), from the trainer's
    own count; ``updates``: discriminator updates per step (counted on one step of
    ``batch``), ``fresh_fakes``: those that run the generator for their fake."""
    generator = trainer.generator
    inputs = example_inputs(generator, size)
    g = count_macs(generator, inputs)
    if trainer.encoder_shared:
        g_two = count_macs(generator, {**inputs, "z": np.zeros((2, trainer.config.model.z_dim), np.float32)})
    else:
        g_two = 2 * g
    flops = trainer.train_step_flops(count_macs, size, b)
    generator_update, discriminator_update = flops["generator_update"] // 2, flops["discriminator_update"] // 2
    updates = 0
    if trainer.discriminator is not None:
        before = int(trainer.d_optimizer.iterations)
        trainer.train_step(batch)
        updates = int(trainer.d_optimizer.iterations) - before
    fresh = max(updates - (1 if trainer.shares_generator_pass else 0), 0)
    d = 0 if trainer.discriminator is None else count_macs(trainer.discriminator,
                                                           example_inputs(trainer.discriminator, size))
    penalty = trainer.penalty_macs(d, b)
    return {"g_two_colorings": g_two * b, "g_backward": 2 * g_two * b,
            "g_fakes_for_d": fresh * g * b, "d_in_g_update": generator_update - 3 * g_two * b,
            "d_update_passes": discriminator_update - fresh * g * b - penalty, "penalty": penalty,
            "updates": updates, "fresh_fakes": fresh, "total": generator_update + discriminator_update}


def breakdown(trainer, batch, count_macs, repeats: int = 5, matmul_n: int = 2048) -> dict:
    """The step of ``trainer`` on ``batch`` (B images of ``size`` px) split into parts.

    ``count_macs(model, inputs)`` counts a model's multiply-adds (see
    :func:`anime_colorize.benchmark.trainer_flops`). Returns ``{"parts": [{"part", "gflop",
    "s", "cpu_s"}...], "step_s", "step_cpu_s", "gflop_per_step", "gflop_per_image",
    "matmul_peak_flops", "timings", ...}``: seconds per step (medians), GFLOP per step.
    """
    b = int(tf.shape(tf.nest.flatten(batch)[0])[0])
    size = int(batch["l"].shape[1])
    work = _work(trainer, batch, count_macs, size, b)
    parts = step_parts(trainer, batch)
    t = timed({**parts, "matmul": _matmul(matmul_n)}, repeats)
    n, fresh = work["updates"], work["fresh_fakes"]

    def rows(key):
        s = {k: v[key] for k, v in t.items()}
        if trainer.discriminator is None:  # l2: whatever its generator losses run, in one part
            return [("generator: forward, losses and backward pass", s["g_gradients"], work["total"]),
                    ("optimizer: Adam", s["g_optimizer"], 0)]
        out = [("generator: forward, two colourings per image", s["g_two_colorings"], work["g_two_colorings"]),
               ("generator: its losses and backward pass", s["g_gradients_no_adv"] - s["g_two_colorings"],
                work["g_backward"])]
        if trainer.discriminator is not None:
            out += [(f"generator: forward for the discriminator's fakes (x{fresh})", fresh * s["g_fake_for_d"],
                     work["g_fakes_for_d"]),
                    ("discriminator: in the generator's update (adversarial terms)",
                     s["g_gradients"] - s["g_gradients_no_adv"], work["d_in_g_update"]),
                    (f"discriminator: its update's forward and backward passes (x{n})",
                     n * s["d_gradients_no_penalty"], work["d_update_passes"]),
                    (f"penalty: gradient penalty / R1 (x{n})", n * (s["d_gradients"] - s["d_gradients_no_penalty"]),
                     work["penalty"])]
        optimizer_s = s["g_optimizer"] + (n * s["d_optimizer"] if trainer.discriminator is not None else 0)
        return out + [(f"optimizer: Adam, generator and discriminator (x{n})", optimizer_s, 0)]

    wall, cpu = rows("wall_s_median"), rows("cpu_s_median")
    step, step_cpu = t["step"]["wall_s_median"], t["step"]["cpu_s_median"]
    total_flops = 2 * work["total"]
    return {"batch_size": b, "size": size, "discriminator_updates": n, "fresh_fakes": fresh,
            "shared_step": trainer.shares_generator_pass, "step_s": step, "step_cpu_s": step_cpu,
            "sum_of_parts_s": sum(r[1] for r in wall), "sum_of_parts_cpu_s": sum(r[1] for r in cpu),
            "gflop_per_step": total_flops / 1e9, "gflop_per_image": total_flops / 1e9 / b,
            "matmul_peak_flops": 2 * matmul_n**3 / t["matmul"]["wall_s_best"], "timings": t,
            "parts": [{"part": p, "gflop": 2 * m / 1e9, "s": s, "cpu_s": c}
                      for (p, s, m), (_, c, _) in zip(wall, cpu)]}


def format_breakdown(result: dict, title: str) -> str:
    """The breakdown as a text table: GFLOP and share of the step's work, wall and CPU
    seconds and their shares of the step's."""
    r = result
    lines = [f"{title}: {r['gflop_per_step']:.2f} GFLOP/step = {r['gflop_per_image']:.3f} GFLOP/image; "
             f"step {r['step_s']:.3f} s wall, {r['step_cpu_s']:.3f} s CPU (medians); the parts sum to "
             f"{r['sum_of_parts_s']:.3f} s wall, {r['sum_of_parts_cpu_s']:.3f} s CPU",
             f"  {'part':66s} {'GFLOP':>7s} {'% work':>7s} {'wall s':>7s} {'% step':>7s} {'CPU s':>7s} {'% step':>7s}"]
    for p in r["parts"]:
        work = 100 * p["gflop"] / r["gflop_per_step"] if r["gflop_per_step"] else 0.0
        lines.append(f"  {p['part']:66s} {p['gflop']:7.2f} {work:6.1f}% {p['s']:7.3f} "
                     f"{100 * p['s'] / r['step_s']:6.1f}% {p['cpu_s']:7.3f} {100 * p['cpu_s'] / r['step_cpu_s']:6.1f}%")
    return "\n".join(lines)
