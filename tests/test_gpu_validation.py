"""examples/gpu_validation.sh --dry-run: every step planned and checked on a CPU-only machine (and in CI)."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from toy_checkpoints import read_text

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, 'examples', 'gpu_validation.sh')


@pytest.mark.skipif(shutil.which('bash') is None, reason='bash is not installed')
def test_dry_run_plans_and_checks_every_step(tmp_path):
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1')
    proc = subprocess.run(['bash', SCRIPT, '--dry-run', '--out', str(tmp_path / 'gv')], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout
    report = json.loads((tmp_path / 'gv' / 'gpu_validation.json').read_text())
    assert report['dry_run'] is True and report['ok'] is True and report['results'] == {}
    steps = {s['name']: s for s in report['steps']}
    assert [s for s in steps if s != 'pair'] == ['cuda_tests', 'bench_kernel', 'bench_loss', 'bench_loss_256']
    for name in ('cuda_tests', 'bench_kernel', 'bench_loss', 'bench_loss_256'):
        assert steps[name]['status'] == 'checked', (name, read_text(steps[name]['log']))
    assert '--json' in steps['bench_kernel']['command'] and '-k cuda' in steps['cuda_tests']['command']
    assert '--device cuda' in steps['bench_loss']['command'] and '--resolution 256' in steps['bench_loss_256']['command']
    assert steps['pair']['status'] == 'skipped' and '--upstream' in steps['pair']['command']
    summary = (tmp_path / 'gv' / 'summary.txt').read_text()
    assert 'OK' in summary.splitlines()[0] and 'bench_kernel' in summary


def test_unknown_argument_and_no_gpu_without_dry_run(tmp_path):
    proc = subprocess.run(['bash', SCRIPT, '--bogus'], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.returncode == 2 and 'unknown argument --bogus' in proc.stdout
    import torch
    if not torch.cuda.is_available():
        env = dict(os.environ, PYTHON=sys.executable)
        proc = subprocess.run(['bash', SCRIPT, '--out', str(tmp_path / 'x')], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
        assert proc.returncode == 2 and '--dry-run' in proc.stdout
