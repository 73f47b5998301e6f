"""``python -m anime_colorize.app``: an interactive colouring page in the browser.

    python -m anime_colorize.app --model runs/x/generator.keras            # then open http://127.0.0.1:8000
    python -m anime_colorize.app --model runs/x/saved_model --port 8080 --max-pixels 8000000

Upload a drawing (line art, a gray picture or a manga page), paint colour hints over it
(strokes, points, eraser, undo), optionally add a reference picture, and colour it: the page
shows a strip of noise variants to choose from (quick previews, at most 1024 px by default)
and downloads the chosen one at the upload's full resolution. The hints download as the
stroke PNG and points JSON that :mod:`anime_colorize.data.hints` reads, or as a ZIP holding
``hints/NAME.png`` and ``hints/NAME.json``, and the page shows the ``anime_colorize.colorize``
command (``--hints-dir hints --num-samples K --seed S``) whose ``NAME_k.png`` is its variant
k: the work goes on from the command line with the same colourings.

The page works offline: every script, style and icon is served from
``anime_colorize/app_static``. The server is the standard library's threading HTTP server;
the model is loaded once and colourings run one at a time, while the page, its assets and
``/api/info`` are served all along. Uploads are bounded in bytes (``--max-upload-mb``) and
pixels (``--max-pixels``); an upload is decoded from a temporary folder that is removed
before the response is sent, and nothing is kept afterwards.

Endpoints (JSON in and out; images as base64 or ``data:`` URLs; errors are
``{"error": message}`` with a 4xx / 5xx status, never a traceback):

``GET /``, ``GET /static/<name>``
    the page and its assets
``GET /api/info``
    the model (input kind, hint kinds, z size, working size) and the server's limits
``POST /api/prepare`` ``{"image"}``
    checks an upload; returns ``{"width", "height", "preview"}``, the picture as the server
    reads it (PNG), so the browser shows exactly what is coloured
``POST /api/colorize`` ``{"image", "hints_png"?, "points"?, "reference"?, "variants"?, "seed"?,
"variant"?, "max_side"?}``
    ``hints_png``: RGBA strokes the size of the picture; ``points``: ``{"points": [...]}`` in
    picture pixels. Variant k is coloured with row k of ``sampling.random_sweep(variants,
    z_dim, seed)``; ``variant`` asks for that one only. ``max_side`` colours a quick preview,
    the picture (and its hints) shrunk to at most that many pixels on its longer side; without
    it the colouring has the upload's full size. Returns ``{"width", "height", "full_width",
    "full_height", "seed", "first_variant", "variants": [PNG, ...], "warnings", "seconds"}``.
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
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

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
MAX_POINTS = 10_000
MAX_SEED = 2**31 - 1


class RequestError(Exception):
    """A problem with a request that the user can fix: answered with ``status`` and ``message``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = int(status)
        self.message = message


class Limits:
    """What the server accepts: request bytes, picture pixels, variants per request, and how
    long a request waits for a running colouring before it is told the server is busy."""

    def __init__(self, max_upload_bytes: int = 32 * 2**20, max_pixels: int = 16_000_000,
                 max_variants: int = 8, busy_timeout: float = 120.0):
        if min(max_upload_bytes, max_pixels, max_variants) < 1 or busy_timeout < 0:
            raise ValueError("limits must be positive")
        self.max_upload_bytes = int(max_upload_bytes)
        self.max_pixels = int(max_pixels)
        self.max_variants = int(max_variants)
        self.busy_timeout = float(busy_timeout)


def _megabytes(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def decode_base64(value, field: str) -> bytes:
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


def png_bytes(rgb) -> bytes:
    """float RGB (H, W, 3) in [0, 1] -> PNG bytes (8 bits)."""
    import cv2
    import numpy as np

    arr = (np.clip(np.nan_to_num(np.asarray(rgb), nan=0.0), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    # level 1: fast; the PNG is sent once, not kept. [::-1]: OpenCV writes BGR
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(arr[:, :, ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError("OpenCV could not encode the picture as PNG")
    return buf.tobytes()


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


class ColorizeService:
    """The model and the work the endpoints do, without HTTP (so it can be tested directly).

    ``generator`` is a loaded generator (:func:`anime_colorize.export.load_generator`).
    Colourings run one at a time (one model, bounded memory); a request waits up to
    ``limits.busy_timeout`` seconds for its turn.
    """

    def __init__(self, generator, limits: Limits | None = None, model_name: str = ""):
        from anime_colorize.data import hints as hints_lib

        self.generator = generator
        self.limits = limits or Limits()
        self.model_name = model_name or str(getattr(generator, "path", "model"))
        self.lock = threading.Lock()
        # uploads checked at the same time as a colouring runs, bounded in number (memory)
        self.prepare_slots = threading.BoundedSemaphore(2)
        kinds = set(generator.hint_kinds)
        self.spatial_hints = bool(kinds & set(hints_lib.SPATIAL_KINDS))
        self.reference_hints = bool(kinds & set(hints_lib.GLOBAL_KINDS))

    # --- metadata -------------------------------------------------------------------------
    def info(self) -> dict:
        g, lim = self.generator, self.limits
        return {"model": self.model_name, "input_kind": g.input_kind, "hint_kinds": list(g.hint_kinds),
                "spatial_hints": self.spatial_hints, "reference_hints": self.reference_hints,
                "z_dim": g.z_dim, "working_size": g.working_size,
                "max_upload_bytes": lim.max_upload_bytes, "max_pixels": lim.max_pixels,
                "max_variants": lim.max_variants, "busy": self.lock.locked()}

    # --- decoding ---------------------------------------------------------------------------
    def read_picture(self, data: bytes, what: str):
        """Image file bytes -> float32 RGB (H, W, 3) in [0, 1], read as the command-line tools
        read files (alpha over white, EXIF orientation, 16-bit); RequestError if unusable."""
        from anime_colorize.data.io import ImageReadError, read_image

        size = _header_size(data)
        if size is not None and size[0] * size[1] > self.limits.max_pixels:
            w, h = size
            raise RequestError(413, f"the {what} is {w}x{h} = {w * h:,} pixels; this server accepts at most "
                                    f"{self.limits.max_pixels:,} (its --max-pixels setting): scale it down "
                                    f"and upload it again")
        # read_image takes a path: the bytes go to a private temporary folder, removed at once.
        with tempfile.TemporaryDirectory(prefix="anime_colorize_app_") as folder:
            path = Path(folder) / "upload"
            path.write_bytes(data)
            try:
                return read_image(path, max_pixels=self.limits.max_pixels)
            except ImageReadError as e:
                raise RequestError(400, f"the {what} could not be read: {e.reason}") from None

    def read_stroke_layer(self, data: bytes, height: int, width: int):
        """Stroke PNG bytes -> uint8 RGBA (H, W, 4), which must be the picture's size."""
        import numpy as np
        from PIL import Image

        size = _header_size(data)
        if size is None:
            raise RequestError(400, "the hint layer is not a PNG image")
        if size != (width, height):
            raise RequestError(400, f"the hint layer is {size[0]}x{size[1]} but the picture is "
                                    f"{width}x{height}; hint layers must be the picture's size")
        try:
            with Image.open(io.BytesIO(data)) as im:
                return np.asarray(im.convert("RGBA"))
        except Exception as e:  # truncated or corrupt PNG data
            raise RequestError(400, f"the hint layer could not be decoded ({type(e).__name__}: {e})") from None

    # --- the work -----------------------------------------------------------------------------
    def prepare(self, payload: dict) -> dict:
        """Checks an upload; returns its size and a PNG preview of the picture as read."""
        data = decode_base64(payload.get("image"), "image")
        if not self.prepare_slots.acquire(timeout=self.limits.busy_timeout):
            raise RequestError(503, "the server is busy reading other uploads; try again in a moment")
        try:
            rgb = self.read_picture(data, "picture")
            preview = base64.b64encode(png_bytes(rgb)).decode("ascii")
        finally:
            self.prepare_slots.release()
        height, width = rgb.shape[:2]
        return {"width": width, "height": height, "preview": preview}

    def build_hints(self, payload: dict, height: int, width: int, warnings_out: list) -> dict | None:
        """The request's stroke layer, points and reference picture -> one hints dict (B = 1)
        or None, combined as the colorize command combines its hint files: points drawn over
        the strokes, hint_hist from the reference."""
        import tensorflow as tf

        from anime_colorize.colorize import merge_hints
        from anime_colorize.data import hints as hints_lib

        hints = None
        if payload.get("hints_png"):
            rgba = self.read_stroke_layer(decode_base64(payload["hints_png"], "hints_png"), height, width)
            hints = hints_lib.hints_from_stroke_png(rgba)
        points = payload.get("points")
        if points:
            if isinstance(points, dict) and isinstance(points.get("points"), list) \
                    and len(points["points"]) > MAX_POINTS:
                raise RequestError(400, f"too many colour points ({len(points['points'])}); at most {MAX_POINTS}")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:  # drawn over the strokes, as the colorize command does with both files
                    hints = merge_hints(hints, hints_lib.hints_from_points_json(points, height, width))
                except ValueError as e:
                    raise RequestError(400, f"colour points: {e}") from None
            warnings_out += [str(w.message) for w in caught]
        if hints and not self.spatial_hints and float(tf.reduce_max(hints["hint_mask"])) > 0:
            raise RequestError(400, "this model was trained without stroke or point hints; "
                                    "clear the hint layer (or load a model trained with --hints mix)")
        if payload.get("reference"):
            if not self.reference_hints:
                raise RequestError(400, "this model was trained without reference pictures; remove the "
                                        "reference (or load a model trained with --hints mix)")
            reference = self.read_picture(decode_base64(payload["reference"], "reference"), "reference picture")
            hints = dict(hints or {}, hint_hist=hints_lib.reference_histogram(reference))
        return hints

    def _int_field(self, payload, name, default, low, high) -> int:
        value = payload.get(name, default)
        if value is None:
            value = default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise RequestError(400, f"'{name}' must be a whole number from {low} to {high}, got {value!r}")
        return value

    def colorize(self, payload: dict) -> dict:
        """The colouring request: see the module docstring for its fields."""
        from anime_colorize import sampling
        from anime_colorize.data import hints as hints_lib

        variants = self._int_field(payload, "variants", 4, 1, self.limits.max_variants)
        seed = self._int_field(payload, "seed", 0, 0, MAX_SEED)
        only = payload.get("variant")
        if only is not None:
            only = self._int_field(payload, "variant", 0, 0, variants - 1)
        max_side = payload.get("max_side")
        if max_side is not None:
            max_side = self._int_field(payload, "max_side", 0, 16, 1_000_000)
        if not self.lock.acquire(timeout=self.limits.busy_timeout):
            raise RequestError(503, "the server is busy with other colourings; try again in a moment")
        try:
            start = time.perf_counter()
            rgb = self.read_picture(decode_base64(payload.get("image"), "image"), "picture")
            full_height, full_width = rgb.shape[:2]
            notes = []
            hints = self.build_hints(payload, full_height, full_width, notes)
            if max_side is not None:  # a quick preview: the picture and its hints, shrunk alike
                rgb = sampling.fit_within(rgb, max_side)
                if hints and "hint_mask" in hints and rgb.shape[:2] != (full_height, full_width):
                    hints = hints_lib.resize_hints(hints, *rgb.shape[:2])
            height, width = rgb.shape[:2]
            z = sampling.random_sweep(variants, self.generator.z_dim, seed)
            if only is not None:
                z = z[only:only + 1]
            try:
                images = sampling.colorize(self.generator, rgb, z, hints)
            except ValueError as e:  # hints the model cannot take (checked above, but said clearly)
                raise RequestError(400, str(e)) from None
            encoded = [base64.b64encode(png_bytes(image)).decode("ascii") for image in images]
            seconds = time.perf_counter() - start
        finally:
            self.lock.release()
        log.info("coloured a %dx%d picture at %dx%d, %d variant(s), seed %d, in %.2f s", full_width,
                 full_height, width, height, len(z), seed, seconds)
        return {"width": width, "height": height, "full_width": full_width, "full_height": full_height,
                "seed": seed, "first_variant": only or 0, "variants": encoded, "warnings": notes,
                "seconds": round(seconds, 3)}


class AppHandler(BaseHTTPRequestHandler):
    """Routes requests to the server's :class:`ColorizeService`; answers errors as JSON."""

    server_version = "anime_colorize"
    sys_version = ""

    # --- responses ----------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", _CSP)
        self.send_header("Referrer-Policy", "no-referrer")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: dict) -> None:
        self._send(status, json.dumps(data).encode("utf-8"), "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": message, "status": status})

    def log_message(self, format, *args):  # noqa: A002  (the base class's signature)
        log.debug("%s %s", self.address_string(), format % args)

    # --- routing -------------------------------------------------------------------------------
    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            return self._static("index.html")
        if path.startswith("/static/"):
            return self._static(path[len("/static/"):])
        if path == "/api/info":
            return self._json(200, self.server.service.info())
        if path == "/favicon.ico":
            return self._static("favicon.svg")
        if path in _POST_PATHS:
            return self._error(405, f"{path} takes POST")
        return self._error(404, f"not found: {path}")

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        if path not in _POST_PATHS:
            return self._error(404, f"no POST endpoint {path}")
        try:
            payload = self._read_json()
            result = getattr(self.server.service, _POST_PATHS[path])(payload)
        except RequestError as e:
            log.info("%s refused (%d): %s", path, e.status, e.message)
            return self._error(e.status, e.message)
        except MemoryError:
            log.exception("%s ran out of memory", path)
            return self._error(507, "the server ran out of memory for this picture; try a smaller one")
        except Exception:  # a bug or an environment failure: logged in full here, never sent out
            log.exception("%s failed", path)
            return self._error(500, "internal error in the server; its log has the details")
        return self._json(200, result)

    def _read_json(self) -> dict:
        limit = self.server.service.limits.max_upload_bytes
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
        body = self.rfile.read(length)
        if len(body) < length:
            raise RequestError(400, "the request body ended early")
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise RequestError(400, f"the request is not valid JSON ({e})") from None
        if not isinstance(payload, dict):
            raise RequestError(400, "the request must be a JSON object")
        return payload

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

    def __init__(self, address, service: ColorizeService):
        self.service = service
        super().__init__(address, AppHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"


def build_parser() -> argparse.ArgumentParser:
    from anime_colorize import cli_common

    parser = argparse.ArgumentParser(prog="python -m anime_colorize.app",
                                     description=cli_common.summary_line(__doc__))
    parser.add_argument("--model", required=True, help="generator.keras, a saved_model folder, or a run folder")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: %(default)s, this computer only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)s; 0 picks a free one)")
    parser.add_argument("--max-upload-mb", type=float, default=32.0,
                        help="largest request in MB (the picture, hint layer and reference, base64-encoded: "
                             "about 4/3 of the files' sizes) (default: %(default)s)")
    parser.add_argument("--max-pixels", type=int, default=16_000_000,
                        help="largest picture in pixels, read from the header before decoding "
                             "(default: %(default)s)")
    parser.add_argument("--max-variants", type=int, default=8,
                        help="most noise variants per colouring (default: %(default)s)")
    parser.add_argument("--busy-timeout", type=float, default=120.0,
                        help="seconds a request waits for a running colouring before 'busy' (default: %(default)s)")
    parser.add_argument("--unsafe", action="store_true",
                        help="allow a .keras file to run stored code (only for files you trust)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from anime_colorize import cli_common
    cli_common.quiet_tensorflow()

    cli_common.setup_logging(args.verbose)
    from anime_colorize.data.io import allow_max_pixels
    from anime_colorize.export import load_generator

    if not 0 <= args.port <= 65535:
        return cli_common.fail("--port must be between 0 and 65535")
    if not (args.max_upload_mb > 0 and math.isfinite(args.max_upload_mb)):
        return cli_common.fail("--max-upload-mb must be a positive number")
    for flag, value in (("--max-pixels", args.max_pixels), ("--max-variants", args.max_variants)):
        if value < 1:
            return cli_common.fail(f"{flag} must be at least 1")
    if args.busy_timeout < 0:
        return cli_common.fail("--busy-timeout must be at least 0")
    allow_max_pixels(args.max_pixels)
    try:
        generator = load_generator(args.model, safe_mode=not args.unsafe)
    except (FileNotFoundError, ValueError) as e:
        return cli_common.fail(cli_common.describe(e).splitlines()[0])
    limits = Limits(int(args.max_upload_mb * 2**20), args.max_pixels, args.max_variants, args.busy_timeout)
    service = ColorizeService(generator, limits, model_name=args.model)
    try:
        server = AppServer((args.host, args.port), service)
    except OSError as e:
        return cli_common.fail(f"cannot listen on {args.host}:{args.port}: {cli_common.describe(e)}")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s: anyone who can reach this address can use the page", args.host)
    hints = ", ".join(generator.hint_kinds) or "none"
    print(f"serving {args.model} ({generator.input_kind} input, hints: {hints}) at {server.url}  "
          "(Ctrl+C stops)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
