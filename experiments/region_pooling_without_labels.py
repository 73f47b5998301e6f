"""How a region-pooling model colours without its labels (the SavedModel's ``without_regions``
signature: every label -1, each pooling layer passes its features through unpooled).

    python experiments/region_pooling_without_labels.py --model runs/region_pooling_on/generator.keras \
        [evaluate's flags, e.g. --data builtin --limit 64 --num-samples 4 --hint-points 0,10 --out DIR]

Runs ``python -m anime_colorize.evaluate`` with the model wrapped so that it reports no
``regions`` input and is called with labels -1, as ``without_regions`` runs it; compare its
metrics.md with the same evaluation of the model itself.
"""
import sys

import anime_colorize.cli_common  # noqa: F401  (quiet TensorFlow first)
from anime_colorize import evaluate


class WithoutLabels:
    """A loaded region model that says it takes no labels (so inference makes none) and runs
    with labels -1."""

    def __init__(self, generator):
        self._generator = generator
        self.takes_regions = False

    def __getattr__(self, name):
        return getattr(self._generator, name)

    def __call__(self, l, z, hints=None):
        return self._generator(l, z, hints)  # regions None: the loader feeds -1


def main(argv=None) -> int:
    load = evaluate.load_generator
    evaluate.load_generator = lambda *args, **kwargs: WithoutLabels(load(*args, **kwargs))
    return evaluate.main(argv)


if __name__ == "__main__":
    sys.exit(main())
