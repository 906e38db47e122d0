"""`linkgan lelsd`: find LELSD directions of one region on a network and save them as .npz (`editing.lelsd` does the
work: `find_directions`, `evaluate_directions`, `save_directions`).

    linkgan lelsd --network linked.pt --link top_left --out dirs.npz
    linkgan lelsd --network baseline.pt --region '{"box": [0, 0, 0.5, 0.5]}' --space wplus --layers 0-5 --out d.npz
    linkgan lelsd --network linked.pt --within-link top_left --out within.npz      # inside the linked axes

The directions are used by `linkgan edit --direction FILE` and `linkgan compare --directions FILE`.
"""

import json

import click
import numpy as np

from linkgan_plugin.analysis.cli_options import (device_option, load_for_cli, network_options, progress_bar,
                                                 truncation_option)
from linkgan_plugin.checks import option_errors, SpecError
from linkgan_plugin.editing.lelsd import (DEFAULTS, evaluate_directions, find_directions, layers_for_rows, region_spec,
                                          save_directions, SPACES)
from linkgan_plugin.regions import MASK_MODES
from linkgan_plugin.upstream.synthesis_layers import synthesis_layers

#----------------------------------------------------------------------------

def parse_index_list(text, upper, param_hint):
    """'0-5', '0,2,4-6' or 'all' -> sorted list of ints in [0, upper) (None for 'all'); click errors otherwise."""
    if text is None or text.strip().lower() == 'all':
        return None
    out = set()
    try:
        for part in text.split(','):
            part = part.strip()
            if not part:
                continue
            if '-' in part:
                a, b = (int(p) for p in part.split('-'))
                if b < a:
                    raise ValueError
                out.update(range(a, b + 1))
            else:
                out.add(int(part))
    except ValueError:
        raise click.BadParameter(f'{text!r}: expected indices like "0-5" or "0,2,4-6"', param_hint=param_hint) from None
    if not out or min(out) < 0 or max(out) >= upper:
        raise click.BadParameter(f'{text!r}: indices must lie in 0..{upper - 1}', param_hint=param_hint)
    return sorted(out)


@click.command('lelsd', context_settings={'help_option_names': ['-h', '--help']})
@network_options()
@click.option('--link', 'link_name', type=str, default=None, help='The link whose region is edited. Default: the first.')
@click.option('--region', type=str, default=None,
              help='A region instead of (or overriding) the link\'s, as JSON: \'{"box": [0, 0, 0.5, 0.5]}\', preset, mask, segmenter.')
@click.option('--num-directions', type=click.IntRange(min=1), default=DEFAULTS['num_directions'], show_default=True)
@click.option('--space', type=click.Choice(SPACES), default=DEFAULTS['space'], show_default=True,
              help='w: one direction for every row; wplus: one per ws row.')
@click.option('--layers', type=str, default=None, help='ws rows the edit touches, e.g. "0-5" or "0,2,4-6". Default: all.')
@click.option('--within-link', type=str, default=None,
              help='Restrict directions to this link\'s W axes (on a LinkGAN network: directions inside the linked subspace).')
@click.option('--steps', type=click.IntRange(min=1), default=DEFAULTS['steps'], show_default=True, help='Steps per direction.')
@click.option('--batch', type=click.IntRange(min=1), default=DEFAULTS['batch'], show_default=True)
@click.option('--lr', type=click.FloatRange(min=0.0, min_open=True), default=DEFAULTS['lr'], show_default=True)
@click.option('--gamma', type=click.FloatRange(min=0.0), default=DEFAULTS['gamma'], show_default=True,
              help='Weight of the correlation penalty (K > 1).')
@truncation_option(default=DEFAULTS['truncation'])
@click.option('--mask-mode', type=click.Choice(MASK_MODES), default=DEFAULTS['mask_mode'], show_default=True,
              help='Semantic regions: combine the masks of the original and the edited image.')
@click.option('--unit-norm', is_flag=True, help='Renormalise directions after every step (W+: each row).')
@click.option('--eval-samples', type=click.IntRange(min=0), default=DEFAULTS['eval_samples'], show_default=True,
              help='Held-out latents for the final localization scores (0: skip).')
@click.option('--seed', type=click.IntRange(min=0), default=DEFAULTS['seed'], show_default=True)
@device_option()
@click.option('--out', required=True, type=click.Path(dir_okay=False), help='Output .npz.')
def lelsd_command(network, upstream, spec, link_name, region, num_directions, space, layers, within_link, steps,
                  batch, lr, gamma, truncation, mask_mode, unit_norm, eval_samples, seed, device, out):
    """Find LELSD directions: latent edits that stay inside a region (Pajouheshgar et al., ICASSP 2022)."""
    if not out.lower().endswith('.npz'):
        raise click.BadParameter(f'{out!r}: directions are written as .npz', param_hint='--out')
    if region is not None and spec is None and within_link is None:
        with option_errors('--region', SpecError):     # A region alone needs no spec (a baseline network has none).
            spec = region_spec(region, name=link_name or 'region')
    net, gen, full, origin, dev = load_for_cli(network, upstream, spec, device, 'frontal')
    name = link_name or full.names[0]
    if region is not None:
        with option_errors('--region', SpecError):
            one = region_spec(region, name=name, w_dim=gen.w_dim)
    else:
        with option_errors('--link'):
            one = full.select([name])
    axes = None
    if within_link is not None:
        with option_errors('--within-link'):
            axes = list(full.select([within_link]).links[0].axes)
    rows = parse_index_list(layers, gen.num_ws, '--layers')
    try:
        layer_infos = synthesis_layers(gen.G)
    except TypeError as e:
        raise click.ClickException(str(e)) from None
    with option_errors('--layers'):
        layers_for_rows(gen, layer_infos, rows)
    total = steps * num_directions
    with progress_bar(total, f'lelsd {one.links[0].name}: {num_directions} direction(s) x {steps} steps') as bar:
        result = find_directions(gen, one, num_directions=num_directions, space=space, rows=rows, axes=axes,
                                 steps=steps, batch=batch, lr=lr, gamma=gamma, truncation=truncation,
                                 unit_norm=unit_norm, mask_mode=mask_mode, seed=seed, eval_samples=0,
                                 layers=layer_infos, progress=bar.update)
    seconds = result.seconds
    if eval_samples:
        result.scores = evaluate_directions(gen, one, result, samples=eval_samples, seed=seed + 1,
                                            truncation=truncation, mask_mode=mask_mode, layers=layer_infos).tolist()
    result.network_path = net.path
    result.settings['within_link'] = within_link
    save_directions(out, result)
    click.echo(f'lelsd: {result.num_directions} direction(s) of region {json.dumps(result.region)} on {net.path} '
               f'({net.flavour}, hash {result.network_hash}); space {space}, rows {rows or "all"}, '
               f'axes {"link " + within_link if axes else "all"}; {len(result.layer_names)} synthesis layers scored')
    for k in range(result.num_directions):
        d = result.directions[k]
        score = f'{result.scores[k]:.3f}' if result.scores else 'n/a'
        click.echo(f'  direction {k}: norm {float(np.linalg.norm(d)):.3f}, training LS {result.history[k][0]:.3f} -> '
                   f'{np.mean(result.history[k][-10:]):.3f}, held-out LS {score}')
    click.echo(f'wrote {out} ({seconds:.1f} s search, {seconds / max(total, 1) * 1e3:.0f} ms per step)')

#----------------------------------------------------------------------------
