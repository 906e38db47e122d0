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
of the same keys (no 'spec'), their tensors stored in float16 (half the bytes; loading upcasts into the float32
networks: on the cells' baseline every metric moves by under 0.1%, SWD 107.29 -> 107.28, 256 samples); both load here.
"""

import math
import os

import torch

from linkgan_plugin.checks import LinkganError
from linkgan_plugin.demo.scenes import scene_of, scene_stream
from linkgan_plugin.demo.settings import LOSS_KWARGS, make_networks, TRAINER_KWARGS
from linkgan_plugin.progress import open_bar
from linkgan_plugin.toy.checkpoint import CHECKPOINT_FORMAT, save_checkpoint
from linkgan_plugin.toy.loop import build_loss, ToyTrainer

BASELINE_FILE = scene_of('cells').baseline_path()     # The cells' (the demo's default scene).
# Each scene's shipped baseline is its Scene.baseline (scenes.py); the varied skies share the plain landscapes', so
# `--from-scratch` runs take its sizes and a fine-tune from it first sees varied skies. A checkout without a scene's
# file (or a scene without one) gets shipped_baseline's message: how to train one.
BASELINE_FORMATS = (2, CHECKPOINT_FORMAT)   # The shipped files' older layout, and save_checkpoint's.

#----------------------------------------------------------------------------

def save_baseline(path, trainer, settings, half=False):
    """Writes trainer's G, D and G_ema as a baseline checkpoint (module docstring); float16 tensors with `half`
    (the shipped form)."""
    save_checkpoint(path, trainer.G_ema, 'sg2ada', G=trainer.G, D=trainer.D, half=half, role='baseline',
                    kimg=trainer.cur_nimg / 1000, settings=dict(settings), loss_kwargs=dict(LOSS_KWARGS),
                    trainer_kwargs={k: list(v) if isinstance(v, tuple) else v for k, v in TRAINER_KWARGS.items()})


def has_shipped_baseline(scene):
    """True when a baseline ships for `scene`: the scene names one (Scene.baseline) and the file exists."""
    path = scene_of(scene).baseline_path()
    return path is not None and os.path.isfile(path)


def shipped_baseline(scene):
    """The path of the shipped baseline of `scene` (Scene.baseline). Raises LinkganError, saying how to get a
    baseline, when none ships for the scene (none named, or its file is missing)."""
    s = scene_of(scene)
    path = s.baseline_path()
    if not has_shipped_baseline(scene):
        missing = f' ({path} is missing)' if path else ''
        raise LinkganError(
            f'no shipped baseline for the {scene} scene{missing}: train one with `linkgan-research baseline --scene '
            f'{scene} --kimg {s.baseline_kimg or 160} --out FILE` and pass --baseline FILE, or use --baseline train (a '
            f'short one trained now, --baseline-kimg). With --from-scratch any baseline file serves: it only gives the '
            f'networks\' sizes.')
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


def train_baseline_snapshots(settings, kimg, snapshot_every=None, snapshot_path=None, bar=None, resume=None):
    """Trains the demo baseline from scratch for `kimg` thousand images; optionally saves snapshots.

    Args:
        settings:        the demo's settings (DEMO_DEFAULTS and overrides).
        kimg:            training length (in all, counting a resumed snapshot's).
        snapshot_every:  kimg between snapshots (None: none); snapshot_path(kimg) names each file.
        bar:             progress bar factory (linkgan_plugin.progress), None: none.
        resume:          a snapshot's baseline dict to go on from (its G, D, G_ema and kimg; its settings must be
                         these). As upstream's --resume, Adam starts afresh; the data stream is seeded with the
                         seed and the step reached, so a resumed run is reproducible but not the uninterrupted one.
    Returns:
        the ToyTrainer.
    """
    torch.manual_seed(settings['seed'])
    G, D = make_networks(settings)
    start = 0
    if resume is not None:
        start = _resume_networks(resume, settings, G, D)
    loss = build_loss('sg2ada', G, D, **LOSS_KWARGS)
    trainer = ToyTrainer('sg2ada', G, D, loss, batch=settings['batch'], **TRAINER_KWARGS)
    if resume is not None:
        trainer.G_ema.load_state_dict({k: v.float() for k, v in resume['G_ema_state'].items()})
        trainer.cur_nimg = start * settings['batch']
    stream = scene_stream(settings, settings['batch'], seed=settings['seed'] + start)
    steps = max(1, int(math.ceil(kimg * 1000 / settings['batch'])))
    every = None if not snapshot_every else max(1, int(round(snapshot_every * 1000 / settings['batch'])))
    with open_bar(bar, steps - start, 'baseline') as b:
        for step in range(start + 1, steps + 1):
            trainer.step(*next(stream))
            b.update(1)
            if every and step % every == 0 and snapshot_path is not None:
                save_baseline(snapshot_path(trainer.cur_nimg / 1000), trainer, settings)
    return trainer


def _resume_networks(resume, settings, G, D):
    """Loads a snapshot's G and D into G, D; returns the steps it had trained. LinkganError when its settings differ
    from `settings` in anything that shapes the networks or the data."""
    keys = ('scene', 'resolution', 'cells', 'channels', 'w_dim', 'z_dim', 'batch', 'seed')
    theirs = resume.get('settings', {})
    differ = [k for k in keys if k in theirs and theirs[k] != settings.get(k)]
    if differ:
        what = ', '.join(f'{k} {theirs[k]!r}, not {settings.get(k)!r}' for k in differ)
        raise LinkganError(f'--resume: the snapshot was trained with other settings ({what})')
    G.load_state_dict({k: v.float() for k, v in resume['G_state'].items()})
    D.load_state_dict({k: v.float() for k, v in resume['D_state'].items()})
    return int(round(resume['kimg'] * 1000 / settings['batch']))


#----------------------------------------------------------------------------
