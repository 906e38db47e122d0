"""`linkgan project`: find latent codes that reconstruct images (editing/project.py does the work)."""

import json
import os
import warnings

import click
import numpy as np
import torch

from linkgan_plugin.analysis.inputs import device_from_option, load_camera_file, network_from_option
from linkgan_plugin.analysis.network_loading import file_sha256
from linkgan_plugin.checks import LinkganWarning, OptionError
from linkgan_plugin.cli.errors import Command
from linkgan_plugin.cli.options import device_option, network_option, progress_bar, upstream_option
from linkgan_plugin.model_files import load_model_file
from linkgan_plugin.editing.project import (DEFAULTS, feature_list, load_targets, project_images, psnr_table,
                                            save_codes, save_pair_pictures, SPACES)

#----------------------------------------------------------------------------
def _load_feature_net(path, targets, device):
    """The feature network at `path` (model_files: a torch.export .pt2 or TorchScript), tried on one target;
    OptionError on --feature-net if it fails."""
    try:
        fnet = load_model_file(path, device, what='feature network')
        with torch.no_grad():
            feature_list(fnet, targets[:1].to(device))
    except Exception as e:
        raise OptionError('--feature-net', f'{path}: {type(e).__name__}: {e}') from None
    return fnet


@click.command('project', cls=Command)
@network_option()
@click.option('--target', required=True, type=click.Path(exists=True),
              help='An image, or a directory of images (.png, .jpg, ...), to reconstruct.')
@click.option('--space', type=click.Choice(SPACES), default=DEFAULTS['space'], show_default=True,
              help='w: one w per image; wplus: one w per synthesis row.')
@click.option('--steps', type=click.IntRange(min=1), default=DEFAULTS['steps'], show_default=True)
@click.option('--out', type=click.Path(dir_okay=False), default='projected.npz', show_default=True,
              help='Codes file (.npz, read by `linkgan edit --ws`); PNGs and a JSON go beside it.')
@click.option('--feature-net', type=click.Path(exists=True, dir_okay=False), default=None,
              help='Feature network file, a torch.export .pt2 or TorchScript (images [N, C, H, W] in [-1, 1] -> tensor or '
                   'list of tensors) '
                   'for a perceptual loss.')
@click.option('--feature-weight', type=click.FloatRange(min=0.0), default=DEFAULTS['feature_weight'], show_default=True)
@click.option('--multiscale', type=click.FloatRange(min=0.0), default=DEFAULTS['multiscale'], show_default=True,
              help='Weight of the pooled-pyramid MSE term.')
@upstream_option()
@click.option('--c-file', type=click.Path(exists=True, dir_okay=False), default=None,
              help='Labels / EG3D cameras (.npy or .json, [c_dim] or [N, c_dim]). Default: zeros, EG3D frontal.')
@device_option()
@click.option('--seed', type=click.IntRange(min=0), default=DEFAULTS['seed'], show_default=True)
@click.option('--lr', type=click.FloatRange(min=0.0, min_open=True), default=DEFAULTS['lr'], show_default=True,
              help='Peak learning rate, in units of the spread of W.')
@click.option('--noise-reg', type=click.FloatRange(min=0.0), default=DEFAULTS['noise_reg'], show_default=True,
              help='>0: also optimise the noise maps (per image) with this regularisation weight; `linkgan edit` '
                   'renders with the network\'s own maps, so keep 0 to edit the codes.')
@click.option('--starts', type=click.IntRange(min=0), default=DEFAULTS['starts'], show_default=True,
              help='Candidate starts (mapped z) besides the W average; each image starts from the closest render.')
@click.option('--batch', type=click.IntRange(min=1), default=DEFAULTS['batch'], show_default=True,
              help='Images optimised together.')
def project_command(network, target, space, steps, out, feature_net, feature_weight, multiscale, upstream, c_file,
                    device, seed, lr, noise_reg, starts, batch):
    """Find latent codes that reconstruct images (GAN inversion); edit them with `linkgan edit --ws`."""
    if not out.lower().endswith('.npz'):
        raise OptionError('--out', f'{out!r}: codes are written as .npz')
    dev = device_from_option(device)
    net, gen = network_from_option(network, upstream, dev)
    channels = int(getattr(gen.G, 'img_channels', 3))
    warn = lambda message: warnings.warn(message, LinkganWarning)
    targets, files = load_targets(target, gen.img_resolution, channels, warn)
    N = targets.shape[0]
    c = None
    if c_file:
        if gen.c_dim == 0:
            raise OptionError('--c-file', f'{net.path} takes no labels or cameras (c_dim 0)')
        c = load_camera_file(c_file, N, gen.c_dim)
    fnet = _load_feature_net(feature_net, targets, dev) if feature_net else None

    click.echo(f'projecting {N} image(s) into {net.path} ({space}, {steps} steps, device {dev})', err=True)
    with progress_bar(N * steps, f'project ({space})') as bar:
        result = project_images(gen, targets, space=space, steps=steps, lr=lr, c=c, multiscale=multiscale,
                                feature_net=fnet, feature_weight=feature_weight, noise_reg=noise_reg, seed=seed,
                                starts=starts, batch=batch, progress=bar.update)

    names = [os.path.basename(f) for f in files]
    sha = file_sha256(net.path)
    save_codes(out, result, net.path, sha, names, space, has_c=gen.c_dim > 0)
    stem = os.path.splitext(out)[0]
    pictures = save_pair_pictures(stem, names, targets, result['images'], gen.img_resolution)
    psnrs = result['psnr'].tolist()
    summary = {'network': net.path, 'network_sha256': sha, 'flavour': net.flavour, 'space': space, 'steps': steps,
               'lr': lr, 'multiscale': multiscale, 'feature_net': os.path.abspath(feature_net) if feature_net else None,
               'feature_weight': feature_weight if feature_net else None, 'noise_reg': noise_reg, 'starts': starts, 'seed': seed,
               'device': str(dev), 'w_avg': result['w_avg_origin'], 'codes': os.path.abspath(out),
               'seconds': result['seconds'], 'mean_psnr': float(np.mean(psnrs)),
               'targets': [{'name': n, 'file': os.path.abspath(f), 'psnr': p, 'picture': pic}
                           for n, f, p, pic in zip(names, files, psnrs, pictures)]}
    json_path = stem + '.json'
    with open(json_path, 'w', encoding='utf-8') as f:
        json.dump(summary, f, indent=2)
    click.echo(psnr_table(names, psnrs, summary['mean_psnr']))
    if result['noise']:
        click.echo('note: the noise maps were optimised too; `linkgan edit --ws` renders with the network\'s own maps, '
                   'so its renders differ from these reconstructions', err=True)
    click.echo(f'wrote {out}, {len(pictures)} picture(s) ({stem}-NNN-*.png) and {json_path} '
               f'({result["seconds"]:.1f} s); edit with: linkgan edit --network {network}'
               + (f' --upstream {upstream}' if upstream else '') + f' --ws {out}')

#----------------------------------------------------------------------------

