"""The device line every command that runs a model prints once."""
import logging

import numpy as np

from anime_colorize import cli_common, colorize
from anime_colorize.data.io import write_image


class FakeGPU:
    name, device_type = "/physical_device:GPU:0", "GPU"


def test_the_device_line_names_the_cpu_or_the_gpu_and_the_precision(monkeypatch):
    import tensorflow as tf

    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    assert cli_common.describe_device(False).startswith("CPU (")
    assert cli_common.describe_device(False).endswith(", float32")
    assert cli_common.describe_device(True).endswith("mixed precision (bfloat16 compute, float32 weights)")

    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [FakeGPU()] if kind == "GPU" else [])
    monkeypatch.setattr(tf.config.experimental, "get_device_details", lambda gpu: {"device_name": "NVIDIA H200"})
    assert cli_common.describe_device(False) == "GPU 0: NVIDIA H200, float32"
    assert cli_common.describe_device(True) == "GPU 0: NVIDIA H200, mixed precision (float16 compute, float32 weights)"


def test_the_device_is_said_once(monkeypatch, caplog):
    monkeypatch.setattr(cli_common, "_device_logged", False)
    with caplog.at_level(logging.INFO, logger="anime_colorize"):
        cli_common.log_device(False)
        cli_common.log_device(False)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("device: ")]
    assert lines == [f"device: {cli_common.describe_device(False)}"]


def test_a_command_says_its_device_once(tmp_path, capsys, monkeypatch):
    from anime_colorize.export import save_keras
    from anime_colorize.models import UNetGenerator

    model = save_keras(UNetGenerator(z_dim=4, depth=2, filters=8, working_size=32), tmp_path / "gray.keras")
    for k in range(3):  # three inputs, two of one size: several network calls, one line
        write_image(tmp_path / "in" / f"p{k}.png", np.full((20 + 8 * (k // 2), 28, 3), 0.5, np.float32))
    monkeypatch.setattr(cli_common, "_device_logged", False)
    code = colorize.main(["--model", str(model), "--input", str(tmp_path / "in"), "--out", str(tmp_path / "o"),
                          "--batch-size", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert [line for line in err.splitlines() if line.startswith("device: ")] == [
        f"device: {cli_common.describe_device(False)}"]
