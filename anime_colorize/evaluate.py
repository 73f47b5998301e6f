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
Every figure is measured on those RGB images (turned back into Lab with scikit-image where Lab
is needed) and averaged over images, and over the K samples unless said:

* PSNR (dB): skimage ``peak_signal_noise_ratio`` on RGB in [0, 1] against the truth, capped at
  100 dB (identical images). "mean-z": the mean over the K samples; "best-of-K": the best one.
* SSIM: skimage ``structural_similarity`` on RGB, channel_axis=-1, data_range=1, 7x7 window.
* CIEDE2000: the mean over pixels of skimage ``deltaE_ciede2000`` between truth and output Lab.
* colourfulness: Hasler & Suesstrunk (2003) on 0..255 RGB with rg = R - G, yb = (R + G)/2 - B:
  sqrt(std_rg^2 + std_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2). The truth's is in the caption,
  the ratio to it in brackets: painting gray can gain PSNR, and shows here as a ratio near 0.
* ab histograms: (a, b) of every pixel of every output (all K) and of every truth image, over the
  whole data set, counted in 33 x 33 bins over [-110, 110]^2 (odd, so gray is a bin centre) and
  normalised to sum 1. Reported: the Jensen-Shannon divergence to the truth's histogram (base 2:
  0 = identical, 1 = disjoint; the table's "ab-hist JS") and the histogram intersection
  sum(min(p, q)) (1 = identical).
* diversity: the mean, over pairs of the K colourings of one image, of their mean per-pixel ab
  distance sqrt(da^2 + db^2) in Lab units (0 when the model ignores z; null when K = 1).

Hint models (the model's metadata lists its hint kinds):
* points (--hint-points, default 0,1,2,5,10,20): for each n, every image gets exactly n point
  hints simulated from its truth (``simulate_points(count=n)``: patch means of 1-3 px patches
  placed around the centre, seeded by --seed and the image's index, so runs are identical).
  Reported per n: the table's figures ("model, n hints" rows), and the hint error: the mean
  over hinted pixels of the ab distance (Lab units) between output and hint colour; plus
  ``hint_sweep.png`` (PSNR against n, next to the baselines).
* reference (models taking a histogram): each image is coloured with the colour histogram of
  ANOTHER image of the set as its reference (image i takes image i+1's, cyclically within its
  batch). Palette match = the 512-bin colour-histogram intersection between the output and that
  reference, with the reference given and without it (same images, same z): it rises when the
  reference's palette is taken over.

Baselines on the same images: "gray" (ab = 0; for line art a white page under the lines) and
"training mean" (the per-pixel mean ab, for line art mean L and ab, of the training images:
--train-data, else the ``data.data`` entry of the ``config.json`` beside the model, built-in
pictures with the run's seed where it is null; at most --baseline-images, sorted, never a file
selected by --data and --include; the row is left out, with a note, when none is known).
Writes to --out: ``metrics.json`` (all figures, the arguments, counts, model metadata; no
timestamps, so two runs give identical files), ``metrics.md`` (the table it prints),
``bars.png``, ``ab_histograms.png``, ``contact_sheet.png`` (8 rows: input | truth | K
colourings) and, for point-hint models, ``hint_sweep.png`` (PSNR against n),
``hint_sheet.png`` (input | hints | truth | colourings, for the largest n) and
``hint_sweep_sheet.png`` (input | truth | the first z's colouring for each n).

Extending: every scored row is a *predictor* ``batch -> (colours (B, K, H, W, C), hints or
None)``: C = 2 (ab, joined with the truth's L) or 3 (Lab, multiplied by the lines). ``batch``
holds the truth (``rgb``, ``l``, ``ab``), the model input ``net`` and, for line art, ``lines``.
"""
from __future__ import annotations

import anime_colorize.cli_common as cli_common  # first: quiets TensorFlow's start-up logs
cli_common.quiet_tensorflow()

import argparse
import fnmatch
import itertools
import json
import logging
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from tqdm.auto import tqdm

from anime_colorize import color, sampling
from anime_colorize.data import hints as hints_lib
from anime_colorize.data.io import DEFAULT_MAX_PIXELS, allow_max_pixels, find_images, read_image_or_none, write_image
from anime_colorize.data.lineart import extract_lines, to_line_art
from anime_colorize.data.pipeline import builtin_holdout, fit_square
from anime_colorize.data.synthetic import make_cel_images
from anime_colorize.export import load_generator

log = logging.getLogger("anime_colorize.evaluate")

SHEET_ROWS = 8
PSNR_CAP = 100.0
HIST_BINS = 33
AB_LIMIT = 110.0
INPUT_LABELS = {"gray": "gray", "lineart": "line-art"}
DEFAULT_HINT_POINTS = "0,1,2,5,10,20"
TABLE = [("psnr_mean_z", "PSNR mean-z (dB)"), ("psnr_best_of_k", "PSNR best-of-K (dB)"), ("ssim", "SSIM"),
         ("ciede2000", "CIEDE2000"), ("colourfulness", "colourfulness"), ("ab_hist_js", "ab-hist JS"),
         ("diversity", "diversity")]


# ---------------------------------------------------------------- metrics (numpy, one image)

def psnr(truth: np.ndarray, out: np.ndarray) -> float:
    with np.errstate(divide="ignore"):
        value = peak_signal_noise_ratio(truth, out, data_range=1.0)
    return float(min(value, PSNR_CAP))


def ssim(truth: np.ndarray, out: np.ndarray) -> float:
    win = min(7, (min(truth.shape[:2]) - 1) // 2 * 2 + 1)  # 7 unless the image is tinier
    return float(structural_similarity(truth, out, channel_axis=-1, data_range=1.0, win_size=win))


def colourfulness(rgb) -> np.ndarray:
    """Hasler & Suesstrunk colourfulness of RGB (..., H, W, 3) in [0, 1] -> (...)."""
    x = np.asarray(rgb, np.float64) * 255.0
    rg = x[..., 0] - x[..., 1]
    yb = 0.5 * (x[..., 0] + x[..., 1]) - x[..., 2]
    axes = (-2, -1)
    return np.hypot(rg.std(axis=axes), yb.std(axis=axes)) + 0.3 * np.hypot(rg.mean(axis=axes), yb.mean(axis=axes))


def ab_histogram(lab) -> np.ndarray:
    """Pixel counts (HIST_BINS, HIST_BINS) of (a, b) of Lab (..., 3); a on the first axis."""
    edges = np.linspace(-AB_LIMIT, AB_LIMIT, HIST_BINS + 1)
    ab = np.clip(np.asarray(lab)[..., 1:].reshape(-1, 2), -AB_LIMIT, AB_LIMIT)
    return np.histogram2d(ab[:, 0], ab[:, 1], bins=(edges, edges))[0]


def histogram_distances(p, q) -> dict:
    """Jensen-Shannon divergence (bits) and intersection of two histograms (normalised here)."""
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl_to_m(a):  # 0 log 0 = 0
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return {"ab_hist_js": max(0.0, 0.5 * kl_to_m(p) + 0.5 * kl_to_m(q)),
            "ab_hist_intersection": float(np.minimum(p, q).sum())}


def diversity(labs: np.ndarray) -> float | None:
    """Mean over pairs of K Lab images (K, H, W, 3) of their mean per-pixel ab distance."""
    pairs = list(itertools.combinations(range(len(labs)), 2))
    if not pairs:
        return None
    return float(np.mean([np.linalg.norm(labs[i, ..., 1:] - labs[j, ..., 1:], axis=-1).mean() for i, j in pairs]))


class RowScores:
    """Per-image figures of one scored row (K outputs per image) and its ab histogram."""

    def __init__(self, k: int):
        self.k = k
        self.values = {"psnr": [], "ssim": [], "ciede2000": [], "colourfulness": []}  # per image: K values
        self.diversity = []
        self.hint_error = []  # per image with spatial hints: mean over K
        self.palette = []     # per image given a reference histogram
        self.hist = np.zeros((HIST_BINS, HIST_BINS))

    def add(self, truth: np.ndarray, truth_lab: np.ndarray, outs: np.ndarray, hints: dict | None = None) -> None:
        """truth (H, W, 3) RGB, truth_lab its Lab, outs (K, H, W, 3) RGB, hints of this image."""
        labs = rgb2lab(outs)
        if hints is not None and "hint_mask" in hints:
            errors = hint_errors(labs, hints)
            if not np.isnan(errors).any():
                self.hint_error.append(float(errors.mean()))
        if hints is not None and "hint_hist" in hints and np.asarray(hints["hint_hist"]).sum() > 0:
            self.palette.append(palette_match(outs, hints["hint_hist"]))
        self.values["psnr"].append([psnr(truth, o) for o in outs])
        self.values["ssim"].append([ssim(truth, o) for o in outs])
        self.values["ciede2000"].append(deltaE_ciede2000(np.broadcast_to(truth_lab, labs.shape), labs,
                                                         channel_axis=-1).mean(axis=(1, 2)))
        self.values["colourfulness"].append(colourfulness(outs))
        self.diversity.append(diversity(labs))
        self.hist += ab_histogram(labs)

    def summary(self, truth_hist: np.ndarray, truth_colour: float) -> dict:
        v = {name: np.asarray(values, np.float64) for name, values in self.values.items()}  # (N, K)
        colour = float(v["colourfulness"].mean())
        return {"psnr_mean_z": float(v["psnr"].mean()), "psnr_best_of_k": float(v["psnr"].max(axis=1).mean()),
                "ssim": float(v["ssim"].mean()), "ciede2000": float(v["ciede2000"].mean()),
                "colourfulness": colour, "colourfulness_ratio": colour / max(truth_colour, 1e-12),
                **histogram_distances(self.hist, truth_hist),
                "diversity": None if self.k < 2 else float(np.mean(self.diversity)), "num_samples": self.k,
                "hint_error": float(np.mean(self.hint_error)) if self.hint_error else None,
                "palette_match": float(np.mean(self.palette)) if self.palette else None}


# ---------------------------------------------------------------- predictors and scoring

def model_predictor(generator, z: np.ndarray, hint_fn=None, measure_only: bool = False):
    """All K colourings of a batch, the model run at its working size as ``colorize`` runs it
    (:func:`anime_colorize.sampling.predict_colors`), in one model call.

    ``hint_fn(batch) -> hints dict or None`` gives the hints at the batch's size (simulated
    from the truth); the model never sees the truth otherwise. With ``measure_only`` the
    hints are returned for scoring but not given to the model (the "without" comparison).
    """
    def predict(batch):
        net = batch["net"]
        b = int(net.shape[0])
        hints = hint_fn(batch) if hint_fn is not None else None
        per_image = None
        if hints is not None and not measure_only:
            per_image = [{key: value[i:i + 1] for key, value in hints.items()} for i in range(b)]
        colors = sampling.predict_colors(generator, tf.unstack(net), z, per_image, batch_size=b * len(z))
        return tf.stack(colors), hints
    return predict


def constant_predictor(colors: np.ndarray):
    """The same normalised colours (H, W, C) for every image: the baselines (K = 1)."""
    return lambda batch: (tf.broadcast_to(tf.constant(colors, tf.float32),
                                          (batch["rgb"].shape[0], 1) + colors.shape), None)


def point_hints(count: int, seed: int):
    """hint_fn for :func:`model_predictor`: exactly ``count`` points per image from its truth,
    keyed by (seed, index of the batch's first image)."""
    return lambda batch: hints_lib.simulate_points(batch["rgb"], (seed, batch["start"]), count=count)


def other_picture_reference(batch) -> dict:
    """hint_fn: each image takes the colour histogram of the next image of its batch."""
    return {"hint_hist": tf.roll(hints_lib.colour_histogram(batch["rgb"]), shift=-1, axis=0)}


def model_batch(rgb: np.ndarray, input_kind: str, lines: np.ndarray | None, start: int) -> dict:
    """The truth and the model input of float RGB (B, S, S, 3); ``lines`` (B, S, S) in [0, 1]
    (real line art) or None (extracted with XDoG for line-art models)."""
    l, ab = color.rgb_to_l_ab(rgb)
    batch = {"rgb": tf.constant(rgb), "l": l, "ab": ab, "start": start}
    if input_kind == "lineart":
        if lines is None:
            lines = np.stack([extract_lines(picture) for picture in rgb])
        batch["lines"] = tf.constant(lines[..., None], tf.float32)
        batch["net"] = color.normalize_lines(batch["lines"])
    else:
        batch["net"] = l
    return batch


def to_rgb(batch, colors) -> np.ndarray:
    """Colours (B, K, S, S, C) -> RGB (B, K, S, S, 3) as the colorize command composes them."""
    k = int(colors.shape[1])
    flat = tf.reshape(colors, (-1,) + tuple(colors.shape[2:]))
    if colors.shape[-1] == 2:
        rgb = sampling.colors_to_rgb(flat, l=tf.repeat(batch["l"], k, axis=0))
    else:
        rgb = sampling.colors_to_rgb(flat, lines=tf.repeat(batch["lines"], k, axis=0))
    rgb = tf.clip_by_value(rgb, 0.0, 1.0)
    return tf.reshape(rgb, tuple(colors.shape[:2]) + tuple(rgb.shape[1:])).numpy()


def hint_errors(outs_lab: np.ndarray, hints: dict) -> np.ndarray:
    """Per output, mean ab distance (Lab units) to the hint colour over the hinted pixels; NaN
    where an image has none. outs_lab (K, H, W, 3); hints of that one image (H, W, ...)."""
    mask = np.asarray(hints["hint_mask"])[..., 0] > 0
    if not mask.any():
        return np.full(len(outs_lab), np.nan)
    target = np.asarray(hints["hint_ab"])[mask] * color.AB_SCALE
    return np.linalg.norm(outs_lab[:, mask, 1:] - target, axis=-1).mean(axis=1)


def palette_match(outs: np.ndarray, reference_hist: np.ndarray) -> float:
    """Mean over K outputs (K, H, W, 3) of the 512-bin histogram intersection with a reference."""
    hists = hints_lib.colour_histogram(tf.constant(outs, tf.float32)).numpy()
    return float(np.minimum(hists, reference_hist[None]).sum(axis=1).mean())


def score_dataset(images: np.ndarray, predictors: dict, batch_size: int = 16, input_kind: str = "gray",
                  quiet: bool = True, lines: np.ndarray | None = None, sheets=("model",)):
    """Scores uint8 RGB (N, S, S, 3) with each ``{name: predictor}``; see the module docstring.

    ``lines``: real line art (N, S, S) in [0, 1] for line-art models, or None.
    Returns ({name: summary dict}, truth colourfulness, truth ab histogram, {name: RowScores},
    {name: contact-sheet tiles (rows, cols, S, S, 3)} for the rows named in ``sheets``).
    """
    rows = {}
    truth_hist, truth_colour = np.zeros((HIST_BINS, HIST_BINS)), []
    sheet = {name: [] for name in sheets if name in predictors}
    with tqdm(total=len(images), desc="evaluating", unit="img", disable=quiet) as bar:
        for start in range(0, len(images), batch_size):
            rgb = images[start:start + batch_size].astype(np.float32) / 255.0
            batch = model_batch(rgb, input_kind, None if lines is None else lines[start:start + batch_size], start)
            truth_lab = rgb2lab(rgb)
            truth_hist += ab_histogram(truth_lab)
            truth_colour.extend(colourfulness(rgb))
            shown = sampling.input_picture(batch["l"], batch.get("lines")).numpy()
            for name, predict in predictors.items():
                colors, hints = predict(batch)
                outs = to_rgb(batch, tf.convert_to_tensor(colors, tf.float32))
                row = rows.setdefault(name, RowScores(int(outs.shape[1])))
                for i in range(len(rgb)):
                    one_hints = None if hints is None else {key: np.asarray(v[i]) for key, v in hints.items()}
                    row.add(rgb[i], truth_lab[i], outs[i], one_hints)
                if name in sheet:
                    hint_tiles = None
                    if hints is not None and "hint_mask" in hints:
                        hint_tiles = sampling.hint_picture(hints).numpy()
                    for i in range(min(len(rgb), SHEET_ROWS - len(sheet[name]))):
                        tiles = [shown[i:i + 1]] + ([hint_tiles[i:i + 1]] if hint_tiles is not None else [])
                        sheet[name].append(np.concatenate(tiles + [rgb[i:i + 1], outs[i]]))
            bar.update(len(rgb))
    truth_c = float(np.mean(truth_colour))
    results = {name: row.summary(truth_hist, truth_c) for name, row in rows.items()}
    return results, truth_c, truth_hist, rows, {name: np.stack(tiles) for name, tiles in sheet.items()}


# ---------------------------------------------------------------- images

def load_folder(paths, size: int, desc: str, quiet: bool, max_pixels: int = DEFAULT_MAX_PIXELS):
    """uint8 (N, size, size, 3) via ``fit_square``, the paths used, and [(path, reason)] skipped
    (each logged with its reason)."""
    images, used, skipped = [], [], []
    for path in tqdm(paths, desc=desc, unit="img", disable=quiet):
        rgb, reason = read_image_or_none(path, max_pixels=max_pixels)
        if rgb is None:
            log.warning("skipped unreadable %s: %s", path, reason)
            skipped.append((path, reason))
            continue
        images.append(fit_square(rgb, size))
        used.append(path)
    return (np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8)), used, skipped


def run_config(model_path) -> dict | None:
    """The ``config.json`` of the run folder the model lives in, if any."""
    p = Path(model_path)
    run = p if p.is_dir() and not (p / "saved_model.pb").exists() else p.parent
    try:
        return json.loads((run / "config.json").read_text())
    except (OSError, ValueError):
        return None


def training_images(args, size: int, exclude: set, quiet: bool):
    """(uint8 images or None, description or note) for the training-mean baseline."""
    config = run_config(args.model)
    spec, origin, count = args.train_data, "--train-data", args.baseline_images
    seed = (config or {}).get("train", {}).get("seed", args.seed)
    if spec is None:
        if config is None:
            return None, ("no --train-data given and no config.json beside the model "
                          "(give --train-data FOLDER or builtin)")
        spec, origin = config.get("data", {}).get("data") or "builtin", "config.json"
        if spec == "builtin":
            count = min(count, config.get("data", {}).get("num_images", count))
    if count < 1:
        return None, "--baseline-images is 0"
    if spec == "builtin":
        if size < 16:
            return None, f"built-in pictures need --size of at least 16, not {size}"
        return make_cel_images(count, size, seed=seed), f"{count} built-in pictures, seed {seed} ({origin})"
    try:
        paths = [p for p in find_images(spec) if str(Path(p).resolve()) not in exclude][:count]
    except (OSError, ValueError) as e:
        return None, f"training data {spec} ({origin}) unusable: {cli_common.describe(e)}"
    images, _, _ = load_folder(paths, size, "training mean", quiet, args.max_pixels)
    if not len(images):
        return None, f"no readable training image in {spec} ({origin}) apart from the selected ones"
    return images, f"{len(images)} images of {spec} ({origin})"


def mean_colors(images: np.ndarray, batch_size: int, input_kind: str = "gray") -> np.ndarray:
    """Per-pixel mean of what a model of ``input_kind`` predicts, over uint8 images: normalised
    ab, float32 (S, S, 2), or for line art normalised L and ab, (S, S, 3)."""
    channels = 3 if input_kind == "lineart" else 2
    total = np.zeros(images.shape[1:3] + (channels,), np.float64)
    for start in range(0, len(images), batch_size):
        l, ab = color.rgb_to_l_ab(images[start:start + batch_size].astype(np.float32) / 255.0)
        colors = ab if channels == 2 else tf.concat([l, ab], -1)
        total += colors.numpy().sum(axis=0, dtype=np.float64)
    return (total / len(images)).astype(np.float32)


# ---------------------------------------------------------------- reports

def markdown(results: dict, truth_colour: float, caption: str) -> str:
    def cell(r, key):
        v = r[key]
        if v is None:
            return "—"
        if key == "colourfulness":
            return f"{v:.2f} ({r['colourfulness_ratio']:.2f})"
        return f"{v:.3f}" if key in ("ssim", "ab_hist_js") else f"{v:.2f}"
    lines = [f"{caption} Truth colourfulness {truth_colour:.2f} (ratio to it in brackets); CIEDE2000 and "
             "diversity in Lab units; ab-hist JS: Jensen-Shannon divergence (bits) to the truth's ab histogram.",
             "", "| | " + " | ".join(label for _, label in TABLE) + " |", "|---" + "|---:" * len(TABLE) + "|"]
    lines += [f"| {name} | " + " | ".join(cell(r, key) for key, _ in TABLE) + " |" for name, r in results.items()]
    extra = [(name, r) for name, r in results.items() if r["hint_error"] is not None or r["palette_match"] is not None]
    if extra:
        lines += ["", "Hints: hint error = mean ab distance (Lab units) between output and hint colour at the hinted "
                  "pixels; palette match = 512-bin colour-histogram intersection of the output with the reference "
                  "picture's (another image of the set), with and without the reference given.", "",
                  "| | hint error | palette match |", "|---|---:|---:|"]
        fmt = lambda v, spec: "—" if v is None else format(v, spec)  # noqa: E731
        lines += [f"| {name} | {fmt(r['hint_error'], '.2f')} | {fmt(r['palette_match'], '.3f')} |"
                  for name, r in extra]
    return "\n".join(lines) + "\n"


def plot_report(results: dict, truth_colour: float, truth_hist, model_hist, out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, (key, title) in zip(axes, [("psnr_mean_z", "PSNR mean-z (dB), higher is better"),
                                       ("ciede2000", "CIEDE2000, lower is better"),
                                       ("colourfulness", "colourfulness (dashed: truth)")]):
        ax.bar([n.replace(" baseline", "\nbaseline") for n in names], [results[n][key] for n in names],
               color=["C0", "C7", "C2"][:len(names)])
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[2].axhline(truth_colour, color="k", ls="--", lw=1)
    fig.tight_layout()
    fig.savefig(out_dir / "bars.png", dpi=100)
    plt.close(fig)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, (title, hist) in zip(axes, [("truth", truth_hist), ("model (all K samples)", model_hist)]):
        shown = ax.imshow(np.log10(hist.T / hist.sum() + 1e-6), origin="lower", cmap="magma", vmin=-6, vmax=0,
                          extent=(-AB_LIMIT, AB_LIMIT, -AB_LIMIT, AB_LIMIT))
        ax.set(title=f"ab histogram: {title}", xlabel="a", ylabel="b")
    fig.colorbar(shown, ax=list(axes), label="log10 share of pixels")
    fig.savefig(out_dir / "ab_histograms.png", dpi=100)
    plt.close(fig)


def write_contact_sheet(sheet: np.ndarray, path: Path) -> None:
    rows, cols = sheet.shape[:2]
    grid = sampling.make_grid(sheet.reshape((-1,) + sheet.shape[2:]), rows, cols)
    scale = 2 if sheet.shape[2] < 128 else 1  # nearest-neighbour 2x for small images
    write_image(path, grid.repeat(scale, axis=0).repeat(scale, axis=1))


# ---------------------------------------------------------------- command line

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
    p.add_argument("--train-data", default=None,
                   help="training images for the mean-ab baseline: a folder or 'builtin' (default: from config.json)")
    p.add_argument("--baseline-images", type=int, default=2000, help="at most this many training images for it")
    p.add_argument("--batch-size", type=int, default=16, help="images per model call (each with K z)")
    p.add_argument("--unsafe", action="store_true", help="allow a .keras file to run stored code (trusted files only)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help="skip images with more pixels than this, read from the file header before decoding: "
                        "a guard against decompression bombs (default: %(default)s)")
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def paired_images(args, size: int):
    """(uint8 colour images, line art (N, size, size) in [0, 1], used colour paths, skipped) for
    --lines / --colors, paired by file stem."""
    lines_by_stem = {}
    for path in find_images(args.lines):
        lines_by_stem.setdefault(Path(path).stem, path)
    colours = find_images(args.colors)
    if args.include is not None:
        colours = [p for p in colours if fnmatch.fnmatch(Path(p).name, args.include)]
    pairs, skipped = [], []
    for path in colours:
        line_path = lines_by_stem.get(Path(path).stem)
        if line_path is None:
            skipped.append((path, f"no line art named {Path(path).stem}.* in {args.lines}"))
        else:
            pairs.append((path, line_path))
    pairs = pairs[:args.limit]
    images, lines, used = [], [], []
    for path, line_path in tqdm(pairs, desc="reading", unit="pair", disable=args.quiet):
        rgb, reason = read_image_or_none(path, max_pixels=args.max_pixels)
        drawing, line_reason = read_image_or_none(line_path, max_pixels=args.max_pixels)
        if rgb is None or drawing is None:
            skipped.append((path if rgb is None else line_path, reason or line_reason))
            continue
        images.append(fit_square(rgb, size))
        lines.append(to_line_art(fit_square(drawing, size)))
        used.append(path)
    for path, reason in skipped:
        log.warning("skipped %s: %s", path, reason)
    if not images:
        raise ValueError(f"no readable pair of line art in {args.lines} and colours in {args.colors}")
    return np.stack(images), np.stack(lines), used, skipped


def evaluation_images(args, size: int):
    """(uint8 images, line art or None, description, selected paths (all --include matches),
    used paths, skipped); raises ValueError with the message for the user."""
    if args.lines is not None:
        images, lines, used, skipped = paired_images(args, size)
        source = f"line art {args.lines} with colours {args.colors}" + (
            f" matching {args.include!r}" if args.include else "")
        return images, lines, source, used, used, skipped
    if args.data == "builtin":
        if args.include is not None:
            raise ValueError("--include selects files of a folder; it does not apply to --data builtin")
        n = args.limit or 256
        if size < 16:
            raise ValueError(f"built-in pictures need --size of at least 16, not {size}")
        source = f"{n} held-out built-in pictures, seed {args.seed}"
        return builtin_holdout(n, size, args.seed), None, source, [], [], []
    if not Path(args.data).is_dir():
        raise ValueError(f"data folder not found: {args.data}")
    paths = find_images(args.data)
    if args.include is not None:
        paths = [p for p in paths if fnmatch.fnmatch(Path(p).name, args.include)]
    if not paths:
        raise ValueError(f"no image in {args.data} matches --include {args.include!r}")
    images, used, skipped = load_folder(paths[:args.limit], size, "reading", args.quiet, args.max_pixels)
    if not len(images):
        raise ValueError(f"none of the {len(skipped)} selected images in {args.data} could be read (reasons above)")
    return images, None, args.data + (f" matching {args.include!r}" if args.include else ""), paths, used, skipped


def parse_counts(text: str) -> list:
    try:
        counts = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise ValueError(f"--hint-points takes numbers such as 0,1,5, not {text!r}") from None
    if any(c < 0 for c in counts):
        raise ValueError("--hint-points must not be negative")
    return counts


def hint_predictors(g, z, args) -> dict:
    """The hint rows for a hint model: one per number of points, and the reference pair."""
    rows = {}
    if set(g.hint_kinds) & set(hints_lib.SPATIAL_KINDS):
        for n in parse_counts(args.hint_points):
            if n > 0:
                rows[f"model, {n} hints"] = model_predictor(g, z, point_hints(n, args.seed))
    if set(g.hint_kinds) & set(hints_lib.GLOBAL_KINDS):
        rows["model, no reference"] = model_predictor(g, z, other_picture_reference, measure_only=True)
        rows["model, reference"] = model_predictor(g, z, other_picture_reference)
    return rows


def hint_sweep_sheet(sheets: dict) -> np.ndarray:
    """Tiles (rows, 2 + len(counts), S, S, 3): input | truth | the first z's colouring with 0,
    then each number of hint points, from the contact-sheet tiles of the model and hint rows
    (``[input, truth, K outputs]`` and ``[input, hints, truth, K outputs]``)."""
    hinted = sorted((name for name in sheets if name.endswith(" hints")),
                    key=lambda name: int(name.split(", ")[1].split()[0]))
    columns = [sheets["model"][:, 0], sheets["model"][:, 1], sheets["model"][:, 2]]
    columns += [sheets[name][:, 3] for name in hinted]
    return np.stack(columns, axis=1)


def plot_hint_sweep(results: dict, out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = [0] + [int(name.split(", ")[1].split()[0]) for name in results if name.endswith(" hints")]
    model = [results["model"]["psnr_mean_z"]] + [results[f"model, {n} hints"]["psnr_mean_z"] for n in counts[1:]]
    best = [results["model"]["psnr_best_of_k"]] + [results[f"model, {n} hints"]["psnr_best_of_k"]
                                                   for n in counts[1:]]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(counts, model, "o-", label="model, mean over z")
    ax.plot(counts, best, "s--", label="model, best of K", alpha=0.7)
    for name, style in (("gray baseline", ":"), ("training-mean baseline", "-.")):
        if name in results:
            ax.axhline(results[name]["psnr_mean_z"], color="k", ls=style, lw=1, label=name)
    ax.set(xlabel="number of hint points", ylabel="PSNR (dB)", title="PSNR against simulated point hints")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "hint_sweep.png", dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    cli_common.setup_logging()
    positive = [args.num_samples, args.batch_size, args.max_pixels] + [v for v in (args.limit, args.size)
                                                                         if v is not None]
    if min(positive) < 1 or min(args.baseline_images, args.seed) < 0:
        return cli_common.fail("--num-samples, --batch-size, --max-pixels, --limit and --size must be at least 1, "
                               "--baseline-images and --seed at least 0")
    if (args.lines is None) != (args.colors is None):
        return cli_common.fail("--lines and --colors go together: line art and its true colours")
    if (args.data is None) == (args.lines is None):
        return cli_common.fail("give either --data (colour images) or --lines with --colors")
    for flag, folder in (("--lines", args.lines), ("--colors", args.colors)):
        if folder is not None and not Path(folder).is_dir():
            return cli_common.fail(f"{flag} folder not found: {folder}")
    try:
        parse_counts(args.hint_points)
    except ValueError as e:
        return cli_common.fail(str(e))
    allow_max_pixels(args.max_pixels)
    if args.train_data not in (None, "builtin") and not Path(args.train_data).is_dir():
        return cli_common.fail(f"--train-data folder not found: {args.train_data}")
    try:
        g = load_generator(args.model, safe_mode=not args.unsafe)
    except (FileNotFoundError, ValueError) as e:
        return cli_common.fail(str(e).splitlines()[0])
    input_kind = args.input or g.input_kind
    if input_kind != g.input_kind:
        return cli_common.fail(f"--input {input_kind} needs a {INPUT_LABELS[input_kind]} model; this model takes "
                               f"{INPUT_LABELS.get(g.input_kind, g.input_kind)} input")
    if args.lines is not None and input_kind != "lineart":
        return cli_common.fail("--lines / --colors evaluate line-art models; this model takes gray input")
    size = args.size or g.working_size
    if size % g.stride:
        return cli_common.fail(f"--size {size} must be a multiple of the model's stride {g.stride}")
    try:
        images, lines, source, selected, used, skipped = evaluation_images(args, size)
    except (OSError, ValueError) as e:
        return cli_common.fail(cli_common.describe(e))

    z = sampling.random_sweep(args.num_samples, g.z_dim, args.seed)
    gray = np.zeros((size, size, 2), np.float32)
    if input_kind == "lineart":  # white paper (l = 1, ab = 0) under the lines
        gray = np.concatenate([np.ones((size, size, 1), np.float32), gray], -1)
    predictors = {"model": model_predictor(g, z), "gray baseline": constant_predictor(gray)}
    train, train_note = training_images(args, size, {str(Path(p).resolve()) for p in selected}, args.quiet)
    if train is not None:
        predictors["training-mean baseline"] = constant_predictor(mean_colors(train, args.batch_size, input_kind))
    hint_rows = hint_predictors(g, z, args)
    predictors.update(hint_rows)
    sheet_rows = ["model"] + [name for name in hint_rows if name.endswith(" hints")]
    results, truth_c, truth_hist, rows, sheets = score_dataset(images, predictors, args.batch_size, input_kind,
                                                               args.quiet, lines, sheet_rows)

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    caption = (f"{len(images)} images ({source}) at {size} px, {INPUT_LABELS[input_kind]} input, "
               f"K = {args.num_samples} z samples.")
    report = {"arguments": {k: v for k, v in vars(args).items() if k != "quiet"}, "size": size,
              "input": input_kind, "num_images": len(images), "num_samples": args.num_samples, "source": source,
              "first_image": Path(used[0]).name if used else None, "last_image": Path(used[-1]).name if used else None,
              "num_unreadable": len(skipped), "unreadable": [{"file": str(p), "reason": r} for p, r in skipped],
              "training_mean": train_note, "truth_colourfulness": truth_c, "results": results,
              "ab_hist_bins": HIST_BINS, "psnr_cap_db": PSNR_CAP, "model_metadata": g.metadata}
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    table = markdown(results, truth_c, caption)
    (out_dir / "metrics.md").write_text(table)
    main_rows = {k: v for k, v in results.items() if not k.startswith("model, ")}
    plot_report(main_rows, truth_c, truth_hist, rows["model"].hist, out_dir)
    write_contact_sheet(sheets["model"], out_dir / "contact_sheet.png")
    written = ["metrics.json", "metrics.md", "bars.png", "ab_histograms.png", "contact_sheet.png"]
    if any(name.endswith(" hints") for name in results):
        plot_hint_sweep(results, out_dir)
        largest = max((name for name in sheets if name != "model"), key=lambda n: int(n.split(", ")[1].split()[0]))
        write_contact_sheet(sheets[largest], out_dir / "hint_sheet.png")
        write_contact_sheet(hint_sweep_sheet(sheets), out_dir / "hint_sweep_sheet.png")
        written += ["hint_sweep.png", "hint_sheet.png", "hint_sweep_sheet.png"]
    print(table, end="")
    if train is None:
        print(f"note: training-mean baseline left out: {train_note}")
    if skipped:
        what = "unreadable images" if args.lines is None else "images (unreadable or without line art)"
        print(f"note: skipped {len(skipped)} {what} (listed in metrics.json)")
    print(f"wrote {out_dir}/" + ", ".join(written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
