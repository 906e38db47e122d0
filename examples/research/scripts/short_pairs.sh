#!/usr/bin/env bash
# Short real-upstream pairs (issue 20; examples/research/results/upstream_pair.md): StyleGAN3 with the stylegan2 and stylegan3-t configs on
# the cells scenes, and EG3D on 128 px faces with camera labels, end to end on CPU (tiny networks, a tenth of a kimg:
# they show the command working on the real code, not LinkGAN's effect). Resumable like every `linkgan pair`.
#
#   examples/research/scripts/short_pairs.sh ~/src/stylegan3 ~/src/eg3d [OUT]     # OUT default runs/short_pairs
set -euo pipefail
SG3="$1"
EG3D="$2"
OUT="${3:-runs/short_pairs}"
mkdir -p "$OUT"
export OMP_NUM_THREADS=1
linkgan patch "$SG3"
linkgan patch "$EG3D"
[ -f "$OUT/cells32.zip" ] || linkgan scenes --scene cells --resolution 32 --count 4000 --out "$OUT/cells32.zip" \
  --spec-out "$OUT/cells_spec.json"
[ -f "$OUT/faces128.zip" ] || linkgan scenes --scene faces --resolution 128 --count 64 --camera-labels \
  --out "$OUT/faces128.zip" --spec-out "$OUT/faces_spec.json"
for cfg in stylegan2 stylegan3-t; do
  linkgan pair "$SG3" --data "$OUT/cells32.zip" --spec "$OUT/cells_spec.json" --kimg 0.1 --tick 0.05 \
    --out "$OUT/sg3-$cfg" --tiny --samples 128 --quality-images 128 -- --cfg=$cfg
done
linkgan pair "$EG3D" --data "$OUT/faces128.zip" --spec "$OUT/faces_spec.json" --kimg 0.02 --tick 0.01 --out "$OUT/eg3d" \
  --tiny --samples 32 --quality-images 32
