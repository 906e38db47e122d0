"""`linkgan eval`: measure the linkage (and, with --data, the quality) of a trained network; analysis/evaluate.py
holds the measuring and the report."""

import json
import os

import click

from linkgan_plugin.analysis.evaluate import DEFAULTS, eval_report, format_comparison, format_table, json_safe, parse_outputs
from linkgan_plugin.analysis.inputs import network_and_spec_from_options, read_json_option
from linkgan_plugin.analysis.network_loading import CAMERAS
from linkgan_plugin.checks import option_errors, OptionError
from linkgan_plugin.cli.errors import Command
from linkgan_plugin.cli.options import device_option, network_options, progress_bar, truncation_option

#----------------------------------------------------------------------------

@click.command('eval', cls=Command)
@network_options()
@click.option('--link', 'links', multiple=True, help='Measure only this link (repeatable). Default: all.')
@click.option('--samples', type=click.IntRange(min=1), default=DEFAULTS['samples'], show_default=True)
@click.option('--batch', type=click.IntRange(min=1), default=DEFAULTS['batch'], show_default=True)
@click.option('--seed', type=click.IntRange(min=0), default=DEFAULTS['seed'], show_default=True)
@truncation_option(default=DEFAULTS['truncation'])
@click.option('--alpha', type=click.FloatRange(min=0.0, min_open=True), default=None,
              help='Table 3 perturbation strength. Default: the spec\'s alpha.')
@click.option('--outputs', type=str, default=None,
              help='Comma-separated outputs to measure. Default: image (EG3D: image,image_raw,image_depth).')
@click.option('--camera', type=click.Choice(CAMERAS), default=DEFAULTS['camera'], show_default=True,
              help='EG3D: fixed frontal camera, yaw-jittered cameras, or the run\'s dataset cameras.')
@device_option(default=DEFAULTS['device'])
@click.option('--out', type=click.Path(dir_okay=False, writable=True), default=None, help='Write the results as JSON.')
@click.option('--compare', type=click.Path(exists=True, dir_okay=False), default=None,
              help='An earlier eval JSON (say, the control): print ratios this / it.')
@click.option('--data', type=click.Path(exists=True), default=None,
              help='Real images (a folder or zip, upstream\'s dataset format): also measure quality against them: '
                   'the sliced Wasserstein distance and recall / precision of --quality-images samples, each with '
                   'its real-vs-real floor (which needs 2 x --quality-images real images).')
@click.option('--quality-images', type=click.IntRange(min=16), default=DEFAULTS['quality_images'], show_default=True,
              help='Images per set for quality (compare networks, and each with its floor, at the same count).')
def eval_command(network, upstream, spec, links, samples, batch, seed, truncation, alpha, outputs, camera, device, out,
                 compare, data, quality_images):
    """Measure linkage: the LinkGAN paper's Table 3 (mse_i, mse_o) and Table 2 (edit_i, edit_o) protocols, keep_o,
    locality, and (with --data) quality: SWD and recall / precision with their floors, for every link."""
    baseline = read_json_option(compare, '--compare') if compare else None
    if baseline is not None and (not isinstance(baseline, dict) or 'results' not in baseline):
        raise OptionError('--compare', f'{compare} is not a `linkgan eval --out` file (no "results")')
    net, gen, spec_obj, origin, _ = network_and_spec_from_options(network, upstream, spec, device, camera)
    with option_errors('--link'):
        spec_obj = spec_obj.select(links)
    outputs = parse_outputs(outputs, gen)
    if spec_obj.alpha_mode != 'absolute' and alpha is None:
        click.echo(f'linkgan eval: note: the spec uses alpha_mode={spec_obj.alpha_mode!r}; the metrics perturb with '
                   f'absolute alpha={spec_obj.alpha}', err=True)
    with progress_bar(samples, f'eval {len(spec_obj.links)} link(s) x {len(outputs)} output(s)') as bar:
        report = eval_report(net, gen, spec_obj, origin, outputs, samples, batch, seed, truncation, alpha, camera, data,
                             quality_images, baseline, compare, progress=bar.update)
    click.echo(format_table(report))
    if 'comparison' in report:
        click.echo('')
        click.echo(format_comparison(report['comparison'], compare))
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, 'w', encoding='utf-8') as f:
            json.dump(json_safe(report), f, indent=2)
        click.echo(f'wrote {out}')


#----------------------------------------------------------------------------
