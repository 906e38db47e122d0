"""`linkgan-research calibrate`: lambda calibrated, not inherited. At the start of a fine-tune from a converged
baseline, the ratio of the link term's gradient norm on G (with the `interval` gain) to the adversarial term's, per
link, measured by LinkLoss's `log_grad_ratio` (`Loss/link/grad_ratio`, `Loss/link/grad_cosine`).

    linkgan-research calibrate --baseline runs/portraits/baseline.pt --out results/table2_portraits/calibration.json

For every built-in link of the baseline's scene, alone in its spec (one link per network, as the table trains), at
lambda_in = lambda_out = 1: the first `--link-steps` link steps of the fine-tune recipe (the baseline's scene, data
order and latents of `--seed`), their median ratio and cosine. Both link terms scale linearly with lambda and the
adversarial term does not depend on it, so the ratio at lambda is lambda times the ratio at 1: `lambda_for(ratio)`
is the lambda that puts a link at a target ratio. The sweep (`linkgan-research lambda-sweep`) is set in ratios.
"""

import json
import os
import statistics

import click
import torch

from linkgan_plugin.checks import OptionError
from linkgan_plugin.cli.errors import Command
from linkgan_plugin.cli.options import progress_bar
from linkgan_plugin.demo.baseline import load_baseline_state
from linkgan_plugin.demo.settings import BUILTIN_SPECS, DEMO_DEFAULTS, demo_spec
from linkgan_plugin.demo.training import finetune
from linkgan_plugin.upstream.stats import latest

RATIO, COSINE = 'Loss/link/grad_ratio', 'Loss/link/grad_cosine'

#----------------------------------------------------------------------------

def one_link_spec(scene, link_name, **fields):
    """The scene's built-in spec with only `link_name` among its links, plus spec `fields` (a dict for demo_spec).
    OptionError naming the link when the scene has no such link."""
    spec = dict(BUILTIN_SPECS[scene])
    links = [l for l in spec['links'] if l['name'] == link_name]
    if not links:
        raise OptionError('--links', f'{link_name!r} is not a built-in link of the {scene} scene (known: '
                                     f'{", ".join(l["name"] for l in spec["links"])})')
    return {**spec, 'links': links, **fields}


def measure_ratio(baseline, spec_dict, settings, link_steps, progress=None):
    """{'ratio': median over the first `link_steps` link steps, 'ratio_range': [min, max], 'cosine': median,
    'link_steps'} of a LinkLoss fine-tune of `baseline` (a demo baseline dict) with `spec_dict` and
    log_grad_ratio on. The networks are copies: nothing is saved."""
    spec = demo_spec({**spec_dict, 'log_grad_ratio': True}, w_dim=settings['w_dim'])
    ratios, cosines = [], []

    def collect(trainer):
        if RATIO in latest:
            ratios.append(latest[RATIO])
            cosines.append(latest[COSINE])
            del latest[RATIO], latest[COSINE]
            if progress is not None:
                progress(1)
    latest.pop(RATIO, None), latest.pop(COSINE, None)
    steps = link_steps * spec.interval
    finetune(baseline, spec, {**settings, 'finetune_kimg': steps * settings['finetune_batch'] / 1000}, linked=True,
             callback=collect)
    if not ratios:
        raise RuntimeError('no link step reported Loss/link/grad_ratio (is log_grad_ratio wired into LinkLoss?)')
    return {'ratio': statistics.median(ratios), 'ratio_range': [min(ratios), max(ratios)],
            'cosine': statistics.median(cosines), 'link_steps': len(ratios)}


def lambda_for(calibration, link, ratio):
    """The lambda (lambda_in = lambda_out) that puts `link` at gradient ratio `ratio` (module docstring)."""
    return ratio / calibration['links'][link]['ratio']

#----------------------------------------------------------------------------

@click.command('calibrate', cls=Command)
@click.option('--baseline', required=True, type=click.Path(exists=True, dir_okay=False),
              help='A converged demo baseline (`linkgan-research baseline`).')
@click.option('--links', default=None, help='Comma-separated built-in links of its scene. Default: all.')
@click.option('--link-steps', type=click.IntRange(min=1), default=16, show_default=True,
              help='Link steps measured per link (each `interval` G steps).')
@click.option('--seed', type=click.IntRange(min=0), default=0, show_default=True)
@click.option('--out', required=True, type=click.Path(dir_okay=False), help='The calibration JSON to write.')
def calibrate_command(baseline, links, link_steps, seed, out):
    """Per link: the link term's gradient norm on G over the adversarial term's at the start of the fine-tune."""
    torch.set_num_threads(1)
    base = load_baseline_state(baseline)
    settings = {**DEMO_DEFAULTS, **base['settings'], 'seed': seed}
    scene = settings.get('scene', 'cells')
    names = links.split(',') if links else [l['name'] for l in BUILTIN_SPECS[scene]['links']]
    specs = {name: one_link_spec(scene, name, lambda_in=1.0, lambda_out=1.0) for name in names}
    result = {'baseline': os.path.abspath(baseline), 'baseline_kimg': base['kimg'], 'scene': scene, 'seed': seed,
              'lambda': 1.0, 'links': {}}
    with progress_bar(link_steps * len(names), 'link steps') as bar:
        for name, spec in specs.items():
            result['links'][name] = {**measure_ratio(base, spec, settings, link_steps, bar.update),
                                     'axes': spec['links'][0]['axes']}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, 'w', encoding='utf-8') as f:
        json.dump(result, f, indent=2)
    for name, r in result['links'].items():
        click.echo(f'{name}: link / adversarial gradient norm {r["ratio"]:.3g} at lambda 1 (range '
                   f'{r["ratio_range"][0]:.3g}-{r["ratio_range"][1]:.3g}), cosine {r["cosine"]:+.2f}; lambda for '
                   f'ratio 1: {lambda_for(result, name, 1.0):.3g}')
    click.echo(f'wrote {out}')
