#!/usr/bin/env bash
# Reported results: one algorithm on real anime faces, gray input, 64 px, held-out year 2011.
#   bash experiments/faces64.sh wgangp
#   bash experiments/faces64.sh dcgan
# 4751 steps is where a 20-minute budget (--max-minutes 20) stopped wgangp on the 2-core CPU the
# README describes; a fixed step count makes a run reproducible on any machine.
set -euo pipefail
ALGO=${1:-wgangp}
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/faces64}
OUT=${OUT:-runs/faces64_$ALGO}
python -m anime_colorize.train --algo "$ALGO" --data "$DATA" --exclude '*_2011.jpg' --drop-gray 4 --cache \
  --size 64 --steps 4751 --out "$OUT" --overwrite --quiet
python -m anime_colorize.evaluate --model "$OUT/generator.keras" --data "$DATA" --include '*_2011.jpg' \
  --limit 500 --num-samples 8 --train-data "$DATA" --out "reports/$(basename "$OUT")" --quiet
