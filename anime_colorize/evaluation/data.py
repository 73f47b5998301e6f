"""The pictures an evaluation scores, the training pictures of its mean baseline, and the
batches the predictors see.

Pictures (:func:`evaluation_images`, an :class:`EvalImages`): the files of a folder (searched
recursively, sorted as ``find_images`` sorts them) whose file name matches an fnmatch glob, the
first ``limit`` of them; or built-in pictures never used for training (another seed than the
run's); or real line art paired with its true colours by file stem (colour files matching the
glob; a colour file without a line file is skipped and listed). Each is resized (shorter side)
and centre-cropped to the evaluation size (``fit_square``); unreadable files are skipped, listed
with their reasons. Errors a user can cause raise ValueError with the message for the user.

Training pictures (:func:`training_images`): a folder or built-in pictures, given or read from
the ``config.json`` beside the model, never a file selected for scoring.

Batches (:func:`make_batch`): the truth and the model input of a slice of the pictures.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import json
import logging
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from anime_colorize import color
from anime_colorize.cli_common import describe
from anime_colorize.data.io import DEFAULT_MAX_PIXELS, find_images, read_image_or_none
from anime_colorize.data.lineart import extract_lines, to_line_art
from anime_colorize.data.pipeline import builtin_holdout, fit_square
from anime_colorize.data.synthetic import make_cel_images
from anime_colorize.regions.network_labels import drawing_of, region_labels

log = logging.getLogger(__name__)

BUILTIN = "builtin"
DEFAULT_BUILTIN_COUNT = 256
MIN_BUILTIN_SIZE = 16


@dataclasses.dataclass
class EvalImages:
    """The pictures of an evaluation.

    ``images`` uint8 (N, S, S, 3); ``lines`` float32 (N, S, S) in [0, 1] (real line art) or None;
    ``source`` says where they come from, for the report; ``selected``: every file the selection
    matched (kept out of the training mean); ``used``: the files scored, in order; ``skipped``:
    [(path, reason)] of unreadable (or unpaired) files.
    """

    images: np.ndarray
    lines: np.ndarray | None
    source: str
    selected: list
    used: list
    skipped: list


def matching_files(paths, include: str | None) -> list:
    """The paths whose file name matches the fnmatch glob ``include`` (all for None)."""
    return paths if include is None else [p for p in paths if fnmatch.fnmatch(Path(p).name, include)]


def load_folder(paths, size: int, desc: str = "reading", progress: bool = False,
                max_pixels: int = DEFAULT_MAX_PIXELS):
    """uint8 (N, size, size, 3) via ``fit_square``, the paths used, and [(path, reason)] skipped
    (each logged with its reason)."""
    images, used, skipped = [], [], []
    for path in tqdm(paths, desc=desc, unit="img", disable=not progress):
        rgb, reason = read_image_or_none(path, max_pixels=max_pixels)
        if rgb is None:
            log.warning("skipped unreadable %s: %s", path, reason)
            skipped.append((path, reason))
            continue
        images.append(fit_square(rgb, size))
        used.append(path)
    return (np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8)), used, skipped


def folder_images(folder, size: int, include: str | None = None, limit: int | None = None,
                  max_pixels: int = DEFAULT_MAX_PIXELS, progress: bool = False) -> EvalImages:
    """The first ``limit`` readable images of ``folder`` whose names match ``include``."""
    if not Path(folder).is_dir():
        raise ValueError(f"data folder not found: {folder}")
    paths = matching_files(find_images(folder), include)
    if not paths:
        raise ValueError(f"no image in {folder} matches --include {include!r}")
    images, used, skipped = load_folder(paths[:limit], size, "reading", progress, max_pixels)
    if not len(images):
        raise ValueError(f"none of the {len(skipped)} selected images in {folder} could be read (reasons above)")
    source = str(folder) + (f" matching {include!r}" if include else "")
    return EvalImages(images, None, source, paths, used, skipped)


def pair_files(lines_folder, colors_folder, include: str | None = None) -> tuple[list, list]:
    """Colour files of ``colors_folder`` matching ``include`` paired with the line art of the
    same file stem in ``lines_folder``: ([(colour path, line path)], [(colour path, reason)]
    for colour files without line art)."""
    lines_by_stem: dict[str, str] = {}
    for path in find_images(lines_folder):
        lines_by_stem.setdefault(Path(path).stem, path)
    pairs: list[tuple[str, str]] = []
    skipped: list[tuple[str, str | None]] = []
    for path in matching_files(find_images(colors_folder), include):
        line_path = lines_by_stem.get(Path(path).stem)
        if line_path is None:
            skipped.append((path, f"no line art named {Path(path).stem}.* in {lines_folder}"))
        else:
            pairs.append((path, line_path))
    return pairs, skipped


def paired_images(lines_folder, colors_folder, size: int, include: str | None = None, limit: int | None = None,
                  max_pixels: int = DEFAULT_MAX_PIXELS, progress: bool = False) -> EvalImages:
    """Real line art (``lines`` (N, size, size) in [0, 1], paper whitened with ``to_line_art``)
    and its true colours, paired by file stem; colour files matching ``include``, the first
    ``limit`` pairs."""
    pairs, skipped = pair_files(lines_folder, colors_folder, include)
    images, lines, used = [], [], []
    for path, line_path in tqdm(pairs[:limit], desc="reading", unit="pair", disable=not progress):
        rgb, reason = read_image_or_none(path, max_pixels=max_pixels)
        drawing, line_reason = read_image_or_none(line_path, max_pixels=max_pixels)
        if rgb is None or drawing is None:
            skipped.append((path if rgb is None else line_path, reason or line_reason))
            continue
        images.append(fit_square(rgb, size))
        lines.append(to_line_art(fit_square(drawing, size)))
        used.append(path)
    for path, reason in skipped:
        log.warning("skipped %s: %s", path, reason)
    if not images:
        raise ValueError(f"no readable pair of line art in {lines_folder} and colours in {colors_folder}")
    source = f"line art {lines_folder} with colours {colors_folder}" + (f" matching {include!r}" if include else "")
    return EvalImages(np.stack(images), np.stack(lines), source, used, used, skipped)


def builtin_images(count: int, size: int, seed: int) -> EvalImages:
    """``count`` built-in pictures never used for training by a run with ``seed``."""
    if size < MIN_BUILTIN_SIZE:
        raise ValueError(f"built-in pictures need --size of at least {MIN_BUILTIN_SIZE}, not {size}")
    return EvalImages(builtin_holdout(count, size, seed), None, f"{count} held-out built-in pictures, seed {seed}",
                      [], [], [])


def evaluation_images(size: int, *, data: str | None = None, lines: str | None = None, colors: str | None = None,
                      include: str | None = None, limit: int | None = None, seed: int = 0,
                      max_pixels: int = DEFAULT_MAX_PIXELS, progress: bool = False) -> EvalImages:
    """The pictures to score: line art ``lines`` paired with ``colors`` when given, else
    ``data`` (a folder, or BUILTIN: ``limit`` built-in pictures, default 256)."""
    if lines is not None:
        return paired_images(lines, colors, size, include, limit, max_pixels, progress)
    if data == BUILTIN:
        if include is not None:
            raise ValueError("--include selects files of a folder; it does not apply to --data builtin")
        return builtin_images(limit or DEFAULT_BUILTIN_COUNT, size, seed)
    return folder_images(data, size, include, limit, max_pixels, progress)


def run_config(model_path) -> dict | None:
    """The ``config.json`` of the run folder the model lives in, if any."""
    p = Path(model_path)
    run = p if p.is_dir() and not (p / "saved_model.pb").exists() else p.parent
    try:
        return json.loads((run / "config.json").read_text())
    except (OSError, ValueError):
        return None


def training_images(size: int, *, model_path, train_data: str | None, count: int, seed: int, exclude: set,
                    max_pixels: int = DEFAULT_MAX_PIXELS, progress: bool = False):
    """(uint8 images (N, size, size, 3) or None, description or the reason there are none) for
    the training-mean baseline: at most ``count`` pictures of ``train_data`` (a folder or
    BUILTIN; None: the ``data.data`` entry of the run's config.json, built-in pictures with the
    run's seed where it is null), sorted, none of the resolved paths in ``exclude``."""
    config = run_config(model_path)
    spec, origin = train_data, "--train-data"
    seed = (config or {}).get("train", {}).get("seed", seed)
    if spec is None:
        if config is None:
            return None, ("no --train-data given and no config.json beside the model "
                          "(give --train-data FOLDER or builtin)")
        spec, origin = config.get("data", {}).get("data") or BUILTIN, "config.json"
        if spec == BUILTIN:
            count = min(count, config.get("data", {}).get("num_images", count))
    if count < 1:
        return None, "--baseline-images is 0"
    if spec == BUILTIN:
        if size < MIN_BUILTIN_SIZE:
            return None, f"built-in pictures need --size of at least {MIN_BUILTIN_SIZE}, not {size}"
        return make_cel_images(count, size, seed=seed), f"{count} built-in pictures, seed {seed} ({origin})"
    try:
        paths = [p for p in find_images(spec) if str(Path(p).resolve()) not in exclude][:count]
    except (OSError, ValueError) as e:
        return None, f"training data {spec} ({origin}) unusable: {describe(e)}"
    images, _, _ = load_folder(paths, size, "training mean", progress, max_pixels)
    if not len(images):
        return None, f"no readable training image in {spec} ({origin}) apart from the selected ones"
    return images, f"{len(images)} images of {spec} ({origin})"


def make_batch(rgb: np.ndarray, input_kind: str, lines: np.ndarray | None = None, start: int = 0) -> dict:
    """The truth and the model input of float RGB (B, S, S, 3) in [0, 1], the pictures
    ``start`` .. ``start + B - 1`` of the data set: {"rgb", "l", "ab" (normalised truth),
    "start", "net" (what the model sees: l, or the normalised line drawing), "regions" (int32
    (B, S, S) region labels of what the model sees, as a region-pooling model gets them), and
    for line art "lines" (B, S, S, 1) in [0, 1]}. ``lines``: real line art (B, S, S) in
    [0, 1], or None (extracted with XDoG, ``extract_lines`` defaults: fixed, so runs are
    identical)."""
    l, ab = color.rgb_to_l_ab(rgb)
    batch = {"rgb": tf.constant(rgb), "l": l, "ab": ab, "start": start}
    if input_kind == "lineart":
        if lines is None:
            lines = np.stack([extract_lines(picture) for picture in rgb])
        batch["lines"] = tf.constant(lines[..., None], tf.float32)
        batch["net"] = color.normalize_lines(batch["lines"])
    else:
        batch["net"] = l
    batch["regions"] = tf.constant(np.stack([region_labels(drawing_of(net, input_kind))
                                             for net in batch["net"].numpy()]))
    return batch
