"""How well a model colours held-out built-in pictures, region by region.

    python experiments/builtin_check.py --model runs/demo/generator.keras [--count 64] [--samples 4]

The built-in pictures have parts whose colour follows from their shape (skin, eye whites) and
parts with palette colours the lightness cannot reveal (hair, clothes, background). So it reports:
- skin ab error: mean |ab - truth| in Lab units on skin pixels (the truth's skin tone mask),
  averaged over z: a model that learned the fixed colours gets this low for every z;
- L1 mean-z / best-of-K: normalised |ab - truth| averaged over z, and of the closest of K
  colourings per picture; compare with the gray picture's (ab = 0) error printed beside them;
- diversity: mean normalised |ab_i - ab_j| between the K colourings of the same picture.
Pictures come from the built-in generator with a seed never used for training; fixed z seed,
so the figures are reproducible.
"""
import argparse
import sys

import anime_colorize.cli_common  # quiet TensorFlow first
anime_colorize.cli_common.quiet_tensorflow()
import numpy as np

from anime_colorize.data.pipeline import builtin_holdout, rgb_batch_to_model_inputs
from anime_colorize.export import load_generator
from anime_colorize.sampling import random_sweep


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0, help="the training run's seed")
    args = parser.parse_args(argv)
    generator = load_generator(args.model)
    size = generator.working_size
    batch = rgb_batch_to_model_inputs(builtin_holdout(args.count, size, args.seed))
    truth = batch["ab"].numpy()
    zs = random_sweep(args.samples, generator.z_dim, seed=0)
    outputs = np.stack([generator(batch["l"], np.repeat(z[None], args.count, axis=0)).numpy() for z in zs])
    errors = np.abs(outputs - truth[None]).mean(axis=(2, 3, 4))  # (K, N)
    ab_truth, lightness = truth * 110, (batch["l"].numpy()[..., 0] + 1) * 50
    skin = ((lightness > 78) & (ab_truth[..., 0] > 8) & (ab_truth[..., 0] < 18)
            & (ab_truth[..., 1] > 12) & (ab_truth[..., 1] < 24))
    skin_error = np.mean([np.abs(o * 110 - ab_truth)[skin].mean() for o in outputs])
    pairs = [(i, j) for i in range(args.samples) for j in range(i + 1, args.samples)]
    diversity = np.mean([np.abs(outputs[i] - outputs[j]).mean() for i, j in pairs]) if pairs else float("nan")
    print(f"{args.count} held-out built-in pictures at {size} px, {args.samples} z each\n"
          f"skin ab error (Lab units): {skin_error:.1f}\n"
          f"L1 mean-z: {errors.mean():.4f}   best-of-{args.samples}: {errors.min(axis=0).mean():.4f}"
          f"   gray picture: {np.abs(truth).mean():.4f}\n"
          f"diversity: {diversity:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
