"""Lambda calibrated, not inherited: `calibrate` (the gradient ratio at the start), `lambda-sweep` (recipes set in
ratios, the frontier and the rule fixed before the seeds), `finetune-curve`'s length rule."""

import json

import pytest
from click.testing import CliRunner

from linkgan_plugin.checks import OptionError
from linkgan_plugin.demo.baseline import BASELINE_FILE
from linkgan_plugin.demo.scenes import scene_of
from linkgan_research.calibration import lambda_for, one_link_spec
from linkgan_research.cli import main
from linkgan_research.finetune_curve import chosen_length, merge
from linkgan_research.sweep import final_recipes, parse_ratios, pick, sweep_recipes

FACES_BASELINE = BASELINE_FILE.replace('demo_baseline.pt', scene_of('faces').baseline)
CALIBRATION = {'links': {'eyes': {'ratio': 2.0}, 'nose': {'ratio': 4.0}}}


def test_calibrate_measures_each_link_at_lambda_one(tmp_path, one_thread):
    out = tmp_path / 'cal.json'
    result = CliRunner().invoke(main, ['calibrate', '--baseline', FACES_BASELINE, '--links', 'eyes', '--link-steps', '2',
                                       '--out', str(out)])
    assert result.exit_code == 0, result.output
    cal = json.loads(out.read_text())
    eyes = cal['links']['eyes']
    assert cal['scene'] == 'faces' and eyes['link_steps'] == 2 and eyes['axes'] == '0:16'
    assert eyes['ratio'] > 0 and eyes['ratio_range'][0] <= eyes['ratio'] <= eyes['ratio_range'][1]
    assert -1 <= eyes['cosine'] <= 1
    assert lambda_for(cal, 'eyes', 3.0) == pytest.approx(3.0 / eyes['ratio'])


def test_a_link_the_scene_does_not_have_is_named():
    with pytest.raises(OptionError, match="'ears' is not a built-in link of the faces scene"):
        one_link_spec('faces', 'ears')


def test_a_sweep_with_no_points_is_refused():
    for text in ('', ' , ', None):
        with pytest.raises(OptionError, match='no points'):
            parse_ratios(text)
    with pytest.raises(OptionError, match='> 0'):
        parse_ratios('1,-2')
    assert parse_ratios('1, 2.5,10') == [1.0, 2.5, 10.0]


def test_sweep_recipes_set_lambda_from_the_ratio():
    recipes = sweep_recipes(CALIBRATION, 'faces', 'nose', [1.0, 8.0], 32, adaptive=4.0)
    assert recipes['ratio-1']['spec']['lambda_in'] == 0.25 and recipes['ratio-8']['spec']['lambda_out'] == 2.0
    assert [l['name'] for l in recipes['ratio-8']['spec']['links']] == ['nose']
    assert recipes['adaptive-4']['spec']['grad_ratio'] == 4.0
    assert all(r['settings'] == {'finetune_kimg': 32} for r in recipes.values())
    with pytest.raises(OptionError, match="'mouth' is not in the calibration"):
        sweep_recipes(CALIBRATION, 'faces', 'mouth', [1.0], 32)


def test_the_rule_picks_the_most_local_recipe_that_keeps_recall():
    points = [{'recipe': 'a', 'locality': 0.5, 'recall_ratio': 0.98, 'quality_ratio': 1.0},
              {'recipe': 'b', 'locality': 0.2, 'recall_ratio': 0.91, 'quality_ratio': 1.2},
              {'recipe': 'c', 'locality': 0.1, 'recall_ratio': 0.70, 'quality_ratio': 1.1},    # Loses recall.
              {'recipe': 'd', 'locality': 0.15, 'recall_ratio': 0.95, 'quality_ratio': 1.4}]   # SWD past 1.25x.
    assert pick(points) == (points[1], True)
    worse = [dict(p, recall_ratio=p['recall_ratio'] - 0.3) for p in points]
    assert pick(worse) == (worse[0], False)                     # None qualifies: the best recall, marked.


def test_the_length_rule_waits_for_the_locality_ratio_to_settle():
    def rows(localities):
        return [{'kimg': 8.0 * i, 'locality': v, 'recall': 0.5, 'swd': 10.0, 'edit_i': 1.0} for i, v in enumerate(localities)]
    curve = merge({'control': rows([1.0] * 6), 'linked': rows([1.0, 0.6, 0.4, 0.31, 0.30, 0.29])})
    assert [round(r['locality_ratio'], 2) for r in curve] == [1.0, 0.6, 0.4, 0.31, 0.3, 0.29]
    assert chosen_length(curve) == 24.0                         # 0.31 is within 10% of 0.29; 0.4 is not.


def test_the_pick_applies_to_every_link_with_its_own_calibration():
    front = {'pick': {'ratio': 8.0, 'adaptive': False}}
    recipes = final_recipes(front, CALIBRATION, 'faces', 48)
    assert set(recipes) == {'eyes', 'nose'}
    assert recipes['eyes']['spec']['lambda_in'] == 4.0 and recipes['nose']['spec']['lambda_in'] == 2.0
    assert recipes['nose']['spec']['links'][0]['name'] == 'nose' and recipes['eyes']['settings'] == {'finetune_kimg': 48}
    adaptive = final_recipes({'pick': {'ratio': 3.0, 'adaptive': True}}, CALIBRATION, 'faces', 48)
    assert all(r['spec']['grad_ratio'] == 3.0 and r['spec']['lambda_in'] == 1.0 for r in adaptive.values())
