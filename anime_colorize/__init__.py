"""anime_colorize: colorize anime and manga in Lab space with noise-conditioned U-Nets.

The package import is light on purpose: TensorFlow is imported by the modules that need it,
so the command-line tools can silence its start-up logging first.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from anime_colorize.array_types import PathLike

if TYPE_CHECKING:
    import keras

__version__ = "0.1.0"


def load_generator(path: PathLike, safe_mode: bool = True) -> keras.Model:
    """Loads an exported generator (``.keras`` file or SavedModel folder); see
    :func:`anime_colorize.export.load_generator`."""
    from anime_colorize.export import load_generator as _load

    return _load(path, safe_mode=safe_mode)
