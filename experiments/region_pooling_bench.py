"""Cost and XLA behaviour of RegionPooling and HintFill, and how labels survive downsampling.

    python experiments/region_pooling_bench.py speed [--sizes 64 128] [--batch 16] [--repeats 10] [--filters 32]
    python experiments/region_pooling_bench.py xla
    python experiments/region_pooling_bench.py survival --data ../shared/data/openmoji128/line [--limit 200]
    python experiments/region_pooling_bench.py survival --data builtin [--limit 200] [--size 128]
        [--regions segment|paper]

speed: CPU time per call (median of --repeats after a warm-up) of forward + backward, in a
  tf.function and with XLA, at the first three levels of a U-Net (level i has size / 2**i
  cells and --filters * 2**i channels), of
    conv3x3     a 3x3 convolution C -> C (the yardstick; the U-Net has two per level),
    pool        RegionPooling(mode="mean"): the library's segment-sum formulation,
    pool_onehot the same means from a one-hot (B, hw, R) matrix product (the XLA-friendly
                formulation one would use if scatters were slow),
  and of HintFill(levels=4) at full size (forward only: hints need no gradient) against
  the forward 3x3 convolution --filters -> --filters at full size. GFLOP are counted analytically
  (multiply-adds x 2); the pooling is memory-bound, so its time says more than its FLOP.
  Labels: per image a Voronoi map of 64 regions, budget R = 256 (DEFAULT_MAX_REGIONS).
xla: whether the segment ops compile under XLA with a data-dependent segment count
  (max(labels) + 1) and what it costs per call when every batch brings new labels,
  against the static budget.
survival: on line art (regions from anime_colorize.regions.segment_lines, or with
  --regions paper connected areas of paper, 4-connectivity, ink given to the nearest area), the share of regions still present at 1/2, 1/4, 1/8 of the
  size with the layer's smallest-region downsampling against nearest (top-left) subsampling,
  and the share of the area whose region survives (--limit drawings spread evenly over the
  sorted file list).
Prints Markdown tables; figures on a shared CPU vary, the ratios less so.
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import anime_colorize.cli_common  # noqa: F401  (quiet TensorFlow first)
import numpy as np
import tensorflow as tf

from anime_colorize.models.hint_fill import HintFill
from anime_colorize.models.region_pooling import DEFAULT_MAX_REGIONS, RegionPooling, labels_at

REGIONS_PER_IMAGE = 64


def voronoi_labels(batch, size, regions, seed=0):
    """int32 (batch, size, size): each pixel labelled by its nearest of ``regions`` random seeds."""
    rng = np.random.default_rng(seed)
    seeds = rng.uniform(0, size, (batch, regions, 2))
    yx = np.stack(np.meshgrid(np.arange(size), np.arange(size), indexing="ij"), -1).reshape(-1, 2)
    distance = ((yx[None, :, None, :] - seeds[:, None, :, :]) ** 2).sum(-1)
    return distance.argmin(-1).reshape(batch, size, size).astype(np.int32)


def onehot_pool(features, regions, max_regions):
    """Region means by one-hot matrix products, (B, h, w, C) float32; same labels as the layer."""
    shape = tf.shape(features)
    labels = labels_at(regions, shape[1], shape[2], max_regions)
    onehot = tf.one_hot(tf.reshape(labels, [shape[0], -1]), max_regions, dtype=features.dtype)
    flat = tf.reshape(features, [shape[0], -1, features.shape[-1]])
    sums = tf.einsum("bpr,bpc->brc", onehot, flat)
    means = sums / tf.maximum(tf.reduce_sum(onehot, 1)[..., None], 1.0)
    pooled = tf.einsum("bpr,brc->bpc", onehot, means)
    covered = tf.reduce_sum(onehot, -1, keepdims=True)  # 0 for unpooled pixels
    return tf.reshape(pooled + (1.0 - covered) * flat, shape)


def timed(fn, args, repeats):
    """Median CPU seconds (all threads of this process) per call after a warm-up: on a shared
    CPU far steadier than wall time, which counts the waits for other jobs."""
    fn(*args)  # trace / compile
    times = []
    for _ in range(repeats):
        start = time.process_time()
        tf.nest.map_structure(lambda t: t.numpy(), fn(*args))
        times.append(time.process_time() - start)
    return statistics.median(times)


def forward_backward(forward):
    def run(x, *rest):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = forward(x, *rest)
            loss = tf.reduce_sum(y * y)
        return loss, tape.gradient(loss, x)
    return run


def speed(args):
    print(f"batch {args.batch}, CPU ms per call (median of {args.repeats}), forward + backward unless noted; "
          "ratio = time / conv3x3 time in the same mode\n")
    print("| size | level | cells | C | op | GFLOP | CPU ms graph | ratio | CPU ms XLA | ratio |")
    print("|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    budget = DEFAULT_MAX_REGIONS
    rows = []
    for size in args.sizes:
        regions = tf.constant(voronoi_labels(args.batch, size, REGIONS_PER_IMAGE))
        for level in range(3):
            cells, channels = size // 2**level, args.filters * 2**level
            x = tf.random.normal([args.batch, cells, cells, channels])
            kernel = tf.random.normal([3, 3, channels, channels]) * 0.05
            conv = forward_backward(lambda x, k: tf.nn.conv2d(x, k, 1, "SAME"))
            pool_layer = RegionPooling(budget)
            pool = forward_backward(lambda x, r: pool_layer([x, r]))
            onehot = forward_backward(lambda x, r: onehot_pool(x, r, budget))
            points = args.batch * cells * cells
            flops = {"conv3x3": 3 * 2 * points * 9 * channels * channels,  # forward + 2 backward
                     "pool": 3 * 2 * points * channels,
                     "pool_onehot": 3 * 2 * 2 * points * budget * channels}
            for name, fn, extra in [("conv3x3", conv, kernel), ("pool", pool, regions),
                                    ("pool_onehot", onehot, regions)]:
                graph = timed(tf.function(fn), (x, extra), args.repeats)
                xla = timed(tf.function(fn, jit_compile=True), (x, extra), args.repeats)
                rows.append(dict(size=size, level=level, cells=cells, channels=channels, op=name,
                                 gflop=flops[name] / 1e9, graph_ms=graph * 1e3, xla_ms=xla * 1e3))
        hint = np.zeros((args.batch, size, size, 3), np.float32)
        rng = np.random.default_rng(1)
        for i in range(args.batch):
            ys, xs = rng.integers(0, size, 10), rng.integers(0, size, 10)
            hint[i, ys, xs] = np.concatenate([rng.uniform(-1, 1, (10, 2)), np.ones((10, 1))], -1)
        fill_layer = HintFill(levels=4)
        x = tf.random.normal([args.batch, size, size, args.filters])
        kernel = tf.random.normal([3, 3, args.filters, args.filters]) * 0.05
        for name, fn, fn_args, gflop in [
                ("conv3x3 fwd", lambda x, k: tf.nn.conv2d(x, k, 1, "SAME"), (x, kernel),
                 2 * args.batch * size * size * 9 * args.filters**2 / 1e9),
                ("hint_fill fwd", lambda h: fill_layer(h), (tf.constant(hint),), None)]:
            graph = timed(tf.function(fn), fn_args, args.repeats)
            xla = timed(tf.function(fn, jit_compile=True), fn_args, args.repeats)
            rows.append(dict(size=size, level=0, cells=size, channels=args.filters if "conv" in name else 3, op=name,
                             gflop=gflop, graph_ms=graph * 1e3, xla_ms=xla * 1e3))
    for row in rows:
        base = next(r for r in rows if r["size"] == row["size"] and r["level"] == row["level"]
                    and r["op"] == ("conv3x3 fwd" if "fwd" in row["op"] else "conv3x3"))
        gflop = "~0" if row["gflop"] is None or row["gflop"] < 0.001 else f"{row['gflop']:.3f}"
        print(f"| {row['size']} | {row['level']} | {row['cells']} | {row['channels']} | {row['op']} | {gflop} | "
              f"{row['graph_ms']:.2f} | {row['graph_ms'] / base['graph_ms']:.2f} | "
              f"{row['xla_ms']:.2f} | {row['xla_ms'] / base['xla_ms']:.2f} |")
    print("\n" + json.dumps({"args": vars(args)}))


def xla(args):
    def pool(features, labels, count):
        batch = tf.shape(features)[0]
        segments = tf.range(batch)[:, None, None] * count + labels
        means = tf.math.unsorted_segment_mean(features, segments, batch * count)
        return tf.gather(means, segments)

    dynamic = tf.function(lambda f, l: pool(f, l, tf.reduce_max(l) + 1), jit_compile=True)
    static = tf.function(lambda f, l: pool(f, l, DEFAULT_MAX_REGIONS), jit_compile=True)
    features = tf.random.normal([args.batch, 32, 32, 32])
    print("| segment count | compiles | wall ms per call, new labels each call | wall ms per call, same labels |")
    print("|---|---|---:|---:|")
    for name, fn in [("data-dependent max(labels)+1", dynamic), (f"static budget {DEFAULT_MAX_REGIONS}", static)]:
        try:
            fn(features, tf.constant(voronoi_labels(args.batch, 32, 20, seed=99)))
        except tf.errors.InvalidArgumentError as error:
            print(f"| {name} | no: {str(error).splitlines()[0][:80]} | | |")
            continue
        fresh = [tf.constant(voronoi_labels(args.batch, 32, 20 + i, seed=i)) for i in range(args.repeats)]
        start = time.perf_counter()
        for labels in fresh:
            fn(features, labels).numpy()
        new = (time.perf_counter() - start) / args.repeats
        start = time.perf_counter()
        for _ in range(args.repeats):
            fn(features, fresh[0]).numpy()
        same = (time.perf_counter() - start) / args.repeats
        print(f"| {name} | yes | {new * 1e3:.1f} | {same * 1e3:.1f} |")


def region_map(lines, method="segment"):
    """int32 (H, W) labels of a line drawing (float (H, W) in [0, 1], 1 = paper): the project's
    segmentation (``segment``: :func:`anime_colorize.regions.segment_lines`, what the training
    pipeline will feed the generator) or plain connected paper (``paper``)."""
    if method == "paper":
        return paper_regions(lines)
    from anime_colorize.regions import segment_lines
    return np.asarray(segment_lines(lines).labels, np.int32)


def paper_regions(lines):
    """int32 (H, W): 4-connected areas of paper (line art > 0.5), ink given to the nearest area."""
    from scipy import ndimage
    paper = lines > 0.5
    labels, count = ndimage.label(paper)
    if count == 0:
        return np.zeros(lines.shape, np.int32)
    _, (iy, ix) = ndimage.distance_transform_edt(~paper, return_indices=True)
    return (labels[iy, ix] - 1).astype(np.int32)


def drawings(data, limit, size):
    """float32 (H, W) line drawings in [0, 1], 1 = paper: the .png files of folder ``data``
    (``limit`` spread evenly over the sorted list), or for ``builtin`` the xdog lines of
    ``limit`` built-in pictures of ``size`` px."""
    if data == "builtin":
        from anime_colorize.data.lineart import extract_lines
        from anime_colorize.data.synthetic import make_cel_images
        return [extract_lines(rgb, "xdog") for rgb in make_cel_images(limit, size, seed=1234)]
    from PIL import Image
    files = sorted(Path(data).glob("*.png"))
    files = files[::max(1, len(files) // limit)][:limit]
    return [np.asarray(Image.open(path).convert("L"), np.float32) / 255.0 for path in files]


def survival(args):
    maps = [region_map(lines, args.regions) for lines in drawings(args.data, args.limit, args.size)]
    if not maps:
        print(f"no .png files in {args.data}", file=sys.stderr)
        return 2
    size = maps[0].shape[0]
    labels = np.stack([m for m in maps if m.shape == (size, size)])
    counts = [len(np.unique(m)) for m in labels]
    print(f"{len(labels)} drawings of {size} px, regions per drawing: median {int(np.median(counts))}, "
          f"max {max(counts)}\n")
    print("| level | factor | regions kept, smallest-region | regions kept, nearest | "
          "area kept, smallest-region | area kept, nearest |")
    print("|---:|---:|---:|---:|---:|---:|")
    budget = max(counts) + 1
    for level in (1, 2, 3):
        factor = 2**level
        smallest = labels_at(labels, size // factor, size // factor, budget).numpy()
        nearest = labels[:, ::factor, ::factor]
        stats = []
        for coarse in (smallest, nearest):
            kept_regions, kept_area, total_regions, total_area = 0, 0, 0, 0
            for full, small in zip(labels, coarse):
                ids, area = np.unique(full, return_counts=True)
                alive = np.isin(ids, small)
                kept_regions += alive.sum()
                kept_area += area[alive].sum()
                total_regions += len(ids)
                total_area += area.sum()
            stats += [kept_regions / total_regions, kept_area / total_area]
        print(f"| {level} | 1/{factor} | {stats[0]:.1%} | {stats[2]:.1%} | {stats[1]:.2%} | {stats[3]:.2%} |")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("speed")
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--filters", type=int, default=32, help="channels at level 0, doubled per level")
    p = sub.add_parser("xla")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--repeats", type=int, default=10)
    p = sub.add_parser("survival")
    p.add_argument("--data", required=True, help="a folder of .png line art, or 'builtin'")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--size", type=int, default=128, help="built-in pictures' size")
    p.add_argument("--regions", choices=["segment", "paper"], default="segment")
    args = parser.parse_args(argv)
    return {"speed": speed, "xla": xla, "survival": survival}[args.what](args) or 0


if __name__ == "__main__":
    sys.exit(main())
