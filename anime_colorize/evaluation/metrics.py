"""The figures of an evaluation, pure numpy: one image's truth against its K outputs, then
summarised over the data set; and :data:`SCORES`, the list that says which figures a report has.

Every figure is measured on sRGB outputs clipped to the gamut, float in [0, 1]. Where Lab is
needed it comes from scikit-image (``rgb2lab``, ``deltaE_ciede2000``), deliberately not from
:mod:`anime_colorize.color`: the scores are then an independent check of the colour maths the
model was trained with instead of sharing its mistakes. Figures are averaged over images, and
over the K samples unless said:

* PSNR (dB): skimage ``peak_signal_noise_ratio`` on RGB against the truth, capped at
  :data:`PSNR_CAP` (identical images). "mean-z": the mean over the K samples; "best-of-K": the
  best one.
* SSIM: skimage ``structural_similarity`` on RGB, channel_axis=-1, data_range=1, 7x7 window.
* CIEDE2000: the mean over pixels of skimage ``deltaE_ciede2000`` between truth and output Lab.
* colourfulness: Hasler & Suesstrunk (2003) on 0..255 RGB with rg = R - G, yb = (R + G)/2 - B:
  sqrt(std_rg^2 + std_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2); also its ratio to the truth's
  (painting gray can gain PSNR, and shows here as a ratio near 0).
* ab histograms: (a, b) of every pixel of every output (all K), over the whole data set,
  counted in :data:`HIST_BINS` x :data:`HIST_BINS` bins over [-110, 110]^2 (odd, so gray is a
  bin centre) and normalised to sum 1. Reported: the Jensen-Shannon divergence to the truth's
  histogram (base 2: 0 = identical, 1 = disjoint; "ab-hist JS") and the histogram intersection
  sum(min(p, q)) (1 = identical).
* diversity: the mean, over pairs of the K colourings of one image, of their mean per-pixel ab
  distance sqrt(da^2 + db^2) in Lab units (0 when the model ignores z; None when K = 1).
* hint error (outputs given spatial hints): the mean over hinted pixels of the ab distance (Lab
  units) between output and hint colour.
* palette match (outputs scored against a reference histogram ``hint_hist``): the intersection
  of the output's 512-bin colour histogram (the model's ``hint_hist`` convention,
  :func:`anime_colorize.data.hints.colour_histogram`) with the reference's.
* region accuracy: the truth is cut into regions (its line art by
  :func:`anime_colorize.regions.segment_lines`, or without line art its own ink by
  :func:`~anime_colorize.regions.segment`); the area-weighted share of those regions whose output
  colour (the output's per-channel median Lab over the region, ink left out) is within CIEDE2000
  :data:`REGION_TOLERANCE` (10) of the truth's region median. 1 = every area has the right colour,
  whatever the output does within it; what a colourist checks first.
* region error: over the same regions, the area-weighted mean CIEDE2000 between the output's
  region colour and the truth's (the continuous twin of region accuracy).
* region purity: the share of the pixels (ink left out) whose output colour is within
  CIEDE2000 :data:`REGION_TOLERANCE` of their region's output colour: 1 = flat colours, one per
  region, nothing bleeding across the lines.
* diversity per region (K >= 2): what z changes, region by region. For a pair of colourings,
  d(r) is the difference of their region colours (ab, Lab units) and g its area-weighted mean
  over the regions, the part a global shift of the palette explains; "region diversity" is
  the area-weighted mean of |d(r) - g| (regions changing colour independently: hair one
  colour, coat another) and "global shift" is |g|, both averaged over pairs. A model whose z
  only tints the whole picture has a global shift and a region diversity near 0.

Adding a figure touches one place: a :class:`Score` in :data:`SCORES` says how to measure one
image (from its :class:`Truth` and :class:`Outputs`), how to summarise the per-image values
(the entries it adds to a row of ``metrics.json``), and its columns in the Markdown tables.
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
from skimage.color import deltaE_ciede2000
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from anime_colorize import color
from anime_colorize.data.hints import HIST_BINS as PALETTE_BINS

PSNR_CAP = 100.0
HIST_BINS = 33
AB_LIMIT = 110.0
REGION_TOLERANCE = 10.0  # CIEDE2000 within which a region's colour counts as right


# ---------------------------------------------------------------- the figures of one image

def psnr(truth: np.ndarray, out: np.ndarray) -> float:
    """PSNR (dB) of RGB ``out`` against ``truth`` (H, W, 3) in [0, 1], at most PSNR_CAP."""
    with np.errstate(divide="ignore"):
        value = peak_signal_noise_ratio(truth, out, data_range=1.0)
    return float(min(value, PSNR_CAP))


def ssim(truth: np.ndarray, out: np.ndarray) -> float:
    """SSIM of RGB (H, W, 3) in [0, 1]; a 7x7 window (smaller only for tinier images)."""
    win = min(7, (min(truth.shape[:2]) - 1) // 2 * 2 + 1)
    return float(structural_similarity(truth, out, channel_axis=-1, data_range=1.0, win_size=win))


def ciede2000(truth_lab: np.ndarray, outs_lab: np.ndarray) -> np.ndarray:
    """Mean CIEDE2000 over pixels of each output: Lab (H, W, 3) and (K, H, W, 3) -> (K,)."""
    return deltaE_ciede2000(np.broadcast_to(truth_lab, outs_lab.shape), outs_lab, channel_axis=-1).mean(axis=(1, 2))


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
    """Mean over pairs of K Lab images (K, H, W, 3) of their mean per-pixel ab distance;
    None for K = 1."""
    pairs = list(itertools.combinations(range(len(labs)), 2))
    if not pairs:
        return None
    return float(np.mean([np.linalg.norm(labs[i, ..., 1:] - labs[j, ..., 1:], axis=-1).mean() for i, j in pairs]))


def hint_errors(outs_lab: np.ndarray, hint_ab: np.ndarray, hint_mask: np.ndarray) -> np.ndarray:
    """Per output, the mean ab distance (Lab units) to the hint colour over the hinted pixels;
    NaN where the image has none. outs_lab (K, H, W, 3); hint_ab (H, W, 2) normalised,
    hint_mask (H, W, 1) of that one image."""
    mask = np.asarray(hint_mask)[..., 0] > 0
    if not mask.any():
        return np.full(len(outs_lab), np.nan)
    target = color.denormalize_ab(np.asarray(hint_ab)[mask])
    return np.linalg.norm(outs_lab[:, mask, 1:] - target, axis=-1).mean(axis=1)


def colour_histograms(rgb: np.ndarray, bins: int = PALETTE_BINS) -> np.ndarray:
    """float32 (K, bins**3) colour histograms of RGB (K, H, W, 3) in [0, 1], each summing to 1:
    the same numbers as :func:`anime_colorize.data.hints.colour_histogram` (bin r * bins**2 +
    g * bins + b), in numpy."""
    q = np.clip(np.floor(np.asarray(rgb, np.float32) * bins).astype(np.int64), 0, bins - 1)
    index = (q[..., 0] * bins * bins + q[..., 1] * bins + q[..., 2]).reshape(len(q), -1)
    counts = np.stack([np.bincount(row, minlength=bins ** 3) for row in index]).astype(np.float32)
    return counts / np.maximum(counts.sum(axis=-1, keepdims=True), np.float32(1.0))


def palette_match(outs: np.ndarray, reference_hist: np.ndarray) -> float:
    """Mean over K outputs (K, H, W, 3) of the 512-bin histogram intersection with a reference
    histogram (512,) summing to 1."""
    return float(np.minimum(colour_histograms(outs), np.asarray(reference_hist)[None]).sum(axis=1).mean())


# ---------------------------------------------------------------- what a report measures

@dataclasses.dataclass(frozen=True)
class Truth:
    """One image's truth: ``rgb`` float (H, W, 3) in [0, 1], its ``lab`` (skimage) and its line
    art ``lines`` (H, W) in [0, 1], 1 = paper, or None. One object per image serves every scored
    row, so what a figure derives from the truth alone (the region map) belongs here as a
    ``functools.cached_property``: computed once per image."""

    rgb: np.ndarray
    lab: np.ndarray
    lines: np.ndarray | None = None

    @functools.cached_property
    def regions(self):
        """The truth's regions (:class:`anime_colorize.regions.Regions`): its line art cut by
        :func:`~anime_colorize.regions.segment_lines`, or (without line art) the picture's own
        ink by :func:`~anime_colorize.regions.segment`."""
        from anime_colorize import regions

        return regions.segment(self.rgb) if self.lines is None else regions.segment_lines(self.lines)

    @functools.cached_property
    def region_lab(self) -> np.ndarray:
        """float32 (count, 3): each truth region's median Lab (ink left out)."""
        from anime_colorize import regions

        return regions.pool(self.regions, self.lab)


@dataclasses.dataclass(frozen=True)
class Outputs:
    """One image's K outputs: ``rgb`` float (K, H, W, 3) in [0, 1], their ``lab`` (skimage), and
    the ``hints`` the predictor reports for this image (numpy: hint_ab (H, W, 2), hint_mask
    (H, W, 1), hint_hist (512,); any of them) or None."""

    rgb: np.ndarray
    lab: np.ndarray
    hints: dict | None = None


@dataclasses.dataclass(frozen=True)
class DataSetTruth:
    """What summaries compare with: the truth's mean ``colourfulness`` and its ``ab_hist``
    (HIST_BINS, HIST_BINS) counts over the data set."""

    colourfulness: float
    ab_hist: np.ndarray


@dataclasses.dataclass(frozen=True)
class Column:
    """A column of a Markdown table: summary entry ``key`` under ``label``, formatted with
    ``spec``, the entry ``ratio_key`` (if any) in brackets after it; None shows as a dash.
    ``table``: "figures" (one row per scored row) or "hints" (only rows that have any)."""

    key: str
    label: str
    spec: str = ".2f"
    ratio_key: str | None = None
    table: str = "figures"

    def cell(self, summary: dict) -> str:
        value = summary[self.key]
        if value is None:
            return "—"
        text = format(value, self.spec)
        return text if self.ratio_key is None else f"{text} ({summary[self.ratio_key]:.2f})"


@dataclasses.dataclass(frozen=True)
class Score:
    """One figure of a report. ``measure(truth, outputs)`` gives this image's value (a number,
    an array such as K values, or None where it does not apply); ``summarise(values, truth)``
    turns the list of per-image values into the row's summary entries (JSON key -> number or
    None), given the :class:`DataSetTruth`; ``columns`` show them in the tables."""

    name: str
    measure: Callable[[Truth, Outputs], Any]
    summarise: Callable[[list, DataSetTruth], dict]
    columns: tuple[Column, ...] = ()


def _mean(values) -> float:
    return float(np.asarray(values, np.float64).mean())


def _mean_or_none(values) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _hint_error(truth: Truth, outs: Outputs) -> float | None:
    if outs.hints is None or "hint_mask" not in outs.hints:
        return None
    errors = hint_errors(outs.lab, outs.hints["hint_ab"], outs.hints["hint_mask"])
    return None if np.isnan(errors).any() else float(errors.mean())


def _palette_match(truth: Truth, outs: Outputs) -> float | None:
    reference = None if outs.hints is None else outs.hints.get("hint_hist")
    if reference is None or np.asarray(reference).sum() <= 0:
        return None
    return palette_match(outs.rgb, reference)


def region_accuracy(truth: Truth, outs: Outputs, tolerance: float = REGION_TOLERANCE) -> np.ndarray:
    """Per output (K,): the area-weighted share of the truth's regions whose output colour (its
    median Lab over the region, ink left out) is within CIEDE2000 ``tolerance`` of the truth's
    region median."""
    from anime_colorize import regions

    found = truth.regions
    pooled = regions.pool(found, outs.lab)  # (K, count, 3)
    close = deltaE_ciede2000(np.broadcast_to(truth.region_lab, pooled.shape), pooled, channel_axis=-1) <= tolerance
    weight = found.area / found.area.sum()
    return (close * weight).sum(axis=-1)


def _region_colours(truth: Truth, outs: Outputs) -> np.ndarray:
    """float32 (K, count, 3): each output's median Lab over each truth region (ink left out)."""
    from anime_colorize import regions

    return regions.pool(truth.regions, outs.lab)


def region_error(truth: Truth, outs: Outputs) -> np.ndarray:
    """Per output (K,): the area-weighted mean CIEDE2000 between the output's and the truth's
    region colours."""
    pooled = _region_colours(truth, outs)
    distance = deltaE_ciede2000(np.broadcast_to(truth.region_lab, pooled.shape), pooled, channel_axis=-1)
    area = truth.regions.area
    return (distance * area).sum(axis=-1) / area.sum()


def region_purity(truth: Truth, outs: Outputs, tolerance: float = REGION_TOLERANCE) -> np.ndarray:
    """Per output (K,): the share of the non-ink pixels whose output colour is within CIEDE2000
    ``tolerance`` of their region's output colour (of all pixels where everything is ink)."""
    found = truth.regions
    flat = _region_colours(truth, outs)[:, found.labels]  # (K, H, W, 3)
    close = deltaE_ciede2000(flat, outs.lab, channel_axis=-1) <= tolerance
    paper = ~found.ink if (~found.ink).any() else np.ones(found.shape, bool)
    return close[:, paper].mean(axis=-1)


def region_diversity(truth: Truth, outs: Outputs) -> tuple[float, float] | None:
    """(region diversity, global shift) in Lab units, means over the pairs of the K outputs
    (see the module docstring); None for K = 1."""
    pairs = list(itertools.combinations(range(len(outs.lab)), 2))
    if not pairs:
        return None
    ab = _region_colours(truth, outs)[..., 1:]
    weight = truth.regions.area / truth.regions.area.sum()
    per_region, shift = [], []
    for i, j in pairs:
        d = ab[i] - ab[j]  # (count, 2)
        g = weight @ d
        per_region.append(weight @ np.linalg.norm(d - g, axis=-1))
        shift.append(np.linalg.norm(g))
    return float(np.mean(per_region)), float(np.mean(shift))


def _region_diversity_summary(values, _) -> dict:
    if any(v is None for v in values):
        return {"region_diversity": None, "global_shift": None}
    per_region, shift = np.asarray(values, np.float64).mean(axis=0)
    return {"region_diversity": float(per_region), "global_shift": float(shift)}


def _colourfulness_summary(values, truth: DataSetTruth) -> dict:
    mean = _mean(values)
    return {"colourfulness": mean, "colourfulness_ratio": mean / max(truth.colourfulness, 1e-12)}


# The order is the order of the entries in a row of metrics.json and of the table columns.
SCORES = (
    Score("psnr", lambda t, o: [psnr(t.rgb, x) for x in o.rgb],
          lambda v, _: {"psnr_mean_z": _mean(v), "psnr_best_of_k": float(np.asarray(v).max(axis=1).mean())},
          (Column("psnr_mean_z", "PSNR mean-z (dB)"), Column("psnr_best_of_k", "PSNR best-of-K (dB)"))),
    Score("ssim", lambda t, o: [ssim(t.rgb, x) for x in o.rgb], lambda v, _: {"ssim": _mean(v)},
          (Column("ssim", "SSIM", ".3f"),)),
    Score("ciede2000", lambda t, o: ciede2000(t.lab, o.lab), lambda v, _: {"ciede2000": _mean(v)},
          (Column("ciede2000", "CIEDE2000"),)),
    Score("colourfulness", lambda t, o: colourfulness(o.rgb), _colourfulness_summary,
          (Column("colourfulness", "colourfulness", ratio_key="colourfulness_ratio"),)),
    Score("ab_hist", lambda t, o: ab_histogram(o.lab),
          lambda v, truth: histogram_distances(np.sum(v, axis=0), truth.ab_hist),
          (Column("ab_hist_js", "ab-hist JS", ".3f"),)),
    Score("diversity", lambda t, o: diversity(o.lab),
          lambda v, _: {"diversity": None if any(x is None for x in v) else _mean(v)},
          (Column("diversity", "diversity"),)),
    Score("num_samples", lambda t, o: len(o.rgb), lambda v, _: {"num_samples": int(v[0])}),
    Score("hint_error", _hint_error, lambda v, _: {"hint_error": _mean_or_none(v)},
          (Column("hint_error", "hint error", table="hints"),)),
    Score("palette_match", _palette_match, lambda v, _: {"palette_match": _mean_or_none(v)},
          (Column("palette_match", "palette match", ".3f", table="hints"),)),
    Score("region_accuracy", region_accuracy, lambda v, _: {"region_accuracy": _mean(v)},
          (Column("region_accuracy", "region accuracy", ".3f"),)),
    Score("region_error", region_error, lambda v, _: {"region_error": _mean(v)},
          (Column("region_error", "region error"),)),
    Score("region_purity", region_purity, lambda v, _: {"region_purity": _mean(v)},
          (Column("region_purity", "region purity", ".3f"),)),
    Score("region_diversity", region_diversity, _region_diversity_summary,
          (Column("region_diversity", "region diversity"), Column("global_shift", "global shift"))),
)


def columns(table: str) -> list[Column]:
    """The columns of one Markdown table ("figures" or "hints"), in SCORES order."""
    return [c for score in SCORES for c in score.columns if c.table == table]


class RowScores:
    """The per-image values of every figure of one scored row, and its summary."""

    def __init__(self, scores=None):
        self.scores = tuple(SCORES if scores is None else scores)
        self.values = {score.name: [] for score in self.scores}

    def add(self, truth: Truth, outs: Outputs) -> None:
        for score in self.scores:
            self.values[score.name].append(score.measure(truth, outs))

    def total(self, name: str) -> np.ndarray:
        """The sum over images of one figure's values (e.g. "ab_hist": the row's histogram)."""
        return np.sum(self.values[name], axis=0)

    def summary(self, truth: DataSetTruth) -> dict:
        """{entry: number or None}: every score's entries, in SCORES order."""
        out = {}
        for score in self.scores:
            out.update(score.summarise(self.values[score.name], truth))
        return out
