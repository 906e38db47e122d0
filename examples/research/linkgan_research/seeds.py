"""`linkgan-research study-seeds`: one recipe table over several training seeds, with the control-to-control spread as the
noise floor.

Each seed is a `linkgan-research study --seed N --out DIR` run (its DIR/study.json; each seed trains its own control from
its own initial weights, data order and latents). For every recipe and link found in all of them this writes the
mean and the range (min-max) over seeds of the linked / control ratios (mse_i, mse_o, edit_i, keep_o, quality) and
of the linked and control locality, and of the recall ratio (linked / control coverage) over the seeds whose
evaluations have it (a study run before the coverage measure has none: its seeds are left out of that mean and
counted). The noise floor is what the control alone does across seeds: the spread of the
control's locality, and (where a seed's run files are kept, DIR/runs/control-*.json) of its absolute quality.

    linkgan-research study --recipes R.json --seed 1 --out runs/seed1      # likewise seeds 0 and 2
    linkgan-research study-seeds runs/seed0 runs/seed1 runs/seed2 --recipe scratch-noise --out examples/research/results/study_seeds

Outputs: OUT.json ({'seeds', 'rows': [{recipe, link, seeds, per_seed: {metric: [...]}, mean: {...}, min, max}],
'control_spread': {...}}) and OUT.md (the table).
"""

import glob
import json
import os

import click

from linkgan_plugin.analysis.inputs import read_json_option
from linkgan_plugin.checks import OptionError
from linkgan_plugin.cli.errors import Command
from linkgan_research.records import swd_of

RATIOS = ('mse_i', 'mse_o', 'edit_i', 'keep_o', 'quality_ratio')
VALUES = ('locality', 'control_locality')
OPTIONAL = ('recall_ratio', 'linked_recall', 'control_recall')     # None in rows evaluated before coverage.

#----------------------------------------------------------------------------

def read_seed(path):
    """(seed, study.json rows, control quality by control job or {}) of one study output (a folder or its JSON)."""
    study_json = os.path.join(path, 'study.json') if os.path.isdir(path) else path
    study = read_json_option(study_json, 'STUDY')
    control_quality = {}
    for run in sorted(glob.glob(os.path.join(os.path.dirname(study_json), 'runs', 'control-*.json'))):
        with open(run, encoding='utf-8') as f:
            result = json.load(f)
        evaluation = next(iter(result['evaluations'].values()))
        control_quality[result['job']] = swd_of(evaluation)
    return study['settings']['seed'], study['rows'], control_quality


def mean_and_range(values):
    """{'mean', 'min', 'max', 'n'} of a list of numbers over seeds (None for each statistic of an empty list)."""
    values = list(values)
    if not values:
        return {'mean': None, 'min': None, 'max': None, 'n': 0}
    return {'mean': sum(values) / len(values), 'min': min(values), 'max': max(values), 'n': len(values)}


def summarise_seeds(seed_results, recipes=None):
    """The table over seeds (module docstring).

    Args:
        seed_results: [(seed, rows, control_quality)] as read_seed returns; seeds must differ.
        recipes:      recipe names to keep (default: every recipe present in all seeds).
    Returns:
        {'seeds': [...], 'rows': [...], 'control_spread': {'locality': {link: [per seed]}, 'quality': [per seed]}}.
    """
    seeds = [s for s, _, _ in seed_results]
    if len(set(seeds)) != len(seeds):
        raise OptionError('STUDY', f'two studies share a seed ({seeds}): each seed is one study')
    by_seed = [{(r['recipe'], r['link']): r for r in rows} for _, rows, _ in seed_results]
    keys = [k for k in by_seed[0] if all(k in b for b in by_seed[1:]) and (not recipes or k[0] in recipes)]
    if not keys:
        raise OptionError('STUDY', 'no recipe and link is present in every study' +
                                 (f' among {", ".join(recipes)}' if recipes else ''))
    rows = []
    for recipe, link in keys:
        per_seed = {m: [b[(recipe, link)].get(m) for b in by_seed] for m in RATIOS + VALUES + OPTIONAL}
        stats = {m: mean_and_range(x for x in v if x is not None) for m, v in per_seed.items()}
        rows.append({'recipe': recipe, 'link': link, 'seeds': seeds, 'per_seed': per_seed,
                     'count': {m: st['n'] for m, st in stats.items()},
                     **{key: {m: st[key] for m, st in stats.items()} for key in ('mean', 'min', 'max')}})
    first_key_of = {}
    for key in keys:
        first_key_of.setdefault(key[1], key)
    spread = {'locality': {link: [b[key]['control_locality'] for b in by_seed] for link, key in first_key_of.items()},
              'quality': [quality for _, _, control_quality in seed_results for quality in control_quality.values()]}
    return {'seeds': seeds, 'rows': rows, 'control_spread': spread}


def seeds_markdown(summary):
    """The table: mean [min-max] over seeds per recipe and link, then the control-to-control spread."""
    def cell(row, m):
        if row['mean'][m] is None:
            return '-'
        text = f'{row["mean"][m]:.3f} [{row["min"][m]:.3f}-{row["max"][m]:.3f}]'
        count = row['count'][m]
        return text if count == len(row['seeds']) else f'{text} ({count} seed{"s" if count > 1 else ""})'
    seeds = ', '.join(str(s) for s in summary['seeds'])
    lines = [f'Seeds {seeds}: mean [min-max]. Ratios are linked / control; each seed has its own control. Recall '
             '(coverage) only where a seed\'s evaluations have it.', '',
             '| recipe | link | locality | control locality | mse_i | mse_o | edit_i | keep_o | quality (SWD) | recall |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for row in summary['rows']:
        lines.append(f'| {row["recipe"]} | {row["link"]} | ' + ' | '.join(
            cell(row, m) for m in ('locality', 'control_locality', 'mse_i', 'mse_o', 'edit_i', 'keep_o', 'quality_ratio',
                                   'recall_ratio'))
            + ' |')
    lines += ['', 'Noise floor (the control alone across seeds):']
    for link, values in summary['control_spread']['locality'].items():
        lines.append(f'- control locality, {link}: ' + ', '.join(f'{v:.3f}' for v in values)
                     + f' (max / min {max(values) / min(values):.2f})')
    quality = summary['control_spread']['quality']
    if len(quality) > 1:
        lines.append('- control SWD: ' + ', '.join(f'{q:.1f}' for q in quality)
                     + f' (max / min {max(quality) / min(quality):.2f})')
    return '\n'.join(lines) + '\n'

#----------------------------------------------------------------------------

@click.command('study-seeds', cls=Command)
@click.argument('studies', nargs=-1, required=True, type=click.Path(exists=True))
@click.option('--recipe', 'recipes', multiple=True, help='Recipes to keep (repeatable). Default: all shared ones.')
@click.option('--out', required=True, type=click.Path(dir_okay=False), help='Writes OUT.json and OUT.md.')
def study_seeds_command(studies, recipes, out):
    """Mean and range over seeds of `linkgan-research study` outputs (one folder or study.json per seed)."""
    summary = summarise_seeds([read_seed(p) for p in studies], recipes)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out + '.json', 'w', encoding='utf-8') as f:
        json.dump(summary, f, indent=2)
    text = seeds_markdown(summary)
    with open(out + '.md', 'w', encoding='utf-8') as f:
        f.write(text)
    click.echo(text + f'\nwrote {out}.json and {out}.md')
