import keras
import numpy as np
import pytest
import tensorflow as tf

from anime_colorize.distribute import dtype_policy
from anime_colorize.models.hint_fill import HintFill


def reference_fill(hint, levels, decay):
    """Push (2x2 block max mask, mask-weighted mean ab; then one global cell) and pull
    (ab = m ab + (1 - m) ab_above, confidence = m + (1 - m) decay conf_above), in numpy."""
    def reduce(level, cells_h, cells_w):
        b, h, w, _ = level.shape
        blocks = level.reshape(b, cells_h, h // cells_h, cells_w, w // cells_w, 3)
        mask = blocks[..., 2:]
        weight = mask.mean(axis=(2, 4))
        ab = (blocks[..., :2] * mask).mean(axis=(2, 4)) / np.maximum(weight, 1e-6)
        return np.concatenate([ab, mask.max(axis=(2, 4))], -1)

    pyramid = [hint.astype(np.float64)]
    for _ in range(levels):
        _, h, w, _ = pyramid[-1].shape
        pyramid.append(reduce(pyramid[-1], h // 2, w // 2))
    above = reduce(pyramid[-1], 1, 1)
    filled = []
    for level in reversed(pyramid):
        fy, fx = level.shape[1] // above.shape[1], level.shape[2] // above.shape[2]
        above = above.repeat(fy, axis=1).repeat(fx, axis=2)
        mask = level[..., 2:]
        above = np.concatenate([mask * level[..., :2] + (1 - mask) * above[..., :2],
                                mask + (1 - mask) * decay * above[..., 2:]], -1)
        filled.append(above)
    return filled[::-1]


def random_hints(batch=2, height=16, width=24, count=5, soft=False, seed=0):
    rng = np.random.default_rng(seed)
    hint = np.zeros((batch, height, width, 3), "float32")
    for i in range(batch):
        ys, xs = rng.integers(0, height, count), rng.integers(0, width, count)
        hint[i, ys, xs, :2] = rng.uniform(-1, 1, (count, 2))
        hint[i, ys, xs, 2] = rng.uniform(0.2, 1, count) if soft else 1.0
    return hint


@pytest.mark.parametrize("levels, soft", [(2, False), (3, True), (0, False)])
def test_fill_matches_a_numpy_reference_at_every_level(levels, soft):
    hint = random_hints(soft=soft, height=16, width=24)
    out = HintFill(levels=levels, decay=0.5, return_pyramid=True)(hint)
    expected = reference_fill(hint, levels, 0.5)
    assert len(out) == levels + 1
    for got, want in zip(out, expected):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-5)


def test_no_hints_give_all_zeros():
    assert not np.any(HintFill(levels=3)(np.zeros((2, 16, 16, 3), "float32")).numpy())


def test_one_hint_fills_everything_and_given_pixels_keep_their_colour():
    hint = random_hints(batch=1, height=32, width=32, count=1, seed=1)
    y, x = np.argwhere(hint[0, ..., 2])[0]
    out = HintFill(levels=3, decay=0.5)(hint).numpy()[0]
    np.testing.assert_allclose(out[..., :2], np.broadcast_to(hint[0, y, x, :2], (32, 32, 2)), atol=1e-6)
    assert out[y, x, 2] == 1.0
    # 1 at the hint, halving per level the colour travelled: 1/16 from the global cell
    assert set(np.unique(out[..., 2]).tolist()) == {1.0, 0.5, 0.25, 0.125, 0.0625}


def test_each_image_is_filled_from_its_own_hints():
    hint = random_hints(batch=2, count=3, seed=2)
    layer = HintFill(levels=2)
    both = layer(hint).numpy()
    for i in range(2):
        np.testing.assert_allclose(both[i], layer(hint[i:i + 1]).numpy()[0], atol=1e-6)


def test_unknown_shapes_in_a_tf_function_without_retracing():
    layer = HintFill(levels=2)
    traces = []

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, 3))])
    def fill(hint):
        traces.append(1)
        return layer(hint)

    for batch, height, width in [(3, 16, 16), (1, 8, 20)]:
        hint = random_hints(batch=batch, height=height, width=width, seed=batch)
        np.testing.assert_allclose(fill(hint).numpy(), reference_fill(hint, 2, 0.5)[0], atol=1e-5)
    assert len(traces) == 1


def test_xla_compiles_and_matches_eager_with_gradients():
    layer = HintFill(levels=2)
    hint = tf.constant(random_hints(soft=True, seed=3))

    def value_and_grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.square(layer(x)))
        return loss, tape.gradient(loss, x)

    eager, compiled = value_and_grad(hint), tf.function(value_and_grad, jit_compile=True)(hint)
    assert np.abs(eager[1].numpy()).sum() > 0
    for a, b in zip(eager, compiled):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)


def test_mixed_precision_returns_the_compute_dtype():
    with dtype_policy(True):
        layer = HintFill(levels=2, return_pyramid=True)
    hint = random_hints(seed=4)
    out = layer(hint)
    assert all(level.dtype == tf.bfloat16 for level in out)
    for got, want in zip(out, reference_fill(hint, 2, 0.5)):
        np.testing.assert_allclose(tf.cast(got, tf.float32).numpy(), want, atol=1e-2)


def test_round_trips_through_a_keras_file(tmp_path):
    hint_in = keras.Input((None, None, 3), name="hint")
    levels = HintFill(levels=2, decay=0.25, return_pyramid=True, name="fill")(hint_in)
    model = keras.Model(hint_in, [keras.layers.Conv2D(1, 1)(level) for level in levels])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    config = loaded.get_layer("fill").get_config()
    assert (config["levels"], config["decay"], config["return_pyramid"]) == (2, 0.25, True)
    hint = random_hints(seed=5)
    for a, b in zip(loaded(hint), model(hint)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="levels"):
        HintFill(levels=-1)
    with pytest.raises(ValueError, match="decay"):
        HintFill(decay=0.0)
