"""The training run: data, trainer, checkpoints, logs, previews and export around the step.

:func:`fit` is what ``python -m anime_colorize.train`` calls; tests call it directly.

Run folder layout (``config.train.out``)::

    config.json        the resolved configuration
    checkpoints/       tf.train.Checkpoint of models, optimizers, step and random state
    logs/              TensorBoard events (scalars, preview grids)
    samples/           preview grids as PNG: input | truth | four z samples, per row
                       (hint models: input | hints | truth | samples, with simulated hints)
    examples/          the preview pictures in colour (and, for line-art models, their
                       line drawings as <k>_lines.png), handy inputs for sample / colorize
    metrics.csv        the logged losses, one row per --log-every steps
    loss_curves.png    plots of metrics.csv
    generator.keras, saved_model/    the exported generator
"""
from __future__ import annotations

import csv
import errno
import io
import json
import logging
import math
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from anime_colorize import config as config_lib
from anime_colorize import distribute, export, sampling
from anime_colorize.data import lineart, pipeline
from anime_colorize.data.io import write_bytes_atomic, write_image
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
                       "xla", "eager", "nan_retries", "strategy", "mixed_precision"}


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


def preview_batch(source, builtin: bool, config) -> np.ndarray:
    """uint8 (N, size, size, 3) pictures shown in the preview grids: held-out pictures when
    training on ``builtin`` pictures, else the first pictures of ``source``."""
    size, seed = config.data.size, config.train.seed
    if builtin:
        return pipeline.builtin_holdout(PREVIEW_IMAGES, size, seed)
    pictures = []
    for index in range(min(PREVIEW_IMAGES, len(source))):
        picture = source.load(index)
        if picture is not None:
            offset = (picture.shape[0] - size) // 2
            pictures.append(picture[offset:offset + size, offset:offset + size])
    return np.stack(pictures)


def preview_lines(pictures: np.ndarray) -> np.ndarray:
    """Fixed line drawings (N, S, S) in [0, 1] of the preview pictures: XDoG, thin, black."""
    return np.stack([lineart.extract_lines(p) for p in pictures])


def preview_inputs(pictures: np.ndarray, model_config, seed: int) -> dict:
    """A batch (see :func:`pipeline.batch_signature`) of the preview pictures, with line art
    and simulated hints as the model takes them ("mix" shows point hints)."""
    lines = preview_lines(pictures) if model_config.input == "lineart" else None
    kind = {"none": "none", "mix": "points"}.get(model_config.hints, model_config.hints)
    return pipeline.rgb_batch_to_model_inputs(pictures, lines, kind, (seed, 0))


def preview_grid(trainer, pictures: np.ndarray, seed: int) -> np.ndarray:
    """uint8 grid: one row per picture, columns input | [hints |] truth | PREVIEW_SAMPLES colourings."""
    batch = preview_inputs(pictures, trainer.config.model, seed)
    condition = trainer.condition(batch)
    n = len(pictures)
    z = tf.constant(np.random.default_rng(seed).standard_normal((PREVIEW_SAMPLES, trainer.config.model.z_dim)),
                    tf.float32)
    lines = (batch["lines"] + 1.0) / 2.0 if "lines" in batch else None
    columns = [sampling.input_picture(batch["l"], lines)]
    if "hint_mask" in batch:
        columns.append(sampling.hint_picture(batch))
    columns.append(tf.cast(pictures, tf.float32) / 255.0)
    for k in range(PREVIEW_SAMPLES):
        colors = trainer.generate(condition, tf.repeat(z[k:k + 1], n, axis=0), training=False)
        columns.append(tf.clip_by_value(sampling.colors_to_rgb(colors, l=batch["l"], lines=lines), 0.0, 1.0))
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
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=100)
    plt.close(fig)
    write_bytes_atomic(png_path, png.getvalue())


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
    out = Path(out)
    for name in (CHECKPOINT_DIR, "logs", "samples", "examples", export.SAVED_MODEL_NAME):
        shutil.rmtree(out / name, ignore_errors=True)
    for name in (CONFIG_NAME, "metrics.csv", "loss_curves.png", export.KERAS_NAME):
        (out / name).unlink(missing_ok=True)


class TrainingDiverged(FloatingPointError):
    """Too many non-finite losses in a row: lowering the learning rate did not help."""


class DiskFullError(OSError):
    """The disk filled up while the run was saving; earlier checkpoints are intact."""


def _saving(what: str, action):
    """Runs a save; turns 'no space left' into a message that says what is safe."""
    try:
        return action()
    except OSError as e:
        if e.errno == errno.ENOSPC or "No space left" in str(e):
            raise DiskFullError(errno.ENOSPC, f"no space left on the device while writing {what}; "
                                "free some space, then continue with --resume") from e
        raise


class _Run:
    """One training run in its folder: set-up, the loop around the step, and the wrap-up."""

    def __init__(self, config: config_lib.RunConfig, resume: bool, progress: bool):
        config_lib.validate(config)
        trainer_cls = get_trainer(config.train.algo)
        t = self.t = config.train
        self.strategy = distribute.make_strategy(t.strategy)  # first: multiworker needs a fresh runtime
        self.chief = distribute.is_chief(self.strategy)
        replicas = self.strategy.num_replicas_in_sync
        if config.data.batch_size % replicas:
            raise ValueError(f"--batch-size {config.data.batch_size} must be divisible by the {replicas} "
                             f"replicas of --strategy {t.strategy}")
        self.config, self.progress = config, progress and self.chief
        self.out = out = Path(t.out)
        if self.chief and not resume and has_checkpoint(out):
            raise RunFolderError(f"{out} already holds a training run; pass --resume to continue it, "
                                 "or choose another --out")
        # The data first: a folder with nothing usable fails before anything is written.
        self.source, self.report = trainer_cls.make_source(config, progress=self.progress)
        if self.report is not None:  # each skipped file was logged with its reason by the scan
            log.info(self.report.summary(config.data.data))
        out.mkdir(parents=True, exist_ok=True)
        # Only the chief writes into the run folder; other workers save the same checkpoints
        # (saving is collective) into a scratch folder.
        self.save_dir = out if self.chief else Path(tempfile.mkdtemp(prefix="anime_colorize_worker_"))
        self.trainer = trainer_cls(config, self.strategy)
        # Checkpoint writes are atomic (TensorFlow writes temporary files, renames them, then
        # updates the 'checkpoint' index), so a kill during a save leaves the previous one intact.
        self.manager = tf.train.CheckpointManager(self.trainer.checkpoint, str(self.save_dir / CHECKPOINT_DIR),
                                                  max_to_keep=3)
        latest = tf.train.latest_checkpoint(str(out / CHECKPOINT_DIR))  # every worker reads the chief's
        if resume and latest is not None:
            self.trainer.checkpoint.restore(latest).assert_existing_objects_matched()
            log.info("resumed %s at step %d", out, int(self.trainer.step.numpy()))
        elif resume:
            log.info("no checkpoint in %s yet: starting from step 0", out / CHECKPOINT_DIR)
        self.start = self.step = self.saved_step = int(self.trainer.step.numpy())
        if not resume or latest is None:  # something to roll back to; the same decision on every worker
            self.save_checkpoint()
        self.pictures = preview_batch(self.source, self.report is None, config)
        self.writer = self.metrics = None
        if self.chief:
            _saving(CONFIG_NAME, lambda: write_bytes_atomic(out / CONFIG_NAME, config_lib.to_json(config).encode()))
            for k, picture in enumerate(self.pictures):
                write_image(out / "examples" / f"{k}.png", picture)
            if config.model.input == "lineart":
                for k, lines in enumerate(preview_lines(self.pictures)):
                    write_image(out / "examples" / f"{k}_lines.png", np.rint(lines * 255).astype(np.uint8))
            self.writer = SummaryWriter(out / "logs")
            self.metrics = _MetricsLog(out / "metrics.csv", self.start)
        self.nan_streak = 0

    def save_checkpoint(self):
        _saving(f"the checkpoint of step {self.step}", lambda: self.manager.save(checkpoint_number=self.step))
        self.saved_step = self.step

    def save_preview(self):
        if not self.chief:
            return
        grid = preview_grid(self.trainer, self.pictures, self.t.seed)
        _saving("a preview grid", lambda: write_image(self.out / "samples" / f"step_{self.step:07d}.png", grid))
        self.writer.image("samples", grid, self.step)

    def recover_from_non_finite(self, values: dict):
        """Rolls back to the last checkpoint and halves the learning rates, or gives up."""
        bad = ", ".join(f"{k}={v}" for k, v in values.items() if not math.isfinite(v))
        self.nan_streak += 1
        if self.nan_streak > self.t.nan_retries:
            raise TrainingDiverged(f"training diverged: non-finite losses ({bad}) at step {self.step}, "
                                   f"{self.nan_streak} times in a row despite lower learning rates; "
                                   f"the last good checkpoint is step {self.saved_step}")
        # Halve the rates in force now: the checkpoint holds older (possibly higher) ones.
        lowered = [float(optimizer.learning_rate) * 0.5 for optimizer in self.trainer.optimizers]
        latest = tf.train.latest_checkpoint(str(self.out / CHECKPOINT_DIR))
        self.trainer.checkpoint.restore(latest).assert_existing_objects_matched()
        for optimizer, rate in zip(self.trainer.optimizers, lowered):
            optimizer.learning_rate.assign(rate)
        rates = [f"{rate:.3g}" for rate in lowered]
        log.warning("non-finite loss (%s) at step %d: the step was undone, training goes on from "
                    "step %d with learning rates lowered to %s", bad, self.step, self.saved_step, ", ".join(rates))
        self.step = int(self.trainer.step.numpy())

    def loop(self, bar):
        """Steps until --steps or the time budget; returns True if stopped by the budget."""
        t = self.t
        deadline = None if t.max_minutes is None else time.monotonic() + 60 * t.max_minutes
        dataset = self.trainer.make_dataset(self.source, start_step=self.step)
        for batch in distribute.distribute_dataset(self.strategy, dataset):
            if self.step >= t.steps:
                return False
            logs = self.trainer.train_step(batch)
            values = {k: float(v) for k, v in logs.items()}
            self.step = int(self.trainer.step.numpy())
            if not all(math.isfinite(v) for v in values.values()):
                self.recover_from_non_finite(values)
                bar.n = self.step
                continue
            self.nan_streak = 0
            bar.update(1)
            if self.chief and (self.step % t.log_every == 0 or self.step == t.steps):
                bar.set_postfix({k: f"{v:.3g}" for k, v in values.items()}, refresh=False)
                self.writer.scalars(values, self.step)
                self.metrics.append(self.step, values)
            if self.step % t.sample_every == 0:
                self.save_preview()
            if self.step % t.checkpoint_every == 0:
                self.save_checkpoint()
            if deadline is not None and time.monotonic() > deadline and self.step < t.steps:
                log.info("time budget of %s minutes reached at step %d", t.max_minutes, self.step)
                return True
        return False

    def close(self):
        if self.writer is not None:
            self.writer.close()

    def train(self) -> dict:
        t, out = self.t, self.out
        started = time.monotonic()
        stopped_early = interrupted = False
        bar = tqdm(total=t.steps, initial=self.start, desc=t.algo, unit="step", disable=not self.progress,
                   dynamic_ncols=True)
        try:
            stopped_early = self.loop(bar)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            bar.close()
        if self.saved_step != self.step:
            self.save_checkpoint()
        summary = {"out": str(out), "chief": self.chief, "start_step": self.start, "step": self.step,
                   "interrupted": interrupted,
                   "stopped_early": stopped_early, "seconds": time.monotonic() - started,
                   "skipped_files": [] if self.report is None else self.report.skipped}
        if self.writer is not None:
            self.writer.flush()
        if interrupted:
            self.close()
            if not self.chief:
                shutil.rmtree(self.save_dir, ignore_errors=True)
            log.info("interrupted at step %d; checkpoint saved, continue with --resume", self.step)
            return summary
        if self.step % t.sample_every != 0:
            self.save_preview()
        self.close()
        keras_path, saved_model_path = _saving(
            "the exported model", lambda: export.export_generator(self.trainer.generator, self.save_dir))
        if not self.chief:  # its saves were only to take part in collective writes
            shutil.rmtree(self.save_dir, ignore_errors=True)
            summary.update(keras=str(out / export.KERAS_NAME), saved_model=str(out / export.SAVED_MODEL_NAME))
            return summary
        if (out / "metrics.csv").exists():
            plot_loss_curves(out / "metrics.csv", out / "loss_curves.png")
        summary.update(keras=str(keras_path), saved_model=str(saved_model_path))
        return summary


def fit(config: config_lib.RunConfig, resume: bool = False, progress: bool = True) -> dict:
    """Trains, checkpoints and exports; returns a summary dict.

    Raises :class:`RunFolderError` if ``out`` already holds a checkpoint and ``resume`` is
    False (nothing is overwritten), ValueError for bad settings or data,
    :class:`TrainingDiverged` after too many non-finite losses in a row, and
    :class:`DiskFullError` when the disk fills up. KeyboardInterrupt is caught: the run is
    checkpointed and ``summary["interrupted"]`` set; the caller may resume it.
    """
    return _Run(config, resume, progress).train()
