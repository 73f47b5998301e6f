#!/usr/bin/env bash
# Reported result: the line-art model with colour hints, trained on OpenMoji colour images (line
# art extracted from them), evaluated on REAL designer line art paired with its true colours.
#   bash experiments/openmoji_lineart.sh            # dcgan
#   bash experiments/openmoji_lineart.sh wgangp
# Held out: every emoji whose file name starts with 1F6 (323 of 3,923 pairs: the emoticon faces
# and transport blocks). The model trains at 64 px and is evaluated at the files' 128 px: it works
# at 64 px and the drawing is laid over its upsampled colour, as the colorize command does.
set -euo pipefail
ALGO=${1:-dcgan}
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/openmoji128}
OUT=${OUT:-runs/openmoji_lineart_$ALGO}
STEPS=${STEPS:-5000}
python -m anime_colorize.train --algo "$ALGO" --data "$DATA/color" --exclude '1F6*' --drop-gray 4 --cache \
  --input lineart --hints mix --size 64 --steps "$STEPS" --out "$OUT" --overwrite --quiet
python -m anime_colorize.evaluate --model "$OUT/generator.keras" --lines "$DATA/line" --colors "$DATA/color" --mode smooth,flat \
  --include '1F6*' --size 128 --num-samples 8 --hint-points 0,1,2,5,10,20 --out "reports/$(basename "$OUT")" --quiet
# Flats with the regions no hint reaches left as white paper instead of the network's colour:
python -m anime_colorize.evaluate --model "$OUT/generator.keras" --lines "$DATA/line" --colors "$DATA/color" --mode flat \
  --unhinted paper --include '1F6*' --size 128 --num-samples 8 --hint-points 0,1,2,5,10,20 \
  --out "reports/$(basename "$OUT")_paper" --quiet
