"""Layered output of a flat colouring: flat, shade and lines layers, PNG files and a PSD.

The stack, bottom to top, as a paint program shows it:

* ``flat``  sRGB (H, W, 3): one colour per region (:func:`anime_colorize.regions.flats.paint`
  of the flats, converted to RGB by the caller), blend mode Normal;
* ``shade`` gray (H, W) in [0, 1], blend mode **Multiply**: 1 = unchanged, darker = shadow.
  :func:`shade_from_lightness` makes it from the line-art network's lightness relative to
  its region (:func:`anime_colorize.regions.flats.relative_lightness`); it only darkens, so
  pixels lighter than their region's median keep the flat colour;
* ``lines`` black ink on transparent (RGBA, alpha = 1 - lines), blend mode Normal, which
  is the same as multiplying the flat by the drawing's gray.

:meth:`Layers.composite` is exactly that stack: ``flat * shade * lines``. Files:
:func:`write_layer_pngs` writes ``<stem>_flat.png``, ``<stem>_shade.png`` and
``<stem>_lines.png`` (RGBA; :func:`layer_png` gives one file's bytes); :func:`write_psd` (or
:func:`psd_bytes`) a layered Photoshop file of plain 8-bit RGB pixel layers with those names,
blend modes and full-canvas sizes, made with psd-tools (Krita, GIMP and Photoshop open it); :func:`label_picture` / :func:`write_label_png` a colour-coded
label map for inspection. Every write is atomic (``data.io.write_bytes_atomic``).
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from anime_colorize import color
from anime_colorize.array_types import PathLike
from anime_colorize.data.io import encode_image, write_bytes_atomic, write_image
from anime_colorize.regions.segmentation import Regions

log = logging.getLogger(__name__)

LAYER_NAMES = ("flat", "shade", "lines")  # bottom to top, as in the PSD and the PNG suffixes
# Seed of the inspection palette: the same region id always gets the same colour.
_PALETTE_SEED = 12


def _unit_array(arr, name: str, channels: int | None) -> np.ndarray:
    a = np.asarray(arr)
    ok_shape = a.ndim == 2 if channels is None else (a.ndim == 3 and a.shape[2] == channels)
    if not ok_shape or a.size == 0:
        want = "(H, W)" if channels is None else f"(H, W, {channels})"
        raise ValueError(f"{name} must have shape {want}, got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float32) / np.float32(255.0)
    if not np.issubdtype(a.dtype, np.floating) or not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite floats in [0, 1] or uint8, got dtype {a.dtype}")
    return np.clip(a.astype(np.float32), 0.0, 1.0)


@dataclass(frozen=True, eq=False)
class Layers:
    """The layers of one colouring (float32, values in [0, 1]; see the module docstring).

    flat   (H, W, 3) sRGB.
    shade  (H, W) multiply factor, or None (no shading layer).
    lines  (H, W) the drawing, 1 = paper, 0 = ink, or None (no lines layer).
    hidden names of layers that are kept but switched off: left out of the composite, and
           invisible in the PSD (e.g. an optional shading layer the user may turn on).
    uint8 arrays are accepted and scaled by 1/255; floats are clipped to [0, 1].
    """

    flat: np.ndarray
    shade: np.ndarray | None = None
    lines: np.ndarray | None = None
    hidden: tuple = ()

    def __post_init__(self):
        unknown = set(self.hidden) - set(LAYER_NAMES)
        if unknown:
            raise ValueError(f"hidden layers must be among {LAYER_NAMES}, got {sorted(unknown)}")
        object.__setattr__(self, "hidden", tuple(self.hidden))
        flat = _unit_array(self.flat, "flat", 3)
        object.__setattr__(self, "flat", flat)
        for name in ("shade", "lines"):
            value = getattr(self, name)
            if value is not None:
                value = _unit_array(value, name, None)
                if value.shape != flat.shape[:2]:
                    raise ValueError(f"{name} has shape {value.shape}, the flat layer "
                                     f"{flat.shape[:2]}")
                object.__setattr__(self, name, value)

    @property
    def shape(self) -> tuple[int, int]:
        return self.flat.shape[:2]

    def composite(self) -> np.ndarray:
        """The flattened picture, float32 (H, W, 3) in [0, 1]: ``flat * shade * lines``, the
        hidden layers left out."""
        out = self.flat.copy()
        for name in ("shade", "lines"):
            factor = getattr(self, name)
            if factor is not None and name not in self.hidden:
                out *= factor[:, :, None]
        return out


def shade_from_lightness(flat_l: np.ndarray, delta_l: np.ndarray) -> np.ndarray:
    """A Multiply layer from a lightness offset: float32 (H, W) in [0, 1].

    ``flat_l``: the flat's CIE L (H, W) in [0, 100] (the Lab flats' L, painted);
    ``delta_l``: L to add (H, W), e.g. :func:`~anime_colorize.regions.flats.relative_lightness`
    of the network's L. The factor is ``gray(L + delta) / gray(L)`` with ``gray`` the sRGB
    gray of a lightness (``color.lab_to_rgb_np``), so a gray flat multiplied by it has
    exactly the lightness ``L + delta``, and a coloured flat about that (Multiply acts on
    the encoded sRGB values). Clipped to 1: the layer only darkens.
    """
    flat_l = np.asarray(flat_l, np.float32)
    delta_l = np.asarray(delta_l, np.float32)
    if flat_l.ndim != 2 or flat_l.shape != delta_l.shape:
        raise ValueError(f"flat_l and delta_l must both have shape (H, W), got {flat_l.shape} "
                         f"and {delta_l.shape}")
    base = color.lightness_to_gray_np(flat_l)
    factor = color.lightness_to_gray_np(flat_l + delta_l) / np.maximum(base, 1e-6)
    return np.clip(np.where(base > 1e-6, factor, 1.0), 0.0, 1.0).astype(np.float32)


def _to_u8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def lines_rgba(lines: np.ndarray) -> np.ndarray:
    """The lines layer: uint8 (H, W, 4), black with alpha = 1 - lines (ink opaque, paper clear)."""
    lines = _unit_array(lines, "lines", None)
    rgba = np.zeros(lines.shape + (4,), np.uint8)
    rgba[:, :, 3] = _to_u8(1.0 - lines)
    return rgba


def layer_png(layers: Layers, name: str) -> bytes:
    """The PNG file of one layer: "flat" (RGB), "shade" (gray, for Multiply) or "lines" (RGBA,
    ink on transparent). Raises ValueError for a layer the stack does not have."""
    value = getattr(layers, name, None) if name in LAYER_NAMES else None
    if value is None:
        raise ValueError(f"no {name!r} layer in this stack")
    if name != "lines":
        return encode_image(value, ".png")
    ok, buf = cv2.imencode(".png", cv2.cvtColor(lines_rgba(value), cv2.COLOR_RGBA2BGRA))
    if not ok:
        raise ValueError("OpenCV could not encode the lines layer as PNG")
    return buf.tobytes()


def write_layer_pngs(layers: Layers, stem: PathLike) -> dict[str, Path]:
    """Writes ``<stem>_flat.png`` (RGB), ``<stem>_shade.png`` (gray, for Multiply) and
    ``<stem>_lines.png`` (RGBA, ink on transparent); shade and lines only when the layers
    have them (:func:`layer_png`). ``stem``: a path without suffix (parent folders are
    created). Returns {layer name: path written}. The composite is the caller's
    (``layers.composite()``).
    """
    stem = Path(stem)
    paths = {}
    for name in LAYER_NAMES:
        if getattr(layers, name) is None:
            continue
        path = stem.with_name(f"{stem.name}_{name}.png")
        write_bytes_atomic(path, layer_png(layers, name))
        paths[name] = path
    return paths


def write_psd(layers: Layers, path: PathLike) -> Path:
    """Writes :func:`psd_bytes` of ``layers`` to ``path`` atomically. Returns ``path``."""
    path = Path(path)
    write_bytes_atomic(path, psd_bytes(layers))
    return path


def psd_bytes(layers: Layers) -> bytes:
    """A layered Photoshop file: 8-bit RGB, canvas (W, H), pixel layers "flat" (Normal),
    "shade" (Multiply, as a gray RGB layer) and "lines" (Normal, black ink with
    transparency), bottom to top, each the full canvas size, the ``hidden`` ones switched
    off; its merged preview is the composite. Made with psd-tools (a dependency of the
    package), which Krita, GIMP and Photoshop read.
    """
    from PIL import Image
    from psd_tools import PSDImage
    from psd_tools.constants import BlendMode

    h, w = layers.shape
    psd = PSDImage.new("RGB", (w, h), color=(255, 255, 255))
    made = [psd.create_pixel_layer(Image.fromarray(_to_u8(layers.flat), "RGB"), name="flat")]
    if layers.shade is not None:
        gray = np.repeat(_to_u8(layers.shade)[:, :, None], 3, axis=2)
        made.append(psd.create_pixel_layer(Image.fromarray(gray, "RGB"), name="shade",
                                           blend_mode=BlendMode.MULTIPLY))
    if layers.lines is not None:
        made.append(psd.create_pixel_layer(Image.fromarray(lines_rgba(layers.lines), "RGBA"), name="lines"))
    for layer in made:
        if layer.name in layers.hidden:
            layer.visible = False
    buf = io.BytesIO()
    psd.save(buf)
    return buf.getvalue()


def label_picture(regions: Regions, show_lines: bool = True) -> np.ndarray:
    """A colour-coded label map for inspection: uint8 (H, W, 3), one colour per region id
    (a fixed pseudo-random palette: the same id always gets the same colour), times the
    drawing's gray when ``show_lines``."""
    palette = np.random.default_rng(_PALETTE_SEED).uniform(0.25, 1.0, (regions.count, 3))
    out = palette.astype(np.float32)[regions.labels]
    if show_lines:
        out *= regions.lines[:, :, None]
    return _to_u8(out)


# encode_label_map: region ids in 23 bits of an RGB pixel, the ink flag in the 24th.
MAX_ENCODED_REGIONS = 1 << 23


def encode_label_map(regions: Regions) -> np.ndarray:
    """The label map as lossless RGB for a program to read back (the colouring page's fill
    brush): uint8 (H, W, 3) with ``id = R + 256 G + 65536 (B & 127)`` and ``B & 128`` set on
    ink pixels. Raises ValueError beyond :data:`MAX_ENCODED_REGIONS` regions."""
    if regions.count > MAX_ENCODED_REGIONS:
        raise ValueError(f"{regions.count:,} regions: more than the {MAX_ENCODED_REGIONS:,} a label map PNG holds")
    ids = regions.labels.astype(np.uint32) | (regions.ink.astype(np.uint32) << 23)
    out = np.empty(regions.shape + (3,), np.uint8)
    for channel in range(3):
        out[..., channel] = (ids >> (8 * channel)) & 255
    return out


def write_label_png(regions: Regions, path: PathLike, show_lines: bool = True) -> Path:
    """Writes :func:`label_picture` to ``path`` (png) atomically. Returns ``path``."""
    path = Path(path)
    write_image(path, label_picture(regions, show_lines))
    return path
