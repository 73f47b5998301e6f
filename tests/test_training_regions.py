"""Region labels in training batches, previews, evaluation and inference (issue #14)."""
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from anime_colorize import color, config as config_lib, sampling, training
from anime_colorize.data import lineart, pipeline
from anime_colorize.data.synthetic import make_cel_images
from anime_colorize.evaluation.data import make_batch
from anime_colorize.export import LoadedGenerator
from anime_colorize.models import UNetGenerator, takes_regions
from anime_colorize.models.generator import ExportableGenerator
from anime_colorize.models.layers import SpatialBroadcast
from anime_colorize.models.region_pooling import RegionPooling
from anime_colorize.regions.network_labels import by_decreasing_area, drawing_of, region_labels


def first_batches(dataset, count):
    iterator = iter(dataset)
    return [next(iterator) for _ in range(count)]


def assert_labels(regions, shape):
    """int32 labels of ``shape``, 0 .. n-1 in every image, the largest region 0."""
    regions = np.asarray(regions)
    assert regions.shape == shape and regions.dtype == np.int32
    for labels in regions:
        n = labels.max() + 1
        np.testing.assert_array_equal(np.unique(labels), np.arange(n))
        area = np.bincount(labels.ravel())
        assert np.all(np.diff(area) <= 0), area


# --- the labels -------------------------------------------------------------------------------

def true_colour_spread(labels, rgb_uint8):
    """Mean CIE76 distance of the true colour to its region's mean colour over the pixels inside
    flat colour areas: not ink, and the same colour as their four neighbours (the outlines and
    their anti-aliased edges belong to a region but have no area colour)."""
    lab = color.rgb_to_lab_np(rgb_uint8.astype(np.float64) / 255.0)
    padded = np.pad(lab, [(1, 1), (1, 1), (0, 0)], mode="edge")
    h, w = labels.shape
    step = np.max([np.linalg.norm(padded[1 + dy:h + 1 + dy, 1 + dx:w + 1 + dx] - lab, axis=-1)
                   for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0))], axis=0)
    paper = (lab[..., 0] > 25) & (step < 2.0)
    flat, k = labels[paper], labels.max() + 1
    mean = np.stack([np.bincount(flat, weights=lab[paper][:, c], minlength=k) for c in range(3)], 1)
    mean /= np.maximum(np.bincount(flat, minlength=k), 1)[:, None]
    return float(np.linalg.norm(lab[paper] - mean[flat], axis=-1).mean())


@pytest.mark.parametrize("input_kind", ["lineart", "gray"])
def test_labels_follow_the_colour_areas_of_built_in_pictures(input_kind):
    """Each region of a built-in picture holds one flat colour: its true colours spread far less
    than in a grid of as many cells (and than in the whole picture)."""
    pictures = make_cel_images(6, 64, seed=11)
    spread, grid_spread = [], []
    for picture in pictures:
        lines = lineart.extract_lines(picture) if input_kind == "lineart" else None
        labels = pipeline.element_region_labels(picture, lines)
        n = labels.max() + 1
        assert 4 <= n <= 200
        side = max(1, round(np.sqrt(n)))
        grid = (np.arange(64)[:, None] * side // 64) * side + np.arange(64)[None, :] * side // 64
        spread.append(true_colour_spread(labels, picture))
        grid_spread.append(true_colour_spread(grid, picture))
    # Seen: below 1e-11 (one exact colour per region) against 3.9 to 17 for the grids.
    assert np.mean(spread) < 0.05 * np.mean(grid_spread), (spread, grid_spread)


def test_region_labels_number_regions_by_decreasing_area_and_repeat_exactly():
    drawing = np.ones((32, 32), np.float32)
    drawing[:, 20] = 0.0  # a vertical line: a wide region left, a narrow one right
    drawing[8, :20] = 0.0  # and the left side cut again: the top strip is the smallest
    labels = region_labels(drawing)
    assert_labels(labels[None], (1, 32, 32))
    assert labels.max() == 2 and labels[20, 5] == 0 and labels[20, 28] == 1 and labels[2, 5] == 2
    np.testing.assert_array_equal(region_labels(drawing), labels)
    np.testing.assert_array_equal(by_decreasing_area(np.array([[0, 1, 1], [2, 2, 2]]), 3), [[2, 1, 1], [0, 0, 0]])


def test_drawing_of_the_network_input():
    lines = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    np.testing.assert_allclose(drawing_of(2 * lines - 1, "lineart"), lines, atol=1e-6)
    picture = make_cel_images(1, 32, seed=2)[0]
    l = color.rgb_to_l_ab_np(picture)[0]
    # gray input: the picture's gray, paper whitened (as segment() prepares a picture)
    np.testing.assert_allclose(drawing_of(l, "gray"), lineart.to_line_art(picture), atol=5e-3)
    with pytest.raises(ValueError, match="input kind"):
        drawing_of(l, "colour")
    with pytest.raises(ValueError, match="shape"):
        drawing_of(np.zeros((2, 4, 4, 1)), "gray")


# --- the pipeline -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def source():
    return pipeline.builtin_source(8, 36, seed=0, progress=False)


@pytest.mark.parametrize("input_kind", ["lineart", "gray"])
def test_batches_carry_labels_only_when_asked(source, input_kind):
    with_labels = first_batches(pipeline.training_dataset(source, 32, 4, seed=1, input_kind=input_kind,
                                                          regions=True), 1)[0]
    without = first_batches(pipeline.training_dataset(source, 32, 4, seed=1, input_kind=input_kind), 1)[0]
    assert set(with_labels) == set(pipeline.batch_signature(input_kind, regions=True))
    assert "regions" not in without and "regions" not in pipeline.batch_signature(input_kind)
    assert_labels(with_labels["regions"], (4, 32, 32))
    np.testing.assert_array_equal(with_labels["l"], without["l"])  # the labels change nothing else
    if input_kind == "gray":  # made from what the network sees, as inference makes them
        expected = [region_labels(drawing_of(l, "gray")) for l in with_labels["l"].numpy()]
        assert np.mean(np.stack(expected) == with_labels["regions"].numpy()) > 0.99


def test_labels_are_deterministic_per_element_and_resume_exactly(source):
    make = lambda seed=3, start=0: pipeline.training_dataset(source, 32, 2, seed=seed, start_step=start,
                                                             input_kind="lineart", regions=True)
    a, b, other = first_batches(make(), 4), first_batches(make(), 4), first_batches(make(seed=4), 4)
    resumed = first_batches(make(start=2), 2)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x["regions"], y["regions"])
    for x, y in zip(a[2:], resumed):
        np.testing.assert_array_equal(x["regions"], y["regions"])
        np.testing.assert_array_equal(x["lines"], y["lines"])
    assert not all(np.array_equal(x["regions"], y["regions"]) for x, y in zip(a, other))


def test_labels_are_equal_with_and_without_cache(tmp_path):
    from anime_colorize.data.io import write_image

    for k, picture in enumerate(make_cel_images(5, 48, seed=9)):
        write_image(tmp_path / f"pic{k}.png", picture.astype(np.float32) / 255.0)
    streamed = pipeline.scan_folder(tmp_path, load_size=36, progress=False)
    cached = pipeline.scan_folder(tmp_path, load_size=36, cache=True, progress=False)
    x = first_batches(pipeline.training_dataset(pipeline.FileSource(streamed.paths, 36), 32, 2, seed=0,
                                                input_kind="lineart", regions=True), 3)
    y = first_batches(pipeline.training_dataset(pipeline.ArraySource(cached.images), 32, 2, seed=0,
                                                input_kind="lineart", regions=True), 3)
    for p, q in zip(x, y):
        np.testing.assert_array_equal(p["regions"], q["regions"])


def test_the_model_setting_decides_the_labels_and_cyclegan_refuses_them(tiny_config):
    assert not config_lib.ModelConfig().uses_regions
    assert config_lib.ModelConfig(input="lineart").uses_regions
    assert not config_lib.ModelConfig(input="lineart", region_pooling=False).uses_regions
    assert config_lib.ModelConfig(region_pooling=True).uses_regions
    config = tiny_config(input="lineart", region_pooling=False)
    assert config_lib.from_dict(config_lib.to_dict(config)).model.region_pooling is False
    with pytest.raises(ValueError, match="--region-pooling"):
        config_lib.validate(tiny_config(algo="cyclegan", region_pooling=True))


# --- a generator with a regions input ----------------------------------------------------------

class RegionGenerator(ExportableGenerator, keras.Model):
    """A tiny generator whose colours are constant within each region of its ``regions`` input
    (the project's region-pooling layer at its head)."""

    stride = 4  # overrides ExportableGenerator's property

    def __init__(self, z_dim=4, input_kind="lineart", working_size=32, **kwargs):
        inputs = {"l": keras.Input((None, None, 1), name="l"), "z": keras.Input((z_dim,), name="z"),
                  "regions": keras.Input((None, None), dtype="int32", name="regions")}
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs["l"])
        x = keras.layers.Concatenate()([x, SpatialBroadcast()([x, inputs["z"]])])
        channels = 3 if input_kind == "lineart" else 2
        x = keras.layers.Conv2D(channels, 1, activation="tanh")(x)
        super().__init__(inputs=inputs, outputs=RegionPooling()([x, inputs["regions"]]), **kwargs)
        self.z_dim, self.input_kind, self.working_size, self.hint_kinds = z_dim, input_kind, working_size, ()


def constant_within_regions(colors, regions):
    for c, labels in zip(np.asarray(colors), np.asarray(regions)):
        for region in np.unique(labels):
            inside = c[labels == region]
            assert np.ptp(inside, axis=0).max() < 1e-5, region


@pytest.fixture
def region_generator(monkeypatch):
    """The trainers build a :class:`RegionGenerator` instead of the U-Net."""
    import anime_colorize.trainers.conditional as conditional

    monkeypatch.setattr(conditional, "build_generator",
                        lambda model_config, working_size: RegionGenerator(model_config.z_dim, model_config.input,
                                                                           working_size, name="generator"))


def test_a_generator_with_a_regions_input_trains_on_the_labels_and_resumes_exactly(region_generator, tiny_config,
                                                                                  tmp_path, no_export):
    """The labels reach the generator in the compiled step, the previews and a resumed run."""
    from test_training import checkpoint_tensors

    settings = dict(algo="l2", input="lineart", num_images=8, checkpoint_every=1, sample_every=2)
    straight, run = tmp_path / "straight", tmp_path / "stopped"
    training.fit(tiny_config(steps=3, out=str(straight), **settings), progress=False)
    assert (straight / "samples" / "step_0000002.png").exists()
    expected = checkpoint_tensors(straight, 3)
    shutil.copytree(straight, run)
    for path in (run / "checkpoints").glob("ckpt-3.*"):
        path.unlink()
    training.fit(training.resolve_config({"out": str(run), "steps": 3}, resume=True), resume=True, progress=False)
    again = checkpoint_tensors(run, 3)
    for name, value in expected.items():
        np.testing.assert_allclose(again[name], value, rtol=1e-5, atol=1e-6, err_msg=name)

    trainer = training.get_trainer("l2")(tiny_config(**settings))
    batch = first_batches(trainer.make_dataset(trainer.make_source(trainer.config, progress=False)[0]), 1)[0]
    condition = trainer.condition(batch)
    assert takes_regions(trainer.generator) and "regions" in condition
    constant_within_regions(trainer.generate(condition, tf.zeros((4, 4)), training=False), batch["regions"])


def test_the_unet_takes_the_labels_the_batches_carry(tiny_config):
    trainer = training.get_trainer("l2")(tiny_config(algo="l2", input="lineart"))
    assert trainer.config.model.uses_regions and takes_regions(trainer.generator)
    assert "regions" in trainer.batch_signature()
    batch = first_batches(trainer.make_dataset(trainer.make_source(trainer.config, progress=False)[0]), 1)[0]
    assert "regions" in trainer.condition(batch)
    logs = trainer.train_step(batch)  # the compiled step, with the labels in its signature
    assert np.isfinite(float(logs["g_loss"]))
    off = training.get_trainer("l2")(tiny_config(algo="l2", input="lineart", region_pooling=False))
    assert not takes_regions(off.generator) and "regions" not in off.batch_signature()


def test_previews_and_evaluation_batches_carry_labels():
    pictures = make_cel_images(3, 32, seed=4)
    batch = training.preview_inputs(pictures, config_lib.ModelConfig(input="lineart"), seed=0)
    assert_labels(batch["regions"], (3, 32, 32))
    assert "regions" not in training.preview_inputs(pictures, config_lib.ModelConfig(), seed=0)
    for input_kind in ("gray", "lineart"):
        evaluation = make_batch(pictures.astype(np.float32) / 255.0, input_kind)
        assert_labels(evaluation["regions"], (3, 32, 32))
        np.testing.assert_array_equal(evaluation["regions"][0],
                                      region_labels(drawing_of(evaluation["net"][0], input_kind)))


# --- inference ------------------------------------------------------------------------------

def test_inference_gives_a_regions_generator_labels_at_the_working_size():
    """A 50x41 drawing is worked at 32 px (39x32, padded to 40x32): the colours are constant
    within each region of the working-size labels, and the padding is no region."""
    loaded = LoadedGenerator.from_model(RegionGenerator(working_size=32), "(test)")
    assert loaded.takes_regions
    picture = make_cel_images(1, 64, seed=6)[0].astype(np.float32)[:50, :41] / 255.0
    model_input = sampling.prepare_input(picture, "lineart")
    z = np.zeros((2, 4), np.float32)
    colors = sampling.predict_working(loaded, [model_input], z)[0]
    assert colors.shape == (2, 39, 32, 3)
    work = tf.image.resize(model_input[None], (39, 32), antialias=True)
    regions = sampling.working_regions(work, "lineart", padded=(40, 32))
    assert regions.shape == (1, 40, 32) and np.all(regions[0, 39:] == -1) and np.all(regions[0, :39] >= 0)
    constant_within_regions(colors, np.repeat(regions[:, :39].numpy(), 2, axis=0))
    assert sampling.predict_colors(loaded, [model_input], z)[0].shape == (2, 50, 41, 3)


def test_inference_without_a_regions_input_is_unchanged():
    generator = UNetGenerator(z_dim=4, depth=2, filters=8, input_kind="lineart", working_size=32)
    loaded = LoadedGenerator.from_model(generator, "(test)")
    assert not loaded.takes_regions
    model_input = np.full((32, 32, 1), 1.0, np.float32)
    z = np.zeros((1, 4), np.float32)
    direct = generator({"l": model_input[None], "z": z}, training=False)
    np.testing.assert_allclose(sampling.predict_working(loaded, [model_input], z)[0], direct, atol=1e-6)
    with pytest.raises(ValueError, match="no region labels"):
        loaded(model_input[None], z, regions=np.zeros((1, 32, 32), np.int32))
