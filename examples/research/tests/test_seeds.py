"""`linkgan-research study-seeds`: mean and range over seeds, and the control's own spread as the noise floor."""

import json

import pytest
from click.testing import CliRunner

from linkgan_research.cli import main
from linkgan_research.seeds import read_seed, summarise_seeds


def _study(folder, seed, locality, control_locality, quality_ratio, control_swd=None, extra_recipe=False, recall=None):
    rows = [{'recipe': 'scratch-noise', 'link': link, 'mse_i': 0.2, 'mse_o': 0.1, 'edit_i': 1.5, 'keep_o': 1.1,
             'quality_ratio': quality_ratio, 'locality': locality[i], 'control_locality': control_locality[i]}
            for i, link in enumerate(('top_left', 'bottom_right'))]
    if recall is not None:                  # (linked, control): a study evaluated with the coverage measure.
        for r in rows:
            r.update(linked_recall=recall[0], control_recall=recall[1], recall_ratio=recall[0] / recall[1])
    if extra_recipe:
        rows.append({**rows[0], 'recipe': 'only-here'})
    folder.mkdir()
    (folder / 'study.json').write_text(json.dumps({'rows': rows, 'settings': {'seed': seed}, 'recipes': {}}))
    if control_swd is not None:
        (folder / 'runs').mkdir()
        (folder / 'runs' / 'control-abc.json').write_text(json.dumps(
            {'job': 'control-abc', 'evaluations': {'k': {'quality': {'mean': control_swd}}}}))
    return str(folder)


def test_mean_range_and_control_spread(tmp_path):
    a = _study(tmp_path / 's0', 0, [0.1, 0.2], [1.0, 0.8], 1.2, control_swd=80.0, extra_recipe=True)
    b = _study(tmp_path / 's1', 1, [0.3, 0.1], [1.2, 0.9], 1.4, control_swd=90.0)
    summary = summarise_seeds([read_seed(a), read_seed(b)])
    assert summary['seeds'] == [0, 1]
    assert [r['recipe'] for r in summary['rows']] == ['scratch-noise', 'scratch-noise']     # 'only-here' is in one seed.
    top = summary['rows'][0]
    assert top['per_seed']['locality'] == [0.1, 0.3]
    assert top['mean']['locality'] == pytest.approx(0.2) and top['min']['locality'] == 0.1 and top['max']['locality'] == 0.3
    assert top['mean']['quality_ratio'] == pytest.approx(1.3)
    assert summary['control_spread']['locality'] == {'top_left': [1.0, 1.2], 'bottom_right': [0.8, 0.9]}
    assert summary['control_spread']['quality'] == [80.0, 90.0]
    assert top['mean']['recall_ratio'] is None and top['count']['recall_ratio'] == 0


def test_recall_ratio_over_the_seeds_that_have_it(tmp_path):
    # Seed 0 predates the coverage measure: the recall mean is over seeds 1 and 2 and says so.
    studies = [_study(tmp_path / 's0', 0, [0.1, 0.2], [1.0, 0.8], 1.2),
               _study(tmp_path / 's1', 1, [0.3, 0.1], [1.2, 0.9], 1.4, recall=(0.3, 0.6)),
               _study(tmp_path / 's2', 2, [0.2, 0.1], [1.1, 0.9], 1.1, recall=(0.4, 0.5))]
    summary = summarise_seeds([read_seed(s) for s in studies])
    top = summary['rows'][0]
    assert top['per_seed']['recall_ratio'] == [None, 0.5, 0.8] and top['count']['recall_ratio'] == 2
    assert top['mean']['recall_ratio'] == pytest.approx(0.65) and top['min']['recall_ratio'] == 0.5
    assert top['count']['locality'] == 3
    r = CliRunner().invoke(main, ['study-seeds', *studies, '--out', str(tmp_path / 'sum')])
    assert r.exit_code == 0, r.output
    assert '0.650 [0.500-0.800] (2 seeds)' in (tmp_path / 'sum.md').read_text()


def test_command_writes_table_and_refuses_a_repeated_seed(tmp_path):
    a = _study(tmp_path / 's0', 0, [0.1, 0.2], [1.0, 0.8], 1.2)
    b = _study(tmp_path / 's1', 1, [0.3, 0.1], [1.2, 0.9], 1.4)
    out = tmp_path / 'seeds'
    result = CliRunner().invoke(main, ['study-seeds', a, b, '--recipe', 'scratch-noise', '--out', str(out)])
    assert result.exit_code == 0, result.output
    assert '0.200 [0.100-0.300]' in (tmp_path / 'seeds.md').read_text()
    assert json.loads((tmp_path / 'seeds.json').read_text())['seeds'] == [0, 1]
    result = CliRunner().invoke(main, ['study-seeds', a, a, '--out', str(out)])
    assert result.exit_code != 0 and 'share a seed' in result.output
    result = CliRunner().invoke(main, ['study-seeds', a, b, '--recipe', 'nope', '--out', str(out)])
    assert result.exit_code != 0 and 'no recipe and link' in result.output
