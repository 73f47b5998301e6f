"""The device line every command that runs a model prints once."""
import logging

from anime_colorize import cli_common


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
