"""The demo's feature space for coverage (precision / recall): a small regressor that reads a scene's factors.

The demo's scenes are procedural, so every real image's factors can be read from its pixels (and, for landscapes,
its label map). A small CNN learns to read them back from any image, a generator's render included; its predicted
factors, beside each region's detail energy (analysis.coverage.detail_energy), are the features analysis.coverage
compares. In this space an image is its content: which colours, which shapes where, how sharp. So 16 images
repeated 64 times cover 16 points of it, a set whose top-left cell never changes covers none of that cell's
content, a blurred set reads as soft, and two independent sets of real scenes cover each other. Nothing is
downloaded.

Factors (the regression targets), read from sharp real scenes, in natural units:
    'cells' scenes (data.scenes), per cell, row-major (cell0 = top left, cell1 = top right, ...):
        'background' [3]  the cell's background colour, its top-left pixel (no pattern reaches a cell's corner);
        'foreground' [3]  the mean colour of the pixels that differ from the background (the background colour for
                          a blank cell: what is visible);
        'shape'      [16] the share of foreground pixels in each block of a 4 x 4 grid over the cell, in [0, 1].
    'landscape' scenes (landscape.landscapes):
        'layout'     [48] the share of each class (sky, ground, object) in each block of a 4 x 4 grid, in [0, 1];
        'sky', 'ground', 'object' [3 each]  the class's mean colour (the centre of its colour law when absent).
    'skies' scenes (landscapes under varied skies): the landscape factors, and
        'sky_spread' [3]  the standard deviation of the sky's pixels per channel (its gradient and clouds).
    'faces' scenes (faces.faces): the values it drew, every name of faces.FACTOR_NAMES in its order and units (one
        group per factor; a colour [3], everything else [1]): 33 numbers, not read from pixels (`face_factors`).
Features (`FactorFeatures`, images [N, 3, R, R] in [-1, 1] -> float32 [N, F + G]): the predicted factors, then the
detail energy of each of G regions (a cell; for landscapes a quadrant; for faces the whole image, then the eyes',
nose's and mouth's preset boxes), measured, not predicted. `groups` names the columns, `parts` gathers them into the
parts analysis.coverage scores one by one (its headline is the worst part): one part per cell ('cell0': its
background, foreground, shape and detail), for landscapes 'layout' (layout and detail), 'sky' (with 'sky_spread' for
the varied skies), 'ground' and 'object', for faces 'shared' (faces.SHARED_FACTORS and the whole image's detail),
'eyes', 'nose' and 'mouth' (faces.FACTOR_PARTS and the box's detail). The cells of a scene, a landscape's colours and
layout, and every factor of a face are drawn independently, so a part's coverage is a coverage of one independent
factor set (about 7 dimensions: k-NN manifolds are reliable there with 256-4096 samples; the faces' 'shared' part
has 21), and a collapse of any one part shows, however good the others are, as far as the regressor reads the part's
factors: at 32 px the shipped faces regressor reads the shared factors (held-out R^2 0.76 on average) but hardly the
parts' (eyes 0.14, nose 0.0, mouth 0.03; the nose's factors change its box by an RMS of 0.03 over their whole
range), so there a frozen part box or a blur shows, a part that draws one shape with the right colours mostly
does not.

Training (`train_factor_regressor`): Adam with a cosine learning-rate decay on fresh real scenes, MSE on the
factors standardised with the mean and std of 2048 real scenes (kept as buffers). The images are augmented like a
generator's renders (per sample: blur sigma 0-1 px, colour gain 1 +- 0.1, shift +-0.1, noise std 0-0.1), the
targets stay the sharp scene's, so a render reads as the scene it draws. Deterministic on one thread: the weights
and the scenes come from its own torch.Generator (modules are built on the 'meta' device) and the global RNG is
never drawn from, so the demo's other numbers stay bit-identical. The feature space does not depend on the demo's
seed: every model of every run is measured in the same space. 500 steps of 32 scenes: about 20 s of CPU time on
one thread (27-32 s wall measured on a shared, busy 2-core machine).

The demo's scenes ship their trained regressors (scenes.Scene.regressor:
assets/factor_regressor_{cells,landscape,skies,faces,portraits}.pt, 0.34-0.36 MB each, the faces' 0.76 MB, float16 weights),
each trained with its scene's settings (`factor_settings`: FACTOR_DEFAULTS, and for the faces 1500 steps, blur up to
0.5 px, width 24, hidden 192, 91 s on one thread, which lift the parts' held-out R^2 from eyes 0.14 / nose -0.01 /
mouth 0.03 to 0.56 / 0.02 / 0.40 at 1024 faces; the shared factors 0.76 -> 0.91). The portraits' (64 px: 1500
steps, blur up to 1 px, width 24, hidden 192; 2.5 MB, its hidden layer reads a 64 px trunk; 8 min on one busy
thread) reads 0.74 of all 40 factors' variance on held-out portraits: gaze 0.94, eye opening 0.78, nose length 0.89
and depth 0.85, mouth opening 0.80, smile 0.73, the shared factors 0.52-0.99; the smallest part factors (iris size,
eye width, tip size, lip thickness) under 0.21. Reproduced bit for bit on one thread by

    linkgan-research factor-regressor --scene cells --out linkgan_plugin/demo/assets/factor_regressor_cells.pt
    linkgan-research factor-regressor --scene landscape --out linkgan_plugin/demo/assets/factor_regressor_landscape.pt
    linkgan-research factor-regressor --scene skies --out linkgan_plugin/demo/assets/factor_regressor_skies.pt
    linkgan-research factor-regressor --scene faces --out linkgan_plugin/demo/assets/factor_regressor_faces.pt
    linkgan-research factor-regressor --scene portraits --out linkgan_plugin/demo/assets/factor_regressor_portraits.pt

Other scenes and sizes train on first use (`factor_features` caches one per process and scene; the demo's
evaluation does not train one, it falls back to analysis.coverage.RandomConvFeatures).

    features = factor_features(settings)          # FactorFeatures of the settings' scene
    feats = features(images)                      # [N, F + G]; features.groups, features.parts
    factor_accuracy(features.regressor, settings) # held-out R^2 per factor group
"""

import functools
import math
import os
import time

import torch
import torch.nn.functional as F

from linkgan_plugin.analysis.coverage import detail_energy
from linkgan_plugin.demo.scenes import scene_of
from linkgan_plugin.demo.segmenter import fit_small_network, gaussian_blur

# Defaults shared by the API, the demo's evaluation and the shipped file (which records them).
FACTOR_DEFAULTS = dict(steps=500, batch=32, lr=3e-3, width=16, hidden=128, seed=0, stat_samples=2048,
                       blur=1.0, gain=0.1, shift=0.1, noise=0.1)
FORMAT = 1
HELD_OUT_SEED = 2_000_003       # Seed offset of the held-out scenes factor_accuracy reports on.
ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'assets')

#----------------------------------------------------------------------------
# Factors of real scenes (each scene's own: demo/scenes.py).

def scene_key(settings):
    """(scene, resolution, cells) the settings' regressor is trained for (scenes.Scene.factor_key); None for data
    with no factor space of its own (lit cells)."""
    return scene_of(settings).factor_key(settings)


def real_factor_batch(key, count, generator):
    """`count` fresh real scenes of a scene_key and their factors: (images [count, 3, R, R], factors [count, F],
    groups)."""
    scene, resolution, cells = key
    return scene_of(scene).factor_batch(resolution, cells, count, generator)

#----------------------------------------------------------------------------
# The regressor.

def augment(images, generator, blur, gain, shift, noise):
    """Per sample: a Gaussian blur of sigma U[0, blur] px, a colour gain U[1 - gain, 1 + gain] and a shift
    U[-shift, shift] per channel, pixel noise of std U[0, noise]; clamped to [-1, 1]. [N, 3, H, W] -> same."""
    N = images.shape[0]
    rand = lambda *shape: torch.rand(shape, generator=generator)
    x = gaussian_blur(images, blur * rand(N)) if blur > 0 else images
    x = x * (1 + gain * (2 * rand(N, 1, 1, 1) - 1)) + shift * (2 * rand(N, 3, 1, 1) - 1)
    x = x + torch.randn(x.shape, generator=generator) * (noise * rand(N, 1, 1, 1))
    return x.clamp(-1, 1)


class FactorRegressor(torch.nn.Module):
    """images [N, 3, R, R] in [-1, 1] -> factors [N, F] in natural units (R a multiple of 8).

    Four 3x3 convolutions (width, 2 width, 2 width, 4 width channels; strides 2, 1, 2, 2) with ReLUs, a hidden
    layer of `hidden` units and a linear output of standardised factors, mapped back with the buffers
    `factor_mean`, `factor_std` [F]. Built on the 'meta' device: call init_weights(generator) or load a state dict
    after `to_empty(device='cpu')`.
    """

    def __init__(self, resolution, outputs, width=16, hidden=128):
        super().__init__()
        if resolution % 8:
            raise ValueError(f'FactorRegressor: resolution must be a multiple of 8, got {resolution}')
        w, meta = width, dict(device='meta')
        self.trunk = torch.nn.Sequential(
            torch.nn.Conv2d(3, w, 3, stride=2, padding=1, **meta), torch.nn.ReLU(),
            torch.nn.Conv2d(w, 2 * w, 3, padding=1, **meta), torch.nn.ReLU(),
            torch.nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1, **meta), torch.nn.ReLU(),
            torch.nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1, **meta), torch.nn.ReLU(),
            torch.nn.Flatten())
        self.hidden = torch.nn.Linear(4 * w * (resolution // 8) ** 2, hidden, **meta)
        self.out = torch.nn.Linear(hidden, outputs, **meta)
        self.register_buffer('factor_mean', torch.zeros([outputs], **meta))
        self.register_buffer('factor_std', torch.ones([outputs], **meta))

    def init_weights(self, generator, mean, std):
        """He-uniform weights (the output layer: uniform +- 1 / sqrt(fan_in)) and zero biases drawn from
        `generator`; the factors' mean and std [F]. Returns self, on the CPU."""
        self.to_empty(device='cpu')
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                    fan_in = m.weight[0].numel()
                    bound = math.sqrt((1 if m is self.out else 6) / fan_in)
                    m.weight.copy_((torch.rand(m.weight.shape, generator=generator) * 2 - 1) * bound)
                    m.bias.zero_()
            self.factor_mean.copy_(mean)
            self.factor_std.copy_(std)
        return self

    def standardised(self, images):
        """images [N, 3, R, R] -> standardised factors [N, F] (what training fits)."""
        return self.out(F.relu(self.hidden(self.trunk(images))))

    def forward(self, images):
        return self.standardised(images) * self.factor_std + self.factor_mean


def train_factor_regressor(settings, steps=FACTOR_DEFAULTS['steps'], batch=FACTOR_DEFAULTS['batch'],
                           lr=FACTOR_DEFAULTS['lr'], width=FACTOR_DEFAULTS['width'],
                           hidden=FACTOR_DEFAULTS['hidden'], seed=FACTOR_DEFAULTS['seed'],
                           stat_samples=FACTOR_DEFAULTS['stat_samples'], blur=FACTOR_DEFAULTS['blur'],
                           gain=FACTOR_DEFAULTS['gain'], shift=FACTOR_DEFAULTS['shift'],
                           noise=FACTOR_DEFAULTS['noise'], progress=None):
    """Trains a FactorRegressor on fresh real scenes of the settings' scene (module docstring).

    Args:
        settings:     the demo's settings ('scene', 'resolution', 'cells' are read).
        steps, batch: optimiser steps, each on `batch` new scenes.
        seed:         seeds the weights, the scenes and the augmentation (its own torch.Generator).
        stat_samples: real scenes the factors' mean and std are measured on.
        blur, gain, shift, noise: the augmentation's ranges (augment).
        progress:     optional callable(n) after every step.
    Returns:
        FactorRegressor in eval mode, on the CPU, requires_grad False.
    """
    key = scene_key(settings)
    if key is None:
        raise ValueError('lit cell scenes (settings light > 0) have no factor regressor: coverage uses the generic '
                         'features (analysis.coverage.RandomConvFeatures)')
    gen = torch.Generator().manual_seed(seed)
    _, factors, _ = real_factor_batch(key, stat_samples, gen)
    mean, std = factors.mean(dim=0), factors.std(dim=0).clamp(min=1e-3)
    model = FactorRegressor(key[1], factors.shape[1], width, hidden).init_weights(gen, mean, std)

    def step_loss():
        images, target, _ = real_factor_batch(key, batch, gen)
        return F.mse_loss(model.standardised(augment(images, gen, blur, gain, shift, noise)), (target - mean) / std)
    return fit_small_network(model, step_loss, steps, lr, progress)

#----------------------------------------------------------------------------
# Files.

def save_factor_regressor(path, regressor, key, train_kwargs):
    """Writes {'format', 'key': [scene, resolution, cells], 'train_kwargs', 'init_kwargs', 'state'} (loads with
    weights_only=True). The weights are stored as float16 (half the size; the file, not the training run, defines
    the shipped feature space), the factors' mean and std as float32. Returns the path."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    init = dict(resolution=key[1], outputs=int(regressor.out.out_features), width=int(regressor.trunk[0].out_channels),
                hidden=int(regressor.hidden.out_features))
    state = {k: v.detach().to(torch.float32 if k.startswith('factor_') else torch.float16).contiguous()
             for k, v in regressor.state_dict().items()}
    torch.save({'format': FORMAT, 'key': list(key), 'train_kwargs': dict(train_kwargs), 'init_kwargs': init,
                'state': state}, path)
    return path


def load_factor_regressor(path):
    """(FactorRegressor (float32), key tuple, train_kwargs) of a file written by save_factor_regressor."""
    data = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(data, dict) or data.get('format') != FORMAT:
        raise ValueError(f'{path}: not a linkgan factor regressor (format {FORMAT})')
    model = FactorRegressor(**data['init_kwargs']).to_empty(device='cpu')
    model.load_state_dict({k: v.float() for k, v in data['state'].items()})
    return model.eval().requires_grad_(False), tuple(data['key']), data['train_kwargs']


def factor_settings(scene):
    """The training settings of a scene's regressor: FACTOR_DEFAULTS with the scene's own (Scene.factor_settings)."""
    return {**FACTOR_DEFAULTS, **scene_of(scene).factor_settings}


def shipped_regressor(key):
    """The shipped FactorRegressor of a scene_key, None if none ships for it (or the file was trained with other
    settings than the scene's factor_settings)."""
    scene = scene_of(key[0])
    path = scene.regressor_path() if tuple(key) == scene.regressor_key() else None
    if path is None or not os.path.isfile(path):
        return None
    model, file_key, kwargs = load_factor_regressor(path)
    return model if file_key == tuple(key) and kwargs == factor_settings(key[0]) else None


@functools.lru_cache(maxsize=4)
def _regressor(key, train):
    model = shipped_regressor(key)
    if model is None and train:
        model = train_factor_regressor({'scene': key[0], 'resolution': key[1], 'cells': key[2]},
                                       **factor_settings(key[0]))
    return model

#----------------------------------------------------------------------------
# Features.

class FactorFeatures:
    """The feature map of the module docstring: images [N, 3, R, R] in [-1, 1] -> float32 [N, F + G].

    Attributes: `regressor`; `groups` [(name, start, stop)] over the columns; `parts` {name: [group names]};
    `name` ('factors:cells' / 'factors:landscape' / ...) for reports.
    """

    def __init__(self, regressor, key):
        self.regressor, self.key = regressor, tuple(key)
        scene, resolution, cells = self.key
        _, _, groups = real_factor_batch(self.key, 1, torch.Generator().manual_seed(0))
        self.detail_grid, self.detail_masks, detail, self.parts = scene_of(scene).feature_layout(resolution, cells,
                                                                                                 groups)
        self.groups = groups + detail
        self.name = f'factors:{scene}'

    @torch.no_grad()
    def __call__(self, images, batch=256):
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[2] != self.key[1] or images.shape[3] != self.key[1]:
            raise ValueError(f'FactorFeatures({self.name}): need images [N, 3, {self.key[1]}, {self.key[1]}], got '
                             f'{list(images.shape)}')
        out = []
        for i in range(0, images.shape[0], batch):
            x = images[i:i + batch].float().cpu()
            detail = detail_energy(x, self.detail_grid, masks=self.detail_masks)
            out.append(torch.cat([self.regressor(x), detail], dim=1))
        return torch.cat(out) if out else torch.zeros([0, self.groups[-1][2]])


def factor_features(settings, train=True):
    """The FactorFeatures of the settings' scene: the shipped regressor where one ships for its scene, resolution
    and cells (Scene.regressor), else one trained now (~10-30 s; train=False: None instead). Cached per process and scene,
    not per seed: every run is measured in the same space."""
    key = scene_key(settings)
    if key is None:
        return None
    model = _regressor(key, bool(train))
    return None if model is None else FactorFeatures(model, key)


@torch.no_grad()
def factor_accuracy(regressor, settings, samples=1024):
    """How well a regressor reads held-out real scenes (seed HELD_OUT_SEED), sharp: R^2 of its predictions per
    factor group.

    Returns:
        {group name: R^2 (1 = perfect, 0 = no better than the mean)}, plus 'all': the R^2 over every factor.
    """
    gen = torch.Generator().manual_seed(FACTOR_DEFAULTS['seed'] + HELD_OUT_SEED)
    images, factors, groups = real_factor_batch(scene_key(settings), samples, gen)
    err, var = (regressor(images) - factors).square().mean(dim=0), factors.var(dim=0).clamp(min=1e-8)
    out = {name: float(1 - err[a:b].sum() / var[a:b].sum()) for name, a, b in groups}
    out['all'] = float(1 - err.sum() / var.sum())
    return out

#----------------------------------------------------------------------------
# Reproducing the shipped file.

def make_factor_file(path, scene='cells', resolution=32, cells=2, threads=1):
    """Trains the regressor of one scene with its factor_settings on `threads` torch threads (1: bit-reproducible)
    and saves it. Returns {'path', 'seconds', 'accuracy': factor_accuracy(...)}."""
    settings = {'scene': scene, 'resolution': resolution, 'cells': cells}
    train_kwargs = factor_settings(scene)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t0 = time.perf_counter()
        model = train_factor_regressor(settings, **train_kwargs)
        seconds = time.perf_counter() - t0
    finally:
        torch.set_num_threads(previous)
    save_factor_regressor(path, model, scene_key(settings), train_kwargs)
    return {'path': path, 'seconds': seconds, 'accuracy': factor_accuracy(model, settings)}
