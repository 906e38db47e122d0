"""`linkgan doctor` and `linkgan bench kernel` (on tiny shapes: the real benchmark is run by hand; the CUDA timing
runs in examples/gpu_validation.sh, its plan and its rows' arithmetic here)."""

import json

import pytest
import torch
from click.testing import CliRunner

from linkgan_plugin.cli import main
from linkgan_plugin.ops import bench


def test_doctor_reports_versions_path_and_build(cpu_kernel, monkeypatch):
    monkeypatch.delenv('LINKGAN_KERNEL', raising=False)
    result = CliRunner().invoke(main, ['doctor'])
    assert result.exit_code == 0, result.output
    out = result.output
    for needle in ('torch', torch.__version__, 'nvcc', 'ninja', 'C++ compiler', 'cache root',
                   'cpu   tensors -> cpu', 'ready in', 'self-check vs reference'):
        assert needle in out, needle
    rel = float(out.split('max relative difference')[1].split()[0])
    assert rel < 1e-5


def test_doctor_explains_a_forced_reference(monkeypatch):
    monkeypatch.setenv('LINKGAN_KERNEL', 'ref')
    result = CliRunner().invoke(main, ['doctor', '--no-build'])
    assert result.exit_code == 0, result.output
    assert 'cpu   tensors -> ref' in result.output and 'LINKGAN_KERNEL=ref' in result.output
    assert 'Build: skipped (--no-build)' in result.output


def test_bench_kernel_writes_side_by_side_rows(cpu_kernel, tmp_path):
    path = tmp_path / 'bench.json'
    result = CliRunner().invoke(main, ['bench', 'kernel', '--device', 'cpu', '--shape', '2x3x16x16', '--links', '1', '--links', '2',
                                       '--reps', '1', '--no-compile', '--json', str(path)])
    assert result.exit_code == 0, result.output
    report = json.loads(path.read_text())
    assert report['kernel'] == 'cpu' and report['copy_gbs'] > 0 and report['timing'] == 'host clock'
    assert {'card', 'torch', 'cuda', 'nvcc', 'driver', 'threads'} <= set(report)
    assert [(p['path'], p['reason']) for p in report['paths']] == [('cpu', "impl='cpu' forces it")]  # The kernel ran.
    rows = report['rows']
    assert [(r['links'], r['pass_']) for r in rows] == [(1, 'fwd'), (1, 'fwd+bwd'), (2, 'fwd'), (2, 'fwd+bwd')]
    for r in rows:
        assert r['eager_ms'] > 0 and r['fused_ms'] > 0 and r['fused_gbs'] > 0
        assert r['eager_over_fused'] == pytest.approx(r['eager_ms'] / r['fused_ms'])
    assert result.output.count('| 2x3x16x16 |') == 4


def test_bench_kernel_rejects_bad_shape():
    result = CliRunner().invoke(main, ['bench', 'kernel', '--shape', '2x3x16'])
    assert result.exit_code != 0 and 'BxCxHxW' in result.output


def test_bench_kernel_training_plan_covers_the_training_sizes():
    result = CliRunner().invoke(main, ['bench', 'kernel', '--training', '--plan'])
    assert result.exit_code == 0, result.output
    rows = [line.split(': ', 1)[1] for line in result.output.splitlines() if line.startswith('plan: ')]
    cases = {(line.split(':')[0]) for line in rows}
    want = {f'{b}x3x{r}x{r} links {k} {d} {p}' for b in (32, 64) for r in (256, 1024) for k in (1, 2, 4, 8)
            for d in ('fp32', 'fp16') for p in ('fwd', 'fwd+bwd')}
    assert cases == want and len(rows) == len(want)
    compiled = [line.split(':')[0] for line in rows if 'compiled' in line]
    assert compiled == [f'32x3x{size} links 4 {dtype} {p}' for size, dtype in (('256x256', 'fp32'), ('1024x1024', 'fp16'))
                        for p in ('fwd', 'fwd+bwd')]
    assert rows[0].startswith('32x3x256x256 links 4 fp32 fwd')         # The compiled cases first: --max-seconds keeps them.


def test_bench_rows_ratios_and_share_of_copy_bandwidth():
    case = dict(shape=(2, 3, 8, 8), links=2, dtype='fp16', compile=True)
    row = bench.row_of(case, 'fwd', {'fused': 2.0, 'eager': 10.0, 'compiled': 3.0}, {'fused': 0.1, 'eager': 0.1,
                       'compiled': 5.003}, nbytes=4e9, copy_gbs=4000.0, rounds=7)
    assert row['eager_over_fused'] == 5 and row['compiled_over_fused'] == 1.5
    assert row['fused_gbs'] == pytest.approx(2000) and row['fused_of_copy'] == pytest.approx(0.5)
    assert row['compile_s'] == pytest.approx(5.0) and row['oom'] == []
    oom = bench.row_of(case, 'fwd+bwd', {'fused': 2.0}, {'fused': 0.1, 'eager': 'oom'}, 4e9, 4000.0, 7)
    assert oom['oom'] == ['eager'] and 'eager_over_fused' not in oom
    assert '| OOM |' in bench.format_row(oom) and '50%' in bench.format_row(row)


def test_bench_kernel_max_seconds_leaves_cases_out(cpu_kernel, tmp_path):
    path = tmp_path / 'bench.json'
    result = CliRunner().invoke(main, ['bench', 'kernel', '--device', 'cpu', '--shape', '2x3x16x16', '--links', '1',
                                       '--no-compile', '--max-seconds', '0', '--json', str(path)])
    assert result.exit_code == 0, result.output
    report = json.loads(path.read_text())
    assert report['rows'] == [] and report['paths'] == []
    assert report['left_out'] == [dict(shape=[2, 3, 16, 16], links=1, dtype='fp32', compile=False)]
