"""`linkgan-research convergence`: whether a baseline has converged, from the metrics of its snapshots.

    linkgan-research baseline --scene faces --kimg 320 --snapshot-every 16 --out runs/faces_baseline.pt
    linkgan-research convergence runs/faces_baseline-*.pt --out results/faces_baseline/convergence

For every snapshot (its G_ema, `demo.evaluation.evaluate_model` on `--samples` fixed-seed samples of the snapshot's
scene and built-in spec): the SWD to held-out real scenes, the recall and precision of the real scenes (the scene's
factor space), and the linkage metrics of the built-in spec (mse_i, mse_o, edit_i, keep_o, locality; the mean over
its links). The rule (the paper fine-tunes a *converged* generator, converged in coverage too): a baseline has
converged when every one of these metrics moves by under `--tolerance` (10%, relative) between the snapshot at the
start of the last fifth of training and every later snapshot. Writes OUT.json (every row, the rule and the verdict),
OUT.md (the convergence table) and OUT.png (SWD and recall against kimg).
"""

import json
import os

import click
import torch

from linkgan_plugin.analysis.plots import xy_plot
from linkgan_plugin.cli.errors import Command
from linkgan_plugin.cli.options import progress_bar
from linkgan_plugin.demo.baseline import load_baseline_state
from linkgan_plugin.demo.evaluation import evaluate_model
from linkgan_plugin.demo.settings import DEMO_DEFAULTS, demo_spec
from linkgan_plugin.toy.checkpoint import networks_from_checkpoint

LINK_KEYS = ('mse_i', 'mse_o', 'edit_i', 'keep_o', 'locality')
KEYS = ('swd', 'recall', 'precision') + LINK_KEYS
TOLERANCE = 0.10                # Relative change every metric must stay under over the last fifth of training.
LAST_SHARE = 0.2

#----------------------------------------------------------------------------

def evaluate_snapshot(path, samples):
    """One row of the table: the snapshot's kimg and KEYS (linkage: the mean over the built-in spec's links)."""
    data = load_baseline_state(path)
    settings = {**DEMO_DEFAULTS, **data['settings'], 'samples': samples}
    spec = demo_spec(None, w_dim=settings['w_dim'], scene=settings.get('scene', 'cells'))
    ev = evaluate_model(networks_from_checkpoint(data)[2], spec, settings)
    cov = ev['quality']['coverage'] or {}
    row = {'path': path, 'kimg': data['kimg'], 'scene': settings.get('scene', 'cells'),
           'swd': ev['quality']['swd']['mean'], 'swd_floor': (ev['quality']['swd_floor'] or {}).get('mean'),
           'recall': cov.get('recall'), 'precision': cov.get('precision'),
           'recall_floor': (cov.get('floor') or {}).get('recall'), 'pixel_std': ev['pixel_std']}
    for k in LINK_KEYS:
        row[k] = sum(ev['links'][n][k] for n in spec.names) / len(spec.names)
    return row


def relative_change(a, b, keys=KEYS):
    """{metric: |b - a| / |a|} over `keys` (metrics missing in either row are left out)."""
    return {k: abs(b[k] - a[k]) / max(abs(a[k]), 1e-12) for k in keys if a.get(k) is not None and b.get(k) is not None}


def convergence_verdict(rows, tolerance=TOLERANCE, last_share=LAST_SHARE):
    """The rule of the module docstring over rows sorted by kimg: {'converged', 'reference_kimg' (the snapshot at
    the start of the last fifth), 'max_change': {metric: largest relative change after it}, 'worst', 'tolerance'}.
    ValueError for fewer than 2 rows."""
    if len(rows) < 2:
        raise ValueError('convergence needs at least 2 snapshots')
    end = rows[-1]['kimg']
    start = end * (1 - last_share)
    reference = max((r for r in rows if r['kimg'] <= start + 1e-9), key=lambda r: r['kimg'], default=rows[0])
    later = [r for r in rows if r['kimg'] > reference['kimg']]
    changes = {}
    for r in later:
        for k, v in relative_change(reference, r).items():
            changes[k] = max(changes.get(k, 0.0), v)
    worst = max(changes, key=changes.get) if changes else None
    return {'converged': bool(changes) and all(v < tolerance for v in changes.values()),
            'reference_kimg': reference['kimg'], 'final_kimg': end, 'max_change': changes, 'worst': worst,
            'tolerance': tolerance, 'last_share': last_share}


def convergence_markdown(rows, verdict, title):
    """The convergence table and the verdict as Markdown."""
    fmt = lambda v, f: '-' if v is None else format(v, f)
    lines = [f'# {title}', '',
             f'Rule: every metric moves by under {verdict["tolerance"]:.0%} (relative) from the snapshot at '
             f'{verdict["reference_kimg"]:g} kimg (the start of the last {verdict["last_share"]:.0%} of training) to '
             f'every later one. Verdict: **{"converged" if verdict["converged"] else "not converged"}** (largest '
             f'change: {verdict["worst"]} {verdict["max_change"].get(verdict["worst"], 0):.1%}).', '',
             '| kimg | SWD (floor) | recall (floor) | precision | ' + ' | '.join(LINK_KEYS) + ' |',
             '|---|---|---|---|' + '---|' * len(LINK_KEYS)]
    for r in rows:
        lines.append(f'| {r["kimg"]:g} | {r["swd"]:.1f} ({fmt(r["swd_floor"], ".1f")}) | {fmt(r["recall"], ".3f")} '
                     f'({fmt(r["recall_floor"], ".3f")}) | {fmt(r["precision"], ".3f")} | '
                     + ' | '.join(f'{r[k]:.4f}' for k in LINK_KEYS) + ' |')
    return '\n'.join(lines) + '\n'


def convergence_picture(rows):
    """SWD and recall against kimg (two series, one plot; recall x100 so both share an axis)."""
    return xy_plot([{'label': 'SWD x1e3', 'points': [(r['kimg'], r['swd']) for r in rows], 'line': True},
                    {'label': 'recall x100', 'points': [(r['kimg'], 100 * r['recall']) for r in rows
                                                        if r['recall'] is not None], 'line': True}],
                   'kimg', 'value', title='baseline convergence: quality and coverage against training length')


@click.command('convergence', cls=Command)
@click.argument('snapshots', nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option('--samples', type=click.IntRange(min=16), default=1024, show_default=True)
@click.option('--tolerance', type=click.FloatRange(min=0, min_open=True), default=TOLERANCE, show_default=True)
@click.option('--out', required=True, type=click.Path(dir_okay=False), help='Writes OUT.json, OUT.md and OUT.png.')
def convergence_command(snapshots, samples, tolerance, out):
    """Evaluate every baseline snapshot and judge convergence (module docstring)."""
    torch.set_num_threads(1)
    rows = []
    with progress_bar(len(snapshots), 'snapshots') as bar:
        for path in snapshots:
            rows.append(evaluate_snapshot(path, samples))
            bar.update(1)
    rows.sort(key=lambda r: r['kimg'])
    verdict = convergence_verdict(rows, tolerance)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out + '.json', 'w', encoding='utf-8') as f:
        json.dump({'rows': rows, 'verdict': verdict, 'samples': samples}, f, indent=2)
    md = convergence_markdown(rows, verdict, f'Baseline convergence: {rows[-1]["scene"]}, {len(rows)} snapshots')
    with open(out + '.md', 'w', encoding='utf-8') as f:
        f.write(md)
    convergence_picture(rows).save(out + '.png')
    click.echo(md + f'\nwrote {out}.json, {out}.md and {out}.png')

#----------------------------------------------------------------------------
