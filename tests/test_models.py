import keras
import numpy as np
import pytest

from anime_colorize.models import DCGANDiscriminator, UNetGenerator, WGANCritic
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
