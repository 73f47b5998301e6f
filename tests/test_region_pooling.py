import keras
import numpy as np
import pytest
import tensorflow as tf

from anime_colorize.distribute import dtype_policy
from anime_colorize.models.region_pooling import RegionPooling, labels_at


def reference_labels_at(labels, factor, max_regions):
    """Each factor x factor block: the label of the smallest region (full-size area) in it,
    ties to the lower label; max_regions where no pixel has a label in 0 .. max_regions-1."""
    b, h, w = labels.shape
    out = np.full((b, h // factor, w // factor), max_regions)
    for i in range(b):
        ids, counts = np.unique(labels[i], return_counts=True)
        area = dict(zip(ids.tolist(), counts.tolist()))
        for y in range(h // factor):
            for x in range(w // factor):
                block = labels[i, y * factor:(y + 1) * factor, x * factor:(x + 1) * factor]
                present = [v for v in np.unique(block).tolist() if 0 <= v < max_regions]
                if present:
                    out[i, y, x] = min(present, key=lambda v: (area[v], v))
    return out


def reference_pool(features, labels, max_regions):
    """Features replaced by their mean over each (image, label); other pixels unchanged."""
    out = features.astype(np.float64).copy()
    for i in range(features.shape[0]):
        for v in np.unique(labels[i]):
            if 0 <= v < max_regions:
                inside = labels[i] == v
                out[i][inside] = features[i][inside].mean(axis=0)
    return out


def random_case(batch=2, size=16, factor=1, channels=3, regions=6, seed=0):
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((batch, size // factor, size // factor, channels)).astype("float32")
    labels = rng.integers(0, regions, (batch, size, size)).astype("int32")
    return features, labels


@pytest.mark.parametrize("factor", [1, 2, 4])
def test_pooling_matches_a_numpy_reference(factor):
    features, labels = random_case(factor=factor, regions=9)
    labels[0, :3, :5] = -1  # no region here
    labels[1, 5:9, 2:7] = 12  # beyond the budget of 10
    out = RegionPooling(max_regions=10)([features, labels]).numpy()
    level_labels = reference_labels_at(labels, factor, 10)
    np.testing.assert_array_equal(labels_at(labels, 16 // factor, 16 // factor, 10).numpy(), level_labels)
    np.testing.assert_allclose(out, reference_pool(features, level_labels, 10), atol=1e-5)


def test_labels_with_a_channel_axis_and_other_int_types_are_accepted():
    features, labels = random_case(factor=2)
    expected = RegionPooling()([features, labels]).numpy()
    for regions in (labels[..., None], labels.astype("int64"), labels.astype("uint8")):
        np.testing.assert_array_equal(RegionPooling()([features, regions]).numpy(), expected)


def test_mean_output_is_exactly_constant_within_each_region():
    rng = np.random.default_rng(1)
    features = rng.standard_normal((2, 32, 32, 2)).astype("float32")
    labels = np.zeros((2, 32, 32), "int32")
    labels[:, 4:20, 6:30] = 1
    labels[0, 22:, :] = 2
    labels[1, :, 25:] = 3
    out = RegionPooling(max_regions=8)([features, labels]).numpy()
    for i in range(2):
        for v in np.unique(labels[i]):
            values = out[i][labels[i] == v]
            assert len(np.unique(values, axis=0)) == 1, (i, v)
    assert len(np.unique(out[0].reshape(-1, 2), axis=0)) == 3


def test_the_same_label_in_two_images_names_two_regions():
    rng = np.random.default_rng(2)
    features = rng.standard_normal((2, 8, 8, 4)).astype("float32")
    labels = np.repeat(rng.integers(0, 3, (1, 8, 8)), 2, axis=0).astype("int32")
    layer = RegionPooling(max_regions=4)
    both = layer([features, labels]).numpy()
    for i in range(2):
        np.testing.assert_allclose(both[i], layer([features[i:i + 1], labels[i:i + 1]]).numpy()[0], atol=1e-6)
    assert np.abs(both[0] - both[1]).max() > 0.1


def test_no_region_is_the_identity_and_labels_beyond_the_budget_stay_unpooled():
    features, labels = random_case(factor=2)
    np.testing.assert_array_equal(RegionPooling()([features, np.full_like(labels, -1)]).numpy(), features)
    np.testing.assert_array_equal(RegionPooling(max_regions=3)([features, labels + 3]).numpy(), features)


def test_a_small_region_survives_where_nearest_subsampling_loses_it():
    labels = np.zeros((1, 16, 16), "int32")
    labels[0, 8:12, :] = 1  # a band
    labels[0, 5, 6] = 2  # one pixel, not on the 4 px grid
    level = labels_at(labels, 4, 4, 8).numpy()[0]
    assert level[1, 1] == 2 and (level == 2).sum() == 1
    assert 2 not in labels[0, ::4, ::4]
    assert (level[2] == 1).all() and (level == 0).sum() == 11


def test_gradients_reach_the_features_as_the_region_mean_of_the_upstream_gradient():
    features, labels = random_case(factor=2, seed=3)
    upstream = np.random.default_rng(4).standard_normal(features.shape).astype("float32")
    x = tf.Variable(features)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(RegionPooling(max_regions=8)([x, labels]) * upstream)
    grad = tape.gradient(loss, x).numpy()
    np.testing.assert_allclose(grad, reference_pool(upstream, reference_labels_at(labels, 2, 8), 8), atol=1e-5)


@pytest.mark.parametrize("mode", ["concat", "gate"])
def test_concat_and_gate_modes(mode):
    features, labels = random_case(factor=2, seed=5)
    layer = RegionPooling(max_regions=8, mode=mode)
    out = layer([features, labels]).numpy()
    pooled = reference_pool(features, reference_labels_at(labels, 2, 8), 8)
    if mode == "concat":
        np.testing.assert_allclose(out, np.concatenate([features, pooled], -1), atol=1e-5)
        return
    np.testing.assert_allclose(out, (features + pooled) / 2, atol=1e-5)  # the gate starts at 1/2
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer([features, labels]) * pooled)
    assert np.abs(tape.gradient(loss, layer.gate).numpy()).min() > 0


def test_unknown_shapes_in_a_tf_function_without_retracing():
    layer = RegionPooling(max_regions=8)
    traces = []

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, 3)), tf.TensorSpec((None, None, None), tf.int32)])
    def pool(features, labels):
        traces.append(1)
        return layer([features, labels])

    for batch, size, factor in [(3, 16, 2), (1, 24, 4), (2, 8, 1)]:
        features, labels = random_case(batch=batch, size=size, factor=factor, seed=batch)
        expected = reference_pool(features, reference_labels_at(labels, factor, 8), 8)
        np.testing.assert_allclose(pool(features, labels).numpy(), expected, atol=1e-5)
    assert len(traces) == 1


@pytest.mark.parametrize("mode", ["mean", "gate"])
def test_xla_compiles_and_matches_eager_with_gradients(mode):
    layer = RegionPooling(max_regions=8, mode=mode)
    features, labels = random_case(factor=2, seed=6)

    def value_and_grad(x, regions):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.square(layer([x, regions])))
        return loss, tape.gradient(loss, x)

    eager = value_and_grad(tf.constant(features), tf.constant(labels))
    compiled = tf.function(value_and_grad, jit_compile=True)(tf.constant(features), tf.constant(labels))
    for a, b in zip(eager, compiled):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)


def test_mixed_precision_returns_the_compute_dtype_and_keeps_float32_means():
    with dtype_policy(True):
        layer = RegionPooling(max_regions=8, mode="gate")
    features, labels = random_case(factor=2, seed=7)
    out = layer([features, labels])
    assert out.dtype == tf.bfloat16 and layer.gate.dtype == "float32"
    expected = (features + reference_pool(features, reference_labels_at(labels, 2, 8), 8)) / 2
    np.testing.assert_allclose(tf.cast(out, tf.float32).numpy(), expected, rtol=2e-2, atol=2e-2)
    compiled = tf.function(lambda x, r: layer([x, r]), jit_compile=True)(features, labels)
    assert compiled.dtype == tf.bfloat16


@pytest.mark.parametrize("mode", ["mean", "concat", "gate"])
def test_round_trips_through_a_keras_file(mode, tmp_path):
    features_in = keras.Input((None, None, 3), name="features")
    regions_in = keras.Input((None, None), dtype="int32", name="regions")
    pooled = RegionPooling(max_regions=16, mode=mode, name="pool")([features_in, regions_in])
    model = keras.Model([features_in, regions_in], keras.layers.Conv2D(2, 1)(pooled))
    assert model.get_layer("pool").get_config()["max_regions"] == 16
    features, labels = random_case(factor=2, seed=8)
    if mode == "gate":
        model.get_layer("pool").gate.assign(np.arange(3, dtype="float32"))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    config = loaded.get_layer("pool").get_config()
    assert (config["max_regions"], config["mode"]) == (16, mode)
    np.testing.assert_allclose(loaded([features, labels]).numpy(), model([features, labels]).numpy(), atol=1e-6)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="mode"):
        RegionPooling(mode="median")
    with pytest.raises(ValueError, match="max_regions"):
        RegionPooling(max_regions=0)
