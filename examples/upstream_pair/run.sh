#!/usr/bin/env bash
# The real-upstream pair of docs/upstream_pair.md and the toy loop's prediction of it, at the same length, batch
# and spec (issue 20, part 2). Resumable: rerun after an interruption.
#
#   examples/upstream_pair/run.sh ~/src/stylegan2-ada-pytorch [OUT]     # OUT default runs/upstream_pair
#
# 2 cores: the real pair is two ~75-minute trainings at once (40 kimg each, batch 4, --tiny networks, ~110 s/kimg
# on one idle core); the toy study two ~7-minute trainings.
set -euo pipefail
UPSTREAM="$1"
OUT="${2:-runs/upstream_pair}"
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$OUT"
linkgan patch "$UPSTREAM"
[ -f "$OUT/cells32.zip" ] || linkgan scenes --scene cells --resolution 32 --count 4000 --out "$OUT/cells32.zip" \
  --spec-out "$OUT/cells_spec.json"
OMP_NUM_THREADS=1 linkgan pair "$UPSTREAM" --data "$OUT/cells32.zip" --spec "$OUT/cells_spec.json" --kimg 40 \
  --out "$OUT/pair" --tiny
OMP_NUM_THREADS=1 linkgan study --recipes "$HERE/toy_recipes.json" --seed 0 --workers 2 --out "$OUT/toy"
python "$HERE/side_by_side.py" "$OUT"
