"""Cheaper training steps for the same quality: the model options and settings of issue 17,
their work per training image (the trainers' own analytic count), their speed, and their
held-out quality at an equal number of steps.

    python experiments/variants.py flops                       # GFLOP per training image, every variant
    python experiments/variants.py flops --algo pix2pix --size 128 --lineart-hints
    python experiments/variants.py time --out reports/variants_time.json
    python experiments/variants.py train --variant proposed -- --data ../shared/data/faces64 \\
        --exclude '*_2011.jpg' --drop-gray 4 --cache --size 64 --steps 600 --out runs/v_proposed --overwrite

A variant is a set of train settings on top of the original architecture (``ORIGINAL``): the
generator's ``--z-entry``, ``--convs-per-level``, ``--full-resolution``, the discriminator's
``--discriminator-pooling``, and wgangp's ``--n-critic``. With ``--z-entry decoder`` the
trainers run the shared step (one generator pass per step whose first colouring the first
critic update judges: :meth:`anime_colorize.trainers.ConditionalGANTrainer.replica_step`).
``train`` runs ``python -m anime_colorize.train`` with the variant's flags after the given ones.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed_common import random_batch, timed  # noqa: E402,I001

from anime_colorize import config as config_lib  # noqa: E402
from anime_colorize.benchmark import trainer_flops  # noqa: E402
from anime_colorize.trainers import get_trainer  # noqa: E402

# The architecture and schedule before issue 17 (spelled out: the defaults may differ).
ORIGINAL = {"z_entry": "input", "convs_per_level": 2, "full_resolution": "conv", "discriminator_pooling": 1,
            "n_critic": 2}
LIGHT = {"convs_per_level": 1, "full_resolution": "light"}
VARIANTS = {  # name: settings on top of ORIGINAL
    "baseline": {},
    "n_critic 1": {"n_critic": 1},
    "critic half-res": {"discriminator_pooling": 2},
    "shared step (z at decoder)": {"z_entry": "decoder"},
    "1 conv per level": {"convs_per_level": 1},
    "light full-res": {"full_resolution": "light"},
    "light model (shared step)": {"z_entry": "decoder", **LIGHT},
    "proposed": {"z_entry": "decoder", **LIGHT, "discriminator_pooling": 2, "n_critic": 1},
}


def settings_of(name: str, algo: str = "wgangp") -> dict:
    """The train settings of variant ``name`` for ``algo`` (n_critic is wgangp's only)."""
    settings = {**ORIGINAL, **VARIANTS[name]}
    if algo != "wgangp":
        settings.pop("n_critic")
    return settings


def trainer_for(name: str, algo: str, overrides: dict):
    config = config_lib.apply_overrides(config_lib.RunConfig(), {"algo": algo, **settings_of(name, algo),
                                                                 **overrides})
    return get_trainer(algo)(config)


def cmd_flops(args) -> dict:
    overrides = {"size": args.size, "input": "lineart" if args.lineart_hints else "gray",
                 "hints": "mix" if args.lineart_hints else "none", "region_pooling": False}
    rows = {name: trainer_flops(trainer_for(name, args.algo, overrides), args.size, 1) for name in VARIANTS}
    base = rows["baseline"]["total"]
    print(f"GFLOP per training image, {args.algo}, {args.size} px "
          f"{'line art, hints mix' if args.lineart_hints else 'gray'}:")
    print(f"  {'variant':45s} {'G upd':>7s} {'D upd':>7s} {'total':>7s} {'less':>6s}")
    for name, r in rows.items():
        print(f"  {name:45s} {r['generator_update'] / 1e9:7.3f} {r['discriminator_update'] / 1e9:7.3f} "
              f"{r['total'] / 1e9:7.3f} {base / r['total']:5.1f}x")
    return rows


def cmd_time(args) -> dict:
    names = args.variants.split(",") if args.variants else list(VARIANTS)
    functions, flops = {}, {}
    for name in names:
        trainer = trainer_for(name, "wgangp", {"size": args.size, "batch_size": args.batch_size})
        batch = random_batch(trainer, args.size, args.batch_size)
        functions[name] = lambda t=trainer, b=batch: float(t.train_step(b)["g_loss"])
        flops[name] = trainer_flops(trainer, args.size, 1)["total"]
    result = timed(functions, args.repeats)
    base = result[names[0]]
    print(f"wgangp step, {args.size} px, batch {args.batch_size} (seconds; wall median, CPU median):")
    for name, r in result.items():
        r["gflop_per_image"] = flops[name] / 1e9
        r["speedup_wall"] = base["wall_s_median"] / r["wall_s_median"]
        r["speedup_cpu"] = base["cpu_s_median"] / r["cpu_s_median"]
        print(f"  {name:45s} {r['gflop_per_image']:6.3f} GFLOP/img  {r['wall_s_median']:6.3f} s "
              f"{r['cpu_s_median']:6.3f} s CPU   x{r['speedup_wall']:.2f} (CPU x{r['speedup_cpu']:.2f})  "
              f"{args.batch_size / r['wall_s_median']:5.1f} img/s")
    return result


def cmd_train(args) -> dict:
    from anime_colorize import train

    flags = [item for name, value in settings_of(args.variant).items()
             for item in (config_lib.flag_name(name), str(value))]
    return {"exit": train.main(list(args.train_args) + ["--algo", "wgangp"] + flags)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    flops = sub.add_parser("flops")
    flops.add_argument("--size", type=int, default=64)
    flops.add_argument("--algo", choices=("wgangp", "pix2pix"), default="wgangp")
    flops.add_argument("--lineart-hints", action="store_true", help="line-art input with every hint kind")
    time_ = sub.add_parser("time")
    time_.add_argument("--size", type=int, default=64)
    time_.add_argument("--batch-size", type=int, default=16)
    time_.add_argument("--repeats", type=int, default=5)
    time_.add_argument("--variants", default=None, help="comma-separated names (default: all)")
    train_ = sub.add_parser("train")
    train_.add_argument("--variant", choices=list(VARIANTS), required=True)
    train_.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then the flags for anime_colorize.train")
    for p in (flops, time_):
        p.add_argument("--out", default=None, help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.command == "train" and args.train_args[:1] == ["--"]:
        args.train_args = args.train_args[1:]
    result = {"flops": cmd_flops, "time": cmd_time, "train": cmd_train}[args.command](args)
    if args.command != "train" and args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))
    return int(result.get("exit", 0)) if args.command == "train" else 0


if __name__ == "__main__":
    sys.exit(main())
