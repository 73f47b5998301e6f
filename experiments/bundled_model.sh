#!/usr/bin/env bash
# The bundled model (anime_colorize/bundled/lineart_hints.keras): a line-art model that takes every
# hint kind, trained on the built-in procedural pictures only (nothing third-party ships in it),
# then scored on held-out built-in pictures and copied into the package with its TRAINING.md.
#   bash experiments/bundled_model.sh              # STEPS=3000 by default
#   STEPS=200 bash experiments/bundled_model.sh    # a quick check of the recipe
# Writes runs/bundled_model/, reports/bundled_model/ and anime_colorize/bundled/.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/bundled_model}
STEPS=${STEPS:-4000}
MINUTES=${MINUTES:-50}  # a time budget too: the run stops at whichever comes first
ALGO=${ALGO:-dcgan}
SECONDS=0
# the cheap architecture of issue 17 (z from the decoder on, one conv per level, a light full-resolution
# path); region pooling and the hint fill are on by default for line art
python -m anime_colorize.train --algo "$ALGO" --input lineart --hints mix --size 64 --steps "$STEPS" \
  --max-minutes "$MINUTES" --z-entry decoder --convs-per-level 1 --full-resolution light \
  --out "$OUT" --overwrite --quiet "$@"
TRAIN_S=$SECONDS
python -m anime_colorize.evaluate --model "$OUT/generator.keras" --data builtin --limit 128 --num-samples 4 \
  --hint-points 0,1,2,5,10,20 --mode smooth,flat --out "reports/$(basename "$OUT")" --quiet
python experiments/bundled_model_card.py --run "$OUT" --report "reports/$(basename "$OUT")" \
  --train-seconds "$TRAIN_S" --command "STEPS=$STEPS MINUTES=$MINUTES ALGO=$ALGO bash experiments/bundled_model.sh $*"
