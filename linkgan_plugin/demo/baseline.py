"""The demo's converged baseline: trained once with the project's own code, shipped in the package.

The paper fine-tunes a *converged* generator. `linkgan demo` therefore fine-tunes from a baseline that was trained
far longer than a demo could afford on a laptop, and that ships inside the package (`assets/demo_baseline.pt`,
state dicts only, 160 kimg; `assets/landscape_baseline.pt` for the semantic demo, 64 kimg; `assets/faces_baseline.pt`
for the faces, 320 kimg). This module trains it and reads it back:

    linkgan-research baseline --kimg 160 --out linkgan_plugin/demo/assets/demo_baseline.pt     # the lab's rebuilder

reproduces the shipped file (deterministic on one thread); `--snapshot-every 16` writes `<out stem>-<kimg>.pt` along
the way, which is how convergence was judged (the lab's convergence tables: examples/research/).

File format: the toy checkpoint (`toy.checkpoint.save_checkpoint`, the one writer) with the training G and D,
'role' 'baseline', 'kimg', 'settings', 'loss_kwargs' and 'trainer_kwargs'. The shipped files are the older format 2
of the same keys (no 'spec'); both load here.
"""

import math
import os

import torch

from linkgan_plugin.checks import LinkganError
from linkgan_plugin.demo.data import scene_stream
from linkgan_plugin.demo.settings import LOSS_KWARGS, make_networks, TRAINER_KWARGS
from linkgan_plugin.progress import open_bar
from linkgan_plugin.toy.checkpoint import CHECKPOINT_FORMAT, save_checkpoint
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
BASELINE_FORMATS = (2, CHECKPOINT_FORMAT)   # The shipped files' older layout, and save_checkpoint's.

#----------------------------------------------------------------------------

def save_baseline(path, trainer, settings):
    """Writes trainer's G, D and G_ema as a baseline checkpoint (module docstring)."""
    save_checkpoint(path, trainer.G_ema, 'sg2ada', G=trainer.G, D=trainer.D, role='baseline',
                    kimg=trainer.cur_nimg / 1000, settings=dict(settings), loss_kwargs=dict(LOSS_KWARGS),
                    trainer_kwargs={k: list(v) if isinstance(v, tuple) else v for k, v in TRAINER_KWARGS.items()})


def has_shipped_baseline(scene):
    """True when a baseline ships for `scene`: it has an entry in BASELINE_FILES and the file exists."""
    path = BASELINE_FILES.get(scene)
    return path is not None and os.path.isfile(path)


def shipped_baseline(scene):
    """The path of the shipped baseline of `scene` (BASELINE_FILES). Raises LinkganError, saying how to get a
    baseline, when none ships for the scene (no entry, or its file is missing)."""
    path = BASELINE_FILES.get(scene)
    if not has_shipped_baseline(scene):
        missing = f' ({path} is missing)' if path else ''
        raise LinkganError(
            f'no shipped baseline for the {scene} scene{missing}: train one with `linkgan-research baseline --scene {scene} '
            f'--kimg {BASELINE_KIMG.get(scene, 160)} --out FILE` and pass --baseline FILE, or use --baseline train (a short one trained now, '
            f'--baseline-kimg). With --from-scratch any baseline file serves: it only gives the networks\' sizes.')
    return path


def load_baseline_state(path=None):
    """The baseline dict of `path` (default: the shipped file), checked for its format."""
    path = path or BASELINE_FILE
    if not os.path.isfile(path):
        raise FileNotFoundError(f'baseline file not found: {path}')
    data = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(data, dict) or data.get('format') not in BASELINE_FORMATS or 'D_state' not in data:
        raise ValueError(f'{path}: not a linkgan demo baseline (a toy checkpoint with G and D, format '
                         f'{" or ".join(map(str, BASELINE_FORMATS))})')
    return data


def train_baseline_snapshots(settings, kimg, snapshot_every=None, snapshot_path=None, bar=None):
    """Trains the demo baseline from scratch for `kimg` thousand images; optionally saves snapshots.

    Args:
        settings:        the demo's settings (DEMO_DEFAULTS and overrides).
        kimg:            training length.
        snapshot_every:  kimg between snapshots (None: none); snapshot_path(kimg) names each file.
        bar:             progress bar factory (linkgan_plugin.progress), None: none.
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
    with open_bar(bar, steps, 'baseline') as b:
        for step in range(1, steps + 1):
            trainer.step(*next(stream))
            b.update(1)
            if every and step % every == 0 and snapshot_path is not None:
                save_baseline(snapshot_path(trainer.cur_nimg / 1000), trainer, settings)
    return trainer


#----------------------------------------------------------------------------
