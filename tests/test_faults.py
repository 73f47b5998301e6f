"""Training survives faults: non-finite losses, a full disk, and SIGKILL at random moments."""
import errno
import logging
import os
import random
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from anime_colorize import training
from anime_colorize.trainers import register_trainer, unregister_trainer
from anime_colorize.trainers.wgangp import WGANGPTrainer


def flaky_trainer(bad_calls):
    """A WGAN-GP trainer whose listed calls (1-based) corrupt a weight and report NaN losses."""

    class Flaky(WGANGPTrainer):
        def __init__(self, config, strategy=None):
            super().__init__(config, strategy)
            real_step, calls = self.train_step, [0]

            def step(batch):
                calls[0] += 1
                logs = real_step(batch)
                if calls[0] in bad_calls:
                    weight = self.generator.trainable_variables[0]
                    weight.assign(tf.fill(weight.shape, float("nan")))
                    logs = dict(logs, g_loss=tf.constant(float("nan")))
                return logs

            self.train_step = step

    return Flaky


@pytest.fixture
def use_trainer():
    def install(cls):
        register_trainer("flaky")(cls)
    yield install
    unregister_trainer("flaky")


def test_a_non_finite_loss_is_undone_and_the_learning_rate_lowered(tiny_config, use_trainer, caplog):
    use_trainer(flaky_trainer({4}))
    config = tiny_config(algo="flaky", steps=6, checkpoint_every=2, lr_g=1e-3, lr_d=2e-3, eager=True,
                         n_critic=1)  # one critic update a step: the guard is what is tested
    with caplog.at_level(logging.WARNING, logger="anime_colorize.training"):
        summary = training.fit(config, progress=False)
    assert summary["step"] == 6
    assert "non-finite loss (g_loss=nan) at step 4" in caplog.text and "from step 2" in caplog.text
    model = keras.saving.load_model(summary["keras"])
    assert all(np.isfinite(w).all() for w in model.get_weights())
    reader = tf.train.load_checkpoint(str(tf.train.latest_checkpoint(config.train.out + "/checkpoints")))
    rates = {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map() if "learning_rate" in k}
    assert sorted(np.round(list(rates.values()), 6)) == [5e-4, 1e-3], rates


def test_too_many_non_finite_losses_in_a_row_stop_the_run(tiny_config, use_trainer, caplog):
    use_trainer(flaky_trainer(set(range(3, 100))))
    config = tiny_config(algo="flaky", steps=20, nan_retries=2, checkpoint_every=2, lr_g=1e-3, eager=True,
                         n_critic=1)
    with pytest.raises(training.TrainingDiverged, match="3 times in a row.*last good checkpoint is step 2"):
        with caplog.at_level(logging.WARNING, logger="anime_colorize.training"):
            training.fit(config, progress=False)
    # each retry lowers the rate further: 1e-3 -> 5e-4 -> 2.5e-4
    assert "lowered to 0.0005" in caplog.text and "lowered to 0.00025" in caplog.text


def test_a_full_disk_is_a_clear_error(tiny_config, monkeypatch):
    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(training.export, "export_generator", no_space)
    with pytest.raises(training.DiskFullError, match="no space left.*exported model.*--resume"):
        training.fit(tiny_config(steps=2, eager=True), progress=False)


def test_resume_of_a_run_killed_before_its_first_checkpoint_starts_over(tiny_config, tmp_path, no_export):
    config = tiny_config(steps=2, eager=True, out=str(tmp_path / "run"))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(training.config_lib.to_json(config))
    summary = training.fit(training.resolve_config({"out": str(tmp_path / "run")}, resume=True),
                           resume=True, progress=False)
    assert summary["start_step"] == 0 and summary["step"] == 2


TRAIN = [sys.executable, "-m", "anime_colorize.train", "--size", "32", "--batch-size", "4",
         "--num-images", "16", "--depth", "2", "--filters", "8", "--z-dim", "4", "--steps", "24",
         "--checkpoint-every", "1", "--sample-every", "1000", "--log-every", "1", "--quiet"]


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_weights(tmp_path):
    straight = tmp_path / "straight"
    subprocess.run(TRAIN + ["--out", str(straight)], check=True, capture_output=True, timeout=300)

    killed = tmp_path / "killed"
    rng = random.Random(1)
    kills, command = 0, TRAIN + ["--out", str(killed)]
    for attempt in range(12):
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        command = TRAIN + ["--out", str(killed), "--resume"]
        if kills < 3:
            # wait until it is stepping (a checkpoint index exists), then kill at a random moment
            deadline = time.monotonic() + 120
            while not (killed / "checkpoints" / "checkpoint").exists() and proc.poll() is None \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 1.5))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
        _, err = proc.communicate(timeout=300)
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert kills >= 1 and proc.returncode == 0
    a = keras.saving.load_model(straight / "generator.keras").get_weights()
    b = keras.saving.load_model(killed / "generator.keras").get_weights()
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
