import numpy as np
import pytest
import tensorflow as tf

from anime_colorize.trainers import available_trainers, get_trainer


def weights(model):
    return [v.numpy().copy() for v in model.trainable_variables]


def test_registry_knows_the_core_trainers_and_names_them_on_error():
    assert {"dcgan", "wgangp"} <= set(available_trainers())
    with pytest.raises(ValueError, match="known: .*dcgan.*wgangp"):
        get_trainer("no-such-gan")


@pytest.mark.parametrize("eager", [True, False], ids=["eager", "compiled"])
@pytest.mark.parametrize("algo", available_trainers())
def test_every_trainer_takes_two_steps_that_change_all_models(algo, eager, tiny_config, tiny_batch):
    trainer = get_trainer(algo)(tiny_config(algo=algo, eager=eager))
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
def test_a_short_last_batch_does_not_retrace(algo, tiny_config, tiny_batch):
    trainer = get_trainer(algo)(tiny_config(algo=algo))
    for batch_size in (3, 2, 1, 3):
        trainer.train_step(trainer.example_batch(tiny_batch(batch_size)))
    assert trainer.train_step.experimental_get_tracing_count() == 1


def test_wgangp_runs_its_critic_n_critic_times(tiny_config, tiny_batch):
    trainer = get_trainer("wgangp")(tiny_config(algo="wgangp", n_critic=3))
    trainer.train_step(tiny_batch())
    assert int(trainer.d_optimizer.iterations) == 3
    assert int(trainer.g_optimizer.iterations) == 1


def test_the_seed_decides_initialisation_and_steps(tiny_config, tiny_batch):
    def run(seed):
        trainer = get_trainer("wgangp")(tiny_config(algo="wgangp", seed=seed))
        trainer.train_step(tiny_batch())
        return weights(trainer.generator)

    first, again, other = run(0), run(0), run(1)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


@pytest.mark.parametrize("algo, xla", [(algo, False) for algo in available_trainers()] + [("wgangp", True)])
def test_mixed_precision_steps_are_finite_and_keep_float32_outputs(algo, xla, tiny_config, tiny_batch):
    import keras

    # with XLA too: XLA rejects a gradient that mixes bfloat16 and float32 in one op
    trainer = get_trainer(algo)(tiny_config(algo=algo, mixed_precision=True, xla=xla))
    assert keras.config.dtype_policy().name == "float32"  # the global policy is left alone
    compute = {layer.dtype_policy.compute_dtype for layer in trainer.generator.layers if layer.weights}
    assert "bfloat16" in compute or "float16" in compute
    for _ in range(2):
        logs = trainer.train_step(trainer.example_batch(tiny_batch()))
    assert all(np.isfinite(float(v)) for v in logs.values()), logs
    out = trainer.generate({"l": tiny_batch()["l"]}, tf.zeros((4, 4)), training=False)
    assert out.dtype == tf.float32
    assert all(v.dtype == "float32" for v in trainer.generator.trainable_variables)
