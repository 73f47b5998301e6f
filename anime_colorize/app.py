"""``python -m anime_colorize.app``: an interactive colouring page in the browser.

    python -m anime_colorize.app --model runs/x/generator.keras            # then open http://127.0.0.1:8000
    python -m anime_colorize.app --model runs/x/saved_model --port 8080 --max-pixels 8000000

Upload a drawing (line art, a gray picture or a manga page), paint colour hints over it
(strokes, points, a fill brush that fills whole regions between the lines, eraser, undo),
optionally add a reference picture, and colour it, as flats or smooth: the page
shows a strip of noise variants to choose from (quick previews, at most 1024 px by default)
and downloads the chosen one at the upload's full resolution. The hints download as the
stroke PNG and points JSON that :mod:`anime_colorize.data.hints` reads, or as a ZIP holding
``hints/NAME.png`` and ``hints/NAME.json``, and the page shows the ``anime_colorize.colorize``
command (``--hints-dir hints --num-samples K --seed S``) whose ``NAME_k.png`` is its variant
k: the work goes on from the command line with the same colourings.

The page works offline: every script, style and icon is served from
``anime_colorize/app_static``. The server is the standard library's threading HTTP server;
the model is loaded once and colourings run one at a time, while the page, its assets and
``/api/info`` are served all along. Colourings go through the same inference path as the
commands (:mod:`anime_colorize.inference`: hint layers, ``--mode``, ``--working-size``).
Uploads are bounded in bytes (``--max-upload-mb``) and pixels (``--max-pixels``); an upload
is decoded from a temporary folder that is removed before the response is sent, and nothing
is kept afterwards.

Memory is bounded by ``--max-memory-mb``, the whole process's peak: each request's work is
estimated from the sizes in the file headers before anything is decoded and reserved from
the budget the model leaves (:mod:`anime_colorize.inference.memory`). Full-size colourings
are rendered and encoded one variant at a time; several full-size variants that do not fit
are coloured at the largest preview size that does (a note says so; the page downloads each
at full size); what can never fit gets 413. Sockets time out after ``--request-timeout``
seconds of silence and a request body must arrive within that time (else 408), so neither
idle nor stalled clients hold a thread; clients that hang up are logged in one line.

Endpoints (JSON in and out; images as base64 or ``data:`` URLs; errors are
``{"error": message}`` with a 4xx / 5xx status, never a traceback):

``GET /``, ``GET /static/<name>``
    the page and its assets
``GET /api/info``
    the model (input kind, hint kinds, z size, working size) and the server's limits
``POST /api/prepare`` ``{"image", "regions"?}``
    checks an upload; returns ``{"width", "height", "preview"}``, the picture as the server
    reads it (PNG), so the browser shows exactly what is coloured; for a model taking colour
    hints also ``{"regions", "region_count"}``: the picture cut into regions as the flat mode
    cuts it, a PNG of :func:`anime_colorize.regions.encode_label_map` (id = R + 256 G + 65536
    (B & 127), ink where B & 128), from which the page's fill brush fills whole regions with hint
    colour and shows the region under the cursor (``"regions": false`` skips it)
``POST /api/colorize`` ``{"image", "hints_png"?, "points"?, "reference"?, "variants"?, "seed"?,
"variant"?, "max_side"?, "working_size"?, "mode"?, "shading"?, "files"?}``
    ``hints_png``: RGBA strokes the size of the picture; ``points``: ``{"points": [...]}`` in
    picture pixels. Variant k is coloured with row k of ``sampling.random_sweep(variants,
    z_dim, seed)``; ``variant`` asks for that one only. ``max_side`` colours a quick preview,
    the picture (and its hints) shrunk to at most that many pixels on its longer side; without
    it the colouring has the upload's full size (or the largest preview the memory budget
    allows, see above). ``working_size``: the network's working size (default: the server's
    ``--working-size``; at most ``--max-working-size``). ``mode``: an output mode, "flat" or
    "smooth" (default: the server's ``--mode``, flat for line-art models); ``shading``: flat mode
    with the network's shading multiplied in. ``files`` (with ``variant``, full size): also the
    flat mode's layers, ``{"files": {"_flat.png", "_shade.png", "_lines.png", ".psd"}}`` (base64).
    Returns ``{"width", "height", "full_width", "full_height", "working_size", "mode", "seed",
    "first_variant", "variants": [PNG, ...], "warnings", "seconds"}``.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import io
import json
import logging
import math
import re
import sys
import tempfile
import threading
import time
import typing
import warnings
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from anime_colorize.export.loading import LoadedGenerator
    from anime_colorize.inference.memory import RenderCost
    from anime_colorize.inference.modes import OutputMode

log = logging.getLogger("anime_colorize.app")

STATIC_PACKAGE = "anime_colorize"
STATIC_FOLDER = "app_static"
_STATIC_NAME = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9]+)+$")
_CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                  ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
                  ".ico": "image/x-icon"}
# The page may talk only to this server; everything it shows is its own or made in the browser.
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
_DATA_URL = re.compile(r"^data:[\w.+/-]*(;[\w=.+-]+)*;base64,", re.ASCII)
_POST_PATHS = {"/api/colorize": "colorize", "/api/prepare": "prepare"}  # path -> ColorizeService method
MAX_SEED = 2**31 - 1


class RequestError(Exception):
    """A problem with a request that the user can fix: answered with ``status`` and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = int(status)
        self.message = message


class Limits:
    """What the server accepts: request bytes, picture pixels, variants per request, the peak
    memory of the whole process (None: no budget; the command's default is 4096 MB), how long
    a request waits for a running colouring before it is told the server is busy, and how long
    a client may take to send its request."""

    def __init__(self, max_upload_bytes: int = 32 * 2**20, max_pixels: int = 16_000_000,
                 max_variants: int = 8, busy_timeout: float = 120.0, max_memory_bytes: int | None = None,
                 request_timeout: float = 30.0):
        if min(max_upload_bytes, max_pixels, max_variants, max_memory_bytes or 1) < 1 or busy_timeout < 0 \
                or not request_timeout > 0:
            raise ValueError("limits must be positive")
        self.max_upload_bytes = int(max_upload_bytes)
        self.max_pixels = int(max_pixels)
        self.max_variants = int(max_variants)
        self.busy_timeout = float(busy_timeout)
        self.max_memory_bytes = None if max_memory_bytes is None else int(max_memory_bytes)
        self.request_timeout = float(request_timeout)


def _megabytes(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def decode_base64(value: object, field: str) -> bytes:
    """A ``data:...;base64,`` URL or bare base64 string -> bytes; RequestError naming ``field``."""
    if not isinstance(value, str) or not value:
        raise RequestError(400, f"'{field}' must be a base64 string or a data: URL")
    match = _DATA_URL.match(value)
    if match:
        value = value[match.end():]
    elif value.startswith("data:"):
        raise RequestError(400, f"'{field}' is a data: URL that is not base64-encoded")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(400, f"'{field}' is not valid base64") from None
    if not data:
        raise RequestError(400, f"'{field}' is empty")
    return data


def png_bytes(rgb: np.ndarray) -> bytes:
    """float RGB (H, W, 3) in [0, 1] -> PNG bytes (8 bits)."""
    import cv2

    from anime_colorize.data.io import encode_image

    # level 1: fast; the PNG is sent once, not kept
    return encode_image(rgb, ".png", [cv2.IMWRITE_PNG_COMPRESSION, 1])


def _header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from an image's header without decoding pixels; None if unknown."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                return im.size
    except Exception:  # not an image Pillow knows: read_image names the problem
        return None


def _fit(height: int, width: int, max_side: int | None) -> tuple[int, int]:
    """The size :func:`anime_colorize.sampling.fit_within` shrinks (height, width) to."""
    scale = 1.0 if max_side is None else max_side / max(height, width)
    if scale >= 1:
        return height, width
    return max(1, round(height * scale)), max(1, round(width * scale))


class ColorizeService:
    """The model and the work the endpoints do, without HTTP (so it can be tested directly).

    ``generator`` is a loaded generator (:func:`anime_colorize.export.load_generator`).
    Colourings run one at a time (one model), through the output ``mode`` (default: smooth),
    with the network at ``working_size`` (default: the model's). Every piece of work first
    reserves its estimated peak memory from one budget (``limits.max_memory_bytes`` less
    what the process holds when the service starts; see :mod:`anime_colorize.inference.memory`):
    work that can never fit gets 413, work that waits longer than ``limits.busy_timeout``
    seconds for its turn gets 503. ``network_bytes_per_pixel``: the network's memory per
    working pixel (:func:`anime_colorize.inference.memory.measure_network`; default: a
    conservative figure for the U-Nets of this package).
    """

    def __init__(self, generator: LoadedGenerator, limits: Limits | None = None, model_name: str = "",
                 mode: OutputMode | None = None,
                 working_size: int | None = None, network_bytes_per_pixel: float | None = None,
                 max_working_size: int | None = None) -> None:
        from anime_colorize import sampling
        from anime_colorize.data import hints as hints_lib
        from anime_colorize.inference import memory
        from anime_colorize.inference.modes import MODES, default_mode_name, make_mode

        self.generator = generator
        self.limits = limits or Limits()
        self.model_name = model_name or str(getattr(generator, "path", "model"))
        self.mode = mode or make_mode(default_mode_name(generator.input_kind))
        # the page switches between modes; the server's own mode keeps its settings (--shading, --gap)
        self.modes = {name: self.mode if name == self.mode.name else make_mode(name) for name in MODES}
        self.working_size = sampling.resolve_working_size(generator, working_size)
        self.max_working_size = max(self.working_size, max_working_size or 4 * self.working_size)
        self.lock = threading.Lock()
        # uploads checked at the same time as a colouring runs, bounded in number
        self.prepare_slots = threading.BoundedSemaphore(2)
        kinds = set(generator.hint_kinds)
        self.spatial_hints = bool(kinds & set(hints_lib.SPATIAL_KINDS))
        self.reference_hints = bool(kinds & set(hints_lib.GLOBAL_KINDS))
        self.cost = memory.ColouringCost(network_bytes_per_pixel or memory.NETWORK_BYTES_PER_PIXEL)
        self.baseline_bytes = memory.rss_bytes()
        if self.limits.max_memory_bytes is None:
            total = memory.UNLIMITED
        else:
            total = self.limits.max_memory_bytes - self.baseline_bytes - memory.SAFETY_BYTES
        if total <= 0:
            raise ValueError(f"the server holds {_megabytes(self.baseline_bytes)} already (the model and its "
                             f"runtime), more than its memory budget allows: raise --max-memory-mb")
        self.budget = memory.MemoryBudget(total)

    # --- metadata -------------------------------------------------------------------------
    def info(self) -> dict:
        g, lim = self.generator, self.limits
        return {"model": self.model_name, "input_kind": g.input_kind, "hint_kinds": list(g.hint_kinds),
                "spatial_hints": self.spatial_hints, "reference_hints": self.reference_hints,
                "z_dim": g.z_dim, "working_size": self.working_size, "trained_size": g.working_size,
                "max_working_size": self.max_working_size,
                "mode": self.mode.name, "modes": list(self.modes),
                "shading": bool(getattr(self.flat_mode, "shading", False)), "regions": self.gives_regions,
                "max_upload_bytes": lim.max_upload_bytes, "max_pixels": lim.max_pixels,
                "max_variants": lim.max_variants, "max_memory_bytes": lim.max_memory_bytes,
                "busy": self.lock.locked()}

    @property
    def gives_regions(self) -> bool:
        """Whether uploads are answered with their regions (for the fill brush): models that take
        stroke or point hints, on a server with a flat mode."""
        return self.spatial_hints and self.flat_mode is not None

    @property
    def flat_mode(self) -> OutputMode | None:
        """The server's flat mode (its regions settings), or None where there is none."""
        return self.modes.get("flat")

    def mode_for(self, payload: dict, files: bool = False) -> OutputMode:
        """The output mode a request asks for (``mode``, default the server's; ``shading`` for
        flat), with its extra files for downloads when ``files``."""
        from anime_colorize.inference.modes import FlatMode

        name = payload.get("mode") or self.mode.name
        if not isinstance(name, str) or name not in self.modes:
            raise RequestError(400, f"'mode' must be one of {', '.join(self.modes)}, got {name!r}")
        mode = self.modes[name]
        shading = payload.get("shading")
        if shading is not None and not isinstance(shading, bool):
            raise RequestError(400, f"'shading' must be true or false, got {shading!r}")
        if isinstance(mode, FlatMode):
            mode = FlatMode(mode.shading if shading is None else shading, mode.unhinted, mode.gap,
                            layers=files, psd=files)
        elif files:
            raise RequestError(400, f"the {name} mode has no layers to download; colour in flat mode")
        return mode

    # --- memory ---------------------------------------------------------------------------------
    def reserve(self, nbytes: int, what: str) -> contextlib.AbstractContextManager[None]:
        """Holds ``nbytes`` of the memory budget for a ``with`` block; RequestError 413 if it
        can never fit, 503 if it did not fit within the busy timeout."""
        from anime_colorize.inference.memory import MemoryBudgetExceeded

        @contextlib.contextmanager
        def held():
            try:
                reservation = self.budget.reserve(nbytes, self.limits.busy_timeout)
                reservation.__enter__()
            except MemoryBudgetExceeded as e:
                raise RequestError(413, f"{what} {e} of this server (its --max-memory-mb setting, less what the "
                                        "model takes); send a smaller picture") from None
            except TimeoutError:
                raise RequestError(503, "the server's memory is taken by other work; try again in a moment") from None
            try:
                yield
            finally:
                reservation.__exit__(None, None, None)
        return held()

    # --- decoding ---------------------------------------------------------------------------
    def picture_pixels(self, data: bytes, what: str) -> int:
        """A picture's pixel count from its header (413 over ``--max-pixels``); the limit
        itself where the header cannot be read (the decoder then names the problem)."""
        size = _header_size(data)
        if size is None:
            return self.limits.max_pixels
        w, h = size
        if w * h > self.limits.max_pixels:
            raise RequestError(413, f"the {what} is {w}x{h} = {w * h:,} pixels; this server accepts at most "
                                    f"{self.limits.max_pixels:,} (its --max-pixels setting): scale it down "
                                    f"and upload it again")
        return w * h

    def read_picture(self, data: bytes, what: str) -> np.ndarray:
        """Image file bytes -> float32 RGB (H, W, 3) in [0, 1], read as the command-line tools
        read files (alpha over white, EXIF orientation, 16-bit); RequestError if unusable."""
        from anime_colorize.data.io import ImageReadError, read_image

        self.picture_pixels(data, what)
        # read_image takes a path: the bytes go to a private temporary folder, removed at once.
        with tempfile.TemporaryDirectory(prefix="anime_colorize_app_") as folder:
            path = Path(folder) / "upload"
            path.write_bytes(data)
            try:
                return read_image(path, max_pixels=self.limits.max_pixels)
            except ImageReadError as e:
                raise RequestError(400, f"the {what} could not be read: {e.reason}") from None

    def read_stroke_layer(self, data: bytes, height: int, width: int) -> np.ndarray:
        """Stroke PNG bytes -> uint8 RGBA (H, W, 4), which must be the picture's size (checked
        from the header, before decoding)."""
        from anime_colorize.data.io import ImageReadError, read_rgba

        size = _header_size(data)
        if size is None:
            raise RequestError(400, "the hint layer is not a PNG image")
        if size != (width, height):
            raise RequestError(400, f"the hint layer is {size[0]}x{size[1]} but the picture is "
                                    f"{width}x{height}; hint layers must be the picture's size")
        try:
            return read_rgba(data, max_pixels=self.limits.max_pixels, size=(width, height), name="the hint layer")
        except ImageReadError as e:  # truncated or corrupt PNG data
            raise RequestError(400, f"the hint layer could not be decoded ({e.reason})") from None

    # --- the work -----------------------------------------------------------------------------
    def prepare(self, payload: dict) -> dict:
        """Checks an upload; returns its size and a PNG preview of the picture as read, and (for
        models taking colour hints, with ``"regions": true``, the default) its regions as the
        flat mode cuts them: ``regions``, a PNG of :func:`anime_colorize.regions.encode_label_map`
        (region id in 23 bits of RGB, ink in the top bit of blue), and ``region_count``."""
        from anime_colorize.inference import memory

        data = decode_base64(payload.get("image"), "image")
        pixels = self.picture_pixels(data, "picture")
        notes: list[str] = []
        needed = (memory.DECODE_BYTES_PER_PIXEL + memory.RENDER_BYTES_PER_PIXEL + memory.PNG_BYTES_PER_PIXEL) * pixels
        # the regions come after the preview: the picture and its preview kept, then the segmentation
        with_regions = bool(payload.get("regions", True)) and self.gives_regions
        regions_needed = max(needed, (memory.RGB_BYTES_PER_PIXEL + memory.PNG_BYTES_PER_PIXEL
                                      + memory.SEGMENT_BYTES_PER_PIXEL + memory.REGION_MAP_BYTES_PER_PIXEL) * pixels)
        if with_regions and not self.budget.fits(regions_needed):
            with_regions = False
            notes.append("this picture is too large for the fill brush within the server's memory budget "
                         "(its --max-memory-mb setting); the other tools work")
        if not self.prepare_slots.acquire(timeout=self.limits.busy_timeout):
            raise RequestError(503, "the server is busy reading other uploads; try again in a moment")
        try:
            with self.reserve(regions_needed if with_regions else needed, "reading this picture"):
                rgb = self.read_picture(data, "picture")
                answer = {"width": rgb.shape[1], "height": rgb.shape[0],
                          "preview": base64.b64encode(png_bytes(rgb)).decode("ascii"), "warnings": notes}
                if with_regions:
                    answer.update(self.region_map(rgb))
        finally:
            self.prepare_slots.release()
        return answer

    def region_map(self, rgb: np.ndarray) -> dict:
        """``{"regions": base64 PNG, "region_count"}`` of a picture, cut as the flat mode cuts it."""
        from anime_colorize import regions, sampling
        from anime_colorize.data.io import encode_image
        from anime_colorize.regions.colouring import input_regions

        model_input = sampling.prepare_input(rgb, self.generator.input_kind)
        found = input_regions(model_input, self.generator.input_kind, getattr(self.flat_mode, "gap", None)).regions
        del model_input
        try:
            encoded = regions.encode_label_map(found)
        except ValueError as e:
            raise RequestError(413, f"the picture has {e}; scale it down") from None
        return {"regions": base64.b64encode(encode_image(encoded, ".png")).decode("ascii"),
                "region_count": found.count}

    def build_hints(self, payload: dict, height: int, width: int, warnings_out: list) -> dict | None:
        """The request's stroke layer, points and reference picture -> one hints dict (B = 1)
        or None, combined as the colorize command combines its hint files
        (:func:`anime_colorize.inference.hint_files.hints_from_layers`)."""
        import tensorflow as tf

        from anime_colorize.inference import hint_files

        layers = []
        try:
            if payload.get("hints_png"):
                rgba = self.read_stroke_layer(decode_base64(payload["hints_png"], "hints_png"), height, width)
                layers.append(hint_files.strokes_to_hints(rgba, hint_files.blurred_hints_only(self.generator),
                                                          "the hint layer"))
            if payload.get("points"):
                layers.append(hint_files.points_to_hints(payload["points"], height, width, "colour points",
                                                         warnings_out))
        except hint_files.HintFileError as e:
            raise RequestError(400, str(e)) from None
        hints = hint_files.hints_from_layers(layers)
        if hints and not self.spatial_hints and float(tf.reduce_max(hints["hint_mask"])) > 0:
            raise RequestError(400, "this model was trained without stroke or point hints; "
                                    "clear the hint layer (or load a model trained with --hints mix)")
        if payload.get("reference"):
            if not self.reference_hints:
                raise RequestError(400, "this model was trained without reference pictures; remove the "
                                        "reference (or load a model trained with --hints mix)")
            reference = self.read_picture(decode_base64(payload["reference"], "reference"), "reference picture")
            hints = hint_files.hints_from_layers([hints], hint_files.histogram_of(reference))
        return hints

    def _int_field(self, payload, name, default, low, high) -> int:
        value = payload.get(name, default)
        if value is None:
            value = default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise RequestError(400, f"'{name}' must be a whole number from {low} to {high}, got {value!r}")
        return value

    def plan(self, height: int, width: int, max_side: int | None, variants: int, stroke_pixels: int,
             reference_pixels: int, notes: list, working_size: int | None = None,
             render: RenderCost | None = None) -> tuple:
        """(output height, output width, network batch, bytes) of a colouring within the memory
        budget: the size asked for if it fits; else, for several full-size variants, the
        largest preview size that fits (said in ``notes``); else RequestError 413. ``render``:
        the output mode's :class:`~anime_colorize.inference.memory.RenderCost`."""
        from anime_colorize import sampling

        work = sampling.working_shape(height, width, working_size or self.working_size, self.generator.stride)
        working_pixels = math.prod(sampling.padded_shape(work, self.generator.stride))

        def fitting(out_h, out_w):
            for batch in range(variants, 0, -1):  # fewer pairs per network call if need be
                needed = self.cost.bytes(height * width, out_h * out_w, variants, working_pixels, batch,
                                         stroke_pixels, reference_pixels, render)
                if self.budget.fits(needed):
                    return out_h, out_w, batch, needed
            return None

        out_h, out_w = _fit(height, width, max_side)
        chosen = fitting(out_h, out_w)
        if chosen is None and max_side is None and variants > 1:
            low, high = 16, max(height, width) - 1  # the largest preview side that fits
            while low <= high:
                mid = (low + high) // 2
                if fitting(*_fit(height, width, mid)) is None:
                    high = mid - 1
                else:
                    chosen, low = fitting(*_fit(height, width, mid)), mid + 1
            if chosen is not None:
                notes.append(f"the variants are coloured at {chosen[1]}x{chosen[0]}, not {width}x{height}, to stay "
                             f"within the server's memory budget; download one for its full size")
        if chosen is None:
            needed = self.cost.bytes(height * width, out_h * out_w, variants, working_pixels, 1, stroke_pixels,
                                     reference_pixels, render)
            raise RequestError(413, f"colouring this {width}x{height} picture ({variants} variant(s) at "
                                    f"{out_w}x{out_h}) needs about {_megabytes(needed)}, more than this server's "
                                    f"memory budget of {_megabytes(self.budget.total)} (its --max-memory-mb "
                                    f"setting, less what the model takes): ask for fewer variants or a preview, "
                                    f"or send a smaller picture")
        return chosen

    def colorize(self, payload: dict) -> dict:
        """The colouring request: see the module docstring for its fields. The variants are
        base64 PNG bytes (the handler writes them into the JSON answer without copying)."""
        from anime_colorize import sampling
        from anime_colorize.data import hints as hints_lib
        from anime_colorize.inference.modes import Page
        from anime_colorize.inference.outputs import PICTURE

        variants = self._int_field(payload, "variants", 4, 1, self.limits.max_variants)
        seed = self._int_field(payload, "seed", 0, 0, MAX_SEED)
        only = payload.get("variant")
        if only is not None:
            only = self._int_field(payload, "variant", 0, 0, variants - 1)
        files = payload.get("files", False)
        if not isinstance(files, bool) or (files and (only is None or payload.get("max_side") is not None)):
            raise RequestError(400, "'files' (true or false) downloads the layers of one full-size 'variant'")
        mode = self.mode_for(payload, files)
        max_side = payload.get("max_side")
        if max_side is not None:
            max_side = self._int_field(payload, "max_side", 0, 16, 1_000_000)
        working_size = sampling.resolve_working_size(self.generator, self._int_field(
            payload, "working_size", self.working_size, 1, self.max_working_size))
        data = decode_base64(payload.get("image"), "image")
        size = _header_size(data)
        pixels = self.picture_pixels(data, "picture")
        full_height, full_width = (size[1], size[0]) if size else (int(math.sqrt(pixels)),) * 2
        stroke_pixels = pixels if payload.get("hints_png") else 0
        reference_pixels = (self.picture_pixels(decode_base64(payload["reference"], "reference"), "reference picture")
                            if payload.get("reference") else 0)
        notes: list[str] = []
        out_h, out_w, batch, needed = self.plan(full_height, full_width, max_side, 1 if only is not None else variants,
                                                stroke_pixels, reference_pixels, notes, working_size,
                                                mode.render_cost())
        if not self.lock.acquire(timeout=self.limits.busy_timeout):
            raise RequestError(503, "the server is busy with other colourings; try again in a moment")
        try:
            with self.reserve(needed, "colouring this picture"):
                start = time.perf_counter()
                rgb = self.read_picture(data, "picture")
                full_height, full_width = rgb.shape[:2]  # EXIF orientation may turn it
                hints = self.build_hints(payload, full_height, full_width, notes)
                if out_h * out_w < full_height * full_width:  # a preview: the picture and its hints, shrunk alike
                    rgb = sampling.fit_within(rgb, max(out_h, out_w))
                    if hints and "hint_mask" in hints:
                        hints = hints_lib.resize_hints(hints, *rgb.shape[:2])
                height, width = rgb.shape[:2]
                page = Page("upload", sampling.prepare_input(rgb, self.generator.input_kind),
                            self.generator.input_kind, hints)
                del rgb
                z = sampling.random_sweep(variants, self.generator.z_dim, seed)
                if only is not None:
                    z = z[only:only + 1]
                try:
                    colors = sampling.predict_working(self.generator, [page.model_input], z, [hints], batch,
                                                      working_size)[0].numpy()
                except ValueError as e:  # hints the model cannot take (checked above, but said clearly)
                    raise RequestError(400, str(e)) from None
                state = mode.begin(page)
                encoded, extra = [], {}
                for k in range(len(z)):  # one full-size colouring in memory at a time
                    rendered = mode.render(page, sampling.PredictedColors(colors[k], page.size), state)
                    encoded.append(base64.b64encode(png_bytes(rendered.pop(PICTURE))))
                    extra = {tail: base64.b64encode(file_bytes(value)) for tail, value in rendered.items()}
                    del rendered
                seconds = time.perf_counter() - start
        finally:
            self.lock.release()
        log.info("coloured a %dx%d picture at %dx%d, %d variant(s), seed %d, working size %d, %s mode, in %.2f s",
                 full_width, full_height, width, height, len(z), seed, working_size, mode.name, seconds)
        answer = {"width": width, "height": height, "full_width": full_width, "full_height": full_height,
                  "working_size": working_size, "mode": mode.name,
                  "seed": seed, "first_variant": only or 0, "variants": encoded, "warnings": notes,
                  "seconds": round(seconds, 3)}
        if files:
            answer["files"] = extra
        return answer


def file_bytes(value: np.ndarray | bytes | Callable[[Path], None]) -> bytes:
    """An output mode's extra file (:mod:`anime_colorize.inference.modes`: an image array, the
    file's bytes, or a function that writes it to a path) -> the file's bytes."""
    from anime_colorize.data.io import encode_image

    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if callable(value):  # a writer: into a private temporary folder, removed at once
        with tempfile.TemporaryDirectory(prefix="anime_colorize_app_") as folder:
            path = Path(folder) / "file"
            value(path)
            return path.read_bytes()
    return encode_image(value, ".png")


def json_parts(data: dict) -> list:
    """``data`` as JSON, in pieces: values that are bytes, or lists of bytes (base64 PNGs),
    go in as JSON strings without being copied into one big string."""
    parts = [b"{"]
    for i, (key, value) in enumerate(data.items()):
        parts.append((", " if i else "").encode() + json.dumps(key).encode() + b": ")
        if isinstance(value, list) and value and all(isinstance(v, bytes) for v in value):
            parts.append(b"[")
            for j, item in enumerate(value):
                parts += [b', "' if j else b'"', item, b'"']
            parts.append(b"]")
        elif isinstance(value, dict) and value and all(isinstance(v, bytes) for v in value.values()):
            parts.append(b"{")
            for j, (name, item) in enumerate(value.items()):
                parts += [(", " if j else "").encode() + json.dumps(name).encode() + b': "', item, b'"']
            parts.append(b"}")
        elif isinstance(value, bytes):
            parts += [b'"', value, b'"']
        else:
            parts.append(json.dumps(value).encode("utf-8"))
    parts.append(b"}")
    return parts


_HUNG_UP = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


class AppHandler(BaseHTTPRequestHandler):
    """Routes requests to the server's :class:`ColorizeService`; answers errors as JSON.

    Sockets time out after the service's ``limits.request_timeout`` seconds of silence, and
    a request body must arrive within that time in all, so neither an idle connection nor a
    body shorter than its Content-Length holds a thread. A client that hangs up is logged in
    one line."""

    server_version = "anime_colorize"
    sys_version = ""

    @property
    def service(self) -> ColorizeService:
        """The :class:`ColorizeService` of this handler's :class:`AppServer`."""
        return typing.cast("AppServer", self.server).service

    def setup(self) -> None:
        # socket timeout of this connection; typeshed declares it a ClassVar, but setup() reads it per instance
        self.timeout = self.service.limits.request_timeout  # type: ignore[misc]
        super().setup()

    # --- responses ----------------------------------------------------------------------------
    def _send(self, status: int, body, content_type: str, extra: dict | None = None) -> None:
        parts = [body] if isinstance(body, bytes) else body
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(sum(len(part) for part in parts)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", _CSP)
            self.send_header("Referrer-Policy", "no-referrer")
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                for part in parts:
                    self.wfile.write(part)
        except _HUNG_UP as e:
            self.close_connection = True
            log.info("%s hung up before the answer to %s %s was sent (%s)", self.address_string(), self.command,
                     self.path, type(e).__name__)

    def _json(self, status: int, data: dict) -> None:
        self._send(status, json_parts(data), "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message, "status": status})

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the base class's signature)
        log.debug("%s %s", self.address_string(), format % args)

    # --- routing -------------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            return self._static("index.html")
        if path.startswith("/static/"):
            return self._static(path[len("/static/"):])
        if path == "/api/info":
            return self._json(200, self.service.info())
        if path == "/favicon.ico":
            return self._static("favicon.svg")
        if path in _POST_PATHS:
            return self._error(405, f"{path} takes POST")
        return self._error(404, f"not found: {path}")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path not in _POST_PATHS:
            return self._error(404, f"no POST endpoint {path}")
        try:
            with self._request_memory() as payload_reader:
                payload = payload_reader()
                result = getattr(self.service, _POST_PATHS[path])(payload)
                del payload
                return self._json(200, result)
        except RequestError as e:
            log.info("%s refused (%d): %s", path, e.status, e.message)
            return self._error(e.status, e.message)
        except _HUNG_UP as e:
            self.close_connection = True
            log.info("%s hung up during %s (%s)", self.address_string(), path, type(e).__name__)
        except MemoryError:
            log.exception("%s ran out of memory", path)
            return self._error(507, "the server ran out of memory for this picture; try a smaller one")
        except Exception:  # a bug or an environment failure: logged in full here, never sent out
            log.exception("%s failed", path)
            return self._error(500, "internal error in the server; its log has the details")

    @contextlib.contextmanager
    def _request_memory(self):
        """Checks the request's headers, reserves memory for its body (and what is made from
        it) for the whole request, and yields the function that reads it."""
        from anime_colorize.inference.memory import REQUEST_BYTES_PER_BYTE

        length = self._checked_length()
        with self.service.reserve(REQUEST_BYTES_PER_BYTE * length, "reading this request"):
            yield lambda: self._read_json(length)

    def _checked_length(self) -> int:
        limit = self.service.limits.max_upload_bytes
        content_type = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        length_text = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") or length_text is None:
            self.close_connection = True
            raise RequestError(411, "the request needs a Content-Length header")
        try:
            length = int(length_text)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            raise RequestError(400, "bad Content-Length header")
        if length > limit:
            self.close_connection = True  # the unread body must not be taken for a next request
            raise RequestError(413, f"the upload is {_megabytes(length)}; this server accepts at most "
                                    f"{_megabytes(limit)} per request (its --max-upload-mb setting)")
        if content_type != "application/json":  # also keeps other web sites' plain form posts out
            self.close_connection = True
            raise RequestError(415, "send the request as application/json")
        return length

    def _read_json(self, length: int) -> dict:
        body = self._read_body(length)
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise RequestError(400, f"the request is not valid JSON ({e})") from None
        if not isinstance(payload, dict):
            raise RequestError(400, "the request must be a JSON object")
        return payload

    def _read_body(self, length: int) -> bytes:
        """The request body, which must arrive whole within the request timeout."""
        timeout = self.service.limits.request_timeout
        deadline = time.monotonic() + timeout
        chunks, received = [], 0
        try:
            while received < length:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self.connection.settimeout(left)
                chunk = self.rfile.read1(min(length - received, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                received += len(chunk)
        except TimeoutError:
            self.close_connection = True
            raise RequestError(408, f"the request body did not arrive within {timeout:g} s "
                                    f"({received:,} of {length:,} bytes)") from None
        finally:
            self.connection.settimeout(timeout)
        if received < length:
            self.close_connection = True
            raise RequestError(400, "the request body ended early")
        return b"".join(chunks)

    def _static(self, name: str) -> None:
        if not _STATIC_NAME.match(name):
            return self._error(404, f"not found: /static/{name}")
        resource = resources.files(STATIC_PACKAGE) / STATIC_FOLDER / name
        if not resource.is_file():
            return self._error(404, f"not found: /static/{name}")
        suffix = "." + name.rsplit(".", 1)[-1].lower()
        self._send(200, resource.read_bytes(), _CONTENT_TYPES.get(suffix, "application/octet-stream"))


class AppServer(ThreadingHTTPServer):
    """A threading HTTP server that owns one :class:`ColorizeService`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], service: ColorizeService) -> None:
        self.service = service
        super().__init__(address, AppHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One log line for a connection that failed outside a request (a client that hung
        up, a socket timeout), instead of socketserver's traceback on stderr."""
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            log.info("%s: connection closed (%s)", client_address[0], type(error).__name__)
        else:
            log.error("%s: connection failed (%s: %s)", client_address[0], type(error).__name__, error)
            log.debug("details", exc_info=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = "127.0.0.1" if host in ("0.0.0.0", "") else str(host)
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"


def build_parser() -> argparse.ArgumentParser:
    from anime_colorize import cli_common
    from anime_colorize.inference import flags

    parser = argparse.ArgumentParser(prog="python -m anime_colorize.app",
                                     description=cli_common.summary_line(__doc__))
    flags.add_model_flags(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: %(default)s, this computer only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)s; 0 picks a free one)")
    parser.add_argument("--max-upload-mb", type=float, default=32.0,
                        help="largest request in MB (the picture, hint layer and reference, base64-encoded: "
                             "about 4/3 of the files' sizes) (default: %(default)s)")
    flags.add_picture_flags(parser, default=16_000_000, what="refuse pictures (uploads, hint layers, references)")
    parser.add_argument("--max-variants", type=int, default=8,
                        help="most noise variants per colouring (default: %(default)s)")
    parser.add_argument("--max-memory-mb", type=float, default=4096.0,
                        help="the server's peak memory in MB, the model and its runtime included. Each request's "
                             "work is estimated from the picture sizes in the file headers before anything is "
                             "decoded, and reserved from what the model leaves of this budget: work that can never "
                             "fit is refused (413), several full-size variants that do not fit are coloured at "
                             "the largest preview size that does (each downloads at full size), and work that "
                             "waits longer than --busy-timeout for memory is told the server is busy (503) "
                             "(default: %(default)s)")
    parser.add_argument("--max-working-size", type=int, default=None,
                        help="the largest working size the page may ask for (default: 4 x --working-size)")
    parser.add_argument("--busy-timeout", type=float, default=120.0,
                        help="seconds a request waits for a running colouring before 'busy' (default: %(default)s)")
    parser.add_argument("--request-timeout", type=float, default=30.0,
                        help="seconds a client may stay silent, and may take to send a request body, before its "
                             "connection is closed (default: %(default)s)")
    flags.add_mode_flags(parser, writes_files=False)
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from anime_colorize import cli_common
    cli_common.quiet_tensorflow()

    cli_common.setup_logging(args.verbose)
    from anime_colorize.data.io import allow_max_pixels
    from anime_colorize.inference import flags, memory

    if not 0 <= args.port <= 65535:
        return cli_common.fail("--port must be between 0 and 65535")
    for flag, value in (("--max-upload-mb", args.max_upload_mb), ("--max-memory-mb", args.max_memory_mb),
                        ("--request-timeout", args.request_timeout)):
        if not (value > 0 and math.isfinite(value)):
            return cli_common.fail(f"{flag} must be a positive number")
    for flag, value in (("--max-pixels", args.max_pixels), ("--max-variants", args.max_variants)):
        if value < 1:
            return cli_common.fail(f"{flag} must be at least 1")
    problem = flags.check_numbers(args)
    if problem:
        return cli_common.fail(problem)
    if args.busy_timeout < 0:
        return cli_common.fail("--busy-timeout must be at least 0")
    allow_max_pixels(args.max_pixels)
    try:
        generator = flags.load_model(args)
    except (FileNotFoundError, ValueError) as e:
        return cli_common.fail(cli_common.describe(e).splitlines()[0])
    cli_common.log_device(generator.mixed_precision)
    limits = Limits(int(args.max_upload_mb * 2**20), args.max_pixels, args.max_variants, args.busy_timeout,
                    int(args.max_memory_mb * 2**20), args.request_timeout)
    try:
        network = memory.measure_network(generator, args.working_size)  # also warms the model up
        service = ColorizeService(generator, limits, model_name=args.model, mode=flags.make_mode(args, generator),
                                  working_size=args.working_size, network_bytes_per_pixel=network,
                                  max_working_size=args.max_working_size)
    except ValueError as e:
        return cli_common.fail(str(e))
    try:
        server = AppServer((args.host, args.port), service)
    except OSError as e:
        return cli_common.fail(f"cannot listen on {args.host}:{args.port}: {cli_common.describe(e)}")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s: anyone who can reach this address can use the page", args.host)
    hints = ", ".join(generator.hint_kinds) or "none"
    print(f"serving {args.model} ({generator.input_kind} input, hints: {hints}, working size "
          f"{service.working_size} px) at {server.url}  (Ctrl+C stops)", flush=True)
    log.info("memory: %s for the model and runtime, %s budget for requests (--max-memory-mb %g)",
             _megabytes(service.baseline_bytes), _megabytes(service.budget.total), args.max_memory_mb)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
