"""Segmentation speed of anime_colorize.regions (a benchmark figure, never a test).

Times ``segment(picture)`` (to_line_art + gap closing + labels; per-region statistics are
computed on first use and are timed separately) on:
  * the 1414x2000 manga pages of ../shared/data/manga_bw/v01 (default: the first 3),
  * 64x64 and 128x128 pictures (the tf.data use of issue #14: OpenMoji line art, or the
    manga page resized when OpenMoji is absent), ``segment_lines`` of the prepared lines.
Prints the median of ``--repeats`` runs per picture (wall time, and CPU time of the
process, which depends less on other jobs of a shared machine) with OpenCV limited to
``--threads`` threads (default 2, the 2-core budget of the issue). With ``--labels-out DIR`` it also
writes a colour-coded label PNG per picture of ``--look`` folders, for inspection.

Usage:
  python experiments/regions_bench.py [--pages 3] [--repeats 7] [--threads 2]
  python experiments/regions_bench.py --labels-out reports/regions_labels \\
      --look ../shared/data/manga_bw/v01 ../shared/data/sketches
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anime_colorize.cli_common  # noqa: E402  (quiet TensorFlow first: lineart imports color)
anime_colorize.cli_common.quiet_tensorflow()
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from anime_colorize.data.io import find_images, read_image  # noqa: E402
from anime_colorize.data.lineart import to_line_art  # noqa: E402
from anime_colorize.regions import Regions, segment, segment_lines, write_label_png  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def median_time(fn, repeats: int) -> tuple[float, float]:
    """Median (wall seconds, CPU seconds of this process, all threads) over ``repeats`` runs.
    On a shared machine the wall time grows with the other jobs' load; the CPU time much less."""
    fn()  # warm-up (imports, allocator)
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pages", type=int, default=3)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--labels-out", default="")
    p.add_argument("--look", nargs="*", default=[])
    args = p.parse_args(argv)
    cv2.setNumThreads(args.threads)

    pages = sorted((DATA / "manga_bw" / "v01").glob("*.jpg"))[:args.pages]
    for path in pages:
        picture = read_image(path)
        regions = segment(picture)
        wall, cpu = median_time(lambda: segment(picture), args.repeats)
        fresh = lambda: Regions(regions.labels, regions.count, regions.lines, regions.ink)  # noqa: E731
        stats_wall, _ = median_time(lambda: _stats(fresh()), args.repeats)
        print(f"{path.name} {picture.shape[1]}x{picture.shape[0]}: segment {1000 * wall:.0f} ms wall, "
              f"{1000 * cpu:.0f} ms CPU; statistics on first use {1000 * stats_wall:.0f} ms; "
              f"{regions.count} regions")

    small = sorted((DATA / "openmoji128" / "line").glob("*.png"))[:20]
    for size in (64, 128):
        sources = small or pages[:1]
        drawings = [to_line_art(cv2.resize(read_image(f), (size, size), interpolation=cv2.INTER_AREA))
                    for f in sources]
        wall, cpu = median_time(lambda: [segment_lines(d) for d in drawings], args.repeats)
        print(f"{size}x{size} line drawing: segment_lines {1000 * wall / len(drawings):.2f} ms wall, "
              f"{1000 * cpu / len(drawings):.2f} ms CPU")

    if args.labels_out:
        out = Path(args.labels_out)
        for folder in args.look:
            for f in find_images(folder):
                regions = segment(read_image(f))
                target = out / Path(folder).name / (Path(f).stem + "_labels.png")
                write_label_png(regions, target)
                print(f"{target}: {regions.count} regions")
    return 0


def _stats(regions):
    return (regions.area, regions.centroid, regions.bbox, regions.mean_ink, regions.adjacency)


if __name__ == "__main__":
    sys.exit(main())
