"""Output modes: what each colouring of an input becomes on disk (or on the page).

The inference path (:mod:`anime_colorize.inference.runner` for files, the page's server for
uploads) hands a mode, for each input:

* once, ``begin(page)`` with the :class:`Page`: the prepared input at full resolution
  (``page.model_input``, (H, W, 1) in [-1, 1]: the lightness, or the drawing with its
  paper whitened), ``page.input_kind`` ("gray" / "lineart") and the hints at full resolution
  (``page.hints``, B = 1, or None). Whatever it returns (e.g. a segmentation into regions)
  comes back as ``state``;
* for each z, ``render(page, colors, state)`` with the network's prediction upsampled to
  full resolution (:class:`anime_colorize.sampling.PredictedColors`: normalised ab, or Lab
  for line-art models; ``colors.full()`` for the whole (H, W, C) array, ``colors.rows(top,
  bottom)`` for bands). It returns ``{PICTURE: float RGB (H, W, 3) in [0, 1]}`` plus any
  extra files as ``{tail: value}`` (tails such as ``"_flat.png"``, ``".psd"``), written beside
  the picture as ``<picture stem><tail>``; a value is an image array (written by
  :func:`anime_colorize.data.io.write_image`), the file's bytes, or a function that writes
  the file atomically given its path (e.g. ``lambda path: regions.write_psd(layers, path)``).
  Every tail it may return is listed by ``tails()``, so existing files are checked before the
  run starts. The page shows the picture only.

Adding a mode is one subclass in this module, decorated with :func:`register_mode`. Its
settings are its constructor's keyword arguments; ``add_flags`` adds them to every command
that has ``--mode`` (and ``from_args`` reads them back), ``--mode`` lists it, and the
commands and the page use it with no other change.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from anime_colorize.inference.outputs import PICTURE

if TYPE_CHECKING:
    from anime_colorize import sampling

DEFAULT_MODE = "smooth"


@dataclass
class Page:
    """One input, prepared at full resolution (see the module docstring)."""

    name: str
    model_input: np.ndarray  # float32 (H, W, 1) in [-1, 1]
    input_kind: str
    hints: dict | None = None
    path: Path | None = None

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.model_input.shape[:2])


class OutputMode:
    """The base of output modes: ``name`` (its ``--mode`` value), ``help`` (one line)."""

    name = ""
    help = ""

    @classmethod
    def add_flags(cls, parser: argparse.ArgumentParser) -> None:
        """Adds this mode's own flags (none by default) to a command's parser."""

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "OutputMode":
        """The mode set up from a command's parsed flags."""
        return cls()

    def tails(self) -> tuple:
        """The tails of the extra files :meth:`render` may return (none by default)."""
        return ()

    def begin(self, page: Page):
        """Work done once per input before its colourings (none by default); the result is
        passed to :meth:`render` as ``state``."""
        return None

    def render(self, page: Page, colors: sampling.PredictedColors, state) -> dict:
        raise NotImplementedError


MODES: dict = {}


def register_mode(cls):
    """Class decorator: makes an OutputMode subclass available as ``--mode <cls.name>``."""
    if not cls.name or cls.name in MODES:
        raise ValueError(f"an output mode needs a new name, got {cls.name!r}")
    MODES[cls.name] = cls
    return cls


def make_mode(name: str = DEFAULT_MODE, args: argparse.Namespace | None = None) -> OutputMode:
    """The mode called ``name``, with its settings from ``args`` (or its defaults)."""
    if name not in MODES:
        raise ValueError(f"unknown output mode {name!r}; known: {', '.join(MODES)}")
    return MODES[name].from_args(args) if args is not None else MODES[name]()


@register_mode
class SmoothMode(OutputMode):
    """The network's colour, smoothly upsampled, under the input's own lines and lightness."""

    name = "smooth"
    help = "the predicted colour, smoothly upsampled, joined with the input's lightness (gray models) or under its lines (line art)"

    def render(self, page: Page, colors: sampling.PredictedColors, state) -> dict:
        from anime_colorize import sampling  # TensorFlow: not needed to list the modes

        return {PICTURE: sampling.to_rgb(page.model_input, colors)}
