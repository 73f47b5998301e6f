"""``python -m anime_colorize.colorize``: colours drawings, pages and folders at full resolution.

    python -m anime_colorize.colorize --model M --input page.png --out page_color.png
    python -m anime_colorize.colorize --model M --input pages/ --out colored/ --reference ref.png
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
* ``--reference PICTURE``: the reference's colour histogram for every input, so one
  character keeps the same palette across pages.
A model trained with blurred hints only (``--hints blur``) takes a PNG as a rough colouring
instead: faded toward white and blurred, as in training (deepcolor's hint).

The network works at ``--working-size`` (default: the size the model was trained at);
larger is slower and shows more detail. ``--mode`` chooses what each colouring becomes
(``smooth``: the predicted colour under the input's own lines and lightness).

Outputs: ``<stem>.png``, or ``<stem>_<k>.png`` for k < K with ``--num-samples K`` (one z list,
drawn from ``--seed``, shared by every input so a folder is coloured consistently). A single
input with ``--out NAME.png`` and one sample writes that file. An ``--out`` that is an input,
or a folder holding one, is refused, and files of an earlier run are kept unless
``--overwrite`` is given, all before any work starts. Folders are coloured in batches of
inputs of the same size, with a progress bar; unreadable inputs and bad hint files are
skipped, each named with its reason, and the exit code is 1 if anything was skipped.
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
    parser.add_argument("--input", required=True, help="an image file or a folder of images (searched recursively)")
    parser.add_argument("--out", required=True,
                        help="output folder, or an image file name for one input and one sample")
    parser.add_argument("--num-samples", type=int, default=1,
                        help="K colourings per input for different z, written as <stem>_<k>.png")
    flags.add_hint_flags(parser)
    flags.add_output_flags(parser)
    flags.add_picture_flags(parser)
    return parser


def main(argv=None) -> int:
    cli_common.quiet_tensorflow()
    args = build_parser().parse_args(argv)
    cli_common.setup_logging()
    from anime_colorize import sampling
    from anime_colorize.data.io import allow_max_pixels, find_images
    from anime_colorize.inference.outputs import plan_outputs
    from anime_colorize.inference.runner import colour_files

    problem = flags.check_numbers(args)
    if problem:
        return cli_common.fail(problem)
    allow_max_pixels(args.max_pixels)
    input_path, out = Path(args.input), Path(args.out)
    try:
        inputs = find_images(input_path)
        generator = flags.load_model(args)
    except (FileNotFoundError, ValueError) as e:
        return cli_common.fail(cli_common.describe(e).splitlines()[0])
    single_file = input_path.is_file() and args.num_samples == 1 and out.suffix.lower() in IMAGE_SUFFIXES
    if input_path.is_file() and not single_file and out.suffix.lower() in IMAGE_SUFFIXES:
        return cli_common.fail(f"--num-samples {args.num_samples} writes several files: give a folder as --out")
    mode = flags.make_mode(args)
    try:
        plan = plan_outputs(inputs, out, args.num_samples, single_file=single_file, tails=mode.tails(),
                            overwrite=args.overwrite)
        hint_sources = flags.hint_sources(args, generator, input_path)
    except ValueError as e:  # OutputError, flags that cannot work, a bad --reference
        return cli_common.fail(str(e))
    z = sampling.random_sweep(args.num_samples, generator.z_dim, args.seed)
    try:
        report = colour_files(generator, inputs, plan, z, mode=mode, hint_sources=hint_sources,
                              batch_size=args.batch_size, working_size=args.working_size,
                              max_pixels=args.max_pixels, progress=not args.quiet)
    except (ValueError, OSError) as e:  # an output that cannot be written: full disk, ...
        return cli_common.fail(cli_common.describe(e))
    skipped = len(report.skipped)
    if report.coloured == 0:
        return cli_common.fail(f"nothing written: none of the {len(inputs)} inputs could be coloured "
                               "(reasons above)", code=1)
    where = out if single_file else f"{report.coloured * args.num_samples} images to {out}"
    print(f"wrote {where}" + (f"; skipped {skipped} inputs (listed above with their reasons)" if skipped else ""))
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
