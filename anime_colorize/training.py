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
    metrics.csv        the logged losses, one row per --log-every steps, each value the mean
                       over those steps (as in TensorBoard and on the progress bar)
    loss_curves.png    plots of metrics.csv
    generator.keras, saved_model/    the exported generator

A run is put together from pieces that each do one thing: :class:`RunFolder` (what the chief
writes where), :class:`Checkpoints` (save, resume from the newest checkpoint that reads
cleanly, roll back), :class:`IntervalMeans` and :class:`LossLog` (what is logged),
:class:`Previews`, :class:`NonFiniteGuard` (roll back and lower the learning rates), and the
loop of :class:`_Run` around ``trainer.train_step``.
"""
from __future__ import annotations

import csv
import errno
import io
import logging
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from anime_colorize import config as config_lib
from anime_colorize import distribute, export, sampling
from anime_colorize.array_types import PathLike
from anime_colorize.data import lineart, pipeline
from anime_colorize.data.io import write_bytes_atomic, write_image
from anime_colorize.sampling import make_grid
from anime_colorize.summaries import SummaryWriter
from anime_colorize.trainers import get_trainer

if TYPE_CHECKING:
    from anime_colorize.trainers.base import Trainer

log = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
CHECKPOINT_DIR = "checkpoints"
PREVIEW_IMAGES = 8
PREVIEW_SAMPLES = 4
# Settings a resumed run may change; anything else would make it a different run.
RESUMABLE_OVERRIDES = {"out", "steps", "max_minutes", "log_every", "sample_every", "checkpoint_every",
                       "xla", "eager", "nan_retries", "strategy", "mixed_precision"}


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked (exists without --resume, or vice versa)."""


def has_checkpoint(out: PathLike) -> bool:
    """Whether ``out`` holds a checkpoint (read from the files, as :class:`Checkpoints` does)."""
    return any((Path(out) / CHECKPOINT_DIR).glob("*.index"))


def resolve_config(given: dict, resume: bool, config_file: PathLike | None = None) -> config_lib.RunConfig:
    """The run's configuration from the flags the user gave.

    A fresh run starts from the defaults, or from ``config_file`` (a JSON configuration such as
    another run's ``config.json``, in the current or an earlier format), and the flags override
    it. A resumed run starts from its saved ``config.json``, where only
    :data:`RESUMABLE_OVERRIDES` may change. ValueError (:class:`RunFolderError` for the run
    folder) naming the file or flag at fault.
    """
    if config_file is not None and resume:
        raise RunFolderError("--config starts a new run; --resume continues the run in --out with its own "
                             "config.json: give one of them")
    if not resume:
        base = config_lib.RunConfig() if config_file is None else config_lib.load(config_file)
        if config_file is not None and "out" not in given and \
                Path(base.train.out).resolve() == Path(config_file).resolve().parent:
            # The file is that run's own config.json: a new run there would start over it.
            raise RunFolderError(f"{config_file} is the configuration of the run in {base.train.out}: "
                                 "give --out for the new run")
        return config_lib.apply_overrides(base, given)
    out = Path(given.get("out", config_lib.TrainConfig().out))
    saved_path = out / CONFIG_NAME
    if not saved_path.exists():
        raise RunFolderError(f"cannot resume: {saved_path} not found")
    saved = config_lib.load(saved_path)
    flat = {k: v for section in config_lib.to_dict(saved).values() for k, v in section.items()}
    changed = {k for k, v in given.items() if k in flat and k not in RESUMABLE_OVERRIDES and flat[k] != v}
    if changed:
        flags = ", ".join(config_lib.flag_name(k) for k in sorted(changed))
        raise RunFolderError(f"cannot change {flags} when resuming {out}; only "
                             f"{', '.join(config_lib.flag_name(k) for k in sorted(RESUMABLE_OVERRIDES))} may change")
    return config_lib.apply_overrides(saved, given)


def preview_batch(source: Any, builtin: bool, config: config_lib.RunConfig) -> np.ndarray:
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


def preview_inputs(pictures: np.ndarray, model_config: config_lib.ModelConfig, seed: int) -> dict:
    """A batch (see :func:`pipeline.batch_signature`) of the preview pictures, with line art,
    region labels and simulated hints as the model takes them ("mix" shows point hints)."""
    lines = preview_lines(pictures) if model_config.input == "lineart" else None
    regions = pipeline.batch_region_labels(pictures, lines) if model_config.uses_regions else None
    kind = {"none": "none", "mix": "points"}.get(model_config.hints, model_config.hints)
    return pipeline.rgb_batch_to_model_inputs(pictures, lines, kind, (seed, 0), regions)


def preview_grid(trainer: Trainer, pictures: np.ndarray, seed: int) -> np.ndarray:
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

    def __init__(self, path: Path, start_step: int) -> None:
        self.path = path
        self.names: list[str] = []
        if path.exists():
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= start_step]
            if rows:
                self.names = [k for k in rows[0] if k != "step"]
            self._rewrite(rows)

    def _rewrite(self, rows) -> None:
        with open(self.path, "w", newline="") as f:
            if rows:
                writer = csv.DictWriter(f, ["step"] + self.names)
                writer.writeheader()
                writer.writerows(rows)

    def append(self, step: int, values: dict) -> None:
        new = not self.names
        if new:
            self.names = sorted(values)
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, ["step"] + self.names)
            if new:
                writer.writeheader()
            writer.writerow({"step": step, **{k: f"{values[k]:.6g}" for k in self.names}})


def clear_run_folder(out: PathLike) -> None:
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


# --- the pieces of a run ---------------------------------------------------------------------
class RunFolder:
    """Where a run writes: the chief writes the run folder ``out``; another worker of a
    multi-worker run saves its (collective) checkpoints and export into a scratch folder, and
    reads the chief's checkpoints to resume."""

    def __init__(self, out: PathLike, chief: bool) -> None:
        self.out = Path(out)
        self.chief = chief
        self.save_dir = self.out if chief else Path(tempfile.mkdtemp(prefix="anime_colorize_worker_"))

    def check_start(self, resume: bool) -> None:
        """Refuses to start a new run over an existing one (nothing is overwritten)."""
        if self.chief and not resume and has_checkpoint(self.out):
            raise RunFolderError(f"{self.out} already holds a training run; pass --resume to continue it, "
                                 "or choose another --out")

    def write_start(self, config: config_lib.RunConfig, pictures: np.ndarray) -> None:
        """config.json and the example pictures (with their line drawings for line-art models)."""
        if not self.chief:
            return
        out = self.out
        _saving(CONFIG_NAME, lambda: write_bytes_atomic(out / CONFIG_NAME, config_lib.to_json(config).encode()))
        for k, picture in enumerate(pictures):
            write_image(out / "examples" / f"{k}.png", picture)
        if config.model.input == "lineart":
            for k, lines in enumerate(preview_lines(pictures)):
                write_image(out / "examples" / f"{k}_lines.png", np.rint(lines * 255).astype(np.uint8))

    def drop_scratch(self) -> None:
        """Removes a non-chief worker's scratch folder (its saves were only to take part in
        collective writes)."""
        if not self.chief:
            shutil.rmtree(self.save_dir, ignore_errors=True)


def _checkpoint_number(prefix: Path) -> int:
    try:
        return int(prefix.name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return -1


class Checkpoints:
    """The run's checkpoints: saved into ``save_dir``/checkpoints, read from
    ``read_dir``/checkpoints (the chief's), at most three kept.

    Checkpoint writes are atomic (TensorFlow writes temporary files, renames them, then updates
    the 'checkpoint' index), so a kill during a save leaves the previous one intact. A checkpoint
    damaged otherwise (a truncated or corrupted file) is found by reading it whole before it is
    restored: :meth:`restore_newest` then restores the newest one that reads cleanly, says which
    and why in one log line per damaged checkpoint, and (on the chief) moves the damaged files to
    ``checkpoints/damaged/`` so that nothing overwrites or deletes them.
    """

    def __init__(self, trainer: Trainer, read_dir: Path, save_dir: Path, chief: bool) -> None:
        self.trainer = trainer
        self.read_dir = Path(read_dir) / CHECKPOINT_DIR
        self.save_dir = Path(save_dir) / CHECKPOINT_DIR
        self.chief = chief
        self.saved_step: int | None = None
        self.manager: tf.train.CheckpointManager | None = None

    def _manager(self):
        # Made on first use. It reads the 'checkpoint' index, which may still name a damaged
        # checkpoint that was set aside: its next save rewrites the index, and rotating out a
        # checkpoint whose files are gone deletes nothing.
        if self.manager is None:
            self.manager = tf.train.CheckpointManager(self.trainer.checkpoint, str(self.save_dir), max_to_keep=3)
        return self.manager

    def save(self, step: int) -> None:
        _saving(f"the checkpoint of step {step}", lambda: self._manager().save(checkpoint_number=step))
        self.saved_step = step

    def candidates(self) -> list[Path]:
        """Checkpoint prefixes in the folder, newest first (read from the files, so a damaged
        'checkpoint' index hides none)."""
        prefixes = [path.with_suffix("") for path in self.read_dir.glob("*.index")]
        return sorted(prefixes, key=_checkpoint_number, reverse=True)

    @staticmethod
    def read_error(prefix: Path) -> tuple[Path, Exception] | None:
        """None if the checkpoint ``prefix`` reads cleanly (every tensor, checksums checked),
        else (the file at fault, the error)."""
        try:
            reader = tf.train.load_checkpoint(str(prefix))
        except Exception as e:  # noqa: BLE001  anything that stops a read marks it damaged
            return prefix.with_name(prefix.name + ".index"), e
        try:
            for name in reader.get_variable_to_shape_map():
                reader.get_tensor(name)
        except Exception as e:  # noqa: BLE001
            data = sorted(prefix.parent.glob(prefix.name + ".data-*"))
            return (data[0] if len(data) == 1 else prefix.with_name(prefix.name + ".data-*")), e
        return None

    def restore_newest(self) -> int | None:
        """Restores the newest checkpoint that reads cleanly; returns its step, or None if the
        folder has no checkpoint. RunFolderError if none of them reads cleanly (then nothing
        is moved)."""
        damaged: list[tuple[Path, tuple[Path, Exception]]] = []
        for prefix in self.candidates():
            problem = self.read_error(prefix)
            if problem is None:
                self.trainer.checkpoint.restore(str(prefix)).assert_existing_objects_matched()
                step = int(self.trainer.step.numpy())
                for bad, (file, error) in damaged:
                    where = self._set_aside(bad) if self.chief else None
                    log.warning("checkpoint %s is damaged (%s: %s): resuming from %s (step %d)%s", file,
                                type(error).__name__, _first_line(error), prefix.name, step,
                                f"; the damaged files are kept in {where}" if where else "")
                self.saved_step = step
                return step
            damaged.append((prefix, problem))
        if damaged:
            _, (file, error) = damaged[0]
            raise RunFolderError(f"no checkpoint in {self.read_dir} reads cleanly (the newest, {file}: "
                                 f"{type(error).__name__}: {_first_line(error)}); start afresh with --overwrite")
        return None

    def _set_aside(self, prefix: Path) -> Path:
        """Moves the files of checkpoint ``prefix`` into damaged/ (a fresh subfolder if a
        checkpoint of that name was set aside before); returns the folder."""
        where = self.read_dir / "damaged"
        if any(where.glob(prefix.name + ".*")):
            number = 2
            while (self.read_dir / "damaged" / f"{prefix.name}-{number}").exists():
                number += 1
            where = self.read_dir / "damaged" / f"{prefix.name}-{number}"
        where.mkdir(parents=True, exist_ok=True)
        for path in prefix.parent.glob(prefix.name + ".*"):
            path.rename(where / path.name)
        return where


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:300] if lines else ""


class IntervalMeans:
    """Running means of the logged values since the last :meth:`pop`."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, values: dict) -> None:
        for name, value in values.items():
            self.sums[name] = self.sums.get(name, 0.0) + value
        self.count += 1

    def pop(self) -> dict:
        """{name: mean since the last pop}; then starts afresh."""
        means = {name: total / self.count for name, total in self.sums.items()}
        self.reset()
        return means


class LossLog:
    """The chief's loss log: every step's values are collected; every --log-every steps (and
    at the last step) their means over the interval go to the progress bar, TensorBoard and
    metrics.csv."""

    def __init__(self, out: Path, start_step: int, writer: SummaryWriter | None, bar: Any, log_every: int,
                 last_step: int) -> None:
        self.metrics = _MetricsLog(out / "metrics.csv", start_step)
        self.writer, self.bar = writer, bar
        self.log_every, self.last_step = log_every, last_step
        self.means = IntervalMeans()

    def add(self, step: int, values: dict) -> None:
        self.means.add(values)
        if step % self.log_every == 0 or step == self.last_step:
            means = self.means.pop()
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in means.items()}, refresh=False)
            if self.writer is not None:  # only the chief writes logs
                self.writer.scalars(means, step)
            self.metrics.append(step, means)

    def undo(self) -> None:
        """Forgets the values of steps that were rolled back."""
        self.means.reset()


class Previews:
    """Preview grids of the fixed preview pictures (samples/step_<n>.png and TensorBoard)."""

    def __init__(self, trainer: Trainer, pictures: np.ndarray, out: Path, writer: SummaryWriter | None,
                 seed: int) -> None:
        self.trainer, self.pictures, self.out, self.writer, self.seed = trainer, pictures, out, writer, seed

    def save(self, step: int) -> None:
        grid = preview_grid(self.trainer, self.pictures, self.seed)
        _saving("a preview grid", lambda: write_image(self.out / "samples" / f"step_{step:07d}.png", grid))
        if self.writer is not None:  # only the chief writes logs
            self.writer.image("samples", grid, step)


class NonFiniteGuard:
    """A non-finite loss undoes the step: back to the last checkpoint with the learning rates
    halved, at most ``retries`` times in a row."""

    def __init__(self, trainer: Trainer, checkpoints: Checkpoints, retries: int) -> None:
        self.trainer, self.checkpoints, self.retries = trainer, checkpoints, retries
        self.streak = 0

    def check(self, step: int, values: dict) -> bool:
        """True if ``values`` are finite; else rolls back (TrainingDiverged once the streak
        exceeds the retries) and returns False."""
        if all(math.isfinite(v) for v in values.values()):
            self.streak = 0
            return True
        bad = ", ".join(f"{k}={v}" for k, v in values.items() if not math.isfinite(v))
        self.streak += 1
        if self.streak > self.retries:
            raise TrainingDiverged(f"training diverged: non-finite losses ({bad}) at step {step}, "
                                   f"{self.streak} times in a row despite lower learning rates; "
                                   f"the last good checkpoint is step {self.checkpoints.saved_step}")
        # Halve the rates in force now: the checkpoint holds older (possibly higher) ones.
        lowered = [float(optimizer.learning_rate) * 0.5 for optimizer in self.trainer.optimizers]
        back_to = self.checkpoints.restore_newest()
        for optimizer, rate in zip(self.trainer.optimizers, lowered):
            optimizer.learning_rate.assign(rate)
        rates = ", ".join(f"{rate:.3g}" for rate in lowered)
        log.warning("non-finite loss (%s) at step %d: the step was undone, training goes on from "
                    "step %d with learning rates lowered to %s", bad, step, back_to, rates)
        return False


class _Run:
    """One training run: set up from the pieces above, the loop around the step, the wrap-up."""

    def __init__(self, config: config_lib.RunConfig, resume: bool, progress: bool):
        config_lib.validate(config)
        trainer_cls = get_trainer(config.train.algo)
        self.config, self.t = config, config.train
        self.strategy = distribute.make_strategy(self.t.strategy)  # first: multiworker needs a fresh runtime
        replicas = self.strategy.num_replicas_in_sync
        if config.data.batch_size % replicas:
            raise ValueError(f"--batch-size {config.data.batch_size} must be divisible by the {replicas} "
                             f"replicas of --strategy {self.t.strategy}")
        self.folder = RunFolder(self.t.out, distribute.is_chief(self.strategy))
        self.chief, self.progress = self.folder.chief, progress and self.folder.chief
        self.folder.check_start(resume)
        # The data first: a folder with nothing usable fails before anything is written.
        self.source, self.report = trainer_cls.make_source(config, progress=self.progress)
        if self.report is not None:  # each skipped file was logged with its reason by the scan
            log.info(self.report.summary(config.data.data))
        self.folder.out.mkdir(parents=True, exist_ok=True)
        self.trainer = trainer_cls(config, self.strategy)
        self.checkpoints = Checkpoints(self.trainer, self.folder.out, self.folder.save_dir, self.chief)
        start = self.resume() if resume else None
        if start is None:  # something to roll back to; the same decision on every worker
            start = int(self.trainer.step.numpy())
            self.checkpoints.save(start)
        self.start = self.step = start
        pictures = preview_batch(self.source, self.report is None, config)
        self.folder.write_start(config, pictures)
        self.writer = SummaryWriter(self.folder.out / "logs") if self.chief else None
        self.previews = Previews(self.trainer, pictures, self.folder.out, self.writer, self.t.seed)
        self.guard = NonFiniteGuard(self.trainer, self.checkpoints, self.t.nan_retries)

    def resume(self) -> int | None:
        """The step of the checkpoint resumed from, or None (no checkpoint yet)."""
        step = self.checkpoints.restore_newest()
        if step is None:
            log.info("no checkpoint in %s yet: starting from step 0", self.folder.out / CHECKPOINT_DIR)
        else:
            log.info("resumed %s at step %d", self.folder.out, step)
        return step

    def loop(self, bar, loss_log) -> bool:
        """Steps until --steps or the time budget; returns True if stopped by the budget."""
        t = self.t
        deadline = None if t.max_minutes is None else time.monotonic() + 60 * t.max_minutes
        dataset = self.trainer.make_dataset(self.source, start_step=self.step)
        for batch in distribute.distribute_dataset(self.strategy, dataset):
            if self.step >= t.steps:
                return False
            values = {k: float(v) for k, v in self.trainer.train_step(batch).items()}
            step = int(self.trainer.step.numpy())
            if not self.guard.check(step, values):
                self.step = bar.n = int(self.trainer.step.numpy())
                if loss_log is not None:
                    loss_log.undo()
                continue
            self.step = step
            bar.update(1)
            if loss_log is not None:
                loss_log.add(step, values)
            if self.chief and step % t.sample_every == 0:
                self.previews.save(step)
            if step % t.checkpoint_every == 0:
                self.checkpoints.save(step)
            if deadline is not None and time.monotonic() > deadline and step < t.steps:
                log.info("time budget of %s minutes reached at step %d", t.max_minutes, step)
                return True
        return False

    def train(self) -> dict:
        t, out = self.t, self.folder.out
        started = time.monotonic()
        stopped_early = interrupted = False
        bar = tqdm(total=t.steps, initial=self.start, desc=t.algo, unit="step", disable=not self.progress,
                   dynamic_ncols=True)
        loss_log = LossLog(out, self.start, self.writer, bar, t.log_every, t.steps) if self.chief else None
        try:
            stopped_early = self.loop(bar, loss_log)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            bar.close()
        if self.checkpoints.saved_step != self.step:
            self.checkpoints.save(self.step)
        summary = {"out": str(out), "chief": self.chief, "start_step": self.start, "step": self.step,
                   "interrupted": interrupted, "stopped_early": stopped_early,
                   "seconds": time.monotonic() - started,
                   "skipped_files": [] if self.report is None else self.report.skipped}
        if interrupted:
            self.close()
            self.folder.drop_scratch()
            log.info("interrupted at step %d; checkpoint saved, continue with --resume", self.step)
            return summary
        if self.chief and self.step % t.sample_every != 0:
            self.previews.save(self.step)
        self.close()
        summary.update(self.export())
        return summary

    def export(self) -> dict:
        """Exports the generator; on the chief also plots the loss curves. Returns the paths."""
        keras_path, saved_model_path = _saving(
            "the exported model", lambda: export.export_generator(self.trainer.generator, self.folder.save_dir))
        out = self.folder.out
        self.folder.drop_scratch()
        if not self.chief:
            return {"keras": str(out / export.KERAS_NAME), "saved_model": str(out / export.SAVED_MODEL_NAME)}
        if (out / "metrics.csv").exists():
            plot_loss_curves(out / "metrics.csv", out / "loss_curves.png")
        return {"keras": str(keras_path), "saved_model": str(saved_model_path)}

    def close(self) -> None:
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()


def fit(config: config_lib.RunConfig, resume: bool = False, progress: bool = True) -> dict:
    """Trains, checkpoints and exports; returns a summary dict.

    Raises :class:`RunFolderError` if ``out`` already holds a checkpoint and ``resume`` is
    False (nothing is overwritten), or if no checkpoint of a resumed run reads cleanly,
    ValueError for bad settings or data, :class:`TrainingDiverged` after too many non-finite
    losses in a row, and :class:`DiskFullError` when the disk fills up. KeyboardInterrupt is
    caught: the run is checkpointed and ``summary["interrupted"]`` set; the caller may resume it.
    """
    return _Run(config, resume, progress).train()
