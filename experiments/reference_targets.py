"""Targets for ``evaluate --reference`` and ``colorize --reference`` from the Ren'Py sprite
sets (issue #13): per set, the key's path and line drawings of the OTHER expressions, mirrored,
scaled and shifted, with their truth.

    python experiments/reference_targets.py [--data ../shared/data/renpy/sprites] --out /tmp/targets

Writes ``<out>/<set>/lines/<sprite>_<transform>.png`` (the XDoG line drawing of the transformed
sprite, gray, opaque), ``<out>/<set>/colors/<sprite>_<transform>.png`` (the transformed sprite,
RGBA: its alpha marks the character's pixels) and ``<out>/<set>/key.txt`` (the key's file).
Sets and transformations as in ``experiments/reference_matching.py`` (SETS, the issue's
TRANSFORMS: same, mirror, scale0.6, scale1.3, shift, warp, all; lucy has one sprite: its own
line drawing is its target). Outside the repository only: these are the Ren'Py demo art's
pixels. Then, per set::

    python -m anime_colorize.evaluate --model M --reference "$(cat <out>/<set>/key.txt)" \\
        --lines <out>/<set>/lines --colors <out>/<set>/colors --num-samples 1 --out reports/<set>
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_matching import ISSUE_TRANSFORMS, SETS, TRANSFORMS, line_drawing, picture, transform  # noqa: E402

from anime_colorize.data.io import write_image  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data/renpy/sprites")
    parser.add_argument("--out", required=True)
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    parser.add_argument("--transforms", nargs="+", default=list(ISSUE_TRANSFORMS), choices=list(TRANSFORMS))
    args = parser.parse_args(argv)
    data = Path(args.data)
    if not data.is_dir():
        print(f"no data at {data}", file=sys.stderr)
        return 2
    for set_name in args.sets:
        key_name, target_names = SETS[set_name]
        folder = Path(args.out) / set_name
        (folder / "lines").mkdir(parents=True, exist_ok=True)
        (folder / "colors").mkdir(parents=True, exist_ok=True)
        (folder / "key.txt").write_text(str((data / f"{key_name}.png").resolve()))
        for name in target_names:
            sprite = picture(data, name)
            for t_name in args.transforms:
                truth = transform(sprite, t_name, seed=list(TRANSFORMS).index(t_name))
                stem = f"{name}_{t_name}"
                write_image(folder / "lines" / f"{stem}.png", line_drawing(truth, "xdog"))
                Image.fromarray(np.round(truth * 255).astype(np.uint8), "RGBA").save(folder / "colors" / f"{stem}.png")
        print(f"{set_name}: key {key_name}, {len(target_names) * len(args.transforms)} targets in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
