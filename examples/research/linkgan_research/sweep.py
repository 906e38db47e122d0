"""`linkgan-research lambda-sweep`: the locality-recall frontier of one link over lambda, set in gradient ratios
(`linkgan-research calibrate`), and the rule that picks the final recipe, written down before the final seeds run.

    linkgan-research lambda-sweep --baseline runs/portraits/baseline.pt --calibration calibration.json \
        --link eyes --ratios 1,2,4,10 --adaptive 4 --kimg 32 --out runs/table2_portraits/sweep

Recipes: for each ratio r of `--ratios`, a fine-tune of the baseline with the one link and lambda_in = lambda_out =
r / (the link's ratio at lambda 1); with `--adaptive R`, LinkLoss's `grad_ratio: R` (the adaptive weight) as one
more point; every recipe against one control (the same fine-tune without the link term), the study's jobs
(`linkgan_research.study`: resumable, OUT/runs/). Writes OUT/study.json and study.md (the study's table),
OUT/frontier.json (the points and the rule's pick), OUT/frontier.md and OUT/frontier.png (locality against recall,
linked / control, one point per recipe), and OUT/final_recipes.json (the pick applied to every calibrated link, one
network per link, for `linkgan-research study --recipes` over the final seeds).

The rule (RULE, fixed here before any final seed runs): among the recipes whose recall is at least 0.9x the
control's and whose SWD is at most 1.25x (the issue's floor), the most local (lowest locality); when none
qualifies, the recipe with the highest recall ratio, marked as missing the floor.
"""

import json
import os

import click

from linkgan_plugin.analysis.plots import xy_plot
from linkgan_plugin.checks import OptionError, UsageProblem
from linkgan_plugin.cli.errors import Command
from linkgan_plugin.demo.baseline import load_baseline_state
from linkgan_plugin.demo.settings import DEMO_DEFAULTS
from linkgan_research.calibration import lambda_for, one_link_spec
from linkgan_research.study import make_jobs, recipe_spec, run_jobs, study_markdown, summarise_rows

RULE = {'recall_ratio_min': 0.9, 'swd_ratio_max': 1.25, 'pick': 'lowest locality',
        'fallback': 'highest recall ratio (floor missed)'}

#----------------------------------------------------------------------------

def parse_ratios(text):
    """'1,2,4' -> [1.0, 2.0, 4.0]; OptionError naming --ratios for no points or a non-positive one."""
    try:
        ratios = [float(t) for t in (text or '').split(',') if t.strip()]
    except ValueError:
        raise OptionError('--ratios', f'{text!r}: expected positive numbers like 1,2,4,10') from None
    if not ratios:
        raise OptionError('--ratios', 'the sweep has no points: give at least one gradient ratio')
    if any(r <= 0 for r in ratios):
        raise OptionError('--ratios', f'{text!r}: every gradient ratio must be > 0')
    return ratios


def sweep_recipes(calibration, scene, link, ratios, kimg, adaptive=None):
    """{name: recipe} of the module docstring (scene: the baseline's; the spec fields go over its built-in spec)."""
    if link not in calibration['links']:
        raise OptionError('--link', f'{link!r} is not in the calibration (calibrated: {", ".join(calibration["links"])})')
    settings = {'finetune_kimg': kimg}
    recipes = {}
    for r in ratios:
        lam = lambda_for(calibration, link, r)
        spec = one_link_spec(scene, link, lambda_in=lam, lambda_out=lam)
        recipes[f'ratio-{r:g}'] = {'spec': {'links': spec['links'], 'lambda_in': lam, 'lambda_out': lam},
                                   'settings': settings, 'ratio': r,
                                   'note': f'gradient ratio {r:g} at the start (lambda {lam:.3g})'}
    if adaptive is not None:
        spec = one_link_spec(scene, link)
        recipes[f'adaptive-{adaptive:g}'] = {'spec': {'links': spec['links'], 'lambda_in': 1.0, 'lambda_out': 1.0,
                                                      'grad_ratio': adaptive},
                                             'settings': settings, 'ratio': adaptive,
                                             'note': f'LinkLoss grad_ratio {adaptive:g}: the ratio held at every step'}
    return recipes


def pick(points, rule=RULE):
    """The rule's choice among frontier points [{'recipe', 'locality', 'recall_ratio', 'quality_ratio'}]:
    (point, met: bool)."""
    ok = [p for p in points if p['recall_ratio'] is not None and p['recall_ratio'] >= rule['recall_ratio_min']
          and p['quality_ratio'] <= rule['swd_ratio_max']]
    if ok:
        return min(ok, key=lambda p: p['locality']), True
    return max(points, key=lambda p: p['recall_ratio'] or 0.0), False


def frontier(entries, recipes):
    """Frontier points (one per recipe) from the study's entries, and the pick: {'points', 'rule', 'pick', 'met'}."""
    points = [{'recipe': e['recipe'], 'ratio': recipes[e['recipe']]['ratio'],
               'adaptive': e['recipe'].startswith('adaptive'), 'lambda': recipes[e['recipe']]['spec']['lambda_in'],
               'locality': e['locality'], 'control_locality': e['control_locality'],
               'locality_ratio': e['locality'] / max(e['control_locality'], 1e-12), 'edit_i': e['edit_i'],
               'recall_ratio': e['recall_ratio'], 'quality_ratio': e['quality_ratio']} for e in entries]
    chosen, met = pick(points)
    return {'points': points, 'rule': RULE, 'pick': chosen, 'met': met}


def final_recipes(front, calibration, scene, kimg):
    """The pick applied to every calibrated link, one network per link (the final seeds' recipes file): the picked
    gradient ratio set with each link's own calibration, or the adaptive weight when the pick is adaptive."""
    chosen = front['pick']
    out = {}
    for link in calibration['links']:
        recipe = sweep_recipes(calibration, scene, link, [chosen['ratio']], kimg,
                               adaptive=chosen['ratio'] if chosen['adaptive'] else None)
        name = f'adaptive-{chosen["ratio"]:g}' if chosen['adaptive'] else f'ratio-{chosen["ratio"]:g}'
        out[link] = {k: v for k, v in recipe[name].items() if k != 'ratio'}
    return out


def frontier_markdown(front, link, kimg, command):
    lines = [f'# Lambda sweep: the {link} link, {kimg:g}-kimg fine-tunes', '', f'Made by `{command}`.', '',
             'Per recipe, linked / control (one control: the same fine-tune without the term): locality (per-pixel '
             'change outside per unit inside, under resampling; lower is better), edit_i, recall and SWD.', '',
             '| recipe | start ratio | lambda | locality (control) | locality ratio | edit_i | recall | SWD |',
             '|---|---|---|---|---|---|---|---|']
    for p in sorted(front['points'], key=lambda p: (p['adaptive'], p['ratio'])):
        recall = '-' if p['recall_ratio'] is None else f'{p["recall_ratio"]:.3f}'
        lam = 'adaptive' if p['adaptive'] else f'{p["lambda"]:.3g}'
        lines.append(f'| {p["recipe"]} | {p["ratio"]:g} | {lam} | {p["locality"]:.3f} ({p["control_locality"]:.3f}) '
                     f'| {p["locality_ratio"]:.3f} | {p["edit_i"]:.3f} | {recall} | {p["quality_ratio"]:.3f} |')
    rule = front['rule']
    lines += ['', f'Rule, fixed before the final seeds: among recipes with recall >= {rule["recall_ratio_min"]}x and '
              f'SWD <= {rule["swd_ratio_max"]}x the control\'s, the {rule["pick"]}; else the {rule["fallback"]}.',
              f'Pick: **{front["pick"]["recipe"]}**' + ('' if front['met'] else ' (no recipe met the floor)') + '.',
              '', '![frontier](frontier.png)', '']
    return '\n'.join(lines)


def frontier_picture(front, link):
    fixed = [p for p in front['points'] if not p['adaptive']]
    series = [{'label': 'fixed lambda', 'line': True,
               'points': [(p['recall_ratio'], p['locality']) for p in sorted(fixed, key=lambda p: p['ratio'])],
               'labels': [f'{p["ratio"]:g}x' for p in sorted(fixed, key=lambda p: p['ratio'])]},
              {'label': 'adaptive (grad_ratio)', 'marker': 'square',
               'points': [(p['recall_ratio'], p['locality']) for p in front['points'] if p['adaptive']]}]
    controls = {round(p['control_locality'], 6) for p in front['points']}
    return xy_plot(series, 'recall, linked / control', 'locality (linked)', log_y=True,
                   title=f'lambda sweep, {link}: locality against recall',
                   hlines=[(c, 'control') for c in controls], vlines=[(RULE['recall_ratio_min'], 'floor')])

#----------------------------------------------------------------------------

@click.command('lambda-sweep', cls=Command)
@click.option('--baseline', required=True, type=click.Path(exists=True, dir_okay=False))
@click.option('--calibration', required=True, type=click.Path(exists=True, dir_okay=False),
              help='`linkgan-research calibrate` output for this baseline.')
@click.option('--link', required=True, help='The built-in link swept.')
@click.option('--ratios', required=True, help='Gradient ratios at the start, comma-separated, e.g. 1,2,4,10.')
@click.option('--adaptive', type=click.FloatRange(min=0, min_open=True), default=None,
              help='Also LinkLoss grad_ratio at this target (the adaptive weight).')
@click.option('--kimg', type=click.FloatRange(min=0, min_open=True), required=True, help='Fine-tune length.')
@click.option('--seed', type=click.IntRange(min=0), default=0, show_default=True)
@click.option('--samples', type=click.IntRange(min=16), default=1024, show_default=True)
@click.option('--workers', type=click.IntRange(min=1), default=2, show_default=True)
@click.option('--out', required=True, type=click.Path(file_okay=False))
def lambda_sweep_command(baseline, calibration, link, ratios, adaptive, kimg, seed, samples, workers, out):
    """One link's locality-recall frontier over lambda (set in gradient ratios) and the rule's pick."""
    ratio_list = parse_ratios(ratios)
    with open(calibration, encoding='utf-8') as f:
        cal = json.load(f)
    base = load_baseline_state(baseline)
    if os.path.abspath(baseline) != cal.get('baseline'):
        raise UsageProblem(f'{calibration} calibrated {cal.get("baseline")}, not {os.path.abspath(baseline)}')
    settings = {**DEMO_DEFAULTS, **base['settings'], 'samples': samples, 'seed': seed}
    scene = settings.get('scene', 'cells')
    recipes = sweep_recipes(cal, scene, link, ratio_list, kimg, adaptive)
    specs_of = lambda recipe: recipe_spec({**recipe, 'settings': {'scene': scene}})
    jobs, rows = make_jobs(recipes, settings, specs_of)
    entries = summarise_rows(rows, run_jobs(jobs, baseline, out, workers))
    front = frontier(entries, recipes)
    command = (f'linkgan-research lambda-sweep --baseline {baseline} --calibration {calibration} --link {link} '
               f'--ratios {ratios}' + (f' --adaptive {adaptive:g}' if adaptive else '') +
               f' --kimg {kimg:g} --seed {seed} --samples {samples} --out {out}')
    with open(os.path.join(out, 'study.json'), 'w', encoding='utf-8') as f:
        json.dump({'rows': entries, 'settings': settings, 'recipes': recipes}, f, indent=2)
    with open(os.path.join(out, 'study.md'), 'w', encoding='utf-8') as f:
        f.write(study_markdown(entries, f'Lambda sweep ({link})'))
    with open(os.path.join(out, 'frontier.json'), 'w', encoding='utf-8') as f:
        json.dump({'command': command, **front}, f, indent=2)
    with open(os.path.join(out, 'final_recipes.json'), 'w', encoding='utf-8') as f:
        json.dump(final_recipes(front, cal, scene, kimg), f, indent=2)
    md = frontier_markdown(front, link, kimg, command)
    with open(os.path.join(out, 'frontier.md'), 'w', encoding='utf-8') as f:
        f.write(md)
    frontier_picture(front, link).save(os.path.join(out, 'frontier.png'))
    click.echo(md)
