"""Local edits of one region by a post-hoc method (the paper's Table 2 rivals), found and written to .npz: what
`linkgan directions` runs (cli/directions.py).

    linkgan directions --method resefa --network net.pt --link top_left --out resefa.npz
    linkgan directions --method stylespace --network G.pkl --upstream ~/stylegan3 --region '"eyes"' --out ss.npz
    linkgan directions --method lelsd --network net.pt --link top_left --count 2 --max-steps 300 --out lelsd.npz

Methods and what they write:
  resefa      `editing.resefa.find_directions`: W directions of norm D, drawn by `linkgan edit --direction` and
              `linkgan compare --directions`;
  lelsd       `editing.lelsd.find_directions`: the same, with held-out localization scores; its search options
              (--space, --layers, --within-link, --batch, --lr, --strengths, the plateau rule, --gamma, --mask-mode)
              and its training-score curve (`write_curve`, --curve FILE.png: the numbers beside it as FILE.json);
  stylespace  `editing.stylespace.find_channels`: S channels (affine, index, std), drawn by
              `stylespace.render_channel_edit` (`linkgan edit --direction` refuses them).
Every method writes editing/directions_file.py's format.

--samples is what each method averages over: ReSeFa's Jacobian metrics, StyleSpace's gradient shares and style
stds, LELSD's held-out localization scores (its search draws its own batches). --count: directions or channels.
The region is the link's of the network's spec (--link, --spec) or --region (JSON of any region kind).
"""

import json
import os

import numpy as np

from linkgan_plugin.analysis.inputs import network_and_spec_from_options
from linkgan_plugin.analysis.plots import PALETTE, xy_plot
from linkgan_plugin.checks import option_errors, OptionError, SpecError
from linkgan_plugin.editing import directions_file, lelsd, masking, resefa, stylespace
from linkgan_plugin.editing.lelsd_scale import strength_grid
from linkgan_plugin.progress import open_bar
from linkgan_plugin.upstream.synthesis_layers import SynthesisLayersNotFound, synthesis_layers

METHODS = ('resefa', 'stylespace', 'lelsd')
# Options of one method only (None when not given): the others refuse them.
METHOD_OPTIONS = {'resefa': ('tau',),
                  'lelsd': ('max_steps', 'space', 'layers', 'within_link', 'batch', 'lr', 'strengths',
                            'plateau_window', 'plateau_tol', 'plateau_halvings', 'gamma', 'mask_mode', 'curve')}

#----------------------------------------------------------------------------
# Checks and inputs.

def check_method_options(method, out, **given):
    """The output's suffix, and that every option of `given` (name: value, None when not given) that belongs to one
    method only (METHOD_OPTIONS) belongs to `method`; OptionError naming the option otherwise."""
    if not out.lower().endswith('.npz'):
        raise OptionError('--out', f'{out!r}: directions are written as .npz')
    for owner, names in METHOD_OPTIONS.items():
        for name in names:
            if given.get(name) is not None and owner != method:
                raise OptionError('--' + name.replace('_', '-'), f'applies to --method {owner}, not {method}')
    curve = given.get('curve')
    if curve is not None and not curve.lower().endswith('.png'):
        raise OptionError('--curve', f'{curve!r}: the curve is drawn as .png')


def load_region(network, upstream, spec, link_name, region, device, network_spec=False):
    """The network and the one-link spec of the region to edit (the link of the spec, or `region`, JSON text of any
    region kind: a region alone needs no spec, a baseline network has none); errors name the option.

    Args:
        network_spec: keep the network's own spec beside `region` (LELSD's within_link names one of its links).
    Returns:
        (LoadedNetwork, GeneratorAdapter, full LinkSpec, one-link LinkSpec); the region covers a pixel of the image.
    """
    if region is not None and spec is None and not network_spec:
        with option_errors('--region', SpecError):
            spec = masking.region_spec(region, name=link_name or 'region')
    net, gen, full, _, _ = network_and_spec_from_options(network, upstream, spec, device, 'frontal')
    name = link_name or full.names[0]
    if region is not None:
        with option_errors('--region', SpecError):
            one = masking.region_spec(region, name=name, w_dim=gen.w_dim)
    else:
        with option_errors('--link'):
            one = full.select([name])
    with option_errors('--region' if region is not None else '--link', SpecError):
        one.check_resolution(gen.img_resolution)
    return net, gen, full, one

#----------------------------------------------------------------------------
# One runner per method: (network, gen, one-link spec, options) -> lines to print; each writes `out`.

def run_resefa(net, gen, region, count, samples, seed, truncation, tau, out, region_option, bar=None):
    """ReSeFa's `count` leading directions, written to `out`; `region_option` is what an empty region names."""
    if count > gen.w_dim:
        raise OptionError('--count', f'{count}: ReSeFa finds at most w_dim = {gen.w_dim} directions')
    with open_bar(bar, samples, f'resefa {region.links[0].name}: Jacobians of {samples} samples') as b:
        with option_errors(region_option):        # A region empty on every sample, or covering every image.
            result = resefa.find_directions(gen, region, count=count, samples=samples, seed=seed,
                                            truncation=truncation, tau=tau, progress=b.update)
    result.network_path = net.path
    directions_file.save(out, result)
    s = result.settings
    lines = [f'resefa: tau {tau:g} x mean eigenvalue of M_b, Jacobians at <= {s["resolution"]} px, '
             f'D {result.scale["distance"]:.4g} ({result.seconds:.1f} s)']
    lines += [f'  direction {k}: eigenvalue {lam:.4g}, inside share {share:.3f}'
              for k, (lam, share) in enumerate(zip(s['eigenvalues'], s['inside_share']))]
    return lines


def run_stylespace(net, gen, region, count, samples, seed, truncation, out, bar=None):
    """StyleSpace's `count` most local channels, written to `out`."""
    try:
        layers = stylespace.style_layers(gen.G)
    except (SynthesisLayersNotFound, ValueError) as e:
        raise OptionError('--network', f'StyleSpace needs affine (modulated) layers: {e}') from None
    if samples < 2:
        raise OptionError('--samples', 'StyleSpace needs at least 2 samples (the std of each style)')
    with option_errors('--count'):
        stylespace.check_count(gen, layers, count)
    with open_bar(bar, samples, f'stylespace {region.links[0].name}: gradients of {samples} samples') as b:
        result = stylespace.find_channels(gen, region, count=count, samples=samples, seed=seed, truncation=truncation,
                                          layers=layers, progress=b.update)
    result.network_path = net.path
    directions_file.save(out, result)
    lines = [f'stylespace: {result.num_channels} channels in {len(layers)} style layers scanned '
             f'({result.settings["probes"]} probes per sample, {result.seconds:.1f} s)']
    lines += [f'  channel {k}: {name}[{ch}], std {std:.4g}, inside share {share:.3f}'
              for k, (name, ch, std, share) in enumerate(zip(result.layers, result.channels, result.stds,
                                                              result.shares))]
    return lines


def lelsd_search(gen, full, options):
    """LELSD's search options (lelsd.find_directions' keywords) from the command's: LELSD's DEFAULTS for those not
    given (None), rows from --layers, axes from --within-link (a link of the network's spec `full`)."""
    d = lelsd.DEFAULTS
    pick = lambda name: d[name] if options.get(name) is None else options[name]
    rows = parse_index_list(options.get('layers'), gen.num_ws, '--layers')
    axes = None
    if options.get('within_link') is not None:
        with option_errors('--within-link'):
            axes = list(full.select([options['within_link']]).links[0].axes)
    strengths = parse_strengths(options['strengths']) if options.get('strengths') else d['strengths']
    return dict(space=pick('space'), rows=rows, axes=axes, max_steps=pick('max_steps'), batch=pick('batch'),
                lr=pick('lr'), strengths=strengths, gamma=pick('gamma'), mask_mode=pick('mask_mode'),
                plateau_window=pick('plateau_window'), plateau_tol=pick('plateau_tol'),
                plateau_halvings=pick('plateau_halvings'))


def run_lelsd(net, gen, region, count, samples, seed, truncation, search, out, within_link=None, curve=None, bar=None):
    """LELSD's `count` directions with the search options `search` (lelsd_search), scored on `samples` held-out
    latents (0: not scored), written to `out` (and the training-score curve to `curve`)."""
    try:
        layers = synthesis_layers(gen.G)
    except SynthesisLayersNotFound as e:
        raise OptionError('--network', str(e)) from None
    with option_errors('--layers'):
        lelsd.layers_for_rows(gen, layers, search['rows'])
    steps = search['max_steps']
    with open_bar(bar, steps * count, f'lelsd {region.links[0].name}: {count} direction(s), at most {steps} steps') as b:
        result = lelsd.find_directions(gen, region, num_directions=count, truncation=truncation, seed=seed,
                                       eval_samples=0, layers=layers, progress=b.update, **search)
    if samples:
        result.scores = lelsd.evaluate_directions(gen, region, result, samples=samples, seed=seed,
                                                  layers=layers).tolist()
    result.network_path = net.path
    result.settings['within_link'] = within_link
    directions_file.save(out, result)
    stop = result.stop
    lines = [f'lelsd: space {search["space"]}, rows {search["rows"] or "all"}, axes '
             f'{"link " + within_link if within_link else "all"}; {len(result.layer_names)} synthesis layers scored; '
             f'w_rms {result.scale["w_rms"]:.4g}, D {result.scale["distance"]:.4g}',
             f'  search: {stop["steps"]} steps ({stop["reason"]}; lr halved at {stop["halved_at"] or "none"}; '
             f'{result.seconds:.1f} s)']
    block = min(stop['steps'], search['plateau_window'] or 10)
    for k in range(result.num_directions):
        score = f'{result.scores[k]:.3f}' if result.scores else 'n/a'
        lines.append(f'  direction {k}: norm {float(np.linalg.norm(result.directions[k])):.3f}, training LS (mean of '
                     f'{block} steps) {np.mean(result.history[k][:block]):.3f} -> '
                     f'{np.mean(result.history[k][-block:]):.3f}, held-out LS {score}')
    if curve is not None:
        lines.append('wrote ' + ', '.join(write_curve(result, curve)))
    return lines

#----------------------------------------------------------------------------
# LELSD's options and its training-score curve.

def parse_index_list(text, upper, option):
    """'0-5', '0,2,4-6' or 'all' -> sorted list of ints in [0, upper) (None for 'all' or None); OptionError naming
    `option` otherwise."""
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
        raise OptionError(option, f'{text!r}: expected indices like "0-5" or "0,2,4-6"') from None
    if not out or min(out) < 0 or max(out) >= upper:
        raise OptionError(option, f'{text!r}: indices must lie in 0..{upper - 1}')
    return sorted(out)


def parse_strengths(text):
    """'LO,HI' -> (lo, hi) floats with 0 < lo <= hi; OptionError naming --strengths otherwise."""
    try:
        lo, hi = (float(v) for v in text.split(','))
        strength_grid(lo, hi)
    except ValueError:
        raise OptionError('--strengths', f'{text!r}: expected "LO,HI" with 0 < LO <= HI, e.g. "0.125,2"') from None
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
                   title=f'LELSD: {result.link} - training curve',
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



#----------------------------------------------------------------------------
