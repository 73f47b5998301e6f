"""Scoring a data set: every predictor on every batch of pictures, its colours composed into
pictures (:func:`anime_colorize.evaluation.predictors.compose`) and measured against the truth
by every figure of :data:`anime_colorize.evaluation.metrics.SCORES`; plus the contact-sheet
tiles of the rows asked for.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from skimage.color import rgb2lab
from tqdm.auto import tqdm

from anime_colorize import sampling
from anime_colorize.evaluation import metrics
from anime_colorize.evaluation.data import make_batch
from anime_colorize.evaluation.predictors import Prediction, compose

SHEET_ROWS = 8  # pictures (rows) of a contact sheet


@dataclasses.dataclass
class Evaluation:
    """What :func:`score_dataset` found, keyed as its ``predictors`` were (e.g. by
    :class:`~anime_colorize.evaluation.predictors.Row`).

    ``results``: {key: summary dict (the entries of metrics.SCORES)}; ``truth``: the truth's
    colourfulness and ab histogram; ``scores``: {key: metrics.RowScores} (per-image values);
    ``sheets``: {key: contact-sheet tiles (rows, cols, S, S, 3) in [0, 1]: input, hints (when
    the row has spatial hints), truth, K outputs}.
    """

    results: dict
    truth: metrics.DataSetTruth
    scores: dict
    sheets: dict


def mode_key(key: object, mode: str, modes: Sequence[str]) -> object:
    """The key a predictor's row has in one output mode: a :class:`~anime_colorize.evaluation.
    predictors.Row` in that mode; another key as it is for a single mode, else ``"key, mode"``."""
    if hasattr(key, "in_mode"):
        return key.in_mode(mode)
    return key if len(modes) == 1 else f"{key}, {mode}"


def score_dataset(images: np.ndarray, predictors: dict, batch_size: int = 16, input_kind: str = "gray",
                  lines: np.ndarray | None = None, sheets: Sequence = ("model",),
                  mode: str | Sequence[str] = "smooth",
                  unhinted: str = "prediction",
                  progress: bool = False) -> Evaluation:
    """Scores uint8 RGB (N, S, S, 3) with each ``{key: predictor}``.

    ``input_kind``: what the predictors' model sees ("gray" or "lineart", see
    :func:`~anime_colorize.evaluation.data.make_batch`); ``lines``: real line art (N, S, S) in
    [0, 1] for line-art models, or None (then the truth's regions come from its own gray);
    ``sheets``: the keys whose contact-sheet tiles to keep; ``mode``: the output mode, or a
    sequence of them (:data:`~anime_colorize.evaluation.predictors.OUTPUT_MODES`): each
    predictor runs once and its colours are composed in every mode, one row per mode keyed by
    :func:`mode_key`; ``unhinted``: what the flat mode gives a region without a hint.
    """
    modes = (mode,) if isinstance(mode, str) else tuple(mode)
    rows: dict = {}
    truth_hist = np.zeros((metrics.HIST_BINS, metrics.HIST_BINS))
    truth_colour: list[float] = []
    sheet: dict = {mode_key(key, m, modes): [] for key in sheets if key in predictors for m in modes}
    with tqdm(total=len(images), desc="evaluating", unit="img", disable=not progress) as bar:
        for start in range(0, len(images), batch_size):
            rgb = images[start:start + batch_size].astype(np.float32) / 255.0
            batch = make_batch(rgb, input_kind, None if lines is None else lines[start:start + batch_size], start)
            truth_lab = rgb2lab(rgb)
            truth_hist += metrics.ab_histogram(truth_lab)
            truth_colour.extend(metrics.colourfulness(rgb))
            truth_lines = batch["lines"].numpy()[..., 0] if "lines" in batch else [None] * len(rgb)
            truths = [metrics.Truth(rgb[i], truth_lab[i], truth_lines[i]) for i in range(len(rgb))]  # every row's
            shown = sampling.input_picture(batch["l"], batch.get("lines")).numpy()
            for key, predict in predictors.items():
                colors, hints, given = Prediction(*predict(batch))
                for m in modes:
                    outs = compose(batch, colors, m, given, unhinted)
                    row_key = mode_key(key, m, modes)
                    row = rows.setdefault(row_key, metrics.RowScores())
                    for i, truth in enumerate(truths):
                        one_hints = None if hints is None else {name: np.asarray(v[i]) for name, v in hints.items()}
                        row.add(truth, metrics.Outputs(outs[i], rgb2lab(outs[i]), one_hints))
                    if row_key in sheet:
                        sheet[row_key].extend(_sheet_rows(shown, hints, rgb, outs, SHEET_ROWS - len(sheet[row_key])))
            bar.update(len(rgb))
    dataset_truth = metrics.DataSetTruth(float(np.mean(truth_colour)), truth_hist)
    return Evaluation({key: row.summary(dataset_truth) for key, row in rows.items()}, dataset_truth, rows,
                      {key: np.stack(tiles) for key, tiles in sheet.items()})


def _sheet_rows(shown, hints, rgb, outs, count: int) -> list:
    """Up to ``count`` contact-sheet rows (cols, S, S, 3): input | hints (spatial hints only) |
    truth | K outputs."""
    hint_tiles = None
    if hints is not None and "hint_mask" in hints:
        hint_tiles = sampling.hint_picture(hints).numpy()
    out = []
    for i in range(min(len(rgb), count)):
        tiles = [shown[i:i + 1]] + ([hint_tiles[i:i + 1]] if hint_tiles is not None else [])
        out.append(np.concatenate(tiles + [rgb[i:i + 1], outs[i]]))
    return out
