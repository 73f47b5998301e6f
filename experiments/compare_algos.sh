#!/usr/bin/env bash
# Reported result (#4): every algorithm trained for the same short budget on the same data and
# scored by the same evaluation. faces64 without the year 2011, gray input, 64 px, STEPS
# generator updates each (default 800), evaluated on 500 faces of 2011 with K = 8 z.
#   bash experiments/compare_algos.sh                    # all algorithms
#   bash experiments/compare_algos.sh l2 pix2pix         # some of them
# cyclegan is unpaired: its A folder is the same training faces (it sees only their lightness)
# and its B folder the same faces in colour, so it gets the same pictures without the pairing;
# --page-scale 1 keeps its A pictures at the size of the others (pages would be scaled up).
# Writes reports/compare_<algo>/ and prints one table (experiments/report_table.py).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/faces64}
STEPS=${STEPS:-800}
ALGOS=("$@")
[ ${#ALGOS[@]} -eq 0 ] && ALGOS=(l2 dcgan wgangp pix2pix pix2pix_gp pix2pixhd cyclegan)
for ALGO in "${ALGOS[@]}"; do
  OUT=runs/compare_$ALGO
  if [ "$ALGO" = cyclegan ]; then
    DATA_FLAGS=(--data-a "$DATA" --data-b "$DATA" --page-scale 1)
  else
    DATA_FLAGS=(--data "$DATA")
  fi
  python -m anime_colorize.train --algo "$ALGO" "${DATA_FLAGS[@]}" --exclude '*_2011.jpg' --drop-gray 4 --cache \
    --size 64 --steps "$STEPS" --out "$OUT" --overwrite --quiet
  python -m anime_colorize.evaluate --model "$OUT/generator.keras" --data "$DATA" --include '*_2011.jpg' \
    --limit 500 --num-samples 8 --train-data "$DATA" --out "reports/compare_$ALGO" --quiet
done
python experiments/report_table.py reports/compare_*
