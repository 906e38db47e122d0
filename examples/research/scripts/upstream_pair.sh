#!/usr/bin/env bash
# The real-upstream pair of examples/research/results/upstream_pair.md and the toy loop's prediction of it, at the same length, batch
# and spec (issue 20, part 2). Resumable: rerun after an interruption.
#
#   examples/research/scripts/upstream_pair.sh ~/src/stylegan2-ada-pytorch [OUT]     # OUT default runs/upstream_pair
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
OMP_NUM_THREADS=1 linkgan-research study --recipes "$HERE/../recipes/toy_pair.json" --seed 0 --workers 2 --out "$OUT/toy"
linkgan-research side-by-side "$OUT"
