"""`linkgan directions`: find local edits of one region with ReSeFa, StyleSpace or LELSD and save them as .npz
(editing/directions.py runs each method).

    linkgan directions --method resefa --network net.pt --link top_left --out resefa.npz
    linkgan directions --method stylespace --network G.pkl --upstream ~/stylegan3 --region '"eyes"' --out ss.npz
    linkgan directions --method lelsd --network net.pt --link top_left --count 2 --space wplus --layers 0-5 \\
        --curve curve.png --out lelsd.npz
"""

import json

import click

from linkgan_plugin.cli.errors import Command
from linkgan_plugin.cli.options import device_option, network_options, progress_bar, truncation_option
from linkgan_plugin.editing import lelsd, resefa
from linkgan_plugin.editing.directions import (check_method_options, lelsd_search, load_region, METHODS, run_lelsd,
                                               run_resefa, run_stylespace)
from linkgan_plugin.regions import MASK_MODES

LELSD = lelsd.DEFAULTS

#----------------------------------------------------------------------------

@click.command('directions', cls=Command)
@click.option('--method', required=True, type=click.Choice(METHODS), help='The post-hoc method.')
@network_options()
@click.option('--link', 'link_name', type=str, default=None,
              help='The link whose region is edited. Default: the first.')
@click.option('--region', type=str, default=None,
              help='A region instead of the link\'s, as JSON: \'{"box": [0, 0, 0.5, 0.5]}\', preset, mask, segmenter.')
@click.option('--samples', type=click.IntRange(min=0), default=resefa.DEFAULTS['samples'], show_default=True,
              help='Latents averaged over (lelsd: held-out latents scored, 0: none).')
@click.option('--count', type=click.IntRange(min=1), default=resefa.DEFAULTS['count'], show_default=True,
              help='Directions (stylespace: channels) kept, best first.')
@click.option('--seed', type=click.IntRange(min=0), default=0, show_default=True)
@truncation_option(default=1.0, help='Truncation psi of the latents.')
@click.option('--tau', type=click.FloatRange(min=0.0, min_open=True), default=None,
              help=f'resefa: the regulariser of M_b, relative to its mean eigenvalue. Default: {resefa.DEFAULTS["tau"]}.')
@click.option('--max-steps', type=click.IntRange(min=1), default=None,
              help=f'lelsd: most search steps per direction (the plateau rule usually stops sooner). Default: '
                   f'{LELSD["max_steps"]}.')
@click.option('--space', type=click.Choice(lelsd.SPACES), default=None,
              help=f'lelsd: w (one direction for every row) or wplus (one per ws row). Default: {LELSD["space"]}.')
@click.option('--layers', type=str, default=None, help='lelsd: ws rows the edit touches, e.g. "0-5". Default: all.')
@click.option('--within-link', type=str, default=None,
              help='lelsd: restrict directions to this link\'s W axes (on a LinkGAN network: inside the linked subspace).')
@click.option('--batch', type=click.IntRange(min=1), default=None, help=f'lelsd: latents per step. Default: {LELSD["batch"]}.')
@click.option('--lr', type=click.FloatRange(min=0.0, min_open=True), default=None,
              help=f'lelsd: Adam\'s rate, in units of the spread of W. Default: {LELSD["lr"]}.')
@click.option('--strengths', type=str, default=None,
              help='lelsd: LO,HI: edit strengths |a| drawn log-uniformly, in units of D (the typical distance between '
                   f'two codes). Default: {",".join(f"{v:g}" for v in LELSD["strengths"])}.')
@click.option('--plateau-window', type=click.IntRange(min=0), default=None,
              help=f'lelsd: steps per window of the plateau rule (0: always --max-steps). Default: {LELSD["plateau_window"]}.')
@click.option('--plateau-tol', type=click.FloatRange(min=0.0), default=None,
              help=f'lelsd: a window mean at most this much (relative) above the best earlier one is a plateau. '
                   f'Default: {LELSD["plateau_tol"]}.')
@click.option('--plateau-halvings', type=click.IntRange(min=0), default=None,
              help=f'lelsd: plateaus that halve the lr before the next one stops. Default: {LELSD["plateau_halvings"]}.')
@click.option('--gamma', type=click.FloatRange(min=0.0), default=None,
              help=f'lelsd: weight of the correlation penalty (--count > 1). Default: {LELSD["gamma"]}.')
@click.option('--mask-mode', type=click.Choice(MASK_MODES), default=None,
              help=f'lelsd, semantic regions: combine the masks of the original and the edit. Default: {LELSD["mask_mode"]}.')
@click.option('--curve', type=click.Path(dir_okay=False), default=None,
              help='lelsd: also draw the training-score curve as this .png (its numbers beside it as .json).')
@device_option()
@click.option('--out', required=True, type=click.Path(dir_okay=False), help='Output .npz.')
def directions_command(method, network, upstream, spec, link_name, region, samples, count, seed, truncation, tau,
                       out, device, **lelsd_options):
    """Find local edits of one region with ReSeFa, StyleSpace or LELSD (Pajouheshgar et al.) and save them as .npz."""
    check_method_options(method, out, tau=tau, **lelsd_options)
    within = lelsd_options['within_link']
    net, gen, full, one = load_region(network, upstream, spec, link_name, region, device,
                                      network_spec=within is not None)
    if method == 'resefa':
        lines = run_resefa(net, gen, one, count, samples, seed, truncation, tau or resefa.DEFAULTS['tau'], out,
                           '--region' if region is not None else '--link', bar=progress_bar)
    elif method == 'stylespace':
        lines = run_stylespace(net, gen, one, count, samples, seed, truncation, out, bar=progress_bar)
    else:
        lines = run_lelsd(net, gen, one, count, samples, seed, truncation, lelsd_search(gen, full, lelsd_options), out,
                          within_link=within, curve=lelsd_options['curve'], bar=progress_bar)
    click.echo(f'{method}: region {json.dumps(one.links[0].region.to_dict())} ({one.links[0].name}) on {net.path} '
               f'({net.flavour}, w_dim {gen.w_dim}, {gen.img_resolution} px), {samples} samples, seed {seed}, '
               f'truncation {truncation:g}')
    for line in lines:
        click.echo(line)
    click.echo(f'wrote {out}')

#----------------------------------------------------------------------------
