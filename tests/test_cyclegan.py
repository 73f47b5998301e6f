"""cyclegan: settings, the history pool, the two-domain data, and runs that learn, resume and export."""
import json

import numpy as np
import pytest
import tensorflow as tf

from anime_colorize import color
from anime_colorize import config as config_lib
from anime_colorize import training
from anime_colorize.data import pipeline
from anime_colorize.data.io import write_image
from anime_colorize.data.synthetic import make_cel_images
from anime_colorize.trainers import get_trainer
from anime_colorize.trainers.base import StepRandom

TINY_CYCLEGAN = dict(algo="cyclegan", resnet_blocks=1, pool_size=6)


def cyclegan_config(tiny_config, **overrides):
    return tiny_config(**{**TINY_CYCLEGAN, **overrides})


@pytest.mark.parametrize("given, message", [
    (dict(algo="cyclegan", data="x"), "give --data-a .* and --data-b .* instead of --data"),
    (dict(algo="cyclegan", data_a="x"), "needs both --data-a .* and --data-b .*only --data-a was given"),
    (dict(algo="cyclegan", data_b="x"), "only --data-b was given"),
    (dict(algo="cyclegan", input="lineart"), "--input must be gray"),
    (dict(algo="cyclegan", hints="points"), "--hints must be none"),
    (dict(algo="cyclegan", page_scale=0.5), "--page-scale"),
    (dict(algo="cyclegan", pool_size=-1), "--pool-size"),
    (dict(algo="wgangp", data_a="x"), "--data-a is a setting of --algo cyclegan, not of --algo wgangp"),
])
def test_settings_that_cannot_work_name_their_flags(given, message):
    with pytest.raises(ValueError, match=message):
        config_lib.validate(config_lib.apply_overrides(config_lib.RunConfig(), given))


def test_cyclegan_refuses_a_multi_device_strategy(tiny_config):
    import types

    strategy = types.SimpleNamespace(num_replicas_in_sync=2)  # refused before anything is built on it
    with pytest.raises(ValueError, match="one device.*--strategy default"):
        get_trainer("cyclegan")(cyclegan_config(tiny_config), strategy)


def test_the_history_pool_fills_then_swaps_without_losing_an_image(tiny_config):
    trainer = get_trainer("cyclegan")(cyclegan_config(tiny_config, pool_size=4, eager=True))
    pool = trainer.pool_a

    def query(values, seed):
        images = tf.constant(values, tf.float32)[:, None, None, None] * tf.ones((1, 32, 32, 1))
        rng = StepRandom(tf.constant([seed, 7], tf.int64), len(values), 1)
        shown = trainer.query_pool(pool, images, rng)
        trainer.pool_count.assign(min(int(trainer.pool_count) + len(values), 4))
        return list(shown.numpy()[:, 0, 0, 0]), sorted(pool.numpy()[:, 0, 0, 0])

    # Filling: every new image is shown and stored; the last one of a straddling batch only shown.
    assert query([1, 2, 3], 0) == ([1, 2, 3], [0, 1, 2, 3])
    assert query([4, 5], 1) == ([4, 5], [1, 2, 3, 4])
    # Full: each shown image is its own new one or a stored one it replaced; nothing is lost.
    swapped = kept = 0
    for step in range(20):
        before = sorted(pool.numpy()[:, 0, 0, 0])
        new = [10.0 * (step + 1) + k for k in range(3)]
        shown, after = query(new, 100 + step)
        assert sorted(shown + after) == sorted(new + before)
        swapped += sum(s != n for s, n in zip(shown, new))
        kept += sum(s == n for s, n in zip(shown, new))
    assert swapped > 10 and kept > 10  # about half each (60 draws)


def test_without_a_pool_the_discriminators_judge_the_newest_fakes(tiny_config, tiny_batch):
    trainer = get_trainer("cyclegan")(cyclegan_config(tiny_config, pool_size=0, eager=True))
    fakes = tf.ones((3, 32, 32, 1))
    rng = StepRandom(tf.constant([1, 2], tf.int64), 3, 1)
    assert trainer.query_pool(trainer.pool_a, fakes, rng) is fakes
    logs = trainer.train_step(trainer.example_batch(tiny_batch(3)))
    assert all(np.isfinite(float(v)) for v in logs.values()) and int(trainer.pool_count) == 0


def make_folders(root, pages=2, colours=5):
    """Tall gray pages (a black band at the top, a white one at the bottom, gray between) and
    small colour pictures."""
    page = np.full((160, 100, 3), 128, np.uint8)
    page[:16], page[-16:] = 0, 255
    for k in range(pages):
        write_image(root / "pages" / f"page{k}.png", page)
    for k, picture in enumerate(make_cel_images(colours, 40, seed=3)):
        write_image(root / "colour" / f"c{k}.png", picture)
    return str(root / "pages"), str(root / "colour")


@pytest.mark.parametrize("cache", [False, True])
def test_pages_are_used_whole_and_the_stream_resumes_exactly(tmp_path, cache, tiny_config):
    data_a, data_b = make_folders(tmp_path)
    config = cyclegan_config(tiny_config, data_a=data_a, data_b=data_b, batch_size=2, page_scale=2.0, cache=cache,
                             seed=0)
    source, report = get_trainer("cyclegan").make_source(config, progress=False)
    assert "pages (A)" in report.summary() and report.skipped == []
    assert (len(source), len(source.b), source.load_size) == (4, 5, 64)  # two squares per page
    top, bottom = source.load(0), source.load(1)
    # A centre crop would show neither band: these squares reach the page's top and bottom.
    assert top.shape == (64, 64, 3) and top[0].max() < 30 and bottom[-1].min() > 225

    def batches(start, count):
        stream = pipeline.unpaired_training_dataset(source, 32, 2, seed=0, start_step=start)
        return [{k: v.numpy() for k, v in b.items()} for b in stream.take(count)]

    straight, resumed = batches(0, 3), batches(2, 1)
    assert set(straight[0]) == {"l", "ab", "a_l"} and straight[0]["a_l"].shape == (2, 32, 32, 1)
    for key in ("l", "ab", "a_l"):
        np.testing.assert_array_equal(straight[2][key], resumed[0][key])
    assert np.abs(straight[0]["ab"]).max() > 0.1  # domain B has colour


def duotone(pictures):
    """uint8 RGB pictures recoloured by their lightness: dark -> green-yellow, light -> purple
    (normalised ab = (0.5 l, -0.5 l)), a colour rule only the lightness can reveal."""
    l, _ = color.rgb_to_l_ab(tf.cast(pictures, tf.float32) / 255.0)
    rgb = color.l_ab_to_rgb(l, tf.concat([0.5 * l, -0.5 * l], axis=-1))
    return np.rint(np.clip(rgb.numpy(), 0, 1) * 255).astype(np.uint8)


@pytest.mark.slow
def test_the_colourer_learns_domain_b_colours_from_unpaired_pictures(tiny_config):
    """A = gray pictures, B = other pictures in duotone. G must learn B's colour rule and
    apply it to pictures it never saw: its colours must point the right way (cosine with the
    truth; shrinking the random initial output does not help there) and beat the gray picture."""
    config = cyclegan_config(tiny_config, batch_size=8, lr_g=1e-3, lr_d=1e-3)
    trainer = get_trainer("cyclegan")(config)
    source = pipeline.UnpairedSource(pipeline.ArraySource(make_cel_images(64, 36, seed=1)),
                                     pipeline.ArraySource(duotone(make_cel_images(64, 36, seed=2))))
    heldout = pipeline.rgb_batch_to_model_inputs(duotone(make_cel_images(32, 32, seed=3)))

    def colour_error_and_cosine():
        ab = trainer.generator({"l": heldout["l"], "z": tf.zeros((32, 4))}, training=False).numpy()
        truth = heldout["ab"].numpy()
        cosine = (ab * truth).sum(-1) / (np.linalg.norm(ab, axis=-1) * np.linalg.norm(truth, axis=-1) + 1e-8)
        return np.abs(ab - truth).mean(), cosine.mean()

    gray_error = float(np.abs(heldout["ab"]).mean())
    error_before, cosine_before = colour_error_and_cosine()
    logs = [trainer.train_step(batch) for batch in trainer.make_dataset(source).take(150)]
    error_after, cosine_after = colour_error_and_cosine()
    # Seen: error 0.517 -> 0.091 (gray 0.135), cosine -0.06 -> 0.67; cycle_b 0.18 (step 25) -> 0.08.
    assert abs(cosine_before) < 0.2 and cosine_after > 0.5, (cosine_before, cosine_after)
    assert error_after < 0.8 * gray_error < error_before, (error_before, error_after, gray_error)
    early, late = (np.mean([float(step["cycle_b"]) for step in part]) for part in (logs[10:30], logs[-20:]))
    assert late < 0.7 * early, (early, late)


def test_a_built_in_run_fills_its_pools_and_exports_a_page_colourer(tiny_config, tmp_path):
    """(Exact resume of every checkpointed tensor, pools included, is in test_training.)"""
    from anime_colorize.export import load_generator
    from anime_colorize.sampling import colorize

    # Eager steps: tracing the four-model step would take most of this test's time.
    training.fit(cyclegan_config(tiny_config, steps=2, eager=True, out=str(tmp_path / "a")), progress=False)
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(tmp_path / "a" / "checkpoints")))
    pool_b = reader.get_tensor("pool_b/.ATTRIBUTES/VARIABLE_VALUE")
    assert pool_b.shape == (6, 32, 32, 2) and (np.abs(pool_b).max(axis=(1, 2, 3)) > 0).all()

    colourer = load_generator(tmp_path / "a" / "saved_model")
    assert colourer.metadata["architecture"] == "resnet" and colourer.working_size == 32
    page = np.linspace(0, 1, 45 * 70).reshape(70, 45, 1).repeat(3, axis=2).astype(np.float32)
    colours = colorize(colourer, page, np.zeros((1, 4), np.float32))
    assert colours.shape == (1, 70, 45, 3) and np.isfinite(colours).all()
    assert list((tmp_path / "a" / "samples").glob("step_*.png"))


def test_the_cli_trains_on_two_folders(tmp_path, capsys):
    from anime_colorize import train
    from anime_colorize.export import load_generator

    data_a, data_b = make_folders(tmp_path)
    out = tmp_path / "run"
    argv = ["--algo", "cyclegan", "--data-a", data_a, "--data-b", data_b, "--size", "32", "--page-scale", "2",
            "--batch-size", "2", "--filters", "8", "--resnet-blocks", "1", "--steps", "2", "--log-every", "1",
            "--eager", "--out", str(out), "--quiet"]
    assert train.main(argv) == 0, capsys.readouterr().err
    saved = json.loads((out / "config.json").read_text())
    assert (saved["cyclegan"]["data_a"], saved["cyclegan"]["data_b"]) == (data_a, data_b)
    assert load_generator(out).working_size == 64  # pages were trained at size * page_scale
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"cycle_a", "cycle_b", "identity_a", "identity_b", "d_a", "d_b", "g_loss"} <= set(header)
    assert (out / "examples" / "0.png").exists()
    assert train.main(argv[:4] + ["--out", str(tmp_path / "bad"), "--quiet"]) == 2
    assert "--data-b" in capsys.readouterr().err
