"""Colour hints given by the user at inference: hint files, the page's layers, a reference.

Every way in (``colorize --hints / --hints-dir / --reference``, the page's stroke layer,
points and reference picture) ends in :func:`hints_from_layers`, so a file and an upload
of the same strokes give the same hints. The result is one hints dict with B = 1 at the
input's full size (see :mod:`anime_colorize.data.hints` for the convention), or None.

Hint file kinds are the table :data:`HINT_FILE_KINDS`: a kind is its file suffixes and a
reader; the order of the table is the drawing order (points over strokes). Adding a kind of
hint file is one entry there.

Limits, so one hostile file cannot take the machine: a points file is at most
:data:`MAX_JSON_BYTES` bytes, nested at most :data:`MAX_JSON_DEPTH` deep (checked before
parsing: Python's parser would recurse), with at most ``data.hints.MAX_POINTS`` points; a
stroke picture's size and pixel count are read from its header before it is decoded.
Problems raise :class:`HintFileError` naming the file; notes (points outside the picture)
go to a ``notes`` list as text naming the file.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from anime_colorize.array_types import PathLike
from anime_colorize.data import hints as hints_lib
from anime_colorize.data.io import DEFAULT_MAX_PIXELS, ImageReadError, ImageSizeError, read_image, read_rgba

if TYPE_CHECKING:
    import tensorflow as tf

    from anime_colorize.export.loading import LoadedGenerator

log = logging.getLogger(__name__)

MAX_JSON_BYTES = 8 * 2**20
MAX_JSON_DEPTH = 32  # a points file needs 4: {"points": [{"rgb": [...]}]}
_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


class HintFileError(ValueError):
    """A hint file (or uploaded hint layer) that cannot be used; the message names it."""


def parse_json(data: bytes, what: str) -> object:
    """JSON bytes -> Python data, refusing more than MAX_JSON_BYTES or nesting deeper than
    MAX_JSON_DEPTH before the parser sees them. Raises HintFileError naming ``what``."""
    if len(data) > MAX_JSON_BYTES:
        # the file is read only that far, so its real size is not known here
        raise HintFileError(f"{what}: larger than the {MAX_JSON_BYTES:,} bytes a hint file may have")
    depth = 0
    for token in _JSON_TOKENS.finditer(data):
        bracket = token.group()
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise HintFileError(f"{what}: nested more than {MAX_JSON_DEPTH} levels deep; not a points file")
        elif bracket in (b"]", b"}"):
            depth -= 1
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise HintFileError(f"{what}: not valid JSON ({e})") from None


def points_to_hints(data: object, height: int, width: int, what: str, notes: list | None = None) -> dict:
    """Points data ``{"points": [...]}`` -> hints (B = 1) at (height, width); a point outside
    the picture is clipped to its border and noted in ``notes`` as ``"<what>: ..."``."""
    def note(message: str) -> None:
        (notes if notes is not None else []).append(f"{what}: {message}")

    try:
        return hints_lib.hints_from_points_json(data, height, width, warn=note)
    except ValueError as e:
        raise HintFileError(f"{what}: {e}") from None


def strokes_to_hints(rgba: np.ndarray, blur: bool, what: str) -> dict:
    """A stroke layer, uint8 or float RGBA (H, W, 4), -> hints (B = 1). ``blur``: the layer is
    a rough colouring for a model trained with blurred hints only (faded and blurred as in
    training). A layer without any transparent pixel is refused: it is a picture, not strokes."""
    from anime_colorize.sampling import row_bands

    opaque = 255 if rgba.dtype == np.uint8 else 1.0
    if rgba[..., 3].min() >= opaque:
        raise HintFileError(f"{what}: the stroke image has no transparent pixels; draw strokes on a "
                            "transparent layer (RGBA PNG)")
    if blur:  # one blur over the whole colouring
        return hints_lib.hints_from_colouring_png(rgba)
    height, width = rgba.shape[:2]  # strokes are per pixel: by bands of rows, for memory
    hints = {"hint_ab": np.zeros((1, height, width, 2), np.float32),
             "hint_mask": np.zeros((1, height, width, 1), np.float32),
             "hint_hist": np.zeros((1, hints_lib.HIST_SIZE), np.float32),
             "hint_l": np.zeros((1, height, width, 1), np.float32)}
    for top, bottom in row_bands(height, width):
        band = hints_lib.hints_from_stroke_png(rgba[top:bottom])
        for key in ("hint_ab", "hint_mask", "hint_l"):
            hints[key][:, top:bottom] = band[key]
    return hints


def merge_hints(first: dict | None, second: dict | None) -> dict | None:
    """Spatial hints of ``second`` drawn over ``first`` (where its mask is set), the hinted
    colour's lightness (hint_l) with them where both carry it; hint_hist from whichever has one."""
    import tensorflow as tf

    if first is None or second is None:
        return first or second
    mask = second["hint_mask"]
    merged = {"hint_ab": tf.where(mask > 0, second["hint_ab"], first["hint_ab"]),
              "hint_mask": tf.maximum(first["hint_mask"], mask)}
    if "hint_l" in first and "hint_l" in second:
        merged["hint_l"] = tf.where(mask > 0, second["hint_l"], first["hint_l"])
    hist = second.get("hint_hist")
    if hist is None or not bool(tf.reduce_any(hist > 0)):
        hist = first.get("hint_hist")
    if hist is not None:
        merged["hint_hist"] = hist
    return merged


def hints_from_layers(layers: list, reference_hist: np.ndarray | tf.Tensor | None = None) -> dict | None:
    """Hints made from ``layers`` (each a hints dict or None), drawn in order (later over
    earlier), with ``reference_hist`` (1, 512) as hint_hist when given; None if nothing."""
    hints = None
    for layer in layers:
        hints = merge_hints(hints, layer)
    if reference_hist is not None:
        hints = dict(hints or {}, hint_hist=reference_hist)
    return hints


def blurred_hints_only(generator: LoadedGenerator) -> bool:
    """True for a model trained with blurred colour hints and no exact ones: its stroke
    images are faded and blurred as in training."""
    kinds = set(generator.hint_kinds)
    return "blur" in kinds and not kinds & {"points", "scribble"}


# ------------------------------------------------------------------------ hint files

@dataclass(frozen=True)
class HintFileKind:
    """A kind of hint file: its suffixes (lower case) and ``read(path, height, width, blur,
    max_pixels, notes) -> hints``."""

    name: str
    suffixes: tuple
    read: Callable[..., dict]


def _read_strokes(path: Path, height: int, width: int, blur: bool, max_pixels: int, notes: list) -> dict:
    try:
        rgba = read_rgba(path, max_pixels=max_pixels, size=(width, height))
    except ImageSizeError as e:
        raise HintFileError(f"{path}: the stroke image is {e.size[0]}x{e.size[1]}, the input {width}x{height}; "
                            "hint images must be the input's size") from None
    except ImageReadError as e:
        raise HintFileError(f"{path}: {e.reason}") from None
    return strokes_to_hints(rgba, blur, str(path))


def _read_points(path: Path, height: int, width: int, blur: bool, max_pixels: int, notes: list) -> dict:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_JSON_BYTES + 1)
    except OSError as e:
        raise HintFileError(f"{path}: cannot be read ({e.strerror or e})") from None
    return points_to_hints(parse_json(data, str(path)), height, width, str(path), notes)


# Drawing order: strokes first, points over them.
HINT_FILE_KINDS = (
    HintFileKind("strokes", (".png", ".webp"), _read_strokes),
    HintFileKind("points", (".json",), _read_points),
)


def hint_suffixes() -> tuple:
    return tuple(s for kind in HINT_FILE_KINDS for s in kind.suffixes)


def load_hint_file(path: PathLike, height: int, width: int, blur: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS,
                   notes: list | None = None) -> dict:
    """A user hint file for an input of (height, width) -> hints with B = 1; its kind comes
    from its suffix (:data:`HINT_FILE_KINDS`). Raises HintFileError naming the file."""
    path = Path(path)
    for kind in HINT_FILE_KINDS:
        if path.suffix.lower() in kind.suffixes:
            return kind.read(path, height, width, blur, max_pixels, notes if notes is not None else [])
    raise HintFileError(f"{path}: hint files are {', '.join(hint_suffixes())} "
                        f"({', '.join(kind.name for kind in HINT_FILE_KINDS)})")


def reference_histogram(path: PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> tf.Tensor:
    """A reference picture's file -> its colour histogram float32 tensor (1, 512), the hint_hist of a
    reference-guided colouring; the pixel count is checked before decoding. Raises
    ImageReadError naming the file."""
    return histogram_of(read_image(Path(path), max_pixels=max_pixels))


def histogram_of(rgb: np.ndarray) -> tf.Tensor:
    """:func:`anime_colorize.data.hints.reference_histogram` of float RGB (H, W, 3), counted by
    bands of rows, so a big reference takes little memory beyond itself: a float32 tensor
    (1, 512)."""
    import tensorflow as tf

    from anime_colorize.sampling import row_bands

    rgb = np.asarray(rgb)
    counts = tf.zeros([1, hints_lib.HIST_SIZE])
    for top, bottom in row_bands(*rgb.shape[:2]):
        band = rgb[top:bottom]
        counts += hints_lib.reference_histogram(band) * float(band.shape[0] * band.shape[1])
    return counts / float(max(rgb.shape[0] * rgb.shape[1], 1))


@dataclass(frozen=True)
class HintSources:
    """Where the hints of each input come from: one file for a single input, a folder of
    ``<stem>.<suffix>`` files, and a reference histogram for every input."""

    hints_file: Path | None = None
    hints_dir: Path | None = None
    reference_hist: np.ndarray | tf.Tensor | None = None
    blur: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS

    def files_for(self, path: Path) -> list:
        """The hint files of input ``path``, in drawing order."""
        found = [self.hints_file] if self.hints_file else []
        if self.hints_dir:
            found += [self.hints_dir / f"{path.stem}{suffix}" for suffix in hint_suffixes()]
            found = [p for p in found if p.exists()]
            if not found:
                log.info("%s: no hint file in %s", path.name, self.hints_dir)
        order = {s: i for i, s in enumerate(hint_suffixes())}
        return sorted(found, key=lambda p: order.get(p.suffix.lower(), -1))

    def for_input(self, path: Path, height: int, width: int, notes: list | None = None) -> dict | None:
        """The hints of one input of (height, width): its hint file(s) and the reference
        histogram, or None. Raises HintFileError naming a bad file."""
        layers = [load_hint_file(p, height, width, self.blur, self.max_pixels, notes)
                  for p in self.files_for(Path(path))]
        return hints_from_layers(layers, self.reference_hist)
