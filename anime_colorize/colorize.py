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

Outputs: ``<stem>.png``, or ``<stem>_<k>.png`` for k < K with ``--num-samples K`` (one z list,
drawn from ``--seed``, shared by every input so a folder is coloured consistently). A single
input with ``--out NAME.png`` and one sample writes that file. Folders are coloured in batches
of inputs of the same size, with a progress bar; unreadable inputs and bad hint files are
skipped, each named with its reason, and the exit code is 1 if anything was skipped.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from anime_colorize import cli_common

log = logging.getLogger("anime_colorize.colorize")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m anime_colorize.colorize",
                                     description=cli_common.summary_line(__doc__))
    parser.add_argument("--model", required=True, help="generator.keras, a saved_model folder, or a run folder")
    parser.add_argument("--input", required=True, help="an image file or a folder of images (searched recursively)")
    parser.add_argument("--out", required=True,
                        help="output folder, or an image file name for one input and one sample")
    parser.add_argument("--num-samples", type=int, default=1,
                        help="K colourings per input for different z, written as <stem>_<k>.png")
    hints = parser.add_argument_group("colour hints (models trained with --hints)")
    hints.add_argument("--hints", default=None, help="hint file for a single input: points .json or strokes .png")
    hints.add_argument("--hints-dir", default=None, help="folder of <stem>.json / <stem>.png hint files")
    hints.add_argument("--reference", default=None, help="a colour picture whose palette every output takes")
    parser.add_argument("--seed", type=int, default=0, help="seed of the z list")
    parser.add_argument("--batch-size", type=int, default=8, help="(picture, z) pairs per network call")
    parser.add_argument("--unsafe", action="store_true",
                        help="allow a .keras file to run stored code (only for files you trust)")
    parser.add_argument("--max-pixels", type=int, default=64_000_000,
                        help="skip images with more pixels than this, read from the file header before "
                             "decoding (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def load_hint_file(path: Path, height: int, width: int, blur: bool = False) -> dict:
    """A user hint file for an input of (height, width) -> hints with B = 1.

    ``blur``: a PNG is a rough colouring for a model trained with blurred hints only
    (deepcolor's kind): it is faded toward white and blurred as in training. Raises ValueError
    naming the file for a bad file or a stroke image of another size.
    """
    from anime_colorize.data import hints as hints_lib
    from anime_colorize.data.io import read_rgba

    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return hints_lib.hints_from_points_json(data, height, width)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError) as e:
            raise ValueError(f"{path}: not a usable points file: {cli_common.describe(e)}") from e
    if suffix in IMAGE_SUFFIXES:
        rgba = read_rgba(path)
        if rgba.shape[:2] != (height, width):
            raise ValueError(f"{path}: the stroke image is {rgba.shape[1]}x{rgba.shape[0]}, the input "
                             f"{width}x{height}; hint images must be the input's size")
        if rgba[..., 3].min() >= 1.0:
            raise ValueError(f"{path}: the stroke image has no transparent pixels; draw strokes on a "
                             "transparent layer (RGBA PNG)")
        return hints_lib.hints_from_colouring_png(rgba) if blur else hints_lib.hints_from_stroke_png(rgba)
    raise ValueError(f"{path}: hint files are .json (points) or .png (strokes)")


def merge_hints(first: dict | None, second: dict | None) -> dict | None:
    """Spatial hints of ``second`` drawn over ``first`` (where its mask is set); hint_hist
    from whichever has one."""
    import tensorflow as tf

    if first is None or second is None:
        return first or second
    mask = second["hint_mask"]
    merged = {"hint_ab": tf.where(mask > 0, second["hint_ab"], first["hint_ab"]),
              "hint_mask": tf.maximum(first["hint_mask"], mask)}
    hist = second.get("hint_hist")
    if hist is None or not bool(tf.reduce_any(hist > 0)):
        hist = first.get("hint_hist")
    if hist is not None:
        merged["hint_hist"] = hist
    return merged


def blurred_hints_only(generator) -> bool:
    """True for a model trained with blurred colour hints and no exact ones: its stroke
    images are faded and blurred as in training."""
    kinds = set(generator.hint_kinds)
    return "blur" in kinds and not kinds & {"points", "scribble"}


def hints_for(path: Path, height: int, width: int, args, reference, blur: bool = False) -> dict | None:
    """The hints of one input: its hint file(s) and the reference histogram, or None."""
    found = []
    if args.hints:
        found.append(Path(args.hints))
    if args.hints_dir:
        found += [Path(args.hints_dir) / f"{path.stem}{suffix}" for suffix in (".png", ".json")]
        found = [p for p in found if p.exists()]
        if not found:
            log.info("%s: no hint file in %s", path.name, args.hints_dir)
    hints = None
    for hint_path in found:  # strokes first, points drawn over them
        hints = merge_hints(hints, load_hint_file(hint_path, height, width, blur))
    if reference is not None:
        hints = dict(hints or {}, hint_hist=reference)
    return hints


def output_paths(stem: str, out: Path, count: int, single_file: bool) -> list:
    if single_file:
        return [out]
    return [out / f"{stem}.png"] if count == 1 else [out / f"{stem}_{k}.png" for k in range(count)]


def check_arguments(args, generator, input_path: Path) -> str | None:
    """A message for arguments that cannot work with this model and input, else None."""
    wants_hints = [flag for flag, value in (("--hints", args.hints), ("--hints-dir", args.hints_dir),
                                            ("--reference", args.reference)) if value]
    if wants_hints and not generator.hint_kinds:
        return (f"{', '.join(wants_hints)} given, but {args.model} was trained without colour hints "
                f"(--hints none); colour without them, or use a model trained with --hints mix")
    if args.hints and input_path.is_dir():
        return "--hints takes the hints of one input file; for a folder use --hints-dir"
    if args.hints and not Path(args.hints).is_file():
        return f"hint file not found: {args.hints}"
    if args.hints_dir and not Path(args.hints_dir).is_dir():
        return f"--hints-dir is not a folder: {args.hints_dir}"
    if args.num_samples < 1:
        return "--num-samples must be at least 1"
    if args.batch_size < 1:
        return "--batch-size must be at least 1"
    if args.max_pixels < 1:
        return "--max-pixels must be at least 1"
    return None


def colour_all(generator, inputs: list, out: Path, single_file: bool, args, reference) -> int:
    """Colours every input, batching consecutive inputs of one working shape; returns the
    number of inputs skipped."""
    from tqdm.auto import tqdm

    from anime_colorize import sampling
    from anime_colorize.data.io import read_image_or_none, write_image
    from anime_colorize.sample import OutputNames

    z = sampling.random_sweep(args.num_samples, generator.z_dim, args.seed)
    names = OutputNames()
    skipped = 0
    pending = []  # (path, rgb, hints) sharing one working shape

    def flush():
        if not pending:
            return
        results = sampling.colorize_batch(generator, [p[1] for p in pending], z, [p[2] for p in pending],
                                          batch_size=args.batch_size)
        for (path, _, _), images in zip(pending, results):
            for target, image in zip(output_paths(names.stem_for(path), out, len(z), single_file), images):
                write_image(target, image)
        bar.update(len(pending))
        pending.clear()

    with tqdm(total=len(inputs), desc="colouring", unit="img", disable=args.quiet) as bar:
        shape = None
        for path in map(Path, inputs):
            rgb, reason = read_image_or_none(path, max_pixels=args.max_pixels)
            if rgb is None:
                log.warning("skipped %s: %s", path, reason)
                skipped += 1
                bar.update(1)
                continue
            try:
                hints = hints_for(path, rgb.shape[0], rgb.shape[1], args, reference, blurred_hints_only(generator))
            except (ValueError, OSError) as e:
                log.warning("skipped %s: %s", path, cli_common.describe(e))
                skipped += 1
                bar.update(1)
                continue
            work = sampling.working_shape(*rgb.shape[:2], generator.working_size, generator.stride)
            if work != shape or len(pending) * len(z) >= args.batch_size:
                flush()
                shape = work
            pending.append((path, rgb, hints))
        flush()
    return skipped


def main(argv=None) -> int:
    cli_common.quiet_tensorflow()
    args = build_parser().parse_args(argv)
    cli_common.setup_logging()
    from anime_colorize.data import hints as hints_lib
    from anime_colorize.data.io import allow_max_pixels, find_images, read_image
    from anime_colorize.export import load_generator

    input_path, out = Path(args.input), Path(args.out)
    try:
        inputs = find_images(input_path)
        generator = load_generator(args.model, safe_mode=not args.unsafe)
    except (FileNotFoundError, ValueError) as e:
        return cli_common.fail(cli_common.describe(e).splitlines()[0])
    problem = check_arguments(args, generator, input_path)
    if problem:
        return cli_common.fail(problem)
    allow_max_pixels(args.max_pixels)
    single_file = input_path.is_file() and args.num_samples == 1 and out.suffix.lower() in IMAGE_SUFFIXES
    if input_path.is_file() and not single_file and out.suffix.lower() in IMAGE_SUFFIXES:
        return cli_common.fail(f"--num-samples {args.num_samples} writes several files: give a folder as --out")
    reference = None
    if args.reference:
        try:
            reference = hints_lib.reference_histogram(read_image(Path(args.reference), max_pixels=args.max_pixels))
        except (ValueError, OSError) as e:
            return cli_common.fail(f"--reference: {cli_common.describe(e)}")
    try:
        skipped = colour_all(generator, inputs, out, single_file, args, reference)
    except (ValueError, OSError) as e:  # an output that cannot be written: full disk, --out a file, ...
        return cli_common.fail(cli_common.describe(e))
    done = len(inputs) - skipped
    if done == 0:
        return cli_common.fail(f"nothing written: none of the {len(inputs)} inputs could be coloured "
                               "(reasons above)", code=1)
    where = out if single_file else f"{done * args.num_samples} images to {out}"
    print(f"wrote {where}" + (f"; skipped {skipped} inputs (listed above with their reasons)" if skipped else ""))
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
