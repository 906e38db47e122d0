"""`linkgan lelsd`: find LELSD directions of one region on a network and save them as .npz (`editing.lelsd` does the
work: `find_directions`, `evaluate_directions`, `save_directions`).

    linkgan lelsd --network linked.pt --link top_left --out dirs.npz
    linkgan lelsd --network baseline.pt --region '{"box": [0, 0, 0.5, 0.5]}' --space wplus --layers 0-5 --out d.npz
    linkgan lelsd --network linked.pt --within-link top_left --out within.npz      # inside the linked axes

    linkgan lelsd --network baseline.pt --spec spec.json --link top_left --curve curve.png --out d.npz   # + curve.json

The directions are used by `linkgan edit --direction FILE` and `linkgan compare --directions FILE`. `--curve FILE.png`
draws the training-score curve (`training_curve`: the training LS of every step, averaged over blocks of steps; the
lr halvings and the stop marked) and writes the numbers beside it as FILE.json (`curve_summary`).
"""

import json
import os

import click
import numpy as np

from linkgan_plugin.analysis.cli_options import (device_option, load_for_cli, network_options, progress_bar,
                                                 truncation_option)
from linkgan_plugin.analysis.pictures import PALETTE, xy_plot
from linkgan_plugin.checks import option_errors, SpecError
from linkgan_plugin.editing.lelsd import (DEFAULTS, evaluate_directions, find_directions, layers_for_rows, region_spec,
                                          save_directions, SPACES)
from linkgan_plugin.editing.lelsd_scale import strength_grid
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


def parse_strengths(text):
    """'LO,HI' -> (lo, hi) floats with 0 < lo <= hi; click errors naming --strengths otherwise."""
    try:
        lo, hi = (float(v) for v in text.split(','))
        strength_grid(lo, hi)
    except ValueError:
        raise click.BadParameter(f'{text!r}: expected "LO,HI" with 0 < LO <= HI, e.g. "0.125,2"',
                                 param_hint='--strengths') from None
    return lo, hi

#----------------------------------------------------------------------------
# The training-score curve.

def curve_summary(result, block=None):
    """The search's curve as a JSON-able dict: per direction the training LS of every step ('history') and its means
    over blocks of `block` steps ('block_means', at the block's last step 'block_ends'; default block: the plateau
    window, else steps / 40), with how the search ended, its settings, W's scale and the held-out scores."""
    steps = len(result.history[0]) if result.history else 0
    block = block or result.settings.get('plateau_window') or max(1, steps // 40)
    ends = list(range(block, steps + 1, block)) + ([steps] if steps % block else [])
    means = [[float(np.mean(h[max(0, e - block):e])) for e in ends] for h in result.history]
    return {'history': result.history, 'block': block, 'block_ends': ends, 'block_means': means, 'stop': result.stop,
            'settings': result.settings, 'scale': result.scale, 'scores': result.scores, 'link': result.link,
            'region': result.region, 'network_hash': result.network_hash}


def training_curve(result, size=(760, 440)):
    """The training-score curve as a picture (`pictures.xy_plot`): per direction the block means of curve_summary
    (its colour), every step faintly; dotted vertical lines where the lr halved. Returns a PIL image."""
    summary = curve_summary(result)
    series = []
    for k, (h, means) in enumerate(zip(result.history, summary['block_means'])):
        color = PALETTE[k % len(PALETTE)]
        faint = tuple(int(255 - 0.3 * (255 - v)) for v in color)
        series.append({'label': f'direction {k}, every step', 'points': list(enumerate(h, 1)), 'color': faint})
        series.append({'label': f'direction {k}, mean of {summary["block"]}', 'line': True, 'color': color,
                       'points': list(zip(summary['block_ends'], means))})
    stop = result.stop or {}
    notes = [f"stop: {stop.get('reason', '?')} at step {stop.get('steps', '?')}",
             f"lr {result.settings.get('lr')} x w_rms, halved at {stop.get('halved_at') or 'none'}"]
    return xy_plot(series, 'step', 'training localization score',
                   title=f'linkgan lelsd: {result.link} - training curve',
                   vlines=[(s, '') for s in stop.get('halved_at', [])], notes=notes, size=size, legend_width=230)


def write_curve(result, path):
    """The curve as PNG at `path` and its numbers as JSON beside it (same stem); returns the two paths."""
    os.makedirs(os.path.dirname(os.path.abspath(path)) or '.', exist_ok=True)
    json_path = os.path.splitext(path)[0] + '.json'
    training_curve(result).save(path)
    with open(json_path, 'w', encoding='utf-8') as f:
        json.dump(curve_summary(result), f, indent=1)
    return path, json_path

#----------------------------------------------------------------------------


def load_region_for_cli(network, upstream, spec, link_name, region, device, network_spec=False):
    """The network and the one-link spec of the region to edit, for the commands that edit one region (`lelsd`,
    `directions`); click errors naming the option otherwise.

    Args:
        link_name:    the spec's link (default: its first); region: JSON text replacing the link's region (a region
                      alone needs no spec: a baseline network has none).
        network_spec: keep the network's own spec beside --region (`--within-link` names one of its links).
    Returns:
        (LoadedNetwork, GeneratorAdapter, full LinkSpec, one-link LinkSpec); the region covers a pixel of the image.
    """
    if region is not None and spec is None and not network_spec:
        with option_errors('--region', SpecError):
            spec = region_spec(region, name=link_name or 'region')
    net, gen, full, _, _ = load_for_cli(network, upstream, spec, device, 'frontal')
    name = link_name or full.names[0]
    if region is not None:
        with option_errors('--region', SpecError):
            one = region_spec(region, name=name, w_dim=gen.w_dim)
    else:
        with option_errors('--link'):
            one = full.select([name])
    with option_errors('--region' if region is not None else '--link', SpecError):
        one.check_resolution(gen.img_resolution)
    return net, gen, full, one


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
@click.option('--max-steps', type=click.IntRange(min=1), default=DEFAULTS['max_steps'], show_default=True,
              help='Most steps per direction (the plateau rule usually stops sooner).')
@click.option('--batch', type=click.IntRange(min=1), default=DEFAULTS['batch'], show_default=True)
@click.option('--lr', type=click.FloatRange(min=0.0, min_open=True), default=DEFAULTS['lr'], show_default=True,
              help='Adam\'s rate, in units of the spread of W (w_rms, measured at --truncation).')
@click.option('--strengths', 'strengths_text', type=str, default=','.join(f'{v:g}' for v in DEFAULTS['strengths']),
              show_default=True, help='LO,HI: edit strengths |a| drawn log-uniformly, in units of D (the typical '
              'distance between two codes), as `linkgan compare` sweeps them.')
@click.option('--plateau-window', type=click.IntRange(min=0), default=DEFAULTS['plateau_window'], show_default=True,
              help='Steps per window of the plateau rule (0: always --max-steps).')
@click.option('--plateau-tol', type=click.FloatRange(min=0.0), default=DEFAULTS['plateau_tol'], show_default=True,
              help='A window mean at most this much (relative) above the best earlier one is a plateau.')
@click.option('--plateau-halvings', type=click.IntRange(min=0), default=DEFAULTS['plateau_halvings'],
              show_default=True, help='Plateaus that halve the lr before the next one stops the search.')
@click.option('--gamma', type=click.FloatRange(min=0.0), default=DEFAULTS['gamma'], show_default=True,
              help='Weight of the correlation penalty (K > 1).')
@truncation_option(default=DEFAULTS['truncation'], help='Truncation psi of the search and of the held-out scores.')
@click.option('--mask-mode', type=click.Choice(MASK_MODES), default=DEFAULTS['mask_mode'], show_default=True,
              help='Semantic regions: combine the masks of the original and the edited image.')
@click.option('--eval-samples', type=click.IntRange(min=0), default=DEFAULTS['eval_samples'], show_default=True,
              help='Held-out latents for the final localization scores (0: skip).')
@click.option('--seed', type=click.IntRange(min=0), default=DEFAULTS['seed'], show_default=True)
@device_option()
@click.option('--curve', type=click.Path(dir_okay=False), default=None,
              help='Also draw the training-score curve as this .png (its numbers beside it as .json).')
@click.option('--out', required=True, type=click.Path(dir_okay=False), help='Output .npz.')
def lelsd_command(network, upstream, spec, link_name, region, num_directions, space, layers, within_link, max_steps,
                  batch, lr, strengths_text, plateau_window, plateau_tol, plateau_halvings, gamma, truncation,
                  mask_mode, eval_samples, seed, device, curve, out):
    """Find LELSD directions: latent edits that stay inside a region (Pajouheshgar et al., ICASSP 2022)."""
    if not out.lower().endswith('.npz'):
        raise click.BadParameter(f'{out!r}: directions are written as .npz', param_hint='--out')
    if curve is not None and not curve.lower().endswith('.png'):
        raise click.BadParameter(f'{curve!r}: the curve is drawn as .png', param_hint='--curve')
    strengths = parse_strengths(strengths_text)
    net, gen, full, one = load_region_for_cli(network, upstream, spec, link_name, region, device,
                                              network_spec=within_link is not None)
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
    total = max_steps * num_directions
    label = f'lelsd {one.links[0].name}: {num_directions} direction(s), at most {max_steps} steps'
    with progress_bar(total, label) as bar:
        result = find_directions(gen, one, num_directions=num_directions, space=space, rows=rows, axes=axes,
                                 max_steps=max_steps, batch=batch, lr=lr, strengths=strengths, gamma=gamma,
                                 truncation=truncation, mask_mode=mask_mode, seed=seed, plateau_window=plateau_window,
                                 plateau_tol=plateau_tol, plateau_halvings=plateau_halvings, eval_samples=0,
                                 layers=layer_infos, progress=bar.update)
    seconds, steps = result.seconds, result.stop['steps']
    if eval_samples:
        result.scores = evaluate_directions(gen, one, result, samples=eval_samples, seed=seed,
                                            layers=layer_infos).tolist()
    result.network_path = net.path
    result.settings['within_link'] = within_link
    save_directions(out, result)
    click.echo(f'lelsd: {result.num_directions} direction(s) of region {json.dumps(result.region)} on {net.path} '
               f'({net.flavour}, hash {result.network_hash}); space {space}, rows {rows or "all"}, '
               f'axes {"link " + within_link if axes else "all"}; {len(result.layer_names)} synthesis layers scored; '
               f'truncation {truncation}, w_rms {result.scale["w_rms"]:.4g}, D {result.scale["distance"]:.4g}')
    click.echo(f'  search: {steps} steps ({result.stop["reason"]}; lr halved at {result.stop["halved_at"] or "none"})')
    block = min(steps, plateau_window or 10)
    for k in range(result.num_directions):
        d = result.directions[k]
        score = f'{result.scores[k]:.3f}' if result.scores else 'n/a'
        click.echo(f'  direction {k}: norm {float(np.linalg.norm(d)):.3f}, training LS (mean of {block} steps) '
                   f'{np.mean(result.history[k][:block]):.3f} -> {np.mean(result.history[k][-block:]):.3f}, '
                   f'held-out LS {score}')
    if curve is not None:
        click.echo('wrote ' + ', '.join(write_curve(result, curve)))
    per_step = seconds / max(steps * num_directions, 1) * 1e3
    click.echo(f'wrote {out} ({seconds:.1f} s search, {per_step:.0f} ms per step)')

#----------------------------------------------------------------------------
