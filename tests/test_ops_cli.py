"""`linkgan doctor` and `linkgan bench kernel` (on tiny shapes: the real benchmark is run by hand)."""

import json

import pytest
import torch
from click.testing import CliRunner

from linkgan_plugin.cli import main


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
    assert report['kernel'] == 'cpu' and report['copy_gbs'] > 0
    rows = report['rows']
    assert [(r['links'], r['pass_']) for r in rows] == [(1, 'fwd'), (1, 'fwd+bwd'), (2, 'fwd'), (2, 'fwd+bwd')]
    for r in rows:
        assert r['eager_ms'] > 0 and r['fused_ms'] > 0 and r['fused_gbs'] > 0
        assert r['eager_over_fused'] == pytest.approx(r['eager_ms'] / r['fused_ms'])
    assert result.output.count('| 2x3x16x16 |') == 4


def test_bench_kernel_rejects_bad_shape():
    result = CliRunner().invoke(main, ['bench', 'kernel', '--shape', '2x3x16'])
    assert result.exit_code != 0 and 'BxCxHxW' in result.output
