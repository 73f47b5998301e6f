"""What an evaluation writes (:func:`write_report`), every file atomically:

* ``metrics.json``: the figures of every row (keyed by the row's name), the run's settings and
  counts, the model's metadata; no timestamps, so two runs give identical files;
* ``metrics.md``: the tables (:func:`markdown`; columns from ``metrics.SCORES``);
* ``bars.png`` (PSNR, CIEDE2000, colourfulness of the model and the baselines) and
  ``ab_histograms.png`` (truth and model);
* ``contact_sheet.png``: up to 8 pictures, each a row: input | truth | K colourings;
* for point-hint models: ``hint_sweep.png`` (PSNR against the number of hint points, beside the
  baselines; one curve per output mode), ``hint_sheet.png`` (input | hints | truth | colourings,
  for the largest number) and ``hint_sweep_sheet.png`` (input | truth | the first z's colouring
  for each number).

With several output modes the first one's files have these names and the others' sheets add
``_<mode>`` (``contact_sheet_flat.png``, ``hint_sweep_sheet_flat.png``); the bars show the first.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from anime_colorize import sampling
from anime_colorize.array_types import PathLike
from anime_colorize.data.io import write_bytes_atomic, write_image
from anime_colorize.evaluation import metrics
from anime_colorize.evaluation.predictors import GRAY_BASELINE, MODEL, TRAINING_MEAN_BASELINE, Row
from anime_colorize.evaluation.scoring import Evaluation

_FIGURES_NOTE = ("Truth colourfulness {truth:.2f} (ratio to it in brackets); CIEDE2000 and diversity in Lab units; "
                 "ab-hist JS: Jensen-Shannon divergence (bits) to the truth's ab histogram.")
_HINTS_NOTE = ("Hints: hint error = mean ab distance (Lab units) between output and hint colour at the hinted "
               "pixels; palette match = 512-bin colour-histogram intersection of the output with the reference "
               "picture's (another image of the set), with and without the reference given.")


def markdown(results: dict, truth_colour: float, caption: str) -> str:
    """The tables of ``{row name: summary}``: every figure of every row, then (for rows that have
    any) the hint figures."""
    def table(columns, rows):
        lines = ["| | " + " | ".join(c.label for c in columns) + " |", "|---" + "|---:" * len(columns) + "|"]
        return lines + [f"| {name} | " + " | ".join(c.cell(r) for c in columns) + " |" for name, r in rows]

    lines = [f"{caption} " + _FIGURES_NOTE.format(truth=truth_colour), ""]
    lines += table(metrics.columns("figures"), results.items())
    hint_columns = metrics.columns("hints")
    hinted = [(name, r) for name, r in results.items() if any(r[c.key] is not None for c in hint_columns)]
    if hinted:
        lines += ["", _HINTS_NOTE, ""] + table(hint_columns, hinted)
    return "\n".join(lines) + "\n"


def _save_figure(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_report(results: dict, truth_colour: float, truth_hist: np.ndarray, model_hist: np.ndarray,
                out_dir: Path) -> None:
    """``bars.png`` of ``{row name: summary}`` (up to three rows) and ``ab_histograms.png`` of the
    truth's and the model's (HIST_BINS, HIST_BINS) ab histograms."""
    plt = _pyplot()
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
    _save_figure(fig, out_dir / "bars.png")
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    limit = metrics.AB_LIMIT
    for ax, (title, hist) in zip(axes, [("truth", truth_hist), ("model (all K samples)", model_hist)]):
        shown = ax.imshow(np.log10(hist.T / hist.sum() + 1e-6), origin="lower", cmap="magma", vmin=-6, vmax=0,
                          extent=(-limit, limit, -limit, limit))
        ax.set(title=f"ab histogram: {title}", xlabel="a", ylabel="b")
    fig.colorbar(shown, ax=list(axes), label="log10 share of pixels")
    _save_figure(fig, out_dir / "ab_histograms.png")


def plot_hint_sweep(sweeps: dict, results: dict, out_dir: Path) -> None:
    """``hint_sweep.png``: PSNR (mean over z and best of K) against the number of hint points;
    ``sweeps`` {output mode: [(points, summary)] in ascending order from 0}; the baselines among
    ``results`` ({row name: summary}) are drawn as horizontal lines."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for i, (mode, sweep) in enumerate(sweeps.items()):
        counts = [n for n, _ in sweep]
        label = "model" if len(sweeps) == 1 else f"{mode}"
        ax.plot(counts, [r["psnr_mean_z"] for _, r in sweep], "o-", color=f"C{i}", label=f"{label}, mean over z")
        ax.plot(counts, [r["psnr_best_of_k"] for _, r in sweep], "s--", color=f"C{i}", alpha=0.6,
                label=f"{label}, best of K")
    for name, style in ((GRAY_BASELINE, ":"), (TRAINING_MEAN_BASELINE, "-.")):
        if name in results:
            ax.axhline(results[name]["psnr_mean_z"], color="k", ls=style, lw=1, label=name)
    ax.set(xlabel="number of hint points", ylabel="PSNR (dB)", title="PSNR against simulated point hints")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save_figure(fig, out_dir / "hint_sweep.png")


def hint_sweep_sheet(model_tiles: np.ndarray, sweep_tiles: list) -> np.ndarray:
    """Tiles (rows, 2 + 1 + len(sweep_tiles), S, S, 3): input | truth | the first z's colouring
    without hints, then with each number of hint points; from the contact-sheet tiles of the
    model row (``[input, truth, K outputs]``) and of each point row in ascending order
    (``[input, hints, truth, K outputs]``)."""
    columns = [model_tiles[:, 0], model_tiles[:, 1], model_tiles[:, 2]] + [tiles[:, 3] for tiles in sweep_tiles]
    return np.stack(columns, axis=1)


def write_contact_sheet(sheet: np.ndarray, path: Path) -> None:
    """Writes tiles (rows, cols, S, S, 3) in [0, 1] as one PNG grid (2x nearest-neighbour below
    128 px)."""
    rows, cols = sheet.shape[:2]
    grid = sampling.make_grid(sheet.reshape((-1,) + sheet.shape[2:]), rows, cols)
    scale = 2 if sheet.shape[2] < 128 else 1
    write_image(path, grid.repeat(scale, axis=0).repeat(scale, axis=1))


def write_report(out_dir: PathLike, evaluation: Evaluation, header: dict, caption: str,
                 model_metadata: dict) -> tuple:
    """Writes every file of the report of ``evaluation`` (keyed by :class:`Row`) to ``out_dir``.

    ``header``: the first entries of metrics.json (settings and counts), in order; ``caption``
    opens metrics.md. Returns (the Markdown table, the names of the files written).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    truth = evaluation.truth
    results = {row.name: summary for row, summary in evaluation.results.items()}
    document = {**header, "truth_colourfulness": truth.colourfulness, "results": results,
                "ab_hist_bins": metrics.HIST_BINS, "psnr_cap_db": metrics.PSNR_CAP, "model_metadata": model_metadata}
    write_bytes_atomic(out_dir / "metrics.json", (json.dumps(document, indent=2, allow_nan=False) + "\n").encode())
    table = markdown(results, truth.colourfulness, caption)
    write_bytes_atomic(out_dir / "metrics.md", table.encode())
    modes = list(dict.fromkeys(row.mode for row in evaluation.results))
    primary = modes[0]  # the bars and the plain file names; other modes' sheets are named after them
    model = Row(MODEL, mode=primary)
    plain = {row.name: summary for row, summary in evaluation.results.items()
             if not row.hinted and row.mode == primary}
    plot_report(plain, truth.colourfulness, truth.ab_hist, evaluation.scores[model].total("ab_hist"), out_dir)
    written = ["metrics.json", "metrics.md", "bars.png", "ab_histograms.png"]
    sweeps = {}
    for mode in modes:
        suffix = "" if mode == primary else f"_{mode}"
        mode_model = Row(MODEL, mode=mode)
        written.append(f"contact_sheet{suffix}.png")
        write_contact_sheet(evaluation.sheets[mode_model], out_dir / written[-1])
        points = sorted((row for row in evaluation.results
                         if row.predictor == MODEL and row.hint_points and row.mode == mode),
                        key=lambda row: row.hint_points)
        if not points:
            continue
        sweeps[mode] = [(0, evaluation.results[mode_model])] + [(row.hint_points, evaluation.results[row])
                                                                for row in points]
        write_contact_sheet(evaluation.sheets[points[-1]], out_dir / f"hint_sheet{suffix}.png")
        write_contact_sheet(hint_sweep_sheet(evaluation.sheets[mode_model], [evaluation.sheets[row] for row in points]),
                            out_dir / f"hint_sweep_sheet{suffix}.png")
        written += [f"hint_sheet{suffix}.png", f"hint_sweep_sheet{suffix}.png"]
    if sweeps:
        plot_hint_sweep(sweeps, plain, out_dir)
        written.append("hint_sweep.png")
    return table, written
