"""Robust image file reading and writing.

* Pillow opens every file first: ``Image.open`` reads only the header, so the pixel
  count is checked against our ``max_pixels`` BEFORE pixels are decoded (decompression
  bomb guard). Pillow's own bomb warning is silenced; its bomb error becomes ours.
* Pillow decodes the pixels: it handles palettes, tRNS transparency, gray+alpha and
  CMYK, and raises on truncated data (OpenCV silently grey-fills truncated JPEGs).
  Only 16-bit PNGs, which Pillow reduces to 8 bits in colour, are decoded with
  ``cv2.imdecode(np.fromfile(path), IMREAD_UNCHANGED)`` (16 bits, non-ASCII paths).
* EXIF orientation is applied to the decoded array with numpy, for both decoders;
  alpha is composited onto WHITE (the page background of line art).
* Every failure is an ``ImageReadError(path, reason)``. (If other code sets
  ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True``, truncated files are accepted.)
* ``write_image`` encodes in memory with OpenCV, writes a hidden temporary file in the
  target folder and ``os.replace``-s it over the target, so writes are atomic.
"""
from __future__ import annotations

import contextlib
import errno
import logging
import os
import uuid
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")  # matched case-insensitively

_JPEG = [cv2.IMWRITE_JPEG_QUALITY, 95]
# Encoder parameters per extension (OpenCV's WebP default is lossless).
_WRITE_PARAMS = {".png": [cv2.IMWRITE_PNG_COMPRESSION, 3], ".jpg": _JPEG, ".jpeg": _JPEG, ".webp": [], ".bmp": []}
# EXIF orientation (tag 0x0112) -> transform undoing it, as PIL.ImageOps.exif_transpose does.
_ORIENT = {
    2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).swapaxes(0, 1), 8: lambda a: np.rot90(a, 1),
}
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
_GRAY_MODES = ("1", "L", "LA", "La")


class ImageReadError(ValueError):
    """Raised for a file that cannot be used as an image.

    Attributes ``path`` (str) and ``reason`` (str); ``str(err)`` is ``'<path>: <reason>'``.
    """

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def find_images(root) -> list[str]:
    """All image files under ``root`` (a folder, searched recursively, or a single image file).

    Returns a list of str paths (``root`` joined with the relative path), sorted by the
    relative path's components so the order is the same on every machine. Names with an
    extension in ``IMAGE_EXTENSIONS`` (any case) count; hidden files and folders (name
    starting with '.') are skipped. Raises FileNotFoundError if ``root`` does not exist and
    ValueError if it is a non-image file or a folder without any image file.
    """
    root_p = Path(root)
    if not root_p.exists():
        raise FileNotFoundError(errno.ENOENT, "No such file or folder", str(root))
    accepted = ", ".join(IMAGE_EXTENSIONS)
    if not root_p.is_dir():
        if not _is_image_name(root_p.name):
            raise ValueError(f"{root}: not an image file (accepted extensions: {accepted})")
        return [str(root_p)]
    found = []
    for dirpath, dirnames, filenames in os.walk(root_p):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel = Path(dirpath).relative_to(root_p)
        found += [rel / f for f in filenames if not f.startswith(".") and _is_image_name(f)]
    if not found:
        raise ValueError(f"no image files found in folder {root} (accepted extensions, any case: {accepted})")
    found.sort(key=lambda p: p.parts)
    return [str(root_p / p) for p in found]


def _to_float_rgb(arr: np.ndarray, scale: float, bgr: bool = False) -> np.ndarray:
    """uint8/uint16/float array (H,W) or (H,W,1..4) -> float32 (H,W,3) in [0,1], alpha over white."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    x = arr.astype(np.float32) / np.float32(scale)
    np.clip(x, 0.0, 1.0, out=x)
    channels = x.shape[2]
    color = x[:, :, :3] if channels >= 3 else x[:, :, :1]
    if bgr and channels >= 3:
        color = color[:, :, ::-1]
    if channels in (2, 4):
        alpha = x[:, :, -1:]
        color = color * alpha + (1.0 - alpha)
    if color.shape[2] == 1:
        color = np.repeat(color, 3, axis=2)
    return np.ascontiguousarray(color, dtype=np.float32)


def _decode_pillow(im: Image.Image) -> np.ndarray:
    im.load()
    if im.mode.startswith("I;16") or im.mode == "I":
        return _to_float_rgb(np.asarray(im), 65535.0)
    if im.mode == "F":
        return _to_float_rgb(np.asarray(im), 1.0)
    has_alpha = im.mode in _ALPHA_MODES or "transparency" in im.info
    if im.mode in _GRAY_MODES:
        target = "LA" if has_alpha else "L"
    else:
        target = "RGBA" if has_alpha else "RGB"
    if im.mode != target:
        im = im.convert(target)
    return _to_float_rgb(np.asarray(im), 255.0)


def _decode_cv2(path: str) -> np.ndarray:
    arr = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ImageReadError(path, "cannot decode image data; the file may be truncated or corrupt")
    scale = 65535.0 if arr.dtype == np.uint16 else 255.0
    return _to_float_rgb(arr, scale, bgr=True)


def _is_16bit_png(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(26)  # signature (8) + IHDR length/type (8) + width, height (8) + depth, colour type
    return len(head) == 26 and head[24] == 16


def _orientation(im: Image.Image) -> int:
    """EXIF orientation (1 = none). PNG: only an already-read eXIf chunk (getexif would decode)."""
    if im.format == "PNG" and "exif" not in im.info:
        return 1
    try:
        return im.getexif().get(0x0112, 1)
    except Exception as e:  # a broken EXIF block should not make a good image unreadable
        log.debug("ignoring unreadable EXIF data: %s", e)
        return 1


def read_image(path, max_pixels: int = 64_000_000) -> np.ndarray:
    """Read an image file as float32 RGB, shape (H, W, 3), values in [0, 1].

    8- and 16-bit images; gray is replicated to 3 channels; alpha (RGBA, LA, palette or
    tRNS transparency) is composited onto white; EXIF orientation is applied. Raises
    ImageReadError for a missing/empty/non-image/truncated file, or one with more than
    ``max_pixels`` pixels (checked from the header, before decoding pixels).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ImageReadError(path, "file not found")
    if not os.path.isfile(path):
        raise ImageReadError(path, "not a regular file")
    if os.path.getsize(path) == 0:
        raise ImageReadError(path, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise ImageReadError(path, f"image is {w}x{h} = {w * h} pixels, more than the "
                                               f"limit max_pixels={max_pixels}")
                if im.format == "PNG" and _is_16bit_png(path):
                    log.debug("%s: 16-bit PNG, decoding with OpenCV", path)
                    rgb = _decode_cv2(path)
                else:
                    rgb = _decode_pillow(im)
                orientation = _orientation(im)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageReadError(path, f"image exceeds Pillow's decompression-bomb limit "
                                   f"(PIL.Image.MAX_IMAGE_PIXELS); max_pixels={max_pixels}: {e}") from e
    except Image.UnidentifiedImageError as e:
        raise ImageReadError(path, "not a recognised image file (unknown format or corrupt header)") from e
    except MemoryError as e:
        raise ImageReadError(path, "not enough memory to decode the image") from e
    except Exception as e:  # truncated / corrupt data: OSError, SyntaxError, zlib/struct errors, ...
        raise ImageReadError(path, f"cannot decode image ({type(e).__name__}: {e}); "
                                   "the file may be truncated or corrupt") from e
    if orientation in _ORIENT:
        rgb = np.ascontiguousarray(_ORIENT[orientation](rgb))
    return rgb


def read_image_or_none(path, max_pixels: int = 64_000_000) -> tuple[np.ndarray | None, str | None]:
    """``(image, None)`` on success, ``(None, reason)`` on failure; never raises for a bad file."""
    try:
        return read_image(path, max_pixels=max_pixels), None
    except ImageReadError as e:
        log.debug("skipping %s", e)
        return None, e.reason


def write_image(path, rgb) -> None:
    """Write an image atomically; the format comes from the extension (png, jpg/jpeg, webp, bmp).

    ``rgb``: float (H, W, 3) RGB or (H, W) / (H, W, 1) gray, values clipped to [0, 1] (NaN -> 0),
    or uint8 with the same shapes. Parent folders are created. The data goes to a hidden
    temporary file in the same folder which then replaces ``path`` (os.replace). Raises
    ValueError for an unsupported extension, shape or dtype.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in _WRITE_PARAMS:
        raise ValueError(f"{path}: unsupported extension {ext!r}; use one of {', '.join(_WRITE_PARAMS)}")
    arr = np.asarray(rgb)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)) or arr.size == 0:
        raise ValueError(f"{path}: expected a non-empty (H, W, 3), (H, W) or (H, W, 1) array, got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating):
        arr = (np.clip(np.nan_to_num(arr, nan=0.0), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise ValueError(f"{path}: expected float values in [0, 1] or uint8, got dtype {arr.dtype}")
    if arr.ndim == 3:
        arr = arr[:, :, ::-1]  # RGB -> BGR for OpenCV
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(arr), _WRITE_PARAMS[ext])
    if not ok:
        raise ValueError(f"{path}: OpenCV could not encode the image as {ext}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(buf.tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
