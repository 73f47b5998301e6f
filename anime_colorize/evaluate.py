"""``python -m anime_colorize.evaluate``: scores a generator on held-out colour images.

    python -m anime_colorize.evaluate --model runs/faces/generator.keras \\
        --data ../shared/data/faces64 --include '*_2011.jpg' --out reports/faces64
    python -m anime_colorize.evaluate --model runs/x --data builtin --limit 256 --out reports/x

Images: the files of --data (searched recursively, sorted as ``find_images`` sorts them) whose
file name matches the --include glob, the first --limit of them; or, with ``--data builtin``,
--limit (default 256) built-in pictures never used for training. Each is resized (shorter side)
and centre-cropped to --size (default: the model's working size). The model sees the image's
lightness L; each of K = --num-samples noise vectors z (one list drawn from --seed, the same for
every image) gives one colouring: L of the truth joined with the predicted ab, as sRGB clipped
to the gamut. Every figure is measured on those RGB images (turned back into Lab with
scikit-image where Lab is needed) and averaged over images, and over the K samples unless said:

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

Baselines on the same images: "gray" (ab = 0) and "training mean" (the per-pixel mean ab of the
training images: --train-data, else the ``data.data`` entry of the ``config.json`` beside the
model, built-in pictures with the run's seed where it is null; at most --baseline-images,
sorted, never a file selected by --data and --include; the row is left out, with a note,
when none is known).
Writes to --out: ``metrics.json`` (all figures, the arguments, counts, model metadata; no
timestamps, so two runs give identical files), ``metrics.md`` (the table it prints),
``bars.png``, ``ab_histograms.png`` and ``contact_sheet.png`` (8 rows: gray input | truth | K
colourings).

Extending: every scored row is a *predictor* ``(inputs, truth_ab) -> ab (B, K, H, W, 2)``; the
truth is passed for simulated colour hints (hint metrics add one predictor per number of hint
points) and is ignored by the model and the baselines. Model inputs come from
``INPUT_BUILDERS`` keyed by --input; only ``gray`` exists today, line-art inputs are refused.
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

import numpy as np
import tensorflow as tf
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from tqdm.auto import tqdm

from anime_colorize import color, sampling
from anime_colorize.data.io import DEFAULT_MAX_PIXELS, allow_max_pixels, find_images, read_image_or_none, write_image
from anime_colorize.data.pipeline import builtin_holdout, fit_square
from anime_colorize.data.synthetic import make_cel_images
from anime_colorize.export import load_generator

log = logging.getLogger("anime_colorize.evaluate")

SHEET_ROWS = 8
PSNR_CAP = 100.0
HIST_BINS = 33
AB_LIMIT = 110.0
INPUT_LABELS = {"gray": "gray", "lineart": "line-art"}
INPUT_BUILDERS = {"gray": lambda rgb: color.rgb_to_l_ab(rgb)[0]}  # float RGB batch -> model input
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
        self.hist = np.zeros((HIST_BINS, HIST_BINS))

    def add(self, truth: np.ndarray, truth_lab: np.ndarray, outs: np.ndarray) -> None:
        """truth (H, W, 3) RGB, truth_lab its Lab, outs (K, H, W, 3) RGB."""
        labs = rgb2lab(outs)
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
                "diversity": None if self.k < 2 else float(np.mean(self.diversity)), "num_samples": self.k}


# ---------------------------------------------------------------- predictors and scoring

def model_predictor(generator, z: np.ndarray):
    """All K colourings of a batch in one model call; the truth is not looked at."""
    def predict(inputs, truth_ab):
        b, k = int(inputs.shape[0]), len(z)
        ab = generator(tf.repeat(inputs, k, axis=0), np.tile(z, (b, 1)))  # image-major: (img0 z0, img0 z1, ...)
        return tf.reshape(ab, (b, k) + tuple(ab.shape[1:]))
    return predict


def constant_predictor(ab: np.ndarray):
    """The same normalised ab (H, W, 2) for every image: the baselines (K = 1)."""
    return lambda inputs, truth_ab: tf.broadcast_to(tf.constant(ab, tf.float32), (truth_ab.shape[0], 1) + ab.shape)


def score_dataset(images: np.ndarray, predictors: dict, batch_size: int = 16, input_kind: str = "gray",
                  quiet: bool = True):
    """Scores uint8 RGB (N, S, S, 3) with each ``{name: predictor}``; see the module docstring.

    Returns ({name: summary dict}, truth colourfulness, truth ab histogram, {name: RowScores},
    contact-sheet tiles (rows, K + 2, S, S, 3) from the first predictor).
    """
    rows = {}
    truth_hist, truth_colour, sheet = np.zeros((HIST_BINS, HIST_BINS)), [], []
    with tqdm(total=len(images), desc="evaluating", unit="img", disable=quiet) as bar:
        for start in range(0, len(images), batch_size):
            rgb = images[start:start + batch_size].astype(np.float32) / 255.0
            l, ab_true = color.rgb_to_l_ab(rgb)
            inputs = INPUT_BUILDERS[input_kind](rgb)
            truth_lab = rgb2lab(rgb)
            truth_hist += ab_histogram(truth_lab)
            truth_colour.extend(colourfulness(rgb))
            outputs = {}
            for name, predict in predictors.items():
                ab = tf.convert_to_tensor(predict(inputs, ab_true), tf.float32)
                k = int(ab.shape[1])
                outputs[name] = color.l_ab_to_rgb(tf.repeat(l[:, None], k, axis=1), ab).numpy()
                row = rows.setdefault(name, RowScores(k))
                for i in range(len(rgb)):
                    row.add(rgb[i], truth_lab[i], outputs[name][i])
            gray = color.l_ab_to_rgb(l, tf.zeros_like(ab_true)).numpy()
            first = next(iter(outputs.values()))
            for i in range(min(len(rgb), SHEET_ROWS - len(sheet))):
                sheet.append(np.concatenate([gray[i:i + 1], rgb[i:i + 1], first[i]]))
            bar.update(len(rgb))
    truth_c = float(np.mean(truth_colour))
    results = {name: row.summary(truth_hist, truth_c) for name, row in rows.items()}
    return results, truth_c, truth_hist, rows, np.stack(sheet)


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


def mean_ab(images: np.ndarray, batch_size: int) -> np.ndarray:
    """Per-pixel mean of normalised ab over uint8 images: float32 (S, S, 2)."""
    total = np.zeros(images.shape[1:3] + (2,), np.float64)
    for start in range(0, len(images), batch_size):
        ab = color.rgb_to_l_ab(images[start:start + batch_size].astype(np.float32) / 255.0)[1]
        total += ab.numpy().sum(axis=0, dtype=np.float64)
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
    p.add_argument("--data", required=True, help="folder of colour images, or 'builtin' (held-out built-in pictures)")
    p.add_argument("--include", default=None, help="fnmatch glob on file names selecting the images (default: all)")
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N images (builtin: default 256)")
    p.add_argument("--num-samples", type=int, default=8, help="K colourings (z samples) per image")
    p.add_argument("--size", type=int, default=None, help="square evaluation size (default: the model's working size)")
    p.add_argument("--seed", type=int, default=0, help="seed of the z list (and of built-in pictures)")
    p.add_argument("--input", choices=sorted(INPUT_LABELS), default="gray", help="what the model is given")
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


def evaluation_images(args, size: int):
    """(uint8 images, description, selected paths (all --include matches), used paths, skipped);
    raises ValueError with the message for the user."""
    if args.data == "builtin":
        if args.include is not None:
            raise ValueError("--include selects files of a folder; it does not apply to --data builtin")
        n = args.limit or 256
        if size < 16:
            raise ValueError(f"built-in pictures need --size of at least 16, not {size}")
        return builtin_holdout(n, size, args.seed), f"{n} held-out built-in pictures, seed {args.seed}", [], [], []
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
    return images, args.data + (f" matching {args.include!r}" if args.include else ""), paths, used, skipped


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    cli_common.setup_logging()
    positive = [args.num_samples, args.batch_size, args.max_pixels] + [v for v in (args.limit, args.size)
                                                                         if v is not None]
    if min(positive) < 1 or min(args.baseline_images, args.seed) < 0:
        return cli_common.fail("--num-samples, --batch-size, --max-pixels, --limit and --size must be at least 1, "
                               "--baseline-images and --seed at least 0")
    allow_max_pixels(args.max_pixels)
    if args.train_data not in (None, "builtin") and not Path(args.train_data).is_dir():
        return cli_common.fail(f"--train-data folder not found: {args.train_data}")
    try:
        g = load_generator(args.model, safe_mode=not args.unsafe)
    except (FileNotFoundError, ValueError) as e:
        return cli_common.fail(str(e).splitlines()[0])
    if args.input != g.input_kind:
        return cli_common.fail(f"--input {args.input} needs a {INPUT_LABELS[args.input]} model; this model takes "
                               f"{INPUT_LABELS.get(g.input_kind, g.input_kind)} input")
    if args.input not in INPUT_BUILDERS:
        return cli_common.fail(f"evaluation of {INPUT_LABELS[args.input]} models is not available yet")
    size = args.size or g.working_size
    if size % g.stride:
        return cli_common.fail(f"--size {size} must be a multiple of the model's stride {g.stride}")
    try:
        images, source, selected, used, skipped = evaluation_images(args, size)
    except (OSError, ValueError) as e:
        return cli_common.fail(cli_common.describe(e))

    z = sampling.random_sweep(args.num_samples, g.z_dim, args.seed)
    predictors = {"model": model_predictor(g, z),
                  "gray baseline": constant_predictor(np.zeros((size, size, 2), np.float32))}
    train, train_note = training_images(args, size, {str(Path(p).resolve()) for p in selected}, args.quiet)
    if train is not None:
        predictors["training-mean baseline"] = constant_predictor(mean_ab(train, args.batch_size))
    results, truth_c, truth_hist, rows, sheet = score_dataset(images, predictors, args.batch_size, args.input,
                                                              args.quiet)

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    caption = f"{len(images)} images ({source}) at {size} px, K = {args.num_samples} z samples."
    report = {"arguments": {k: v for k, v in vars(args).items() if k != "quiet"}, "size": size,
              "num_images": len(images), "num_samples": args.num_samples, "source": source,
              "first_image": Path(used[0]).name if used else None, "last_image": Path(used[-1]).name if used else None,
              "num_unreadable": len(skipped), "unreadable": [{"file": p, "reason": r} for p, r in skipped],
              "training_mean": train_note, "truth_colourfulness": truth_c, "results": results,
              "ab_hist_bins": HIST_BINS, "psnr_cap_db": PSNR_CAP, "model_metadata": g.metadata}
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    table = markdown(results, truth_c, caption)
    (out_dir / "metrics.md").write_text(table)
    plot_report(results, truth_c, truth_hist, rows["model"].hist, out_dir)
    write_contact_sheet(sheet, out_dir / "contact_sheet.png")
    print(table, end="")
    if train is None:
        print(f"note: training-mean baseline left out: {train_note}")
    if skipped:
        print(f"note: skipped {len(skipped)} unreadable images (listed in metrics.json)")
    print(f"wrote {out_dir}/metrics.json, metrics.md, bars.png, ab_histograms.png, contact_sheet.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
