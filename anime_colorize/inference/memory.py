"""Memory: what colouring a picture costs, and a budget that work reserves before it starts.

The page's server promises a peak memory (``--max-memory-mb``). It keeps it by estimating,
before any pixel is decoded (sizes come from file headers), the peak bytes each piece of
work needs above the process's baseline (:class:`ColouringCost`), and by reserving that
from one :class:`MemoryBudget` shared by all its threads: work that can never fit is
refused (the server answers 413), work that must wait for others waits (then 503).

The per-pixel constants below are measured peaks of the inference path (decoding, hints,
the prepared input, one full-size colouring at a time, its PNG), rounded up; see
``tests/test_app_memory.py`` for the check against a real server's peak RSS.
"""
from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from anime_colorize.export.loading import LoadedGenerator

# Peak bytes per full-resolution pixel of each step, measured on 4000 x 4000 pictures
# (RGBA noise, the worst case for decoding and PNG size) and rounded up.
DECODE_BYTES_PER_PIXEL = 40      # the upload decoded to float RGB, alpha composited, its lightness
STROKES_BYTES_PER_PIXEL = 96     # a stroke layer decoded, turned into full-size hints, pooled to the working size
REFERENCE_BYTES_PER_PIXEL = 24   # a reference picture decoded, its histogram counted by bands
RENDER_BYTES_PER_PIXEL = 24      # one colouring: float RGB, uint8, the PNG being encoded
PNG_BYTES_PER_PIXEL = 6          # a finished colouring kept for the answer: PNG (at worst ~3 B/px) in base64
REQUEST_BYTES_PER_BYTE = 3       # a request body: its bytes, the parsed JSON's strings, decoded base64
# Flat mode (regions), per full-resolution pixel, measured on 1414 x 2000 manga pages (line art
# and gray) and a 2000 x 2000 grid of 28,000 regions with 400,000 specks, rounded up:
SEGMENT_BYTES_PER_PIXEL = 104      # the prepared input and its segmentation (distance transforms, labels),
                                   # the label map encoded as PNG (gray pages: 90-99 measured, line art 52)
REGIONS_KEPT_BYTES_PER_PIXEL = 40  # the regions kept while the variants are rendered: labels, drawing, ink
FLAT_RENDER_BYTES_PER_PIXEL = 144  # one flat colouring: the prediction at full size, pooling, the layers
LAYER_FILES_BYTES_PER_PIXEL = 160  # its layer PNGs and PSD being encoded (the page's downloads, in base64)
REGION_MAP_BYTES_PER_PIXEL = 8     # the page's region map kept for the answer: PNG (at worst 3 B/px) in base64
RGB_BYTES_PER_PIXEL = 12           # a decoded picture kept as float32 RGB
# ... and, whatever the size, the per-region histogram median's counters (regions.flats._MAX_CELLS)
FLAT_FIXED_BYTES = 160 * 2**20
# The network's peak per pixel of its (padded) working shape and per (input, z) pair, when
# it is not measured for the loaded model: the U-Nets of this package at 16 filters.
NETWORK_BYTES_PER_PIXEL = 4096
# Kept free of reservations: the allocator's slack, HTTP buffers, log records.
SAFETY_BYTES = 128 * 2**20
UNLIMITED = 2**62  # the total of a budget that never refuses


def rss_bytes() -> int:
    """This process's resident memory now (Linux /proc; 0 where unknown)."""
    return _status_kb("VmRSS") * 1024


def peak_rss_bytes() -> int:
    """This process's peak resident memory so far (Linux /proc; 0 where unknown)."""
    return _status_kb("VmHWM") * 1024


def reset_peak_rss() -> bool:
    """Starts a new peak (Linux: /proc/self/clear_refs); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measure_network(generator: LoadedGenerator, working_size: int | None = None) -> float:
    """The network's peak memory per working pixel of one (input, z) pair, in bytes: one
    call on a square input at the working size, measured as this process's peak RSS above
    its RSS before (which also warms the model up). At least half the default figure, which
    it is where the peak cannot be measured."""
    import numpy as np

    from anime_colorize import sampling

    side = sampling.resolve_working_size(generator, working_size)
    z = sampling.random_sweep(1, generator.z_dim)
    model_input = np.zeros((side, side, 1), np.float32)
    sampling.predict_working(generator, [model_input], z, None, 1, side)  # traced once, outside the measure
    if not reset_peak_rss():
        return float(NETWORK_BYTES_PER_PIXEL)
    before = rss_bytes()
    sampling.predict_working(generator, [model_input], z, None, 1, side)
    pixels = np.prod(sampling.padded_shape((side, side), generator.stride))
    return max(NETWORK_BYTES_PER_PIXEL / 2, (peak_rss_bytes() - before) / float(pixels))


def _status_kb(field: str) -> int:
    try:
        with open(f"/proc/{os.getpid()}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass(frozen=True)
class ColouringCost:
    """Peak bytes of one colouring request above the baseline, from sizes alone.

    ``network_bytes_per_pixel``: what the network takes per working-shape pixel of one
    (input, z) pair, measured for the loaded model (:func:`measure_network`).
    """

    network_bytes_per_pixel: float

    def bytes(self, input_pixels: int, output_pixels: int, variants: int, working_pixels: int,
              batch: int, stroke_pixels: int = 0, reference_pixels: int = 0, render: RenderCost | None = None) -> int:
        """Peak of: decoding the input (and its stroke layer and reference) at full size,
        the network on ``batch`` pairs at the working shape, and ``variants`` colourings of
        ``output_pixels``, rendered one at a time and kept as PNG. ``render``: what the output
        mode's rendering takes (:class:`RenderCost`; default: a smooth colouring)."""
        render = render or RenderCost()
        before = (DECODE_BYTES_PER_PIXEL * input_pixels + STROKES_BYTES_PER_PIXEL * stroke_pixels
                  + REFERENCE_BYTES_PER_PIXEL * reference_pixels)
        network = self.network_bytes_per_pixel * working_pixels * batch
        after = (render.bytes_per_pixel * output_pixels + render.fixed_bytes
                 + PNG_BYTES_PER_PIXEL * output_pixels * variants)
        return int(before + network + after)


@dataclass(frozen=True)
class RenderCost:
    """What an output mode takes to render its colourings of one picture, above the prepared
    input: ``bytes_per_pixel`` of the output (its work before the first colouring and the peak
    of one colouring, with its extra files where asked) and ``fixed_bytes`` whatever the size.
    The default is the smooth mode's: one colouring as float RGB, uint8 and PNG."""

    bytes_per_pixel: float = RENDER_BYTES_PER_PIXEL
    fixed_bytes: int = 0


class MemoryBudget:
    """``total`` bytes that concurrent work reserves before it starts (thread-safe). Work
    may reserve in steps (a request's body, then its colouring): what one thread already
    holds counts against what it may still take."""

    def __init__(self, total: int) -> None:
        self.total = max(0, int(total))
        self.used = 0
        self._changed = threading.Condition()
        self._mine = threading.local()

    def held(self) -> int:
        """Bytes the calling thread holds now."""
        return getattr(self._mine, "bytes", 0)

    def fits(self, nbytes: int) -> bool:
        """Whether ``nbytes`` more could ever be held by the calling thread (with no other
        work running)."""
        return self.held() + nbytes <= self.total

    @contextlib.contextmanager
    def reserve(self, nbytes: int, timeout: float) -> Iterator[None]:
        """Holds ``nbytes`` of the budget for the ``with`` block, waiting up to ``timeout``
        seconds for other work to free it. Raises MemoryBudgetExceeded if it can never fit,
        TimeoutError if it did not fit in time."""
        nbytes = int(nbytes)
        if not self.fits(nbytes):
            raise MemoryBudgetExceeded(self.held() + nbytes, self.total)
        with self._changed:
            if not self._changed.wait_for(lambda: self.used + nbytes <= self.total, timeout):
                raise TimeoutError("the memory budget is taken by other work")
            self.used += nbytes
        self._mine.bytes = self.held() + nbytes
        try:
            yield
        finally:
            self._mine.bytes = self.held() - nbytes
            with self._changed:
                self.used -= nbytes
                self._changed.notify_all()


class MemoryBudgetExceeded(Exception):
    """Work that needs more than the whole budget."""

    def __init__(self, needed: int, total: int) -> None:
        super().__init__(f"needs about {needed / 2**20:,.0f} MB, more than the {total / 2**20:,.0f} MB budget")
        self.needed = needed
        self.total = total
