"""Training data: image sources and the tf.data pipeline that feeds the trainers.

Design:
- A *source* holds N pictures and loads one by index as uint8 RGB ``(S, S, 3)``, S being
  the load size (``size * crop_scale``): :class:`ArraySource` keeps them in memory (the
  built-in pictures, or a cached folder), :class:`FileSource` decodes files on the fly.
- A folder is *scanned* once before training (:func:`scan_folder`): every file is decoded in
  a thread pool, so unreadable files are found and reported up front, with their names and
  reasons, instead of crashing an epoch; near-gray images can be dropped at the same time.
- The sample order is a pure function of (seed, element number): epoch e is a stateless
  permutation keyed by (seed, e) and each element's crop and flip are keyed by its global
  number. So a run resumed at step k rebuilds exactly the stream an uninterrupted run would
  see (``start_step``), without checkpointing iterator state, and parallel decoding keeps
  the order (tf.data's map is deterministic by default).
- Line art (``input_kind="lineart"``) is extracted per picture inside the same parallel
  map (:func:`anime_colorize.data.lineart.lines_from_seed`, keyed by the element number);
  colour hints are simulated per batch, vectorised, keyed by the batch's first element
  number (:func:`anime_colorize.data.hints.simulate`). Both stay deterministic.
- Region labels (``regions=True``, for a region-pooling model) are made per element in the
  same map, after the crop, flip and line extraction, from the drawing the network sees
  (:func:`element_region_labels`: the extracted lines, or the crop's gray prepared as a
  drawing), by the one recipe inference uses too
  (:func:`anime_colorize.regions.network_labels.region_labels`). They are a pure function of
  the element, so they resume exactly. ``--cache`` keeps decoded pictures, not labels: a label
  map belongs to one crop and, for line art, to one random line drawing of it, which no
  other element shares; so a cached and a streamed folder give the same batches, labels
  included, and the labels cost the same either way (a few ms per picture, see
  ``experiments/training_regions.py``).

Unpaired training (cyclegan) reads two unrelated sources (:class:`UnpairedSource`): domain
A, black-and-white pages, of which only the lightness is used, and domain B, colour pictures.
A page's shorter side is scaled to ``size * page_scale`` (not ``size * crop_scale``): a
1414x2000 manga page brought down to 72 px would show nothing a 64 px crop could learn from,
while at 4x a crop shows part of a panel, faces at about the scale of a 64 px portrait. Each
page gives two squares, its top and its bottom (or left and right), so a portrait page is used
whole rather than centre-cropped. Each domain is its own deterministic stream
(:func:`training_dataset` with its own seed), zipped batch by batch, so resume stays exact.

The batch contract (:func:`batch_signature`): ``l`` (B, H, W, 1) and ``ab`` (B, H, W, 2), the
truth normalised as in :mod:`anime_colorize.color`; ``lines`` (B, H, W, 1), the line drawing
normalised to [-1, 1] (line-art input only); ``hint_ab``, ``hint_mask``, ``hint_hist`` (with
hints only, see :mod:`anime_colorize.data.hints`); ``regions`` int32 (B, H, W), labels
0 .. n-1 per image, the largest region 0 (region-pooling models only).
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import fnmatch
import logging
import os
from collections.abc import Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from anime_colorize import color
from anime_colorize.array_types import PathLike, TensorLike
from anime_colorize.data import hints as hints_lib
from anime_colorize.data import lineart
from anime_colorize.data.io import DEFAULT_MAX_PIXELS, find_images, read_image_or_none
from anime_colorize.data.synthetic import make_cel_images
from anime_colorize.regions.network_labels import region_labels

if TYPE_CHECKING:
    from anime_colorize.config import DataConfig

log = logging.getLogger(__name__)

_FOREVER = 2**62


def fit_square(rgb: np.ndarray, load_size: int, anchor: float = 0.5) -> np.ndarray:
    """Float RGB (H, W, 3) in [0, 1] -> uint8 (load_size, load_size, 3): the shorter side
    resized to load_size (area filter when shrinking), the longer side cropped: centred
    (``anchor`` 0.5), at its start (0: top or left) or its end (1: bottom or right)."""
    h, w = rgb.shape[:2]
    scale = load_size / min(h, w)
    new_h, new_w = max(load_size, round(h * scale)), max(load_size, round(w * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(rgb, (new_w, new_h), interpolation=interpolation)
    top, left = round((new_h - load_size) * anchor), round((new_w - load_size) * anchor)
    square = resized[top:top + load_size, left:left + load_size]
    return np.clip(np.rint(square * 255.0), 0, 255).astype(np.uint8)


def mean_chroma(rgb_uint8: np.ndarray) -> float:
    """Mean Lab chroma sqrt(a^2 + b^2) of a uint8 RGB image; about 0 for gray images."""
    lab = color.rgb_to_lab_np(rgb_uint8)
    return float(np.mean(np.hypot(lab[..., 1], lab[..., 2])))


@dataclasses.dataclass
class ScanReport:
    """What :func:`scan_folder` found. ``images`` is filled only when caching."""

    paths: list
    skipped: list  # (path, reason)
    gray: list
    images: np.ndarray | None = None

    def summary(self, root: PathLike) -> str:
        text = f"{root}: {len(self.paths)} usable images"
        if self.skipped:
            text += f", {len(self.skipped)} unreadable skipped"
        if self.gray:
            text += f", {len(self.gray)} near-gray dropped"
        return text


def scan_folder(root: PathLike, load_size: int, drop_gray: float = 0.0, cache: bool = False,
                workers: int | None = None, progress: bool = True, exclude: str | None = None,
                max_pixels: int = DEFAULT_MAX_PIXELS, anchors: Sequence[float] = (0.5,)) -> ScanReport:
    """Decodes every image under ``root`` once; see the module docstring.

    ``exclude``: a glob on file names (not folders) to leave out, e.g. a held-out year.
    ``max_pixels``: files with more pixels are skipped (see :func:`~anime_colorize.data.io.read_image`).
    ``anchors``: the squares cut from each image (see :func:`fit_square` and
    :class:`FileSource`); cached images are stacked file by file, anchor by anchor.
    Each skipped file is logged (warning) with its reason. Raises ValueError naming the
    folder when no usable image is left.
    """
    paths = find_images(root)
    if exclude:
        paths = [p for p in paths if not fnmatch.fnmatch(os.path.basename(p), exclude)]
        if not paths:
            raise ValueError(f"every image in {root} matches --exclude '{exclude}'")

    def inspect(path):
        rgb, reason = read_image_or_none(path, max_pixels=max_pixels)
        if rgb is None:
            return path, None, reason
        return path, [fit_square(rgb, load_size, anchor) for anchor in anchors], None

    report = ScanReport(paths=[], skipped=[], gray=[])
    kept = []
    workers = workers or min(8, (os.cpu_count() or 2) + 2)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:  # cv2 and PIL release the GIL
        results = pool.map(inspect, paths)
        for path, squares, reason in tqdm(results, total=len(paths), desc="scanning images",
                                          unit="img", disable=not progress, leave=False):
            if squares is None:
                report.skipped.append((path, reason))
                log.warning("skipping unreadable image %s: %s", path, reason)
            elif drop_gray > 0 and mean_chroma(squares[0]) < drop_gray:
                report.gray.append(path)
            else:
                report.paths.append(path)
                if cache:
                    kept.extend(squares)
    if not report.paths:
        raise ValueError(f"no usable image in {root}: {len(report.skipped)} unreadable (reasons above), "
                         f"{len(report.gray)} near-gray (see --drop-gray)")
    if cache:
        report.images = np.stack(kept)
    return report


class ArraySource:
    """Pictures held in memory: uint8 (N, S, S, 3)."""

    def __init__(self, images: np.ndarray):
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"expected uint8 (N, S, S, 3) images, got {images.dtype} {images.shape}")
        self.images = images
        self.load_size = images.shape[1]

    def __len__(self):
        return len(self.images)

    def load(self, index: int) -> np.ndarray | None:
        return self.images[index]


class FileSource:
    """Pictures decoded from files on demand (after a :func:`scan_folder`).

    ``anchors``: each file gives one square per anchor (see :func:`fit_square`); picture
    ``k`` is file ``k // len(anchors)`` cut at anchor ``k % len(anchors)``, the order a cached
    :func:`scan_folder` stacks them in.
    """

    def __init__(self, paths: Sequence[str], load_size: int, max_pixels: int = DEFAULT_MAX_PIXELS,
                 anchors: Sequence[float] = (0.5,)) -> None:
        self.paths = list(paths)
        self.load_size = load_size
        self.max_pixels = max_pixels
        self.anchors = tuple(anchors)

    def __len__(self):
        return len(self.paths) * len(self.anchors)

    def load(self, index: int) -> np.ndarray | None:
        file_index, anchor_index = divmod(index, len(self.anchors))
        path = self.paths[file_index]
        rgb, reason = read_image_or_none(path, max_pixels=self.max_pixels)
        if rgb is None:  # changed on disk since the scan: skip it rather than stop training
            log.warning("skipping image that became unreadable: %s: %s", path, reason)
            return None
        return fit_square(rgb, self.load_size, self.anchors[anchor_index])


def builtin_source(num_images: int, load_size: int, seed: int, progress: bool = True) -> ArraySource:
    """The built-in cel pictures (see :mod:`anime_colorize.data.synthetic`)."""
    return ArraySource(make_cel_images(num_images, load_size, seed=seed, progress=progress))


def builtin_holdout(num_images: int, size: int, seed: int) -> np.ndarray:
    """Built-in pictures never used for training (another seed): uint8 (N, size, size, 3)."""
    return make_cel_images(num_images, size, seed=seed + 1_000_003)


def source_from_config(data_config: DataConfig, seed: int, progress: bool = True,
                       ) -> tuple[ArraySource | FileSource, ScanReport | None]:
    """(source, scan report or None) for a :class:`~anime_colorize.config.DataConfig`."""
    load_size = round(data_config.size * data_config.crop_scale)
    if data_config.data is None:
        return builtin_source(data_config.num_images, load_size, seed, progress), None
    report = scan_folder(data_config.data, load_size, data_config.drop_gray, data_config.cache,
                         progress=progress, exclude=data_config.exclude, max_pixels=data_config.max_pixels)
    if report.images is not None:
        return ArraySource(report.images), report
    return FileSource(report.paths, load_size, data_config.max_pixels), report


PAGE_ANCHORS = (0.0, 1.0)  # a page's top and bottom squares (left and right for a landscape page)
B_SEED_OFFSET = 7919  # domain B's stream is keyed by seed + this, so it is unrelated to A's


class UnpairedSource:
    """Two unrelated sources: ``a`` (black-and-white pages; only their lightness is used) and
    ``b`` (colour pictures). As a source (``len``, ``load``, ``load_size``) it is domain A:
    previews and a run's examples show pages, what the trained colourer is for."""

    def __init__(self, a: ArraySource | FileSource, b: ArraySource | FileSource) -> None:
        self.a, self.b = a, b
        self.load_size = a.load_size

    def __len__(self):
        return len(self.a)

    def load(self, index: int) -> np.ndarray | None:
        return self.a.load(index)


@dataclasses.dataclass
class UnpairedScanReport:
    """The scans of the two folders (None for built-in data)."""

    a: ScanReport
    b: ScanReport
    root_a: str
    root_b: str

    @property
    def skipped(self) -> list:
        return self.a.skipped + self.b.skipped

    def summary(self, root: PathLike | None = None) -> str:
        """Both folders' summaries (``root`` is unused: each scan names its own folder)."""
        return f"pages (A): {self.a.summary(self.root_a)}; colour (B): {self.b.summary(self.root_b)}"


def unpaired_source_from_config(data_config: SimpleNamespace, seed: int, progress: bool = True,
                                ) -> tuple[UnpairedSource, UnpairedScanReport | None]:
    """(:class:`UnpairedSource`, :class:`UnpairedScanReport` or None) for a
    :class:`~anime_colorize.config.DataConfig`'s fields with ``data_a``, ``data_b`` (folders) and
    ``page_scale`` (see ``trainers.cyclegan``), or
    neither: then A is built-in pictures (trained on through their lightness: turned gray)
    and B other built-in pictures (another seed), both at ``size * crop_scale``."""
    color_load = round(data_config.size * data_config.crop_scale)
    if data_config.data_a is None:
        return UnpairedSource(builtin_source(data_config.num_images, color_load, seed, progress),
                              builtin_source(data_config.num_images, color_load, seed + B_SEED_OFFSET,
                                             progress)), None
    page_load = round(data_config.size * data_config.page_scale)
    common: dict[str, Any] = dict(cache=data_config.cache, progress=progress, exclude=data_config.exclude,
                  max_pixels=data_config.max_pixels)
    # Pages are gray by nature: --drop-gray applies to the colour folder only.
    scan_a = scan_folder(data_config.data_a, page_load, anchors=PAGE_ANCHORS, **common)
    scan_b = scan_folder(data_config.data_b, color_load, data_config.drop_gray, **common)
    a = (ArraySource(scan_a.images) if scan_a.images is not None
         else FileSource(scan_a.paths, page_load, data_config.max_pixels, PAGE_ANCHORS))
    b = (ArraySource(scan_b.images) if scan_b.images is not None
         else FileSource(scan_b.paths, color_load, data_config.max_pixels))
    return UnpairedSource(a, b), UnpairedScanReport(scan_a, scan_b, str(data_config.data_a), str(data_config.data_b))


def unpaired_batch_signature() -> dict:
    """TensorSpecs of an unpaired batch: domain B's ``l`` (B, H, W, 1) and ``ab`` (B, H, W, 2)
    as in :func:`batch_signature`, and domain A's lightness ``a_l`` (B, H, W, 1)."""
    return {**batch_signature(), "a_l": tf.TensorSpec((None, None, None, 1), tf.float32)}


def unpaired_training_dataset(source: UnpairedSource, size: int, batch_size: int, seed: int,
                              start_step: int = 0, flip: bool = True) -> tf.data.Dataset:
    """An endless dataset of unpaired batches (see :func:`unpaired_batch_signature`): domain A
    and domain B each a :func:`training_dataset` of its own (B keyed by ``seed`` +
    :data:`B_SEED_OFFSET`), zipped, from ``start_step`` batches into both streams."""
    pages = training_dataset(source.a, size, batch_size, seed, start_step, flip)
    colors = training_dataset(source.b, size, batch_size, seed + B_SEED_OFFSET, start_step, flip)
    return tf.data.Dataset.zip(pages, colors).map(
        lambda a, b: {"l": b["l"], "ab": b["ab"], "a_l": a["l"]})


def batch_signature(input_kind: str = "gray", hints: str = "none", regions: bool = False) -> dict:
    """TensorSpecs of a training batch (unknown B, H, W); see the module docstring.
    ``regions``: the batch carries region labels (a region-pooling model)."""
    spec = {"l": tf.TensorSpec((None, None, None, 1), tf.float32),
            "ab": tf.TensorSpec((None, None, None, 2), tf.float32)}
    if input_kind == "lineart":
        spec["lines"] = tf.TensorSpec((None, None, None, 1), tf.float32)
    if regions:
        spec["regions"] = tf.TensorSpec((None, None, None), tf.int32)
    if hints != "none":
        spec.update(hint_ab=tf.TensorSpec((None, None, None, 2), tf.float32),
                    hint_mask=tf.TensorSpec((None, None, None, 1), tf.float32),
                    hint_hist=tf.TensorSpec((None, hints_lib.HIST_SIZE), tf.float32))
    return spec


def element_region_labels(rgb_uint8: np.ndarray, lines: np.ndarray | None = None) -> np.ndarray:
    """Region labels of one training picture as the network sees it: int32 (H, W), 0 .. n-1.

    ``rgb_uint8``: the picture (H, W, 3); ``lines``: its line drawing (H, W) in [0, 1] for
    line-art input (then the picture is not used), None for gray input: then the drawing is the
    picture's gray of equal lightness, prepared by ``to_line_art`` (what
    :func:`~anime_colorize.regions.network_labels.drawing_of` makes of a gray model's input,
    there from the lightness; read from the picture here, it costs a quarter less).
    """
    drawing = lineart.to_line_art(rgb_uint8) if lines is None else np.asarray(lines, np.float32)
    return region_labels(drawing)


def batch_region_labels(rgb_uint8: np.ndarray, lines: np.ndarray | None = None) -> np.ndarray:
    """:func:`element_region_labels` of each picture of uint8 RGB (B, H, W, 3) (and line
    drawings (B, H, W) in [0, 1], or None): int32 (B, H, W)."""
    rgb_uint8 = np.asarray(rgb_uint8)
    return np.stack([element_region_labels(rgb_uint8[i], None if lines is None else np.asarray(lines[i]))
                     for i in range(len(rgb_uint8))])


def rgb_batch_to_model_inputs(rgb_uint8: TensorLike, lines: TensorLike | None = None, hints: str = "none",
                              hint_seed: TensorLike = (0, 0), regions: TensorLike | None = None) -> dict:
    """A training batch (see :func:`batch_signature`) from uint8 RGB (B, H, W, 3).

    ``lines``: the line drawings (B, H, W) in [0, 1], given for line-art input. ``hints``: the
    kind to simulate from the pictures, with the stateless seed ``hint_seed`` (2,).
    ``regions``: int (B, H, W) region labels (:func:`batch_region_labels`), given for a
    region-pooling model.
    """
    rgb = tf.cast(rgb_uint8, tf.float32) / 255.0
    l, ab = color.rgb_to_l_ab(rgb)
    batch = {"l": l, "ab": ab}
    if lines is not None:
        batch["lines"] = color.normalize_lines(tf.cast(lines, tf.float32)[..., None])
    if regions is not None:
        batch["regions"] = tf.cast(regions, tf.int32)
    if hints != "none":
        batch.update(hints_lib.simulate(hints, rgb, hint_seed))
    return batch


def training_dataset(source: ArraySource | FileSource, size: int, batch_size: int, seed: int, start_step: int = 0,
                     flip: bool = True, input_kind: str = "gray", hints: str = "none",
                     regions: bool = False) -> tf.data.Dataset:
    """An endless dataset of training batches (see :func:`batch_signature`), starting at
    ``start_step`` batches into the stream.

    Each element is a random ``size`` x ``size`` crop of one picture, flipped at random; with
    ``input_kind="lineart"`` its line drawing is extracted with a random method, thickness
    and darkness; with ``regions`` it gets the region labels of that drawing (or of its
    lightness, for gray input); with ``hints`` other than ``"none"`` each batch gets
    simulated hints.
    """
    n = len(source)
    load_size = source.load_size
    if size > load_size:
        raise ValueError(f"crop size {size} is larger than the load size {load_size}")
    start = start_step * batch_size
    order_seed, augment_seed = 2 * seed, 2 * seed + 1

    def epoch_order(epoch):
        keys = tf.random.stateless_uniform([n], seed=tf.stack([tf.constant(order_seed, tf.int64), epoch]))
        return tf.data.Dataset.from_tensor_slices(tf.argsort(keys))

    indices = tf.data.Dataset.range(start // n, _FOREVER).flat_map(epoch_order).skip(start % n)
    elements = tf.data.Dataset.zip(tf.data.Dataset.range(start, _FOREVER), indices)

    def load(index):
        picture = source.load(int(index))
        if picture is None:
            return np.zeros((load_size, load_size, 3), np.uint8), False
        return picture, True

    def load_and_augment(number, index):
        picture, ok = tf.numpy_function(load, [index], (tf.uint8, tf.bool), stateful=False)
        picture.set_shape((load_size, load_size, 3))
        key = tf.stack([tf.constant(augment_seed, tf.int64), number])
        crop_key, flip_key = tf.unstack(tf.random.experimental.stateless_split(key, 2))
        picture = tf.image.stateless_random_crop(picture, (size, size, 3), seed=crop_key)
        if flip:
            picture = tf.image.stateless_random_flip_left_right(picture, seed=flip_key)
        element = {"rgb": picture, "number": number}
        if input_kind == "lineart":
            line_key = tf.random.experimental.stateless_fold_in(key, 1)
            lines = tf.numpy_function(lineart.lines_from_seed, [picture, line_key], tf.float32, stateful=False)
            element["lines"] = tf.ensure_shape(lines, (size, size))
        if regions:
            drawn = [picture, element["lines"]] if input_kind == "lineart" else [picture]
            labels = tf.numpy_function(element_region_labels, drawn, tf.int32, stateful=False)
            element["regions"] = tf.ensure_shape(labels, (size, size))
        return element, ok

    def to_batch(element):
        hint_seed = tf.stack([tf.constant(augment_seed, tf.int64), -1 - element["number"][0]])
        return rgb_batch_to_model_inputs(element["rgb"], element.get("lines"), hints, hint_seed,
                                         element.get("regions"))

    return (elements
            .map(load_and_augment, num_parallel_calls=tf.data.AUTOTUNE)
            .filter(lambda element, ok: ok)
            .map(lambda element, ok: element)
            .batch(batch_size, drop_remainder=True)
            .map(to_batch, num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))
