"""Colouring files: the batch loop every command uses (``colorize``, ``sample``'s folders).

For each input, in order: read it (its pixel count checked before decoding), load its hints
(:class:`~anime_colorize.inference.hint_files.HintSources`), prepare it at full resolution
(:class:`~anime_colorize.inference.modes.Page`), and queue it. Consecutive inputs of one
working shape share network calls; then the output mode renders each z of each input, one
at a time (memory holds one full-size colouring, never K), and what it returns is written
atomically under the names of the :class:`~anime_colorize.inference.outputs.OutputPlan`.

Per-file isolation: any error in one input or its hint files (unreadable, too large, bad
JSON, a hint the model cannot take, even an unexpected one) skips that input with one
logged line ``skipped <path>: <reason>``; the others are coloured. Only a failure to write
(a full disk) stops the run, as an OSError for the command to report.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from anime_colorize import sampling
from anime_colorize.data.io import DEFAULT_MAX_PIXELS, ImageReadError, read_image, write_bytes_atomic, write_image
from anime_colorize.inference.modes import OutputMode, Page, make_mode
from anime_colorize.inference.outputs import PICTURE, OutputPlan

log = logging.getLogger(__name__)

# Inputs queued for one network call hold at most this many full-resolution pixels.
MAX_QUEUED_PIXELS = 16_000_000


@dataclass
class RunReport:
    """What a run did: inputs coloured, files written, and (path, reason) of each input skipped."""

    coloured: int = 0
    written: list = field(default_factory=list)
    skipped: list = field(default_factory=list)


def describe_error(error: BaseException) -> str:
    """One line for the user about ``error``, without a traceback."""
    if isinstance(error, ImageReadError):
        return error.reason
    if isinstance(error, OSError) and error.strerror:
        return error.strerror + (f": {error.filename}" if error.filename else "")
    if isinstance(error, MemoryError):
        return "not enough memory for this input"
    if isinstance(error, ValueError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def prepare_page(generator, path: Path, max_pixels: int, hint_sources=None) -> Page:
    """Input file -> its :class:`Page` (prepared input and hints at full resolution). Raises
    for anything wrong with the file or its hints; hint notes are logged naming the file."""
    rgb = read_image(path, max_pixels=max_pixels)
    hints = None
    if hint_sources is not None:
        notes: list[str] = []
        hints = hint_sources.for_input(path, rgb.shape[0], rgb.shape[1], notes)
        for note in notes:
            log.warning("%s", note)
        sampling.check_hints(generator, hints)
    model_input = sampling.prepare_input(rgb, generator.input_kind)
    return Page(path.name, model_input, generator.input_kind, hints, path)


def colour_files(generator, inputs: list, plan: OutputPlan, z: np.ndarray, *, mode: OutputMode | None = None,
                 hint_sources=None, batch_size: int = 8, working_size: int | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS, progress: bool = True) -> RunReport:
    """Colours every input file with each row of ``z`` (float32 (K, z_dim)) and writes the
    output ``mode``'s files (default: smooth) as ``plan`` names them. Inputs that cannot be
    coloured are skipped (see the module docstring). Returns a :class:`RunReport`; raises
    OSError only when an output cannot be written."""
    from tqdm.auto import tqdm

    mode = mode or make_mode()
    size = sampling.resolve_working_size(generator, working_size)
    report = RunReport()
    queue: list = []

    def skip(path, error: BaseException) -> None:
        log.debug("skipping %s", path, exc_info=error)
        log.warning("skipped %s: %s", path, describe_error(error))
        report.skipped.append((str(path), describe_error(error)))

    def flush() -> None:
        if not queue:
            return
        try:
            predicted = sampling.predict_working(generator, [p.model_input for p in queue], z,
                                                 [p.hints for p in queue], batch_size, size)
        except Exception as e:  # noqa: BLE001  (isolation: the batch's inputs are skipped, the run goes on)
            for page in queue:
                skip(page.path, e)
        else:
            for page, colors in zip(queue, predicted):
                _render_and_write(mode, page, colors.numpy(), plan, report, skip)
        bar.update(len(queue))
        queue.clear()

    with tqdm(total=len(inputs), desc="colouring", unit="img", disable=not progress) as bar:
        shape = None
        for path in map(Path, inputs):
            try:
                page = prepare_page(generator, path, max_pixels, hint_sources)
            except Exception as e:  # noqa: BLE001  (one bad file never stops the others)
                skip(path, e)
                bar.update(1)
                continue
            work = sampling.working_shape(page.size[0], page.size[1], size, generator.stride)
            queued_pixels = sum(p.model_input.size for p in queue)
            if work != shape or (len(queue) + 1) * len(z) > batch_size \
                    or queued_pixels + page.model_input.size > MAX_QUEUED_PIXELS:
                flush()
                shape = work
            queue.append(page)
        flush()
    return report


def _render_and_write(mode: OutputMode, page: Page, colors: np.ndarray, plan: OutputPlan, report: RunReport,
                      skip) -> None:
    """Renders each z of one input (colors: (K, h, w, C) at the working shape) and writes it."""
    path = page.path or Path(page.name)
    pictures = plan.pictures(path)
    if not plan.single_file and plan.stems[str(path)] != path.stem:
        log.info("%s: written as '%s' ('%s' is taken by another input)", path, pictures[0].name, path.stem)
    try:
        state = mode.begin(page)
    except Exception as e:  # noqa: BLE001
        skip(page.path, e)
        return
    for k, picture in enumerate(pictures):
        try:
            rendered = mode.render(page, sampling.PredictedColors(colors[k], page.size), state)
        except Exception as e:  # noqa: BLE001
            skip(page.path, e)
            return
        for tail, value in rendered.items():
            if tail != PICTURE and tail not in plan.tails:
                raise ValueError(f"output mode {mode.name!r} returned {tail!r}, which its tails() does not list")
            target = plan.layer(picture, tail)
            if isinstance(value, (bytes, bytearray)):
                write_bytes_atomic(target, bytes(value))
            elif callable(value):  # a writer of its own (a PSD, an RGBA layer)
                value(target)
            else:
                write_image(target, value)
            report.written.append(str(target))
    report.coloured += 1
