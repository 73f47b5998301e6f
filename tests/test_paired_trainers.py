"""The paired-image trainers: l2, pix2pix, pix2pix_gp, pix2pixhd (beyond the registry-wide
smoke tests of test_trainers.py)."""
import csv

import numpy as np
import pytest
import tensorflow as tf

from anime_colorize import config as config_lib, losses
from anime_colorize.models import MultiScaleDiscriminator, PatchGANDiscriminator
from anime_colorize.trainers import get_trainer

PAIRED = ["l2", "pix2pix", "pix2pix_gp", "pix2pixhd"]
EXTRA_LOGS = {"l2": {"l2"}, "pix2pix": {"d_loss", "l1", "ms", "g_adv"}, "pix2pix_gp": {"d_loss", "r1", "g_adv"},
              "pix2pixhd": {"d_loss", "g_adv", "fm"}}


def weights(model):
    return [v.numpy().copy() for v in model.trainable_variables]


def make_batch(input_kind="gray", hints="none", batch_size=4, size=32):
    from anime_colorize.data.lineart import extract_lines
    from anime_colorize.data.pipeline import rgb_batch_to_model_inputs
    from anime_colorize.data.synthetic import make_cel_images

    pictures = make_cel_images(batch_size, size, seed=5)
    lines = np.stack([extract_lines(p) for p in pictures]) if input_kind == "lineart" else None
    return rgb_batch_to_model_inputs(pictures, lines, hints, (1, 2))


@pytest.mark.parametrize("settings", [{"input": "lineart"}, {"hints": "mix"}], ids=["lineart", "hints"])
@pytest.mark.parametrize("algo", PAIRED)
def test_paired_trainer_takes_two_steps_with_lineart_or_hints(algo, settings, tiny_config):
    trainer = get_trainer(algo)(tiny_config(algo=algo, eager=True, **settings))
    batch = make_batch(settings.get("input", "gray"), settings.get("hints", "none"))
    models = [m for m in (trainer.generator, trainer.discriminator) if m is not None]
    before = [weights(m) for m in models]
    for _ in range(2):
        logs = trainer.train_step(batch)
    assert int(trainer.step) == 2
    expected = EXTRA_LOGS[algo] | {"g_loss"} | ({"hint"} if "hints" in settings else set())
    assert expected <= set(logs), sorted(logs)
    assert all(np.isfinite(float(v)) for v in logs.values()), logs
    for model, old in zip(models, before):
        assert all(not np.array_equal(a, b.numpy()) for a, b in zip(old, model.trainable_variables)), model.name
    channels = 3 if settings.get("input") == "lineart" else 2
    assert trainer.generate(trainer.condition(batch), tf.zeros((4, 4)), training=False).shape == (4, 32, 32, channels)
    if trainer.discriminator is not None:
        assert trainer.discriminator.input["color"].shape[-1] == channels


def test_l2_has_no_discriminator_and_logs_only_its_terms(tiny_config, tiny_batch):
    trainer = get_trainer("l2")(tiny_config(algo="l2"))
    assert trainer.discriminator is None
    assert trainer.optimizers == [trainer.g_optimizer]
    assert not hasattr(trainer, "d_optimizer")
    logs = trainer.train_step(tiny_batch())
    assert set(logs) == {"l2", "g_loss"}
    assert float(logs["g_loss"]) == pytest.approx(100.0 * float(logs["l2"]), rel=1e-5)


def test_l2_loss_is_the_mean_squared_error_of_one_colouring(tiny_config, tiny_batch):
    from anime_colorize.trainers.base import StepRandom

    trainer = get_trainer("l2")(tiny_config(algo="l2"))
    batch = tiny_batch()
    condition, real = trainer.condition(batch), trainer.target(batch)
    seed = tf.constant([3, 4])
    total, terms = trainer.generator_losses(condition, real, StepRandom(seed, 4, 1))
    z = StepRandom(seed, 4, 1).normal(4)  # the loss's one draw: one z per image
    mse = float(tf.reduce_mean(tf.square(trainer.generate(condition, z) - real)))
    assert float(terms["l2"]) == pytest.approx(mse, rel=1e-5)
    assert float(total) == pytest.approx(100.0 * mse, rel=1e-5)


@pytest.mark.parametrize("num_scales", [1, 2, 3])
def test_multiscale_discriminator_has_num_scales_scales_and_returns_features(num_scales):
    d = MultiScaleDiscriminator(filters=4, layers_count=3, color_channels=2, num_scales=num_scales)
    outputs = MultiScaleDiscriminator.per_scale(d({"l": tf.zeros((2, 32, 32, 1)), "color": tf.zeros((2, 32, 32, 2))}))
    assert len(outputs) == num_scales
    for s, scale in enumerate(outputs):
        *features, logits = scale
        # each scale sees the picture pooled s times (32 -> 16 -> 8 px), then 3 stride-2 layers
        side = 32 // 2**s
        assert [f.shape for f in features] == [(2, side // 2, side // 2, 4), (2, side // 4, side // 4, 8),
                                               (2, side // 8, side // 8, 16), (2, side // 8, side // 8, 32)]
        assert logits.shape == (2, side // 8, side // 8, 1) and logits.dtype == tf.float32
    # every scale has its own weights
    names = {v.path.split("/")[0] for v in d.trainable_variables}
    assert {n.split("_")[0] for n in names} == {f"scale{s}" for s in range(num_scales)}
    assert len(d.trainable_variables) == num_scales * len(
        MultiScaleDiscriminator(filters=4, num_scales=1).trainable_variables)


@pytest.mark.parametrize("num_scales", [1, 2])
def test_pix2pixhd_trains_num_scales_discriminators(num_scales, tiny_config, tiny_batch):
    trainer = get_trainer("pix2pixhd")(tiny_config(algo="pix2pixhd", num_scales=num_scales, eager=True))
    d = trainer.discriminator
    assert isinstance(d, MultiScaleDiscriminator) and d.num_scales == num_scales
    before = weights(d)
    logs = trainer.train_step(tiny_batch())
    assert all(np.isfinite(float(v)) for v in logs.values()) and float(logs["fm"]) > 0
    assert all(not np.array_equal(a, b.numpy()) for a, b in zip(before, d.trainable_variables))


def test_feature_matching_on_discriminator_features_is_zero_only_for_the_same_colouring(tiny_batch):
    d = MultiScaleDiscriminator(filters=4, num_scales=2)
    batch = tiny_batch()

    def features(ab):
        return [scale[:-1] for scale in MultiScaleDiscriminator.per_scale(d({"l": batch["l"], "color": ab}))]

    real = features(batch["ab"])
    assert np.array_equal(losses.feature_matching_loss(real, features(batch["ab"])).numpy(), np.zeros(4))
    other = losses.feature_matching_loss(real, features(tf.zeros_like(batch["ab"]))).numpy()
    assert other.shape == (4,) and np.all(other > 0)


def test_pix2pix_discriminator_scores_every_patch(tiny_config):
    trainer = get_trainer("pix2pix")(tiny_config(algo="pix2pix"))
    d = trainer.discriminator
    assert isinstance(d, PatchGANDiscriminator) and d.norm == "batch"
    logits = trainer.judge({"l": tf.zeros((3, 32, 32, 1))}, tf.zeros((3, 32, 32, 2)))
    assert logits.shape == (3, 4, 4, 1) and logits.dtype == tf.float32
    # its adversarial loss is the mean of the per-patch cross-entropies, not that of the mean logit
    patches = tf.constant([[[[4.0], [-4.0]]]])
    assert float(trainer.adversarial_loss(patches)[0]) == pytest.approx(
        float(tf.reduce_mean(tf.nn.softplus(-patches))), rel=1e-6)


def test_pix2pix_gp_penalty_is_per_sample_with_its_discriminator(tiny_config, tiny_batch):
    # The R1 discriminator has no batch normalisation, so each sample's penalty is the same
    # whether it is computed alone or in a batch: the penalty needs independent samples.
    trainer = get_trainer("pix2pix_gp")(tiny_config(algo="pix2pix_gp"))
    assert trainer.discriminator.norm == "none"
    batch = tiny_batch(3)
    condition, real = trainer.condition(batch), trainer.target(batch)

    def penalty(rows):
        part = {k: v[rows] for k, v in condition.items()}
        return losses.r1_penalty(lambda colors: trainer.judge(part, colors), real[rows])[0].numpy()

    together = penalty(slice(0, 3))
    alone = np.concatenate([penalty(slice(i, i + 1)) for i in range(3)])
    assert np.all(together > 0)
    np.testing.assert_allclose(together, alone, rtol=1e-4)


def test_pix2pix_gp_adds_the_weighted_penalty_to_the_discriminator_loss(tiny_config, tiny_batch):
    def first_logs(lambda_r1):
        trainer = get_trainer("pix2pix_gp")(tiny_config(algo="pix2pix_gp", lambda_r1=lambda_r1, eager=True))
        return {k: float(v) for k, v in trainer.train_step(tiny_batch()).items()}

    plain, weighted = first_logs(0.0), first_logs(10.0)
    # same seed, same first step: the penalty enters the loss as gamma / 2 * r1
    assert plain["r1"] == pytest.approx(weighted["r1"], rel=1e-5) and plain["r1"] > 0
    assert weighted["d_loss"] == pytest.approx(plain["d_loss"] + 5.0 * plain["r1"], rel=1e-5)


@pytest.mark.parametrize("overrides, flag", [
    ({"algo": "pix2pix_gp", "lambda_r1": -1.0}, "--lambda-r1"),
    ({"algo": "l2", "lambda_l2": -1.0}, "--lambda-l2"),
    ({"algo": "pix2pixhd", "lambda_fm": -1.0}, "--lambda-fm"),
    ({"algo": "pix2pixhd", "num_scales": 0}, "--num-scales"),
    ({"algo": "pix2pixhd", "size": 32, "depth": 2, "num_scales": 4}, "--num-scales 4"),
])
def test_new_settings_are_validated(overrides, flag):
    config = config_lib.apply_overrides(config_lib.RunConfig(), overrides)
    with pytest.raises(ValueError, match=flag):
        config_lib.validate(config)
    # the scales belong to the algorithm that has them: another algorithm refuses the flag
    with pytest.raises(ValueError, match="--num-scales is a setting of --algo pix2pixhd, not of --algo wgangp"):
        config_lib.apply_overrides(config_lib.RunConfig(), {"size": 32, "depth": 2, "num_scales": 4})


def test_train_cli_runs_pix2pixhd_end_to_end(tmp_path):
    from anime_colorize import train
    from anime_colorize.export import load_generator

    out = tmp_path / "run"
    argv = ["--algo", "pix2pixhd", "--out", str(out), "--size", "32", "--batch-size", "4", "--num-images", "32",
            "--depth", "2", "--filters", "8", "--z-dim", "4", "--steps", "2", "--log-every", "1", "--eager", "--quiet"]
    assert train.main(argv) == 0
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [1, 2]
    assert {"d_loss", "fm", "g_adv", "l1", "g_loss"} <= set(rows[0])
    assert all(np.isfinite(float(v)) for r in rows for v in r.values())
    generator = load_generator(out / "generator.keras")
    colours = generator(tf.zeros((1, 32, 32, 1)), tf.zeros((1, 4)))
    assert colours.shape == (1, 32, 32, 2) and np.all(np.abs(colours.numpy()) <= 1.0)
