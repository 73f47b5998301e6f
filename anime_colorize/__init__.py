"""anime_colorize: colorize anime and manga in Lab space with noise-conditioned U-Nets.

The package import is light on purpose: TensorFlow is imported by the modules that need it,
so the command-line tools can silence its start-up logging first.
"""
__version__ = "0.1.0"


def load_generator(path, safe_mode: bool = True):
    """Loads an exported generator (``.keras`` file or SavedModel folder); see
    :func:`anime_colorize.export.load_generator`."""
    from anime_colorize.export import load_generator as _load

    return _load(path, safe_mode=safe_mode)
