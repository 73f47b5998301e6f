"""Line-art input and colour hints through pipeline, model and trainer (issue #3)."""
import numpy as np
import pytest
import tensorflow as tf

from anime_colorize.data import hints as hints_lib
from anime_colorize.data import pipeline
from anime_colorize.data.hints import HIST_SIZE
from anime_colorize.data.synthetic import make_cel_images
from anime_colorize.models import UNetGenerator
from anime_colorize.models.layers import HintDownsample
from anime_colorize.trainers import get_trainer


def first_batches(dataset, count):
    return [{k: v.numpy() for k, v in batch.items()} for batch in dataset.take(count)]


@pytest.fixture(scope="module")
def source():
    return pipeline.ArraySource(make_cel_images(12, 36, seed=1))


def test_line_art_batches_carry_lines_and_are_reproducible(source):
    make = lambda start=0: pipeline.training_dataset(source, 32, 4, seed=3, start_step=start, input_kind="lineart")
    a, b = first_batches(make(), 3), first_batches(make(), 3)
    assert set(a[0]) == {"l", "ab", "lines"}
    lines = a[0]["lines"]
    assert lines.shape == (4, 32, 32, 1) and lines.min() >= -1 and lines.max() <= 1
    assert (lines > 0.9).mean() > 0.5 and (lines < 0).mean() > 0.01  # mostly paper, some ink
    for x, y in zip(a, b):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    resumed = first_batches(make(start=2), 1)[0]
    np.testing.assert_array_equal(resumed["lines"], a[2]["lines"])


@pytest.mark.parametrize("kind", ["points", "scribble", "blur", "histogram", "mix"])
def test_hint_batches_match_the_signature(source, kind):
    batch = first_batches(pipeline.training_dataset(source, 32, 4, seed=0, hints=kind), 1)[0]
    signature = pipeline.batch_signature("gray", kind)
    assert set(batch) == set(signature)
    for key, spec in signature.items():
        assert spec.shape.is_compatible_with(batch[key].shape), key
    if kind in ("points", "scribble", "blur"):
        assert batch["hint_mask"].max() > 0
    if kind in ("points", "scribble"):
        hinted = batch["hint_mask"][..., 0] == 1
        # the hint colour is the truth's colour at hinted pixels (points: a patch mean)
        assert np.abs(batch["hint_ab"][hinted] - batch["ab"][hinted]).mean() < 0.1
    if kind == "histogram":
        np.testing.assert_allclose(batch["hint_hist"].sum(-1), 1.0, rtol=1e-5)


def test_hint_downsample_keeps_one_pixel_hints_and_averages_only_hinted_pixels():
    hint = np.zeros((1, 4, 4, 3), np.float32)
    hint[0, 0, 0] = [0.5, -0.5, 1.0]            # a lone hint in the top-left block
    hint[0, 2, 2] = [0.2, 0.2, 1.0]             # two hints in the bottom-right block
    hint[0, 3, 3] = [0.4, 0.0, 1.0]
    out = HintDownsample()(tf.constant(hint)).numpy()[0]
    np.testing.assert_allclose(out[0, 0], [0.5, -0.5, 1.0], atol=1e-6)  # not faded by its zero neighbours
    np.testing.assert_allclose(out[1, 1], [0.3, 0.1, 1.0], atol=1e-6)
    np.testing.assert_array_equal(out[0, 1], [0, 0, 0])


def test_hint_pyramid_and_inference_resize_shrink_hints_alike():
    rgb = make_cel_images(2, 16, seed=4).astype(np.float32) / 255.0
    hints = hints_lib.simulate("mix", rgb, (2, 3))
    hints = dict(hints, hint_mask=hints["hint_mask"] * 0.5 + 0.5 * tf.cast(hints["hint_mask"] > 0, tf.float32))
    layer = HintDownsample()(tf.concat([hints["hint_ab"], hints["hint_mask"]], -1)).numpy()
    resized = hints_lib.resize_hints(hints, 8, 8)
    assert 0 < resized["hint_mask"].numpy().mean() < 1  # some hinted blocks, some not
    np.testing.assert_array_equal(layer[..., :2], resized["hint_ab"].numpy())
    np.testing.assert_array_equal(layer[..., 2:], resized["hint_mask"].numpy())


def test_hint_generator_has_hint_inputs_and_reacts_to_a_point():
    g = UNetGenerator(z_dim=4, depth=2, filters=8, input_kind="lineart", hint_kinds=("points",))
    assert set(g.input) == {"l", "z", "hint_ab", "hint_mask", "hint_hist"}
    inputs = {"l": tf.zeros((1, 16, 16, 1)), "z": tf.zeros((1, 4)), "hint_ab": tf.zeros((1, 16, 16, 2)),
              "hint_mask": tf.zeros((1, 16, 16, 1)), "hint_hist": tf.zeros((1, HIST_SIZE))}
    plain = g(inputs).numpy()
    assert plain.shape == (1, 16, 16, 3)  # L and ab for line art
    hinted = dict(inputs, hint_ab=tf.tensor_scatter_nd_update(inputs["hint_ab"], [[0, 3, 3]], [[0.8, -0.8]]),
                  hint_mask=tf.tensor_scatter_nd_update(inputs["hint_mask"], [[0, 3, 3]], [[1.0]]))
    changed = np.abs(g(hinted).numpy() - plain).max(axis=-1)[0]
    # the hint reaches well beyond its own pixel (through the pyramid), not only at (3, 3)
    assert changed[3, 3] > 0 and (changed > 1e-6).mean() > 0.5
    assert g.metadata["output"] == "lab" and g.metadata["hint_kinds"] == ["points"]


def test_gray_models_without_hints_keep_the_two_input_contract():
    g = UNetGenerator(z_dim=4, depth=2, filters=8)
    assert set(g.input) == {"l", "z"} and g.metadata["output"] == "ab"


def lineart_hint_batch(size=32, batch_size=4, hints="points"):
    from anime_colorize.data.lineart import extract_lines
    pictures = make_cel_images(batch_size, size, seed=5)
    lines = np.stack([extract_lines(p) for p in pictures])
    return pipeline.rgb_batch_to_model_inputs(pictures, lines, hints, (0, 1))


@pytest.mark.parametrize("algo", ["wgangp", "dcgan"])
def test_line_art_hint_training_targets_lab_and_logs_the_hint_term(algo, tiny_config):
    trainer = get_trainer(algo)(tiny_config(algo=algo, input="lineart", hints="points"))
    batch = lineart_hint_batch()
    assert trainer.target(batch).shape[-1] == 3 and trainer.discriminator.color_channels == 3
    np.testing.assert_array_equal(trainer.condition(batch)["l"], batch["lines"])
    logs = trainer.train_step(batch)
    assert "hint" in logs and np.isfinite(float(logs["hint"])) and float(logs["hint"]) > 0


def test_hint_error_is_zero_where_the_output_matches_the_hints():
    from anime_colorize.trainers.conditional import ConditionalGANTrainer as Trainer
    mask = np.zeros((2, 8, 8, 1), np.float32)
    mask[0, 2, 2] = 1
    hint_ab = np.zeros((2, 8, 8, 2), np.float32)
    hint_ab[0, 2, 2] = [0.5, -0.25]
    colors = np.zeros((2, 8, 8, 3), np.float32)
    error = Trainer.hint_error(tf.constant(colors), {"hint_ab": hint_ab, "hint_mask": mask}).numpy()
    np.testing.assert_allclose(error, [0.375, 0.0])  # mean |ab - hint| over the hinted pixel; none in image 2
    colors[0, 2, 2, 1:] = [0.5, -0.25]
    assert Trainer.hint_error(tf.constant(colors), {"hint_ab": hint_ab, "hint_mask": mask}).numpy().max() == 0


def test_hinted_images_pull_both_colourings_and_are_not_pushed_apart(tiny_config):
    from anime_colorize.trainers.base import StepRandom
    trainer = get_trainer("dcgan")(tiny_config(algo="dcgan", hints="histogram"))
    pictures = make_cel_images(4, 32, seed=5)
    hinted = pipeline.rgb_batch_to_model_inputs(pictures, None, "histogram", (0, 1))
    plain = pipeline.rgb_batch_to_model_inputs(pictures, None, "none")
    plain.update({k: tf.zeros_like(v) for k, v in hinted.items() if k.startswith("hint")})
    seed = tf.constant([1, 2], tf.int64)
    for batch, expect_ms in ((hinted, False), (plain, True)):
        condition, real = trainer.condition(batch), trainer.target(batch)
        _, terms = trainer.generator_losses(condition, real, StepRandom(seed, 4, 1))
        assert (float(terms["ms"]) > 0) == expect_ms
