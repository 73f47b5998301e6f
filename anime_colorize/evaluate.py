"""``python -m anime_colorize.evaluate``: scores a generator on held-out colour images.

    python -m anime_colorize.evaluate --model runs/faces/generator.keras \\
        --data ../shared/data/faces64 --include '*_2011.jpg' --out reports/faces64
    python -m anime_colorize.evaluate --model runs/x --data builtin --limit 256 --out reports/x

Images: the files of --data (searched recursively, sorted as ``find_images`` sorts them) whose
file name matches the --include glob, the first --limit of them; or, with ``--data builtin``,
--limit (default 256) built-in pictures never used for training; or, for line-art models,
``--lines DIR --colors DIR``: real line art paired with its true colours by file stem (colour
files matching --include; a colour file without a line file is skipped and listed). Each is
resized (shorter side) and centre-cropped to --size (default: the model's working size).

What the model sees (--input, default: what the model takes, read from it):
* gray: the image's lightness L; each of K = --num-samples noise vectors z (one list drawn from
  --seed, the same for every image) gives one colouring: L of the truth joined with the
  predicted ab.
* lineart: the line drawing: from --lines (paper whitened with ``to_line_art``), or extracted
  from the colour image with XDoG (``extract_lines`` defaults: fixed, so runs are identical);
  the model predicts L and ab and the drawing is laid over it (multiplied), as the colorize
  command does.
The model runs at its working size; at another --size its input is resized to the working size
and its output back (as colorize does for any picture). Outputs are sRGB clipped to the gamut.

Output modes (--mode, one or a comma-separated list, each scored from the same predictions):
smooth (the predicted colour under the lines, or joined with the lightness, as colorize
--mode smooth) and flat (one colour per region, the hint given in it or else the prediction
pooled over it, as colorize --mode flat; --unhinted paper leaves regions without a hint
white). Rows of other modes than smooth are named with it: "model, 10 hints, flat".

Figures (defined in :mod:`anime_colorize.evaluation.metrics`, averaged over images and the K
samples): PSNR mean-z and best-of-K, SSIM, CIEDE2000, colourfulness (and its ratio to the
truth's), the Jensen-Shannon divergence and intersection of the data set's ab histograms with
the truth's, the diversity of the K colourings, and the region accuracy (the area-weighted
share of the truth's regions, cut from its line art, whose output colour is within CIEDE2000
10 of the truth's), the region error (their mean CIEDE2000), the region purity (the share of
pixels within CIEDE2000 10 of their region's output colour: 1 = flat colours), and, with K >= 2,
the diversity per region: how differently z colours each region ("region diversity") against
the shift of the whole palette ("global shift").

Hint models (the model's metadata lists its hint kinds; rows defined in
:mod:`anime_colorize.evaluation.predictors`): for each n of --hint-points (default
0,1,2,5,10,20), every image gets exactly n point hints simulated from its truth ("model, n
hints" rows, with the hint error); models taking a histogram are scored with another image's
colour histogram as the reference, given and not given ("model, reference" / "model, no
reference", with the palette match).

Baselines on the same images: "gray" (ab = 0; for line art a white page under the lines) and
"training mean" (the per-pixel mean ab, for line art mean L and ab, of the training images:
--train-data, else the ``data.data`` entry of the ``config.json`` beside the model, built-in
pictures with the run's seed where it is null; at most --baseline-images, sorted, never a file
selected by --data and --include; the row is left out, with a note, when none is known).

Consistency with a coloured key (``--reference KEY|DIR``, issue #13; defined in
:mod:`anime_colorize.evaluation.reference`): the targets are drawings of the key's character
in other poses, given as line art with their truth (``--lines DIR --colors DIR``) or as colour
pictures (``--data DIR``, line art by XDoG), each coloured at its full size as ``colorize``
colours it (flat mode) with no reference, with the key's histogram (models that take one),
and with region matching; scored on the character's pixels (CIEDE2000, region accuracy).
Writes ``metrics.json``, ``metrics.md`` and ``contact_sheet.png``.

    python -m anime_colorize.evaluate --model M --reference key.png --lines lines/ --colors colors/ --out reports/key

Writes to --out (see :mod:`anime_colorize.evaluation.report`): ``metrics.json`` (all figures,
the arguments, counts, model metadata; no timestamps, so two runs give identical files),
``metrics.md`` (the table it prints), ``bars.png``, ``ab_histograms.png``, ``contact_sheet.png``
and, for point-hint models, ``hint_sweep.png``, ``hint_sheet.png`` and ``hint_sweep_sheet.png``.
"""
from __future__ import annotations

import anime_colorize.cli_common as cli_common  # first: quiets TensorFlow's start-up logs
cli_common.quiet_tensorflow()

import argparse
import sys
from pathlib import Path

from anime_colorize import sampling
from anime_colorize.data.io import DEFAULT_MAX_PIXELS, allow_max_pixels
from anime_colorize.evaluation import data, predictors, report
from anime_colorize.evaluation.predictors import Row
from anime_colorize.evaluation.scoring import score_dataset
from anime_colorize.export import load_generator

INPUT_LABELS = {"gray": "gray", "lineart": "line-art"}
DEFAULT_HINT_POINTS = "0,1,2,5,10,20"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m anime_colorize.evaluate", description=cli_common.summary_line(__doc__))
    p.add_argument("--model", required=True, help="generator.keras, a saved_model folder or a run folder")
    p.add_argument("--data", default=None, help="folder of colour images, or 'builtin' (held-out built-in pictures)")
    p.add_argument("--lines", default=None, help="line-art models: folder of real line art, paired by file stem "
                                                 "with --colors")
    p.add_argument("--colors", default=None, help="folder of the true colour images of --lines")
    p.add_argument("--include", default=None, help="fnmatch glob on file names selecting the images (default: all)")
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N images (builtin: default 256)")
    p.add_argument("--num-samples", type=int, default=8, help="K colourings (z samples) per image")
    p.add_argument("--size", type=int, default=None, help="square evaluation size (default: the model's working size)")
    p.add_argument("--seed", type=int, default=0, help="seed of the z list (and of built-in pictures)")
    p.add_argument("--input", choices=sorted(INPUT_LABELS), default=None,
                   help="what the model is given (default: what the model takes; a mismatch is an error)")
    p.add_argument("--hint-points", default=DEFAULT_HINT_POINTS,
                   help="point-hint models: numbers of simulated hint points to score (default: %(default)s); "
                        "'' for none")
    p.add_argument("--mode", default="smooth",
                   help="output modes to score, comma-separated: smooth (the predicted colour under the lines or "
                        "with the lightness), flat (one colour per region: the hint in it, else the prediction "
                        "pooled over it, as colorize --mode flat); e.g. smooth,flat scores both from the same "
                        "predictions (default: %(default)s)")
    p.add_argument("--unhinted", choices=("prediction", "paper"), default="prediction",
                   help="flat mode: what a region without a hint gets (default: %(default)s)")
    p.add_argument("--train-data", default=None,
                   help="training images for the mean-ab baseline: a folder or 'builtin' (default: from config.json)")
    p.add_argument("--baseline-images", type=int, default=2000, help="at most this many training images for it")
    p.add_argument("--batch-size", type=int, default=16, help="images per model call (each with K z)")
    p.add_argument("--unsafe", action="store_true", help="allow a .keras file to run stored code (trusted files only)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help="skip images with more pixels than this, read from the file header before decoding: "
                        "a guard against decompression bombs (default: %(default)s)")
    p.add_argument("--reference", default=None, metavar="KEY|DIR",
                   help="score consistency with a coloured key (or a folder of keys) instead: the targets "
                        "(--lines with --colors, or --data) are drawings of its character, coloured with no "
                        "reference, with its histogram and with region matching, scored on the character's pixels")
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def parse_counts(text: str) -> list:
    """--hint-points: "0,1,5" -> [0, 1, 5], sorted, without repeats; ValueError for the user."""
    try:
        counts = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise ValueError(f"--hint-points takes numbers such as 0,1,5, not {text!r}") from None
    if any(c < 0 for c in counts):
        raise ValueError("--hint-points must not be negative")
    return counts


def parse_modes(text: str) -> list:
    """--mode: "smooth,flat" -> ["smooth", "flat"], in the order given, without repeats;
    ValueError for the user."""
    modes = list(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    unknown = [m for m in modes if m not in predictors.OUTPUT_MODES]
    if not modes or unknown:
        raise ValueError(f"--mode takes {', '.join(predictors.OUTPUT_MODES)} or a comma-separated list of them, "
                         f"not {text!r}")
    return modes


def argument_error(args) -> str | None:
    """What is wrong with the flags (before the model is loaded), or None."""
    positive = [args.num_samples, args.batch_size, args.max_pixels] + [v for v in (args.limit, args.size)
                                                                         if v is not None]
    if min(positive) < 1 or min(args.baseline_images, args.seed) < 0:
        return ("--num-samples, --batch-size, --max-pixels, --limit and --size must be at least 1, "
                "--baseline-images and --seed at least 0")
    if (args.lines is None) != (args.colors is None):
        return "--lines and --colors go together: line art and its true colours"
    if (args.data is None) == (args.lines is None):
        return "give either --data (colour images) or --lines with --colors"
    if args.reference is not None and args.data == data.BUILTIN:
        return "--reference scores drawings of the key's character: give --lines with --colors, or --data DIR"
    for flag, folder in (("--lines", args.lines), ("--colors", args.colors)):
        if folder is not None and not Path(folder).is_dir():
            return f"{flag} folder not found: {folder}"
    try:
        parse_counts(args.hint_points)
        parse_modes(args.mode)
    except ValueError as e:
        return str(e)
    if args.train_data not in (None, data.BUILTIN) and not Path(args.train_data).is_dir():
        return f"--train-data folder not found: {args.train_data}"
    return None


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    cli_common.setup_logging()
    error = argument_error(args)
    if error is not None:
        return cli_common.fail(error)
    allow_max_pixels(args.max_pixels)
    try:
        g = load_generator(args.model, safe_mode=not args.unsafe)
    except (FileNotFoundError, ValueError) as e:
        return cli_common.fail(str(e).splitlines()[0])
    cli_common.log_device(g.mixed_precision)
    input_kind = args.input or g.input_kind
    if input_kind != g.input_kind:
        return cli_common.fail(f"--input {input_kind} needs a {INPUT_LABELS[input_kind]} model; this model takes "
                               f"{INPUT_LABELS.get(g.input_kind, g.input_kind)} input")
    if args.lines is not None and input_kind != "lineart":
        return cli_common.fail("--lines / --colors evaluate line-art models; this model takes gray input")
    if args.reference is not None:
        return evaluate_reference(args, g)
    size = args.size or g.working_size
    if size % g.stride:
        return cli_common.fail(f"--size {size} must be a multiple of the model's stride {g.stride}")
    progress = not args.quiet
    try:
        pictures = data.evaluation_images(size, data=args.data, lines=args.lines, colors=args.colors,
                                          include=args.include, limit=args.limit, seed=args.seed,
                                          max_pixels=args.max_pixels, progress=progress)
    except (OSError, ValueError) as e:
        return cli_common.fail(cli_common.describe(e))

    z = sampling.random_sweep(args.num_samples, g.z_dim, args.seed)
    rows = {Row(predictors.MODEL): predictors.model_predictor(g, z),
            Row(predictors.GRAY_BASELINE): predictors.constant_predictor(predictors.gray_colors(size, input_kind))}
    train, train_note = data.training_images(
        size, model_path=args.model, train_data=args.train_data, count=args.baseline_images, seed=args.seed,
        exclude={str(Path(p).resolve()) for p in pictures.selected}, max_pixels=args.max_pixels, progress=progress)
    if train is not None:
        rows[Row(predictors.TRAINING_MEAN_BASELINE)] = predictors.constant_predictor(
            predictors.mean_colors(train, args.batch_size, input_kind))
    rows.update(predictors.hint_rows(g, z, parse_counts(args.hint_points), args.seed))
    sheets = [row for row in rows if row.predictor == predictors.MODEL and row.reference is None]
    evaluation = score_dataset(pictures.images, rows, args.batch_size, input_kind, pictures.lines, sheets,
                               mode=parse_modes(args.mode), unhinted=args.unhinted, progress=progress)

    used, skipped = pictures.used, pictures.skipped
    header = {"arguments": {k: v for k, v in vars(args).items() if k != "quiet"}, "size": size,
              "input": input_kind, "num_images": len(pictures.images), "num_samples": args.num_samples,
              "source": pictures.source, "first_image": Path(used[0]).name if used else None,
              "last_image": Path(used[-1]).name if used else None, "num_unreadable": len(skipped),
              "unreadable": [{"file": str(p), "reason": r} for p, r in skipped], "training_mean": train_note}
    caption = (f"{len(pictures.images)} images ({pictures.source}) at {size} px, {INPUT_LABELS[input_kind]} input, "
               f"K = {args.num_samples} z samples, output modes: {', '.join(parse_modes(args.mode))}"
               + (f" (unhinted regions: {args.unhinted})" if "flat" in parse_modes(args.mode) else "") + ".")
    table, written = report.write_report(args.out, evaluation, header, caption, g.metadata)
    print(table, end="")
    if train is None:
        print(f"note: training-mean baseline left out: {train_note}")
    if skipped:
        what = "unreadable images" if args.lines is None else "images (unreadable or without line art)"
        print(f"note: skipped {len(skipped)} {what} (listed in metrics.json)")
    print(f"wrote {Path(args.out)}/" + ", ".join(written))
    return 0


def evaluate_reference(args, g) -> int:
    """``--reference``: the consistency evaluation (:mod:`anime_colorize.evaluation.reference`)."""
    from anime_colorize import color
    from anime_colorize.evaluation import reference
    from anime_colorize.inference.flags import load_reference_keys
    from anime_colorize.inference.hint_files import histogram_of

    try:
        keys = load_reference_keys(args)
        targets, skipped = reference.load_targets(lines=args.lines, colors=args.colors, data=args.data,
                                                  include=args.include, limit=args.limit, max_pixels=args.max_pixels)
    except (OSError, ValueError) as e:
        return cli_common.fail(cli_common.describe(e))
    histogram, note = None, None
    if reference.takes_histogram(g):
        histogram = histogram_of(color.lab_to_rgb_np(keys[0].lab)).numpy()
    else:
        note = "histogram reference left out: this model takes no reference histogram (train one with --hints mix)"
    z = sampling.random_sweep(args.num_samples, g.z_dim, args.seed)
    result = reference.evaluate_reference(g, targets, keys, z, histogram, batch_size=args.batch_size,
                                          progress=not args.quiet)
    header = {"arguments": {k: v for k, v in vars(args).items() if k != "quiet"}, "input": g.input_kind,
              "keys": [key.name for key in keys], "num_targets": len(targets), "num_samples": args.num_samples,
              "skipped": [{"file": str(p), "reason": r} for p, r in skipped], "note": note,
              "model": g.metadata}
    caption = (f"{len(targets)} targets, {len(keys)} key(s) ({', '.join(key.name for key in keys)}), "
               f"{INPUT_LABELS[g.input_kind]} model, K = {args.num_samples}, flat mode; figures on the character's "
               f"pixels.")
    table, written = reference.write_report(args.out, result, header, caption)
    print(table, end="")
    for line in filter(None, [note, f"skipped {len(skipped)} targets (listed in metrics.json)" if skipped else None]):
        print(f"note: {line}")
    print(f"wrote {Path(args.out)}/" + ", ".join(written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
