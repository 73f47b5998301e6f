"""The model that ships with the package, so ``colorize``, ``sample`` and ``app`` work straight
after the install (``--model`` omitted).

It is a small line-art model that takes every hint kind (points, strokes, a blurred colouring,
a histogram, a reference picture), trained only on the built-in procedural pictures
(:mod:`anime_colorize.data.synthetic`), so it carries no third-party art. What it was trained
on, with which command and for how long, is in ``TRAINING.md`` next to it;
``experiments/bundled_model.sh`` trains it again.
"""
from __future__ import annotations

from pathlib import Path

BUNDLED_DIR = Path(__file__).resolve().parent
BUNDLED_MODEL = BUNDLED_DIR / "lineart_hints.keras"
BUNDLED_NAME = "the bundled line-art model"


def bundled_model_path() -> Path:
    """The bundled ``.keras`` file. Raises FileNotFoundError (a message for the user) when the
    package was installed without it."""
    if not BUNDLED_MODEL.is_file():
        raise FileNotFoundError(f"no --model given, and {BUNDLED_NAME} is missing from this install "
                                f"({BUNDLED_MODEL}): give --model, or reinstall the package")
    return BUNDLED_MODEL
