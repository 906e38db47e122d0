"""Linked / control ratios over seeds: each seed's row, then the mean and range (results/upstream_pair.md).

    linkgan-research pair-seeds NAME=FILE [NAME=FILE ...] [--out DIR]

Each FILE is a `linkgan pair` pair.json (the real upstream pair of one seed) or a `linkgan-research study` study.json of one
recipe (the toy loop's prediction at one seed); NAME labels its row (e.g. real-s0, toy-s1). Rows are grouped by the
NAME's part before the last '-' (real, toy) and each group gets a mean [min, max] row (`linkgan-research study-seeds` does
the same for toy studies alone, with every metric). Writes seeds.json and seeds.md
to --out (default: print only). Per link: the locality, mse_i and mse_o ratios; per run: the SWD ratio, recall linked /
control, and whether the control learned the data (its SWD over the real-vs-real floor, its recall), without which a
ratio compares two networks that do not yet draw the scenes.

The noise floor: per group, link and metric, the controls' own values over the seeds and their spread (max / min: the
ratio two controls of the same recipe show by chance), beside the linked runs' values; `separated` says whether every
linked value lies on one side of every control value (the effect is larger than seed-to-seed noise).
"""

import json
import os

import click

from linkgan_plugin.cli.errors import Command
from linkgan_research.seeds import mean_and_range
from linkgan_research.study import linked_over_control

METRICS = ('locality', 'mse_i', 'mse_o')


def seed_row(path):
    """One seed's figures: {'links': {link: {metric: ratio}}, 'values': {role: {link: {metric: value}}} (role linked,
    control), 'swd_ratio', 'recall': {linked, control}, 'control_swd_over_floor'}; from a pair.json or a one-recipe
    study.json."""
    with open(path, encoding='utf-8') as f:
        data = json.load(f)
    if 'ratios' in data:                                    # linkgan pair
        return {'links': {link: {m: r[m] for m in METRICS} for link, r in data['ratios'].items()},
                'values': {role: {link: {m: v[m] for m in METRICS} for link, v in data['models'][role].items()}
                           for role in ('linked', 'control')},
                'swd_ratio': data['quality_ratio'],
                'recall': {role: data['coverage'][role]['recall'] for role in ('linked', 'control')},
                'control_swd_over_floor': data['quality']['control'] / data['quality_floor']}
    rows = data['rows']                                     # linkgan-research study: one recipe, a row per link
    recipes = {row['recipe'] for row in rows}
    if len(recipes) != 1:
        raise SystemExit(f'{path}: holds recipes {sorted(recipes)}; give a study of one recipe')
    first = rows[0]
    return {'links': {row['link']: {m: linked_over_control(row, m) for m in METRICS} for row in rows},
            'values': {role: {row['link']: {m: row[f'{role}_values'][m] for m in METRICS} for row in rows}
                       for role in ('linked', 'control')},
            'swd_ratio': first['quality_ratio'],
            'recall': {'linked': first['linked_recall'], 'control': first['control_recall']},
            'control_swd_over_floor': first['control_quality'] / first['quality_floor']}


def _flat(row):
    out = {f'{link}/{m}': v for link, r in row['links'].items() for m, v in r.items()}
    out.update({'swd_ratio': row['swd_ratio'], 'recall_linked': row['recall']['linked'],
                'recall_control': row['recall']['control'], 'control_swd_over_floor': row['control_swd_over_floor']})
    return out


def _group(name):
    return name.rsplit('-', 1)[0]


def noise_floor(rows):
    """{link/metric: {'control': [values], 'linked': [values], 'control_spread': max / min of the controls (None for
    one seed or a zero), 'separated': every linked value below every control value or every one above (None for one
    seed: one pair cannot tell an effect from noise)}} over one group's seed rows (seed_row's)."""
    out = {}
    for link, metrics in rows[0]['values']['control'].items():
        for m in metrics:
            if not all(link in r['values']['control'] for r in rows):
                continue
            control = [r['values']['control'][link][m] for r in rows]
            linked = [r['values']['linked'][link][m] for r in rows]
            spread = max(control) / min(control) if len(control) > 1 and min(control) > 0 else None
            separated = max(linked) < min(control) or min(linked) > max(control) if len(control) > 1 else None
            out[f'{link}/{m}'] = {'control': control, 'linked': linked, 'control_spread': spread,
                                  'separated': separated}
    return out


def summarize(named_paths):
    """{'seeds': {name: flat figures}, 'groups': {group: {figure: {'mean', 'min', 'max', 'n'}}},
    'noise_floor': {group: noise_floor(...)}}."""
    rows = {name: seed_row(path) for name, path in named_paths}
    seeds = {name: _flat(row) for name, row in rows.items()}
    groups, group_rows = {}, {}
    for name, flat in seeds.items():
        groups.setdefault(_group(name), []).append(flat)
        group_rows.setdefault(_group(name), []).append(rows[name])
    summary = {}
    for group, flats in groups.items():
        keys = [k for k in flats[0] if all(k in f for f in flats)]
        summary[group] = {k: mean_and_range(f[k] for f in flats) for k in keys}
    return {'seeds': seeds, 'groups': summary,
            'noise_floor': {group: noise_floor(members) for group, members in group_rows.items()}}


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
    lines += ['', 'Noise floor: each seed\'s value (linked, control), the controls\' spread over seeds (max / min; what two '
              'controls differ by chance) and whether the linked and control values are separated.', '',
              '| group | link/metric | linked | control | control spread | separated |', '|---|---|---|---|---|---|']
    for group, floor in result['noise_floor'].items():
        for key, f in floor.items():
            spread = 'n/a' if f['control_spread'] is None else f'{f["control_spread"]:.2f}x'
            lines.append(f'| {group} | {key} | ' + ', '.join(f'{v:.4g}' for v in f['linked']) + ' | '
                         + ', '.join(f'{v:.4g}' for v in f['control']) + f' | {spread} | '
                         + {True: 'yes', False: 'no', None: 'n/a'}[f['separated']] + ' |')
    return '\n'.join(lines) + '\n'


def named_file(ctx, param, values):
    """NAME=FILE arguments -> [(name, path)]; a click error naming the argument otherwise."""
    out = []
    for text in values:
        name, sep, path = text.partition('=')
        if not sep or not name or not path:
            raise click.BadParameter(f'expected NAME=FILE, got {text!r}', param=param)
        if not os.path.isfile(path):
            raise click.BadParameter(f'{path}: no such file', param=param)
        out.append((name, path))
    return out


@click.command('pair-seeds', cls=Command)
@click.argument('runs', nargs=-1, required=True, callback=named_file, metavar='NAME=FILE...')
@click.option('--out', type=click.Path(file_okay=False), default=None, help='Where seeds.{json,md} go (default: print only).')
def pair_seeds_command(runs, out):
    """Linked / control ratios over seeds of real pairs and toy studies, with the controls' spread (module docstring)."""
    result = summarize(runs)
    text = markdown(result)
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, 'seeds.json'), 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=2)
        with open(os.path.join(out, 'seeds.md'), 'w', encoding='utf-8') as f:
            f.write(text)
    click.echo(text)
