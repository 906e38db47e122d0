"""The demo's converged baseline: trained once with the project's own code, shipped in the package.

The paper fine-tunes a *converged* generator. `linkgan demo` therefore fine-tunes from a baseline that was trained
far longer than a demo could afford on a laptop, and that ships inside the package (`assets/demo_baseline.pt`,
state dicts only, 160 kimg; `assets/landscape_baseline.pt` for the semantic demo, 64 kimg; `assets/faces_baseline.pt`
for the faces, 320 kimg). This module trains it and reads it back:

    linkgan baseline --kimg 160 --out linkgan_plugin/demo/assets/demo_baseline.pt

reproduces the shipped file (deterministic on one thread: `--threads 1`, the default); `--snapshot-every 16` writes
`<out stem>-<kimg>.pt` along the way, which is how convergence was judged (README, "The shipped baseline": a
320-kimg run's snapshots).

File format (`torch.save` of a dict, loads with `weights_only=True`):
    'format' 2; 'flavour' 'sg2ada';
    'G_init_kwargs', 'D_init_kwargs'     kwargs of ToyGeneratorSG2ADA / MbstdDiscriminator;
    'G_state', 'D_state', 'G_ema_state'  state dicts of the training G, D and the smoothed G_ema;
    'kimg'                               thousands of images seen;
    'settings', 'loss_kwargs', 'trainer_kwargs'   what trained it (plain JSON-able values).
"""

import math
import os

import click
import torch

from linkgan_plugin.demo.data import scene_stream, SCENES
from linkgan_plugin.demo.settings import DEMO_DEFAULTS, LOSS_KWARGS, make_networks, TRAINER_KWARGS
from linkgan_plugin.toy.checkpoint import state_copy
from linkgan_plugin.toy.loop import build_loss, ToyTrainer

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'assets')
BASELINE_FILE = os.path.join(ASSETS, 'demo_baseline.pt')
# The shipped baseline of each scene. The varied skies ('skies') have none of their own: they share the plain
# landscapes' networks, so `--from-scratch` runs take its sizes and a fine-tune from it first sees varied skies.
# A checkout without a scene's file (or a scene without an entry) gets shipped_baseline's message: how to train one.
BASELINE_FILES = {'cells': BASELINE_FILE, 'landscape': os.path.join(ASSETS, 'landscape_baseline.pt'),
                  'skies': os.path.join(ASSETS, 'landscape_baseline.pt'),
                  'faces': os.path.join(ASSETS, 'faces_baseline.pt')}
# Their lengths in kimg (`linkgan baseline --scene S --kimg K` reproduces each; docs/demo.md has the convergence runs).
BASELINE_KIMG = {'cells': 160, 'landscape': 64, 'skies': 64, 'faces': 320}
FORMAT = 2

#----------------------------------------------------------------------------

def save_baseline(path, trainer, settings):
    """Writes the state dicts of trainer.G, D, G_ema (see module docstring). Tensors are stored contiguous, fp32."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    torch.save({
        'format': FORMAT, 'flavour': 'sg2ada',
        'G_init_kwargs': dict(trainer.G.init_kwargs), 'D_init_kwargs': dict(trainer.D.init_kwargs),
        'G_state': state_copy(trainer.G), 'D_state': state_copy(trainer.D), 'G_ema_state': state_copy(trainer.G_ema),
        'kimg': trainer.cur_nimg / 1000, 'settings': dict(settings), 'loss_kwargs': dict(LOSS_KWARGS),
        'trainer_kwargs': {k: list(v) if isinstance(v, tuple) else v for k, v in TRAINER_KWARGS.items()},
    }, path)


def has_shipped_baseline(scene):
    """True when a baseline ships for `scene`: it has an entry in BASELINE_FILES and the file exists."""
    path = BASELINE_FILES.get(scene)
    return path is not None and os.path.isfile(path)


def shipped_baseline(scene):
    """The path of the shipped baseline of `scene` (BASELINE_FILES). Raises click.ClickException, saying how to get
    a baseline, when none ships for the scene (no entry, or its file is missing)."""
    path = BASELINE_FILES.get(scene)
    if not has_shipped_baseline(scene):
        missing = f' ({path} is missing)' if path else ''
        raise click.ClickException(
            f'no shipped baseline for the {scene} scene{missing}: train one with `linkgan baseline --scene {scene} '
            f'--kimg {BASELINE_KIMG.get(scene, 160)} --out FILE` and pass --baseline FILE, or use --baseline train (a short one trained now, '
            f'--baseline-kimg). With --from-scratch any baseline file serves: it only gives the networks\' sizes.')
    return path


def load_baseline_state(path=None):
    """The baseline dict of `path` (default: the shipped file), checked for its format."""
    path = path or BASELINE_FILE
    if not os.path.isfile(path):
        raise FileNotFoundError(f'baseline file not found: {path}')
    data = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(data, dict) or data.get('format') != FORMAT:
        raise ValueError(f'{path}: not a linkgan demo baseline (format {FORMAT})')
    return data


def train_baseline_snapshots(settings, kimg, snapshot_every=None, snapshot_path=None, show=True):
    """Trains the demo baseline from scratch for `kimg` thousand images; optionally saves snapshots.

    Args:
        settings:        the demo's settings (DEMO_DEFAULTS and overrides).
        kimg:            training length.
        snapshot_every:  kimg between snapshots (None: none); snapshot_path(kimg) names each file.
    Returns:
        the ToyTrainer.
    """
    torch.manual_seed(settings['seed'])
    G, D = make_networks(settings)
    loss = build_loss('sg2ada', G, D, **LOSS_KWARGS)
    trainer = ToyTrainer('sg2ada', G, D, loss, batch=settings['batch'], **TRAINER_KWARGS)
    stream = scene_stream(settings, settings['batch'], seed=settings['seed'])
    steps = max(1, int(math.ceil(kimg * 1000 / settings['batch'])))
    every = None if not snapshot_every else max(1, int(round(snapshot_every * 1000 / settings['batch'])))
    with click.progressbar(length=steps, label='baseline', show_eta=True, show_pos=True) as bar:
        for step in range(1, steps + 1):
            trainer.step(*next(stream))
            bar.update(1)
            if every and step % every == 0 and snapshot_path is not None:
                save_baseline(snapshot_path(trainer.cur_nimg / 1000), trainer, settings)
    return trainer


@click.command('baseline')
@click.option('--kimg', type=click.FloatRange(min=0, min_open=True), default=160.0, show_default=True,
              help='Thousands of training images.')
@click.option('--snapshot-every', type=click.FloatRange(min=0, min_open=True), default=None,
              help='Also save <out stem>-<kimg>.pt every this many kimg.')
@click.option('--seed', type=click.IntRange(min=0), default=0, show_default=True)
@click.option('--scene', type=click.Choice(SCENES), default='cells', show_default=True,
              help='The demo\'s scenes: cells (the box demo), landscape (the semantic demo), skies (landscapes '
                   'under varied skies) or faces (aligned faces: eyes, nose, mouth).')
@click.option('--threads', type=click.IntRange(min=1), default=1, show_default=True,
              help='torch threads (1 makes the result bit-reproducible).')
@click.option('--out', type=click.Path(dir_okay=False), required=True, help='Where the baseline .pt goes.')
def baseline_command(kimg, snapshot_every, seed, scene, threads, out):
    """Train the demo's baseline from scratch (the shipped ones: --kimg 160, the default, for the cells; --scene
    landscape --kimg 64 for the landscapes)."""
    torch.set_num_threads(threads)
    settings = {**DEMO_DEFAULTS, 'seed': seed, 'scene': scene}
    stem = os.path.splitext(out)[0]
    trainer = train_baseline_snapshots(settings, kimg, snapshot_every, lambda k: f'{stem}-{k:06.1f}.pt')
    save_baseline(out, trainer, settings)
    click.echo(f'wrote {out} ({trainer.cur_nimg / 1000:.1f} kimg, {os.path.getsize(out) / 1e6:.2f} MB)')

#----------------------------------------------------------------------------
