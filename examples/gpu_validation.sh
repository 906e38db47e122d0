#!/usr/bin/env bash
# One GPU validation run (issue 20, part 3): on a machine with a CUDA GPU, in under 10 minutes, writes
# OUT/gpu_validation.json and OUT/summary.txt with
#   1. the CUDA kernel tests (the `cuda` cases of tests/test_ops_*.py) and `linkgan bench kernel --json`
#      (eager / torch.compile / fused, GB/s against the device's copy bandwidth measured in the same run);
#   2. `linkgan bench loss` (LinkLoss step time / base step time, and 1, 2, 4 links; the link passes at 1, 2, 4, 8),
#      and with --upstream DIR the real upstream networks: `linkgan smoke` with the base loss and with 1, 2, 4 and 8
#      links at 64 px, seconds per kimg each;
#   3. with --upstream DIR (a stylegan2-ada-pytorch checkout patched by `linkgan patch`): `linkgan pair` at 64 px on the
#      demo's cells scenes, a few minutes each run.
# The README's kernel and performance sections quote GPU figures from this script.
#
#   examples/gpu_validation.sh [--dry-run] [--upstream DIR] [--out DIR] [--pair-kimg K]
#
# --dry-run (CPU-only machines, CI): every step is planned and checked (its command exists and parses its options,
# the CUDA tests are collected, paths exist, `linkgan pair --plan` checks the checkout, data and spec), nothing heavy
# runs; the JSON then holds the plan with "dry_run": true. Exit status: 0 when every step passed (or, dry, checked).
set -uo pipefail

DRY=0
UPSTREAM=""
OUT="gpu-validation"
PAIR_KIMG="2"
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --upstream) UPSTREAM="$2"; shift ;;
    --upstream=*) UPSTREAM="${1#*=}" ;;
    --out) OUT="$2"; shift ;;
    --out=*) OUT="${1#*=}" ;;
    --pair-kimg) PAIR_KIMG="$2"; shift ;;
    --pair-kimg=*) PAIR_KIMG="${1#*=}" ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
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

# record NAME STATUS SECONDS LOG COMMAND: one line per step (assembled into the JSON at the end).
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >> "$STEPS"; }

# step NAME DRY_CHECK -- COMMAND...: runs COMMAND (or, with --dry-run, DRY_CHECK) with its output in OUT/NAME.log.
step() {
  local name="$1" check="$2"; shift 3
  local log="$OUT/$name.log" t0 rc status
  t0=$(date +%s)
  if [ "$DRY" = 1 ]; then
    (cd "$REPO" && bash -c "$check") > "$log" 2>&1; rc=$?
    status=$([ $rc = 0 ] && echo checked || echo failed)
  else
    (cd "$REPO" && "$@") > "$log" 2>&1; rc=$?
    status=$([ $rc = 0 ] && echo passed || echo failed)
  fi
  record "$name" "$status" "$(( $(date +%s) - t0 ))" "$log" "$*"
  echo "[$status] $name ($(( $(date +%s) - t0 )) s): $*"
}

HAVE_CUDA=$("$PY" -c 'import torch; print(int(torch.cuda.is_available()))' 2>/dev/null || echo 0)
if [ "$DRY" = 0 ] && [ "$HAVE_CUDA" != 1 ]; then
  echo "gpu_validation.sh: torch sees no CUDA device; run with --dry-run on a CPU-only machine" >&2
  exit 2
fi

# 1. CUDA kernel tests and the kernel benchmark.
step cuda_tests "$PY -m pytest -q --collect-only -k cuda tests/test_ops_masked_diff.py | grep -q cuda" -- \
  "$PY" -m pytest -q -k cuda tests/test_ops_masked_diff.py tests/test_ops_build.py
step bench_kernel "${LINKGAN[*]} bench kernel --help | grep -q -- --json" -- \
  "${LINKGAN[@]}" bench kernel --device cuda --json "$OUT/bench_kernel.json"

# 2. The loss's overhead on the GPU: the toy at the demo's sizes, then sized like a 256 px network (w_dim 512, 128
#    channels in every layer: upstream's sg2ada at 256 px has 512 at 4-32 px down to 64 at 256 px) with upstream's
#    base loss settings; then the real upstream networks when a checkout is given. The dry run parses each
#    command's options (an unknown option fails) and stops at --help.
BENCH_LOSS=(bench loss --device cuda --threads 0 --blocks 4)
BENCH_LOSS_256=(bench loss --device cuda --threads 0 --blocks 4 --profiled-blocks 1 --resolution 256 --channels 128
                --w-dim 512 --batch 32 --base upstream --no-scaling --pass-steps 2)
step bench_loss "${LINKGAN[*]} ${BENCH_LOSS[*]} --help | grep -q -- --device" -- "${LINKGAN[@]}" "${BENCH_LOSS[@]}"
step bench_loss_256 "${LINKGAN[*]} ${BENCH_LOSS_256[*]} --help | grep -q -- --resolution" -- \
  "${LINKGAN[@]}" "${BENCH_LOSS_256[@]}"
if [ -n "$UPSTREAM" ]; then
  DATA="$OUT/cells64.zip"
  step scenes "[ -d '$UPSTREAM' ] && ${LINKGAN[*]} scenes --scene cells --resolution 64 --count 64 --out '$DATA' --spec-out '$OUT/spec.json'" -- \
    "${LINKGAN[@]}" scenes --scene cells --resolution 64 --count 2048 --out "$DATA" --spec-out "$OUT/spec.json"
  for K in 1 2 4 8; do   # K strips of 64 axes each, interval 8.
    "$PY" - "$OUT/spec$K.json" "$K" <<'EOF'
import json, sys
k = int(sys.argv[2])
json.dump({'links': [{'name': f'strip{i}', 'axes': f'{64 * i}:{64 * (i + 1)}',
                      'region': {'box': [i / max(2, k), 0, (i + 1) / max(2, k), 1]}} for i in range(k)],
           'interval': 8}, open(sys.argv[1], 'w'))
EOF
  done
  SMOKE_ARGS=(--data "$DATA" --nimg 1024 -- --batch=32 --gpus=1)
  step smoke_base "${LINKGAN[*]} smoke --help | grep -q -- --loss" -- \
    "${LINKGAN[@]}" smoke "$UPSTREAM" --outdir "$OUT/smoke" --loss training.loss.StyleGAN2Loss "${SMOKE_ARGS[@]}"
  for K in 1 2 4 8; do
    step "smoke_links$K" "${LINKGAN[*]} spec check '$OUT/spec$K.json' --w-dim 512 >/dev/null" -- \
      "${LINKGAN[@]}" smoke "$UPSTREAM" --outdir "$OUT/smoke" --spec "$OUT/spec$K.json" "${SMOKE_ARGS[@]}"
  done
  # 3. A real pair at 64 px.
  step pair "${LINKGAN[*]} pair '$UPSTREAM' --data '$DATA' --spec '$OUT/spec.json' --kimg $PAIR_KIMG --out '$OUT/pair' --plan -- --batch=32" -- \
    timeout 300 "${LINKGAN[@]}" pair "$UPSTREAM" --data "$DATA" --spec "$OUT/spec.json" --kimg "$PAIR_KIMG" \
      --out "$OUT/pair" --samples 1000 -- --batch=32
else
  record pair skipped 0 "" "no --upstream DIR: the smoke timings and the pair need a patched stylegan2-ada-pytorch checkout"
  echo "[skipped] smoke timings and pair: no --upstream DIR"
fi

# The JSON and the summary.
"$PY" - "$OUT" "$DRY" "$(( $(date +%s) - START ))" "$UPSTREAM" <<'EOF'
import json, os, re, sys
out, dry, seconds, upstream = sys.argv[1], sys.argv[2] == '1', int(sys.argv[3]), sys.argv[4] or None
steps = []
for line in open(os.path.join(out, 'steps.tsv')):
    name, status, secs, log, command = line.rstrip('\n').split('\t')
    steps.append({'name': name, 'status': status, 'seconds': int(secs), 'log': log or None, 'command': command})
results = {}
def read(path):
    return open(path, errors='replace').read() if path and os.path.isfile(path) else ''
if not dry:
    if os.path.isfile(os.path.join(out, 'bench_kernel.json')):
        results['bench_kernel'] = json.load(open(os.path.join(out, 'bench_kernel.json')))
    for s in steps:
        text = read(s['log'])
        if s['name'] == 'cuda_tests':
            m = re.findall(r'(\d+) (passed|failed|skipped|error)', text)
            results['cuda_tests'] = {k: int(v) for v, k in m}
        elif s['name'] in ('bench_loss', 'bench_loss_256'):
            results[s['name']] = {'ratios': re.findall(r'ratio\s+([\d.]+) wall', text), 'text': text[-4000:]}
        elif s['name'].startswith('smoke_'):
            m = re.search(r'seconds per kimg\s+([\d.]+)', text)
            results.setdefault('smoke_sec_per_kimg', {})[s['name'][6:]] = float(m.group(1)) if m else None
        elif s['name'] == 'pair' and os.path.isfile(os.path.join(out, 'pair', 'pair.json')):
            p = json.load(open(os.path.join(out, 'pair', 'pair.json')))
            results['pair'] = {k: p.get(k) for k in ('ratios', 'quality_ratio', 'recall_ratio', 'precision_ratio', 'runs')}
    base = results.get('smoke_sec_per_kimg', {}).get('base')
    if base:
        results['smoke_ratio_to_base'] = {k: (v / base if v else None) for k, v in results['smoke_sec_per_kimg'].items()}
ok = all(s['status'] in ('passed', 'checked', 'skipped') for s in steps)
report = {'dry_run': dry, 'ok': ok, 'seconds': seconds, 'upstream': upstream, 'steps': steps, 'results': results}
json.dump(report, open(os.path.join(out, 'gpu_validation.json'), 'w'), indent=2)
lines = [f'gpu_validation.sh {"--dry-run " if dry else ""}in {seconds} s: {"OK" if ok else "FAILED"}']
lines += [f'  {s["status"]:<8} {s["name"]:<14} {s["seconds"]:>5} s' for s in steps]
if results.get('smoke_ratio_to_base'):
    lines.append('  upstream s/kimg relative to the base loss: ' + ', '.join(
        f'{k} {v:.2f}x' for k, v in results['smoke_ratio_to_base'].items() if v))
if results.get('cuda_tests'):
    lines.append(f'  CUDA tests: {results["cuda_tests"]}')
open(os.path.join(out, 'summary.txt'), 'w').write('\n'.join(lines) + '\n')
print('\n'.join(lines))
print(f'wrote {os.path.join(out, "gpu_validation.json")} and summary.txt')
sys.exit(0 if ok else 1)
EOF
