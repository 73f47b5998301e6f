"""The README's flat-colouring pictures, from a Ren'Py demo sprite (MIT) only; run by
``experiments/readme_flats.sh``.

    python experiments/readme_flats.py prepare --sprite SPRITE --out DIR
        DIR/sylvie.png: the sprite's line art (XDoG, ``extract_lines``), its longer side 600 px;
        DIR/sylvie.json: colour points, as a user clicks them: at fixed places (fractions of
        the picture's size, listed below), each the sprite's own colour there (the median of a
        5 x 5 patch), so the hints are the colours a colourist would pick from the original.
    python experiments/readme_flats.py sheet --out FILE PICTURE...
        the pictures side by side with white gutters (the README's comparison).

Ren'Py demo art © Tom Rothamel / Piroshki, MIT (see ../shared/data/renpy/DEBIAN_COPYRIGHT).
"""
from __future__ import annotations

import anime_colorize.cli_common as cli_common  # first: quiets TensorFlow's start-up logs
cli_common.quiet_tensorflow()

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from anime_colorize import sampling
from anime_colorize.data.io import read_image, write_bytes_atomic, write_image
from anime_colorize.data.lineart import extract_lines

SIDE = 600
# (x, y) as fractions of the picture's width and height: hair (four strands), face, neck scarf,
# top (front and both sleeves), both arms, sash, skirt (two places)
POINTS = [(0.5, 0.07), (0.25, 0.3), (0.8, 0.3), (0.35, 0.12), (0.5, 0.17), (0.5, 0.3), (0.5, 0.48),
          (0.2, 0.45), (0.8, 0.45), (0.15, 0.55), (0.85, 0.55), (0.5, 0.655), (0.4, 0.8), (0.62, 0.85)]
POINT_SIZE = 3


def prepare(sprite: Path, out: Path) -> None:
    rgb = sampling.fit_within(read_image(sprite), SIDE)
    lines = extract_lines(rgb)
    h, w = lines.shape
    write_image(out / "sylvie.png", lines)
    points = []
    for fx, fy in POINTS:
        x, y = int(fx * w), int(fy * h)
        patch = rgb[max(y - 2, 0):y + 3, max(x - 2, 0):x + 3].reshape(-1, 3)
        colour = np.rint(np.median(patch, axis=0) * 255).astype(int).tolist()
        points.append({"x": x, "y": y, "rgb": colour, "size": POINT_SIZE})
    write_bytes_atomic(out / "sylvie.json", json.dumps({"points": points}, indent=1).encode())
    print(f"wrote {out / 'sylvie.png'} ({w}x{h}) and {len(points)} points to {out / 'sylvie.json'}")


def sheet(pictures: list, out: Path, gutter: int = 6) -> None:
    images = [read_image(p) for p in pictures]
    h = max(im.shape[0] for im in images)
    w = sum(im.shape[1] for im in images) + gutter * (len(images) + 1)
    grid = np.ones((h + 2 * gutter, w, 3), np.float32)
    x = gutter
    for im in images:
        grid[gutter:gutter + im.shape[0], x:x + im.shape[1]] = im
        x += im.shape[1] + gutter
    write_image(out, grid)
    print(f"wrote {out}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=cli_common.summary_line(__doc__))
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--sprite", required=True)
    p.add_argument("--out", required=True)
    s = sub.add_parser("sheet")
    s.add_argument("--out", required=True)
    s.add_argument("pictures", nargs="+")
    args = parser.parse_args(argv)
    cli_common.setup_logging()
    if args.command == "prepare":
        prepare(Path(args.sprite), Path(args.out))
    else:
        sheet(args.pictures, Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
