"""What region pooling buys the real generator in a short run on built-in pictures (issue #14,
must-have 7): the per-region colour error falls, and the colours are purer (flatter within the
regions) than after the same run without pooling.

The pictures' colours are drawn at random, so a drawing alone does not say them: the model is
given 10 point hints per picture (with the dense hint fill, in both runs), and learns to carry
each hint's colour over its region."""
import functools

import keras
import numpy as np
import pytest
import tensorflow as tf
from skimage.color import rgb2lab

from anime_colorize import color
from anime_colorize.data import hints as hints_lib
from anime_colorize.data import lineart, pipeline
from anime_colorize.data.synthetic import make_cel_images
from anime_colorize.evaluation import metrics
from anime_colorize.models import UNetGenerator

SIZE, STEPS, BATCH = 32, 80, 8
HINTS = ("hint_ab", "hint_mask", "hint_hist")


def pictures(count, seed):
    """(model inputs with region labels, the truths) of ``count`` built-in pictures."""
    rgb = make_cel_images(count, SIZE, seed=seed)
    lines = np.stack([lineart.extract_lines(p) for p in rgb])
    batch = pipeline.rgb_batch_to_model_inputs(rgb, lines, regions=pipeline.batch_region_labels(rgb, lines))
    batch.update(hints_lib.simulate_points(rgb / 255.0, (seed, 0), count=10))
    batch["target"] = tf.concat([batch["l"], batch["ab"]], -1)
    truths = [metrics.Truth(p / 255.0, rgb2lab(p / 255.0), lines=x) for p, x in zip(rgb, lines)]
    return batch, truths


@functools.lru_cache(maxsize=None)
def data():
    return pictures(64, seed=1), pictures(8, seed=2)


def scores(generator, held_out):
    """(mean region error, mean region purity) of the generator's colourings of held-out pictures."""
    batch, truths = held_out
    z = tf.zeros((len(truths), generator.z_dim))
    inputs = {"l": batch["lines"], "z": z, **{k: batch[k] for k in HINTS},
              **({"regions": batch["regions"]} if generator.region_pooling else {})}
    lab = color.denormalize_colors_np(np.asarray(generator(inputs, training=False)))
    errors, purities = [], []
    for truth, out in zip(truths, lab):
        outs = metrics.Outputs(rgb=None, lab=out[None].astype(np.float64))
        errors.append(metrics.region_error(truth, outs)[0])
        purities.append(metrics.region_purity(truth, outs)[0])
    return float(np.mean(errors)), float(np.mean(purities))


def train(region_pooling: bool):
    """(scores before, scores after) STEPS L1 steps of a tiny line-art U-Net."""
    (train_batch, _), held_out = data()
    keras.utils.set_random_seed(0)
    g = UNetGenerator(z_dim=4, depth=2, filters=8, norm="none", input_kind="lineart", working_size=SIZE,
                      hint_kinds=("points",), hint_fill=True, region_pooling=region_pooling)
    before = scores(g, held_out)
    optimizer = keras.optimizers.Adam(3e-3)
    keys = ["lines", "target", *HINTS] + (["regions"] if region_pooling else [])

    @tf.function
    def step(rows):
        x = {k: tf.gather(train_batch[k], rows) for k in keys}
        inputs = {"l": x["lines"], "z": tf.zeros((BATCH, 4)), **{k: x[k] for k in HINTS},
                  **({"regions": x["regions"]} if region_pooling else {})}
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.abs(g(inputs, training=True) - x["target"]))
        optimizer.apply(tape.gradient(loss, g.trainable_variables), g.trainable_variables)

    rng = np.random.default_rng(0)
    for _ in range(STEPS):
        step(tf.constant(rng.choice(64, BATCH, replace=False)))
    return before, scores(g, held_out)


@pytest.mark.slow
def test_pooling_makes_region_error_fall_and_colours_purer_than_without():
    (error_before, _), (error_after, purity_on) = train(True)
    _, (error_off, purity_off) = train(False)
    assert error_after < 0.8 * error_before, (error_before, error_after)
    assert purity_on > purity_off + 0.02, (purity_on, purity_off)
    print(f"region error {error_before:.1f} -> {error_after:.1f} (without pooling {error_off:.1f}); "
          f"purity {purity_on:.3f} against {purity_off:.3f}")
