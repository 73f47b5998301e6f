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

The modes: ``smooth`` (the network's colour, smoothly upsampled, under the input's lines and
lightness) and ``flat`` (:class:`FlatMode`: one colour per region between the lines, from the
user's hint in it or the prediction pooled over it, :mod:`anime_colorize.regions`). Without
``--mode`` a model gets :func:`default_mode_name` of its input kind: flat for line art, smooth
for gray pictures.
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
# The mode a model of each input kind gets when none is asked for: line art is coloured as
# flats; a gray picture's own lightness already shades its colour, and flats measured no
# better there (see FlatMode), so it stays smooth.
DEFAULT_MODES = {"lineart": "flat", "gray": "smooth"}


def default_mode_name(input_kind: str) -> str:
    """The output mode of a model of ``input_kind`` ("gray" / "lineart") when none is asked for."""
    return DEFAULT_MODES.get(input_kind, DEFAULT_MODE)


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
    def add_flags(cls, parser, writes_files: bool = True) -> None:
        """Adds this mode's own flags (none by default) to a command's parser (or argument
        group); ``writes_files``: the command writes files (not the page), so flags that ask
        for extra files belong there."""

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "OutputMode":
        """The mode set up from a command's parsed flags."""
        return cls()

    @classmethod
    def flags_given(cls, args: argparse.Namespace) -> list:
        """This mode's own flags that ``args`` sets away from their defaults (each as
        ``--name``): :func:`make_mode` refuses them with another mode."""
        return []

    def tails(self) -> tuple:
        """The tails of the extra files :meth:`render` may return (none by default)."""
        return ()

    def render_cost(self):
        """What :meth:`begin` and one :meth:`render` (with its extra files) take in memory
        (:class:`anime_colorize.inference.memory.RenderCost`; the page reserves it from its
        budget before the work starts). Default: a smooth colouring's."""
        from anime_colorize.inference.memory import RenderCost

        return RenderCost()

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
    """The mode called ``name``, with its settings from ``args`` (or its defaults). Raises
    ValueError for an unknown name, or for another mode's flags given in ``args``."""
    if name not in MODES:
        raise ValueError(f"unknown output mode {name!r}; known: {', '.join(MODES)}")
    if args is None:
        return MODES[name]()
    for other, cls in MODES.items():
        given = cls.flags_given(args) if other != name else []
        if given:
            raise ValueError(f"{', '.join(given)} {'work' if len(given) > 1 else 'works'} with --mode {other}, "
                             f"not with --mode {name}")
    return MODES[name].from_args(args)


@register_mode
class SmoothMode(OutputMode):
    """The network's colour, smoothly upsampled, under the input's own lines and lightness."""

    name = "smooth"
    help = "the predicted colour, smoothly upsampled, joined with the input's lightness (gray models) or under its lines (line art)"

    def render(self, page: Page, colors: sampling.PredictedColors, state) -> dict:
        from anime_colorize import sampling  # TensorFlow: not needed to list the modes

        return {PICTURE: sampling.to_rgb(page.model_input, colors)}


@register_mode
class FlatMode(OutputMode):
    """Flats: one colour per region between the lines, as a colourist flats a drawing.

    ``begin`` cuts the input into regions once (:func:`anime_colorize.regions.segment_lines`
    of a line drawing; :func:`~anime_colorize.regions.segment` of a gray picture's own
    lightness) and reads the hints' colours; ``render`` pools each z's full-resolution
    prediction into flats (:func:`anime_colorize.regions.flat_colouring`: a hinted region takes
    its hint, as chosen, L included where the hint carries it), so the K colourings are K
    per-region variants. Line-art models get Lab flats under the drawing (``shading``: the
    network's lightness relative to its region's median is multiplied in); gray models get ab
    flats joined with the picture's own lightness.

    Settings: ``shading``; ``unhinted`` ("prediction" or "paper": what regions without a hint
    get); ``gap`` (the widest gap in a line, px, that still closes its region; None: by the
    picture's size); extra files: ``layers`` (``_flat.png``, ``_shade.png``, ``_lines.png``),
    ``psd`` (``.psd`` with those layers) and ``regions_out`` (``_regions.png``, the label map
    colour-coded, written with the first colouring of each input).

    Colours from keys (:meth:`with_keys`, ``colorize --reference KEY|DIR``, ``--propagate``;
    :mod:`anime_colorize.regions.matching`): ``begin`` also matches the input's regions to
    the keys, and matched regions take the key's colours and shading unless a hint is in them;
    the network colours the rest. With ``propagate`` the first colouring of each input
    becomes a key for the inputs after it (inputs are begun in order).
    """

    name = "flat"
    help = ("one colour per region between the lines: the hint in it, else the prediction pooled over it "
            "(see --shading, --layers, --psd, --regions-out)")
    LAYER_TAILS = ("_flat.png", "_shade.png", "_lines.png")
    PSD_TAIL = ".psd"
    REGIONS_TAIL = "_regions.png"

    def __init__(self, shading: bool = False, unhinted: str = "prediction", gap: int | None = None,
                 layers: bool = False, psd: bool = False, regions_out: bool = False):
        from anime_colorize.regions.colouring import UNHINTED

        if unhinted not in UNHINTED:
            raise ValueError(f"--unhinted must be one of {', '.join(UNHINTED)}, got {unhinted!r}")
        if gap is not None and gap < 0:
            raise ValueError(f"--gap must be 0 or more pixels, got {gap}")
        self.shading, self.unhinted, self.gap = bool(shading), unhinted, gap
        self.layers, self.psd, self.regions_out = bool(layers), bool(psd), bool(regions_out)
        self.keys, self.chain = (), None

    def with_keys(self, keys=(), propagate: bool = False) -> "FlatMode":
        """This mode colouring from coloured keys (:class:`anime_colorize.regions.matching.Key`,
        e.g. from ``matching.load_keys``): each input's regions are matched to them. With
        ``propagate``, each input's colouring is a key for the inputs after it (the last few,
        :class:`~anime_colorize.regions.matching.KeyChain`); ``keys`` may then be empty."""
        from anime_colorize.regions.matching import KeyChain

        keyed = FlatMode(self.shading, self.unhinted, self.gap, self.layers, self.psd, self.regions_out)
        keyed.keys = tuple(keys)
        keyed.chain = KeyChain(keys) if propagate else None
        return keyed

    def current_keys(self) -> list:
        """The keys the next input is matched to."""
        return self.chain.keys if self.chain is not None else list(self.keys)

    @classmethod
    def add_flags(cls, parser, writes_files: bool = True) -> None:
        parser.add_argument("--shading", action="store_true",
                            help="flat mode, line-art models: multiply in the shading the network draws (its "
                                 "lightness relative to each region's); the layers and PSD always hold it")
        parser.add_argument("--unhinted", choices=("prediction", "paper"), default="prediction",
                            help="flat mode: what a region without a hint gets: the network's colour pooled over "
                                 "it, or white paper (default: %(default)s)")
        parser.add_argument("--gap", type=int, default=None,
                            help="flat mode: the widest gap in a line, in pixels, that still closes its region "
                                 "(default: by the picture's size: 2 px at 64 px, 3 at 128, 6 on a 2000 px page)")
        if writes_files:
            parser.add_argument("--layers", action="store_true",
                                help="flat mode: also write <name>_flat.png, <name>_shade.png (for Multiply) and "
                                     "<name>_lines.png (ink on transparent) beside each colouring")
            parser.add_argument("--psd", action="store_true",
                                help="flat mode: also write <name>.psd with the layers flat, shade (Multiply) and "
                                     "lines, for Krita, GIMP or Photoshop")
            parser.add_argument("--regions-out", action="store_true",
                                help="flat mode: also write <name>_regions.png, the regions colour-coded, beside "
                                     "the first colouring of each input")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "FlatMode":
        return cls(**{key: getattr(args, key) for key in ("shading", "unhinted", "gap", "layers", "psd",
                                                          "regions_out") if hasattr(args, key)})

    @classmethod
    def flags_given(cls, args: argparse.Namespace) -> list:
        defaults = {"shading": False, "unhinted": "prediction", "gap": None, "layers": False, "psd": False,
                    "regions_out": False}
        return ["--" + key.replace("_", "-") for key, default in defaults.items()
                if getattr(args, key, default) != default]

    def with_files(self) -> "FlatMode":
        """This mode with every extra file switched on (the page's downloads)."""
        full = FlatMode(self.shading, self.unhinted, self.gap, layers=True, psd=True, regions_out=True)
        full.keys, full.chain = self.keys, self.chain
        return full

    def tails(self) -> tuple:
        return ((self.LAYER_TAILS if self.layers else ()) + ((self.PSD_TAIL,) if self.psd else ())
                + ((self.REGIONS_TAIL,) if self.regions_out else ()))

    def render_cost(self):
        from anime_colorize.inference import memory

        files = memory.LAYER_FILES_BYTES_PER_PIXEL if self.layers or self.psd or self.regions_out else 0
        per_pixel = max(memory.SEGMENT_BYTES_PER_PIXEL,
                        memory.REGIONS_KEPT_BYTES_PER_PIXEL + memory.FLAT_RENDER_BYTES_PER_PIXEL + files)
        return memory.RenderCost(per_pixel, memory.FLAT_FIXED_BYTES)

    def begin(self, page: Page) -> dict:
        from anime_colorize.data.hints import hint_lab
        from anime_colorize.regions.colouring import input_regions

        hints = hint_lab(page.hints)
        keys = self.current_keys()
        found = input_regions(page.model_input, page.input_kind, self.gap, edges=bool(keys))
        match = None
        if keys:
            from anime_colorize.regions.matching import match_regions

            match = match_regions(found.regions, keys, name=page.name)
        return {"input": found, "match": match,
                "hint_color": None if hints is None else hints[0], "hint_mask": None if hints is None else hints[1],
                "regions_written": False, "chained": False}

    def colouring(self, page: Page, colors: sampling.PredictedColors, state):
        """The :class:`anime_colorize.regions.FlatColouring` of one z (``render`` without files)."""
        from anime_colorize import color
        from anime_colorize.regions import flat_colouring

        found = state["input"]
        lab = color.denormalize_colors_np(colors.full())  # Lab (line art) or ab (gray), in Lab units
        return flat_colouring(found.regions, lab, state["hint_color"], state["hint_mask"], lightness=found.lightness,
                              drawing=found.drawing, shading=self.shading, unhinted=self.unhinted,
                              match=state.get("match"))

    def render(self, page: Page, colors: sampling.PredictedColors, state) -> dict:
        from anime_colorize import regions

        flat = self.colouring(page, colors, state)
        if self.chain is not None and not state["chained"]:  # the first colouring leads the chain
            from anime_colorize import color

            self.chain.add(state["input"].regions, color.rgb_to_lab_np(flat.picture), name=page.name)
            state["chained"] = True
        layers = flat.layers
        out: dict = {PICTURE: flat.picture}
        if self.layers:
            for name, tail in zip(regions.LAYER_NAMES, self.LAYER_TAILS):
                out[tail] = (lambda path, name=name: _write(path, regions.layer_png(layers, name)))
        if self.psd:
            out[self.PSD_TAIL] = lambda path: regions.write_psd(layers, path)
        if self.regions_out and not state["regions_written"]:
            out[self.REGIONS_TAIL] = regions.label_picture(state["input"].regions)
            state["regions_written"] = True
        return out


def _write(path, data: bytes) -> None:
    from anime_colorize.data.io import write_bytes_atomic

    write_bytes_atomic(path, data)
