"""Consistency with a coloured key (issue #13): the library behind ``evaluate --reference``.

Pairs of one character: a *key* in colour (``--reference KEY|DIR``; a folder: each region takes
its best key, as ``colorize --reference DIR``) and *targets*, drawings of the character in
other poses or expressions, given as line art with their truth (``--lines DIR --colors DIR``,
paired by file stem; or ``--data DIR``: colour pictures whose line art is extracted with XDoG,
``extract_lines`` defaults). Every target is coloured at its own full size, as the colorize
command colours it, in the flat output mode (:class:`anime_colorize.inference.modes.FlatMode`),
by each of :data:`ROWS`:

* ``line art``: the bare line drawing (gray), for scale;
* ``no reference``: the model alone (``colorize --mode flat``);
* ``histogram reference``: the model given the (first) key's 512-bin colour histogram
  (``colorize --reference KEY --reference-mode histogram``); only for models that take one
  (``--hints mix``), else left out with a note;
* ``key palette``: every region the (first) key character's median colour
  (:func:`key_palette`), no network: the most a palette without places can say, a model-free
  bound for what a histogram reference can do (no trained model is needed to read it);
* ``region matching``: the target's regions matched to the key's
  (``colorize --reference KEY``, :mod:`anime_colorize.regions.matching`).

A line-art model sees the line drawing; a gray model sees the truth's lightness.

Figures, on the *character's pixels* (:func:`character_mask`: the truth's alpha > 0.5 where
it has transparency, else its pixels that are not white paper, holes filled), averaged over
the K samples (``--num-samples``) and then over targets: CIEDE2000 (skimage
``deltaE_ciede2000`` of the truth and the output on white paper) and region accuracy
(:func:`character_scores`: the target's regions, cut from its line art, restricted to the
character; the area-weighted share whose output median Lab is within CIEDE2000
:data:`~anime_colorize.evaluation.metrics.REGION_TOLERANCE` of the truth's median).
"""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import cv2
import numpy as np
from scipy.ndimage import binary_fill_holes
from skimage.color import deltaE_ciede2000, rgb2lab
from tqdm.auto import tqdm

from anime_colorize.data.io import DEFAULT_MAX_PIXELS, ImageReadError, find_images, read_rgba, write_bytes_atomic, \
    write_image
from anime_colorize.data.lineart import extract_lines, to_line_art
from anime_colorize.evaluation.data import matching_files, pair_files
from anime_colorize.evaluation.metrics import REGION_TOLERANCE

log = logging.getLogger(__name__)

LINE_ART, NO_REFERENCE, HISTOGRAM, PALETTE, REGIONS = ("line art", "no reference", "histogram reference",
                                                        "key palette", "region matching")
ROWS = (LINE_ART, NO_REFERENCE, HISTOGRAM, PALETTE, REGIONS)
PAPER = 0.94  # an opaque truth's pixels lighter than this in every channel are paper
SHEET_HEIGHT = 240
SHEET_TARGETS = 6


@dataclasses.dataclass(frozen=True)
class Target:
    """One target: ``name`` (its file stem), ``truth`` float32 RGB (H, W, 3) in [0, 1] on white
    paper, ``character`` bool (H, W), ``lines`` float32 (H, W) in [0, 1], 1 = paper."""

    name: str
    truth: np.ndarray
    character: np.ndarray
    lines: np.ndarray


def character_mask(rgba) -> np.ndarray:
    """The character's pixels of a truth picture, uint8 or float RGBA (H, W, 4): alpha > 0.5
    where the picture has transparency; an opaque picture's pixels that are not white paper
    (any channel below :data:`PAPER`), with the holes inside the figure filled (white parts of
    the character count). Returns bool (H, W)."""
    rgba = np.asarray(rgba)
    scale = 255.0 if rgba.dtype == np.uint8 else 1.0
    alpha = rgba[..., 3] / scale
    if alpha.min() < 0.5:
        return alpha > 0.5
    return binary_fill_holes((rgba[..., :3] / scale).min(axis=-1) < PAPER)


def on_paper(rgba) -> np.ndarray:
    """uint8 or float RGBA (H, W, 4) -> float32 RGB (H, W, 3) in [0, 1] composited on white."""
    rgba = np.asarray(rgba, np.float32) / (255.0 if np.asarray(rgba).dtype == np.uint8 else 1.0)
    alpha = rgba[..., 3:]
    return (rgba[..., :3] * alpha + (1.0 - alpha)).astype(np.float32)


def load_targets(*, lines: str | None = None, colors: str | None = None, data: str | None = None,
                 include: str | None = None, limit: int | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[list, list]:
    """The targets: line art ``lines`` paired with its truth in ``colors`` by file stem, or the
    colour pictures of ``data`` with XDoG line art; file names matching ``include``, the
    first ``limit``. Returns (list of :class:`Target`, list of (path, reason) skipped). Raises
    ValueError (for the user) when no target can be read."""
    if data is not None:
        pairs, skipped = [(path, None) for path in matching_files(find_images(data), include)], []
    else:
        pairs, skipped = pair_files(lines, colors, include)
    targets = []
    for color_path, line_path in pairs[:limit]:
        try:
            rgba = read_rgba(color_path, max_pixels=max_pixels)
            truth = on_paper(rgba)
            if line_path is None:
                drawing = extract_lines(truth, "xdog")
            else:
                drawing = to_line_art(on_paper(read_rgba(line_path, max_pixels=max_pixels)))
                if drawing.shape != truth.shape[:2]:
                    raise ImageReadError(line_path, f"line art of {drawing.shape[1]}x{drawing.shape[0]} px for "
                                                    f"colours of {truth.shape[1]}x{truth.shape[0]} px")
        except ImageReadError as e:
            skipped.append((e.path, e.reason))
            continue
        targets.append(Target(Path(color_path).stem, truth, character_mask(rgba), drawing))
    for path, reason in skipped:
        log.warning("skipped %s: %s", path, reason)
    if not targets:
        raise ValueError("no target could be read (reasons above)")
    return targets, skipped


def character_scores(target: Target, outputs: np.ndarray, regions=None) -> dict:
    """CIEDE2000 and region accuracy of ``outputs`` float RGB (K, H, W, 3) or (H, W, 3) in [0, 1]
    on the target's character pixels, each averaged over K: {"ciede2000": float,
    "region_accuracy": float in [0, 1]}. ``regions``: the target's regions (default: cut from
    its line art)."""
    from anime_colorize.regions import Regions, pool, segment_lines

    outputs = np.asarray(outputs, np.float32)
    outputs = outputs[None] if outputs.ndim == 3 else outputs
    char = target.character
    if not char.any():
        raise ValueError(f"{target.name}: the truth shows no character pixels")
    regions = segment_lines(target.lines) if regions is None else regions
    # The character's part of each region is a region of its own; the rest is one more.
    labels = np.where(char, regions.labels, regions.count)
    sub = Regions.from_labels(labels, regions.lines)
    inside = np.unique(sub.labels[char])
    truth_lab = rgb2lab(target.truth)
    truth_med = pool(sub, truth_lab)[inside]
    area = sub.area[inside] / sub.area[inside].sum()
    errors, accuracies = [], []
    for out in outputs:
        out_lab = rgb2lab(np.clip(out, 0.0, 1.0))
        errors.append(float(deltaE_ciede2000(truth_lab[char], out_lab[char]).mean()))
        close = deltaE_ciede2000(truth_med, pool(sub, out_lab)[inside]) <= REGION_TOLERANCE
        accuracies.append(float((close * area).sum()))
    return {"ciede2000": float(np.mean(errors)), "region_accuracy": float(np.mean(accuracies))}


def key_palette(key) -> np.ndarray:
    """The key character's median colour, float32 (3,) Lab: over its figure's paper pixels."""
    return np.median(key.lab[key.figure & ~key.regions.ink], axis=0).astype(np.float32)


def takes_histogram(generator) -> bool:
    """Whether the model takes a reference histogram (hint kinds histogram / reference)."""
    from anime_colorize.data.hints import GLOBAL_KINDS

    return bool(set(generator.hint_kinds) & set(GLOBAL_KINDS))


def colourings(generator, target: Target, keys: list, z: np.ndarray, key_histogram=None,
               working_size: int | None = None, batch_size: int = 8) -> dict:
    """{row: float RGB (K, H, W, 3)} of one target, each row as the colorize command makes it
    (flat mode; the line-art and palette rows K = 1). ``keys``: :class:`anime_colorize.regions.matching.Key`
    list; ``key_histogram``: (1, 512) for the histogram row, or None to leave it out."""
    from anime_colorize import color, sampling
    from anime_colorize.inference.modes import FlatMode, Page
    from anime_colorize.inference.outputs import PICTURE

    model_input = sampling.prepare_input(target.lines if generator.input_kind == "lineart" else target.truth,
                                         generator.input_kind)
    modes = {NO_REFERENCE: (FlatMode(), None), REGIONS: (FlatMode().with_keys(keys), None)}
    if key_histogram is not None:
        modes[HISTOGRAM] = (FlatMode(), {"hint_hist": np.asarray(key_histogram, np.float32)})
    out = {LINE_ART: np.repeat(target.lines[None, ..., None], 3, axis=-1)}
    for row in ROWS:
        if row not in modes and row != PALETTE:
            continue
        mode, hints = modes.get(row, (FlatMode(), None))
        page = Page(target.name, model_input, generator.input_kind, hints)
        if row == PALETTE:  # a constant "prediction": the palette's colour in every region
            median = key_palette(keys[0])
            normalised = np.concatenate([color.normalize_l(median[:1]), color.normalize_ab(median[1:])])
            constant = normalised[3 - (3 if generator.input_kind == "lineart" else 2):]
            colors = [np.broadcast_to(constant, page.size + constant.shape)]
        else:
            colors = sampling.predict_working(generator, [model_input], z, [hints], batch_size, working_size)[0]
            colors = [c.numpy() for c in colors]
        state = mode.begin(page)
        out[row] = np.stack([mode.render(page, sampling.PredictedColors(c, page.size), state)[PICTURE]
                             for c in colors])
    return out


def evaluate_reference(generator, targets: list, keys: list, z: np.ndarray, key_histogram=None,
                       working_size: int | None = None, batch_size: int = 8, progress: bool = False) -> dict:
    """Scores every target in every row: {"targets": [{"target": name, row: scores, ...}],
    "summary": {row: {"ciede2000", "region_accuracy"}}, "sheet": float RGB picture (truth |
    line art | each row, for the first SHEET_TARGETS targets)}."""
    from anime_colorize.regions import segment_lines

    results, tiles = [], []
    for target in tqdm(targets, desc="targets", unit="target", disable=not progress):
        outs = colourings(generator, target, keys, z, key_histogram, working_size, batch_size)
        regions = segment_lines(target.lines)
        row = {"target": target.name}
        row.update({name: character_scores(target, rgb, regions) for name, rgb in outs.items()})
        results.append(row)
        log.info("%s: %s", target.name, "  ".join(f"{n} {row[n]['ciede2000']:.1f}" for n in outs))
        if len(tiles) < SHEET_TARGETS:
            tiles.append([target.truth] + [rgb[0] for rgb in outs.values()])
    rows = [name for name in ROWS if name in results[0]]
    summary = {name: {key: float(np.mean([r[name][key] for r in results])) for key in ("ciede2000", "region_accuracy")}
               for name in rows}
    return {"targets": results, "summary": summary, "rows": rows, "sheet": _sheet(tiles)}


def _sheet(tiles: list) -> np.ndarray:
    def fit(rgb):
        h, w = rgb.shape[:2]
        return cv2.resize(np.asarray(rgb, np.float32), (max(1, round(w * SHEET_HEIGHT / h)), SHEET_HEIGHT),
                          interpolation=cv2.INTER_AREA)

    lines = [np.concatenate([fit(t) for t in row], axis=1) for row in tiles]
    width = max(line.shape[1] for line in lines)
    lines = [np.pad(line, ((0, 0), (0, width - line.shape[1]), (0, 0)), constant_values=1.0) for line in lines]
    return np.clip(np.concatenate(lines, axis=0), 0.0, 1.0)


def markdown(result: dict, caption: str) -> str:
    """The summary table: one line per row, CIEDE2000 and region accuracy on character pixels."""
    lines = [caption, "", "| row | CIEDE2000 (character) | region accuracy |", "|---|---|---|"]
    for name in result["rows"]:
        s = result["summary"][name]
        lines.append(f"| {name} | {s['ciede2000']:.2f} | {100 * s['region_accuracy']:.1f}% |")
    return "\n".join(lines) + "\n"


def write_report(out_dir, result: dict, header: dict, caption: str) -> tuple[str, list]:
    """Writes ``metrics.json`` (the header, every target's scores, the summary; no timestamps),
    ``metrics.md`` and ``contact_sheet.png`` under ``out_dir``; returns (table, file names)."""
    out = Path(out_dir)
    table = markdown(result, caption)
    payload = dict(header, rows=result["rows"], summary=result["summary"], targets=result["targets"])
    write_bytes_atomic(out / "metrics.json", (json.dumps(payload, indent=1) + "\n").encode())
    write_bytes_atomic(out / "metrics.md", table.encode())
    write_image(out / "contact_sheet.png", result["sheet"])
    return table, ["metrics.json", "metrics.md", "contact_sheet.png"]
