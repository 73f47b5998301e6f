"""What every command-line tool does first: quiet TensorFlow, set up logging; and the small
helpers they share (one-line errors, the summary line of --help).

Importing this module does nothing else: it does not import TensorFlow or touch the
environment. Each command's ``main`` calls :func:`quiet_tensorflow` first (a command that
imports TensorFlow at module level calls it right after importing this module), then
:func:`setup_logging`.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys


@contextlib.contextmanager
def _stderr_silenced():
    try:
        saved = os.dup(2)
    except OSError:  # no real fd 2 (some embedded interpreters): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            sys.stderr.flush()
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def quiet_tensorflow() -> None:
    """Keeps TensorFlow's start-up noise out of the terminal; call it before anything imports
    TensorFlow (later, it still quiets absl's Python logging).

    TensorFlow's C++ start-up messages go to file descriptor 2 before Python can filter them,
    so they are silenced by ``TF_CPP_MIN_LOG_LEVEL=3`` (unless the user set it) and by
    pointing fd 2 at /dev/null while TensorFlow and Keras load. Calling it again is harmless.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if "tensorflow" not in sys.modules or "keras" not in sys.modules:
        with _stderr_silenced():
            import tensorflow  # noqa: F401  (loads the C++ runtime quietly)
            import keras  # noqa: F401
    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)


def setup_logging(verbose: bool = False) -> None:
    """Library modules log with `logging`; commands show INFO (or DEBUG) on stderr."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(message)s" if verbose else "%(message)s",
                        force=True)
    for noisy in ("tensorflow", "absl", "h5py", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING if verbose else logging.ERROR)


def summary_line(doc: str) -> str:
    """A command's one-line description from its module docstring, whose first line reads
    ``python -m anime_colorize.X``: what it does."""
    first = doc.strip().splitlines()[0]
    return first.split(": ", 1)[-1].strip()


def describe(error: Exception) -> str:
    """One line for the user: an OSError's own words and file name, without '[Errno N]'."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror + (f": {error.filename}" if error.filename else "")
    return str(error)


def fail(message: str, code: int = 2) -> int:
    """Prints a user-facing error and returns the exit code for main()."""
    print(f"error: {message}", file=sys.stderr)
    return code


def describe_device(mixed_precision: bool) -> str:
    """Where TensorFlow runs a model and in which precision, in one line: the first GPU it
    sees (by name) or the CPU, e.g. ``"GPU 0: NVIDIA H200, mixed precision (float16
    compute, float32 weights)"`` or ``"CPU (Intel Xeon ..., 2 cores), float32"``."""
    import tensorflow as tf

    from anime_colorize.distribute import mixed_precision_policy_name

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = [tf.config.experimental.get_device_details(gpu).get("device_name") or gpu.name for gpu in gpus]
        device = f"GPU 0: {names[0]}" + (f" (of {len(gpus)} GPUs: {', '.join(names)})" if len(gpus) > 1 else "")
    else:
        device = f"CPU ({_cpu_name()}, {os.cpu_count()} cores)"
    if not mixed_precision:
        return f"{device}, float32"
    compute = mixed_precision_policy_name().removeprefix("mixed_")  # the one home of this choice
    return f"{device}, mixed precision ({compute} compute, float32 weights)"


def _cpu_name() -> str:
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # not Linux
        pass
    return platform.processor() or platform.machine() or "unknown"


_device_logged = False


def log_device(mixed_precision: bool) -> None:
    """Says once per process, on the log, where the command runs its model (see
    :func:`describe_device`); later calls do nothing."""
    global _device_logged
    if not _device_logged:
        _device_logged = True
        logging.getLogger("anime_colorize").info("device: %s", describe_device(mixed_precision))
