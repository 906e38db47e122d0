"""The summary of examples/gpu_validation.sh: OUT/gpu_validation.json and OUT/summary.md from its step logs.

    python -m linkgan_plugin.ops.validation OUT DRY(0|1) SECONDS [UPSTREAM]     # exit 0 when the run is OK

Inputs in OUT: steps.tsv (one line per step: name, status, seconds, timeout s, log, command), the step logs,
bench_kernel.json, and smoke_*/<run>/stats.jsonl with --upstream. The run is OK when every step passed (dry: was
checked) and nothing ran on the PyTorch reference instead of the kernel: doctor built and matched both kernels
(two 'ready in' lines, no FAILED), bench kernel's masked_diff paths hold no 'ref', bench loss printed no
'masked_diff ran on: ref', and every LinkLoss smoke run's stats.jsonl has Linkgan/masked_diff/cuda and no
Linkgan/masked_diff/ref. The JSON: dry_run, ok, seconds, budget_s (the sum of the budgeted steps' timeouts, all
but --upstream's scenes / smoke steps, plus this summary's SUMMARY_TIMEOUT_S), cache_dir, provenance (doctor.provenance), steps, reference_ran (why
the run failed on that count), results (per step: test counts and skip reasons, bench rows, ratios, paths).
"""

import glob
import json
import os
import re
import sys

import torch

from linkgan_plugin.ops.bench import format_header, format_row
from linkgan_plugin.ops.doctor import provenance

UNBUDGETED = ('scenes', 'smoke')        # --upstream's steps, beyond the 8-minute budget.
SUMMARY_TIMEOUT_S = 10                  # examples/gpu_validation.sh runs this module under `timeout 10`.

#----------------------------------------------------------------------------

def read_steps(out):
    """[{'name', 'status', 'seconds', 'timeout_s', 'log', 'command'}] of OUT/steps.tsv."""
    steps = []
    with open(os.path.join(out, 'steps.tsv')) as f:
        for line in f:
            name, status, secs, limit, log, command = line.rstrip('\n').split('\t')
            steps.append(dict(name=name, status=status, seconds=int(secs), timeout_s=int(limit), log=log, command=command))
    return steps


def _read(path):
    if not path or not os.path.isfile(path):
        return ''
    with open(path, errors='replace') as f:
        return f.read()


def _test_counts(text):
    last = text.strip().splitlines()[-1] if text.strip() else ''
    counts = {k.rstrip('s'): int(v) for v, k in re.findall(r'(\d+) (passed|failed|skipped|errors?)', last)}
    counts['skip_reasons'] = sorted(set(re.findall(r'^SKIPPED \[\d+\] [^:]+:\d+: (.*)$', text, re.M)))
    return counts


def _smoke_keys(path):
    keys = set()
    for line in _read(path).splitlines():
        try:
            keys |= set(json.loads(line))
        except ValueError:
            continue                    # A row cut short by an interruption.
    return keys


def collect_results(out, steps):
    """(results, reference_ran) of a real run's files (module docstring)."""
    logs = {s['name']: _read(s['log']) for s in steps}
    results, reference = {}, []
    if 'cuda_tests' in logs:
        results['cuda_tests'] = _test_counts(logs['cuda_tests'])
    if 'doctor' in logs and ('FAILED' in logs['doctor'] or logs['doctor'].count('ready in') < 2):
        reference.append('doctor: a kernel did not build or did not match the reference (see doctor.log)')
    bench_path = os.path.join(out, 'bench_kernel.json')
    if os.path.isfile(bench_path):
        with open(bench_path) as f:
            bench = json.load(f)
        results['bench_kernel'] = {k: bench.get(k) for k in ('card', 'copy_gbs', 'timing', 'rows', 'left_out', 'paths')}
        reference += [f"bench_kernel: {p['calls']} calls on the reference ({p['reason']})"
                      for p in bench.get('paths', []) if p['path'] == 'ref']
    if 'bench_loss' in logs:
        text = logs['bench_loss']
        paths = re.findall(r'^masked_diff ran on: (.*)$', text, re.M)
        ratios = [list(r) for r in re.findall(r'ratio\s+([\d.]+) wall\s+([\d.]+) cpu', text)]
        results['bench_loss'] = dict(ratios=ratios, paths=paths,
                                     text=text[-6000:])
        reference += [f'bench_loss: {p}' for p in paths if p.startswith('ref')]
    for run in sorted(glob.glob(os.path.join(out, 'smoke_*', '*', 'stats.jsonl'))):
        keys = _smoke_keys(run)
        results.setdefault('smoke', {})[run] = sorted(k for k in keys if k.startswith('Linkgan/'))
        linked = not os.path.basename(os.path.dirname(os.path.dirname(run))).startswith('smoke_base')
        if 'Linkgan/masked_diff/ref' in keys or (linked and 'Linkgan/masked_diff/cuda' not in keys):
            reference.append(f'smoke: {run} did not run on the CUDA kernel')
    return results, reference


def summary_markdown(report):
    """The Markdown summary of a report (the JSON's dict)."""
    p, results = report['provenance'], report['results']
    md = [f'# gpu_validation.sh{" --dry-run" if report["dry_run"] else ""}: {"OK" if report["ok"] else "FAILED"} in '
          f'{report["seconds"]} s (budget {report["budget_s"]} s)', '',
          f'{p.get("card")} (compute capability {p.get("capability", "-")}), driver {p.get("driver")}, CUDA {p.get("cuda")}, '
          f'torch {p.get("torch")}, nvcc {p.get("nvcc")}, Python {p.get("python")}; build cache {report["cache_dir"]}', '',
          '| step | status | seconds | timeout s |', '|---|---|---|---|']
    md += [f'| {s["name"]} | {s["status"]} | {s["seconds"]} | {s["timeout_s"]} |' for s in report['steps']]
    if report['reference_ran']:
        md += ['', '**Ran on the PyTorch reference, not the kernel:**'] + [f'- {r}' for r in report['reference_ran']]
    if results.get('cuda_tests'):
        t = results['cuda_tests']
        md += ['', f'CUDA tests: {t.get("passed", 0)} passed, {t.get("failed", 0)} failed, {t.get("skipped", 0)} skipped']
        md += [f'- skipped: {r}' for r in t['skip_reasons']]
    if results.get('bench_kernel'):
        b = results['bench_kernel']
        md += ['', f'bench kernel ({b["timing"]}; copy bandwidth {b["copy_gbs"]:.0f} GB/s):', '', format_header()]
        md += [format_row(r) for r in b['rows']]
        if b['left_out']:
            md += ['', f'{len(b["left_out"])} case(s) left out by --max-seconds']
    if results.get('bench_loss'):
        r = results['bench_loss']
        md += ['', 'bench loss, LinkLoss / base step (wall / cpu): ' + ', '.join(f'{w}x / {c}x' for w, c in r['ratios'])]
        md += ['', '```', r['text'][-3000:].strip(), '```']
    return '\n'.join(md) + '\n'


def write_report(out, dry, seconds, upstream=None):
    """Writes OUT/gpu_validation.json and OUT/summary.md; returns the report."""
    steps = read_steps(out)
    results, reference = ({}, []) if dry else collect_results(out, steps)
    report = dict(dry_run=dry, ok=all(s['status'] in ('passed', 'checked') for s in steps) and not reference,
                  seconds=seconds, budget_s=SUMMARY_TIMEOUT_S + sum(s['timeout_s'] for s in steps
                                                                    if not s['name'].startswith(UNBUDGETED)),
                  upstream=upstream or None, cache_dir=os.environ.get('LINKGAN_CACHE_DIR'),
                  provenance=provenance('cuda' if torch.cuda.is_available() else 'cpu'), steps=steps,
                  reference_ran=reference, results=results)
    with open(os.path.join(out, 'gpu_validation.json'), 'w') as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(out, 'summary.md'), 'w') as f:
        f.write(summary_markdown(report))
    return report


def main(argv):
    out, dry, seconds = argv[0], argv[1] == '1', int(argv[2])
    report = write_report(out, dry, seconds, argv[3] if len(argv) > 3 else None)
    print(summary_markdown(report), end='')
    print(f'wrote {os.path.join(out, "gpu_validation.json")} and summary.md')
    return 0 if report['ok'] else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))

#----------------------------------------------------------------------------
