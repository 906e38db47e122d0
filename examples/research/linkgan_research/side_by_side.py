"""The real upstream pair against the toy loop's prediction of it, ratio by ratio (results/upstream_pair.md).

    linkgan-research side-by-side runs/upstream_pair [--out results/upstream_pair]

Reads RUN/pair/pair.json (`linkgan pair`: linked / control ratios of the real sg2ada train.py runs) and
RUN/toy/study.json (`linkgan-research study` with toy_recipes.json: the toy loop at the same length, batch and spec) and writes
side_by_side.json and side_by_side.md: per link and metric, the two linked / control ratios, whether they point the
same way (both below 1, both above, or both within 10% of 1) and whether they agree to an order of magnitude
(|log10(real / toy)| < 1); each network's own locality; quality (SWD ratio, recall ratio; the coverage spaces differ:
the pair measures recall in generic image features, the toy in the cells' factor space; a ratio of two zero recalls is
undefined: n/a); and whether each control learned the data at all (its SWD over the real-vs-real floor, its recall),
without which the two ratios compare networks in different states.
"""

import json
import math
import os

import click

from linkgan_plugin.cli.errors import Command
from linkgan_research.study import linked_over_control

METRICS = ('mse_i', 'mse_o', 'edit_i', 'keep_o', 'locality')


def direction(ratio):
    return 'flat' if abs(ratio - 1) <= 0.1 else ('down' if ratio < 1 else 'up')


def agreement(real, toy):
    """Both ratios and whether they agree; the judgements are None when a ratio is undefined (None: 0 / 0)."""
    if real is None or toy is None:
        return {'real': real, 'toy': toy, 'same_direction': None, 'same_order_of_magnitude': None}
    same_way = direction(real) == direction(toy)
    magnitude = abs(math.log10(real / toy)) < 1 if real > 0 and toy > 0 else False
    return {'real': real, 'toy': toy, 'same_direction': same_way, 'same_order_of_magnitude': magnitude}


def side_by_side(run_dir):
    with open(os.path.join(run_dir, 'pair', 'pair.json'), encoding='utf-8') as f:
        pair = json.load(f)
    with open(os.path.join(run_dir, 'toy', 'study.json'), encoding='utf-8') as f:
        study = json.load(f)
    toy_rows = {row['link']: row for row in study['rows']}
    links = {}
    for link, ratios in pair['ratios'].items():
        toy = toy_rows[link]
        links[link] = {m: agreement(ratios[m], linked_over_control(toy, m)) for m in METRICS}
        links[link]['locality_values'] = {
            'real': {'linked': pair['models']['linked'][link]['locality'],
                     'control': pair['models']['control'][link]['locality']},
            'toy': {'linked': toy['linked_values']['locality'], 'control': toy['control_values']['locality']}}
    first = next(iter(toy_rows.values()))
    quality = {'swd_ratio': agreement(pair['quality_ratio'], first['quality_ratio']),
               'recall_ratio': agreement(pair['recall_ratio'], first['recall_ratio']),
               'real': {'swd': pair['quality'], 'swd_floor': pair['quality_floor'], 'coverage': pair['coverage'],
                        'coverage_floor': pair['coverage_floor'], 'space': pair['coverage_space']},
               'toy': {'swd': {'linked': first['linked_quality'], 'control': first['control_quality']},
                       'swd_floor': first['quality_floor'],
                       'recall': {'linked': first['linked_recall'], 'control': first['control_recall']},
                       'recall_floor': first['recall_floor'], 'space': first.get('coverage_features')},
               # Did each control learn the data? A ratio between two networks that did not says little.
               'control_learned': {
                   'real': {'swd_over_floor': pair['quality']['control'] / pair['quality_floor'],
                            'recall': pair['coverage']['control']['recall']},
                   'toy': {'swd_over_floor': first['control_quality'] / first['quality_floor'],
                           'recall': first['control_recall']}}}
    runs = {role: {k: pair['runs'][role][k] for k in ('kimg', 'seconds', 'sec_per_kimg')} for role in pair['runs']}
    return {'links': links, 'quality': quality, 'real_runs': runs, 'real_settings': pair['settings'],
            'toy_settings': study['settings']}


def _judged(value):
    return 'n/a' if value is None else ('yes' if value else 'no')


def _ratio(value):
    return 'n/a' if value is None else f'{value:.3f}'


def markdown(r):
    lines = ['| link | metric | real ratio | toy ratio | same direction | same order of magnitude |', '|---|---|---|---|---|---|']
    for link, rows in r['links'].items():
        for m in METRICS:
            a = rows[m]
            lines.append(f'| {link} | {m} | {_ratio(a["real"])} | {_ratio(a["toy"])} | {_judged(a["same_direction"])} '
                         f'| {_judged(a["same_order_of_magnitude"])} |')
    for name in ('swd_ratio', 'recall_ratio'):
        a = r['quality'][name]
        lines.append(f'| quality | {name} | {_ratio(a["real"])} | {_ratio(a["toy"])} | {_judged(a["same_direction"])} '
                     f'| {_judged(a["same_order_of_magnitude"])} |')
    lines += ['', '| link | real locality linked (control) | toy locality linked (control) |', '|---|---|---|']
    for link, rows in r['links'].items():
        v = rows['locality_values']
        lines.append(f'| {link} | {v["real"]["linked"]:.3f} ({v["real"]["control"]:.3f}) | '
                     f'{v["toy"]["linked"]:.3f} ({v["toy"]["control"]:.3f}) |')
    learned = r['quality']['control_learned']
    lines += ['', 'Did the controls learn the data? ' + '; '.join(
        f'{net}: SWD {v["swd_over_floor"]:.1f}x its real-vs-real floor, recall {v["recall"]:.2f}'
        for net, v in learned.items())]
    return '\n'.join(lines) + '\n'


@click.command('side-by-side', cls=Command)
@click.argument('run_dir', type=click.Path(exists=True, file_okay=False))
@click.option('--out', type=click.Path(file_okay=False), default=None, help='Where side_by_side.{json,md} go (default: RUN_DIR).')
def side_by_side_command(run_dir, out):
    """The real pair's ratios beside the toy loop's prediction (module docstring)."""
    result = side_by_side(run_dir)
    out = out or run_dir
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, 'side_by_side.json'), 'w', encoding='utf-8') as f:
        json.dump(result, f, indent=2)
    text = markdown(result)
    with open(os.path.join(out, 'side_by_side.md'), 'w', encoding='utf-8') as f:
        f.write(text)
    click.echo(text)
