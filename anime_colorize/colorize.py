"""``python -m anime_colorize.colorize``: colours drawings, pages, folders and manga chapters at full resolution.

    python -m anime_colorize.colorize --model M --input page.png --out page_color.png
    python -m anime_colorize.colorize --model M --input chapter.cbz --out chapter_color.cbz --skip-colour
    python -m anime_colorize.colorize --model M --input chapter.pdf --dpi 200 --out chapter_color/
    python -m anime_colorize.colorize --model M --input pages/ --out colored/ --reference key.png
    python -m anime_colorize.colorize --model M --input chapter/ --hints-dir hints/ --propagate --out colored/
    python -m anime_colorize.colorize --model M --input lines/ --hints-dir hints/ --out colored/
    python -m anime_colorize.colorize --model M --input line.png --hints hints.png --num-samples 4 --out variants/

The model says what it takes (gray pictures or line art, which hints) and is used that way:
a gray model sees each input's lightness and keeps it; a line-art model sees the drawing with
its paper whitened and lays the drawn lines back over the colour it predicts. Any input size
works: the network runs at its working size (rounded to what it needs) and the colour is
scaled back to the input's full resolution.

Hints (hint models only; giving them to a model without hints is an error):
* ``--hints FILE`` for a single input: a JSON file
  ``{"points": [{"x": 10, "y": 20, "rgb": [255, 0, 0], "size": 3}, ...]}`` in input pixel
  coordinates, or a PNG of the input's size with coloured strokes on a transparent background.
* ``--hints-dir DIR``: ``DIR/<stem>.json`` and / or ``DIR/<stem>.png`` for each input (both:
  points drawn over the strokes); inputs without one are coloured without spatial hints.
* ``--reference PICTURE --reference-mode histogram``: the reference's colour histogram for
  every input, a palette (one picture).
A model trained with blurred hints only (``--hints blur``) takes a PNG as a rough colouring
instead: faded toward white and blurred, as in training (deepcolor's hint).

Colours from a coloured key (any model; :mod:`anime_colorize.regions.matching`, issue #13):
``--reference KEY`` (a coloured picture of the character: a finished page, a character sheet,
a frame coloured earlier; any size) matches each drawing's regions to the key's, whatever
their pose, expression, size, position or mirroring; matched regions take the key's colours
(with its shading carried over), the model colours the rest, and hints override both. A
drawing the key matches badly is named with how many regions matched. ``--reference DIR``:
every region takes its best key among the folder's pictures (unreadable and gray ones are
skipped, each named). ``--propagate``: the inputs are coloured in order and each one's
colouring becomes a key for the next ones (with the last few), so a chapter whose first page
is coloured with hints keeps its colours. These colour regions: they use ``--mode flat``.

The network works at ``--working-size`` (default: the size the model was trained at);
larger is slower and shows more detail. ``--mode`` chooses what each colouring becomes:
``flat`` (the default for line-art models) gives each region between the lines one colour, the
hint inside it or else the prediction pooled over it, as a colourist flats a drawing
(``--shading`` multiplies in the network's shading; ``--layers`` also writes
``<name>_flat.png``, ``<name>_shade.png`` and ``<name>_lines.png``, ``--psd`` a layered
``<name>.psd``, ``--regions-out`` the regions as ``<name>_regions.png``); ``smooth`` (the
default for gray models) is the predicted colour, smoothly upsampled, under the input's own
lines and lightness.

Outputs: ``<stem>.png``, or ``<stem>_<k>.png`` for k < K with ``--num-samples K`` (one z list,
drawn from ``--seed``, shared by every input so a folder is coloured consistently). A single
input with ``--out NAME.png`` and one sample writes that file. An ``--out`` that is an input,
or a folder holding one, is refused, and files of an earlier run are kept unless
``--overwrite`` is given, all before any work starts. Folders are coloured in batches of
inputs of the same size, with a progress bar; unreadable inputs and bad hint files are
skipped, each named with its reason, and the exit code is 1 if anything was skipped.

Chapters (:mod:`anime_colorize.inference.chapters`): ``--input`` may be a ``.cbz``/``.zip``
archive or a ``.pdf`` (rendered at ``--dpi``; pypdfium2, the ``[pdf]`` extra), read one page
at a time, in natural order ("2" before "10"). Their pages keep their names (``vol 1/p2.jpg``
stays that, in the same image format) in an output folder, or in an archive when ``--out``
ends in ``.cbz``/``.zip`` (also for a folder input); the archive appears only when the run
ends, never half-written. ``--skip-colour`` passes pages already in colour through as they are.
Members that are not images are left out (named); members with unsafe paths, encrypted
members, and pages too large for ``--max-pixels`` are skipped (named; exit code 1); a corrupt
archive, an archive whose pages unpack to more than ``--max-archive-mb``, or an encrypted PDF
is refused (exit code 2) before anything is written.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from anime_colorize import cli_common
from anime_colorize.inference import flags

log = logging.getLogger("anime_colorize.colorize")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m anime_colorize.colorize",
                                     description=cli_common.summary_line(__doc__))
    flags.add_model_flags(parser)
    parser.add_argument("--input", required=True,
                        help="an image file, a folder of images (searched recursively), or a chapter: .cbz, .zip, .pdf")
    parser.add_argument("--out", required=True,
                        help="output folder, a .cbz/.zip archive, or an image file name for one input and one sample")
    parser.add_argument("--num-samples", type=int, default=1,
                        help="K colourings per input for different z, written as <stem>_<k>.png")
    flags.add_hint_flags(parser)
    flags.add_output_flags(parser)
    flags.add_picture_flags(parser)
    flags.add_chapter_flags(parser)
    return parser


def main(argv=None) -> int:
    cli_common.quiet_tensorflow()
    args = build_parser().parse_args(argv)
    cli_common.setup_logging()
    from anime_colorize.data.io import allow_max_pixels
    from anime_colorize.inference import chapters

    problem = flags.check_numbers(args)
    if problem:
        return cli_common.fail(problem)
    allow_max_pixels(args.max_pixels)
    input_path, out = Path(args.input), Path(args.out)
    try:
        chapter = chapters.open_chapter(input_path, max_pixels=args.max_pixels,
                                        max_bytes=int(args.max_archive_mb * 2**20), dpi=args.dpi)
    except (FileNotFoundError, ValueError) as e:  # ChapterError is a ValueError
        return cli_common.fail(cli_common.describe(e).splitlines()[0])
    with chapter:
        return colour_chapter(args, chapter, input_path, out)


def colour_chapter(args: argparse.Namespace, chapter, input_path: Path, out: Path) -> int:
    """Colours the pages of ``chapter`` (an open :class:`~anime_colorize.inference.chapters.Chapter`)
    as the flags say; returns the exit code."""
    from anime_colorize import sampling
    from anime_colorize.inference.chapters import ARCHIVE_SUFFIXES, PDF_SUFFIXES
    from anime_colorize.inference.outputs import plan_outputs
    from anime_colorize.inference.runner import colour_files

    try:
        generator = flags.load_model(args)
    except (FileNotFoundError, ValueError) as e:
        return cli_common.fail(cli_common.describe(e).splitlines()[0])
    cli_common.log_device(generator.mixed_precision)
    pages = chapter.pages
    if not pages:
        return cli_common.fail(f"nothing written: {input_path} holds no page that can be read (reasons above)",
                               code=1)
    archive = out.suffix.lower() in ARCHIVE_SUFFIXES
    if out.suffix.lower() in PDF_SUFFIXES:
        return cli_common.fail(f"--out {out}: chapters are written as a folder or a .cbz/.zip archive, not a PDF")
    single_file = chapter.kind == "image" and args.num_samples == 1 and out.suffix.lower() in IMAGE_SUFFIXES
    if out.suffix.lower() in IMAGE_SUFFIXES and not single_file:
        several = (f"--num-samples {args.num_samples} writes several files" if chapter.kind == "image"
                   else f"{input_path} has several pages")
        return cli_common.fail(f"{several}: give a folder (or a .cbz) as --out")
    if args.hints and chapter.kind != "image":
        return cli_common.fail("--hints takes the hints of one input file; for a folder or a chapter use --hints-dir")
    keep_names = chapter.keeps_names or archive
    try:
        mode = flags.make_mode(args, generator)
        plan = plan_outputs([page.key for page in pages], out, args.num_samples, single_file=single_file,
                            tails=mode.tails(), overwrite=args.overwrite, archive=archive,
                            names={page.key: page.name for page in pages} if keep_names else None,
                            protect=chapter.files)
        hint_sources = flags.hint_sources(args, generator, input_path)
    except ValueError as e:  # OutputError, flags that cannot work (or not in this --mode), a bad --reference
        return cli_common.fail(str(e))
    z = sampling.random_sweep(args.num_samples, generator.z_dim, args.seed)
    try:
        report = colour_files(generator, pages, plan, z, mode=mode, hint_sources=hint_sources,
                              batch_size=args.batch_size, working_size=args.working_size,
                              max_pixels=args.max_pixels, progress=not args.quiet, skip_colour=args.skip_colour)
    except (ValueError, OSError) as e:  # an output that cannot be written: full disk, ...
        return cli_common.fail(cli_common.describe(e))
    skipped = len(report.skipped) + len(chapter.skipped)
    if report.coloured + report.passed == 0:
        return cli_common.fail(f"nothing written: none of the {len(pages) + len(chapter.skipped)} inputs could be "
                               "coloured (reasons above)", code=1)
    pages_word = "page" if chapter.keeps_names else "image"
    written = (report.coloured + report.passed) * args.num_samples
    where = out if single_file else f"{_count(written, pages_word)} to {out}"
    notes = []
    if args.skip_colour:
        notes.append(f"{report.passed} already in colour, passed through unchanged")
    if skipped:
        notes.append(f"skipped {_count(skipped, 'input')} (listed above with their reasons)")
    print(f"wrote {where}" + "".join(f"; {note}" for note in notes))
    return 1 if skipped else 0


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


if __name__ == "__main__":
    sys.exit(main())
