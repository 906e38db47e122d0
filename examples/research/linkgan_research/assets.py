"""Rebuilders of the product's shipped assets (`linkgan_plugin/demo/assets/`): the demo baselines and the factor
regressors of the coverage measure. They stay out of the wheel: users never need them, the assets ship.

    linkgan-research baseline --scene faces --kimg 320 --out linkgan_plugin/demo/assets/faces_baseline.pt
    linkgan-research factor-regressor --scene faces --out linkgan_plugin/demo/assets/factor_regressor_faces.pt
"""

import os

import click
import torch

from linkgan_plugin.cli.errors import Command
from linkgan_plugin.cli.options import progress_bar
from linkgan_plugin.demo.baseline import load_baseline_state, save_baseline, train_baseline_snapshots
from linkgan_plugin.demo.scenes import scene_of, SCENES
from linkgan_plugin.demo.factors import make_factor_file
from linkgan_plugin.demo.settings import DEMO_DEFAULTS

#----------------------------------------------------------------------------

@click.command('baseline', cls=Command)
@click.option('--kimg', type=click.FloatRange(min=0, min_open=True), default=160.0, show_default=True,
              help='Thousands of training images.')
@click.option('--snapshot-every', type=click.FloatRange(min=0, min_open=True), default=None,
              help='Also save <out stem>-<kimg>.pt every this many kimg.')
@click.option('--seed', type=click.IntRange(min=0), default=0, show_default=True)
@click.option('--scene', type=click.Choice(SCENES), default='cells', show_default=True, help='The demo scene it learns.')
@click.option('--resolution', type=click.IntRange(min=8), default=None,
              help='Image size (default: the scene\'s, 32 for all but portraits, 64).')
@click.option('--threads', type=click.IntRange(min=1), default=1, show_default=True,
              help='torch threads (1 makes the result bit-reproducible).')
@click.option('--fp16', is_flag=True, help='Store the tensors in float16, as the shipped files are (half the bytes).')
@click.option('--resume', type=click.Path(exists=True, dir_okay=False), default=None,
              help='Go on from one of its snapshots (--kimg counts in all); Adam restarts, as upstream\'s --resume.')
@click.option('--out', type=click.Path(dir_okay=False), required=True, help='Where the baseline .pt goes.')
def baseline_command(kimg, snapshot_every, seed, scene, resolution, threads, fp16, resume, out):
    """Train a demo baseline from scratch (the shipped ones: cells 160 kimg, landscape 64, faces 320)."""
    torch.set_num_threads(threads)
    settings = {**DEMO_DEFAULTS, 'seed': seed, 'scene': scene,
                'resolution': resolution or scene_of(scene).resolution}
    stem = os.path.splitext(out)[0]
    trainer = train_baseline_snapshots(settings, kimg, snapshot_every, lambda k: f'{stem}-{k:06.1f}.pt', bar=progress_bar,
                                       resume=load_baseline_state(resume) if resume else None)
    save_baseline(out, trainer, settings, half=fp16)
    click.echo(f'wrote {out} ({trainer.cur_nimg / 1000:.1f} kimg, {os.path.getsize(out) / 1e6:.2f} MB)')


@click.command('factor-regressor', cls=Command)
@click.option('--scene', type=click.Choice(SCENES), default='cells', show_default=True)
@click.option('--resolution', type=click.IntRange(min=8), default=None, help='Default: the scene\'s (32; portraits 64).')
@click.option('--cells', type=click.IntRange(min=1), default=2, show_default=True)
@click.option('--out', type=click.Path(dir_okay=False), required=True, help='Where the regressor file goes.')
def factor_regressor_command(scene, resolution, cells, out):
    """Train and save a scene's factor regressor (the feature space of the coverage measure)."""
    result = make_factor_file(out, scene, resolution or scene_of(scene).resolution, cells)
    click.echo(f"wrote {result['path']} in {result['seconds']:.1f} s; held-out R^2 {result['accuracy']['all']:.3f}")

#----------------------------------------------------------------------------
