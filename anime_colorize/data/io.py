"""Robust image file reading and writing.

* Pillow opens every file first: ``Image.open`` reads only the header, so the pixel
  count is checked against our ``max_pixels`` BEFORE pixels are decoded (decompression
  bomb guard). Pillow's own bomb warning is silenced; its bomb error becomes ours.
* Pillow decodes the pixels: it handles palettes, tRNS transparency, gray+alpha and
  CMYK, and raises on truncated data (OpenCV silently grey-fills truncated JPEGs).
  Only 16-bit PNGs and colour TIFFs of more than 8 bits, which Pillow reduces to 8 bits,
  and the float colour TIFFs Pillow cannot open (their size is read from the TIFF header
  first) are decoded with ``cv2.imdecode(np.fromfile(path), IMREAD_UNCHANGED)`` (16 bits,
  non-ASCII paths). Float images are clipped to [0, 1], NaN becoming 0.
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
import io
import logging
import os
import uuid
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from anime_colorize.array_types import PathLike

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")  # matched case-insensitively
TIFF_EXTENSIONS = (".tif", ".tiff")  # also found by find_images (read, never written)
DEFAULT_MAX_PIXELS = 64_000_000
MAX_PIXELS_FLAG = "--max-pixels"  # named in the 'too large' reason: the commands' flag that raises the limit

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

    def __init__(self, path: PathLike, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ImageSizeError(ImageReadError):
    """A picture of another size than required (``size`` and ``required``: (width, height)),
    found from its header."""

    def __init__(self, path: PathLike, size: tuple, required: tuple) -> None:
        self.size, self.required = size, required
        super().__init__(path, f"the picture is {size[0]}x{size[1]}, not {required[0]}x{required[1]}")


def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS + TIFF_EXTENSIONS)


def allow_max_pixels(max_pixels: int) -> None:
    """Raises Pillow's own bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``, process-wide) to at least
    ``max_pixels``, so a command's ``--max-pixels`` above Pillow's default really lets such
    images through. It is never lowered. Call once at start-up, not from worker threads."""
    current = Image.MAX_IMAGE_PIXELS
    if current is not None and current < max_pixels:
        Image.MAX_IMAGE_PIXELS = int(max_pixels)


def find_images(root: PathLike) -> list[str]:
    """All image files under ``root`` (a folder, searched recursively, or a single image file).

    Returns a list of str paths (``root`` joined with the relative path), sorted by the
    relative path's components so the order is the same on every machine. Names with an
    extension in ``IMAGE_EXTENSIONS`` or ``TIFF_EXTENSIONS`` (any case) count; hidden files and folders (name
    starting with '.') are skipped. Raises FileNotFoundError if ``root`` does not exist and
    ValueError if it is a non-image file or a folder without any image file.
    """
    root_p = Path(root)
    if not root_p.exists():
        raise FileNotFoundError(errno.ENOENT, "No such file or folder", str(root))
    accepted = ", ".join(IMAGE_EXTENSIONS + TIFF_EXTENSIONS)
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
    """uint8/uint16/float array (H,W) or (H,W,1..4) -> float32 (H,W,3) in [0,1], alpha over white.
    Converted by bands of rows, so a big picture takes no float copies besides the result."""
    if arr.ndim == 2:
        arr = arr[:, :, None]
    height, width, channels = arr.shape
    out = np.empty((height, width, 3), np.float32)
    rows = max(1, (1 << 20) // max(1, width))
    for top in range(0, height, rows):
        x = arr[top:top + rows].astype(np.float32) / np.float32(scale)
        if np.issubdtype(arr.dtype, np.floating):
            np.nan_to_num(x, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
        np.clip(x, 0.0, 1.0, out=x)
        color = x[:, :, :3] if channels >= 3 else x[:, :, :1]
        if bgr and channels >= 3:
            color = color[:, :, ::-1]
        if channels in (2, 4):
            alpha = x[:, :, -1:]
            color = color * alpha + (1.0 - alpha)
        out[top:top + rows] = color  # a gray channel is broadcast to three
    return out


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
    if np.issubdtype(arr.dtype, np.floating):
        scale = 1.0
    elif arr.dtype in (np.uint8, np.int8):
        scale = 255.0
    elif arr.dtype in (np.uint16, np.int16):
        scale = 65535.0
    else:
        raise ImageReadError(path, f"unsupported sample type {arr.dtype}")
    return _to_float_rgb(arr, scale, bgr=True)


def _is_16bit_png(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(26)  # signature (8) + IHDR length/type (8) + width, height (8) + depth, colour type
    return len(head) == 26 and head[24] == 16


def _is_deep_colour_tiff(im: Image.Image) -> bool:
    """A TIFF with more than 8 bits per colour sample, which Pillow would reduce to 8 bits."""
    if im.format != "TIFF" or im.mode not in ("RGB", "RGBA", "RGBX", "CMYK"):
        return False
    bits = getattr(im, "tag_v2", {}).get(258, (8,))
    return max(bits if isinstance(bits, tuple) else (bits,)) > 8


def _tiff_header(path: str) -> tuple[int, int, int] | None:
    """(width, height, EXIF-style orientation) of the first image of a classic TIFF, from its
    header; None if the file is not one."""
    with open(path, "rb") as f:
        head = f.read(8)
        if head[:4] not in (b"II*\0", b"MM\0*"):
            return None
        order = "<" if head[:2] == b"II" else ">"
        f.seek(int.from_bytes(head[4:8], "little" if order == "<" else "big"))
        raw = f.read(2)
        if len(raw) < 2:
            return None
        count = int.from_bytes(raw, "little" if order == "<" else "big")
        entries = f.read(12 * count)
    dims = {}
    for k in range(len(entries) // 12):
        tag, kind, _, value = np.frombuffer(entries, np.dtype(f"{order}u2,{order}u2,{order}u4,{order}u4"),
                                            count=1, offset=12 * k)[0]
        if tag in (256, 257, 274):
            if kind == 3:  # SHORT: the value sits in the first two bytes of the field
                value = int(np.frombuffer(entries, f"{order}u2", count=1, offset=12 * k + 8)[0])
            dims[int(tag)] = int(value)
    if 256 not in dims or 257 not in dims:
        return None
    return dims[256], dims[257], dims.get(274, 1)


def _too_large(path: str, w: int, h: int, max_pixels: int) -> ImageReadError:
    return ImageReadError(path, f"image is {w}x{h} = {w * h} pixels, more than the limit max_pixels={max_pixels} "
                                f"(a guard against decompression bombs); if you trust the file, raise "
                                f"the limit with {MAX_PIXELS_FLAG} {w * h}")


def _read_unidentified_tiff(path: str, max_pixels: int) -> np.ndarray | None:
    """A TIFF Pillow cannot open (e.g. 32-bit float RGB), decoded with OpenCV and oriented;
    None if the file is not a TIFF."""
    try:
        header = _tiff_header(path)
        if header is None:
            return None
        w, h, orientation = header
        if w * h > max_pixels:
            raise _too_large(path, w, h, max_pixels)
        log.debug("%s: TIFF that Pillow cannot open, decoding with OpenCV", path)
        rgb = _decode_cv2(path)
    except ImageReadError:
        raise
    except MemoryError as e:
        raise ImageReadError(path, "not enough memory to decode the image") from e
    except Exception as e:  # cv2.error, a broken header, ...
        raise ImageReadError(path, f"cannot decode TIFF image ({type(e).__name__}: {e}); "
                                   "the file may be truncated, corrupt or of an unsupported kind") from e
    return np.ascontiguousarray(_ORIENT[orientation](rgb)) if orientation in _ORIENT else rgb


def _orientation(im: Image.Image) -> int:
    """EXIF orientation (1 = none). PNG: only an already-read eXIf chunk (getexif would decode)."""
    if im.format == "PNG" and "exif" not in im.info:
        return 1
    try:
        return im.getexif().get(0x0112, 1)
    except Exception as e:  # a broken EXIF block should not make a good image unreadable
        log.debug("ignoring unreadable EXIF data: %s", e)
        return 1


def read_image(path: PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as float32 RGB, shape (H, W, 3), values in [0, 1].

    8- and 16-bit images and float TIFFs (clipped to [0, 1]); gray is replicated to 3
    channels; alpha (RGBA, LA, palette or tRNS transparency) is composited onto white; EXIF
    orientation is applied. Raises ImageReadError for a missing/empty/non-image/truncated
    file, or one with more than ``max_pixels`` pixels (checked from the header, before
    decoding pixels; the reason names the ``--max-pixels`` flag that raises the limit).
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
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")  # e.g. "Corrupt EXIF data"
            with Image.open(path) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise _too_large(path, w, h, max_pixels)
                if im.format == "PNG" and _is_16bit_png(path):
                    log.debug("%s: 16-bit PNG, decoding with OpenCV", path)
                    rgb = _decode_cv2(path)
                elif _is_deep_colour_tiff(im):
                    log.debug("%s: colour TIFF of more than 8 bits, decoding with OpenCV", path)
                    rgb = _decode_cv2(path)
                else:
                    rgb = _decode_pillow(im)
                orientation = _orientation(im)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageReadError(path, f"image exceeds Pillow's decompression-bomb limit "
                                   f"(PIL.Image.MAX_IMAGE_PIXELS={Image.MAX_IMAGE_PIXELS}); max_pixels={max_pixels}; "
                                   f"the commands' {MAX_PIXELS_FLAG} raises both limits: {e}") from e
    except Image.UnidentifiedImageError as e:
        tiff = _read_unidentified_tiff(path, max_pixels)
        if tiff is None:
            raise ImageReadError(path, "not a recognised image file (unknown format or corrupt header)") from e
        return tiff
    except MemoryError as e:
        raise ImageReadError(path, "not enough memory to decode the image") from e
    except Exception as e:  # truncated / corrupt data: OSError, SyntaxError, zlib/struct errors, ...
        raise ImageReadError(path, f"cannot decode image ({type(e).__name__}: {e}); "
                                   "the file may be truncated or corrupt") from e
    if orientation in _ORIENT:
        rgb = np.ascontiguousarray(_ORIENT[orientation](rgb))
    return rgb


def read_rgba(source: PathLike | bytes, max_pixels: int = DEFAULT_MAX_PIXELS, size: tuple[int, int] | None = None,
              name: str | None = None) -> np.ndarray:
    """Read an image keeping its transparency: uint8 RGBA (H, W, 4) (alpha 255 where the file
    has none). For hint layers (coloured strokes on a transparent background), which are
    plain 8-bit pictures.

    ``source``: a path, or the file's bytes (``name`` then names them in errors). Its pixel
    count and, when ``size`` = (width, height) is given, its size are checked from the header
    BEFORE the pixels are decoded, so a huge layer of a few KB never takes gigabytes.
    Raises ImageReadError like :func:`read_image`.
    """
    opened: str | io.BytesIO  # what PIL opens: the file's path, or its bytes
    if isinstance(source, (bytes, bytearray, memoryview)):
        path, opened = name or "image data", io.BytesIO(source)
    else:
        path = opened = os.fspath(source)
        if not os.path.isfile(path):
            raise ImageReadError(path, "file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(opened) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise _too_large(path, w, h, max_pixels)
                if size is not None and (w, h) != tuple(size):
                    raise ImageSizeError(path, (w, h), tuple(size))
                rgba = np.asarray(im.convert("RGBA"))
    except ImageReadError:
        raise
    except MemoryError as e:
        raise ImageReadError(path, "not enough memory to decode the image") from e
    except Exception as e:  # unidentified, truncated, corrupt: all mean the same here
        raise ImageReadError(path, f"cannot decode image ({type(e).__name__}: {e})") from e
    return rgba


def read_image_or_none(path: PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray | None, str | None]:
    """``(image, None)`` on success, ``(None, reason)`` on failure; never raises for a bad file."""
    try:
        return read_image(path, max_pixels=max_pixels), None
    except ImageReadError as e:
        log.debug("skipping %s", e)
        return None, e.reason


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Float values clipped to [0, 1] (NaN -> 0) -> uint8 (x 255, rounded), by bands of rows so
    a big picture takes no float copies of itself; uint8 input is returned as it is."""
    arr = np.asarray(rgb)
    if arr.dtype == np.uint8:
        return arr
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"expected float values in [0, 1] or uint8, got dtype {arr.dtype}")
    out = np.empty(arr.shape, np.uint8)
    rows = max(1, (1 << 20) // max(1, arr[0].size if arr.ndim > 1 else 1))
    for top in range(0, arr.shape[0], rows):
        band = np.nan_to_num(arr[top:top + rows].astype(np.float32), nan=0.0)
        np.clip(band, 0.0, 1.0, out=band)
        out[top:top + rows] = band * 255.0 + 0.5
    return out


def encode_image(rgb: np.ndarray, ext: str, params: list | None = None) -> bytes:
    """An image -> the bytes of a file of type ``ext`` (".png", ".jpg", ".jpeg", ".webp",
    ".bmp"), encoded with OpenCV (``params``: OpenCV's encoder parameters; default: PNG level
    3, JPEG quality 95, lossless WebP). ``rgb`` as :func:`write_image` takes it."""
    ext = ext.lower()
    if ext not in _WRITE_PARAMS:
        raise ValueError(f"unsupported extension {ext!r}; use one of {', '.join(_WRITE_PARAMS)}")
    arr = np.asarray(rgb)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)) or arr.size == 0:
        raise ValueError(f"expected a non-empty (H, W, 3), (H, W) or (H, W, 1) array, got shape {arr.shape}")
    arr = to_uint8(arr)
    if arr.ndim == 3:
        arr = arr[:, :, ::-1]  # RGB -> BGR for OpenCV
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(arr), _WRITE_PARAMS[ext] if params is None else params)
    if not ok:
        raise ValueError(f"OpenCV could not encode the image as {ext}")
    return buf.tobytes()


def write_image(path: PathLike, rgb: np.ndarray) -> None:
    """Write an image atomically; the format comes from the extension (png, jpg/jpeg, webp, bmp).

    ``rgb``: float (H, W, 3) RGB or (H, W) / (H, W, 1) gray, values clipped to [0, 1] (NaN -> 0),
    or uint8 with the same shapes. Parent folders are created. The data goes to a hidden
    temporary file in the same folder which then replaces ``path`` (os.replace). Raises
    ValueError for an unsupported extension, shape or dtype.
    """
    path = Path(path)
    try:
        data = encode_image(rgb, path.suffix)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    write_bytes_atomic(path, data)


def write_bytes_atomic(path: PathLike, data: bytes) -> None:
    """Writes ``data`` to ``path`` so that a crash never leaves a half-written file: a hidden
    temporary file in the same folder, flushed to disk, then ``os.replace``-d over ``path``.
    Parent folders are created; the temporary file is removed if anything fails."""
    path = Path(path)
    _make_folder(path.parent)
    if path.is_dir():  # else os.replace would name its hidden temporary file in the error
        raise IsADirectoryError(errno.EISDIR, "a folder of that name is in the way", str(path))
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if str(tmp) in (e.filename, e.filename2):
            # The user asked for ``path`` (a read-only folder, a full disk): name it, not our
            # hidden temporary file, which they never heard of.
            raise type(e)(e.errno, e.strerror, str(path)) from e
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _make_folder(folder: Path) -> None:
    """``folder`` and its parents; a file where a folder must be is named as such (mkdir would
    say "File exists")."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocking = next((p for p in [folder, *folder.parents] if p.exists() and not p.is_dir()), folder)
        raise NotADirectoryError(errno.ENOTDIR, "a file is in the way of the output folder", str(blocking)) from None
