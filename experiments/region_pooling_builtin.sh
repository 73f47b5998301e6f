#!/usr/bin/env bash
# Region pooling on vs off in the real generator (issue #14): the same line-art model with point
# hints trained on built-in pictures for the same steps, with and without --region-pooling, then
# evaluated on held-out built-in pictures in --mode smooth with 0 and 10 point hints (region
# error, region purity, region diversity, hint gain).
#   bash experiments/region_pooling_builtin.sh            (STEPS=300 SIZE=64 by default)
# Writes runs/region_pooling_{on,off}/ and reports/region_pooling_{on,off}/metrics.md.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-300}
SIZE=${SIZE:-64}
PY=${PY:-python}
for pooling in on off; do
  flag=$([ "$pooling" = on ] && echo --region-pooling || echo --no-region-pooling)
  out=runs/region_pooling_$pooling
  /usr/bin/time -f "train $pooling: %e s" $PY -m anime_colorize.train --algo dcgan --input lineart --hints points --size "$SIZE" \
    --steps "$STEPS" --num-images 1024 --sample-every 100000 --checkpoint-every 100000 "$flag" --seed 0 \
    --out "$out" --overwrite --quiet
  $PY -m anime_colorize.evaluate --model "$out/generator.keras" --data builtin --limit 64 --num-samples 4 \
    --hint-points 0,10 --mode smooth --out "reports/region_pooling_$pooling" --quiet
done
