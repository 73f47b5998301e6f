import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from anime_colorize.models import DCGANDiscriminator, PatchGANDiscriminator, UNetGenerator, WGANCritic
from anime_colorize.models import layers as layers_lib
from anime_colorize.models.layers import SpatialBroadcast


def inputs(batch=2, height=32, width=48, z_dim=4, seed=0):
    rng = np.random.default_rng(seed)
    return {"l": rng.uniform(-1, 1, (batch, height, width, 1)).astype("float32"),
            "z": rng.standard_normal((batch, z_dim)).astype("float32")}


@pytest.mark.parametrize("norm", ["batch", "instance", "group", "none"])
def test_generator_shapes_and_range_for_non_square_inputs(norm):
    g = UNetGenerator(z_dim=4, depth=3, filters=8, norm=norm)
    for height, width in [(32, 48), (8, 8), (16, 40)]:
        ab = np.asarray(g(inputs(height=height, width=width)))
        assert ab.shape == (2, height, width, 2)
        assert np.all(np.abs(ab) <= 1.0)


def test_noise_reaches_the_decoder_at_several_scales():
    g = UNetGenerator(z_dim=4, depth=3, filters=8)
    broadcasts = [layer for layer in g.layers if isinstance(layer, SpatialBroadcast)]
    # input + one per decoder level: a z concatenated only at the input gets ignored
    assert len(broadcasts) == 1 + 3
    assert {layer.name for layer in broadcasts} == {"input_global", "up0_global", "up1_global", "up2_global"}
    a, b = inputs(seed=1), inputs(seed=1)
    b["z"] = b["z"] + 1.0
    assert np.abs(np.asarray(g(a)) - np.asarray(g(b))).mean() > 1e-4


def test_generator_rejects_unknown_normalisation():
    with pytest.raises(ValueError, match="normalisation"):
        UNetGenerator(norm="weird")


def test_generator_saves_and_loads_with_metadata(tmp_path):
    g = UNetGenerator(z_dim=4, depth=2, filters=8, norm="group", working_size=48)
    x = inputs()
    path = tmp_path / "g.keras"
    g.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, UNetGenerator)
    assert loaded.metadata == g.metadata and loaded.metadata["working_size"] == 48
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(g(x)), atol=1e-6)


@pytest.mark.parametrize("cls", [WGANCritic, DCGANDiscriminator])
def test_discriminators_score_each_sample_and_round_trip(cls, tmp_path):
    d = cls(filters=8, layers_count=2)
    rng = np.random.default_rng(0)
    batch = {"l": rng.uniform(-1, 1, (3, 32, 24, 1)).astype("float32"),
             "color": rng.uniform(-1, 1, (3, 32, 24, 2)).astype("float32")}
    scores = np.asarray(d(batch))
    assert scores.shape == (3, 1)
    d.save(tmp_path / "d.keras")
    loaded = keras.saving.load_model(tmp_path / "d.keras")
    assert type(loaded) is cls
    np.testing.assert_allclose(np.asarray(loaded(batch)), scores, atol=1e-6)


def test_wgan_critic_has_no_batch_norm():
    names = {type(layer).__name__ for layer in WGANCritic(filters=8).layers}
    assert "BatchNormalization" not in names
    assert "BatchNormalization" in {type(layer).__name__ for layer in DCGANDiscriminator(filters=8).layers}


# --- XLA-friendly formulations (models/layers.py) ---------------------------------------------
DATA = pathlib.Path(__file__).resolve().parent / "data"


@pytest.mark.parametrize("height,width", [(16, 16), (7, 10), (1, 1), (2, 5)])
def test_xla_friendly_ops_compute_what_tensorflow_kernels_compute(height, width):
    rng = np.random.default_rng(height * 100 + width)
    x = tf.constant(rng.normal(size=(2, height, width, 3)).astype("float32"))
    for kernel_size in [(4, 4), (3, 3), (2, 2), (4, 3), (7, 7)]:
        kernel = tf.constant(rng.normal(size=kernel_size + (3, 5)).astype("float32"))
        expected = tf.nn.conv2d(x, kernel, 2, "SAME")
        np.testing.assert_allclose(layers_lib.strided_conv_by_space_to_depth(x, kernel), expected, atol=1e-4)
    expected = tf.image.resize(x, (2 * height, 2 * width), method="bilinear")
    np.testing.assert_allclose(layers_lib.upsample2x_by_shifts(x), expected, atol=1e-5)


def test_in_xla_context_is_true_only_while_tracing_for_xla():
    seen = {}

    def probe(x, key):
        seen[key] = layers_lib.in_xla_context()
        return x

    tf.function(lambda x: probe(x, "xla"), jit_compile=True)(tf.constant(1.0))
    tf.function(lambda x: probe(x, "graph"))(tf.constant(1.0))
    probe(tf.constant(1.0), "eager")
    assert seen == {"xla": True, "graph": False, "eager": False}


def test_layers_compute_the_same_values_and_gradients_with_and_without_xla():
    # a strided Conv2D and Upsample2x: the two layers that switch formulation under XLA
    images = keras.Input((None, None, 3))
    x = layers_lib.conv_block(images, 4, kernel=4, strides=2, name="down")
    model = keras.Model(images, layers_lib.Upsample2x(name="up")(x))
    data = tf.constant(np.random.default_rng(0).normal(size=(2, 8, 12, 3)).astype("float32"))

    def values_and_gradients():
        with tf.GradientTape() as tape:
            tape.watch(data)
            out = model(data)
            loss = tf.reduce_sum(tf.square(out))
        return [out] + tape.gradient(loss, [data] + model.trainable_variables)

    plain = tf.function(values_and_gradients)()
    compiled = tf.function(values_and_gradients, jit_compile=True)()
    for a, b in zip(plain, compiled):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_generator_and_critic_compute_the_same_with_and_without_xla():
    g = UNetGenerator(z_dim=4, depth=2, filters=4, input_kind="lineart", hint_kinds=("points",))
    critic = WGANCritic(filters=4, layers_count=2, color_channels=3)
    data = dict(np.load(DATA / "before_xla_ops_io.npz"))
    x = {k: tf.constant(v) for k, v in data.items() if k != "out"}

    def losses_and_gradients():
        with tf.GradientTape() as tape:
            colors = g(x, training=True)
            loss = tf.reduce_mean(critic({"l": x["l"], "color": colors})) + tf.reduce_mean(tf.square(colors))
        return [loss] + tape.gradient(loss, g.trainable_variables + critic.trainable_variables)

    plain = tf.function(losses_and_gradients)()
    compiled = tf.function(losses_and_gradients, jit_compile=True)()
    for a, b in zip(plain, compiled):
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-5 * float(tf.reduce_max(tf.abs(a))) + 1e-7)


def test_a_generator_saved_before_the_xla_friendly_layers_loads_and_colours_the_same():
    # tests/data/make_before_xla_ops.py made these with the models before models/layers.py had
    # its own Conv2D and the generator its RepeatToBatch layers
    data = dict(np.load(DATA / "before_xla_ops_io.npz"))
    expected = data.pop("out")
    g = keras.saving.load_model(DATA / "unet_before_xla_ops.keras")
    np.testing.assert_array_equal(np.asarray(g(data)), expected)


# --- cheaper variants ---------------------------------------------------------------------------
VARIANT_OPTIONS = [{}, {"z_entry": "decoder"}, {"convs_per_level": 1}, {"full_resolution": "light"},
                   {"z_entry": "decoder", "convs_per_level": 1, "full_resolution": "light"}]


@pytest.mark.parametrize("options", VARIANT_OPTIONS)
def test_z_may_hold_several_noise_vectors_per_image(options):
    g = UNetGenerator(z_dim=4, depth=2, filters=4, input_kind="lineart", hint_kinds=("points",), **options)
    data = dict(np.load(DATA / "before_xla_ops_io.npz"))
    data.pop("out")
    z = np.random.default_rng(1).standard_normal((4, 4)).astype("float32")  # two per image
    doubled = {k: np.concatenate([v, v]) for k, v in data.items() if k != "z"}
    both = np.asarray(g({**data, "z": z}))
    assert both.shape == (4, 16, 16, 3)
    np.testing.assert_allclose(both, np.asarray(g({**doubled, "z": z})), atol=1e-5)
    np.testing.assert_allclose(both[2:], np.asarray(g({**data, "z": z[2:]})), atol=1e-5)
    assert np.abs(both[:2] - both[2:]).mean() > 1e-4  # and z still matters


def test_with_z_entering_at_the_decoder_the_encoder_does_not_see_z():
    g = UNetGenerator(z_dim=4, depth=3, filters=4, z_entry="decoder")
    encoder = keras.Model(g.input, g.get_layer("down2b_act").output)
    a, b = inputs(seed=2), inputs(seed=2)
    b["z"] = b["z"] + 1.0
    np.testing.assert_array_equal(np.asarray(encoder(a)), np.asarray(encoder(b)))
    assert np.abs(np.asarray(g(a)) - np.asarray(g(b))).mean() > 1e-4


def test_lighter_variants_cost_less_and_round_trip(tmp_path):
    from anime_colorize.benchmark import layer_macs
    x = inputs(height=32, width=48)
    costs = {}
    for options in VARIANT_OPTIONS:
        g = UNetGenerator(z_dim=4, depth=3, filters=8, **options)
        costs[str(options)] = sum(layer_macs(g, x).values())
        assert np.asarray(g(x)).shape == (2, 32, 48, 2)
    g.save(tmp_path / "g.keras")  # the lightest
    loaded = keras.saving.load_model(tmp_path / "g.keras")
    assert loaded.get_config() == g.get_config()
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(g(x)), atol=1e-6)
    default = costs[str({})]
    assert costs[str({"convs_per_level": 1})] < 0.5 * default
    assert costs[str({"full_resolution": "light"})] < 0.9 * default
    assert costs[str(VARIANT_OPTIONS[-1])] < 0.35 * default


def test_generator_rejects_unknown_variant_options():
    for options, message in [({"z_entry": "middle"}, "z entry"), ({"convs_per_level": 3}, "convs_per_level"),
                             ({"full_resolution": "none"}, "full_resolution")]:
        with pytest.raises(ValueError, match=message):
            UNetGenerator(**options)


@pytest.mark.parametrize("pooling", [1, 2])
def test_a_pooled_discriminator_judges_at_a_lower_resolution(pooling, tmp_path):
    rng = np.random.default_rng(0)
    batch = {"l": rng.uniform(-1, 1, (3, 32, 48, 1)).astype("float32"),
             "color": rng.uniform(-1, 1, (3, 32, 48, 2)).astype("float32")}
    patch = PatchGANDiscriminator(filters=4, layers_count=2, input_pooling=pooling)
    assert np.asarray(patch(batch)).shape == (3, 8 // pooling, 12 // pooling, 1)
    critic = WGANCritic(filters=4, layers_count=2, input_pooling=pooling)
    critic.save(tmp_path / "c.keras")
    loaded = keras.saving.load_model(tmp_path / "c.keras")
    assert loaded.input_pooling == pooling
    np.testing.assert_allclose(np.asarray(loaded(batch)), np.asarray(critic(batch)), atol=1e-6)
    with pytest.raises(ValueError, match="input_pooling"):
        WGANCritic(input_pooling=3)
