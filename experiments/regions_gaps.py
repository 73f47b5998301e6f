"""Gap-closing methods for anime_colorize.regions, compared on real line art with true flats.

Data: ../shared/data/openmoji128 (designer line art in line/, its flat colours in color/,
same file names). Split: sorted file names, every 5th file (index % 5 == 0) is the TEST
split, the others DEV (parameters were chosen on DEV; TEST is reported).

Per drawing and method:
  regions   the region count;
  PSNR      mean over drawings, capped at 100 dB per drawing (as anime_colorize.evaluate),
            and the median, which the cap does not touch;
  oracle    PSNR (dB) of every region filled with the true colour's median over its paper
            pixels (flats.pool), times the line drawing (the composite of the flat and
            lines layers);
  hints10   PSNR of the regions under 10 point hints (1 px, true colour at random paper
            pixels, rng seeded with (seed, file index)) filled with the hint colour
            (flats.hint_colors), every other region white, times the lines;
  ms        segmentation time (to_line_art excluded).
The line drawing alone (all white, times the lines) is the 0-hint baseline.

Methods:
  cc          connected components of the paper, no gap closing (segment_lines(gap=0));
  default     segment_lines with its default parameters;
  closing-gN  morphological closing of the ink with a disc of diameter N+1, then connected
              components of the paper (ink and leftovers to the nearest region, small
              regions merged: the same finishing steps as the library);
  balls-gN    the library's multi-scale trapped balls for gaps up to N px (segment_lines(gap=N));
  watershed-gN  the same ball cores grown by a marker watershed on the distance to ink
              (skimage.segmentation.watershed), instead of ball reach + nearest pixel.

Usage:
  python experiments/regions_gaps.py [--split test|dev|all] [--size 64] [--gaps 2,3,4]
      [--methods cc,balls-g3,...] [--limit N] [--out DIR]
Prints a markdown table (mean PSNR, median and mean region count, mean time) and writes it
with the arguments to DIR/regions_gaps.md and .json.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anime_colorize.cli_common  # noqa: E402  (quiet TensorFlow first: lineart imports color)
anime_colorize.cli_common.quiet_tensorflow()
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from anime_colorize.data.io import read_image  # noqa: E402
from anime_colorize.data.lineart import to_line_art  # noqa: E402
from anime_colorize.regions import flats  # noqa: E402
from anime_colorize.regions import segmentation as seg  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "openmoji128"
N_HINTS = 10
WHITE = np.ones(3, np.float32)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) for [0, 1] pictures, capped at 100 dB as in anime_colorize.evaluate (a
    perfect drawing would be infinite; the median column is not affected by the cap)."""
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10.0 * math.log10(1.0 / max(mse, 1e-10))


def closing_labels(ink: np.ndarray, gap: int, min_area: int) -> np.ndarray:
    r = math.ceil(gap / 2)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    closed = cv2.morphologyEx(ink.astype(np.uint8), cv2.MORPH_CLOSE, disc) > 0
    n, comp = cv2.connectedComponents((~closed).astype(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    if n <= 1:
        return np.zeros(ink.shape, np.int32)
    return seg._merge_small(seg._fill_nearest(comp) - 1, n - 1, min_area)


def watershed_labels(ink: np.ndarray, gap: int, min_area: int) -> np.ndarray:
    from skimage.segmentation import watershed

    cores, reach = seg.find_cores(ink, gap, min_area)
    if len(reach) == 1:
        return np.zeros(ink.shape, np.int32)
    dist = cv2.distanceTransform((~ink).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
    grown = watershed(-dist, cores)  # ink has distance 0: flooded last, split where fronts meet
    return seg._merge_small(grown.astype(np.int32) - 1, len(reach) - 1, min_area)


def make_methods(gaps):
    methods = {"cc": lambda lines: seg.segment_lines(lines, gap=0),
               "default": lambda lines: seg.segment_lines(lines)}
    for g in gaps:
        methods[f"closing-g{g}"] = lambda lines, g=g: _from_ink(lines, g, closing_labels)
    for g in gaps:
        methods[f"balls-g{g}"] = lambda lines, g=g: seg.segment_lines(lines, gap=g)
    for g in gaps:
        methods[f"watershed-g{g}"] = lambda lines, g=g: _from_ink(lines, g, watershed_labels)
    return methods


def _from_ink(lines: np.ndarray, gap: int, labeller) -> seg.Regions:
    """Same ink (threshold, specks) and min_area as segment_lines, another labelling."""
    min_area, speck = max(4, gap * gap), max(2, gap * gap // 2)
    ink = seg._drop_specks(lines < np.float32(seg.ink_threshold_for(lines)), speck)
    labels = labeller(ink, gap, min_area)
    return seg.Regions(labels, int(labels.max()) + 1, lines, ink)


def point_hints(truth: np.ndarray, paper: np.ndarray, rng: np.random.Generator):
    h, w, _ = truth.shape
    where = np.flatnonzero(paper.ravel())
    picks = rng.choice(where, size=min(N_HINTS, len(where)), replace=False)
    color = np.zeros((h, w, 3), np.float32)
    mask = np.zeros((h, w), np.float32)
    ys, xs = np.divmod(picks, w)
    color[ys, xs] = truth[ys, xs]
    mask[ys, xs] = 1.0
    return color, mask


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--split", choices=("test", "dev", "all"), default="test")
    p.add_argument("--limit", type=int, default=0, help="use at most N drawings (0 = all)")
    p.add_argument("--gaps", default="2,3,4")
    p.add_argument("--methods", default="", help="comma-separated subset (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=0,
                   help="resize drawings and colours to SIZE x SIZE first (INTER_AREA; 0 = as stored, 128)")
    p.add_argument("--out", default="reports/regions_gaps")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    cv2.setNumThreads(1)

    names = sorted(os.listdir(Path(args.data) / "line"))
    index = [i for i in range(len(names))
             if args.split == "all" or (i % 5 == 0) == (args.split == "test")]
    if args.limit:
        index = index[:args.limit]
    methods = make_methods([int(g) for g in args.gaps.split(",")])
    if args.methods:
        methods = {k: v for k, v in methods.items() if k in args.methods.split(",")}
    rows = {k: {"regions": [], "oracle": [], "hints10": [], "ms": []} for k in methods}
    baseline = []
    for n, i in enumerate(index):
        line = read_image(Path(args.data) / "line" / names[i])
        truth = read_image(Path(args.data) / "color" / names[i])
        if args.size:
            line, truth = (cv2.resize(x, (args.size, args.size), interpolation=cv2.INTER_AREA)
                           for x in (line, truth))
        lines = to_line_art(line)
        shade = lines[:, :, None]
        baseline.append(psnr(np.repeat(shade, 3, axis=2), truth))
        hint_color, hint_mask = point_hints(truth, lines >= 0.5,
                                            np.random.default_rng([args.seed, i]))
        for name, fn in methods.items():
            t0 = time.perf_counter()
            regions = fn(lines)
            rows[name]["ms"].append(1000 * (time.perf_counter() - t0))
            rows[name]["regions"].append(regions.count)
            oracle = flats.paint(regions, flats.pool(regions, truth)) * shade
            rows[name]["oracle"].append(psnr(oracle, truth))
            colors, hinted = flats.hint_colors(regions, hint_color, hint_mask)
            colors[~hinted] = WHITE
            rows[name]["hints10"].append(psnr(flats.paint(regions, colors) * shade, truth))
        if (n + 1) % 200 == 0:
            print(f"{n + 1}/{len(index)}", file=sys.stderr, flush=True)

    size = f" at {args.size}x{args.size}" if args.size else ""
    lines_out = [f"OpenMoji {args.split} split{size}: {len(index)} drawings; line drawing alone "
                 f"(0 hints): {np.mean(baseline):.2f} dB", "",
                 "| method | regions median | regions mean | oracle flats dB, mean (median) "
                 "| 10 hints, rest white dB, mean (median) | ms / drawing |",
                 "|---|---|---|---|---|---|"]
    summary = {}
    for name, r in rows.items():
        summary[name] = {"regions_median": float(np.median(r["regions"])),
                         "regions_mean": float(np.mean(r["regions"])),
                         "oracle_db": float(np.mean(r["oracle"])),
                         "oracle_db_median": float(np.median(r["oracle"])),
                         "hints10_db": float(np.mean(r["hints10"])),
                         "hints10_db_median": float(np.median(r["hints10"])),
                         "ms": float(np.mean(r["ms"]))}
        s = summary[name]
        lines_out.append(f"| {name} | {s['regions_median']:.0f} | {s['regions_mean']:.1f} | "
                         f"{s['oracle_db']:.2f} ({s['oracle_db_median']:.2f}) | "
                         f"{s['hints10_db']:.2f} ({s['hints10_db_median']:.2f}) | {s['ms']:.1f} |")
    text = "\n".join(lines_out)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = f"{args.split}{args.size or ''}"
    (out / f"regions_gaps_{tag}.md").write_text(text + "\n")
    (out / f"regions_gaps_{tag}.json").write_text(json.dumps(
        {"args": vars(args), "drawings": len(index), "baseline_db": float(np.mean(baseline)),
         "methods": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
