#!/usr/bin/env bash
# The README's hint-sweep pictures, from the built-in pictures only (shippable): a line-art
# model with every hint kind trained on built-in pictures, evaluated on held-out built-in
# pictures with 0..20 simulated point hints.
#   bash experiments/builtin_lineart_hints.sh
# Writes runs/builtin_lineart_hints/ and reports/builtin_lineart_hints/ (hint_sweep.png,
# hint_sweep_sheet.png, metrics.md, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/builtin_lineart_hints}
STEPS=${STEPS:-2000}
python -m anime_colorize.train --algo dcgan --input lineart --hints mix --size 64 --steps "$STEPS" \
  --out "$OUT" --overwrite --quiet
python -m anime_colorize.evaluate --model "$OUT/generator.keras" --data builtin --limit 256 --num-samples 4 \
  --hint-points 0,1,2,5,10,20 --out "reports/$(basename "$OUT")" --quiet
