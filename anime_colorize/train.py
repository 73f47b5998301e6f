"""``python -m anime_colorize.train``: train a colorizer.

    python -m anime_colorize.train --algo wgangp                 # built-in pictures, a few minutes
    python -m anime_colorize.train --algo wgangp --data ~/faces --size 64 --steps 20000 --out runs/faces
    python -m anime_colorize.train --out runs/faces --resume --steps 30000
    python -m anime_colorize.train --config runs/faces/config.json --out runs/faces2 --seed 1

Flags are grouped in --help: training, data and model settings every run has, then each
algorithm's own settings (generated from the algorithms' settings classes).
"""
from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from anime_colorize import cli_common
from anime_colorize import config as config_lib


def build_parser() -> argparse.ArgumentParser:
    from anime_colorize.trainers import available_trainers

    parser = argparse.ArgumentParser(
        prog="python -m anime_colorize.train", description=cli_common.summary_line(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"algorithms: {', '.join(available_trainers())}")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--config", metavar="FILE",
                        help="start a new run from the settings in FILE (e.g. another run's config.json); "
                             "flags given here override them")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh in an --out that holds a run (its checkpoints, logs and exports are deleted)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    config_lib.add_arguments(parser, config_lib.TrainConfig, "training")
    config_lib.add_arguments(parser, config_lib.DataConfig, "data")
    config_lib.add_arguments(parser, config_lib.ModelConfig, "model")
    config_lib.add_algorithm_arguments(parser)
    return parser


def _sigterm_as_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    cli_common.quiet_tensorflow()
    from anime_colorize import training
    from anime_colorize.data.io import allow_max_pixels
    from anime_colorize.trainers import get_trainer

    args = build_parser().parse_args(argv)
    cli_common.setup_logging(args.verbose)
    command_only = ("resume", "config", "overwrite", "quiet", "verbose")
    given = {k: v for k, v in vars(args).items() if k not in command_only}
    try:
        config = training.resolve_config(given, args.resume, args.config)
        config_lib.validate(config)
        get_trainer(config.train.algo)
    except ValueError as e:  # RunFolderError is one
        return cli_common.fail(str(e))
    cli_common.log_device(config.train.mixed_precision)
    if args.overwrite and args.resume:
        return cli_common.fail("--overwrite and --resume contradict each other")
    if args.overwrite:
        training.clear_run_folder(config.train.out)
    allow_max_pixels(config.data.max_pixels)
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)  # `kill` checkpoints like Ctrl-C
    try:
        summary = training.fit(config, resume=args.resume, progress=not args.quiet)
    except (ValueError, OSError, FloatingPointError) as e:  # bad data, full disk, divergence
        return cli_common.fail(cli_common.describe(e))
    finally:
        signal.signal(signal.SIGTERM, previous)
    out = summary["out"]
    if summary["interrupted"]:
        print(f"interrupted at step {summary['step']}; resume with: "
              f"python -m anime_colorize.train --out {out} --resume")
        return 130
    if summary["skipped_files"]:
        print(f"skipped {len(summary['skipped_files'])} unreadable files (listed above with their reasons)")
    how = "time budget reached" if summary["stopped_early"] else "done"
    if not summary["chief"]:
        print(f"{how}: worker finished at step {summary['step']}; the chief writes the run to {out}")
        return 0
    print(f"{how}: step {summary['step']} in {summary['seconds'] / 60:.1f} min\n"
          f"  model:    {summary['keras']}\n  model:    {summary['saved_model']}\n"
          f"  previews: {out}/samples/   curves: {out}/loss_curves.png   logs: tensorboard --logdir {out}/logs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
