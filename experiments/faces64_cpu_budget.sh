#!/usr/bin/env bash
# Held-out faces after a budget of CPU time (issue 17): wgangp, gray input, 64 px, the faces
# recipe of faces64.sh, trained until the training process has used BUDGET CPU-seconds (user +
# system, every thread: on a shared machine wall time says little), then the last checkpoint
# written within the budget is exported and evaluated with K = 4 on 500 faces of 2011.
#   bash experiments/faces64_cpu_budget.sh runs/cheap20 --z-entry decoder --convs-per-level 1 \
#       --full-resolution light --discriminator-pooling 2 --n-critic 1
#   BUDGET=1200 bash experiments/faces64_cpu_budget.sh runs/original20      # the defaults
# Flags after the run folder go to train. The checkpoints written after the budget are moved to
# <run>/checkpoints/after_budget/; <run>.cpu lists each checkpoint with the CPU-seconds it was seen at.
set -euo pipefail
OUT=$1
shift
BUDGET=${BUDGET:-1200}
DATA=${DATA:-../shared/data/faces64}
cd "$(dirname "$0")/.."
python -m anime_colorize.train --algo wgangp --data "$DATA" --exclude '*_2011.jpg' --drop-gray 4 --cache \
  --size 64 --steps 1000000 --checkpoint-every 250 --out "$OUT" --overwrite --quiet "$@" &
PID=$!
TICKS=$(getconf CLK_TCK)
: > "$OUT.cpu"
while kill -0 "$PID" 2>/dev/null; do
  read -r -a STAT < "/proc/$PID/stat" || break
  CPU=$(( (STAT[13] + STAT[14]) / TICKS ))
  for index in "$OUT"/checkpoints/ckpt-*.index; do
    [ -e "$index" ] && ! grep -q "^$index " "$OUT.cpu" && echo "$index $CPU" >> "$OUT.cpu"
  done
  if [ "$CPU" -ge "$BUDGET" ]; then
    kill -TERM "$PID"  # train checkpoints and stops (SIGINT is ignored by a background job)
    break
  fi
  sleep 2
done
wait "$PID" || true
STEP=$(awk -v budget="$BUDGET" '$2 < budget {print $1}' "$OUT.cpu" | sed 's/.*ckpt-\([0-9]*\)\.index/\1/' | sort -n | tail -1)
mkdir -p "$OUT/checkpoints/after_budget"
for index in "$OUT"/checkpoints/ckpt-*.index; do
  n=$(basename "$index" .index)
  n=${n#ckpt-}
  if [ "$n" -gt "$STEP" ]; then mv "$OUT/checkpoints/ckpt-$n".* "$OUT/checkpoints/after_budget/"; fi
done
echo "step $STEP is the last checkpoint within $BUDGET CPU-seconds"
python -m anime_colorize.train --out "$OUT" --resume --steps "$STEP" --quiet  # exports it
python -m anime_colorize.evaluate --model "$OUT/generator.keras" --data "$DATA" --include '*_2011.jpg' \
  --limit 500 --num-samples 4 --out "reports/$(basename "$OUT")_k4" --quiet
