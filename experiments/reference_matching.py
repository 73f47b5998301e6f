"""Colour one drawing, the others follow it (issue #13): region matching to a coloured key,
measured on the Ren'Py sprite sets.

    python experiments/reference_matching.py [--data ../shared/data/renpy/sprites] \
        [--out reports/reference] [--sets sylvie eileen lucy] [--lines xdog] [--sheet]

Each set is one character in several expressions. One sprite is the key (in colour); the
targets are line drawings of the OTHER sprites of the set (lucy has one sprite: its own line
drawing), each under every transformation of :data:`TRANSFORMS` (mirrored, scaled 0.6x and
1.3x on the same canvas, shifted, a smooth local deformation, and all of those together).
A target's truth is the transformed sprite (RGBA): its alpha says which pixels are the
character, and every figure is measured on those pixels, on the target's own geometry.

Rows (each output is multiplied by the target's line drawing, as the layered output is):

* ``line art``: the bare line drawing (gray);
* ``key copy``: the key picture resized to the target's canvas, pasted as it is;
* ``global median``: every region of the target filled with the key character's median
  colour. A stand-in for today's ``--reference`` (a 512-bin histogram given to a hint
  model): no line-art hint model is bundled, and a palette alone cannot say which area
  takes which colour, so the best a histogram can do is about this;
* ``matching flats``: :func:`anime_colorize.regions.matching.match_regions`, matched regions
  filled with their key region's median colour, unmatched regions with the global median;
* ``matching + shading``: the same with the key region's shading carried over
  (:func:`anime_colorize.regions.matching.transfer_colors`);
* ``true flats`` (oracle): every region of the target filled with its TRUE median colour.

Figures: CIEDE2000 (mean over the character's pixels, skimage) and region accuracy (the
area-weighted share of the target's regions, on character pixels, whose output median is
within CIEDE2000 10 of the truth's median there). Printed per set x transformation and
overall; written to ``<out>/metrics.json`` and ``<out>/metrics.md``; ``--sheet`` also writes
``<out>/sheet_<set>.png`` (key | targets | colourings). Deterministic (fixed warp seeds,
sorted file lists).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from anime_colorize import color
from anime_colorize.data.io import read_rgba, write_image
from anime_colorize.data.lineart import extract_lines
from anime_colorize.data.synthetic import Pose, make_cel_variant
from anime_colorize.evaluation import reference
from anime_colorize.regions import (Layers, matching, paint, pool, relative_lightness, segment,
                                    shade_from_lightness)

SETS = {"sylvie": ("sylvie blue normal", ("sylvie blue giggle", "sylvie blue smile", "sylvie blue surprised")),
        "eileen": ("eileen happy", ("eileen concerned", "eileen vhappy")),
        "lucy": ("lucy happy", ("lucy happy",))}

# name -> (mirror, scale, shift (dx, dy) as fractions of the canvas, warp amplitude as a
# fraction of the canvas height, head tilt in degrees)
TRANSFORMS = {
    "same": (False, 1.0, (0.0, 0.0), 0.0, 0.0),
    "mirror": (True, 1.0, (0.0, 0.0), 0.0, 0.0),
    "scale0.6": (False, 0.6, (0.0, 0.0), 0.0, 0.0),
    "scale1.3": (False, 1.3, (0.0, 0.0), 0.0, 0.0),
    "shift": (False, 1.0, (0.15, 0.08), 0.0, 0.0),
    "warp": (False, 1.0, (0.0, 0.0), 0.015, 0.0),
    "all": (True, 0.8, (-0.12, 0.06), 0.015, 0.0),
    # harder than the issue's transformations: pose-like changes
    "warp4": (False, 1.0, (0.0, 0.0), 0.04, 0.0),
    "tilt": (False, 1.0, (0.0, 0.0), 0.0, 12.0),
    "tilt+all": (True, 0.8, (-0.12, 0.06), 0.015, -12.0),
}
ISSUE_TRANSFORMS = ("same", "mirror", "scale0.6", "scale1.3", "shift", "warp", "all")

log = logging.getLogger("reference_matching")


# Built-in pictures (``--builtin N``): the key is make_cel_image(i, BUILTIN_SIZE, BUILTIN_SEED),
# the targets the same character in these poses (anime_colorize.data.synthetic.Pose).
POSES = {"turned": Pose(head_angle=0.25),
         "giggle": Pose(head_angle=-0.15, eyes_closed=True, mouth_open=True)}
BUILTIN_SIZE = 256
BUILTIN_SEED = 13

# ---------------------------------------------------------------------------- targets


def picture(data: Path, name: str) -> np.ndarray:
    """RGBA float (H, W, 4): a sprite of ``data`` by name, or a built-in picture
    ("cel <i>" or "cel <i> <pose>", opaque)."""
    if name.startswith("cel "):
        parts = name.split()
        pose = POSES[parts[2]] if len(parts) > 2 else Pose()
        rgb = make_cel_variant(int(parts[1]), BUILTIN_SIZE, BUILTIN_SEED, pose).astype(np.float32) / 255.0
        return np.concatenate([rgb, np.ones_like(rgb[..., :1])], axis=-1)
    return read_rgba(data / f"{name}.png").astype(np.float32) / np.float32(255.0)

def composite_white(rgba: np.ndarray) -> np.ndarray:
    """RGBA float (H, W, 4) -> RGB on white paper."""
    alpha = rgba[..., 3:]
    return rgba[..., :3] * alpha + (1.0 - alpha)


def smooth_warp(h: int, w: int, amplitude: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random displacement field (cv2.remap maps), ``amplitude`` x h px at most:
    a local deformation like a small change of pose."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(-1.0, 1.0, (2, 5, 4)).astype(np.float32)
    dx = cv2.resize(coarse[0], (w, h), interpolation=cv2.INTER_CUBIC) * amplitude * h
    dy = cv2.resize(coarse[1], (w, h), interpolation=cv2.INTER_CUBIC) * amplitude * h
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs + dx, ys + dy


def head_tilt(h: int, w: int, alpha: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap maps that turn the top of the figure (its head) by ``degrees`` about the
    neck (the figure's centre line, 28 % of its height from its top), fading out over 10 %
    of its height below the neck: a pose change no similarity transform can undo."""
    ys_, xs_ = np.nonzero(alpha > 0.5)
    top, bottom = ys_.min(), ys_.max()
    cy = top + 0.28 * (bottom - top)
    cx = float(np.median(xs_[ys_ < cy])) if np.any(ys_ < cy) else w / 2
    band = 0.1 * (bottom - top)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    weight = np.clip((cy + band - ys) / band, 0.0, 1.0)  # 1 above the neck, 0 below the band
    t = np.deg2rad(degrees) * weight
    dx, dy = xs - cx, ys - cy
    return (cx + np.cos(t) * dx - np.sin(t) * dy).astype(np.float32), \
        (cy + np.sin(t) * dx + np.cos(t) * dy).astype(np.float32)


def transform(rgba: np.ndarray, name: str, seed: int = 0) -> np.ndarray:
    """The sprite under one of :data:`TRANSFORMS`, on a canvas of the same size (RGBA)."""
    mirror, scale, (fx, fy), amplitude, tilt = TRANSFORMS[name]
    h, w = rgba.shape[:2]
    pre = np.concatenate([rgba[..., :3] * rgba[..., 3:], rgba[..., 3:]], axis=-1)  # premultiplied
    if tilt:
        mx, my = head_tilt(h, w, rgba[..., 3], tilt)
        pre = cv2.remap(pre, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if mirror:
        pre = pre[:, ::-1]
    if scale != 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        pre = cv2.resize(pre, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    sh, sw = pre.shape[:2]
    # Centred, then shifted; pasted with cropping on a transparent canvas.
    oy, ox = (h - sh) // 2 + round(fy * h), (w - sw) // 2 + round(fx * w)
    canvas = np.zeros((h, w, 4), np.float32)
    y0, x0, y1, x1 = max(oy, 0), max(ox, 0), min(oy + sh, h), min(ox + sw, w)
    if y1 > y0 and x1 > x0:
        canvas[y0:y1, x0:x1] = pre[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    if amplitude > 0:
        mx, my = smooth_warp(h, w, amplitude, seed)
        canvas = cv2.remap(canvas, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    canvas = np.clip(canvas, 0.0, 1.0)
    alpha = canvas[..., 3:]
    rgb = np.where(alpha > 1e-6, canvas[..., :3] / np.maximum(alpha, 1e-6), 0.0)
    return np.concatenate([np.clip(rgb, 0, 1), alpha], axis=-1).astype(np.float32)


def line_drawing(rgba: np.ndarray, style: str) -> np.ndarray:
    """The target's line drawing (float (H, W), 1 = paper) from its colour truth."""
    rgb = composite_white(rgba)
    if style == "xdog":
        return extract_lines(rgb, "xdog")
    if style == "xdog2":  # heavier lines
        return extract_lines(rgb, "xdog", thickness=2)
    if style == "canny":
        return extract_lines(rgb, "canny")
    raise ValueError(f"unknown line style {style!r}")


# ---------------------------------------------------------------------------- scoring

def score(truth_rgba: np.ndarray, out_rgb: np.ndarray, regions) -> dict:
    """CIEDE2000 over the character's pixels and region accuracy, as ``evaluate --reference``
    measures them (:func:`anime_colorize.evaluation.reference.character_scores`)."""
    target = reference.Target("target", composite_white(truth_rgba), truth_rgba[..., 3] > 0.5, regions.lines)
    return reference.character_scores(target, out_rgb, regions)


# ---------------------------------------------------------------------------- rows

def with_lines(lab: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """Lab (H, W, 3) -> RGB times the line drawing (the layered composite's lines)."""
    return color.lab_to_rgb_np(lab.astype(np.float64)) * lines[..., None]


def outputs(key, key_rgba, truth_rgba, lines, rows, other_keys=()) -> tuple[dict, object, object]:
    """{row name: RGB (H, W, 3)} for one target, its regions and its match. ``other_keys``:
    the keys of the "several keys" row."""
    regions = segment(lines)
    h, w = lines.shape
    out = {}
    gray = np.repeat(lines[..., None], 3, axis=2)
    out["line art"] = gray
    key_rgb = composite_white(key_rgba)
    out["key copy"] = cv2.resize(key_rgb, (w, h), interpolation=cv2.INTER_AREA) * lines[..., None]
    median = reference.key_palette(key)
    out["global median"] = with_lines(np.broadcast_to(median, (h, w, 3)), lines)
    match = matching.match_regions(regions, key, shading=True, flow=not OPTIONS["no_flow"],
                                   split=not OPTIONS["no_split"])
    flats = matching.reference_flats(regions, match)
    flats[~match.matched] = median
    out["matching flats"] = with_lines(matching.reference_lab(regions, match, flats, shading=False), lines)
    layers, out["matching + shading"] = matching.reference_colouring(regions, match, flats)
    # The same as layers (flat, Multiply shade from the lightness only, lines): what a
    # layered file shows; the shade layer only darkens and carries no hue.
    out["shading as layers"] = layers.composite()
    # The keys' colouring given to the one flat-colouring recipe as a prediction (pooled per
    # region, shade layer from its relative lightness): splits are lost there.
    as_prediction = matching.reference_colors(regions, match, np.broadcast_to(median, (h, w, 3)))
    pooled = pool(regions, as_prediction)
    flat_lab = paint(regions, pooled)
    shade = shade_from_lightness(flat_lab[..., 0], relative_lightness(regions, as_prediction[..., 0]))
    out["as one prediction (layers)"] = Layers(paint(regions, color.lab_to_rgb_np(pooled.astype(np.float64))),
                                               shade, lines).composite()
    map_x, map_y = match.alignments[0].key_coordinates((h, w), key.shape)
    warped = cv2.remap(key_rgb, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                       borderValue=(1.0, 1.0, 1.0))
    out["aligned key copy"] = warped * lines[..., None]
    if other_keys:
        several = matching.match_regions(regions, list(other_keys))
        flats = matching.reference_flats(regions, several)
        flats[~several.matched] = median
        out["several keys + shading"] = with_lines(matching.reference_lab(regions, several, flats), lines)
    truth_lab = color.rgb_to_lab_np(composite_white(truth_rgba)).astype(np.float32)
    out["true flats"] = with_lines(paint(regions, pool(regions, truth_lab)), lines)
    return {k: out[k] for k in rows if k in out}, regions, match


OPTIONS = {"no_flow": False, "no_split": False}  # set from the command line
ROWS = ("line art", "key copy", "global median", "aligned key copy", "matching flats",
        "matching + shading", "shading as layers", "as one prediction (layers)",
        "several keys + shading", "true flats")


def run(args) -> dict:
    data = Path(args.data)
    results = []
    sheets = {}
    pairs = []
    for set_name in args.sets:
        key_name, target_names = SETS[set_name]
        if args.all_keys:  # every sprite of the set is the key once, the others its targets
            names = sorted({key_name, *target_names})
            pairs += [(set_name, k, [t for t in names if t != k] or [k]) for k in names]
        else:
            pairs.append((set_name, key_name, list(target_names)))
    for i in range(args.builtin):
        pairs.append(("builtin", f"cel {i}", [f"cel {i} {pose}" for pose in POSES]))
    every_key = {}
    if args.all_sprites_as_keys:
        every_key = {name: matching.prepare_key(picture(data, name), name=name)
                     for name in sorted({n for k, ts in SETS.values() for n in (k, *ts)})}
    for set_name, key_name, target_names in pairs:
        key_rgba = picture(data, key_name)
        key = matching.prepare_key(key_rgba, name=key_name, lines=args.key_lines)
        for target_name in target_names:
            sprite = picture(data, target_name)
            for t_name in args.transforms:
                truth = transform(sprite, t_name, seed=list(TRANSFORMS).index(t_name))
                lines = line_drawing(truth, args.lines)
                start = time.perf_counter()
                # Every other sprite (a set's key serves its own line drawing too).
                others = [k for n, k in every_key.items() if n != target_name or n == key_name]
                outs, regions, match = outputs(key, key_rgba, truth, lines, ROWS, others)
                seconds = time.perf_counter() - start
                row = {"set": set_name, "key": key_name, "target": target_name, "transform": t_name,
                       "regions": regions.count, "matched": int(match.matched.sum()),
                       "align_score": match.alignments[0].score, "fit": match.alignments[0].fit,
                       "seconds": seconds}
                for name, rgb in outs.items():
                    row[name] = score(truth, rgb, regions)
                results.append(row)
                log.info("%s / %s / %s: %s", set_name, target_name, t_name,
                         "  ".join(f"{n} {row[n]['ciede2000']:.1f}" for n in outs))
                if args.sheet and t_name in ("mirror", "scale0.6", "all", "same"):
                    sheets.setdefault(set_name, []).append((truth, lines, outs))
    return {"rows": results, "sheets": sheets}


def contact_sheet(items, height: int = 360) -> np.ndarray:
    """One row per target: truth (on white) | line drawing | each row's colouring."""
    rows = []
    for truth, lines, outs in items:
        tiles = [composite_white(truth)] + list(outs.values())
        h, w = truth.shape[:2]
        size = (max(1, round(w * height / h)), height)
        rows.append(np.concatenate([cv2.resize(np.asarray(t, np.float32), size, interpolation=cv2.INTER_AREA)
                                    for t in tiles], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=1.0) for r in rows]
    return np.clip(np.concatenate(rows, axis=0), 0.0, 1.0)


FIGURE = ("eileen", "eileen happy", (("eileen vhappy", "mirror"), ("eileen concerned", "scale0.6"),
                                     ("eileen vhappy", "tilt+all")))


def readme_figure(data: Path, height: int = 240) -> np.ndarray:
    """The README's picture: the key, then per target its line drawing above its colouring
    (matching + shading), each tile ``height`` px high, on white."""
    _, key_name, targets = FIGURE
    key_rgba = picture(data, key_name)
    key = matching.prepare_key(key_rgba, name=key_name)

    def tile(rgb):
        h, w = rgb.shape[:2]
        return cv2.resize(np.asarray(rgb, np.float32), (round(w * height / h), height), interpolation=cv2.INTER_AREA)

    top, bottom = [tile(composite_white(key_rgba))], [np.ones_like(tile(composite_white(key_rgba)))]
    for name, t_name in targets:
        truth = transform(picture(data, name), t_name, seed=list(TRANSFORMS).index(t_name))
        lines = line_drawing(truth, "xdog")
        regions = segment(lines)
        match = matching.match_regions(regions, key)
        flats = matching.reference_flats(regions, match)
        flats[~match.matched] = reference.key_palette(key)
        _, coloured = matching.reference_colouring(regions, match, flats)
        top.append(tile(np.repeat(lines[..., None], 3, axis=2)))
        bottom.append(tile(coloured))
    gap = np.ones((height, 8, 3), np.float32)
    rows = [np.concatenate([x for t in row for x in (t, gap)][:-1], axis=1) for row in (top, bottom)]
    return np.clip(np.concatenate([rows[0], np.ones((8, rows[0].shape[1], 3), np.float32), rows[1]], axis=0), 0, 1)


def table(results: list, rows=None) -> str:
    """Markdown: per set x transformation, CIEDE2000 / region accuracy of every row."""
    rows = [n for n in ROWS if n in results[0]] if rows is None else rows
    groups = {}
    for r in results:
        groups.setdefault((r["set"], r["transform"]), []).append(r)
    groups[("all", "all")] = results
    head = "| set | transform | " + " | ".join(rows) + " |"
    lines = [head, "|" + "---|" * (len(rows) + 2)]
    for (s, t), rs in groups.items():
        cells = [f"{np.mean([r[n]['ciede2000'] for r in rs]):.1f} / "
                 f"{100 * np.mean([r[n]['region_accuracy'] for r in rs]):.0f}%" for n in rows]
        lines.append(f"| {s} | {t} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data/renpy/sprites")
    parser.add_argument("--out", default="reports/reference")
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    parser.add_argument("--builtin", type=int, default=0, metavar="N",
                        help="also N built-in characters, each a key for itself in other poses")
    parser.add_argument("--transforms", nargs="+", default=list(ISSUE_TRANSFORMS), choices=list(TRANSFORMS))
    parser.add_argument("--lines", default="xdog", choices=("xdog", "xdog2", "canny"))
    parser.add_argument("--sheet", action="store_true")
    parser.add_argument("--key-lines", default="xdog", choices=matching.KEY_LINES,
                        help="how the key's regions are found (prepare_key's lines)")
    parser.add_argument("--no-flow", action="store_true", help="no local refinement (ablation)")
    parser.add_argument("--no-split", action="store_true", help="no splitting of merged regions (ablation)")
    parser.add_argument("--all-sprites-as-keys", action="store_true",
                        help="also a row matched against every other sprite of every set at once "
                             "(other characters are distractors)")
    parser.add_argument("--all-keys", action="store_true",
                        help="every sprite of a set is the key in turn (default: the first of SETS)")
    parser.add_argument("--readme-figure", metavar="PNG",
                        help="only write the README's picture (key, three targets, their colourings) and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if (args.sets or args.readme_figure) and not Path(args.data).is_dir():
        print(f"no data at {args.data}", file=sys.stderr)
        return 2
    if args.readme_figure:
        write_image(args.readme_figure, readme_figure(Path(args.data)))
        return 0
    OPTIONS.update(no_flow=args.no_flow, no_split=args.no_split)
    res = run(args)
    md = table(res["rows"])
    print(md)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps({"args": vars(args), "rows": res["rows"]}, indent=1))
    (out / "metrics.md").write_text("CIEDE2000 / region accuracy on the character's pixels\n\n" + md + "\n")
    for set_name, items in res["sheets"].items():
        write_image(out / f"sheet_{set_name}.png", contact_sheet(items))
    return 0


if __name__ == "__main__":
    sys.exit(main())
