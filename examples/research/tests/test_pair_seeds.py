"""linkgan_research.pair_seeds: linked / control ratios of several seeds (real pair.json, toy study.json), each
seed's row and each group's mean and range."""

import json

import pytest

from linkgan_research import pair_seeds


def _module():
    return pair_seeds


def _values(locality):
    return {'a': {'locality': locality, 'mse_i': 0.1, 'mse_o': 0.2}}


def _pair(locality, swd_control, control_locality=1.0):
    return {'ratios': {'a': {'locality': locality / control_locality, 'mse_i': 0.5, 'mse_o': 0.25, 'edit_i': 1.0}},
            'models': {'linked': _values(locality), 'control': _values(control_locality)},
            'quality_ratio': 0.9, 'quality': {'control': swd_control, 'linked': 1.0}, 'quality_floor': 2.0,
            'coverage': {'control': {'recall': 0.1}, 'linked': {'recall': 0.2}}}


def test_real_and_toy_seeds_are_grouped_with_mean_and_range(tmp_path):
    seeds = _module()
    (tmp_path / 's0.json').write_text(json.dumps(_pair(0.2, 40.0)))
    (tmp_path / 's1.json').write_text(json.dumps(_pair(0.6, 20.0)))
    toy_row = {'recipe': 'r', 'link': 'a', 'locality': 0.3, 'mse_i': 0.1, 'mse_o': 0.2, 'quality_ratio': 1.2,
               'linked_recall': 0.3, 'control_recall': 0.4, 'control_quality': 8.0, 'quality_floor': 2.0,
               'linked_values': _values(0.3)['a'], 'control_values': _values(0.6)['a']}
    (tmp_path / 'toy.json').write_text(json.dumps({'rows': [toy_row]}))
    r = seeds.summarize([('real-s0', str(tmp_path / 's0.json')), ('real-s1', str(tmp_path / 's1.json')),
                         ('toy-s0', str(tmp_path / 'toy.json'))])
    assert r['seeds']['real-s1']['a/locality'] == 0.6 and r['seeds']['real-s1']['control_swd_over_floor'] == 10.0
    assert r['groups']['real']['a/locality'] == pytest.approx({'mean': 0.4, 'min': 0.2, 'max': 0.6, 'n': 2})
    assert r['groups']['toy']['recall_control'] == {'mean': 0.4, 'min': 0.4, 'max': 0.4, 'n': 1}
    text = seeds.markdown(r)
    assert '| **real: mean [min, max] of 2** | 0.400 [0.200, 0.600] |' in text
    assert r['seeds']['toy-s0']['a/locality'] == pytest.approx(0.5)      # the ratio 0.3 / 0.6, not the value 0.3
    toy_floor = r['noise_floor']['toy']['a/locality']                          # one seed: no spread, no verdict
    assert toy_floor['control_spread'] is None and toy_floor['separated'] is None
    assert '| toy | a/locality | 0.3 | 0.6 | n/a | n/a |' in text


def test_noise_floor_is_the_controls_spread_and_asks_whether_linked_values_are_separated(tmp_path):
    seeds = _module()
    (tmp_path / 's0.json').write_text(json.dumps(_pair(0.2, 40.0, control_locality=2.0)))
    (tmp_path / 's1.json').write_text(json.dumps(_pair(0.6, 20.0, control_locality=1.0)))
    (tmp_path / 's2.json').write_text(json.dumps(_pair(1.5, 20.0, control_locality=1.2)))
    two = seeds.summarize([(f'real-s{i}', str(tmp_path / f's{i}.json')) for i in (0, 1)])
    floor = two['noise_floor']['real']['a/locality']
    assert floor['control'] == [2.0, 1.0] and floor['linked'] == [0.2, 0.6]
    assert floor['control_spread'] == pytest.approx(2.0) and floor['separated']
    assert not two['noise_floor']['real']['a/mse_i']['separated']                 # equal values are not separated
    three = seeds.summarize([(f'real-s{i}', str(tmp_path / f's{i}.json')) for i in (0, 1, 2)])
    assert not three['noise_floor']['real']['a/locality']['separated']            # 1.5 lies inside [1.0, 2.0]
    assert '| real | a/locality | 0.2, 0.6, 1.5 | 2, 1, 1.2 | 2.00x | no |' in seeds.markdown(three)


def test_a_study_of_several_recipes_is_refused(tmp_path):
    seeds = _module()
    rows = [{'recipe': name, 'link': 'a'} for name in ('r1', 'r2')]
    (tmp_path / 'study.json').write_text(json.dumps({'rows': rows}))
    with pytest.raises(SystemExit, match='give a study of one recipe'):
        seeds.seed_row(str(tmp_path / 'study.json'))
