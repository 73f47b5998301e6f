#!/usr/bin/env bash
# The README's flat-colouring pictures (assets/flats_sylvie.png, assets/app_fill.png), from a Ren'Py
# demo sprite only (MIT: "Ren'Py demo art © Tom Rothamel / Piroshki, MIT"):
#   MODEL=runs/openmoji_lineart_dcgan/generator.keras bash experiments/readme_flats.sh
# The sprite's line art (XDoG) with 14 colour points picked from the sprite itself is coloured
# by the colorize command three times: smooth, flat, and flat with the network's shading
# (with --layers, --psd and --regions-out); the sheet is line art | smooth | flat | flat + shading.
# With ANIME_COLORIZE_SCREENSHOT=1 it also takes the page's screenshot with the fill brush.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-runs/openmoji_lineart_dcgan/generator.keras}
SPRITE=${SPRITE:-../shared/data/renpy/sprites/sylvie blue normal.png}
OUT=${OUT:-reports/readme_flats}
mkdir -p "$OUT"
python experiments/readme_flats.py prepare --sprite "$SPRITE" --out "$OUT"
common=(--model "$MODEL" --input "$OUT/sylvie.png" --hints "$OUT/sylvie.json" --seed 0 --overwrite --quiet)
python -m anime_colorize.colorize "${common[@]}" --mode smooth --out "$OUT/smooth.png"
python -m anime_colorize.colorize "${common[@]}" --mode flat --out "$OUT/flat.png"
python -m anime_colorize.colorize "${common[@]}" --mode flat --shading --layers --psd --regions-out --out "$OUT/shaded"
python experiments/readme_flats.py sheet --out assets/flats_sylvie.png \
  "$OUT/sylvie.png" "$OUT/smooth.png" "$OUT/flat.png" "$OUT/shaded/sylvie.png"
if [ -n "${ANIME_COLORIZE_SCREENSHOT:-}" ]; then
  # the page after four fill clicks (hair, top, skirt, sash), the fill brush over the face
  python experiments/app_screenshot.py --model "$MODEL" --input "$OUT/sylvie.png" --out assets/app_fill.png \
    --fills '[["#f08a3c", [0.5, 0.07]], ["#3c7de0", [0.5, 0.48]], ["#5b3a29", [0.4, 0.8]], ["#f2c53d", [0.5, 0.655]]]' \
    --hover '[0.5, 0.17]'
fi
