"""``python -m anime_colorize.sample``: colourings of drawings for different noise z.

    # a 5x5 grid of one drawing, random z (or --sweep segments: each row moves one part of z)
    python -m anime_colorize.sample --model runs/x/generator.keras --input face.png --grid 5x5 --out grid.png
    # K colourings of every picture of a folder (or of one file) at full resolution
    python -m anime_colorize.sample --model runs/x/saved_model --input faces/ --num-samples 4 --out colored/

Colour inputs are reduced to their lightness first. Batch mode writes ``<stem>_<k>.png``
(``<stem> (2)_<k>.png`` and so on where inputs share a stem, e.g. ``a.png`` and ``sub/a.jpg``)
and skips unreadable inputs, naming each with its reason.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from anime_colorize import cli_common

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
    parser.add_argument("--model", required=True, help="generator.keras, a saved_model folder, or a run folder")
    parser.add_argument("--input", required=True, help="an image file or a folder of images")
    parser.add_argument("--out", required=True, help="grid PNG (grid mode) or output folder (batch mode)")
    parser.add_argument("--grid", type=parse_grid, default=None, help="ROWSxCOLS grid of one drawing (default 5x5)")
    parser.add_argument("--num-samples", type=int, default=None,
                        help="batch mode: K colourings per input, written as <stem>_<k>.png")
    parser.add_argument("--sweep", choices=("random", "segments"), default="random",
                        help="grid z: independent random draws, or segments of z moved through offsets")
    parser.add_argument("--span", type=float, default=2.0, help="offset range for --sweep segments")
    parser.add_argument("--tile-size", type=int, default=256, help="longest side of each grid tile in pixels")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random z")
    parser.add_argument("--unsafe", action="store_true",
                        help="allow a .keras file to run stored code (only for files you trust)")
    parser.add_argument("--max-pixels", type=int, default=64_000_000,
                        help="skip (batch mode) or refuse (grid mode) images with more pixels than this, read "
                             "from the file header before decoding: a guard against decompression bombs "
                             "(default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def run_grid(generator, input_path: Path, out: Path, rows: int, cols: int, args) -> None:
    from anime_colorize import sampling
    from anime_colorize.data.io import read_image, write_image

    rgb = sampling.fit_within(read_image(input_path, max_pixels=args.max_pixels), args.tile_size)
    if args.sweep == "segments":
        z = sampling.segment_sweep(rows, cols, generator.z_dim, args.span)
    else:
        z = sampling.random_sweep(rows * cols, generator.z_dim, args.seed)
    colourings = sampling.colorize(generator, rgb, z)
    write_image(out, sampling.make_grid(colourings, rows, cols))
    print(f"wrote {out} ({rows}x{cols}, {args.sweep} sweep)")


class OutputNames:
    """Output stems for batch mode: an input's own stem, or ``<stem> (2)``, ``<stem> (3)``, ...
    where an earlier input already took it (compared case-insensitively, for case-insensitive
    file systems), so no output overwrites another."""

    def __init__(self):
        self.taken = set()

    def stem_for(self, path) -> str:
        base = Path(path).stem
        stem, n = base, 1
        while stem.casefold() in self.taken:
            n += 1
            stem = f"{base} ({n})"
        if n > 1:
            log.info("%s: written as '%s_<k>.png' ('%s' is taken by another input)", path, stem, base)
        self.taken.add(stem.casefold())
        return stem


def run_batch(generator, inputs: list, out_dir: Path, count: int, args) -> int:
    """Colours every input; returns the number of inputs that could not be read."""
    from tqdm.auto import tqdm

    from anime_colorize import sampling
    from anime_colorize.data.io import read_image_or_none, write_image

    z = sampling.random_sweep(count, generator.z_dim, args.seed)
    failed = 0
    names = OutputNames()
    for path in tqdm(inputs, desc="colouring", unit="img", disable=args.quiet):
        rgb, reason = read_image_or_none(path, max_pixels=args.max_pixels)
        if rgb is None:
            log.warning("skipped %s: %s", path, reason)
            failed += 1
            continue
        stem = names.stem_for(path)
        for k, image in enumerate(sampling.colorize(generator, rgb, z)):
            write_image(out_dir / f"{stem}_{k}.png", image)
    if failed < len(inputs):
        print(f"wrote {(len(inputs) - failed) * count} images to {out_dir}"
              + (f"; skipped {failed} unreadable inputs (listed above with their reasons)" if failed else ""))
    return failed


def main(argv=None) -> int:
    cli_common.quiet_tensorflow()
    args = build_parser().parse_args(argv)
    cli_common.setup_logging()
    from anime_colorize.data.io import allow_max_pixels, find_images
    from anime_colorize.export import load_generator

    if args.grid is not None and args.num_samples is not None:
        return cli_common.fail("use either --grid (one drawing) or --num-samples (batch mode), not both")
    if args.num_samples is not None and args.num_samples < 1:
        return cli_common.fail("--num-samples must be at least 1")
    if args.max_pixels < 1:
        return cli_common.fail("--max-pixels must be at least 1")
    allow_max_pixels(args.max_pixels)
    input_path, out = Path(args.input), Path(args.out)
    try:
        inputs = find_images(input_path)
        generator = load_generator(args.model, safe_mode=not args.unsafe)
    except (FileNotFoundError, ValueError) as e:
        return cli_common.fail(cli_common.describe(e).splitlines()[0])
    if args.num_samples is None and input_path.is_file():
        rows, cols = args.grid or (5, 5)
        try:
            run_grid(generator, input_path, out, rows, cols, args)
        except (ValueError, OSError) as e:  # ImageReadError is a ValueError
            return cli_common.fail(cli_common.describe(e))
        return 0
    if args.grid is not None:
        return cli_common.fail("--grid takes one image file; for a folder use --num-samples")
    try:
        failed = run_batch(generator, inputs, out, args.num_samples or 1, args)
    except (ValueError, OSError) as e:  # an output that cannot be written: full disk, --out a file, ...
        return cli_common.fail(cli_common.describe(e))
    if failed == len(inputs):
        what = (f"{input_path} could not be read (reason above)" if input_path.is_file()
                else f"none of the {failed} images in {input_path} could be read (reasons above)")
        return cli_common.fail(f"nothing written: {what}", code=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
