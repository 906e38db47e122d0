"""`linkgan-research finetune-curve`: how long to fine-tune, from a measured curve. One linked fine-tune (one link at
a gradient ratio of `--ratio`, `linkgan-research calibrate`) and its control, from the same baseline, data order and
latents, each evaluated every `--every` kimg on the same fixed-seed samples (demo.evaluation.evaluate_model: every
metric of the link, SWD and recall in the scene's factor space).

    linkgan-research finetune-curve --baseline runs/portraits/baseline.pt --calibration calibration.json \
        --link eyes --ratio 4 --kimg 96 --every 16 --out runs/table2_portraits/length

The two runs train side by side in two processes; each role's rows are written when it finishes (OUT/<role>.json),
and a finished role is not trained again. Writes OUT/curve.json, OUT/curve.md and OUT/curve.png (locality of both
roles, and linked / control recall, against kimg) and the length rule's choice (LENGTH_RULE): the shortest length
from which the linked / control locality stays within 10% of its value at the end of the curve.
"""

import json
import multiprocessing
import os

import click
import torch

from linkgan_plugin.analysis.plots import xy_plot
from linkgan_plugin.checks import UsageProblem
from linkgan_plugin.cli.errors import Command
from linkgan_plugin.demo.baseline import load_baseline_state
from linkgan_plugin.demo.evaluation import evaluate_model
from linkgan_plugin.demo.settings import DEMO_DEFAULTS, demo_spec
from linkgan_plugin.demo.training import finetune
from linkgan_plugin.toy.checkpoint import networks_from_checkpoint
from linkgan_research.calibration import lambda_for, one_link_spec
from linkgan_research.records import quality_of

LENGTH_RULE = {'tolerance': 0.10, 'metric': 'locality ratio (linked / control)'}
ROLES = ('control', 'linked')

#----------------------------------------------------------------------------

def evaluation_row(G_ema, spec, settings, kimg, link):
    """One row of a role's curve: kimg trained in the fine-tune, the link's metrics, SWD, recall, precision."""
    ev = evaluate_model(G_ema, spec, settings)
    q = quality_of(ev)
    cov = q['coverage'] or {}
    return {'kimg': kimg, **{k: ev['links'][link][k] for k in ('locality', 'mse_i', 'mse_o', 'edit_i', 'keep_o')},
            'swd': q['swd']['mean'], 'recall': cov.get('recall'), 'precision': cov.get('precision')}


def run_role(role, baseline_path, spec_dict, settings, every, out_path):
    """Process entry: one fine-tune (control or linked) of finetune_kimg, evaluated at every `every` kimg."""
    torch.set_num_threads(1)
    baseline = load_baseline_state(baseline_path)
    spec = demo_spec(spec_dict, w_dim=settings['w_dim'])
    link = spec.names[0]
    start, rows = int(round(baseline['kimg'] * 1000)), []

    def evaluate(trainer):
        done = (trainer.cur_nimg - start) / 1000
        if done + 1e-9 >= every * len(rows):          # rows[0] is the baseline itself (kimg 0).
            rows.append(evaluation_row(trainer.G_ema, spec, settings, round(done, 3), link))
    rows.append(evaluation_row(networks_from_checkpoint(baseline)[2], spec, settings, 0.0, link))
    finetune(baseline, spec, settings, linked=role == 'linked', callback=evaluate)
    with open(out_path + '.tmp', 'w', encoding='utf-8') as f:
        json.dump({'role': role, 'rows': rows, 'settings': settings}, f)
    os.replace(out_path + '.tmp', out_path)
    return role


def chosen_length(curve, tolerance=LENGTH_RULE['tolerance']):
    """The shortest kimg from which the locality ratio stays within `tolerance` (relative) of the last one."""
    ratios = [(r['kimg'], r['locality_ratio']) for r in curve if r['kimg'] > 0]
    final = ratios[-1][1]
    for i, (kimg, _) in enumerate(ratios):
        if all(abs(v - final) <= tolerance * abs(final) for _, v in ratios[i:]):
            return kimg
    return ratios[-1][0]


def merge(rows_by_role):
    """[{kimg, control: row, linked: row, locality_ratio, recall_ratio, swd_ratio}] at the kimgs both roles have."""
    by_kimg = {role: {r['kimg']: r for r in rows} for role, rows in rows_by_role.items()}
    out = []
    for k in sorted(set(by_kimg['control']) & set(by_kimg['linked'])):
        c, l = by_kimg['control'][k], by_kimg['linked'][k]
        out.append({'kimg': k, 'control': c, 'linked': l, 'locality_ratio': l['locality'] / max(c['locality'], 1e-12),
                    'recall_ratio': l['recall'] / c['recall'] if c['recall'] else None, 'swd_ratio': l['swd'] / c['swd']})
    return out

#----------------------------------------------------------------------------

def curve_markdown(curve, length, command):
    lines = ['# How long to fine-tune: the measured curve', '', f'Made by `{command}`.', '',
             '| kimg | locality linked (control) | ratio | edit_i ratio | recall linked (control) | recall ratio | '
             'SWD ratio |', '|---|---|---|---|---|---|---|']
    for r in curve:
        c, l = r['control'], r['linked']
        rec = lambda x: '-' if x is None else f'{x:.3f}'
        lines.append(f'| {r["kimg"]:g} | {l["locality"]:.3f} ({c["locality"]:.3f}) | {r["locality_ratio"]:.3f} | '
                     f'{l["edit_i"] / max(c["edit_i"], 1e-12):.3f} | {rec(l["recall"])} ({rec(c["recall"])}) | '
                     f'{rec(r["recall_ratio"])} | {r["swd_ratio"]:.3f} |')
    lines += ['', f'Length rule: the shortest length from which the {LENGTH_RULE["metric"]} stays within '
              f'{LENGTH_RULE["tolerance"]:.0%} of its last value: **{length:g} kimg**.', '', '![curve](curve.png)', '']
    return '\n'.join(lines)


def curve_picture(curve):
    pts = lambda f: [(r['kimg'], f(r)) for r in curve]
    return xy_plot([{'label': 'linked locality', 'points': pts(lambda r: r['linked']['locality']), 'line': True},
                    {'label': 'control locality', 'points': pts(lambda r: r['control']['locality']), 'line': True},
                    {'label': 'recall ratio', 'line': True,
                     'points': [p for p in pts(lambda r: r['recall_ratio']) if p[1] is not None]}],
                   'fine-tune kimg', 'value', title='fine-tune length: locality and recall against kimg')


@click.command('finetune-curve', cls=Command)
@click.option('--baseline', required=True, type=click.Path(exists=True, dir_okay=False))
@click.option('--calibration', required=True, type=click.Path(exists=True, dir_okay=False))
@click.option('--link', required=True, help='The built-in link trained.')
@click.option('--ratio', type=click.FloatRange(min=0, min_open=True), required=True,
              help='Its gradient ratio at the start (sets lambda from the calibration).')
@click.option('--kimg', type=click.FloatRange(min=0, min_open=True), required=True)
@click.option('--every', type=click.FloatRange(min=0, min_open=True), required=True, help='Evaluate every N kimg.')
@click.option('--seed', type=click.IntRange(min=0), default=0, show_default=True)
@click.option('--samples', type=click.IntRange(min=16), default=1024, show_default=True)
@click.option('--out', required=True, type=click.Path(file_okay=False))
def finetune_curve_command(baseline, calibration, link, ratio, kimg, every, seed, samples, out):
    """Locality and recall of a linked fine-tune and its control against fine-tune length; the length rule's pick."""
    if every > kimg:
        raise UsageProblem(f'--every {every:g} is longer than --kimg {kimg:g}: the curve would have no point')
    with open(calibration, encoding='utf-8') as f:
        cal = json.load(f)
    base = load_baseline_state(baseline)
    settings = {**DEMO_DEFAULTS, **base['settings'], 'samples': samples, 'seed': seed, 'finetune_kimg': kimg}
    lam = lambda_for(cal, link, ratio)
    spec = one_link_spec(settings.get('scene', 'cells'), link, lambda_in=lam, lambda_out=lam)
    os.makedirs(out, exist_ok=True)
    paths = {role: os.path.join(out, f'{role}.json') for role in ROLES}
    todo = [(role, baseline, spec, settings, every, paths[role]) for role in ROLES if not os.path.isfile(paths[role])]
    if todo:
        with multiprocessing.get_context('spawn').Pool(len(todo)) as pool:
            for role in pool.starmap(run_role, todo):
                click.echo(f'{role}: done')
    rows = {}
    for role in ROLES:
        with open(paths[role], encoding='utf-8') as f:
            rows[role] = json.load(f)['rows']
    curve = merge(rows)
    length = chosen_length(curve)
    command = (f'linkgan-research finetune-curve --baseline {baseline} --calibration {calibration} --link {link} '
               f'--ratio {ratio:g} --kimg {kimg:g} --every {every:g} --seed {seed} --samples {samples} --out {out}')
    with open(os.path.join(out, 'curve.json'), 'w', encoding='utf-8') as f:
        json.dump({'command': command, 'lambda': lam, 'curve': curve, 'rule': LENGTH_RULE, 'length': length}, f,
                  indent=1)
    md = curve_markdown(curve, length, command)
    with open(os.path.join(out, 'curve.md'), 'w', encoding='utf-8') as f:
        f.write(md)
    curve_picture(curve).save(os.path.join(out, 'curve.png'))
    click.echo(md)
