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
TINY_ALGORITHM_SETTINGS = {"cyclegan": dict(resnet_blocks=1, pool_size=6)}


@pytest.fixture
def tiny_config(tmp_path):
    """A RunConfig factory for tiny CPU runs (32 px, 8 filters, one residual block) writing
    under tmp_path."""
    from anime_colorize.config import RunConfig, apply_overrides

    def make(**overrides):
        algorithm = TINY_ALGORITHM_SETTINGS.get(overrides.get("algo"), {})
        return apply_overrides(RunConfig(), {"out": str(tmp_path / "run"), **TINY, **algorithm, **overrides})

    return make


@pytest.fixture
def tiny_batch():
    """A normalised batch factory {"l": (B, 32, 32, 1), "ab": (B, 32, 32, 2)} from built-in pictures."""
    from anime_colorize.data.pipeline import rgb_batch_to_model_inputs
    from anime_colorize.data.synthetic import make_cel_images

    def make(batch_size=4, size=32):
        return rgb_batch_to_model_inputs(make_cel_images(batch_size, size, seed=5))

    return make


@pytest.fixture
def old_format_config():
    """A config.json as earlier versions wrote it (a tiny wgangp run): every algorithm's
    settings in "train", cyclegan's also in "data" and "model"."""
    return {
        "train": {"algo": "wgangp", "steps": 4, "out": "runs/old", "seed": 0, "lr_g": 0.0002, "lr_d": 0.0002,
                  "beta_1": 0.5, "beta_2": 0.9, "n_critic": 3, "lambda_gp": 5.0, "lambda_adv": 1.0,
                  "lambda_l1": 50.0, "lambda_hint": 10.0, "lambda_ms": 0.1, "lambda_l2": 100.0, "lambda_r1": 10.0,
                  "lambda_fm": 10.0, "num_scales": 3, "lambda_cycle": 10.0, "lambda_identity": 5.0, "pool_size": 50,
                  "log_every": 1, "sample_every": 1000, "checkpoint_every": 1000, "max_minutes": None, "xla": False,
                  "mixed_precision": False, "strategy": "default", "eager": False, "nan_retries": 3},
        "data": {"data": None, "data_a": None, "data_b": None, "page_scale": 4.0, "exclude": None, "size": 32,
                 "batch_size": 4, "num_images": 32, "cache": False, "drop_gray": 0.0, "crop_scale": 1.125,
                 "flip": True, "max_pixels": 64000000},
        "model": {"depth": 2, "filters": 8, "norm": "batch", "z_dim": 4, "resnet_blocks": 6, "input": "gray",
                  "hints": "none"},
    }


@pytest.fixture
def no_export(monkeypatch):
    """training.fit() without writing the exported model and the loss curves (slow, and tested
    elsewhere): the checkpoints hold every weight, so runs are compared through them."""
    from pathlib import Path

    from anime_colorize import training

    def skipped(generator, folder):
        return Path(folder) / training.export.KERAS_NAME, Path(folder) / training.export.SAVED_MODEL_NAME

    monkeypatch.setattr(training.export, "export_generator", skipped)
    monkeypatch.setattr(training, "plot_loss_curves", lambda metrics_path, png_path: None)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """Tiny untrained exported generators, made once per session and shared: ``tiny_model(
    input_kind="lineart", hints=True)`` -> the path of a .keras file (32 px, 8 filters, z_dim
    4; ``hints``: every hint kind, else none). Colouring's plumbing needs no training."""
    made = {}

    def make(input_kind: str = "lineart", hints: bool = True):
        if (input_kind, hints) not in made:
            import keras

            from anime_colorize.config import HINT_KINDS
            from anime_colorize.export import save_keras
            from anime_colorize.models import UNetGenerator

            keras.utils.set_random_seed(0)  # some random initial weights put most colours out of gamut
            root = tmp_path_factory.mktemp(f"tiny_{input_kind}_{'hints' if hints else 'plain'}")
            made[input_kind, hints] = save_keras(
                UNetGenerator(z_dim=4, depth=2, filters=8, working_size=32, input_kind=input_kind,
                              hint_kinds=HINT_KINDS if hints else ()), root / "generator.keras")
        return made[input_kind, hints]

    return make
