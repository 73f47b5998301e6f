"""Scoring a colorizer on held-out pictures whose true colours are known (the library behind
``python -m anime_colorize.evaluate``).

One evaluation, step by step:

1. :mod:`~anime_colorize.evaluation.data`: the pictures (a folder, built-in pictures, or real
   line art paired with its colours), the training pictures of the mean baseline, and the
   batches (truth and model input) the predictors see.
2. :mod:`~anime_colorize.evaluation.predictors`: what is scored. Each predictor (the model,
   its hint variants, the baselines) is reported under a typed
   :class:`~anime_colorize.evaluation.predictors.Row`; its colours become pictures in an output
   mode (``OUTPUT_MODES``).
3. :mod:`~anime_colorize.evaluation.scoring`: every predictor on every batch, measured by
4. :mod:`~anime_colorize.evaluation.metrics`: the figures, pure numpy (Lab from scikit-image, an
   independent check of :mod:`anime_colorize.color`), listed once in ``metrics.SCORES``.
5. :mod:`~anime_colorize.evaluation.report`: metrics.json, metrics.md, plots, contact sheets.

Consistency with a coloured key (``evaluate --reference``, issue #13) is its own evaluation:
:mod:`~anime_colorize.evaluation.reference` (targets of one character as line art with their
truth, coloured as ``colorize`` colours them: no reference, histogram reference, key palette,
region matching; CIEDE2000 and region accuracy on the character's pixels).

Extending touches one place: a figure is a ``metrics.Score`` in ``metrics.SCORES`` (measure,
summary entries, table columns); a predictor is a function and a ``Row`` given to
``scoring.score_dataset`` (the CLI builds that dictionary); an output mode is an entry of
``predictors.OUTPUT_MODES`` (``score_dataset(mode=...)``).
"""
