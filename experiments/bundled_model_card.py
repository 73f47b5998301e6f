"""Copies a trained run's generator into the package as the bundled model and writes its card,
``anime_colorize/bundled/TRAINING.md``: what it was trained on, how, for how long, on what
machine, and its held-out scores (the evaluation's metrics.md). Called by bundled_model.sh.

    python experiments/bundled_model_card.py --run runs/bundled_model --report reports/bundled_model \\
        --train-seconds 900 --command "bash experiments/bundled_model.sh"
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anime_colorize.bundled import BUNDLED_DIR, BUNDLED_MODEL  # noqa: E402
from anime_colorize.data.io import write_bytes_atomic  # noqa: E402

MAX_BYTES = 10 * 2**20  # the limit for a model inside the package


def trained_steps(run: Path) -> int:
    """The last step the run logged (a --max-minutes budget may end it before --steps)."""
    rows = (run / "metrics.csv").read_text().strip().splitlines()
    return int(rows[-1].split(",")[0])


def card(config: dict, report: str, train_seconds: float, command: str, size: int, steps: int) -> str:
    data, model, train = config["data"], config["model"], config["train"]
    settings = ", ".join(f"{k} {v}" for k, v in model.items() if not isinstance(v, dict))
    return f"""# The bundled model

`lineart_hints.keras` ({size / 2**20:.1f} MB) is what `colorize`, `sample` and `app` use when `--model`
is not given. It colours line art (it predicts L and ab; the lines are laid back on top) and takes
every hint kind: points, strokes, a blurred colouring, a colour histogram and a reference picture.

- **Trained on:** the built-in procedural "cel" pictures only (`anime_colorize.data.synthetic`,
  {data['num_images']} pictures at {data['size']} px, line art extracted from them, hints simulated).
  No third-party picture went into it; it is licensed like the code, Apache-2.0.
- **Recipe:** `--algo {train['algo']}`, {steps} steps (of `--steps {train['steps']}`), batch {data['batch_size']}; model: {settings}.
- **Training time:** {train_seconds / 60:.1f} minutes of wall time on {os.cpu_count()} CPU cores
  ({platform.processor() or platform.machine()}), shared with other jobs: a quiet machine is faster.
- **Reproduce:** `{command}`

## Held-out built-in pictures

{report.strip()}
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="the training run folder")
    parser.add_argument("--report", required=True, help="the evaluation's --out folder (metrics.md)")
    parser.add_argument("--train-seconds", type=float, required=True)
    parser.add_argument("--command", required=True, help="the command that reproduces it")
    args = parser.parse_args(argv)
    run, report = Path(args.run), Path(args.report)
    model = (run / "generator.keras").read_bytes()
    if len(model) > MAX_BYTES:
        print(f"{run}/generator.keras is {len(model) / 2**20:.1f} MB, over the {MAX_BYTES / 2**20:.0f} MB "
              "a bundled model may take", file=sys.stderr)
        return 1
    config = json.loads((run / "config.json").read_text())
    write_bytes_atomic(BUNDLED_MODEL, model)
    text = card(config, (report / "metrics.md").read_text(), args.train_seconds, args.command, len(model),
                trained_steps(run))
    write_bytes_atomic(BUNDLED_DIR / "TRAINING.md", text.encode())
    print(f"wrote {BUNDLED_MODEL} and {BUNDLED_DIR / 'TRAINING.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
