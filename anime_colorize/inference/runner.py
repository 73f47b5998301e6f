"""Colouring files: the batch loop every command uses (``colorize``, ``sample``'s folders).

Inputs are files, or the pages of a chapter (:class:`~anime_colorize.inference.chapters.PageSource`:
an archive's members and a PDF's pages are had as files one at a time). For each input, in
order: read it (its pixel count checked before decoding), load its hints
(:class:`~anime_colorize.inference.hint_files.HintSources`), prepare it at full resolution
(:class:`~anime_colorize.inference.modes.Page`), and queue it. Consecutive inputs of one
working shape share network calls; then the output mode renders each z of each input, one
at a time (memory holds one full-size colouring, never K), and what it returns is written
under the names of the :class:`~anime_colorize.inference.outputs.OutputPlan`: atomically,
file by file, into a folder, or member by member into an archive renamed into place at the
end (:class:`~anime_colorize.inference.chapters.ArchiveWriter`). Outputs come in input order.

``skip_colour``: inputs already in colour (:mod:`~anime_colorize.inference.colour_check`) are
passed through unchanged: their file is copied as it is where the output keeps its kind
(same suffix), else the decoded picture is written losslessly in the output's kind.

Per-file isolation: any error in one input or its hint files (unreadable, too large, bad
JSON, a hint the model cannot take, even an unexpected one) skips that input with one
logged line ``skipped <path>: <reason>``; the others are coloured. Only a failure to write
(a full disk) stops the run, as an OSError for the command to report.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from anime_colorize import sampling
from anime_colorize.data.io import DEFAULT_MAX_PIXELS, ImageReadError, read_image
from anime_colorize.inference import colour_check
from anime_colorize.inference.chapters import ArchiveWriter, PageSource, file_source
from anime_colorize.inference.modes import OutputMode, Page, make_mode
from anime_colorize.inference.outputs import PICTURE, FolderWriter, OutputPlan

if TYPE_CHECKING:
    from anime_colorize.export.loading import LoadedGenerator
    from anime_colorize.inference.hint_files import HintSources

log = logging.getLogger(__name__)

# Inputs queued for one network call hold at most this many full-resolution pixels.
MAX_QUEUED_PIXELS = 16_000_000


@dataclass
class RunReport:
    """What a run did: inputs coloured, inputs already in colour passed through, files written,
    and (path, reason) of each input skipped."""

    coloured: int = 0
    passed: int = 0
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


def prepare_page(generator: LoadedGenerator, path: Path, max_pixels: int, hint_sources: HintSources | None = None,
                 rgb: np.ndarray | None = None) -> Page:
    """Input file -> its :class:`Page` (prepared input and hints at full resolution). ``rgb``:
    the file's picture when it is decoded already. Raises for anything wrong with the file or
    its hints; hint notes are logged naming the file."""
    if rgb is None:
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


def open_writer(plan: OutputPlan) -> ArchiveWriter | FolderWriter:
    """The sink of a plan's files: an :class:`ArchiveWriter` for an archive, else a
    :class:`FolderWriter`. Close it with ``close(keep)``."""
    return ArchiveWriter(plan.out) if plan.archive else FolderWriter()


def colour_files(generator: LoadedGenerator, inputs: list, plan: OutputPlan, z: np.ndarray, *,
                 mode: OutputMode | None = None,
                 hint_sources: HintSources | None = None, batch_size: int = 8, working_size: int | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS, progress: bool = True, skip_colour: bool = False) -> RunReport:
    """Colours every input (a path, or a :class:`PageSource` whose ``key`` the plan knows) with
    each row of ``z`` (float32 (K, z_dim)) and writes the output ``mode``'s files (default:
    smooth) as ``plan`` names them; with ``skip_colour``, inputs already in colour are passed
    through. Inputs that cannot be coloured are skipped (see the module docstring). Returns a
    :class:`RunReport`; raises OSError only when an output cannot be written. An archive output
    is put in place only if something was written, and never after an error."""
    from tqdm.auto import tqdm

    mode = mode or make_mode()
    size = sampling.resolve_working_size(generator, working_size)
    sources = [item if isinstance(item, PageSource) else file_source(item) for item in inputs]
    report = RunReport()
    queue: list = []  # (source, page, what holds its file) of inputs waiting for the network
    writer = open_writer(plan)
    bar: tqdm  # the progress bar, opened below; flush() advances it

    def skip(source: PageSource, error: BaseException) -> None:
        log.debug("skipping %s", source.label, exc_info=error)
        log.warning("skipped %s: %s", source.label, describe_error(error))
        report.skipped.append((source.label, describe_error(error)))

    def flush() -> None:
        if not queue:
            return
        try:
            predicted = sampling.predict_working(generator, [page.model_input for _, page, _ in queue], z,
                                                 [page.hints for _, page, _ in queue], batch_size, size)
        except Exception as e:  # noqa: BLE001  (isolation: the batch's inputs are skipped, the run goes on)
            for source, _, _ in queue:
                skip(source, e)
        else:
            for (source, page, _), colors in zip(queue, predicted):
                _render_and_write(mode, source, page, colors.numpy(), plan, writer, report, skip)
        bar.update(len(queue))
        while queue:
            queue.pop(0)[2].close()

    try:
        with tqdm(total=len(sources), desc="colouring", unit="img", disable=not progress) as bar:
            shape = None
            for source in sources:
                held = contextlib.ExitStack()  # the page's file, kept until its colourings are written
                try:
                    path = held.enter_context(source.open())
                    rgb = read_image(path, max_pixels=max_pixels)
                    in_colour = skip_colour and colour_check.is_in_colour(rgb)
                    page = None if in_colour else prepare_page(generator, path, max_pixels, hint_sources, rgb)
                except Exception as e:  # noqa: BLE001  (one bad file never stops the others)
                    held.close()
                    skip(source, e)
                    bar.update(1)
                    continue
                if page is None:
                    flush()  # outputs stay in input order
                    with held:
                        _pass_through(source, path, rgb, plan, writer, report)
                    bar.update(1)
                    continue
                del rgb
                work = sampling.working_shape(page.size[0], page.size[1], size, generator.stride)
                queued_pixels = sum(p.model_input.size for _, p, _ in queue)
                if work != shape or (len(queue) + 1) * len(z) > batch_size \
                        or queued_pixels + page.model_input.size > MAX_QUEUED_PIXELS:
                    flush()
                    shape = work
                queue.append((source, page, held))
            flush()
    except BaseException:
        for _, _, held in queue:
            held.close()
        writer.close(keep=False)
        raise
    writer.close(keep=report.coloured + report.passed > 0)
    return report


def _pass_through(source: PageSource, path: Path, rgb: np.ndarray, plan: OutputPlan, writer,
                  report: RunReport) -> None:
    """Writes an input already in colour as each of its pictures: its own file where the
    picture has its suffix, else its decoded picture (losslessly in PNG, or as the suffix says)."""
    for picture in plan.pictures(source.key):
        if picture.suffix.lower() == path.suffix.lower():
            writer.copy(picture, path)
        else:
            writer.write(picture, rgb)
        report.written.append(str(picture))
    log.info("%s is already in colour: passed through", source.label)
    report.passed += 1


def _render_and_write(mode: OutputMode, source: PageSource, page: Page, colors: np.ndarray, plan: OutputPlan,
                      writer, report: RunReport, skip) -> None:
    """Renders each z of one input (colors: (K, h, w, C) at the working shape) and writes it."""
    pictures = plan.pictures(source.key)
    if source.key in plan.renamed:
        log.info("%s: written as '%s' ('%s' is taken by another input)", source.label, pictures[0].name,
                 plan.renamed[source.key])
    try:
        state = mode.begin(page)
    except Exception as e:  # noqa: BLE001
        skip(source, e)
        return
    for k, picture in enumerate(pictures):
        try:
            rendered = mode.render(page, sampling.PredictedColors(colors[k], page.size), state)
        except Exception as e:  # noqa: BLE001
            skip(source, e)
            return
        for tail, value in rendered.items():
            if tail != PICTURE and tail not in plan.tails:
                raise ValueError(f"output mode {mode.name!r} returned {tail!r}, which its tails() does not list")
            target = plan.layer(picture, tail)
            writer.write(target, value)
            report.written.append(str(target))
    report.coloured += 1
