"""How well ``colorize --skip-colour`` tells pages already in colour from black-and-white ones.

Prints, per set of pictures of ``shared/data``, the distribution of
:func:`anime_colorize.inference.colour_check.colour_share` and how many pictures are judged
"in colour" (share >= COLOUR_SHARE). Black-and-white pages are also tried as scans go wrong:
re-saved as colour JPEGs (chroma noise), on yellowed or sepia paper, and with two channels
shifted by one pixel (a misregistered scanner).

    python experiments/colour_pages.py [--data ../shared/data] [--sample 3000]
"""
from __future__ import annotations

import argparse
import io
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from anime_colorize.data.io import find_images, read_image  # noqa: E402
from anime_colorize.inference.colour_check import COLOUR_SHARE, colour_share  # noqa: E402


def as_jpeg(rgb: np.ndarray, quality: int = 75) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray((rgb * 255 + 0.5).astype(np.uint8)).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"), np.float32) / 255


def misregistered(rgb: np.ndarray) -> np.ndarray:
    out = rgb.copy()
    out[:, 1:, 0] = rgb[:, :-1, 0]
    out[1:, :, 2] = rgb[:-1, :, 2]
    return out


def report(name: str, shares: list) -> None:
    v = np.array(shares)
    coloured = int((v >= COLOUR_SHARE).sum())
    print(f"{name:28s} n={len(v):5d}  share min {v.min():.4f}  p1 {np.percentile(v, 1):.4f}  "
          f"median {np.median(v):.4f}  max {v.max():.4f}  judged in colour: {coloured} ({coloured / len(v):.1%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--sample", type=int, default=3000, help="pictures drawn from each large set")
    args = parser.parse_args()
    data = Path(args.data)
    random.seed(0)

    def pictures(folder: str) -> list:
        files = find_images(data / folder)
        return random.sample(files, args.sample) if len(files) > args.sample else files

    manga = [read_image(f) for f in pictures("manga_bw")]
    print(f"black and white (should not be in colour; threshold {COLOUR_SHARE}):")
    variants = {
        "manga_bw": manga,
        "manga_bw as colour JPEG q75": [as_jpeg(m) for m in manga],
        "manga_bw yellowed paper": [m * np.float32([1.0, 0.95, 0.86]) for m in manga],
        "manga_bw sepia, JPEG q75": [as_jpeg(m * np.float32([1.0, 0.9, 0.72])) for m in manga],
        "manga_bw misregistered": [misregistered(m) for m in manga],
        "manga_bw yellow+misreg+q50": [as_jpeg(misregistered(m * np.float32([1.0, 0.95, 0.86])), 50) for m in manga],
    }
    for name, images in variants.items():
        report(name, [colour_share(x) for x in images])
    for folder in ("sketches", "revoy/sketch", "openmoji128/line"):
        report(folder, [colour_share(read_image(f)) for f in pictures(folder)])
    print("colour (should be in colour):")
    for folder in ("renpy", "revoy/color", "faces64", "openmoji128/color"):
        report(folder, [colour_share(read_image(f, max_pixels=10**9)) for f in pictures(folder)])


if __name__ == "__main__":
    main()
