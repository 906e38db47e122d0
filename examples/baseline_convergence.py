"""How the shipped demo baseline was judged converged: metrics of every snapshot of `linkgan baseline`.

    linkgan baseline --kimg 176 --snapshot-every 16 --out runs/demo_baseline.pt     # snapshots up to 176 kimg (the shipped one is 160)
    python examples/baseline_convergence.py runs/demo_baseline-*.pt --out runs/convergence.json

For every snapshot (G_ema): the quality distance to held-out real scenes (sliced Wasserstein, demo_eval) and the
linkage metrics of the built-in spec of the snapshot's scene (cells or faces; mse_i, mse_o, edit_i, keep_o, locality; 1024 samples, the demo's
evaluation seed). A snapshot counts as converged when a further 16 kimg of plain training changes each of these by
under 10% (relative). The recall (coverage of the real scenes) is reported beside them. Prints a table, writes JSON (and a PNG of quality and leakage against kimg with --plot).
"""

import json
import sys

import click
import torch

KEYS = ('mse_i', 'mse_o', 'edit_i', 'keep_o', 'locality')


def evaluate_snapshot(path, samples):
    from linkgan_plugin.demo.settings import DEMO_DEFAULTS, demo_spec
    from linkgan_plugin.demo.baseline import load_baseline_state
    from linkgan_plugin.demo.evaluation import evaluate_model
    from linkgan_plugin.toy.checkpoint import networks_from_checkpoint
    data = load_baseline_state(path)
    settings = {**DEMO_DEFAULTS, **data['settings'], 'samples': samples}
    spec = demo_spec(None, w_dim=settings['w_dim'], scene=settings.get('scene', 'cells'))   # The scene's built-in spec.
    ev = evaluate_model(networks_from_checkpoint(data)[2], spec, settings)
    row = {'kimg': data['kimg'], 'quality': ev['quality']['mean'], 'pixel_std': ev['pixel_std'],
           'recall': (ev.get('coverage') or {}).get('recall')}
    for k in KEYS:   # Mean over the links.
        row[k] = sum(ev['links'][n][k] for n in spec.names) / len(spec.names)
    return row


def relative_change(a, b):
    return {k: abs(b[k] - a[k]) / max(abs(a[k]), 1e-12) for k in ('quality',) + KEYS}


@click.command()
@click.argument('snapshots', nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option('--samples', type=int, default=1024, show_default=True)
@click.option('--out', type=click.Path(dir_okay=False), default=None, help='JSON of every row.')
def main(snapshots, samples, out):
    torch.set_num_threads(1)
    rows = []
    with click.progressbar(sorted(snapshots), label='snapshots') as bar:
        for path in bar:
            rows.append({'path': path, **evaluate_snapshot(path, samples)})
    rows.sort(key=lambda r: r['kimg'])
    click.echo(f'{"kimg":>6} {"quality":>8} {"recall":>6} {"px std":>7} ' + ' '.join(f'{k:>9}' for k in KEYS) +
               '  max change vs previous')
    for prev, row in zip([None] + rows[:-1], rows):
        change = max(relative_change(prev, row).values()) if prev else float('nan')
        row['max_change_vs_previous'] = change
        recall = f'{row["recall"]:6.3f}' if row['recall'] is not None else f'{"-":>6}'
        click.echo(f'{row["kimg"]:6.0f} {row["quality"]:8.2f} {recall} {row["pixel_std"]:7.3f} ' +
                   ' '.join(f'{row[k]:9.4f}' for k in KEYS) + f'  {change:.3f}')
    if out:
        with open(out, 'w', encoding='utf-8') as f:
            json.dump(rows, f, indent=2)


if __name__ == '__main__':
    sys.exit(main())
