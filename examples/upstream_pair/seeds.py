"""Linked / control ratios over seeds: each seed's row, then the mean and range (docs/upstream_pair.md).

    python examples/upstream_pair/seeds.py NAME=FILE [NAME=FILE ...] [--out DIR]

Each FILE is a `linkgan pair` pair.json (the real upstream pair of one seed) or a `linkgan study` study.json of one
recipe (the toy loop's prediction at one seed); NAME labels its row (e.g. real-s0, toy-s1). Rows are grouped by the
NAME's part before the last '-' (real, toy) and each group gets a mean [min, max] row. Writes seeds.json and seeds.md
to --out (default: print only). Per link: the locality, mse_i and mse_o ratios; per run: the SWD ratio, recall linked /
control, and whether the control learned the data (its SWD over the real-vs-real floor, its recall), without which a
ratio compares two networks that do not yet draw the scenes.
"""

import argparse
import json
import os
import statistics

METRICS = ('locality', 'mse_i', 'mse_o')


def seed_row(path):
    """One seed's figures: {'links': {link: {metric: ratio}}, 'swd_ratio', 'recall': {linked, control},
    'control_swd_over_floor'}; from a pair.json or a one-recipe study.json."""
    data = json.load(open(path, encoding='utf-8'))
    if 'ratios' in data:                                    # linkgan pair
        return {'links': {link: {m: r[m] for m in METRICS} for link, r in data['ratios'].items()},
                'swd_ratio': data['quality_ratio'],
                'recall': {role: data['coverage'][role]['recall'] for role in ('linked', 'control')},
                'control_swd_over_floor': data['quality']['control'] / data['quality_floor']}
    rows = data['rows']                                     # linkgan study: one recipe, a row per link
    recipes = {row['recipe'] for row in rows}
    if len(recipes) != 1:
        raise SystemExit(f'{path}: holds recipes {sorted(recipes)}; give a study of one recipe')
    first = rows[0]
    return {'links': {row['link']: {m: row[m] for m in METRICS} for row in rows},
            'swd_ratio': first['quality_ratio'],
            'recall': {'linked': first['linked_recall'], 'control': first['control_recall']},
            'control_swd_over_floor': first['control_quality'] / first['quality_floor']}


def _flat(row):
    out = {f'{link}/{m}': v for link, r in row['links'].items() for m, v in r.items()}
    out.update({'swd_ratio': row['swd_ratio'], 'recall_linked': row['recall']['linked'],
                'recall_control': row['recall']['control'], 'control_swd_over_floor': row['control_swd_over_floor']})
    return out


def summarize(named_paths):
    """{'seeds': {name: flat figures}, 'groups': {group: {figure: {'mean', 'min', 'max', 'n'}}}}."""
    seeds = {name: _flat(seed_row(path)) for name, path in named_paths}
    groups = {}
    for name, flat in seeds.items():
        groups.setdefault(name.rsplit('-', 1)[0], []).append(flat)
    summary = {}
    for group, flats in groups.items():
        keys = [k for k in flats[0] if all(k in f for f in flats)]
        summary[group] = {k: {'mean': statistics.fmean(f[k] for f in flats), 'min': min(f[k] for f in flats),
                              'max': max(f[k] for f in flats), 'n': len(flats)} for k in keys}
    return {'seeds': seeds, 'groups': summary}


def markdown(result):
    keys = list(next(iter(result['seeds'].values())))
    lines = ['| run | ' + ' | '.join(keys) + ' |', '|---|' + '---|' * len(keys)]
    for name, flat in result['seeds'].items():
        lines.append(f'| {name} | ' + ' | '.join(f'{flat[k]:.3f}' if k in flat else '' for k in keys) + ' |')
    for group, stats in result['groups'].items():
        n = next(iter(stats.values()))['n']
        lines.append(f'| **{group}: mean [min, max] of {n}** | ' + ' | '.join(
            f'{stats[k]["mean"]:.3f} [{stats[k]["min"]:.3f}, {stats[k]["max"]:.3f}]' if k in stats else ''
            for k in keys) + ' |')
    return '\n'.join(lines) + '\n'


def _named(text):
    name, sep, path = text.partition('=')
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f'expected NAME=FILE, got {text!r}')
    if not os.path.isfile(path):
        raise argparse.ArgumentTypeError(f'{path}: no such file')
    return name, path


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('runs', nargs='+', type=_named, metavar='NAME=FILE')
    parser.add_argument('--out', default=None, help='where seeds.{json,md} go (default: print only)')
    args = parser.parse_args()
    result = summarize(args.runs)
    text = markdown(result)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, 'seeds.json'), 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=2)
        with open(os.path.join(args.out, 'seeds.md'), 'w', encoding='utf-8') as f:
            f.write(text)
    print(text)
