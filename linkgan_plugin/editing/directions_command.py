"""`linkgan directions`: local edits of one region by a post-hoc method, written to .npz (the paper's Table 2 rivals).

    linkgan directions --method resefa --network net.pt --link top_left --out resefa.npz
    linkgan directions --method stylespace --network G.pkl --upstream ~/stylegan3 --region '"eyes"' --out ss.npz
    linkgan directions --method lelsd --network net.pt --link top_left --count 2 --max-steps 300 --out lelsd.npz

Methods and what they write:
  resefa      `editing.resefa.find_directions`: W directions of norm D (lelsd's file format), drawn by
              `linkgan edit --direction` and `linkgan compare --directions`;
  lelsd       `editing.lelsd.find_directions` with its defaults: the same, with held-out localization scores;
  stylespace  `editing.stylespace.find_channels`: S channels (affine, index, std), read by `stylespace.load_channels`
              and drawn by `stylespace.render_channel_edit` (`linkgan edit --direction` refuses them).

--samples is what each method averages over: ReSeFa's Jacobian metrics, StyleSpace's gradient shares and style
stds, LELSD's held-out localization scores (its search draws its own batches). --count: directions or channels.
The region is the link's of the network's spec (--link, --spec) or --region (JSON, as `linkgan lelsd`).
"""

import json

import click

from linkgan_plugin.analysis.cli_options import (device_option, network_options, progress_bar,
                                                 truncation_option)
from linkgan_plugin.checks import option_errors
from linkgan_plugin.editing import lelsd, resefa, stylespace
from linkgan_plugin.editing.lelsd_command import load_region_for_cli
from linkgan_plugin.upstream.synthesis_layers import SynthesisLayersNotFound, synthesis_layers

METHODS = ('resefa', 'stylespace', 'lelsd')

#----------------------------------------------------------------------------

def check_method_options(method, tau, max_steps, out):
    """Options that belong to one method only, and the output's suffix (click errors naming the option)."""
    if not out.lower().endswith('.npz'):
        raise click.BadParameter(f'{out!r}: directions are written as .npz', param_hint='--out')
    if tau is not None and method != 'resefa':
        raise click.BadParameter(f'applies to --method resefa, not {method}', param_hint='--tau')
    if max_steps is not None and method != 'lelsd':
        raise click.BadParameter(f'applies to --method lelsd, not {method}', param_hint='--max-steps')

#----------------------------------------------------------------------------
# One runner per method: (network, gen, one-link spec, options) -> lines to print; each writes `out`.

def run_resefa(net, gen, region, count, samples, seed, truncation, tau, out, region_hint):
    if count > gen.w_dim:
        raise click.BadParameter(f'{count}: ReSeFa finds at most w_dim = {gen.w_dim} directions', param_hint='--count')
    with progress_bar(samples, f'resefa {region.links[0].name}: Jacobians of {samples} samples') as bar:
        with option_errors(region_hint):        # A region empty on every sample, or covering every image.
            result = resefa.find_directions(gen, region, count=count, samples=samples, seed=seed,
                                            truncation=truncation, tau=tau, progress=bar.update)
    result.network_path = net.path
    lelsd.save_directions(out, result)
    s = result.settings
    lines = [f'resefa: tau {tau:g} x mean eigenvalue of M_b, Jacobians at <= {s["resolution"]} px, '
             f'D {result.scale["distance"]:.4g} ({result.seconds:.1f} s)']
    lines += [f'  direction {k}: eigenvalue {lam:.4g}, inside share {share:.3f}'
              for k, (lam, share) in enumerate(zip(s['eigenvalues'], s['inside_share']))]
    return lines


def run_stylespace(net, gen, region, count, samples, seed, truncation, out):
    try:
        layers = stylespace.style_layers(gen.G)
    except (SynthesisLayersNotFound, ValueError) as e:
        raise click.BadParameter(f'StyleSpace needs affine (modulated) layers: {e}', param_hint='--network') from None
    if samples < 2:
        raise click.BadParameter('StyleSpace needs at least 2 samples (the std of each style)', param_hint='--samples')
    with option_errors('--count'):
        stylespace.check_count(gen, layers, count)
    with progress_bar(samples, f'stylespace {region.links[0].name}: gradients of {samples} samples') as bar:
        result = stylespace.find_channels(gen, region, count=count, samples=samples, seed=seed, truncation=truncation,
                                          layers=layers, progress=bar.update)
    result.network_path = net.path
    stylespace.save_channels(out, result)
    lines = [f'stylespace: {result.num_channels} channels in {len(layers)} style layers scanned '
             f'({result.settings["probes"]} probes per sample, {result.seconds:.1f} s)']
    lines += [f'  channel {k}: {name}[{ch}], std {std:.4g}, inside share {share:.3f}'
              for k, (name, ch, std, share) in enumerate(zip(result.layers, result.channels, result.stds,
                                                              result.shares))]
    return lines


def run_lelsd(net, gen, region, count, samples, seed, truncation, max_steps, out):
    try:
        layers = synthesis_layers(gen.G)
    except SynthesisLayersNotFound as e:
        raise click.BadParameter(str(e), param_hint='--network') from None
    with progress_bar(max_steps * count, f'lelsd {region.links[0].name}: {count} direction(s), at most '
                      f'{max_steps} steps') as bar:
        result = lelsd.find_directions(gen, region, num_directions=count, max_steps=max_steps, truncation=truncation,
                                       seed=seed, eval_samples=0, layers=layers, progress=bar.update)
    result.scores = lelsd.evaluate_directions(gen, region, result, samples=samples, seed=seed, layers=layers).tolist()
    result.network_path = net.path
    lelsd.save_directions(out, result)
    lines = [f'lelsd: {result.stop["steps"]} steps ({result.stop["reason"]}), D {result.scale["distance"]:.4g} '
             f'({result.seconds:.1f} s)']
    lines += [f'  direction {k}: held-out localization score {score:.3f}' for k, score in enumerate(result.scores)]
    return lines

#----------------------------------------------------------------------------


@click.command('directions', context_settings={'help_option_names': ['-h', '--help']})
@click.option('--method', required=True, type=click.Choice(METHODS), help='The post-hoc method.')
@network_options()
@click.option('--link', 'link_name', type=str, default=None,
              help='The link whose region is edited. Default: the first.')
@click.option('--region', type=str, default=None,
              help='A region instead of the link\'s, as JSON: \'{"box": [0, 0, 0.5, 0.5]}\', preset, mask, segmenter.')
@click.option('--samples', type=click.IntRange(min=1), default=resefa.DEFAULTS['samples'], show_default=True,
              help='Latents averaged over (lelsd: held-out latents scored).')
@click.option('--count', type=click.IntRange(min=1), default=resefa.DEFAULTS['count'], show_default=True,
              help='Directions (stylespace: channels) kept, best first.')
@click.option('--seed', type=click.IntRange(min=0), default=0, show_default=True)
@truncation_option(default=1.0, help='Truncation psi of the latents.')
@click.option('--tau', type=click.FloatRange(min=0.0, min_open=True), default=None,
              help='resefa: the regulariser of M_b, relative to its mean eigenvalue. '
                   f'Default: {resefa.DEFAULTS["tau"]}.')
@click.option('--max-steps', type=click.IntRange(min=1), default=None,
              help=f'lelsd: most search steps per direction. Default: {lelsd.DEFAULTS["max_steps"]}.')
@device_option()
@click.option('--out', required=True, type=click.Path(dir_okay=False), help='Output .npz.')
def directions_command(method, network, upstream, spec, link_name, region, samples, count, seed, truncation, tau,
                       max_steps, device, out):
    """Find local edits of one region with ReSeFa, StyleSpace or LELSD and save them as .npz."""
    check_method_options(method, tau, max_steps, out)
    net, gen, _, one = load_region_for_cli(network, upstream, spec, link_name, region, device)
    if method == 'resefa':
        lines = run_resefa(net, gen, one, count, samples, seed, truncation, tau or resefa.DEFAULTS['tau'], out,
                           '--region' if region is not None else '--link')
    elif method == 'stylespace':
        lines = run_stylespace(net, gen, one, count, samples, seed, truncation, out)
    else:
        lines = run_lelsd(net, gen, one, count, samples, seed, truncation, max_steps or lelsd.DEFAULTS['max_steps'],
                          out)
    click.echo(f'{method}: region {json.dumps(one.links[0].region.to_dict())} ({one.links[0].name}) on {net.path} '
               f'({net.flavour}, w_dim {gen.w_dim}, {gen.img_resolution} px), {samples} samples, seed {seed}, '
               f'truncation {truncation:g}')
    for line in lines:
        click.echo(line)
    click.echo(f'wrote {out}')

#----------------------------------------------------------------------------
