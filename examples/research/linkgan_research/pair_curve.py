"""`linkgan-research pair-curve`: the learning curve of a real `linkgan pair`, and the first snapshot at which its
control has learned the data (issue 32's stop rule: the control's recall is at least a third of the real-vs-real
recall).

    linkgan-research pair-curve runs/pair-s0 --data runs/cells32.zip --spec runs/cells_spec.json \
        --upstream ~/src/stylegan2-ada-pytorch --every 8 --out results/upstream_pair/curve-s0

For every kimg at which both roles have a snapshot (`workflows.pair_training.role_snapshots`, every `--every` kimg):
quality of each G_ema against `--data` (`analysis.evaluate.data_quality`, what `linkgan pair` and `eval --data`
report: SWD, recall, precision, each beside its floor) and every leakage metric of every link
(`analysis.evaluate.evaluate_network`, the same fixed-seed samples for both roles). Rows are kept in OUT/curve.json
as they are measured, so a rerun measures only the snapshots that are new (the pair may still be training). Writes
OUT/curve.json, OUT/curve.md (the curve, and linked / control at the learned snapshot) and OUT/curve.png.
"""

import json
import os

import click
import torch

from linkgan_plugin.analysis.evaluate import data_quality, evaluate_network
from linkgan_plugin.analysis.network_loading import load_network, make_adapter
from linkgan_plugin.analysis.plots import xy_plot
from linkgan_plugin.cli.errors import Command
from linkgan_plugin.cli.options import progress_bar
from linkgan_plugin.spec import load_spec
from linkgan_plugin.workflows.pair_training import role_snapshots, ROLES

LEARNED_SHARE = 1 / 3           # The control has learned when its recall reaches this share of the real-vs-real one.
METRICS = ('locality', 'mse_i', 'mse_o', 'edit_i', 'keep_o')

#----------------------------------------------------------------------------

def paired_snapshots(pair_dir, every):
    """[(kimg, {role: snapshot path})] for every kimg (a multiple of `every`) at which both roles have a snapshot."""
    by_role = {role: {s['kimg']: s['path'] for s in role_snapshots(os.path.join(pair_dir, role))} for role in ROLES}
    common = sorted(set(by_role['control']) & set(by_role['linked']))
    return [(k, {role: by_role[role][k] for role in ROLES}) for k in common if k > 0 and k % every < 1e-6]


def measure_snapshot(path, spec_path, data, upstream, samples, quality_images):
    """One role at one snapshot: {'swd', 'swd_floor', 'recall', 'recall_floor', 'precision', 'links': {link:
    {metric: mean}}}."""
    gen = make_adapter(load_network(path, upstream=upstream))
    spec = load_spec(spec_path, w_dim=gen.w_dim, resolution=gen.img_resolution)
    q = data_quality(gen, data, quality_images)
    cov = q['coverage'] or {}
    links = evaluate_network(gen, spec, samples=samples)['results']['image']
    return {'swd': q['swd']['mean'], 'swd_floor': (q['swd_floor'] or {}).get('mean'),
            'recall': cov.get('recall'), 'precision': cov.get('precision'),
            'recall_floor': (cov.get('floor') or {}).get('recall'),
            'links': {name: {m: values[m] for m in METRICS} for name, values in links.items()}}


def learned(row, share=LEARNED_SHARE):
    """Whether the control of a curve row has learned the data (module docstring)."""
    c = row['control']
    return c['recall'] is not None and c['recall_floor'] and c['recall'] >= share * c['recall_floor']


def ratios(row):
    """{link: {metric: linked / control}} of one curve row, plus 'swd' and 'recall'."""
    lk, ct = row['linked'], row['control']
    out = {name: {m: lk['links'][name][m] / max(ct['links'][name][m], 1e-12) for m in METRICS} for name in ct['links']}
    out['swd'] = lk['swd'] / ct['swd']
    out['recall'] = lk['recall'] / ct['recall'] if ct['recall'] else None
    return out


def curve_summary(rows):
    """{'learned_kimg': the first kimg whose control has learned (None: not yet), 'ratios' there, 'last_kimg'}."""
    first = next((r for r in rows if learned(r)), None)
    return {'learned_kimg': first and first['kimg'], 'ratios': first and ratios(first),
            'last_kimg': rows[-1]['kimg'] if rows else None, 'learned_share': LEARNED_SHARE}

#----------------------------------------------------------------------------

def _fmt(v, digits=3):
    return '-' if v is None else f'{v:.{digits}f}'


def curve_markdown(rows, summary, command):
    links = list(rows[0]['control']['links']) if rows else []
    head = ['kimg', 'control SWD (floor)', 'linked SWD', 'control recall (floor)', 'linked recall',
            *[f'{n} locality ratio' for n in links], 'learned']
    lines = ['# A real pair\'s learning curve', '', f'Made by `{command}`. Each row: both roles\' snapshots at that '
             'kimg, quality against the training data (SWD x1e3 and recall, each beside its real-vs-real floor) and '
             'linked / control locality per link. The control has learned when its recall reaches '
             f'{LEARNED_SHARE:.2f} of the real-vs-real recall.', '',
             '| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in rows:
        c, lk, rat = r['control'], r['linked'], ratios(r)
        lines.append(f'| {r["kimg"]:g} | {_fmt(c["swd"], 1)} ({_fmt(c["swd_floor"], 1)}) | {_fmt(lk["swd"], 1)} | '
                     f'{_fmt(c["recall"])} ({_fmt(c["recall_floor"])}) | {_fmt(lk["recall"])} | '
                     + ' | '.join(_fmt(rat[n]['locality']) for n in links) + f' | {"yes" if learned(r) else "no"} |')
    lines.append('')
    if summary['learned_kimg'] is None:
        lines.append(f'The control has not learned the data by {_fmt(summary["last_kimg"], 0)} kimg: the ratios above '
                     'compare two networks that do not yet draw the data.')
    else:
        lines += [f'## Linked / control at {summary["learned_kimg"]:g} kimg, the first learned snapshot', '',
                  '| link | ' + ' | '.join(METRICS) + ' |', '|---|' + '---|' * len(METRICS)]
        for n in links:
            lines.append(f'| {n} | ' + ' | '.join(_fmt(summary['ratios'][n][m]) for m in METRICS) + ' |')
        lines += ['', f'SWD ratio {_fmt(summary["ratios"]["swd"])}, recall ratio {_fmt(summary["ratios"]["recall"])}.']
    return '\n'.join(lines) + '\n\n![curve](curve.png)\n'


def curve_picture(rows):
    """Recall of both roles against kimg, with the real-vs-real recall and the learned threshold."""
    series = [{'label': f'{role} recall', 'points': [(r['kimg'], r[role]['recall']) for r in rows
                                                     if r[role]['recall'] is not None], 'line': True}
              for role in ROLES]
    floor = next((r['control']['recall_floor'] for r in rows if r['control']['recall_floor']), None)
    hlines = [] if floor is None else [(floor, 'real vs real'), (LEARNED_SHARE * floor, 'learned')]
    return xy_plot(series, 'kimg', 'recall', title='a real pair: coverage of the training data', hlines=hlines)

#----------------------------------------------------------------------------

@click.command('pair-curve', cls=Command)
@click.argument('pair_dir', type=click.Path(exists=True, file_okay=False))
@click.option('--data', required=True, type=click.Path(exists=True), help='The pair\'s training data (zip or folder).')
@click.option('--spec', 'spec_path', required=True, type=click.Path(exists=True, dir_okay=False),
              help='The pair\'s link spec.')
@click.option('--upstream', required=True, type=click.Path(exists=True, file_okay=False),
              help='The upstream checkout that unpickles the snapshots.')
@click.option('--every', type=click.IntRange(min=1), default=8, show_default=True, help='Measure every N kimg.')
@click.option('--samples', type=click.IntRange(min=16), default=1000, show_default=True,
              help='Latents for the leakage metrics.')
@click.option('--quality-images', type=click.IntRange(min=16), default=1024, show_default=True)
@click.option('--out', required=True, type=click.Path(file_okay=False))
def pair_curve_command(pair_dir, data, spec_path, upstream, every, samples, quality_images, out):
    """The learning curve of a real pair and linked / control at the first snapshot whose control learned."""
    torch.set_num_threads(1)
    os.makedirs(out, exist_ok=True)
    record_path = os.path.join(out, 'curve.json')
    rows = []
    if os.path.isfile(record_path):
        with open(record_path, encoding='utf-8') as f:
            rows = json.load(f)['rows']
    done = {r['kimg'] for r in rows}
    todo = [(k, paths) for k, paths in paired_snapshots(pair_dir, every) if k not in done]
    command = (f'linkgan-research pair-curve {pair_dir} --data {data} --spec {spec_path} --upstream {upstream} '
               f'--every {every} --samples {samples} --quality-images {quality_images} --out {out}')
    with progress_bar(len(todo), 'snapshots') as bar:
        for kimg, paths in todo:
            row = {'kimg': kimg, **{role: {'path': os.path.abspath(paths[role]),
                                           **measure_snapshot(paths[role], spec_path, data, upstream, samples,
                                                              quality_images)} for role in ROLES}}
            rows = sorted(rows + [row], key=lambda r: r['kimg'])
            with open(record_path, 'w', encoding='utf-8') as f:
                json.dump({'command': command, 'rows': rows, 'summary': curve_summary(rows)}, f, indent=1)
            bar.update(1)
    if not rows:
        raise click.UsageError(f'{pair_dir}: no kimg at which both roles have a snapshot (every {every} kimg)')
    summary = curve_summary(rows)
    with open(record_path, 'w', encoding='utf-8') as f:
        json.dump({'command': command, 'rows': rows, 'summary': summary}, f, indent=1)
    with open(os.path.join(out, 'curve.md'), 'w', encoding='utf-8') as f:
        f.write(curve_markdown(rows, summary, command))
    curve_picture(rows).save(os.path.join(out, 'curve.png'))
    click.echo(curve_markdown(rows, summary, command))
