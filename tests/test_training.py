"""The training run end to end: learning, resume, export and the CLIs, on tiny settings."""
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from anime_colorize import config as config_lib
from anime_colorize import training
from anime_colorize.data.pipeline import builtin_holdout, rgb_batch_to_model_inputs
from anime_colorize.trainers import available_trainers, get_trainer, register_trainer, unregister_trainer
from anime_colorize.trainers.l2 import L2Trainer


def heldout_ab_error(generator, size=32, count=32, samples=4):
    """Best-of-4 mean |ab - truth| on built-in pictures never trained on.

    Hair, clothes and background take palette colours that the lightness cannot reveal, so a
    good diverse generator is judged by its closest colouring, not the average over z.
    """
    batch = rgb_batch_to_model_inputs(builtin_holdout(count, size, seed=0))
    rng = np.random.default_rng(1)
    errors = []
    for _ in range(samples):
        z = tf.constant(rng.standard_normal((count, generator.z_dim)), tf.float32)
        ab = generator({"l": batch["l"], "z": z}, training=False)
        errors.append(tf.reduce_mean(tf.abs(ab - batch["ab"]), axis=[1, 2, 3]).numpy())
    return float(np.mean(np.min(errors, axis=0)))


@pytest.mark.slow
def test_a_short_run_lowers_held_out_colour_error(tiny_config):
    import keras

    from anime_colorize.trainers import get_trainer

    config = tiny_config(steps=150, num_images=256, batch_size=8, filters=8, depth=3, z_dim=4,
                         log_every=50)
    untrained = get_trainer("wgangp")(config).generator
    before = heldout_ab_error(untrained)
    summary = training.fit(config, progress=False)
    after = heldout_ab_error(keras.saving.load_model(summary["keras"]))
    # Seen: 0.242 -> 0.203 (-16%) in 150 steps of this tiny model; the gray picture scores 0.206.
    assert after < 0.88 * before, (before, after)


def test_a_run_folder_is_never_overwritten_and_resume_refuses_other_settings(tiny_config, tmp_path, no_export):
    config = tiny_config(out=str(tmp_path / "run"), eager=True)
    training.fit(config, progress=False)
    with pytest.raises(training.RunFolderError, match="--resume"):
        training.fit(config, progress=False)
    with pytest.raises(training.RunFolderError, match="--size"):
        training.resolve_config({"out": str(tmp_path / "run"), "size": 64}, resume=True)
    with pytest.raises(training.RunFolderError, match="not found"):
        training.resolve_config({"out": str(tmp_path / "nothing")}, resume=True)


def test_run_folder_contents_and_time_budget(tiny_config, tmp_path):
    config = tiny_config(steps=10_000, max_minutes=0.002, sample_every=1, eager=True, out=str(tmp_path / "run"))
    summary = training.fit(config, progress=False)
    run = tmp_path / "run"
    assert summary["stopped_early"] and 0 < summary["step"] < 10_000
    saved = json.loads((run / "config.json").read_text())
    assert saved["train"]["max_minutes"] == 0.002 and saved["data"]["size"] == 32
    for name in ("generator.keras", "saved_model/saved_model.pb", "loss_curves.png", "metrics.csv"):
        assert (run / name).exists(), name
    assert list((run / "samples").glob("step_*.png"))
    assert list((run / "logs").glob("events.out.tfevents.*"))
    assert tf.train.latest_checkpoint(str(run / "checkpoints")).endswith(f"ckpt-{summary['step']}")


def test_tensorboard_events_hold_scalars_and_preview_images(tiny_config, tmp_path, no_export):
    config = tiny_config(steps=2, sample_every=2, eager=True, out=str(tmp_path / "run"))
    training.fit(config, progress=False)
    tags = {}
    for event_file in (tmp_path / "run" / "logs").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            for value in event.summary.value:
                tags.setdefault(value.tag, set()).add(value.metadata.plugin_data.plugin_name)
    assert tags["g_loss"] == {"scalars"} and tags["w_dist"] == {"scalars"}
    assert tags["samples"] == {"images"}


def test_ctrl_c_saves_a_checkpoint_to_resume_from(tiny_config, tmp_path, monkeypatch):
    real_dataset = training.pipeline.training_dataset

    def interrupted_after_three_batches(*args, **kwargs):
        for number, batch in enumerate(real_dataset(*args, **kwargs)):
            if number == 3:
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(training.pipeline, "training_dataset", interrupted_after_three_batches)
    config = tiny_config(steps=10, eager=True, out=str(tmp_path / "run"))
    summary = training.fit(config, progress=False)
    assert summary["interrupted"] and summary["step"] == 3
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "checkpoints")).endswith("ckpt-3")
    assert not (tmp_path / "run" / "generator.keras").exists()  # no export of an unfinished run


# --- resume --------------------------------------------------------------------------------
# Small enough for every algorithm to take eager steps quickly.
TINY_SETTINGS = {"pix2pixhd": {"num_scales": 2}}
BOOKKEEPING = {"_CHECKPOINTABLE_OBJECT_GRAPH", "save_counter/.ATTRIBUTES/VARIABLE_VALUE"}


def checkpoint_tensors(run, number=None) -> dict:
    """Every tensor of the run's latest checkpoint (or of ckpt-``number``) but the bookkeeping."""
    folder = run / "checkpoints"
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(folder)) if number is None
                                      else str(folder / f"ckpt-{number}"))
    return {name: reader.get_tensor(name) for name in set(reader.get_variable_to_shape_map()) - BOOKKEEPING}


@pytest.mark.parametrize("input_kind", ["gray", "lineart"])
@pytest.mark.parametrize("algo", available_trainers())
def test_resume_equals_an_uninterrupted_run(algo, input_kind, tiny_config, tmp_path, no_export):
    """A run stopped after its step-2 checkpoint and resumed for a third step ends with every
    checkpointed tensor (models, optimizers, step, seed, cyclegan's pools) as the run that went
    straight on. pix2pixhd (the trainer with the most state) learns line art with every hint
    kind ("mix"), so the simulated hints resume too; the other line-art runs take no hints
    (the hint pipeline's set-up would double this test's time)."""
    settings = dict(algo=algo, eager=True, num_images=8, checkpoint_every=1, sample_every=2,
                    **TINY_SETTINGS.get(algo, {}))
    if input_kind == "lineart":
        settings.update(input="lineart", hints="mix" if algo == "pix2pixhd" else "none")
    check_resume_equals_an_uninterrupted_run(settings, input_kind, tiny_config, tmp_path)


# The cheap architecture's shared step (one generator pass per step, its first colouring
# judged by the discriminator), compiled as training runs it, with line art and every hint kind.
CHEAP = dict(z_entry="decoder", convs_per_level=1, full_resolution="light", discriminator_pooling=2)


@pytest.mark.parametrize("algo, input_kind, hints", [("wgangp", "gray", "none"), ("pix2pix", "lineart", "mix")])
def test_resume_of_the_shared_step_equals_an_uninterrupted_run(algo, input_kind, hints, tiny_config, tmp_path,
                                                              no_export):
    settings = dict(algo=algo, num_images=8, checkpoint_every=1, sample_every=2, input=input_kind, hints=hints,
                    **CHEAP)
    check_resume_equals_an_uninterrupted_run(settings, input_kind, tiny_config, tmp_path)


def check_resume_equals_an_uninterrupted_run(settings, input_kind, tiny_config, tmp_path):
    algo = settings["algo"]
    try:
        config_lib.validate(tiny_config(**settings))
    except ValueError as e:
        pytest.skip(f"--algo {algo} takes no {input_kind} input: {e}")
    straight, run = tmp_path / "straight", tmp_path / "stopped"
    training.fit(tiny_config(steps=3, out=str(straight), **settings), progress=False)
    expected = checkpoint_tensors(straight, 3)
    # The same run as it was when stopped after step 2: its folder without the step-3 checkpoint.
    shutil.copytree(straight, run)
    for path in (run / "checkpoints").glob("ckpt-3.*"):
        path.unlink()
    resumed = training.fit(training.resolve_config({"out": str(run), "steps": 3}, resume=True), resume=True,
                           progress=False)
    assert resumed["start_step"] == 2 and resumed["step"] == 3
    again = checkpoint_tensors(run, 3)
    assert again.keys() == expected.keys() and len(expected) > 20
    assert int(again["step/.ATTRIBUTES/VARIABLE_VALUE"]) == 3
    for name, value in expected.items():
        np.testing.assert_allclose(again[name], value, rtol=1e-5, atol=1e-6, err_msg=name)
    rows = (run / "metrics.csv").read_text().strip().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]  # rows past the checkpoint were dropped
    for name in ("samples/step_0000002.png", "samples/step_0000003.png", "logs", "examples/0.png"):
        assert (run / name).exists(), name
    if input_kind == "lineart":
        assert (run / "examples" / "0_lines.png").exists()
        assert ("hint" in rows[0]) == (settings["hints"] == "mix")


def truncate(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)


def test_resume_falls_back_past_a_damaged_checkpoint_and_keeps_it(tiny_config, tmp_path, no_export, caplog):
    run = tmp_path / "run"
    training.fit(tiny_config(steps=3, checkpoint_every=1, eager=True, out=str(run)), progress=False)
    data = run / "checkpoints" / "ckpt-3.data-00000-of-00001"
    truncate(data)
    size = data.stat().st_size
    with caplog.at_level(logging.WARNING, logger="anime_colorize.training"):
        summary = training.fit(training.resolve_config({"out": str(run), "steps": 4}, resume=True), resume=True,
                               progress=False)
    assert summary["start_step"] == 2 and summary["step"] == 4
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert (f"checkpoint {data} is damaged (IndexError: Read less bytes than requested): resuming from ckpt-2 "
            f"(step 2); the damaged files are kept in {run / 'checkpoints' / 'damaged'}") == warnings[0]
    kept = run / "checkpoints" / "damaged"
    assert (kept / data.name).stat().st_size == size and (kept / "ckpt-3.index").exists()
    assert tf.train.latest_checkpoint(str(run / "checkpoints")).endswith("ckpt-4")
    # the step redone after the fallback wrote a new, intact ckpt-3 beside the kept damaged one
    assert training.Checkpoints.read_error(run / "checkpoints" / "ckpt-3") is None


def test_resume_refuses_when_no_checkpoint_reads_cleanly(tiny_config, tmp_path, no_export):
    run = tmp_path / "run"
    training.fit(tiny_config(steps=2, eager=True, out=str(run)), progress=False)
    for data in (run / "checkpoints").glob("*.data-*"):
        truncate(data)
    with pytest.raises(training.RunFolderError, match="no checkpoint in .* reads cleanly .*ckpt-2.data.*"
                                                      "IndexError.*--overwrite"):
        training.fit(training.resolve_config({"out": str(run), "steps": 3}, resume=True), resume=True,
                     progress=False)
    assert not (run / "checkpoints" / "damaged").exists()  # nothing is moved when nothing can be resumed


def test_an_earlier_flat_config_json_resumes(old_format_config, tmp_path, no_export):
    run = tmp_path / "run"
    run.mkdir()
    old = old_format_config
    old["train"].update(out=str(run), steps=1, eager=True)
    (run / "config.json").write_text(json.dumps(old))  # a run killed before its first checkpoint
    summary = training.fit(training.resolve_config({"out": str(run), "steps": 2}, resume=True), resume=True,
                           progress=False)
    assert summary["step"] == 2
    saved = json.loads((run / "config.json").read_text())  # rewritten in the current format
    assert saved["wgangp"]["n_critic"] == 3 and "n_critic" not in saved["train"] and "data_a" not in saved["data"]


# --- a new run from a config file ------------------------------------------------------------
def test_config_file_starts_a_new_run_and_flags_override_it(tiny_config, tmp_path):
    source = tiny_config(algo="pix2pixhd", num_scales=2, lambda_l1=5.0, out=str(tmp_path / "a"))
    path = tmp_path / "a" / "config.json"
    path.parent.mkdir()
    path.write_text(config_lib.to_json(source))
    config = training.resolve_config({"out": str(tmp_path / "b"), "seed": 7, "num_scales": 1}, False, path)
    assert config.train.out == str(tmp_path / "b") and config.train.seed == 7
    assert (config.algorithm.num_scales, config.algorithm.lambda_l1) == (1, 5.0) and config.data.size == 32
    with pytest.raises(training.RunFolderError, match="configuration of the run in .*give --out"):
        training.resolve_config({}, False, path)
    with pytest.raises(training.RunFolderError, match="--config starts a new run"):
        training.resolve_config({"out": str(tmp_path / "a")}, True, path)


def test_train_cli_names_a_bad_config_file_and_key(tmp_path, capsys):
    from anime_colorize import train

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"train": {"algo": "dcgan", "stepz": 3}}))
    assert train.main(["--config", str(bad), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"error: {bad}: unknown key 'train.stepz'" in err and "Traceback" not in err
    assert train.main(["--config", str(tmp_path / "none.json"), "--out", str(tmp_path / "run")]) == 2
    assert "none.json" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


# --- what is logged ------------------------------------------------------------------------
class CountingTrainer(L2Trainer):
    """l2 whose logged "count" is the step number: 1, 2, 3, ..."""

    def train_step_fn(self, batch):
        logs = super().train_step_fn(batch)
        return {**logs, "count": tf.cast(self.step, tf.float32)}


@pytest.fixture
def counting_algorithm():
    register_trainer("counting")(CountingTrainer)
    yield "counting"
    unregister_trainer("counting")


def test_logged_losses_are_means_over_the_logging_interval(counting_algorithm, tiny_config, tmp_path, no_export):
    run = tmp_path / "run"
    training.fit(tiny_config(algo="counting", steps=5, log_every=2, eager=True, out=str(run)), progress=False)
    rows = [line.split(",") for line in (run / "metrics.csv").read_text().split()]
    column = rows[0].index("count")
    assert [(r[0], float(r[column])) for r in rows[1:]] == [("2", 1.5), ("4", 3.5), ("5", 5.0)]
    logged = {}
    for event_file in (run / "logs").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            for value in event.summary.value:
                if value.tag == "count":
                    logged[event.step] = float(tf.make_ndarray(value.tensor))
    assert logged == {2: 1.5, 4: 3.5, 5: 5.0}


def test_interval_means_restart_after_each_pop():
    means = training.IntervalMeans()
    for value in (1.0, 2.0, 6.0):
        means.add({"a": value, "b": 2 * value})
    assert means.pop() == {"a": 3.0, "b": 6.0}
    means.add({"a": 10.0, "b": 0.0})
    assert means.pop() == {"a": 10.0, "b": 0.0}
