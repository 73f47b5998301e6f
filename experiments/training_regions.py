"""Region labels for training and inference (issue #14): which drawing, which size, what cost.

Figures, never a test. Every score compares a label map with the TRUE colour areas of a
picture: its 4-connected areas of one flat colour (neighbours closer than 4 Lab units), those
with an interior (a 3x3 erosion leaves something), at least 6 px and not ink-dark (L > 25).
On the pixels of those areas:
  purity        share of pixels in their region's main true area (1 = no region mixes colours)
  completeness  share of pixels in their true area's main region (1 = no area is split)
  dE            mean CIE76 distance of a pixel's true colour to its region's mean
  found         share of true areas that one region covers (>= 50 % of the area, and >= 50 %
                of the region's scored pixels in it); "small": areas under 1 % of the picture
  regions       labels per picture

Subcommands:
  gray      the drawing to segment for --input gray: the gray prepared with to_line_art (what
            segment() does with a picture) against XDoG / Canny lines of the gray, on built-in
            pictures; and on ../shared/data/faces64 (real colour pictures, no flat truth) the
            mean colour distance to the region mean at the region count each method gives.
  lineart   labels from the pipeline's random line drawings against one fixed XDoG drawing.
  crop      what caching labels would give: segmenting the load-size picture and cropping the
            labels against segmenting the crop (how many pixels change region).
  working   inference: labels at the working size from a full-resolution drawing, segmented
            at full size and reduced (nearest, or smallest region per block), or brought to
            the working size first and segmented there; built-in pictures drawn at 256 / 512
            px, and OpenMoji line art (128 -> 64) against its flat colours when present.
  speed     the training pipeline's images/s and CPU ms per image with and without labels.

Usage:
  python experiments/training_regions.py gray|lineart|crop|working|speed [--count 100]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anime_colorize.cli_common  # noqa: E402  (quiet TensorFlow first)
anime_colorize.cli_common.quiet_tensorflow()
import cv2  # noqa: E402
import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402
from scipy.sparse import coo_matrix  # noqa: E402
from scipy.sparse.csgraph import connected_components  # noqa: E402

from anime_colorize import color  # noqa: E402
from anime_colorize.data import lineart, pipeline  # noqa: E402
from anime_colorize.data.io import read_image  # noqa: E402
from anime_colorize.data.synthetic import make_cel_image, make_cel_images  # noqa: E402
from anime_colorize.regions import segment_lines  # noqa: E402
from anime_colorize.regions.network_labels import drawing_of, region_labels  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SCORES = ("purity", "completeness", "dE", "found", "small found", "regions")


# ------------------------------------------------------------------------------ scoring

def true_areas(rgb_uint8: np.ndarray, tolerance: float = 4.0):
    """(area ids int (H, W), Lab (H, W, 3)): 4-connected areas of neighbours closer than
    ``tolerance`` Lab units."""
    lab = color.rgb_to_lab_np(rgb_uint8.astype(np.float64) / 255.0)
    h, w = lab.shape[:2]
    idx = np.arange(h * w).reshape(h, w)
    src, dst = [], []
    for a, b, la, lb in ((idx[:, :-1], idx[:, 1:], lab[:, :-1], lab[:, 1:]),
                         (idx[:-1], idx[1:], lab[:-1], lab[1:])):
        near = np.linalg.norm(la - lb, axis=-1) < tolerance
        src.append(a[near])
        dst.append(b[near])
    src, dst = np.concatenate(src), np.concatenate(dst)
    graph = coo_matrix((np.ones(len(src)), (src, dst)), shape=(h * w, h * w))
    return connected_components(graph, directed=False)[1].reshape(h, w), lab


def score(labels: np.ndarray, rgb_uint8: np.ndarray, min_area: int = 6) -> np.ndarray:
    """The figures of :data:`SCORES` for one label map against one picture's true areas."""
    truth, lab = true_areas(rgb_uint8)
    k_true, k = truth.max() + 1, labels.max() + 1
    area = np.bincount(truth.ravel(), minlength=k_true)
    interior = np.zeros(k_true)
    for g in np.flatnonzero(area >= min_area):
        interior[g] = ndimage.binary_erosion(truth == g).sum()
    lightness = np.bincount(truth.ravel(), weights=lab[..., 0].ravel(), minlength=k_true) / np.maximum(area, 1)
    real = (area >= min_area) & (interior > 0) & (lightness > 25)
    scored = real[truth]
    r, g = labels[scored], truth[scored]
    pairs, counts = np.unique(r.astype(np.int64) * k_true + g, return_counts=True)
    pr, pg = np.divmod(pairs, k_true)
    best_r, best_g = np.zeros(k), np.zeros(k_true)
    np.maximum.at(best_r, pr, counts)
    np.maximum.at(best_g, pg, counts)
    r_area, g_area = np.bincount(r, minlength=k), np.bincount(g, minlength=k_true)
    mean = np.stack([np.bincount(r, weights=lab[..., c][scored], minlength=k) for c in range(3)], 1)
    mean /= np.maximum(r_area, 1)[:, None]
    de = np.linalg.norm(lab[scored] - mean[r], axis=-1).mean()
    covered = (counts >= 0.5 * g_area[pg]) & (counts >= 0.5 * r_area[pr])
    found = np.zeros(k_true, bool)
    found[pg[covered]] = True
    small = real & (area < labels.size / 100)
    n = scored.sum()
    return np.array([best_r.sum() / n, best_g.sum() / n, de, found[real].mean(),
                     found[small].mean() if small.any() else np.nan, k])


def report(name: str, rows) -> None:
    s = np.nanmean(np.array(rows), axis=0)
    print(f"{name:52s} " + "  ".join(f"{k} {v:.3f}" if k != "regions" else f"{k} {v:.1f}"
                                     for k, v in zip(SCORES, s)), flush=True)


def gray_of(rgb_uint8: np.ndarray) -> np.ndarray:
    return color.rgb_to_gray_np(rgb_uint8)[..., 0]


def model_gray_input(rgb_uint8: np.ndarray) -> np.ndarray:
    return color.rgb_to_l_ab_np(rgb_uint8)[0]


# ------------------------------------------------------------------------- experiments

def gray(args) -> None:
    methods = {
        "gray -> to_line_art (chosen: drawing_of)": lambda p: region_labels(drawing_of(model_gray_input(p), "gray")),
        "XDoG of the gray": lambda p: region_labels(lineart.xdog(gray_of(p))),
        "min(XDoG, to_line_art)": lambda p: region_labels(np.minimum(lineart.xdog(gray_of(p)),
                                                                     lineart.to_line_art(gray_of(p)))),
        "Canny of the gray": lambda p: region_labels(lineart.canny_lines(gray_of(p))),
    }
    for size in (64, 128):
        pictures = make_cel_images(args.count, size, seed=123)
        for name, fn in methods.items():
            report(f"built-in {size}px: {name}", [score(fn(p), p) for p in pictures])
    faces = sorted((DATA / "faces64").glob("*.jpg"))[::150][:args.count]
    for name, fn in methods.items():
        if not faces:
            break
        des, counts = [], []
        for f in faces:
            p = np.clip(np.rint(read_image(f) * 255), 0, 255).astype(np.uint8)
            labels = fn(p)
            lab = color.rgb_to_lab_np(p.astype(np.float64) / 255.0)
            k, flat = labels.max() + 1, labels.ravel()
            mean = np.stack([np.bincount(flat, weights=lab[..., c].ravel(), minlength=k) for c in range(3)], 1)
            mean /= np.bincount(flat, minlength=k)[:, None]
            des.append(np.linalg.norm(lab - mean[labels], axis=-1).mean())
            counts.append(k)
        print(f"faces64 ({len(faces)}): {name:40s} dE to region mean {np.mean(des):.2f}, "
              f"regions {np.mean(counts):.1f}", flush=True)


def lineart_labels(args) -> None:
    for size in (64, 128):
        pictures = make_cel_images(args.count, size, seed=123)
        rng = np.random.default_rng(0)
        report(f"built-in {size}px: pipeline's random lines",
               [score(pipeline.element_region_labels(p, lineart.random_lines(p, rng)), p) for p in pictures])
        report(f"built-in {size}px: fixed XDoG lines",
               [score(pipeline.element_region_labels(p, lineart.extract_lines(p)), p) for p in pictures])


def disagreement(a: np.ndarray, b: np.ndarray) -> float:
    """Share of pixels outside the best-matching region, averaged over both directions."""
    k_b = b.max() + 1
    pairs, counts = np.unique(a.astype(np.int64) * k_b + b, return_counts=True)
    pa, pb = np.divmod(pairs, k_b)
    best_a, best_b = np.zeros(a.max() + 1), np.zeros(k_b)
    np.maximum.at(best_a, pa, counts)
    np.maximum.at(best_b, pb, counts)
    return 1.0 - 0.5 * (best_a.sum() + best_b.sum()) / a.size


def crop(args) -> None:
    rng = np.random.default_rng(0)
    for size in (64, 128):
        load = round(size * 1.125)
        pictures = make_cel_images(args.count, load, seed=123)
        for kind in ("gray", "lineart (fixed XDoG)"):
            def labels_of(p):
                return region_labels(drawing_of(model_gray_input(p), "gray") if kind == "gray"
                                     else lineart.extract_lines(p))
            after, before, moved = [], [], []
            for p in pictures:
                top, left = rng.integers(0, load - size + 1, 2)
                window = (slice(top, top + size), slice(left, left + size))
                cut = np.ascontiguousarray(p[window])
                a = labels_of(cut)
                _, b = np.unique(labels_of(p)[window], return_inverse=True)
                b = b.reshape(a.shape)
                after.append(score(a, cut))
                before.append(score(b, cut))
                moved.append(disagreement(a, b))
            report(f"{size}px {kind}: segment the crop", after)
            report(f"{size}px {kind}: segment {load}px, crop the labels", before)
            print(f"{size}px {kind}: pixels in another region {100 * np.mean(moved):.2f} %", flush=True)


def _nearest(labels, shape):
    return cv2.resize(labels, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)


def _smallest_region_blocks(labels, shape):
    """Each block takes the label of its smallest (full-size area) region (integer factors)."""
    fh, fw = labels.shape[0] // shape[0], labels.shape[1] // shape[1]
    k = labels.max() + 1
    key = np.bincount(labels.ravel())[labels].astype(np.int64) * k + labels
    return (key.reshape(shape[0], fh, shape[1], fw).min(axis=(1, 3)) % k).astype(np.int32)


def _compact(labels):
    return np.unique(labels, return_inverse=True)[1].reshape(labels.shape).astype(np.int32)


WAYS = {
    "segment full size, nearest reduction": lambda d, s: _compact(_nearest(segment_lines(d).labels, s)),
    "segment full size, smallest region per block": lambda d, s: _compact(
        _smallest_region_blocks(segment_lines(d).labels, s)),
    "to working size (area), segment (chosen)": lambda d, s: region_labels(
        cv2.resize(d, (s[1], s[0]), interpolation=cv2.INTER_AREA)),
}


def working(args) -> None:
    for full, work in ((256, 64), (512, 64), (512, 128)):
        cases = [(lineart.extract_lines(make_cel_image(i, full, seed=77), thickness=max(1, full // 128)),
                  make_cel_image(i, work, seed=77)) for i in range(args.count)]
        for name, fn in WAYS.items():
            start = time.process_time()
            rows = [score(fn(d, truth.shape[:2]), truth) for d, truth in cases]
            report(f"built-in {full}->{work}: {name}", rows)
            print(f"    ({1000 * (time.process_time() - start) / len(cases):.1f} CPU ms per picture with scoring)")
    lines = sorted((DATA / "openmoji128" / "line").glob("*.png"))[::40][:args.count]
    cases = []
    for f in lines:
        colour = read_image(DATA / "openmoji128" / "color" / f.name)[..., :3]
        colour = cv2.resize(colour, (64, 64), interpolation=cv2.INTER_AREA)
        cases.append((lineart.to_line_art(read_image(f)), np.clip(np.rint(colour * 255), 0, 255).astype(np.uint8)))
    for name, fn in WAYS.items():
        if cases:
            report(f"OpenMoji 128->64 ({len(cases)}): {name}", [score(fn(d, t.shape[:2]), t) for d, t in cases])


def speed(args) -> None:
    for size in (64, 128):
        source = pipeline.builtin_source(64, round(size * 1.125), 0, progress=False)
        for kind in ("gray", "lineart"):
            for regions in (False, True):
                batches = iter(pipeline.training_dataset(source, size, 16, 0, input_kind=kind, regions=regions))
                for _ in range(5):
                    next(batches)
                start, cpu = time.perf_counter(), time.process_time()
                for _ in range(args.batches):
                    next(batches)
                wall, cpu = time.perf_counter() - start, time.process_time() - cpu
                images = 16 * args.batches
                print(f"{size}px {kind:8s} labels {'on ' if regions else 'off'}: {images / wall:7.1f} img/s, "
                      f"{1000 * cpu / images:5.2f} CPU ms per image", flush=True)
                del batches


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=("gray", "lineart", "crop", "working", "speed"))
    p.add_argument("--count", type=int, default=100, help="pictures per case")
    p.add_argument("--batches", type=int, default=40, help="timed batches of 16 (speed)")
    args = p.parse_args(argv)
    {"gray": gray, "lineart": lineart_labels, "crop": crop, "working": working, "speed": speed}[args.what](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
