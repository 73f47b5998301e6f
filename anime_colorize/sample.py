"""``python -m anime_colorize.sample``: colourings of drawings for different noise z.

    # a 5x5 grid of one drawing, random z (or --sweep segments: each row moves one part of z)
    python -m anime_colorize.sample --model runs/x/generator.keras --input face.png --grid 5x5 --out grid.png
    # K colourings of every picture of a folder (or of one file) at full resolution
    python -m anime_colorize.sample --model runs/x/saved_model --input faces/ --num-samples 4 --out colored/

Colour inputs are reduced to their lightness first. Batch mode is the ``colorize`` command's
loop (:mod:`anime_colorize.inference.runner`) without hints: it writes ``<stem>_<k>.png``
(``<stem> (2)_<k>.png`` and so on where inputs share a stem, e.g. ``a.png`` and ``sub/a.jpg``)
and skips unreadable inputs, naming each with its reason (the exit code is then 1, as for
``colorize``). Neither mode writes over an input, and files of an earlier run are kept
unless ``--overwrite`` is given.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from anime_colorize import cli_common
from anime_colorize.inference import flags

if TYPE_CHECKING:
    from anime_colorize.export.loading import LoadedGenerator

log = logging.getLogger("anime_colorize.sample")


def parse_grid(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--grid takes ROWSxCOLS such as 5x5, not '{text}'") from None
    if rows < 1 or cols < 1:
        raise argparse.ArgumentTypeError("--grid needs at least 1x1")
    return rows, cols


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m anime_colorize.sample",
                                     description=cli_common.summary_line(__doc__))
    flags.add_model_flags(parser)
    parser.add_argument("--input", required=True, help="an image file or a folder of images")
    parser.add_argument("--out", required=True, help="grid PNG (grid mode) or output folder (batch mode)")
    parser.add_argument("--grid", type=parse_grid, default=None, help="ROWSxCOLS grid of one drawing (default 5x5)")
    parser.add_argument("--num-samples", type=int, default=None,
                        help="batch mode: K colourings per input, written as <stem>_<k>.png")
    parser.add_argument("--sweep", choices=("random", "segments"), default="random",
                        help="grid z: independent random draws, or segments of z moved through offsets")
    parser.add_argument("--span", type=float, default=2.0, help="offset range for --sweep segments")
    parser.add_argument("--tile-size", type=int, default=256, help="longest side of each grid tile in pixels")
    flags.add_output_flags(parser)
    flags.add_picture_flags(parser, what="skip (batch mode) or refuse (grid mode) images", hint_pictures=False)
    return parser


def run_grid(generator: LoadedGenerator, input_path: Path, out: Path, rows: int, cols: int,
             args: argparse.Namespace) -> None:
    """A ROWS x COLS grid of one drawing (shrunk to --tile-size), one z per tile, each tile
    the output mode's picture."""
    from anime_colorize import sampling
    from anime_colorize.data.io import read_image, write_image
    from anime_colorize.inference.modes import Page
    from anime_colorize.inference.outputs import PICTURE

    rgb = sampling.fit_within(read_image(input_path, max_pixels=args.max_pixels), args.tile_size)
    # The grid is one picture held in memory: --max-pixels bounds it as it bounds the inputs,
    # before any tile is coloured (1000x1000 tiles would be a million colourings and gigabytes).
    height, width = sampling.grid_shape(rows, cols, *rgb.shape[:2])
    if height * width > args.max_pixels:
        raise ValueError(f"--grid {rows}x{cols} of {rgb.shape[1]}x{rgb.shape[0]} px tiles makes a {width}x{height} px "
                         f"picture, more than --max-pixels {args.max_pixels:,}; use a smaller --grid or --tile-size")
    if args.sweep == "segments":
        z = sampling.segment_sweep(rows, cols, generator.z_dim, args.span)
    else:
        z = sampling.random_sweep(rows * cols, generator.z_dim, args.seed)
    mode = flags.make_mode(args, generator)
    if mode.tails():
        raise ValueError("--layers, --psd and --regions-out write files beside each colouring: use batch mode "
                         "(--num-samples), not a grid")
    page = Page(input_path.name, sampling.prepare_input(rgb, generator.input_kind), generator.input_kind)
    colors = sampling.predict_working(generator, [page.model_input], z, None, args.batch_size, args.working_size)[0]
    state = mode.begin(page)
    tiles = [mode.render(page, sampling.PredictedColors(colors[k], page.size), state)[PICTURE] for k in range(len(z))]
    write_image(out, sampling.make_grid(np.stack(tiles), rows, cols))
    print(f"wrote {out} ({rows}x{cols}, {args.sweep} sweep)")


def run_batch(generator: LoadedGenerator, inputs: list, out_dir: Path, count: int, args: argparse.Namespace) -> int:
    """Colours every input; returns the number of inputs that could not be coloured."""
    from anime_colorize import sampling
    from anime_colorize.inference.outputs import plan_outputs
    from anime_colorize.inference.runner import colour_files

    mode = flags.make_mode(args, generator)
    plan = plan_outputs(inputs, out_dir, count, numbered=True, tails=mode.tails(), overwrite=args.overwrite)
    z = sampling.random_sweep(count, generator.z_dim, args.seed)
    report = colour_files(generator, inputs, plan, z, mode=mode, batch_size=args.batch_size,
                          working_size=args.working_size, max_pixels=args.max_pixels, progress=not args.quiet)
    failed = len(report.skipped)
    if report.coloured:
        print(f"wrote {report.coloured * count} images to {out_dir}"
              + (f"; skipped {failed} unreadable inputs (listed above with their reasons)" if failed else ""))
    return failed


def main(argv: Sequence[str] | None = None) -> int:
    cli_common.quiet_tensorflow()
    args = build_parser().parse_args(argv)
    cli_common.setup_logging()
    from anime_colorize.data.io import allow_max_pixels, find_images
    from anime_colorize.inference.outputs import plan_outputs

    if args.grid is not None and args.num_samples is not None:
        return cli_common.fail("use either --grid (one drawing) or --num-samples (batch mode), not both")
    problem = flags.check_numbers(args) or ("--tile-size must be at least 1" if args.tile_size < 1 else None)
    if problem:
        return cli_common.fail(problem)
    allow_max_pixels(args.max_pixels)
    input_path, out = Path(args.input), Path(args.out)
    try:
        inputs = find_images(input_path)
        generator = flags.load_model(args)
    except (FileNotFoundError, ValueError) as e:
        return cli_common.fail(cli_common.describe(e).splitlines()[0])
    cli_common.log_device(generator.mixed_precision)
    if args.num_samples is None and input_path.is_file():
        rows, cols = args.grid or (5, 5)
        try:
            plan_outputs(inputs, out, 1, single_file=True, overwrite=args.overwrite)
            run_grid(generator, input_path, out, rows, cols, args)
        except (ValueError, OSError) as e:  # OutputError and ImageReadError are ValueErrors
            return cli_common.fail(cli_common.describe(e))
        return 0
    if args.grid is not None:
        return cli_common.fail("--grid takes one image file; for a folder use --num-samples")
    try:
        failed = run_batch(generator, inputs, out, args.num_samples or 1, args)
    except (ValueError, OSError) as e:  # OutputError before any work; an output that cannot be written
        return cli_common.fail(cli_common.describe(e))
    if failed == len(inputs):
        what = (f"{input_path} could not be read (reason above)" if input_path.is_file()
                else f"none of the {failed} images in {input_path} could be read (reasons above)")
        return cli_common.fail(f"nothing written: {what}", code=1)
    return 1 if failed else 0  # as colorize: a run that skipped inputs did not do all it was asked


if __name__ == "__main__":
    sys.exit(main())
