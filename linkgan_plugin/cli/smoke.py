"""`linkgan smoke`: a tiny real training run of a patched upstream train.py with LinkLoss (smoke.run_smoke)."""

import click

from linkgan_plugin.checks import LinkganError
from linkgan_plugin.cli.errors import Command
from linkgan_plugin.smoke import format_summary, LINK_LOSS, run_smoke

#----------------------------------------------------------------------------

@click.command('smoke', cls=Command, context_settings={'ignore_unknown_options': True})
@click.argument('upstream_dir', type=click.Path(file_okay=False, exists=True))
@click.option('--loss', default=LINK_LOSS, show_default=True, help='Loss class for --loss (training.loss.StyleGAN2Loss: the baseline).')
@click.option('--spec', type=click.Path(dir_okay=False, exists=True), help='Link spec JSON for LinkLoss [default: eyes + mouth presets, interval 2].')
@click.option('--data', type=click.Path(exists=True), help='Dataset (folder or zip) [default: a tiny generated one].')
@click.option('--outdir', type=click.Path(file_okay=False), help='Where runs go [default: a new temporary directory].')
@click.option('--nimg', type=click.IntRange(min=1), help='Images to train on [default: 120 for 2D, 24 for stylegan3-t, 40 for eg3d].')
@click.option('--cpu/--no-cpu', default=None, help='Force the CPU shims on or off [default: on when torch sees no CUDA device].')
@click.option('--timeout', type=float, default=3600, show_default=True, help='Seconds before the run is stopped.')
@click.option('--threads', type=click.IntRange(min=1), help='CPU threads for the run (OMP_NUM_THREADS). On a busy machine 1 gives steadier timings.')
@click.argument('train_args', nargs=-1, type=click.UNPROCESSED)
def smoke_command(upstream_dir, loss, spec, data, outdir, nimg, cpu, timeout, threads, train_args):
    """Tiny training run of upstream train.py with --loss=linkgan_plugin.LinkLoss, CPU included.

    UPSTREAM_DIR is a checkout patched with `linkgan patch`. Arguments after `--` go to train.py and override the
    smoke defaults (e.g. `-- --cfg=stylegan3-t`). Prints the run directory, seconds per kimg, the Loss/link/*
    statistics and the loss class recorded in training_options.json.
    """
    s = run_smoke(upstream_dir, loss=loss, spec=spec, data=data, outdir=outdir, nimg=nimg, train_args=train_args,
                  cpu=cpu, timeout=timeout, threads=threads, echo=click.echo)
    click.echo(format_summary(s, wall=s['wall']))
    if s['returncode'] != 0:
        raise LinkganError(f'train.py exited with status {s["returncode"]}' + (' (timed out)' if s['returncode'] == 124 else '')
                           + '; see the output above')
    if s['run_dir'] is None or s['ticks'] == 0:
        raise LinkganError('the run finished without writing stats.jsonl')
    if s['loss_class'] == LINK_LOSS and not any(abs(v['mean']) > 0 for v in s['link'].values()):
        raise LinkganError('LinkLoss was configured but no non-zero Loss/link/* statistic was reported; '
                           'is the run long enough for a link step (see "interval" in the spec)?')
    click.echo('Smoke run OK.')

#----------------------------------------------------------------------------
