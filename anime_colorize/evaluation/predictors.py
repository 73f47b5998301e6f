"""What an evaluation scores: predictors (the model and the baselines), the typed :class:`Row`
each one is reported under, and how predicted colours become pictures (:data:`OUTPUT_MODES`).

A *predictor* is a function ``batch -> Prediction(colors, hints)`` (a plain tuple works too):
``colors`` float (B, K, H, W, C), normalised as in :mod:`anime_colorize.color`: C = 2 (ab,
joined with the truth's L) or C = 3 (Lab, multiplied by the line drawing); ``hints`` the hints
to score the outputs against (dict of (B, ...) arrays, see :mod:`anime_colorize.data.hints`) or
None. ``batch`` is :func:`anime_colorize.evaluation.data.make_batch`'s dict.

* the model: :func:`model_predictor`, through :func:`anime_colorize.sampling.predict_colors`,
  the one working-size prediction path (as the colorize command runs it): the model runs at
  its working size, its input resized to it and its output back; K noise vectors z per image.
* hint rows of a hint model (:func:`hint_rows`): point hints (for each n, every image gets
  exactly n points simulated from its truth: ``simulate_points(count=n)``, 1-3 px patch means
  placed around the centre, seeded by the seed and the batch's first index, so runs are
  identical); and the reference pair: each image is coloured with the colour histogram of
  ANOTHER image of its batch as its reference (image i takes image i+1's, cyclically), and
  scored against it with the reference given ("model, reference") and not given ("model, no
  reference", same images, same z).
* baselines, the same colours for every image (K = 1): "gray baseline" (ab = 0; for line art a
  white page under the lines, :func:`gray_colors`) and "training-mean baseline" (the per-pixel
  mean ab, for line art mean L and ab, of training images, :func:`mean_colors`).

Output modes (:data:`OUTPUT_MODES`): "smooth" (the colorize command's smooth mode) and "flat" (its
flat mode: the pictures cut into regions as the command cuts what the model sees, each region
the hint given in it or the prediction pooled over it, :func:`anime_colorize.regions.flat_colouring`).

Adding a predictor: a function as above and a :class:`Row` naming it, given to
:func:`anime_colorize.evaluation.scoring.score_dataset`. Adding an output mode: one entry in
:data:`OUTPUT_MODES`.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import tensorflow as tf

from anime_colorize import color, sampling
from anime_colorize.data import hints as hints_lib

if TYPE_CHECKING:
    from anime_colorize.export.loading import LoadedGenerator


class Prediction(NamedTuple):
    """A predictor's answer for a batch: normalised colours (B, K, H, W, C), the hints to
    score against (or None), and the hints the model was given (or None): the flat mode fills
    regions from those, as colorize does with the user's hints."""

    colors: tf.Tensor
    hints: dict | None = None
    given: dict | None = None


Predictor = Callable[[dict], Prediction]

MODEL = "model"
GRAY_BASELINE = "gray baseline"
TRAINING_MEAN_BASELINE = "training-mean baseline"


@dataclasses.dataclass(frozen=True)
class Row:
    """Which predictor a scored row is, and with which hints. ``name`` is its label in
    metrics.json and the tables: "model", "model, 5 hints", "model, reference", ...

    ``predictor``: MODEL, GRAY_BASELINE, TRAINING_MEAN_BASELINE (or a new one's name);
    ``hint_points``: simulated point hints per image (0: none); ``reference``: None (no
    reference involved), True (another picture's colour histogram given as the reference),
    False (scored against that reference without it being given); ``mode``: the output mode
    its colours were composed in (:data:`OUTPUT_MODES`; named after the rest unless "smooth").
    """

    predictor: str
    hint_points: int = 0
    reference: bool | None = None
    mode: str = "smooth"

    @property
    def name(self) -> str:
        if self.hint_points:
            name = f"{self.predictor}, {self.hint_points} hints"
        elif self.reference is not None:
            name = f"{self.predictor}, {'reference' if self.reference else 'no reference'}"
        else:
            name = self.predictor
        return name if self.mode == "smooth" else f"{name}, {self.mode}"

    def in_mode(self, mode: str) -> "Row":
        """This row composed in another output mode."""
        return dataclasses.replace(self, mode=mode)

    @property
    def hinted(self) -> bool:
        """Whether the row is a hint variant (a point count or the reference pair)."""
        return self.hint_points > 0 or self.reference is not None


def model_predictor(generator: LoadedGenerator, z: np.ndarray, hint_fn: Callable[[dict], dict | None] | None = None,
                    measure_only: bool = False) -> Predictor:
    """All K colourings of a batch, the model run at its working size as ``colorize`` runs it
    (:func:`anime_colorize.sampling.predict_colors`), in one model call. ``z`` float32 (K, z_dim).

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
        return Prediction(tf.stack(colors), hints, None if measure_only else hints)
    return predict


def constant_predictor(colors: np.ndarray) -> Predictor:
    """The same normalised colours (H, W, C) for every image: the baselines (K = 1)."""
    return lambda batch: Prediction(tf.broadcast_to(tf.constant(colors, tf.float32),
                                                    (batch["rgb"].shape[0], 1) + colors.shape))


def gray_colors(size: int, input_kind: str) -> np.ndarray:
    """The gray baseline's colours, float32 (size, size, C): ab = 0 (gray input), or white
    paper (l = 1, ab = 0) under the lines (line art)."""
    gray = np.zeros((size, size, 2), np.float32)
    if input_kind == "lineart":
        gray = np.concatenate([np.ones((size, size, 1), np.float32), gray], -1)
    return gray


def mean_colors(images: np.ndarray, batch_size: int, input_kind: str = "gray") -> np.ndarray:
    """The training-mean baseline's colours: the per-pixel mean of what a model of ``input_kind``
    predicts, over uint8 images (N, S, S, 3): normalised ab, float32 (S, S, 2), or for line art
    normalised L and ab, (S, S, 3)."""
    channels = 3 if input_kind == "lineart" else 2
    total = np.zeros(images.shape[1:3] + (channels,), np.float64)
    for start in range(0, len(images), batch_size):
        l, ab = color.rgb_to_l_ab(images[start:start + batch_size].astype(np.float32) / 255.0)
        colors = ab if channels == 2 else tf.concat([l, ab], -1)
        total += colors.numpy().sum(axis=0, dtype=np.float64)
    return (total / len(images)).astype(np.float32)


def point_hints(count: int, seed: int) -> Callable[[dict], dict]:
    """hint_fn for :func:`model_predictor`: exactly ``count`` points per image from its truth,
    keyed by (seed, index of the batch's first image), with their lightness (``hint_l``, as a
    user's chosen colour has it; the network ignores it, the flat mode paints it)."""
    return lambda batch: hints_lib.simulate_points(batch["rgb"], (seed, batch["start"]), count=count,
                                                   with_lightness=True)


def other_picture_reference(batch: dict) -> dict:
    """hint_fn: each image takes the colour histogram of the next image of its batch."""
    return {"hint_hist": tf.roll(hints_lib.colour_histogram(batch["rgb"]), shift=-1, axis=0)}


def hint_rows(generator: LoadedGenerator, z: np.ndarray, point_counts: Sequence[int],
              seed: int) -> dict[Row, Predictor]:
    """The hint rows of a hint model (its ``hint_kinds``): one per positive number of points in
    ``point_counts`` (spatial kinds), then the reference pair (global kinds)."""
    rows = {}
    if set(generator.hint_kinds) & set(hints_lib.SPATIAL_KINDS):
        for n in point_counts:
            if n > 0:
                rows[Row(MODEL, hint_points=n)] = model_predictor(generator, z, point_hints(n, seed))
    if set(generator.hint_kinds) & set(hints_lib.GLOBAL_KINDS):
        rows[Row(MODEL, reference=False)] = model_predictor(generator, z, other_picture_reference, measure_only=True)
        rows[Row(MODEL, reference=True)] = model_predictor(generator, z, other_picture_reference)
    return rows


# ---------------------------------------------------------------- colours -> pictures

def _smooth(batch, colors, given=None, unhinted: str = "prediction") -> tf.Tensor:
    """The colours as the colorize command composes them: ab joined with the truth's L, or Lab
    multiplied by the lines; (N, S, S, C) -> RGB (N, S, S, 3), clipped to [0, 1]."""
    k = int(colors.shape[0]) // int(batch["rgb"].shape[0])
    if colors.shape[-1] == 2:
        rgb = sampling.colors_to_rgb(colors, l=tf.repeat(batch["l"], k, axis=0))
    else:
        rgb = sampling.colors_to_rgb(colors, lines=tf.repeat(batch["lines"], k, axis=0))
    return tf.clip_by_value(rgb, 0.0, 1.0)


def batch_regions(batch: dict) -> list:
    """The regions of each picture of a batch, as the flat mode cuts what the model sees
    (:func:`anime_colorize.regions.colouring.input_regions`), computed once per batch and kept
    under "segments" (the batch's "regions" are the int32 label maps a region-pooling model
    takes)."""
    from anime_colorize.regions.colouring import input_regions

    if "segments" not in batch:
        kind = "lineart" if "lines" in batch else "gray"
        batch["segments"] = [input_regions(net, kind) for net in np.asarray(batch["net"])]
    return batch["segments"]


def _flat(batch, colors, given=None, unhinted: str = "prediction") -> np.ndarray:
    """The colours as the colorize command's flat mode makes them (:class:`anime_colorize.
    inference.modes.FlatMode`, no shading): each region of the picture one colour, its hint's
    where the model was ``given`` one, else its pooled prediction (or paper: ``unhinted``)."""
    from anime_colorize import color
    from anime_colorize.regions import flat_colouring

    found = batch_regions(batch)
    k = int(colors.shape[0]) // len(found)
    colors = color.denormalize_colors_np(colors)
    out = np.empty(colors.shape[:3] + (3,), np.float32)
    for i, picture in enumerate(found):
        hints = None if given is None else hints_lib.hint_lab({key: np.asarray(v[i]) for key, v in given.items()})
        hint_color, hint_mask = hints if hints is not None else (None, None)
        for j in range(i * k, (i + 1) * k):
            out[j] = flat_colouring(picture.regions, colors[j], hint_color, hint_mask, lightness=picture.lightness,
                                    drawing=picture.drawing, unhinted=unhinted).picture
    return out


# name -> function(batch, colours (B * K, S, S, C) image-major, hints given to the model or None,
# unhinted) -> RGB (B * K, S, S, 3) in [0, 1]
OUTPUT_MODES = {"smooth": _smooth, "flat": _flat}


def compose(batch: dict, colors: np.ndarray, mode: str = "smooth", given: dict | None = None,
            unhinted: str = "prediction") -> np.ndarray:
    """Predicted colours (B, K, S, S, C) -> RGB float32 (B, K, S, S, 3) in [0, 1] in an output
    mode of :data:`OUTPUT_MODES` ("smooth": as the colorize command composes them; "flat": as its
    flat mode does, filling regions from the hints ``given`` to the model; ``unhinted``: what a
    region without a hint gets there, "prediction" or "paper")."""
    if mode not in OUTPUT_MODES:
        raise ValueError(f"unknown output mode {mode!r}; choose one of {sorted(OUTPUT_MODES)}")
    colors = tf.convert_to_tensor(colors, tf.float32)
    flat = tf.reshape(colors, (-1,) + tuple(colors.shape[2:]))
    rgb = np.asarray(OUTPUT_MODES[mode](batch, flat, given, unhinted))
    return rgb.reshape(tuple(colors.shape[:2]) + rgb.shape[1:])
