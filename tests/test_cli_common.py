"""cli_common: importing it changes nothing; quiet_tensorflow() keeps TensorFlow's start-up quiet."""
import json
import os
import subprocess
import sys
import textwrap


def test_importing_cli_common_has_no_side_effects_and_quiet_tensorflow_silences_the_start_up():
    code = textwrap.dedent("""
        import json, os, sys
        from anime_colorize import cli_common
        seen = {"tensorflow": "tensorflow" in sys.modules, "absl": "absl" in sys.modules,
                "env": "TF_CPP_MIN_LOG_LEVEL" in os.environ}
        cli_common.quiet_tensorflow()
        import tensorflow as tf
        float(tf.reduce_sum(tf.ones((2, 2))))  # a first op: where a missing GPU driver is reported
        cli_common.quiet_tensorflow()  # again: harmless
        print(json.dumps(seen))
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"tensorflow": False, "absl": False, "env": False}
    assert result.stderr == ""  # without the call: oneDNN, CUDA and absl start-up lines
