#!/usr/bin/env bash
# One GPU validation run (issue 31): on one H100 / H200, within 8 minutes cold build included, proves the CUDA kernel
# ran and writes OUT/gpu_validation.json and OUT/summary.md (with the card, driver, CUDA, torch and nvcc). Steps, each
# under its own timeout (the sum of the timeouts is the budget; --dry-run prints it):
#   doctor        `linkgan doctor --strict`: builds the CPU and CUDA kernels cold into OUT/cache, checks them
#   cuda_tests    every CUDA-relevant test: tests/test_ops_gpu.py (training sizes x fp32/fp16/bf16 x three mask shapes,
#                 channels_last, autocast, a CUDA graph on a side stream, B = 65535 / 65536, LinkLoss on CUDA; two
#                 GPUs and past 2^31 elements when the machine has them, else skipped with the reason), the CUDA cases
#                 of test_ops_batch_independence.py and test_ops_masked_diff.py, test_ops_build.py,
#                 test_ops_cuda_source.py, test_ops_layouts.py
#   bench_kernel  `linkgan bench kernel --training` (CUDA events, L2 flushed; eager, torch.compile, fused; % of the
#                 copy bandwidth measured in the same run)
#   bench_loss    `linkgan bench loss` on the GPU (LinkLoss / base step time, link passes, the call site before and
#                 after issue 31)
#   (summary)     the JSON and the Markdown (linkgan_plugin/ops/validation.py, 10 s); the run FAILS when any step failed
#                 or timed out, or when anything ran on the PyTorch reference instead of the kernel (doctor, the
#                 benches' "masked_diff ran on" records, the smoke runs' stats.jsonl)
# With --upstream DIR (a stylegan2-ada-pytorch checkout patched by `linkgan patch`), two more steps beyond the 8-minute
# budget: `linkgan smoke` with the base loss and with 4 links at 64 px, whose stats.jsonl must show the kernel
# (Linkgan/masked_diff/cuda, no .../ref). The real pair is examples/upstream_pair/run.sh.
#
#   examples/gpu_validation.sh [--dry-run] [--upstream DIR] [--out DIR]
#
# --dry-run (CPU-only machines, CI): every step is planned with its timeout and checked without running anything
# heavy (its command parses its options, the tests are collected, the bench prints its rows); the JSON then holds
# the plan with "dry_run": true. Exit status: 0 when every step passed (or, dry, checked).
set -uo pipefail

DRY=0
UPSTREAM=""
OUT="gpu-validation"
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --upstream) UPSTREAM="$2"; shift ;;
    --upstream=*) UPSTREAM="${1#*=}" ;;
    --out) OUT="$2"; shift ;;
    --out=*) OUT="${1#*=}" ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "gpu_validation.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

REPO="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python}"
LINKGAN=("$PY" -m linkgan_plugin)
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
STEPS="$OUT/steps.tsv"
: > "$STEPS"
START=$(date +%s)
export LINKGAN_CACHE_DIR="$OUT/cache"        # A cold build, inside the output folder, never ~/.cache.
export LINKGAN_BUILD_TIMEOUT=60              # A held build lock cannot eat a step's whole timeout.
export LINKGAN_VERBOSITY=brief
unset LINKGAN_KERNEL

# step NAME TIMEOUT_S DRY_CHECK -- COMMAND...: runs COMMAND under `timeout TIMEOUT_S` (or, with --dry-run, DRY_CHECK),
# output in OUT/NAME.log; one line in steps.tsv: name, status, seconds, timeout, log, command.
step() {
  local name="$1" limit="$2" check="$3"; shift 4
  local log="$OUT/$name.log" t0 rc status
  t0=$(date +%s)
  if [ "$DRY" = 1 ]; then
    (cd "$REPO" && bash -c "$check") > "$log" 2>&1; rc=$?
    status=$([ $rc = 0 ] && echo checked || echo failed)
  else
    (cd "$REPO" && timeout -k 10 "$limit" "$@") > "$log" 2>&1; rc=$?
    status=$([ $rc = 0 ] && echo passed || { [ $rc = 124 ] || [ $rc = 137 ] && echo timeout || echo failed; })
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$(( $(date +%s) - t0 ))" "$limit" "$log" "$*" >> "$STEPS"
  echo "[$status] $name ($(( $(date +%s) - t0 )) s of $limit s): $*"
}

HAVE_CUDA=$("$PY" -c 'import torch; print(int(torch.cuda.is_available()))' 2>/dev/null || echo 0)
if [ "$DRY" = 0 ] && [ "$HAVE_CUDA" != 1 ]; then
  echo "gpu_validation.sh: torch sees no CUDA device; run with --dry-run on a CPU-only machine" >&2
  exit 2
fi

TESTS=(tests/test_ops_gpu.py tests/test_ops_batch_independence.py tests/test_ops_masked_diff.py tests/test_ops_build.py
       tests/test_ops_cuda_source.py tests/test_ops_layouts.py)
BENCH_KERNEL=(bench kernel --device cuda --training --reps 5 --max-seconds 80 --json "$OUT/bench_kernel.json")
BENCH_LOSS=(bench loss --device cuda --threads 0 --blocks 4 --profiled-blocks 1 --base demo --no-scaling
            --pass-links 1,2,4 --pass-steps 2)

step doctor 120 "${LINKGAN[*]} doctor --no-build" -- "${LINKGAN[@]}" doctor --strict
step cuda_tests 150 "$PY -m pytest -q --collect-only ${TESTS[*]} | grep -q 'test_ops_gpu.py::test_training_sizes_match_the_reference'" -- \
  "$PY" -m pytest -q -rs -p no:cacheprovider "${TESTS[@]}"
step bench_kernel 110 "${LINKGAN[*]} bench kernel --training --plan | grep -q '64x3x1024x1024 links 8 fp16 fwd+bwd'" -- \
  "${LINKGAN[@]}" "${BENCH_KERNEL[@]}"
step bench_loss 90 "${LINKGAN[*]} ${BENCH_LOSS[*]} --help | grep -q -- --call-site" -- "${LINKGAN[@]}" "${BENCH_LOSS[@]}"
if [ -n "$UPSTREAM" ]; then
  DATA="$OUT/cells64.zip"
  "$PY" - "$OUT/spec4.json" <<'EOF'
import json, sys
json.dump({'links': [{'name': f'strip{i}', 'axes': f'{64 * i}:{64 * (i + 1)}', 'region': {'box': [i / 4, 0, (i + 1) / 4, 1]}}
                     for i in range(4)], 'interval': 8}, open(sys.argv[1], 'w'))
EOF
  SMOKE=(--data "$DATA" --nimg 512 -- --batch=32 --gpus=1)
  step scenes 30 "[ -d '$UPSTREAM' ]" -- "${LINKGAN[@]}" scenes --scene cells --resolution 64 --count 1024 --out "$DATA"
  step smoke_base 90 "${LINKGAN[*]} smoke --help | grep -q -- --loss" -- \
    "${LINKGAN[@]}" smoke "$UPSTREAM" --outdir "$OUT/smoke_base" --loss training.loss.StyleGAN2Loss "${SMOKE[@]}"
  step smoke_links4 90 "${LINKGAN[*]} spec check '$OUT/spec4.json' --w-dim 512 >/dev/null" -- \
    "${LINKGAN[@]}" smoke "$UPSTREAM" --outdir "$OUT/smoke_links4" --spec "$OUT/spec4.json" "${SMOKE[@]}"
fi

# The JSON and the Markdown summary; fails when a step failed or anything ran on the reference (ops/validation.py).
# Its timeout (10 s) is part of the budget.
(cd "$REPO" && timeout -k 5 10 "$PY" -m linkgan_plugin.ops.validation "$OUT" "$DRY" "$(( $(date +%s) - START ))" "$UPSTREAM")
