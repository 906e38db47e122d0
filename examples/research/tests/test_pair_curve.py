"""`linkgan-research pair-curve`: snapshots paired by kimg, the learned rule, resumable rows, the report."""

import json

from click.testing import CliRunner

from linkgan_research import pair_curve
from linkgan_research.cli import main


def _pair(root, control_kimgs, linked_kimgs):
    for role, kimgs in (('control', control_kimgs), ('linked', linked_kimgs)):
        run = root / role / '00000-run'
        run.mkdir(parents=True)
        for k in kimgs:
            (run / f'network-snapshot-{k:06d}.pkl').write_bytes(b'')
    return root


def _measured(recall, locality):
    return {'swd': 100.0, 'swd_floor': 10.0, 'recall': recall, 'recall_floor': 0.9, 'precision': 0.8,
            'links': {'a': {'locality': locality, 'mse_i': 0.1, 'mse_o': 0.1, 'edit_i': 1.0, 'keep_o': 1.0}}}


def test_snapshots_pair_by_kimg_every_n(tmp_path):
    pair = _pair(tmp_path / 'p', (0, 4, 8, 12, 16), (0, 4, 8, 12))
    got = pair_curve.paired_snapshots(str(pair), 8)
    assert [k for k, _ in got] == [8.0]                       # 0 is the start; 16 has no linked snapshot yet.
    assert got[0][1]['linked'].endswith('network-snapshot-000008.pkl')
    assert [k for k, _ in pair_curve.paired_snapshots(str(pair), 4)] == [4.0, 8.0, 12.0]


def test_learned_is_a_third_of_the_real_recall_and_ratios_are_linked_over_control():
    rows = [{'kimg': k, 'control': _measured(r, 1.0), 'linked': _measured(r / 2, 0.25)}
            for k, r in ((8, 0.1), (16, 0.29), (24, 0.31), (32, 0.5))]
    summary = pair_curve.curve_summary(rows)
    assert summary['learned_kimg'] == 24                       # 0.31 >= 0.9 / 3 = 0.3; 0.29 is not.
    assert summary['ratios']['a']['locality'] == 0.25 and summary['ratios']['recall'] == 0.5
    assert pair_curve.curve_summary(rows[:2])['learned_kimg'] is None
    assert 'has not learned the data by 16 kimg' in pair_curve.curve_markdown(rows[:2], pair_curve.curve_summary(rows[:2]), 'cmd')


def test_the_command_measures_only_new_snapshots(tmp_path, monkeypatch):
    pair = _pair(tmp_path / 'p', (0, 8), (0, 8))
    calls = []

    def fake_measure(path, *args):
        calls.append(path)
        return _measured(0.5 if '000016' in path else 0.1, 1.0 if 'control' in path else 0.4)
    monkeypatch.setattr(pair_curve, 'measure_snapshot', fake_measure)
    args = ['pair-curve', str(pair), '--data', str(pair), '--spec', __file__, '--upstream', str(pair), '--out',
            str(tmp_path / 'out')]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert len(calls) == 2
    for role in ('control', 'linked'):                        # The pair trains on: a 16-kimg snapshot appears.
        (pair / role / '00000-run' / 'network-snapshot-000016.pkl').write_bytes(b'')
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert len(calls) == 4 and all('000016' in p for p in calls[2:])
    record = json.loads((tmp_path / 'out' / 'curve.json').read_text())
    assert [r['kimg'] for r in record['rows']] == [8.0, 16.0] and record['summary']['learned_kimg'] == 16.0
    assert (tmp_path / 'out' / 'curve.png').stat().st_size > 0
    assert 'Linked / control at 16 kimg' in (tmp_path / 'out' / 'curve.md').read_text()


def test_no_paired_snapshot_is_a_clear_error(tmp_path):
    pair = _pair(tmp_path / 'p', (0,), ())
    result = CliRunner().invoke(main, ['pair-curve', str(pair), '--data', str(pair), '--spec', __file__, '--upstream',
                                       str(pair), '--out', str(tmp_path / 'out')])
    assert result.exit_code != 0 and 'no kimg at which both roles have a snapshot' in result.output
