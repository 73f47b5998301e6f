"""How tests/data/unet_before_xla_ops.keras and before_xla_ops_io.npz were made: a tiny line-art
hint generator saved by the code before models/layers.py had its own Conv2D and the generator
its RepeatToBatch layers (commit 4214d94), with its inputs and outputs. test_models checks
that today's code loads it and computes the same colours. Run with that commit's package:

    git worktree add /tmp/old 4214d94 && cd /tmp/old && python tests/data/make_before_xla_ops.py tests/data
"""
import sys

import keras
import numpy as np

from anime_colorize.models import UNetGenerator

keras.utils.set_random_seed(3)
g = UNetGenerator(z_dim=4, depth=2, filters=4, input_kind="lineart", hint_kinds=("points",), working_size=16,
                  name="generator")
rng = np.random.default_rng(0)
inp = {"l": rng.uniform(-1, 1, (2, 16, 16, 1)).astype("float32"), "z": rng.normal(size=(2, 4)).astype("float32"),
       "hint_ab": rng.uniform(-.5, .5, (2, 16, 16, 2)).astype("float32"),
       "hint_mask": (rng.uniform(size=(2, 16, 16, 1)) > .9).astype("float32"),
       "hint_hist": rng.uniform(size=(2, 512)).astype("float32") / 512}
g.save(sys.argv[1] + "/unet_before_xla_ops.keras")
np.savez_compressed(sys.argv[1] + "/before_xla_ops_io.npz", out=np.asarray(g(inp)), **inp)
