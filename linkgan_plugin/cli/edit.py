"""`linkgan edit`: resample one link's axes of chosen samples and draw the grid (editing/edit.py does the work)."""

import json
import os

import click
import torch

from linkgan_plugin.analysis.inputs import network_and_spec_from_options
from linkgan_plugin.analysis.network_loading import CAMERAS
from linkgan_plugin.checks import option_errors, OptionError
from linkgan_plugin.cli.errors import Command
from linkgan_plugin.cli.options import device_option, network_options, progress_bar, seeds_option, truncation_option
from linkgan_plugin.editing.edit import (check_edit_options, DEFAULT_EDIT_STRENGTHS, edit_codes, edit_offsets,
                                         link_offsets, MODES, run_edit)
from linkgan_plugin.regularizer import BoundSpec

#----------------------------------------------------------------------------

@click.command('edit', cls=Command)
@network_options()
@click.option('--link', 'link_name', type=str, default=None, help='Link to edit. Default: the first.')
@seeds_option(help='Seeds, e.g. "0,3,5-7". Default: 0-3.')
@click.option('--ws', 'ws_file', type=click.Path(exists=True, dir_okay=False), default=None,
              help='Edit these codes instead of seeds: .npz with \'ws\' [N, num_ws, w_dim] or [N, w_dim] (optional \'c\').')
@click.option('--num', type=click.IntRange(1, 16), default=4, show_default=True, help='Resamplings per side.')
@click.option('--mode', type=click.Choice(MODES), default='resample', show_default=True,
              help='resample: copy the axes of a freshly mapped z; noise: add alpha * N(0, I) on the axes.')
@click.option('--alpha', type=click.FloatRange(min=0.0, min_open=True), default=None,
              help='Noise strength (--mode noise). Default: the spec\'s alpha.')
@truncation_option()
@click.option('--resample-seed', type=click.IntRange(min=0), default=0, show_default=True,
              help='Seed of the fresh z / noise of the resamplings.')
@click.option('--interp', type=click.IntRange(min=0), default=0, help='Also write a GIF of this many frames (>= 2).')
@click.option('--camera', type=click.Choice(CAMERAS), default='frontal', show_default=True, help='EG3D camera.')
@click.option('--c-file', type=click.Path(exists=True, dir_okay=False), default=None,
              help='EG3D camera labels (.npy or .json, [25] or [N, 25]); overrides --camera.')
@click.option('--tile', type=click.IntRange(16, 1024), default=None, help='Tile size in pixels. Default: 128-256.')
@click.option('--heat-max', type=click.FloatRange(min=0.0, min_open=True), default=None,
              help='Fixed heatmap scale (mean |diff|, images in [-1, 1]). Default: per row.')
@device_option()
@click.option('--out', type=click.Path(dir_okay=False), default='linkgan-edit.png', show_default=True,
              help='Grid PNG; a JSON with the numbers is written beside it.')
@click.option('--gif', 'gif_path', type=click.Path(dir_okay=False), default=None,
              help='GIF path for --interp. Default: --out with .gif.')
@click.option('--direction', 'direction_file', type=click.Path(exists=True, dir_okay=False), default=None,
              help='Draw a `linkgan directions` direction (.npz) instead of resampling: +s and -s per strength; '
                   '--link picks the region outlined.')
@click.option('--index', 'direction_index', type=click.IntRange(min=0), default=0, show_default=True,
              help='Which direction of --direction.')
@click.option('--strengths', type=str, default=None, help=f'--direction strengths. Default: {DEFAULT_EDIT_STRENGTHS}.')
def edit_command(network, upstream, spec, link_name, seeds, ws_file, num, mode, alpha, truncation, resample_seed, interp,
                 camera, c_file, tile, heat_max, device, out, gif_path, direction_file, direction_index, strengths):
    """Resample one link's axes for chosen samples: a grid in the paper's Fig. 3 layout (and an optional GIF)."""
    check_edit_options(seeds, ws_file, interp, gif_path, alpha, mode, out, direction_file, strengths, direction_index)
    net, gen, spec_obj, origin, dev = network_and_spec_from_options(network, upstream, spec, device, camera)
    if c_file and not gen.is_eg3d:
        raise OptionError('--c-file', f'only EG3D networks take cameras; {net.path} is {net.flavour}')
    with option_errors('--link'):
        link_index = spec_obj.links.index(spec_obj.select([link_name]).links[0]) if link_name else 0
    bound = BoundSpec(spec_obj, gen.w_dim)
    alpha = spec_obj.alpha if alpha is None else alpha
    generator = torch.Generator().manual_seed(resample_seed)
    ws, c, row_labels = edit_codes(gen, net, seeds, ws_file, c_file, truncation, generator, dev)
    if direction_file:      # A LELSD direction: +s in the first group of edit columns, -s in the second.
        linked, complement, mode = edit_offsets(direction_file, direction_index, strengths, gen, len(row_labels), mode)
    else:
        linked, complement = link_offsets(gen, bound, ws, link_index, num, mode, alpha, truncation, c, generator)
    link = spec_obj.links[link_index]
    axes_text = link.to_dict()['axes']
    title = (f'link {link.name}: axes {axes_text if isinstance(axes_text, str) else f"{len(link.axes)} listed"} '
             f'of {gen.w_dim}; {mode}' + (f' alpha {alpha:g}' if mode == 'noise' else '') + f'; psi {truncation:g}')
    summary = run_edit(gen, bound, link_index, ws, c, linked, complement, row_labels, title, out,
                       tile=tile, heat_max=heat_max, interp=interp, gif_path=gif_path, bar=progress_bar)
    summary.update({'network': net.path, 'spec_origin': origin, 'mode': mode, 'alpha': alpha if mode == 'noise' else None,
                    'truncation': truncation, 'resample_seed': resample_seed})
    click.echo(f'{"sample":<10}{"linked: in":>14}{"linked: out":>14}{"compl.: in":>14}{"compl.: out":>14}   '
               '(mean squared change per region pixel)')
    for n, label in enumerate(row_labels):
        click.echo(f'{label:<10}{summary["linked_change_in"][n]:>14.4f}{summary["linked_change_out"][n]:>14.4f}'
                   f'{summary["complement_change_in"][n]:>14.4f}{summary["complement_change_out"][n]:>14.4f}')
    if interp:
        click.echo(f'wrote {summary["gif"]} ({interp} frames)')
    json_path = os.path.splitext(out)[0] + '.json'
    with open(json_path, 'w', encoding='utf-8') as f:
        json.dump(summary, f, indent=2)
    click.echo(f'wrote {out} ({summary["grid_size"][0]}x{summary["grid_size"][1]}) and {json_path}')

#----------------------------------------------------------------------------
