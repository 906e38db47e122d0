"""examples/gpu_validation.sh: --dry-run plans and checks every step with its timeout within the 8-minute budget on a
CPU-only machine (as CI does), and its summary (linkgan_plugin/ops/validation.py) fails a run in which anything ran
on the PyTorch reference instead of the kernel."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from linkgan_plugin.ops import validation
from toy_checkpoints import read_text

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, 'examples', 'gpu_validation.sh')
STEPS = ['doctor', 'cuda_tests', 'bench_kernel', 'bench_loss']


def _dry_run(out, *args):
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1')
    env.pop('LINKGAN_CACHE_DIR', None)
    proc = subprocess.run(['bash', SCRIPT, '--dry-run', '--out', str(out), *args], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout
    return json.loads((out / 'gpu_validation.json').read_text()), proc.stdout


@pytest.mark.skipif(shutil.which('bash') is None, reason='bash is not installed')
def test_dry_run_plans_and_checks_every_step_within_8_minutes(tmp_path):
    report, stdout = _dry_run(tmp_path / 'gv')
    assert report['dry_run'] is True and report['ok'] is True and report['results'] == {}
    steps = {s['name']: s for s in report['steps']}
    assert list(steps) == STEPS
    for name, s in steps.items():
        assert s['status'] == 'checked', (name, read_text(s['log']))
        assert s['timeout_s'] > 0 and f'{name} (' in stdout and f'of {s["timeout_s"]} s)' in stdout
    assert report['budget_s'] == sum(s['timeout_s'] for s in steps.values()) + validation.SUMMARY_TIMEOUT_S <= 480
    assert report['cache_dir'] == str(tmp_path / 'gv' / 'cache')            # Builds inside the output folder.
    assert 'doctor --strict' in steps['doctor']['command']
    for test_file in ('test_ops_gpu.py', 'test_ops_batch_independence.py', 'test_ops_masked_diff.py', 'test_ops_build.py',
                      'test_ops_cuda_source.py'):
        assert test_file in steps['cuda_tests']['command'], test_file
    assert '--training' in steps['bench_kernel']['command'] and '--json' in steps['bench_kernel']['command']
    assert '--device cuda' in steps['bench_loss']['command']
    assert {'card', 'torch', 'cuda', 'nvcc', 'driver'} <= set(report['provenance'])
    summary = (tmp_path / 'gv' / 'summary.md').read_text()
    assert summary.startswith('# gpu_validation.sh --dry-run: OK') and '| bench_kernel | checked |' in summary


@pytest.mark.skipif(shutil.which('bash') is None, reason='bash is not installed')
def test_dry_run_with_upstream_plans_the_smoke_steps_outside_the_budget(tmp_path):
    (tmp_path / 'sg2ada').mkdir()
    report, _ = _dry_run(tmp_path / 'gv', '--upstream', str(tmp_path / 'sg2ada'))
    steps = {s['name']: s for s in report['steps']}
    assert list(steps) == STEPS + ['scenes', 'smoke_base', 'smoke_links4']
    assert all(s['status'] == 'checked' for s in steps.values()), [read_text(s['log']) for s in steps.values()]
    assert report['budget_s'] == sum(steps[n]['timeout_s'] for n in STEPS) + validation.SUMMARY_TIMEOUT_S


def test_unknown_argument_and_no_gpu_without_dry_run(tmp_path):
    proc = subprocess.run(['bash', SCRIPT, '--bogus'], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.returncode == 2 and 'unknown argument --bogus' in proc.stdout
    import torch
    if not torch.cuda.is_available():
        env = dict(os.environ, PYTHON=sys.executable)
        proc = subprocess.run(['bash', SCRIPT, '--out', str(tmp_path / 'x')], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
        assert proc.returncode == 2 and '--dry-run' in proc.stdout

#----------------------------------------------------------------------------
# The summary of a real run, from fabricated step logs.

def _fake_run(out, doctor_ready=2, kernel_path='cuda', loss_path='cuda', smoke_keys=('Linkgan/masked_diff/cuda',),
              status='passed'):
    logs = {'doctor': 'cpu   ready in 0.1 s\n' * min(doctor_ready, 1) + 'cuda  ready in 80.0 s\n' * max(doctor_ready - 1, 0),
            'cuda_tests': 'SKIPPED [1] tests/test_ops_gpu.py:115: needs two GPUs (device guard on cuda:1)\n'
                          '120 passed, 1 skipped in 90.0s\n',
            'bench_kernel': '', 'bench_loss': f'  ratio      1.100 wall            1.050 cpu\nmasked_diff ran on: {loss_path} '
                                              f'(10 calls on cuda tensors; tensors are on cuda)\n'}
    with open(out / 'steps.tsv', 'w') as f:
        for name, text in logs.items():
            (out / f'{name}.log').write_text(text)
            f.write(f'{name}\t{status if name == "bench_kernel" else "passed"}\t1\t60\t{out / name}.log\tcmd\n')
    (out / 'bench_kernel.json').write_text(json.dumps(dict(
        card='NVIDIA H100', copy_gbs=3000.0, timing='cuda events, L2 flushed', rows=[], left_out=[],
        paths=[dict(device='cuda', path=kernel_path, reason='tensors are on cuda', calls=5)])))
    run = out / 'smoke_links4' / '00000-run'
    run.mkdir(parents=True)
    (run / 'stats.jsonl').write_text(json.dumps({k: {'num': 1, 'mean': 1.0} for k in smoke_keys}) + '\n{"cut short')


@pytest.mark.parametrize('broken, why', [
    ({}, None),
    ({'doctor_ready': 1}, 'doctor'),
    ({'kernel_path': 'ref'}, 'bench_kernel: 5 calls on the reference'),
    ({'loss_path': 'ref'}, 'bench_loss: ref'),
    ({'smoke_keys': ('Linkgan/masked_diff/ref',)}, 'smoke:'),
    ({'smoke_keys': ()}, 'smoke:'),
    ({'status': 'timeout'}, None),
])
def test_summary_fails_a_run_that_ran_on_the_reference_or_timed_out(tmp_path, monkeypatch, broken, why):
    monkeypatch.setenv('LINKGAN_CACHE_DIR', str(tmp_path / 'cache'))
    _fake_run(tmp_path, **broken)
    report = validation.write_report(str(tmp_path), dry=False, seconds=300)
    assert report['ok'] is (not broken)
    if why:
        assert len(report['reference_ran']) == 1 and report['reference_ran'][0].startswith(why), report['reference_ran']
    else:
        assert report['reference_ran'] == []
    assert report['results']['cuda_tests'] == {'passed': 120, 'skipped': 1,
                                               'skip_reasons': ['needs two GPUs (device guard on cuda:1)']}
    assert report['results']['bench_loss']['ratios'] == [['1.100', '1.050']]
    summary = (tmp_path / 'summary.md').read_text()
    assert ('OK' if not broken else 'FAILED') in summary.splitlines()[0]
    assert ('Ran on the PyTorch reference' in summary) is bool(why)
