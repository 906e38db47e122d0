"""linkgan_research.side_by_side: the real pair's and the toy study's linked / control ratios, side by side,
with direction and order-of-magnitude agreement."""

import json

from linkgan_research import side_by_side


def _module():
    return side_by_side


def _metrics(scale):
    return {m: scale for m in ('mse_i', 'mse_o', 'edit_i', 'edit_o', 'keep_o', 'locality')}


def test_ratios_are_matched_by_link_and_judged(tmp_path):
    sbs = _module()
    (tmp_path / 'pair').mkdir()
    (tmp_path / 'toy').mkdir()
    pair = {'ratios': {'a': {**_metrics(0.5), 'locality': 0.9}},
            'models': {'linked': {'a': _metrics(0.9)}, 'control': {'a': _metrics(1.0)}},
            'quality_ratio': 1.5, 'recall_ratio': 0.5, 'quality': {'control': 4.0, 'linked': 6.0}, 'quality_floor': 1.0,
            'coverage': {'control': {'recall': 0.2}, 'linked': {'recall': 0.1}},
            'coverage_floor': {}, 'coverage_space': {}, 'settings': {}, 'runs': {'control': {'kimg': 1, 'seconds': 2,
                                                                                             'sec_per_kimg': 2}}}
    toy_row = {'link': 'a', **_metrics(0.04), 'edit_i': 1.5, 'locality': 0.05,
               'linked_values': {'locality': 0.05}, 'control_values': {'locality': 0.5}, 'quality_ratio': 2.0,
               'recall_ratio': 0.7, 'linked_quality': 2, 'control_quality': 1, 'quality_floor': 0.5,
               'linked_recall': 0.4, 'control_recall': 0.6, 'recall_floor': 0.9}
    (tmp_path / 'pair' / 'pair.json').write_text(json.dumps(pair))
    (tmp_path / 'toy' / 'study.json').write_text(json.dumps({'rows': [toy_row], 'settings': {}}))
    r = sbs.side_by_side(str(tmp_path))
    a = r['links']['a']
    assert a['mse_i'] == {'real': 0.5, 'toy': 0.04, 'same_direction': True, 'same_order_of_magnitude': False}
    assert a['edit_i']['same_direction'] is False and a['edit_i']['same_order_of_magnitude'] is True
    assert a['locality']['same_direction'] is False                     # 0.9 is within 10% of 1: flat.
    assert a['locality_values'] == {'real': {'linked': 0.9, 'control': 1.0}, 'toy': {'linked': 0.05, 'control': 0.5}}
    assert r['quality']['swd_ratio']['same_direction'] and r['quality']['recall_ratio']['same_direction']
    text = sbs.markdown(r)
    assert '| a | locality | 0.900 | 0.100 | no | yes |' in text          # the toy's ratio 0.05 / 0.5, not its value
    assert r['quality']['control_learned'] == {'real': {'swd_over_floor': 4.0, 'recall': 0.2},
                                               'toy': {'swd_over_floor': 2.0, 'recall': 0.6}}
    assert 'real: SWD 4.0x its real-vs-real floor, recall 0.20; toy: SWD 2.0x' in text


def test_zero_recalls_give_an_undefined_ratio_not_a_crash(tmp_path):
    sbs = _module()
    a = sbs.agreement(None, 0.79)
    assert a == {'real': None, 'toy': 0.79, 'same_direction': None, 'same_order_of_magnitude': None}
    r = {'links': {}, 'quality': {'swd_ratio': sbs.agreement(0.98, 1.27), 'recall_ratio': a,
                                  'control_learned': {'real': {'swd_over_floor': 28.4, 'recall': 0.0}}}}
    assert '| quality | recall_ratio | n/a | 0.790 | n/a | n/a |' in sbs.markdown(r)
