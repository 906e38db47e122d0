"""Where the leakage comes from: resample a link's axes in one row of W+ at a time and measure in- and out-of-region
change, for a linked network and its control.

    linkgan-research layer-leakage --linked OUT/linked.pt --control OUT/control.pt --out OUT/layers

(OUT: a `linkgan demo` output folder.) Every row r of ws feeds one synthesis layer (and the ToRGB before it), so
the per-row locality edit_o / edit_i (per region pixel) says which resolution spreads a link's change outside its
region. Rows are labelled by the resolution of the layer they modulate. Writes layers.json and layers.png (locality
per row, linked and control, the paper's anchors as reference lines). Same fixed-seed samples for every row and
network (metrics.sample_inputs), so rows and networks are paired.
"""

import json
import os

import click
import torch

from linkgan_plugin.analysis.generator import GeneratorAdapter
from linkgan_plugin.analysis.metrics import LOCALITY_ANCHORS, METRIC_TABLE, resample_offsets, sample_inputs, variant_metrics
from linkgan_plugin.analysis.network_loading import load_network
from linkgan_plugin.analysis.plots import xy_plot
from linkgan_plugin.checks import OptionError
from linkgan_plugin.cli.errors import Command
from linkgan_plugin.cli.options import progress_bar
from linkgan_plugin.regularizer import BoundSpec
from linkgan_plugin.spec import load_spec

EDIT_TABLE = tuple(m for m in METRIC_TABLE if m.variant == 'linked_resampled')    # edit_i, edit_o


def row_labels(G):
    """Per row of ws, what it modulates in the toy sg2ada synthesis (linkgan_plugin.toy.networks): layer r, and the
    ToRGB after layer r - 1 where there is one, e.g. '8x8 up + ToRGB 4x4'. None for other layouts."""
    synthesis = getattr(G, 'synthesis', None)
    layers, rgb_after = getattr(synthesis, 'layers', None), getattr(synthesis, 'rgb_after', None)
    if layers is None or rgb_after is None:
        return None
    res = [layer.resolution for layer in layers]
    labels = []
    for r in range(len(layers) + 1):
        parts = []
        if r < len(layers):
            parts.append(f'{res[r]}x{res[r]}{" up" if layers[r].conv.up else ""}')
        if r - 1 in rgb_after:
            parts.append(f'ToRGB {res[r - 1]}x{res[r - 1]}')
        labels.append(' + '.join(parts))
    return labels


@torch.no_grad()
def per_row_edits(gen, spec, samples, seed, batch=64):
    """{row: {link: {'edit_i', 'edit_o', 'locality'}}} with the link's axes resampled in row `row` only, and
    'all' for every row (the Table 2 protocol)."""
    bound = BoundSpec(spec, gen.w_dim)
    z, z_new, noise, c = sample_inputs(gen, spec.names, samples, seed)
    rows = list(range(gen.num_ws)) + ['all']
    sums = {r: {n: {'edit_i': 0.0, 'edit_o': 0.0, 'edit_i_region': 0.0, 'edit_o_region': 0.0} for n in spec.names}
            for r in rows}
    for i in range(0, samples, batch):
        sl = slice(i, min(i + batch, samples))
        ws, ws_new = gen.map(z[sl], c[sl]), gen.map(z_new[sl], c[sl])
        full = resample_offsets(ws, ws_new, bound)                   # [N, links, num_ws, w_dim]
        for r in rows:
            keep = torch.ones(gen.num_ws) if r == 'all' else torch.nn.functional.one_hot(torch.tensor(r), gen.num_ws)
            offsets = [full[:, k] * keep[None, :, None] for k in range(bound.num_links)]
            values = variant_metrics(gen, bound, ws, offsets, c[sl], variants=('linked_resampled',), table=EDIT_TABLE)
            for k, name in enumerate(spec.names):
                for key in sums[r][name]:
                    sums[r][name][key] += float(values['image'][key][:, k].sum())
    out = {}
    for r in rows:
        out[r] = {}
        for name, s in sums[r].items():
            out[r][name] = {'edit_i': s['edit_i'] / samples, 'edit_o': s['edit_o'] / samples,
                            'locality': s['edit_o_region'] / max(s['edit_i_region'], 1e-12)}
    return out


@click.command('layer-leakage', cls=Command)
@click.option('--linked', required=True, type=click.Path(exists=True, dir_okay=False), help='Linked demo checkpoint.')
@click.option('--control', required=True, type=click.Path(exists=True, dir_okay=False), help='Its control.')
@click.option('--out', 'outdir', required=True, type=click.Path(file_okay=False))
@click.option('--samples', type=click.IntRange(min=8), default=256, show_default=True)
@click.option('--seed', type=click.IntRange(min=0), default=0, show_default=True)
def layer_leakage_command(linked, control, outdir, samples, seed):
    """Locality with a link resampled in one row of W+ at a time, linked against control."""
    os.makedirs(outdir, exist_ok=True)
    nets = {'linked': load_network(linked), 'control': load_network(control)}
    spec_dict = nets['linked'].eval_spec or nets['linked'].checkpoint_spec
    if not spec_dict:
        raise OptionError('--linked', 'the linked checkpoint stores no spec')
    report = {}
    with progress_bar(len(nets), 'networks') as bar:
        for role, net in nets.items():
            gen = GeneratorAdapter(net.G)
            spec = load_spec(spec_dict, w_dim=gen.w_dim)
            report[role] = per_row_edits(gen, spec, samples, seed)
            bar.update(1)
    labels = row_labels(nets['linked'].G) or [f'row {r}' for r in range(len(report['linked']) - 1)]
    series = []
    for role in ('control', 'linked'):
        for name in spec.names:
            pts = [(r, report[role][r][name]['locality']) for r in range(len(labels))]
            series.append({'label': f'{role} {name}', 'points': pts, 'line': True})
    xy_plot(series, 'row of ws (0 = 4x4 layer; ' + ', '.join(f'{r}: {l}' for r, l in enumerate(labels)) + ')',
            'locality (per-pixel out / in)', log_y=True,
            title='Locality with a link resampled in one row of W+ at a time',
            hlines=[(v, f'paper {k} ~{v}') for k, v in LOCALITY_ANCHORS.items()], size=(1100, 560)).save(
        os.path.join(outdir, 'layers.png'))
    with open(os.path.join(outdir, 'layers.json'), 'w', encoding='utf-8') as f:
        json.dump({'labels': labels, 'samples': samples, 'seed': seed, 'rows': {
            role: {str(r): v for r, v in rows.items()} for role, rows in report.items()}}, f, indent=2)
    for r in list(range(len(labels))) + ['all']:
        label = 'all rows' if r == 'all' else f'row {r} ({labels[r]})'
        cells = '  '.join(f'{role} {n}: loc {report[role][r][n]["locality"]:.3f} edit_o {report[role][r][n]["edit_o"]:.4f}'
                          for role in ('control', 'linked') for n in spec.names)
        click.echo(f'{label:<22} {cells}')

