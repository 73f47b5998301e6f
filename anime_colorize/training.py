"""The training run: data, trainer, checkpoints, logs, previews and export around the step.

:func:`fit` is what ``python -m anime_colorize.train`` calls; tests call it directly.

Run folder layout (``config.train.out``)::

    config.json        the resolved configuration
    checkpoints/       tf.train.Checkpoint of models, optimizers, step and random state
    logs/              TensorBoard events (scalars, preview grids)
    samples/           preview grids as PNG: input | truth | four z samples, per row
    examples/          the preview pictures in colour, handy inputs for the sample command
    metrics.csv        the logged losses, one row per --log-every steps
    loss_curves.png    plots of metrics.csv
    generator.keras, saved_model/    the exported generator
"""
from __future__ import annotations

import csv
import json
import logging
import math
import os
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from anime_colorize import config as config_lib
from anime_colorize import color, export
from anime_colorize.data import pipeline
from anime_colorize.data.io import write_image
from anime_colorize.sampling import make_grid
from anime_colorize.summaries import SummaryWriter
from anime_colorize.trainers import get_trainer

log = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
CHECKPOINT_DIR = "checkpoints"
PREVIEW_IMAGES = 8
PREVIEW_SAMPLES = 4
# Settings a resumed run may change; anything else would make it a different run.
RESUMABLE_OVERRIDES = {"steps", "max_minutes", "log_every", "sample_every", "checkpoint_every",
                       "xla", "eager"}


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked (exists without --resume, or vice versa)."""


def has_checkpoint(out) -> bool:
    return tf.train.latest_checkpoint(str(Path(out) / CHECKPOINT_DIR)) is not None


def resolve_config(given: dict, resume: bool) -> config_lib.RunConfig:
    """The run's configuration from the flags the user gave.

    A fresh run starts from the defaults; a resumed run from its saved ``config.json``, where
    only :data:`RESUMABLE_OVERRIDES` may change.
    """
    out = Path(given.get("out", config_lib.TrainConfig().out))
    if not resume:
        return config_lib.apply_overrides(config_lib.RunConfig(), given)
    saved_path = out / CONFIG_NAME
    if not saved_path.exists():
        raise RunFolderError(f"cannot resume: {saved_path} not found")
    saved = config_lib.from_dict(json.loads(saved_path.read_text()))
    flat = {k: v for section in config_lib.to_dict(saved).values() for k, v in section.items()}
    changed = {k for k, v in given.items() if k not in RESUMABLE_OVERRIDES and flat.get(k) != v}
    if changed:
        flags = ", ".join(config_lib.flag_name(k) for k in sorted(changed))
        raise RunFolderError(f"cannot change {flags} when resuming {out}; only "
                             f"{', '.join(config_lib.flag_name(k) for k in sorted(RESUMABLE_OVERRIDES))} may change")
    return config_lib.apply_overrides(saved, given)


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def preview_batch(source, config) -> np.ndarray:
    """uint8 (N, size, size, 3) pictures shown in the preview grids."""
    size, seed = config.data.size, config.train.seed
    if config.data.data is None:
        return pipeline.builtin_holdout(PREVIEW_IMAGES, size, seed)
    pictures = []
    for index in range(min(PREVIEW_IMAGES, len(source))):
        picture = source.load(index)
        if picture is not None:
            offset = (picture.shape[0] - size) // 2
            pictures.append(picture[offset:offset + size, offset:offset + size])
    return np.stack(pictures)


def preview_grid(trainer, pictures: np.ndarray, seed: int) -> np.ndarray:
    """uint8 grid: one row per picture, columns gray input | truth | PREVIEW_SAMPLES colourings."""
    inputs = pipeline.rgb_batch_to_model_inputs(pictures)
    l = inputs["l"]
    n = len(pictures)
    z = tf.constant(np.random.default_rng(seed).standard_normal((PREVIEW_SAMPLES, trainer.config.model.z_dim)),
                    tf.float32)
    columns = [color.l_ab_to_rgb(l, tf.zeros_like(inputs["ab"])), tf.cast(pictures, tf.float32) / 255.0]
    for k in range(PREVIEW_SAMPLES):
        ab = trainer.generate(l, tf.repeat(z[k:k + 1], n, axis=0), training=False)
        columns.append(color.l_ab_to_rgb(l, ab))
    tiles = tf.stack(columns, axis=1).numpy().reshape((-1,) + pictures.shape[1:])
    grid = make_grid(tiles, n, len(columns))
    return np.clip(np.rint(grid * 255), 0, 255).astype(np.uint8)


def plot_loss_curves(metrics_path: Path, png_path: Path) -> None:
    """One panel per logged quantity against the step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(metrics_path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    names = [k for k in rows[0] if k != "step"]
    steps = [int(r["step"]) for r in rows]
    cols = min(3, len(names))
    fig_rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(fig_rows, cols, figsize=(4 * cols, 2.6 * fig_rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        ax.plot(steps, [float(r[name]) for r in rows], lw=1)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    tmp = png_path.with_name(f".{png_path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, png_path)


class _MetricsLog:
    """metrics.csv, appended as training goes; a resumed run drops rows past its checkpoint
    so the file reads as one uninterrupted run."""

    def __init__(self, path: Path, start_step: int):
        self.path = path
        self.names = None
        if path.exists():
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= start_step]
            if rows:
                self.names = [k for k in rows[0] if k != "step"]
            self._rewrite(rows)

    def _rewrite(self, rows):
        with open(self.path, "w", newline="") as f:
            if rows:
                writer = csv.DictWriter(f, ["step"] + self.names)
                writer.writeheader()
                writer.writerows(rows)

    def append(self, step: int, values: dict) -> None:
        new = self.names is None
        if new:
            self.names = sorted(values)
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, ["step"] + self.names)
            if new:
                writer.writeheader()
            writer.writerow({"step": step, **{k: f"{values[k]:.6g}" for k in self.names}})


def clear_run_folder(out) -> None:
    """Removes what a training run writes in ``out`` (only those names), for --overwrite."""
    import shutil

    out = Path(out)
    for name in (CHECKPOINT_DIR, "logs", "samples", "examples", export.SAVED_MODEL_NAME):
        shutil.rmtree(out / name, ignore_errors=True)
    for name in (CONFIG_NAME, "metrics.csv", "loss_curves.png", export.KERAS_NAME):
        (out / name).unlink(missing_ok=True)


def fit(config: config_lib.RunConfig, resume: bool = False, progress: bool = True) -> dict:
    """Trains, checkpoints and exports; returns a summary dict.

    Raises :class:`RunFolderError` if ``out`` already holds a checkpoint and ``resume`` is
    False (nothing is overwritten), ValueError for bad settings or data.
    KeyboardInterrupt is caught: the run is checkpointed and ``summary["interrupted"]`` set.
    """
    config_lib.validate(config)
    trainer_cls = get_trainer(config.train.algo)
    t = config.train
    out = Path(t.out)
    if not resume and has_checkpoint(out):
        raise RunFolderError(f"{out} already holds a training run; pass --resume to continue it, "
                             "or choose another --out")
    out.mkdir(parents=True, exist_ok=True)

    source, report = pipeline.source_from_config(config.data, t.seed, progress=progress)
    if report is not None:
        log.info(report.summary(config.data.data))
        for path, reason in report.skipped:
            log.info("  skipped %s: %s", path, reason)

    trainer = trainer_cls(config)
    manager = tf.train.CheckpointManager(trainer.checkpoint, str(out / CHECKPOINT_DIR), max_to_keep=3)
    if resume:
        if manager.latest_checkpoint is None:
            raise RunFolderError(f"cannot resume: no checkpoint in {out / CHECKPOINT_DIR}")
        trainer.checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        log.info("resumed %s at step %d", out, int(trainer.step))
    _write_text_atomic(out / CONFIG_NAME, config_lib.to_json(config))

    start = int(trainer.step)
    dataset = pipeline.training_dataset(source, config.data.size, config.data.batch_size, t.seed,
                                        start_step=start, flip=config.data.flip)
    pictures = preview_batch(source, config)
    for k, picture in enumerate(pictures):
        write_image(out / "examples" / f"{k}.png", picture)
    writer = SummaryWriter(out / "logs")
    metrics = _MetricsLog(out / "metrics.csv", start)
    deadline = None if t.max_minutes is None else time.monotonic() + 60 * t.max_minutes
    step, saved_step, stopped_early, interrupted = start, start, False, False
    bar = tqdm(total=t.steps, initial=start, desc=f"{t.algo}", unit="step", disable=not progress,
               dynamic_ncols=True)
    started = time.monotonic()

    def save_preview():
        grid = preview_grid(trainer, pictures, t.seed)
        write_image(out / "samples" / f"step_{step:07d}.png", grid)
        writer.image("samples", grid, step)

    try:
        for batch in dataset:
            if step >= t.steps:
                break
            logs = trainer.train_step(batch)
            step = int(trainer.step)
            bar.update(1)
            if step % t.log_every == 0 or step == t.steps:
                values = {k: float(v) for k, v in logs.items()}
                bad = [k for k, v in values.items() if not math.isfinite(v)]
                if bad:
                    raise FloatingPointError(f"non-finite {', '.join(bad)} at step {step}; the last "
                                             f"good checkpoint is at step {saved_step}: try a lower learning rate")
                bar.set_postfix({k: f"{v:.3g}" for k, v in values.items()}, refresh=False)
                writer.scalars(values, step)
                metrics.append(step, values)
            if step % t.sample_every == 0:
                save_preview()
            if step % t.checkpoint_every == 0:
                manager.save(checkpoint_number=step)
                saved_step = step
            if deadline is not None and time.monotonic() > deadline and step < t.steps:
                stopped_early = True
                log.info("time budget of %s minutes reached at step %d", t.max_minutes, step)
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()

    if saved_step != step:
        manager.save(checkpoint_number=step)
    summary = {"out": str(out), "start_step": start, "step": step, "interrupted": interrupted,
               "stopped_early": stopped_early, "seconds": time.monotonic() - started,
               "skipped_files": [] if report is None else report.skipped}
    if interrupted:
        writer.close()
        log.info("interrupted at step %d; checkpoint saved, continue with --resume", step)
        return summary
    if step % t.sample_every != 0:
        save_preview()
    writer.close()
    keras_path, saved_model_path = export.export_generator(trainer.generator, out)
    if (out / "metrics.csv").exists():
        plot_loss_curves(out / "metrics.csv", out / "loss_curves.png")
    summary.update(keras=str(keras_path), saved_model=str(saved_model_path))
    return summary
