#!/usr/bin/env bash
# Table 2 in miniature (issue 19), from nothing to examples/research/results/table2/: one from-scratch faces pair (linked: eyes, nose
# and mouth in one network; control: the same initial weights, data and latents without the link term) per training
# seed, then `linkgan-research table2` (compare on every seed and region: LinkGAN against StyleSpace, ReSeFa, LELSD and a
# random direction, 5 search seeds each) into examples/research/results/table2/table2.{md,json,png}.
# Resumable: finished trainings (examples/research/results/table2/seed*/runs) and comparisons (examples/research/results/table2/compare/*/compare.json) are kept
# and never run again; rerun the script after an interruption.
#
#   examples/research/scripts/table2.sh [OUT]        # OUT default examples/research/results/table2; 2 cores: ~30 min per seed's pair, 8-11 min per comparison
set -euo pipefail
OUT="${1:-runs/table2}"
HERE="$(cd "$(dirname "$0")" && pwd)"
for seed in 0 1 2; do
  OMP_NUM_THREADS=1 linkgan-research study --recipes "$HERE/../recipes/table2.json" --seed "$seed" --workers 2 --out "$OUT/seed$seed"
done
linkgan-research table2 "$OUT/seed0" "$OUT/seed1" "$OUT/seed2" --out "$OUT" --workers 2
