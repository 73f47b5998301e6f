"""Shared test set-up: quiet TensorFlow, small thread pools, and the optional real data."""
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402

SHARED_DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"



@pytest.fixture
def shared_data():
    """../shared/data beside the checkout, or a clean skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


TINY = dict(size=32, batch_size=4, num_images=32, depth=2, filters=8, z_dim=4, steps=2,
            log_every=1, sample_every=1000, checkpoint_every=1000)


@pytest.fixture
def tiny_config(tmp_path):
    """A RunConfig factory for tiny CPU runs (32 px, 8 filters) writing under tmp_path."""
    from anime_colorize.config import RunConfig, apply_overrides

    def make(**overrides):
        return apply_overrides(RunConfig(), {"out": str(tmp_path / "run"), **TINY, **overrides})

    return make


@pytest.fixture
def tiny_batch():
    """A normalised batch factory {"l": (B, 32, 32, 1), "ab": (B, 32, 32, 2)} from built-in pictures."""
    from anime_colorize.data.pipeline import rgb_batch_to_model_inputs
    from anime_colorize.data.synthetic import make_cel_images

    def make(batch_size=4, size=32):
        return rgb_batch_to_model_inputs(make_cel_images(batch_size, size, seed=5))

    return make
