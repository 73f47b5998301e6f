"""Evaluates a trained generator on held-out colour images (gray in, colour out).

    python experiments/heldout_eval.py --model runs/faces/generator.keras \
        --data ../shared/data/faces64 --include '*_2011.jpg' --out reports/faces64

Held-out images are the files of --data (sorted as ``find_images`` sorts them) whose name
matches the --include glob; --limit keeps the first N. Each is resized to --size square
(cv2 INTER_AREA); its lightness L is the model input, and each of K noise vectors z (one
fixed list from --seed, the same for every image) gives a colouring: L from the truth, ab
from the model. Figures, all averaged over images:

* PSNR (dB): 10 log10(1 / MSE) of the RGB output against the true RGB (range [0, 1], capped
  at 100 dB). "mean-z": averaged over the K samples; "best-of-K": the best sample per image.
* colourfulness: Hasler & Suesstrunk (2003) on 0..255 RGB, rg = R - G, yb = (R + G) / 2 - B,
  C = sqrt(std_rg^2 + std_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2); outputs vs the truth, and
  their ratio (below 1: duller than the truth, above 1: more colourful).
* ab error: mean absolute difference of predicted and true a, b, in Lab units (0..~110).
* diversity: mean over pairs of the K colourings of one image of their mean absolute ab
  difference, Lab units (0 when the model ignores z; not defined, null, when K = 1).

Baselines on the same images: "gray" (ab = 0) and "mean ab" (the per-pixel mean ab of up to
--baseline-images files of the same folder NOT matched by --include, so no test leakage).
Writes <out>/metrics.json, <out>/metrics.md and <out>/contact_sheet.png (rows: 8 images;
columns: gray input | truth | K colourings; 2x nearest-neighbour). Two runs give the same numbers.
"""
from __future__ import annotations

import anime_colorize.cli_common as cli_common  # first: quiets TensorFlow's start-up logs

import argparse
import fnmatch
import itertools
import json
import logging
import sys
from pathlib import Path

import cv2
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from anime_colorize import color, sampling
from anime_colorize.data.io import find_images, read_image_or_none, write_image
from anime_colorize.export import load_generator

log = logging.getLogger("heldout_eval")
SHEET_ROWS = 8


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="generator.keras, a saved_model folder or a run folder")
    p.add_argument("--data", required=True, help="folder of colour images")
    p.add_argument("--include", required=True, help="fnmatch glob on file names selecting the held-out images")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N held-out images")
    p.add_argument("--num-samples", type=int, default=4, help="K colourings (z samples) per image")
    p.add_argument("--size", type=int, default=None, help="square evaluation size (default: model's working_size)")
    p.add_argument("--seed", type=int, default=0, help="seed of the z list")
    p.add_argument("--baseline-images", type=int, default=2000,
                   help="at most this many non-held-out images for the mean-ab baseline")
    p.add_argument("--batch-size", type=int, default=64, help="images per model call")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def load_images(paths, size, desc, quiet):
    """Reads and resizes images to (N, size, size, 3) float32; unreadable files are skipped."""
    images, used = [], []
    for path in tqdm(paths, desc=desc, unit="img", disable=quiet):
        rgb, reason = read_image_or_none(path)
        if rgb is None:
            log.warning("skipped %s: %s", path, reason)
            continue
        images.append(cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA))
        used.append(path)
    return np.clip(np.stack(images), 0.0, 1.0) if images else np.zeros((0, size, size, 3), np.float32), used


def psnr(pred, true):
    mse = np.mean((pred.astype(np.float64) - true) ** 2, axis=(1, 2, 3))
    return 10.0 * np.log10(1.0 / np.maximum(mse, 1e-10))


def colourfulness(rgb):
    x = rgb.astype(np.float64) * 255.0
    rg = x[..., 0] - x[..., 1]
    yb = 0.5 * (x[..., 0] + x[..., 1]) - x[..., 2]
    std = np.sqrt(rg.std(axis=(1, 2)) ** 2 + yb.std(axis=(1, 2)) ** 2)
    mean = np.sqrt(rg.mean(axis=(1, 2)) ** 2 + yb.mean(axis=(1, 2)) ** 2)
    return std + 0.3 * mean


def ab_error(ab_pred, ab_true):
    return np.mean(np.abs(ab_pred.astype(np.float64) - ab_true), axis=(1, 2, 3)) * color.AB_SCALE


def figures(psnr_nk, colour_nk, err_nk, truth_colour, diversity_n=None):
    """Per-image-per-sample arrays (N, K) -> the reported dictionary (means over images)."""
    colour = float(colour_nk.mean())
    return {"psnr_mean_z": float(psnr_nk.mean()), "psnr_best_of_k": float(psnr_nk.max(axis=1).mean()),
            "colourfulness": colour, "colourfulness_ratio": colour / max(truth_colour, 1e-12),
            "ab_error": float(err_nk.mean()),
            "diversity": None if diversity_n is None else float(diversity_n.mean())}


def markdown(results, truth_colour, k, n):
    def cell(v, fmt="{:.2f}"):
        return "—" if v is None else fmt.format(v)
    lines = [f"Held-out evaluation on {n} images, K = {k} z samples; truth colourfulness "
             f"{truth_colour:.2f} (ratio to it in brackets); ab error and diversity in Lab units.", "",
             "| | PSNR mean-z (dB) | PSNR best-of-K (dB) | colourfulness | ab error | diversity |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        if r is None:
            lines.append(f"| {name} | — | — | — | — | — |")
            continue
        lines.append(f"| {name} | {cell(r['psnr_mean_z'])} | {cell(r['psnr_best_of_k'])} | "
                     f"{r['colourfulness']:.2f} ({r['colourfulness_ratio']:.2f}) | {cell(r['ab_error'])} | "
                     f"{cell(r['diversity'])} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    cli_common.setup_logging()
    tf.config.experimental.enable_op_determinism()
    if min(args.num_samples, args.batch_size, 1 if args.limit is None else args.limit) < 1 or args.baseline_images < 0:
        return cli_common.fail("--num-samples, --batch-size and --limit must be at least 1, "
                               "--baseline-images at least 0")
    if not Path(args.model).exists():
        return cli_common.fail(f"model not found: {args.model}")
    if not Path(args.data).is_dir():
        return cli_common.fail(f"data folder not found: {args.data}")
    try:
        paths = find_images(args.data)
    except (FileNotFoundError, ValueError) as e:
        return cli_common.fail(str(e))
    matched = [p for p in paths if fnmatch.fnmatch(Path(p).name, args.include)]
    others = [p for p in paths if not fnmatch.fnmatch(Path(p).name, args.include)]
    if not matched:
        return cli_common.fail(f"no image in {args.data} matches --include {args.include!r}")
    try:
        g = load_generator(args.model)
    except (FileNotFoundError, ValueError) as e:
        return cli_common.fail(str(e).splitlines()[0])
    size = args.size or g.working_size
    if size < g.stride or size % g.stride:
        return cli_common.fail(f"--size {size} must be a positive multiple of the model's stride {g.stride}")

    truth, used = load_images(matched[:args.limit], size, "held-out", args.quiet)
    if not len(truth):
        return cli_common.fail(f"none of the images matching {args.include!r} could be read")
    base, base_used = load_images(others[:args.baseline_images], size, "baseline", args.quiet)
    n, k = len(truth), args.num_samples
    z = sampling.random_sweep(k, g.z_dim, args.seed)
    mean_ab = None
    if len(base):
        ab_sum = np.zeros((size, size, 2), np.float64)
        for s in range(0, len(base), args.batch_size):
            ab_sum += color.rgb_to_l_ab(base[s:s + args.batch_size])[1].numpy().sum(axis=0)
        mean_ab = (ab_sum / len(base)).astype(np.float32)
    else:
        log.warning("no images outside --include: the mean-ab baseline is left out")

    model = {m: np.zeros((n, k)) for m in ("psnr", "colour", "err")}
    gray = {m: np.zeros((n, 1)) for m in ("psnr", "colour", "err")}
    mean = {m: np.zeros((n, 1)) for m in ("psnr", "colour", "err")}
    truth_colour, diversity = np.zeros(n), np.zeros(n)
    sheet = []
    with tqdm(total=n, desc="evaluating", unit="img", disable=args.quiet) as bar:
        for s in range(0, n, args.batch_size):
            rgb = truth[s:s + args.batch_size]
            b, sl = len(rgb), slice(s, s + len(rgb))
            l, ab_true = (t.numpy() for t in color.rgb_to_l_ab(rgb))
            truth_colour[sl] = colourfulness(rgb)
            abs_, outs = [], []
            for j in range(k):
                ab = g(l, np.repeat(z[j:j + 1], b, axis=0)).numpy()
                out = color.l_ab_to_rgb(l, ab).numpy()
                model["psnr"][sl, j], model["colour"][sl, j] = psnr(out, rgb), colourfulness(out)
                model["err"][sl, j] = ab_error(ab, ab_true)
                abs_.append(ab)
                outs.append(out)
            pairs = list(itertools.combinations(range(k), 2))
            if pairs:
                diversity[sl] = np.mean([ab_error(abs_[i], abs_[j]) for i, j in pairs], axis=0)
            gray_rgb = color.l_ab_to_rgb(l, np.zeros_like(ab_true)).numpy()
            baselines = [(gray, np.zeros_like(ab_true), gray_rgb)]
            if mean_ab is not None:
                mean_b = np.broadcast_to(mean_ab, ab_true.shape)
                baselines.append((mean, mean_b, color.l_ab_to_rgb(l, mean_b).numpy()))
            for store, ab, out in baselines:
                store["psnr"][sl, 0], store["colour"][sl, 0] = psnr(out, rgb), colourfulness(out)
                store["err"][sl, 0] = ab_error(ab, ab_true)
            for i in range(min(b, SHEET_ROWS - len(sheet))):
                sheet.append(np.stack([gray_rgb[i], rgb[i]] + [o[i] for o in outs]))
            bar.update(b)

    truth_c = float(truth_colour.mean())
    results = {"model": figures(model["psnr"], model["colour"], model["err"], truth_c,
                                diversity if k > 1 else None),
               "gray baseline": figures(gray["psnr"], gray["colour"], gray["err"], truth_c),
               "mean-ab baseline": None if mean_ab is None else
               figures(mean["psnr"], mean["colour"], mean["err"], truth_c)}
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    arguments = {name: value for name, value in vars(args).items() if name != "quiet"}  # display only
    report = {"arguments": arguments, "size": size, "num_images": n, "num_samples": k,
              "num_unreadable": len(matched[:args.limit]) - n, "num_baseline_images": len(base_used),
              "first_image": Path(used[0]).name, "last_image": Path(used[-1]).name,
              "truth_colourfulness": truth_c, "results": results,
              "model_path": str(args.model), "model_metadata": g.metadata}
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    table = markdown(results, truth_c, k, n)
    (out_dir / "metrics.md").write_text(table)
    grid = sampling.make_grid(np.concatenate(sheet), len(sheet), k + 2)
    write_image(out_dir / "contact_sheet.png", grid.repeat(2, axis=0).repeat(2, axis=1))
    print(table, end="")
    print(f"wrote {out_dir}/metrics.json, metrics.md, contact_sheet.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
