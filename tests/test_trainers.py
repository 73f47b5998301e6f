import json
from dataclasses import dataclass

import numpy as np
import pytest
import tensorflow as tf

from anime_colorize import losses
from anime_colorize.config import AlgorithmSettings, check, setting
from anime_colorize.data.pipeline import rgb_batch_to_model_inputs
from anime_colorize.data.synthetic import make_cel_images
from anime_colorize.models import build_generator
from anime_colorize.trainers import Trainer, available_trainers, get_trainer, register_trainer, unregister_trainer


def weights(model):
    return [v.numpy().copy() for v in model.trainable_variables]


def test_registry_knows_the_core_trainers_and_names_them_on_error():
    assert {"dcgan", "wgangp"} <= set(available_trainers())
    with pytest.raises(ValueError, match="known: .*dcgan.*wgangp"):
        get_trainer("no-such-gan")


def two_steps_change_all_models(trainer, tiny_batch):
    models = trainer.models  # every trained model: generator, discriminator(s), cyclegan's backward pair
    assert trainer.generator in models
    before = [weights(m) for m in models]
    for _ in range(2):
        logs = trainer.train_step(trainer.example_batch(tiny_batch()))
    assert int(trainer.step) == 2
    assert logs and all(np.isfinite(float(v)) for v in logs.values()), logs
    for model, old in zip(models, before):
        changed = [not np.array_equal(a, b.numpy()) for a, b in zip(old, model.trainable_variables)]
        assert all(changed), f"{model.name}: {changed.count(False)} weight tensors did not move"


@pytest.mark.parametrize("algo", available_trainers())
def test_every_trainer_takes_two_eager_steps_that_change_all_models(algo, tiny_config, tiny_batch):
    two_steps_change_all_models(get_trainer(algo)(tiny_config(algo=algo, eager=True)), tiny_batch)


@pytest.mark.parametrize("algo", available_trainers())
def test_every_trainer_compiled_changes_all_models_and_a_short_last_batch_does_not_retrace(
        algo, tiny_config, tiny_batch):
    trainer = get_trainer(algo)(tiny_config(algo=algo))
    two_steps_change_all_models(trainer, tiny_batch)
    for batch_size in (3, 2, 1):
        trainer.train_step(trainer.example_batch(tiny_batch(batch_size)))
    assert trainer.train_step.experimental_get_tracing_count() == 1


def test_wgangp_runs_its_critic_n_critic_times(tiny_config, tiny_batch):
    trainer = get_trainer("wgangp")(tiny_config(algo="wgangp", n_critic=3, eager=True))
    trainer.train_step(tiny_batch())
    assert int(trainer.d_optimizer.iterations) == 3
    assert int(trainer.g_optimizer.iterations) == 1


CHEAP = dict(z_entry="decoder", convs_per_level=1, full_resolution="light", discriminator_pooling=2)


@pytest.mark.parametrize("algo, input_kind, hints, n_critic", [("wgangp", "gray", "none", 2),
                                                               ("pix2pix", "lineart", "mix", None)])
def test_the_shared_step_runs_the_generator_once_and_judges_its_first_colouring(
        algo, input_kind, hints, n_critic, tiny_config):
    """With z from the bottleneck on, the generator's update gets the B images with 2B noise
    vectors, and the first discriminator update's fake is the first of those colourings (its
    later updates make their own). The other architecture keeps the old step: a fresh fake
    first, then the doubled batch."""
    def run(options):
        settings = dict(algo=algo, eager=True, input=input_kind, hints=hints, region_pooling=False, **options)
        trainer = get_trainer(algo)(tiny_config(**settings, **({"n_critic": n_critic} if n_critic else {})))
        calls, fakes = [], []
        generate, losses_of = trainer.generate, trainer.discriminator_losses

        def counting_generate(condition, z, training=True):
            calls.append((int(condition["l"].shape[0]), int(z.shape[0]), generate(condition, z, training)))
            return calls[-1][2]

        def capturing_losses(condition, real, fake, rng):
            fakes.append(fake)
            return losses_of(condition, real, fake, rng)

        trainer.generate, trainer.discriminator_losses = counting_generate, capturing_losses
        rgb = make_cel_images(4, 32, seed=5)
        batch = rgb_batch_to_model_inputs(rgb, lines=rgb.mean(-1) / 255 if input_kind == "lineart" else None,
                                          hints=hints, hint_seed=(1, 2))
        logs = trainer.train_step(batch)
        assert all(np.isfinite(float(v)) for v in logs.values()), logs
        return trainer, calls, fakes

    trainer, calls, fakes = run(CHEAP)
    assert trainer.shares_generator_pass
    updates = n_critic or 1
    assert [c[:2] for c in calls] == [(4, 8)] + [(4, 4)] * (updates - 1)
    np.testing.assert_array_equal(fakes[0].numpy(), calls[0][2][:4].numpy())
    assert len(fakes) == updates and int(trainer.d_optimizer.iterations) == updates
    trainer, calls, fakes = run({})
    assert not trainer.shares_generator_pass
    assert [c[:2] for c in calls] == [(4, 4)] * updates + [(8, 8)]


@pytest.mark.parametrize("algo", ["wgangp", "pix2pix"])
def test_the_shared_step_compiled_does_not_retrace_and_runs_in_mixed_precision(algo, tiny_config, tiny_batch):
    trainer = get_trainer(algo)(tiny_config(algo=algo, **CHEAP))
    two_steps_change_all_models(trainer, tiny_batch)
    for batch_size in (3, 1):
        trainer.train_step(tiny_batch(batch_size))
    assert trainer.train_step.experimental_get_tracing_count() == 1
    mixed = get_trainer(algo)(tiny_config(algo=algo, mixed_precision=True, eager=True, **CHEAP))
    logs = mixed.train_step(tiny_batch())
    assert all(np.isfinite(float(v)) for v in logs.values()), logs


def test_the_shared_step_flop_count_runs_the_encoder_once_and_saves_one_generator_forward(tiny_config):
    from anime_colorize.benchmark import layer_macs, trainer_flops
    from anime_colorize.trainers.base import example_inputs

    trainer = get_trainer("wgangp")(tiny_config(algo="wgangp", n_critic=2, **CHEAP))
    inputs = example_inputs(trainer.generator, 32)
    g = sum(layer_macs(trainer.generator, inputs).values())
    g_two = sum(layer_macs(trainer.generator, {**inputs, "z": np.zeros((2, 4), np.float32)}).values())
    d = sum(layer_macs(trainer.discriminator, example_inputs(trainer.discriminator, 32)).values())
    assert g < g_two < 2 * g  # the encoder's share is counted once
    b = 4
    assert trainer_flops(trainer, 32, b) == {"generator_update": 2 * (3 * g_two * b + 2 * d * 2 * b),
                                             "discriminator_update": 2 * (g * b + 2 * 12 * d * b),
                                             "total": 2 * (3 * g_two * b + 4 * d * b + g * b + 24 * d * b)}


def test_the_seed_decides_initialisation_and_steps(tiny_config, tiny_batch):
    def run(seed):
        trainer = get_trainer("wgangp")(tiny_config(algo="wgangp", seed=seed, eager=True))
        trainer.train_step(tiny_batch())
        return weights(trainer.generator)

    first, again, other = run(0), run(0), run(1)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


@pytest.mark.parametrize("algo, xla", [(algo, False) for algo in available_trainers()] + [("wgangp", True)])
def test_mixed_precision_steps_are_finite_and_keep_float32_outputs(algo, xla, tiny_config, tiny_batch):
    import keras

    # with XLA too: XLA rejects a gradient that mixes bfloat16 and float32 in one op; the
    # others run eagerly (the dtypes are the same as compiled, without the cost of tracing)
    # (one critic update per step: XLA's compile time grows with the unrolled critic loop)
    trainer = get_trainer(algo)(tiny_config(algo=algo, mixed_precision=True, xla=xla, eager=not xla,
                                            **({"n_critic": 1} if algo == "wgangp" else {})))
    assert keras.config.dtype_policy().name == "float32"  # the global policy is left alone
    compute = {layer.dtype_policy.compute_dtype for layer in trainer.generator.layers if layer.weights}
    assert "bfloat16" in compute or "float16" in compute
    for _ in range(2):
        logs = trainer.train_step(trainer.example_batch(tiny_batch()))
    assert all(np.isfinite(float(v)) for v in logs.values()), logs
    out = trainer.generate({"l": tiny_batch()["l"]}, tf.zeros((4, 4)), training=False)
    assert out.dtype == tf.float32
    assert all(v.dtype == "float32" for v in trainer.generator.trainable_variables)


# --- adding an algorithm is one module: a toy one, from this file alone ------------------------
@dataclass(frozen=True)
class ToySettings(AlgorithmSettings):
    """A toy regression, to show what a new algorithm is made of."""

    lambda_toy: float = setting(3.0, "weight of the toy's L1 loss")

    def validate(self, config):
        super().validate(config)
        check([(self.lambda_toy > 0, "--lambda-toy must be positive")])


class ToyTrainer(Trainer):
    """L1 from one colouring to the truth: the core's models, optimizer, checkpoint and update."""

    settings_class = ToySettings

    def build_models(self):
        self.generator = build_generator(self.config.model, working_size=self.config.data.size)

    def replica_step(self, batch, rng):
        condition = self.condition(batch)

        def loss():
            colors = self.generate(condition, rng.normal(self.config.model.z_dim))
            l1 = self.average(losses.per_sample_l1(batch["ab"], colors), rng.global_batch)
            return self.settings.lambda_toy * l1, {"l1": l1}

        g_loss, terms = self.update(self.g_optimizer, loss, self.generator_variables)
        return {**terms, "g_loss": g_loss}


@pytest.fixture
def toy_algorithm():
    register_trainer("toy")(ToyTrainer)
    yield "toy"
    unregister_trainer("toy")


def test_an_algorithm_is_one_module(toy_algorithm, tiny_config, tmp_path):
    from anime_colorize import config as config_lib, train, training
    from anime_colorize.export import load_generator

    help_text = " ".join(train.build_parser().format_help().split())
    assert "toy settings: A toy regression" in help_text and "--lambda-toy FLOAT" in help_text
    with pytest.raises(ValueError, match="--lambda-toy must be positive"):
        config_lib.validate(tiny_config(algo="toy", lambda_toy=0.0))
    config = tiny_config(algo="toy", lambda_toy=2.0, out=str(tmp_path / "toy"))
    assert config.algorithm == ToySettings(lambda_toy=2.0)
    summary = training.fit(config, progress=False)
    assert summary["step"] == 2
    run = tmp_path / "toy"
    assert json.loads((run / "config.json").read_text())["toy"] == {"lambda_toy": 2.0}
    rows = (run / "metrics.csv").read_text().split()
    assert rows[0] == "step,g_loss,l1" and len(rows) == 3
    step, g_loss, l1 = (float(v) for v in rows[1].split(","))
    assert g_loss == pytest.approx(2.0 * l1, rel=1e-4) and l1 > 0
    generator = load_generator(summary["keras"])
    assert generator(tf.zeros((1, 32, 32, 1)), tf.zeros((1, 4))).shape == (1, 32, 32, 2)
    assert load_generator(summary["saved_model"]).z_dim == 4


# --- FLOP estimates: each algorithm's formula ----------------------------------------------------
def step_flops(algo, g=100, d=10, b=4, **settings):
    """The FLOPs of ``algo``'s step formula for per-image MACs g, d and batch b (no models built)."""
    from anime_colorize.config import settings_class
    from anime_colorize.trainers.base import flops_from_macs

    trainer = object.__new__(get_trainer(algo))
    trainer.settings = settings_class(algo)(**settings)
    return flops_from_macs(*trainer.step_macs(g, d, b))


def test_flop_estimates_of_the_paired_algorithms():
    g, d, b = 100, 10, 4
    dcgan = step_flops("dcgan")
    assert dcgan == {"generator_update": 2 * (3 * g * 2 * b + 2 * d * 2 * b),
                     "discriminator_update": 2 * (g * b + 3 * d * 8), "total": 2 * (2400 + 160 + 400 + 240)}
    assert step_flops("pix2pix") == dcgan
    assert step_flops("l2") == {"generator_update": 2 * 3 * g * b, "discriminator_update": 0, "total": 2 * 3 * g * b}
    assert step_flops("pix2pix_gp")["discriminator_update"] == 2 * (g * b + 9 * d * b)
    hd = step_flops("pix2pixhd")
    assert hd["generator_update"] == dcgan["generator_update"] + 2 * d * b  # the real features for FM
    assert hd["discriminator_update"] == dcgan["discriminator_update"]


def test_wgangp_estimate_counts_every_critic_update():
    one, two = step_flops("wgangp", n_critic=1), step_flops("wgangp", n_critic=2)
    assert two["discriminator_update"] == 2 * one["discriminator_update"]
    assert two["generator_update"] == one["generator_update"] == 2 * (3 * 100 * 8 + 2 * 10 * 8)


def test_cyclegan_flop_estimate_counts_its_four_models_and_scales(tiny_config):
    from anime_colorize.benchmark import layer_macs, trainer_flops
    from anime_colorize.trainers.base import Trainer as Core, example_inputs

    assert Core.train_step_flops(None, None, 32, 4) is None  # the core has no formula of its own
    trainer = get_trainer("cyclegan")(tiny_config(algo="cyclegan"))
    g, f, d_b, d_a = (sum(layer_macs(m, example_inputs(m, 32)).values()) for m in trainer.models)
    one = trainer_flops(trainer, 32, 4)
    assert one["generator_update"] == 2 * 4 * (9 * g + 9 * f + 2 * (d_b + d_a)) and min(g, f, d_b, d_a) > 0
    assert one["discriminator_update"] == 2 * 4 * 6 * (d_b + d_a)
    assert trainer_flops(trainer, 32, 8)["total"] == 2 * one["total"]
    assert trainer_flops(trainer, 64, 4)["total"] == 4 * one["total"]
