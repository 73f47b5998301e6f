"""Which RegionPooling mode, and do dense hints help? A small U-Net on real line art with hints.

    python experiments/region_pooling_toy.py --data ../shared/data/openmoji128 \
        [--steps 500] [--size 64] [--seed 0] [--regions segment|paper]
        [--variants none mean concat gate none+fill gate+fill]

Task: OpenMoji's designer line art -> its true flat colours (ab), given 10 point hints taken
from the truth (``data.hints.simulate_points``), at --size px. Trained on the emoji whose
file name does not start with 1F6, evaluated on the first 256 of those that do (the held-out
block of ``openmoji_lineart.sh``). Regions: :func:`anime_colorize.regions.segment_lines` of the
line art at --size (``--regions paper``: 4-connected areas of paper, ink given to the nearest
area), budget 64 per image (labels beyond it are left unpooled).

The network (not the project's generator, which another branch is changing): stem 16, two
stride-2 levels (32, 64), a mirrored decoder with skips, a 3x3 head of 16 and a 1x1 tanh to
ab; line art and the hints enter at the input and again at the head. A variant names the
pooling mode ("none" = no pooling) at the decoder's half-size level and before the 1x1 output,
"+fill" adds HintFill's dense hints (a, b, confidence) beside the sparse ones at both places.

Reports on the held-out drawings (Lab units): ab error over all pixels, per-region colour
error (|mean predicted ab - mean true ab| per region, area-weighted), and impurity (the
area-weighted standard deviation of the predicted ab within each region: 0 = flat colours).
"""
import argparse
import json
import sys
import time
from pathlib import Path

import anime_colorize.cli_common  # noqa: F401  (quiet TensorFlow first)
import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from anime_colorize import color
from anime_colorize.data.hints import simulate_points
from anime_colorize.models.hint_fill import HintFill
from anime_colorize.models.layers import Upsample2x
from anime_colorize.models.region_pooling import RegionPooling
from region_pooling_bench import region_map

MAX_REGIONS = 64
HOLDOUT_PREFIX = "1F6"


def load(root, size, regions, limit_test=256):
    """(train, test): dicts of lines (N, S, S, 1) in [-1, 1], ab (N, S, S, 2) normalised,
    rgb (N, S, S, 3) in [0, 1], regions int32 (N, S, S)."""
    sets = {"train": [], "test": []}
    for path in sorted((Path(root) / "line").glob("*.png")):
        sets["test" if path.name.startswith(HOLDOUT_PREFIX) else "train"].append(path)
    sets["test"] = sets["test"][:limit_test]
    out = []
    for paths in (sets["train"], sets["test"]):
        lines = np.stack([np.asarray(Image.open(p).convert("L").resize((size, size), Image.BILINEAR),
                                     np.float32) / 255.0 for p in paths])
        rgb = np.stack([np.asarray(Image.open(Path(root) / "color" / p.name).convert("RGB")
                                   .resize((size, size), Image.BILINEAR), np.float32) / 255.0 for p in paths])
        _, ab = color.rgb_to_l_ab(rgb)
        out.append({"lines": 2.0 * lines[..., None] - 1.0, "ab": ab.numpy(), "rgb": rgb,
                    "regions": np.stack([region_map(x, regions) for x in lines])})
    return out


def build(variant):
    mode, fill = variant.split("+")[0], variant.endswith("+fill")
    lines = keras.Input((None, None, 1), name="lines")
    hint = keras.Input((None, None, 3), name="hint")
    regions = keras.Input((None, None), dtype="int32", name="regions")
    conditions = [lines, hint]
    if fill:
        conditions.append(HintFill(levels=4, name="fill")(hint))
    cond = keras.layers.Concatenate()(conditions)

    def conv(x, width, strides=1):
        return keras.layers.Conv2D(width, 3, strides=strides, padding="same", activation="relu")(x)

    def pool(x, name):
        return x if mode == "none" else RegionPooling(MAX_REGIONS, mode=mode, name=name)([x, regions])

    s0 = conv(cond, 16)
    s1 = conv(conv(s0, 32, 2), 32)
    x = conv(conv(s1, 64, 2), 64)
    x = conv(Upsample2x()(x), 32)
    x = pool(conv(keras.layers.Concatenate()([x, s1]), 32), "pool_half")
    x = conv(Upsample2x()(x), 16)
    x = conv(keras.layers.Concatenate()([x, s0, cond]), 16)
    x = pool(x, "pool_head")
    out = keras.layers.Conv2D(2, 1, activation="tanh")(x)
    return keras.Model({"lines": lines, "hint": hint, "regions": regions}, out)


def hints_for(rgb, seed):
    hints = simulate_points(rgb, seed, count=10)
    return tf.concat([hints["hint_ab"], hints["hint_mask"]], -1)


def region_scores(pred, truth, regions):
    """(per-region colour error, impurity), area-weighted, in Lab units."""
    err, impurity, area = 0.0, 0.0, 0
    for p, t, r in zip(pred, truth, regions):
        for label in np.unique(r):
            inside = r == label
            n = inside.sum()
            err += n * np.abs(p[inside].mean(0) - t[inside].mean(0)).mean()
            impurity += n * p[inside].std(0).mean()
            area += n
    return 110 * err / area, 110 * impurity / area


def run(variant, train, test, steps, batch, seed):
    keras.utils.set_random_seed(seed)
    model = build(variant)
    optimizer = keras.optimizers.Adam(2e-3)
    n = len(train["lines"])

    @tf.function
    def step(lines, ab, rgb, regions, step_seed):
        hint = hints_for(rgb, step_seed)
        with tf.GradientTape() as tape:
            pred = model({"lines": lines, "hint": hint, "regions": regions}, training=True)
            loss = tf.reduce_mean(tf.abs(pred - ab))
        optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        return loss

    rng = np.random.default_rng(seed)
    for i in range(steps):
        if i == 1:  # the first step traces
            start = time.process_time()
        idx = rng.choice(n, batch, replace=False)
        step(train["lines"][idx], train["ab"][idx], train["rgb"][idx], train["regions"][idx],
             tf.constant([seed, i], tf.int64))
    cpu = time.process_time() - start
    hint = hints_for(test["rgb"], tf.constant([seed + 1, 0], tf.int64))
    pred = model.predict({"lines": test["lines"], "hint": hint, "regions": test["regions"]}, verbose=0)
    region_err, impurity = region_scores(pred, test["ab"], test["regions"])
    return {"variant": variant, "ab_error": float(110 * np.abs(pred - test["ab"]).mean()),
            "region_error": float(region_err), "impurity": float(impurity),
            "cpu_s_per_step": cpu / max(steps - 1, 1), "params": model.count_params()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="the openmoji128 folder (line/ and color/)")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--regions", choices=["segment", "paper"], default="segment",
                        help="segment: anime_colorize.regions.segment_lines; paper: connected paper")
    parser.add_argument("--variants", nargs="+",
                        default=["none", "mean", "concat", "gate", "none+fill", "gate+fill"])
    args = parser.parse_args(argv)
    if not (Path(args.data) / "line").is_dir():
        print(f"{args.data}/line not found", file=sys.stderr)
        return 2
    train, test = load(args.data, args.size, args.regions)
    print(f"{len(train['lines'])} training, {len(test['lines'])} held-out drawings at {args.size} px; "
          f"regions per held-out drawing: median {int(np.median([len(np.unique(r)) for r in test['regions']]))}\n")
    print("| variant | ab error | per-region error | impurity | CPU s/step | params |")
    print("|---|---:|---:|---:|---:|---:|")
    zero = 110 * np.abs(test["ab"]).mean()
    for variant in args.variants:
        r = run(variant, train, test, args.steps, args.batch, args.seed)
        print(f"| {r['variant']} | {r['ab_error']:.2f} | {r['region_error']:.2f} | {r['impurity']:.2f} | "
              f"{r['cpu_s_per_step']:.3f} | {r['params']} |", flush=True)
    print(f"\n(ab = 0 everywhere: ab error {zero:.2f})\n" + json.dumps({"args": vars(args)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
