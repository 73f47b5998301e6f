"""Where the work and the time of one training step go, for the configurations issue 17 was
judged on: generator passes, discriminator or critic passes, penalties, optimizers.

    python experiments/step_breakdown.py --out reports/step_breakdown.json
    python experiments/step_breakdown.py --train-flags "--z-entry input --convs-per-level 2 --full-resolution conv"

The measurement is the package's (``python -m anime_colorize.benchmark --breakdown``, see
:mod:`anime_colorize.step_breakdown`); this script runs it on wgangp 64 px gray and pix2pix
128 px line art with ``--hints mix`` (batch 16, every other setting at the train command's
defaults unless ``--train-flags`` says otherwise), in one process, and adds how the
generator's multiply-adds split between its full-resolution layers, encoder and decoder.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from anime_colorize import benchmark  # noqa: E402
from anime_colorize.step_breakdown import format_breakdown  # noqa: E402
from anime_colorize.trainers import get_trainer  # noqa: E402
from anime_colorize.trainers.base import example_inputs  # noqa: E402

CONFIGS = {  # name: (algo, size, input, train settings)
    "wgangp 64px gray": ("wgangp", 64, "gray", {}),
    "pix2pix 128px lineart hints mix": ("pix2pix", 128, "lineart", {"hints": "mix"}),
}
LAYER_GROUPS = {"stem + head (full resolution)": ("stem", "head", "ab", "lab"), "encoder (down*)": ("down",),
                "decoder (up*)": ("up",)}


def generator_shares(spec) -> dict:
    """Shares of the generator's multiply-adds (one image, one z) per group of layers."""
    generator = get_trainer(spec.algo)(benchmark.spec_config(spec)).generator
    layers = benchmark.layer_macs(generator, example_inputs(generator, spec.size))
    total = sum(layers.values())
    return {group: sum(v for name, v in layers.items() if name.startswith(prefixes)) / total
            for group, prefixes in LAYER_GROUPS.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated names of CONFIGS")
    parser.add_argument("--train-flags", default="", help="flags of the train command for every configuration")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    flags = benchmark.parse_train_flags(args.train_flags)
    results = []
    for name in args.configs.split(","):
        algo, size, input_kind, settings = CONFIGS[name]
        spec = benchmark.BenchSpec(algo, size, args.batch_size, filters=16, depth=4, xla=False, steps=args.repeats,
                                   warmup=2, input=input_kind, settings=tuple(sorted({**settings, **flags}.items())))
        row = {"config": name, **benchmark.measure_breakdown(spec), "generator_macs_shares": generator_shares(spec)}
        results.append(row)
        print(format_breakdown(row, name))
        print("  generator MACs: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in row["generator_macs_shares"].items()))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"results": results}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
